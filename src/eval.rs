//! `keepwarm rules eval`: run the whole pipeline (normalize → match → rules) over a labeled
//! corpus and score the suggested tags per tag: precision, recall, F1, micro and macro F1, with
//! every false positive and false negative and its evidence.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

/// Why an evaluation could not run: the files named, never half a report.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("cannot create a scratch directory: {0}")]
    Scratch(std::io::Error),
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}: not JSON: {source}", path.display())]
    Label {
        path: std::path::PathBuf,
        line: usize,
        source: serde_json::Error,
    },
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Rules(#[from] crate::rules::RuleProblems),
}

type Result<T> = std::result::Result<T, EvalError>;

fn unreadable(path: &Path) -> impl FnOnce(std::io::Error) -> EvalError + '_ {
    move |source| EvalError::Read {
        path: path.to_path_buf(),
        source,
    }
}
use serde::Serialize;

use crate::config::Config;
use crate::message::Prepared;
use crate::{pipeline, store};

/// Scores of one tag.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TagScore {
    pub tag: String,
    pub tp: usize,
    pub fp: usize,
    #[serde(rename = "fn")]
    pub fn_: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// The tag's suggestions by the kind of clause that made them (keyword, requires,
    /// pattern): how many, and how many of those were right.
    pub via: BTreeMap<&'static str, ViaCount>,
}

/// Inbound messages: labeled contact or not, against judged.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ContactConfusion {
    pub contact_judged_contact: usize,
    pub contact_judged_not: usize,
    pub not_contact_judged_contact: usize,
    pub not_contact_judged_not: usize,
}

/// Suggestions made by one kind of clause.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ViaCount {
    pub suggested: usize,
    pub right: usize,
}

/// A wrong call, with what the rules saw.
#[derive(Debug, Clone, Serialize)]
pub struct Miss {
    pub key: String,
    pub tag: String,
    /// "false-positive" or "false-negative".
    pub kind: &'static str,
    /// The evidence of a false positive, or the start of the text for a false negative.
    pub detail: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct EvalReport {
    pub messages: usize,
    pub labeled: usize,
    pub missing: Vec<String>,
    pub tags: Vec<TagScore>,
    pub micro_f1: f64,
    pub macro_f1: f64,
    /// Tags suggested on messages that must never carry one (outbound, internal, auto-reply,
    /// bounce, bulk, spam).
    pub tags_on_non_customer_text: usize,
    /// Inbound messages by whether they count as contact, labeled against judged: every
    /// pitch, spam or auto-reply judged a contact is a false positive here.
    pub contact: ContactConfusion,
    pub misses: Vec<Miss>,
    pub notes: Vec<String>,
}

fn f1(tp: usize, fp: usize, fn_: usize) -> (f64, f64, f64) {
    let p = if tp + fp == 0 {
        1.0
    } else {
        tp as f64 / (tp + fp) as f64
    };
    let r = if tp + fn_ == 0 {
        1.0
    } else {
        tp as f64 / (tp + fn_) as f64
    };
    let f = if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    };
    (p, r, f)
}

