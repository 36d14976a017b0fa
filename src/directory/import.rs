//! CSV customer import: `id,name,group,tier,owner,emails,domains,phones,country[,stage]`, lists
//! separated by `;`. Reads UTF-8 (with or without BOM) and GBK/GB18030 as Chinese Excel saves it.
//! Parsing and validation are pure; the store applies the result.

use std::collections::HashMap;

use unicode_normalization::UnicodeNormalization;

use crate::config::Config;
use crate::directory::freemail::FreeMail;
use crate::directory::identity::{normalize_domain, normalize_email, normalize_phone};

/// A stage as a team writes it (English, or the Chinese statuses of its spreadsheets).
pub fn normalize_stage(s: &str) -> Option<&'static str> {
    Some(match s.trim().to_lowercase().as_str() {
        "potential" | "潜在" | "待开发" => "potential",
        "target" | "目标" | "开发中" | "跟进中" => "target",
        "signed" | "签约" | "已签约" | "成交" | "已成交" => "signed",
        "dormant" | "沉睡" | "休眠" => "dormant",
        _ => return None,
    })
}

/// Tiers of the default follow-up policy.
pub const TIERS: &[&str] = &[
    "vip",
    "repeat",
    "one-time",
    "high-potential",
    "low-potential",
    "new",
];

/// One customer as the CSV describes it, normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerRecord {
    pub line: usize,
    pub id: String,
    pub name: String,
    pub name_key: String,
    pub group: Option<String>,
    pub tier: String,
    pub owner: Option<String>,
    pub country: Option<String>,
    /// potential, target, signed, dormant (`None`: the column is absent or empty, the stored
    /// stage stays).
    pub stage: Option<String>,
    pub emails: Vec<String>,
    pub domains: Vec<String>,
    pub phones: Vec<String>,
}

/// A row that could not be imported, or a remark about one that was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowIssue {
    pub line: usize,
    pub message: String,
}

/// The parsed file.
#[derive(Debug, Default)]
pub struct ParsedCsv {
    pub records: Vec<CustomerRecord>,
    pub errors: Vec<RowIssue>,
    pub warnings: Vec<RowIssue>,
    /// Which encoding the file was read as.
    pub encoding: &'static str,
}

/// Decode file bytes: UTF-8 (BOM stripped) when valid, else GB18030 (a superset of GBK/GB2312).
pub fn decode_bytes(bytes: &[u8]) -> (String, &'static str) {
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return (String::from_utf8_lossy(rest).into_owned(), "UTF-8 with BOM");
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        let (text, _, _) = encoding_rs::UTF_16LE.decode(rest);
        return (text.into_owned(), "UTF-16LE");
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_string(), "UTF-8"),
        Err(_) => {
            let (text, _, _) = encoding_rs::GB18030.decode(bytes);
            (text.into_owned(), "GB18030/GBK")
        }
    }
}

/// A key for spotting near-duplicate company names: accents folded, punctuation and legal
/// suffixes dropped, case folded. "Acme Trading Co., Ltd." and "ACME TRADING CO LTD" share it.
pub fn name_key(name: &str) -> String {
    const LEGAL: &[&str] = &[
        "co",
        "ltd",
        "limited",
        "inc",
        "incorporated",
        "corp",
        "corporation",
        "llc",
        "llp",
        "lp",
        "plc",
        "gmbh",
        "ag",
        "kg",
        "sa",
        "sas",
        "sarl",
        "srl",
        "spa",
        "sl",
        "sac",
        "bv",
        "nv",
        "ab",
        "as",
        "oy",
        "pty",
        "pte",
        "sdn",
        "bhd",
        "kk",
        "company",
        "ltda",
        "lda",
        "cv",
        "de",
        "ooo",
        "ооо",
        "тоо",
        "as",
        "aş",
        "şti",
        "tic",
        "san",
        "est",
        "the",
    ];
    let folded: String = name
        .nfkd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .collect::<String>()
        .to_lowercase();
    // Dots join abbreviations ("S.L." → "sl"); any other punctuation separates words.
    let cleaned: String = folded
        .chars()
        .filter(|c| *c != '.')
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    let words: Vec<&str> = cleaned.split_whitespace().collect();
    let kept: Vec<&str> = words
        .iter()
        .copied()
        .filter(|w| !LEGAL.contains(w))
        .collect();
    if kept.is_empty() {
        words.join(" ")
    } else {
        kept.join(" ")
    }
}

