//! Out-of-office replies: the date the customer is back ("back on 12 December", "我将于12月12日
//! 返回", "regreso el 12 de diciembre", "zurück am 12.12.", "de retour le 12 décembre", "retorno
//! em 12 de dezembro"), so the policy can pause the customer's clock until then. Pure.

use std::sync::LazyLock;

use chrono::{Datelike, NaiveDate, TimeZone, Utc};
use regex::Regex;

use crate::normalize::text::fold_str;

/// Words that announce the return (folded: accents dropped, lower case).
const TRIGGERS: &[&str] = &[
    "back",
    "return",
    "until",
    "返回",
    "回来",
    "回到",
    "回公司",
    "上班",
    "regreso",
    "vuelta",
    "volvere",
    "hasta",
    "zuruck",
    "wieder",
    "bis ",
    "retour",
    "jusqu",
    "retorno",
    "volto",
    "regresso",
    "ate ",
];

const MONTHS: &[(&str, u32)] = &[
    ("january", 1),
    ("february", 2),
    ("march", 3),
    ("april", 4),
    ("may", 5),
    ("june", 6),
    ("july", 7),
    ("august", 8),
    ("september", 9),
    ("october", 10),
    ("november", 11),
    ("december", 12),
    ("jan", 1),
    ("feb", 2),
    ("mar", 3),
    ("apr", 4),
    ("jun", 6),
    ("jul", 7),
    ("aug", 8),
    ("sep", 9),
    ("sept", 9),
    ("oct", 10),
    ("nov", 11),
    ("dec", 12),
    ("enero", 1),
    ("febrero", 2),
    ("marzo", 3),
    ("abril", 4),
    ("mayo", 5),
    ("junio", 6),
    ("julio", 7),
    ("agosto", 8),
    ("septiembre", 9),
    ("setiembre", 9),
    ("octubre", 10),
    ("noviembre", 11),
    ("diciembre", 12),
    ("janeiro", 1),
    ("fevereiro", 2),
    ("marco", 3),
    ("maio", 5),
    ("junho", 6),
    ("julho", 7),
    ("setembro", 9),
    ("outubro", 10),
    ("novembro", 11),
    ("dezembro", 12),
    ("janvier", 1),
    ("fevrier", 2),
    ("mars", 3),
    ("avril", 4),
    ("mai", 5),
    ("juin", 6),
    ("juillet", 7),
    ("aout", 8),
    ("septembre", 9),
    ("octobre", 10),
    ("novembre", 11),
    ("decembre", 12),
    ("januar", 1),
    ("februar", 2),
    ("marz", 3),
    ("juni", 6),
    ("juli", 7),
    ("oktober", 10),
    ("dezember", 12),
];

static DATES: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    let months: Vec<&str> = {
        let mut m: Vec<&str> = MONTHS.iter().map(|(n, _)| *n).collect();
        m.sort_by_key(|n| std::cmp::Reverse(n.len()));
        m
    };
    let month = format!("({})", months.join("|"));
    [
        // 12 December, 12th of December, 12 de diciembre, 12. Dezember
        format!(r"(?-u:\b)([0-9]{{1,2}})(?:st|nd|rd|th)?\.?\s+(?:of\s+|de\s+)?{month}(?-u:\b)"),
        // December 12
        format!(r"(?-u:\b){month}\s+([0-9]{{1,2}})(?:st|nd|rd|th)?(?-u:\b)"),
        // 12月12日 / 12月12号
        r"([0-9]{1,2})\s*月\s*([0-9]{1,2})\s*[日号]".to_string(),
        // 12.12. / 12/12
        r"(?-u:\b)([0-9]{1,2})[./]([0-9]{1,2})(?:[./]|(?-u:\b))".to_string(),
    ]
    .iter()
    .map(|p| Regex::new(p).expect("built-in date patterns"))
    .collect()
});

fn month_number(name: &str) -> Option<u32> {
    MONTHS.iter().find(|(n, _)| *n == name).map(|(_, m)| *m)
}