/// Evaluate the configured rules on a labeled corpus.
pub async fn run(
    config: &Config,
    maildir: &Path,
    labels: &Path,
    customers: &Path,
    whatsapp: Option<&Path>,
) -> Result<EvalReport> {
    // A scratch database holds the customer directory, exactly as an import would.
    let scratch = tempfile::tempdir().map_err(EvalError::Scratch)?;
    let mut db_config = config.database.clone();
    db_config.url = format!("sqlite://{}", scratch.path().join("eval.db").display());
    let db = store::Db::open(&db_config).await?;
    let bytes = std::fs::read(customers).map_err(unreadable(customers))?;
    store::customers::apply_import(
        &db,
        crate::directory::import::parse_csv(&bytes, config),
        &store::customers::Actor::cli("eval", None),
    )
    .await?;
    let ctx = pipeline::Context::load(
        &db,
        Arc::new(crate::rules::load_or_explain(config.rules.dir.as_deref())?),
        std::sync::Arc::new(config.clone()),
    )
    .await?;
    db.close().await;

    let mut wanted: HashMap<String, (Vec<String>, bool, bool)> = HashMap::new();
    let text = std::fs::read_to_string(labels).map_err(unreadable(labels))?;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|source| EvalError::Label {
                path: labels.to_path_buf(),
                line: i + 1,
                source,
            })?;
        let channel_read =
            v["channel"] == "email" || (whatsapp.is_some() && v["channel"] == "whatsapp");
        if !channel_read {
            continue;
        }
        let tags = v["labels"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let customer_text = v["direction"] == "inbound" && v["counts_as_contact"] == true;
        let inbound = v["direction"] == "inbound";
        wanted.insert(
            v["key"].as_str().unwrap_or_default().to_string(),
            (tags, customer_text, inbound),
        );
    }

    let mut report = EvalReport {
        labeled: wanted.len(),
        ..Default::default()
    };
    let ctx = Arc::new(ctx);
    let mut counts: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    let mut vias: BTreeMap<String, BTreeMap<&'static str, ViaCount>> = BTreeMap::new();
    for rule in &ctx.rules.rules {
        counts.insert(rule.tag.clone(), (0, 0, 0));
    }
    let mut seen = std::collections::HashSet::new();
    let source = crate::source::maildir::read(maildir, None, false).map_err(unreadable(maildir))?;
    let chats = match whatsapp {
        Some(dir) => {
            crate::source::whatsapp::read_paths(&[dir.to_path_buf()]).map_err(unreadable(dir))?
        }
        None => Vec::new(),
    };
    for pending in source.chain(chats) {
        let Prepared::Message { message, .. } = pipeline::prepare(&ctx, (pending.load)()) else {
            continue;
        };
        report.messages += 1;
        let key = crate::message::display_key(&message.key).to_string();
        let Some((want, customer_text, inbound)) = wanted.get(&key) else {
            continue;
        };
        if *inbound {
            let c = &mut report.contact;
            match (*customer_text, message.counts_as_contact) {
                (true, true) => c.contact_judged_contact += 1,
                (true, false) => c.contact_judged_not += 1,
                (false, true) => c.not_contact_judged_contact += 1,
                (false, false) => c.not_contact_judged_not += 1,
            }
            if *customer_text != message.counts_as_contact {
                report.misses.push(Miss {
                    key: key.clone(),
                    tag: "(contact)".into(),
                    kind: if message.counts_as_contact {
                        "false-positive"
                    } else {
                        "false-negative"
                    },
                    detail: format!("judged {}", message.class.as_str()),
                });
            }
        }
        seen.insert(key.clone());
        if !customer_text && !message.tags.is_empty() {
            report.tags_on_non_customer_text += message.tags.len();
        }
        for t in &message.tags {
            let via = ctx.rules.via_of(&t.rule).unwrap_or_default().as_str();
            let v = vias
                .entry(t.tag.clone())
                .or_default()
                .entry(via)
                .or_default();
            v.suggested += 1;
            v.right += usize::from(want.contains(&t.tag));
            let c = counts.entry(t.tag.clone()).or_default();
            if want.contains(&t.tag) {
                c.0 += 1;
            } else {
                c.1 += 1;
                report.misses.push(Miss {
                    key: key.clone(),
                    tag: t.tag.clone(),
                    kind: "false-positive",
                    detail: format!("{} «{}»", t.rule, t.evidence),
                });
            }
        }
        for w in want {
            if !message.tags.iter().any(|t| &t.tag == w) {
                counts.entry(w.clone()).or_default().2 += 1;
                let start: String = format!("{} | {}", message.subject, message.body)
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .chars()
                    .take(220)
                    .collect();
                report.misses.push(Miss {
                    key: key.clone(),
                    tag: w.clone(),
                    kind: "false-negative",
                    detail: start,
                });
            }
        }
    }
    report.missing = wanted
        .keys()
        .filter(|k| !seen.contains(*k))
        .cloned()
        .collect();
    report.missing.sort();
    let (mut tp, mut fp, mut fn_) = (0, 0, 0);
    for (tag, (t, f, n)) in counts {
        let (p, r, f1v) = f1(t, f, n);
        tp += t;
        fp += f;
        fn_ += n;
        report.tags.push(TagScore {
            via: vias.remove(&tag).unwrap_or_default(),
            tag,
            tp: t,
            fp: f,
            fn_: n,
            precision: p,
            recall: r,
            f1: f1v,
        });
    }
    report.micro_f1 = f1(tp, fp, fn_).2;
    report.macro_f1 = if report.tags.is_empty() {
        0.0
    } else {
        report.tags.iter().map(|t| t.f1).sum::<f64>() / report.tags.len() as f64
    };
    report
        .misses
        .sort_by(|a, b| (&a.tag, a.kind, &a.key).cmp(&(&b.tag, b.kind, &b.key)));
    Ok(report)
}