fn split_list(s: &str) -> Vec<&str> {
    s.split([';', '；', ',', '，', '\n', '|'])
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect()
}

/// A tier name as the policy knows it: a built-in tier (common spellings accepted) or one the
/// config defines under `[followup.tiers.NAME]`.
fn normalize_tier(raw: &str, config: &Config) -> Option<String> {
    if config.followup.tiers.contains_key(raw.trim()) {
        return Some(raw.trim().to_string());
    }
    let t = raw.trim().to_lowercase().replace(['_', ' '], "-");
    let t = match t.as_str() {
        "" => "new".to_string(),
        "onetime" => "one-time".to_string(),
        "repeat-customer" | "returning" => "repeat".to_string(),
        "high" | "high-potential-customer" => "high-potential".to_string(),
        "low" => "low-potential".to_string(),
        other => other.to_string(),
    };
    TIERS.contains(&t.as_str()).then_some(t)
}

/// Parse and validate a customer CSV. Bad rows become errors naming their line; good rows are
/// returned even when others fail.
pub fn parse_csv(bytes: &[u8], config: &Config) -> ParsedCsv {
    let (text, encoding) = decode_bytes(bytes);
    let mut out = ParsedCsv {
        encoding,
        ..Default::default()
    };
    let freemail = FreeMail::new(config.team.freemail_domains.iter().cloned());
    let rep_by_email: HashMap<String, String> = config
        .reps
        .iter()
        .flat_map(|r| {
            r.emails
                .iter()
                .filter_map(|e| normalize_email(e).ok())
                .map(move |e| (e, r.id.clone()))
        })
        .collect();

    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|s| s.trim().to_lowercase()).collect(),
        Err(e) => {
            out.errors.push(RowIssue {
                line: 1,
                message: format!("cannot read the header row: {e}"),
            });
            return out;
        }
    };
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (Some(c_id), Some(c_name)) = (col("id"), col("name")) else {
        out.errors.push(RowIssue {
            line: 1,
            message: format!(
                "the header row must name at least the columns id and name (found: {})",
                headers.join(",")
            ),
        });
        return out;
    };
    let known = [
        "id", "name", "group", "tier", "owner", "emails", "domains", "phones", "country", "stage",
    ];
    for h in &headers {
        if !known.contains(&h.as_str()) {
            out.warnings.push(RowIssue {
                line: 1,
                message: format!("unknown column {h:?} ignored"),
            });
        }
    }
    let (c_group, c_tier, c_owner, c_emails, c_domains, c_phones, c_country) = (
        col("group"),
        col("tier"),
        col("owner"),
        col("emails"),
        col("domains"),
        col("phones"),
        col("country"),
    );
    let c_stage = col("stage");

    let mut seen_ids: HashMap<String, usize> = HashMap::new();
    for result in reader.records() {
        let record = match result {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line() as usize).unwrap_or(0);
                out.errors.push(RowIssue {
                    line,
                    message: format!("cannot read row: {e}"),
                });
                continue;
            }
        };
        let line = record.position().map(|p| p.line() as usize).unwrap_or(0);
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let get = |c: Option<usize>| c.and_then(|i| record.get(i)).unwrap_or("").trim();
        let mut problems: Vec<String> = Vec::new();
        if record.iter().any(|f| f.contains('\0')) {
            problems.push("a field contains a NUL character".into());
        }
        let id = get(Some(c_id)).to_string();
        let name = get(Some(c_name)).to_string();
        if id.is_empty() {
            problems.push("id is empty".into());
        }
        if name.is_empty() {
            problems.push("name is empty".into());
        }
        // Bounded, printable identifiers: ids sit in indexes (PostgreSQL's btree takes
        // about 2,700 bytes a row) and in every event.
        for (field, value, max) in [
            ("id", id.as_str(), 128),
            ("name", name.as_str(), 512),
            ("group", get(c_group), 128),
            ("owner", get(c_owner), 254),
        ] {
            if value.len() > max {
                problems.push(format!("{field} is longer than {max} bytes"));
            } else if value.chars().any(|c| c.is_control() && c != '\0') {
                problems.push(format!("{field} contains a control character"));
            }
        }
        if let Some(first) = seen_ids.get(&id)
            && !id.is_empty()
        {
            problems.push(format!("id {id} already appears on line {first}"));
        }
        let country = match get(c_country) {
            "" => None,
            c if c.len() == 2 && c.chars().all(|ch| ch.is_ascii_alphabetic()) => {
                let up = c.to_ascii_uppercase();
                if up.parse::<phonenumber::country::Id>().is_err() {
                    problems.push(format!("country {c:?} is not an ISO 3166 code"));
                }
                Some(up)
            }
            c => {
                problems.push(format!("country {c:?} must be a two-letter ISO 3166 code"));
                None
            }
        };
        let tier = match normalize_tier(get(c_tier), config) {
            Some(t) => t,
            None => {
                let known: Vec<&str> = TIERS
                    .iter()
                    .copied()
                    .chain(config.followup.tiers.keys().map(String::as_str))
                    .collect();
                problems.push(format!(
                    "tier {:?} is not one of {}",
                    get(c_tier),
                    known.join(", ")
                ));
                String::new()
            }
        };
        let owner = match get(c_owner) {
            "" => None,
            o => {
                let lower = o.to_lowercase();
                if let Some(rep) = normalize_email(&lower)
                    .ok()
                    .and_then(|e| rep_by_email.get(&e))
                {
                    Some(rep.clone())
                } else if config.reps.iter().any(|r| r.id == o) || config.reps.is_empty() {
                    Some(if o.contains('@') {
                        lower
                    } else {
                        o.to_string()
                    })
                } else {
                    out.warnings.push(RowIssue {
                        line,
                        message: format!("owner {o:?} is not a configured rep"),
                    });
                    Some(if o.contains('@') {
                        lower
                    } else {
                        o.to_string()
                    })
                }
            }
        };
        let stage = match get(c_stage) {
            "" => None,
            s => match normalize_stage(s) {
                Some(st) => Some(st.to_string()),
                None => {
                    problems.push(format!(
                        "stage {s:?} is not one of potential, target, signed, dormant"
                    ));
                    None
                }
            },
        };
        let mut emails = Vec::new();
        for e in split_list(get(c_emails)) {
            match normalize_email(e) {
                Ok(n) if !emails.contains(&n) => emails.push(n),
                Ok(_) => {}
                Err(err) => problems.push(err.to_string()),
            }
        }
        let mut domains = Vec::new();
        for d in split_list(get(c_domains)) {
            match normalize_domain(d) {
                Ok(n) if freemail.contains(&n) => out.warnings.push(RowIssue {
                    line,
                    message: format!(
                        "{n} is a free-mail domain and cannot identify a company: ignored (list the exact addresses instead)"
                    ),
                }),
                Ok(n) if !domains.contains(&n) => domains.push(n),
                Ok(_) => {}
                Err(err) => problems.push(err.to_string()),
            }
        }
        let mut phones = Vec::new();
        for p in split_list(get(c_phones)) {
            match normalize_phone(p, country.as_deref()) {
                Ok(n) if !phones.contains(&n) => phones.push(n),
                Ok(_) => {}
                Err(err) => problems.push(err.to_string()),
            }
        }
        if problems.is_empty() {
            seen_ids.insert(id.clone(), line);
            let group = Some(get(c_group).to_string()).filter(|g| !g.is_empty());
            out.records.push(CustomerRecord {
                line,
                name_key: name_key(&name),
                id,
                name,
                group,
                tier,
                owner,
                country,
                stage,
                emails,
                domains,
                phones,
            });
        } else {
            out.errors.push(RowIssue {
                line,
                message: format!("customer {:?}: {}", id, problems.join("; ")),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config::from_toml(
            "[team]\ndomains=[\"sinoexport.example\"]\n[[reps]]\nid=\"li.wei\"\nemails=[\"li.wei@sinoexport.example\"]\n",
            std::path::Path::new("t.toml"),
        )
        .unwrap()
    }

    #[test]
    fn near_duplicate_names_share_a_key() {
        let a = name_key("Acme Trading Co., Ltd.");
        assert_eq!(a, "acme trading");
        assert_eq!(name_key("ACME Trading Co. Ltd"), a);
        assert_eq!(name_key("Acme Trading Co Ltd."), a);
        assert_ne!(name_key("Acme Tradings Ltd"), a);
        assert_eq!(name_key("Iluminación Levante S.L."), "iluminacion levante");
    }

    #[test]
    fn rows_are_normalized() {
        let csv = "id,name,group,tier,owner,emails,domains,phones,country\n\
                   C1,Acme,,VIP,li.wei@SinoExport.example,Buyer@Acme.example;x@acme.example,WWW.Acme.example,(415) 555-0100,us\n";
        let p = parse_csv(csv.as_bytes(), &cfg());
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        let r = &p.records[0];
        assert_eq!(r.tier, "vip");
        assert_eq!(r.owner.as_deref(), Some("li.wei"));
        assert_eq!(r.emails, vec!["buyer@acme.example", "x@acme.example"]);
        assert_eq!(r.domains, vec!["acme.example"]);
        assert_eq!(r.phones, vec!["+14155550100"]);
        assert_eq!(r.country.as_deref(), Some("US"));
    }

    #[test]
    fn bad_rows_name_their_line_and_good_rows_survive() {
        let csv = "id,name,tier,emails,domains,phones,country\n\
                   C1,Good,new,a@good.example,,,\n\
                   ,Nameless id,new,,,,\n\
                   C3,Bad tier,platinum,,,,\n\
                   C4,Bad mail,new,not-an-email,,,\n\
                   C5,Freemail domain,new,boss@gmail.com,gmail.com,,\n\
                   C1,Dup,new,,,,\n";
        let p = parse_csv(csv.as_bytes(), &cfg());
        let ids: Vec<&str> = p.records.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, vec!["C1", "C5"]);
        let lines: Vec<usize> = p.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 4, 5, 7]);
        assert!(p.errors[1].message.contains("platinum"));
        assert!(p.errors[3].message.contains("line 2"));
        assert!(
            p.warnings
                .iter()
                .any(|w| w.line == 6 && w.message.contains("gmail.com"))
        );
        assert!(p.records[1].domains.is_empty());
    }

    #[test]
    fn tiers_the_policy_defines_are_accepted() {
        let csv = "id,name,tier\nC1,Acme,strategic\nC2,Beta,platinum\n";
        let mut config = cfg();
        config
            .followup
            .tiers
            .insert("strategic".into(), Default::default());
        let p = parse_csv(csv.as_bytes(), &config);
        assert_eq!(p.records[0].tier, "strategic");
        assert_eq!(p.errors.len(), 1);
        assert!(p.errors[0].message.contains("strategic"), "{:?}", p.errors);
    }

    #[test]
    fn gbk_and_bom_files_decode() {
        let text = "id,name,country\nC1,宁波远航进出口有限公司,CN\n";
        let (gbk, _, _) = encoding_rs::GBK.encode(text);
        let p = parse_csv(&gbk, &cfg());
        assert_eq!(p.encoding, "GB18030/GBK");
        assert_eq!(p.records[0].name, "宁波远航进出口有限公司");
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend_from_slice(text.as_bytes());
        let p = parse_csv(&bom, &cfg());
        assert_eq!(p.encoding, "UTF-8 with BOM");
        assert_eq!(p.records[0].id, "C1");
    }

    #[test]
    fn missing_required_columns() {
        let p = parse_csv(b"name,emails\nAcme,a@b.example\n", &cfg());
        assert!(p.records.is_empty());
        assert_eq!(p.errors[0].line, 1);
        assert!(p.errors[0].message.contains("id and name"));
    }
}
