//! Table helpers shared by the commands: times ("3 days ago"), display-width cells.

use anyhow::{Context as _, Result};

use crate::store;

/// "2026-11-27 14:05 (3 days ago)" in local time, or "never".
pub(super) fn when(ms: Option<i64>, now_ms: i64) -> String {
    let Some(ms) = ms else { return "never".into() };
    let Some(t) = chrono::DateTime::from_timestamp_millis(ms) else {
        return "?".into();
    };
    let local = t.with_timezone(&chrono::Local);
    format!("{} ({})", local.format("%Y-%m-%d %H:%M"), ago(ms, now_ms))
}

/// "today", "1 day ago", "12 days ago", "in 2 days".
pub(super) fn ago(ms: i64, now_ms: i64) -> String {
    let days = (now_ms - ms).div_euclid(crate::time::DAY_MS);
    match days {
        0 => "today".into(),
        1 => "1 day ago".into(),
        d if d > 1 => format!("{d} days ago"),
        -1 => "in 1 day".into(),
        d => format!("in {} days", -d),
    }
}

pub(super) fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// Cut to `width` display columns (CJK characters count two), marking the cut with "…".
pub(super) fn truncate(s: &str, width: usize) -> String {
    use unicode_width::UnicodeWidthChar;
    if unicode_width::UnicodeWidthStr::width(s) <= width {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// Cut and pad to exactly `width` display columns.
pub(super) fn cell(s: &str, width: usize) -> String {
    let t = truncate(s, width);
    let pad = width.saturating_sub(unicode_width::UnicodeWidthStr::width(t.as_str()));
    format!("{t}{}", " ".repeat(pad))
}

/// The UTC date of a Unix ms time.
pub(super) fn day(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

pub(super) fn at_or_now(at: Option<&str>) -> Result<i64> {
    Ok(match at {
        Some(t) => chrono::DateTime::parse_from_rfc3339(t)
            .with_context(|| format!("--at {t:?} is not an RFC 3339 time"))?
            .timestamp_millis(),
        None => store::now_ms(),
    })
}

pub(super) fn ago_or_never(ms: Option<i64>, now: i64) -> String {
    ms.map(|m| ago(m, now)).unwrap_or_else(|| "never".into())
}

/// The language next steps are read in: `--lang`, else `[team] language`, else English.
pub(super) fn reader_lang(config: &crate::config::Config, arg: Option<&str>) -> Result<String> {
    let lang = arg
        .or(config.team.language.as_deref())
        .unwrap_or("en")
        .to_string();
    if !crate::rules::parse::LANGUAGES.contains(&lang.as_str()) || lang == "any" {
        anyhow::bail!(
            "--lang {lang:?}: not a language of the rules (en, zh, es, pt, ru, fr, de, ar, tr, ja, ...)"
        );
    }
    Ok(lang)
}

/// A tag's next step in `lang` from the rules in force (advice to the reader, whatever the
/// customer wrote in); the stored one when the rules no longer have the tag.
pub(super) fn step_in(
    rules: &crate::rules::RuleSet,
    tag: &str,
    stored: &str,
    lang: &str,
) -> String {
    rules
        .rule(tag)
        .map(|r| r.next_step(lang).to_string())
        .unwrap_or_else(|| stored.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_count_display_width() {
        assert_eq!(cell("abc", 5), "abc  ");
        assert_eq!(cell("华东灯具贸易", 7), "华东灯…");
        assert_eq!(cell("Harbor Lights Inc.", 10), "Harbor Li…");
    }

    #[test]
    fn relative_days() {
        let day = 86_400_000;
        let now = 100 * day;
        assert_eq!(ago(now - 1000, now), "today");
        assert_eq!(ago(now - day, now), "1 day ago");
        assert_eq!(ago(now - 12 * day - 5, now), "12 days ago");
        assert_eq!(ago(now + 2 * day, now), "in 2 days");
        assert_eq!(when(None, now), "never");
    }
}