impl EvalReport {
    /// A readable table, with every miss when `verbose`.
    pub fn render(&self, verbose: bool) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<24} {:>4} {:>4} {:>4} {:>9} {:>7} {:>6}  SUGGESTED BY (right/all)",
            "TAG", "TP", "FP", "FN", "PRECISION", "RECALL", "F1"
        );
        for t in &self.tags {
            let total: usize = t.via.values().map(|v| v.suggested).sum();
            let via: Vec<String> = t
                .via
                .iter()
                .map(|(kind, v)| {
                    format!(
                        "{kind} {:.0}% ({}/{})",
                        100.0 * v.suggested as f64 / total.max(1) as f64,
                        v.right,
                        v.suggested
                    )
                })
                .collect();
            let _ = writeln!(
                s,
                "{:<24} {:>4} {:>4} {:>4} {:>9.3} {:>7.3} {:>6.3}  {}",
                t.tag,
                t.tp,
                t.fp,
                t.fn_,
                t.precision,
                t.recall,
                t.f1,
                via.join(", ")
            );
        }
        let _ = writeln!(
            s,
            "micro F1 {:.3}, macro F1 {:.3}",
            self.micro_f1, self.macro_f1
        );
        let _ = writeln!(
            s,
            "{} messages read, {} labeled, {} labeled but not found, {} tags on outbound/internal/auto-reply/bounce/bulk mail",
            self.messages,
            self.labeled,
            self.missing.len(),
            self.tags_on_non_customer_text
        );
        let c = &self.contact;
        let _ = writeln!(
            s,
            "inbound contact: {} right, {} not judged contact (missed), {} judged contact wrongly (spam, pitch, auto-reply), {} rightly not",
            c.contact_judged_contact,
            c.contact_judged_not,
            c.not_contact_judged_contact,
            c.not_contact_judged_not
        );
        for n in &self.notes {
            let _ = writeln!(s, "note: {n}");
        }
        if verbose {
            for m in &self.misses {
                let _ = writeln!(s, "{} {} {}: {}", m.kind, m.tag, m.key, m.detail);
            }
        } else if !self.misses.is_empty() {
            let _ = writeln!(
                s,
                "({} misses; --verbose lists them with evidence)",
                self.misses.len()
            );
        }
        s
    }
}

/// One customer tag that a rule change would add or remove.
#[derive(Debug, Clone, Serialize)]
pub struct TagChange {
    pub customer: String,
    pub tag: String,
    /// "gain" or "lose".
    pub change: &'static str,
    /// The evidence behind a gained tag, or the stored evidence of a lost one.
    pub evidence: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct BacktestReport {
    pub messages: usize,
    pub gained: usize,
    pub lost: usize,
    pub kept: usize,
    pub changes: Vec<TagChange>,
}

/// Re-run `rules` over every stored inbound customer message recent enough to make a tag that
/// is live at `now` (sent within the longest tag lifetime) and compare the live customer tags
/// they would produce with the stored ones. Nothing is written.
pub async fn backtest(
    db: &store::Db,
    rules: &crate::rules::RuleSet,
    now: i64,
) -> Result<BacktestReport> {
    let mut report = BacktestReport::default();
    // customer → tag → evidence of the newest message that suggests it while still live.
    let mut would: BTreeMap<String, BTreeMap<String, (i64, String)>> = BTreeMap::new();
    // A message older than the longest-lived tag cannot make a tag that is live now.
    let oldest = now.saturating_sub(rules.rules.iter().map(|r| r.ttl_ms).max().unwrap_or(0));
    let mut after = 0;
    loop {
        let page = store::messages::page(db, after, 1000, None, oldest).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for m in &page {
            let Some(customer) = &m.customer else {
                continue;
            };
            if m.direction != "inbound" || m.class != crate::normalize::Class::Human {
                continue;
            }
            report.messages += 1;
            for t in pipeline::suggest_tags(rules, &m.subject, &m.body, false) {
                let ttl = rules.rule(&t.tag).map(|r| r.ttl_ms).unwrap_or(0);
                if m.sent_at + ttl <= now {
                    continue;
                }
                let entry = would
                    .entry(customer.clone())
                    .or_default()
                    .entry(t.tag.clone())
                    .or_insert((0, String::new()));
                if m.sent_at >= entry.0 {
                    *entry = (m.sent_at, t.evidence.clone());
                }
            }
        }
    }
    let mut customers: std::collections::BTreeSet<String> = would.keys().cloned().collect();
    customers.extend(store::customers::tagged_customers(db).await?);
    for customer in customers {
        let current: BTreeMap<String, String> = store::customers::customer_tags(db, &customer, now)
            .await?
            .into_iter()
            .map(|t| (t.tag, t.evidence))
            .collect();
        let new = would.remove(&customer).unwrap_or_default();
        for (tag, (_, evidence)) in &new {
            if current.contains_key(tag) {
                report.kept += 1;
            } else {
                report.gained += 1;
                report.changes.push(TagChange {
                    customer: customer.clone(),
                    tag: tag.clone(),
                    change: "gain",
                    evidence: evidence.clone(),
                });
            }
        }
        for (tag, evidence) in current {
            if !new.contains_key(&tag) {
                report.lost += 1;
                report.changes.push(TagChange {
                    customer: customer.clone(),
                    tag,
                    change: "lose",
                    evidence,
                });
            }
        }
    }
    Ok(report)
}
