//! The board's words: one catalogue per language (`en.toml`, `zh.toml`, compiled into the
//! binary), the reader's language (the user's setting, else the browser's, else `[team]`'s),
//! and times said the reader's way ("3 days ago", "3 天前") in the team's UTC offset.

use std::collections::HashMap;
use std::sync::OnceLock;

/// A language of the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Zh,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s.trim().to_ascii_lowercase().as_str() {
            "en" => Some(Lang::En),
            "zh" | "zh-cn" | "zh-hans" => Some(Lang::Zh),
            _ => None,
        }
    }

    /// The first language of an `Accept-Language` header the board speaks.
    pub fn from_accept(header: &str) -> Option<Lang> {
        header.split(',').find_map(|part| {
            let tag = part
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if tag.starts_with("zh") {
                Some(Lang::Zh)
            } else if tag.starts_with("en") {
                Some(Lang::En)
            } else {
                None
            }
        })
    }

    /// The other one (the language switch).
    pub fn other(self) -> Lang {
        match self {
            Lang::En => Lang::Zh,
            Lang::Zh => Lang::En,
        }
    }
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut HashMap<String, String>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::String(s) => {
                out.insert(key, s.clone());
            }
            toml::Value::Table(t) => flatten(&key, t, out),
            _ => {}
        }
    }
}

fn catalogue(text: &str) -> HashMap<String, String> {
    let table: toml::Table = toml::from_str(text).expect("a valid catalogue (tested)");
    let mut out = HashMap::new();
    flatten("", &table, &mut out);
    out
}

fn catalogues() -> &'static (HashMap<String, String>, HashMap<String, String>) {
    static C: OnceLock<(HashMap<String, String>, HashMap<String, String>)> = OnceLock::new();
    C.get_or_init(|| {
        (
            catalogue(include_str!("en.toml")),
            catalogue(include_str!("zh.toml")),
        )
    })
}

/// The words for `key` in `lang` (the key itself if a catalogue lacks it, which a test
/// forbids).
pub fn t(lang: Lang, key: &str) -> &'static str {
    let (en, zh) = catalogues();
    let c = match lang {
        Lang::En => en,
        Lang::Zh => zh,
    };
    c.get(key)
        .or_else(|| en.get(key))
        .map(String::as_str)
        .unwrap_or("?")
}

/// `t` with its `{}` replaced by `arg`.
pub fn t1(lang: Lang, key: &str, arg: &str) -> String {
    tn(lang, key, &[arg])
}

/// `t` with its `{}`s replaced by `args`, in order.
pub fn tn(lang: Lang, key: &str, args: &[&str]) -> String {
    args.iter()
        .fold(t(lang, key).to_string(), |s, a| s.replacen("{}", a, 1))
}

/// `at` relative to `now`, the reader's way.
pub fn ago(lang: Lang, at: Option<i64>, now: i64) -> String {
    let Some(at) = at else {
        return t(lang, "time.never").to_string();
    };
    let d = now - at;
    let (past, d) = (d >= 0, d.abs());
    let minute = crate::time::MINUTE_MS;
    let (key, n) = if d < minute {
        return t(lang, "time.now").to_string();
    } else if d < crate::time::HOUR_MS {
        ("minutes", d / minute)
    } else if d < crate::time::DAY_MS {
        ("hours", d / crate::time::HOUR_MS)
    } else {
        ("days", d / crate::time::DAY_MS)
    };
    let key = if past {
        format!("time.{key}_ago")
    } else {
        format!("time.in_{key}")
    };
    t1(lang, &key, &n.to_string())
}

/// A date and time in the team's offset: "2026-12-07 10:30".
pub fn when(at: i64, offset_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(at + offset_ms)
        .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_catalogues_have_the_same_keys_and_every_placeholder() {
        let (en, zh) = catalogues();
        let mut a: Vec<&String> = en.keys().collect();
        let mut b: Vec<&String> = zh.keys().collect();
        a.sort();
        b.sort();
        assert_eq!(a, b);
        for (k, v) in en {
            assert_eq!(
                v.matches("{}").count(),
                zh[k].matches("{}").count(),
                "{k}: {v} / {}",
                zh[k]
            );
        }
        assert!(en.len() > 50);
    }

    #[test]
    fn languages_from_headers_and_times_said_the_readers_way() {
        assert_eq!(Lang::from_accept("zh-CN,zh;q=0.9,en;q=0.8"), Some(Lang::Zh));
        assert_eq!(Lang::from_accept("fr-FR, en-GB;q=0.7"), Some(Lang::En));
        assert_eq!(Lang::from_accept("fr"), None);
        let day = crate::time::DAY_MS;
        assert_eq!(ago(Lang::En, Some(0), 3 * day), "3 days ago");
        assert_eq!(ago(Lang::Zh, Some(0), 3 * day), "3 天前");
        assert_eq!(ago(Lang::Zh, Some(2 * day), 0), "2 天后");
        assert_eq!(ago(Lang::En, None, 0), "never");
        assert_eq!(when(0, 8 * crate::time::HOUR_MS), "1970-01-01 08:00");
    }
}