/// The return date announced in an out-of-office `text` sent at `sent_at` (Unix ms): the start of
/// that day (UTC), the first such date on or after the sending day and within 120 days.
pub fn return_date(text: &str, sent_at: i64) -> Option<i64> {
    let folded = fold_str(text);
    let sent = Utc.timestamp_millis_opt(sent_at).single()?.date_naive();
    for trigger in TRIGGERS {
        let mut from = 0;
        while let Some(at) = folded[from..].find(trigger) {
            let start = from + at + trigger.len();
            // Chinese and Japanese put the date before the verb ("12月12日返回").
            let before = (0..=(from + at).saturating_sub(24))
                .rev()
                .find(|i| folded.is_char_boundary(*i))
                .unwrap_or(0);
            let before = if trigger.is_ascii() { start } else { before };
            let end = (start + 80).min(folded.len());
            let end = (end..=folded.len())
                .find(|i| folded.is_char_boundary(*i))
                .unwrap_or(folded.len());
            if let Some(date) = first_date(&folded[before..end], sent) {
                return Utc
                    .from_utc_datetime(&date.and_hms_opt(0, 0, 0)?)
                    .timestamp_millis()
                    .into();
            }
            from = start;
        }
    }
    None
}

fn first_date(window: &str, sent: NaiveDate) -> Option<NaiveDate> {
    let mut best: Option<(usize, u32, u32)> = None; // (position, month, day)
    for (k, re) in DATES.iter().enumerate() {
        // The first match of this form that reads as a real month and day.
        let found = re.captures_iter(window).find_map(|c| {
            let pos = c.get(0)?.start();
            let (a, b) = (c.get(1)?.as_str(), c.get(2)?.as_str());
            let (month, day): (u32, u32) = match k {
                0 => (month_number(b)?, a.parse().ok()?),
                1 => (month_number(a)?, b.parse().ok()?),
                2 => (a.parse().ok()?, b.parse().ok()?),
                // Numeric dates are day.month in most of the world (and in every language
                // handled here but English, which writes month names).
                _ => (b.parse().ok()?, a.parse().ok()?),
            };
            ((1..=12).contains(&month) && (1..=31).contains(&day)).then_some((pos, month, day))
        });
        if let Some(f) = found
            && best.is_none_or(|(p, _, _)| f.0 < p)
        {
            best = Some(f);
        }
    }
    let (_, month, day) = best?;
    for year in [sent.year(), sent.year() + 1] {
        if let Some(d) = NaiveDate::from_ymd_opt(year, month, day)
            && d >= sent
        {
            return ((d - sent).num_days() <= 120).then_some(d);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-01 09:00 UTC.
    const SENT: i64 = 1_796_115_600_000;

    fn day(y: i32, m: u32, d: u32) -> i64 {
        Utc.from_utc_datetime(
            &NaiveDate::from_ymd_opt(y, m, d)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap(),
        )
        .timestamp_millis()
    }

    #[test]
    fn return_dates_in_six_languages() {
        let want = Some(day(2026, 12, 12));
        for text in [
            "I am out of the office and will be back on 12 December.",
            "I'm travelling, back on December 12th with limited access to email.",
            "您好，我正在休假，我将于12月12日返回，急事请联系王经理。",
            "Estoy de vacaciones, regreso el 12 de diciembre.",
            "Ich bin im Urlaub und ab dem 12.12. wieder im Büro. Zurück am 12.12.",
            "Je suis absent, de retour le 12 décembre.",
            "Estou de férias, retorno em 12 de dezembro.",
        ] {
            assert_eq!(return_date(text, SENT), want, "{text}");
        }
    }

    #[test]
    fn a_date_before_the_message_is_next_year_and_no_date_is_none() {
        // Sent 1 December: "back on 5 January" is January next year.
        assert_eq!(
            return_date("Back on 5 January 2027.", SENT),
            Some(day(2027, 1, 5))
        );
        assert_eq!(return_date("I am out of the office this week.", SENT), None);
        // Too far away to be a return date (more than 120 days).
        assert_eq!(return_date("back on 30 November", SENT), None);
    }
}
