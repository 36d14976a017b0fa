//! Business days: weekends per country (Friday–Saturday in much of the Middle East), holidays
//! per customer country from the config, and the team's UTC offset that says where a day
//! starts. A deadline that falls on a day off moves to the same time on the next business day.
//! Pure and cheap: the sweep asks this for every deadline of every customer it judges.

use std::collections::{HashMap, HashSet};

use chrono::{Datelike, NaiveDate};

use super::{DAY_MS as DAY, HOUR_MS, MINUTE_MS};

/// Countries whose weekend is not Saturday–Sunday (bit 0 = Monday … bit 6 = Sunday).
const WEEKENDS: &[(&str, u8)] = &[
    ("SA", FRI | SAT),
    ("KW", FRI | SAT),
    ("QA", FRI | SAT),
    ("BH", FRI | SAT),
    ("OM", FRI | SAT),
    ("EG", FRI | SAT),
    ("JO", FRI | SAT),
    ("IL", FRI | SAT),
    ("DZ", FRI | SAT),
    ("IQ", FRI | SAT),
    ("LY", FRI | SAT),
    ("SD", FRI | SAT),
    ("YE", FRI | SAT),
    ("SY", FRI | SAT),
    ("BD", FRI | SAT),
    ("IR", FRI),
    ("AF", THU | FRI),
    ("NP", SAT),
];
const THU: u8 = 1 << 3;
const FRI: u8 = 1 << 4;
const SAT: u8 = 1 << 5;
const SUN: u8 = 1 << 6;

/// The team's working calendar.
#[derive(Debug, Clone, Default)]
pub struct Calendar {
    /// Off: deadlines are never moved.
    pub enabled: bool,
    /// The team's offset from UTC in ms (day boundaries).
    pub offset_ms: i64,
    weekends: HashMap<String, u8>,
    /// (country or "*", day number since the epoch in the team's time).
    holidays: HashSet<(String, i64)>,
}

/// Parse `"+08:00"`, `"-05:30"`, `"Z"` or `"+0800"` into milliseconds.
pub fn parse_offset(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("z") || s.eq_ignore_ascii_case("utc") {
        return Some(0);
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) => (h, m),
        None if rest.len() == 4 => rest.split_at(2),
        None => (rest, "0"),
    };
    let h: i64 = h.parse().ok()?;
    let m: i64 = m.parse().ok()?;
    if h > 14 || m > 59 {
        return None;
    }
    Some(sign * (h * HOUR_MS + m * MINUTE_MS))
}

fn weekday_bit(name: &str) -> Option<u8> {
    let n = name.trim().to_ascii_lowercase();
    let i = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .position(|d| n.starts_with(d))?;
    Some(1 << i)
}

fn day_number(date: NaiveDate) -> i64 {
    date.num_days_from_ce() as i64 - 719_163
}

impl Calendar {
    /// Build from the config; every problem comes back with the key it belongs to.
    pub fn new(
        enabled: bool,
        offset: &str,
        holidays: &std::collections::BTreeMap<String, Vec<String>>,
        weekends: &std::collections::BTreeMap<String, Vec<String>>,
    ) -> Result<Calendar, Vec<(String, String)>> {
        let mut problems = Vec::new();
        let offset_ms = parse_offset(offset).unwrap_or_else(|| {
            problems.push((
                "followup.utc_offset".to_string(),
                format!("{offset:?} is not an offset like \"+08:00\""),
            ));
            0
        });
        let mut cal = Calendar {
            enabled,
            offset_ms,
            weekends: WEEKENDS.iter().map(|(c, m)| (c.to_string(), *m)).collect(),
            holidays: HashSet::new(),
        };
        for (country, days) in weekends {
            let key = format!("followup.weekends.{country}");
            let mut mask = 0u8;
            for d in days {
                match weekday_bit(d) {
                    Some(b) => mask |= b,
                    None => problems.push((key.clone(), format!("{d:?} is not a weekday name"))),
                }
            }
            if mask == 0x7f {
                problems.push((key.clone(), "a week needs at least one working day".into()));
            }
            cal.weekends.insert(country.to_ascii_uppercase(), mask);
        }
        for (country, dates) in holidays {
            let key = format!("followup.holidays.{country}");
            let c = country.to_ascii_uppercase();
            for d in dates {
                let (from, to) = d.split_once("..").unwrap_or((d, d));
                let parse = |s: &str| NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok();
                match (parse(from), parse(to)) {
                    (Some(a), Some(b)) if a <= b && (b - a).num_days() < 366 => {
                        for n in day_number(a)..=day_number(b) {
                            cal.holidays.insert((c.clone(), n));
                        }
                    }
                    _ => problems.push((
                        key.clone(),
                        format!(
                            "{d:?} is not a date (YYYY-MM-DD) or a range (YYYY-MM-DD..YYYY-MM-DD)"
                        ),
                    )),
                }
            }
        }
        if problems.is_empty() {
            Ok(cal)
        } else {
            Err(problems)
        }
    }

    /// The team's day number of a moment.
    pub fn day_of(&self, ts: i64) -> i64 {
        (ts + self.offset_ms).div_euclid(DAY)
    }

    /// When the team's day of `ts` started (Unix ms).
    pub fn day_start(&self, ts: i64) -> i64 {
        self.day_of(ts) * DAY - self.offset_ms
    }

    /// When the team's week (Monday to Sunday) of `ts` started (Unix ms).
    pub fn week_start(&self, ts: i64) -> i64 {
        let day = self.day_of(ts);
        // 1970-01-01 was a Thursday: three days after a Monday.
        (day - (day + 3).rem_euclid(7)) * DAY - self.offset_ms
    }

    /// When the team's calendar month of `ts` started (Unix ms).
    pub fn month_start(&self, ts: i64) -> i64 {
        let day = chrono::DateTime::from_timestamp_millis(ts + self.offset_ms)
            .map(|d| d.date_naive().day0() as i64)
            .unwrap_or(0);
        (self.day_of(ts) - day) * DAY - self.offset_ms
    }

    /// The team's month of `ts`, as "YYYY-MM".
    pub fn month_of(&self, ts: i64) -> String {
        chrono::DateTime::from_timestamp_millis(ts + self.offset_ms)
            .map(|d| d.format("%Y-%m").to_string())
            .unwrap_or_default()
    }

    /// The team's month `year`-`month` as [start, end) in Unix ms.
    pub fn month_span(&self, year: i32, month: u32) -> Option<(i64, i64)> {
        let start = chrono::NaiveDate::from_ymd_opt(year, month, 1)?;
        let end = start.checked_add_months(chrono::Months::new(1))?;
        let ms = |d: chrono::NaiveDate| {
            d.and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc().timestamp_millis() - self.offset_ms)
        };
        Some((ms(start)?, ms(end)?))
    }

    fn is_day_off(&self, country: Option<&str>, day: i64) -> bool {
        // 1970-01-01 was a Thursday (bit 3).
        let weekday = (day + 3).rem_euclid(7) as u8;
        let mask = country
            .and_then(|c| self.weekends.get(c))
            .copied()
            .unwrap_or(SAT | SUN);
        if mask & (1 << weekday) != 0 {
            return true;
        }
        if self.holidays.is_empty() {
            return false;
        }
        if let Some(c) = country
            && self.holidays.contains(&(c.to_string(), day))
        {
            return true;
        }
        self.holidays.contains(&("*".to_string(), day))
    }

    /// `ts`, or the same time of day on the next business day of `country` when `ts` falls on a
    /// weekend or a holiday. Unchanged when business days are off.
    pub fn roll_forward(&self, ts: i64, country: Option<&str>) -> i64 {
        if !self.enabled {
            return ts;
        }
        let mut day = self.day_of(ts);
        let mut moved = 0;
        // A year of days off in a row is a configuration mistake, not a calendar.
        while moved < 366 && self.is_day_off(country, day) {
            day += 1;
            moved += 1;
        }
        ts + moved * DAY
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn ms(date: &str, hour: i64) -> i64 {
        let d = NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap();
        day_number(d) * DAY + hour * HOUR_MS
    }

    fn cal(holidays: &[(&str, &[&str])]) -> Calendar {
        let h: BTreeMap<String, Vec<String>> = holidays
            .iter()
            .map(|(c, d)| (c.to_string(), d.iter().map(|s| s.to_string()).collect()))
            .collect();
        Calendar::new(true, "+00:00", &h, &BTreeMap::new()).unwrap()
    }

    #[test]
    fn weekends_move_to_monday_and_gulf_weekends_to_sunday() {
        let c = cal(&[]);
        // 2026-12-05 is a Saturday.
        assert_eq!(
            c.roll_forward(ms("2026-12-05", 10), None),
            ms("2026-12-07", 10)
        );
        assert_eq!(
            c.roll_forward(ms("2026-12-04", 10), None),
            ms("2026-12-04", 10)
        );
        // Saudi Arabia rests Friday and Saturday: Friday moves to Sunday.
        assert_eq!(
            c.roll_forward(ms("2026-12-04", 10), Some("SA")),
            ms("2026-12-06", 10)
        );
        assert_eq!(
            c.roll_forward(ms("2026-12-06", 10), Some("SA")),
            ms("2026-12-06", 10)
        );
        let off = Calendar::default();
        assert_eq!(
            off.roll_forward(ms("2026-12-05", 10), None),
            ms("2026-12-05", 10)
        );
    }

    #[test]
    fn weeks_start_on_the_teams_monday() {
        let c = cal(&[]);
        // 2026-12-07 is a Monday.
        for day in ["2026-12-07", "2026-12-09", "2026-12-13"] {
            assert_eq!(c.week_start(ms(day, 23)), ms("2026-12-07", 0), "{day}");
        }
        assert_eq!(c.week_start(ms("2026-12-06", 23)), ms("2026-11-30", 0));
        // At +08:00, Sunday 20:00 UTC is already Monday in the team's week.
        let east = Calendar::new(true, "+08:00", &BTreeMap::new(), &BTreeMap::new()).unwrap();
        assert_eq!(
            east.week_start(ms("2026-12-06", 20)),
            ms("2026-12-07", 0) - 8 * 3_600_000
        );
    }

    #[test]
    fn holidays_per_country_and_ranges() {
        let c = cal(&[("CN", &["2026-10-01..2026-10-07"]), ("*", &["2026-12-25"])]);
        // Golden week, then the weekend 10-10/11 is not touched: 10-08 is a Thursday.
        assert_eq!(
            c.roll_forward(ms("2026-10-02", 9), Some("CN")),
            ms("2026-10-08", 9)
        );
        assert_eq!(
            c.roll_forward(ms("2026-10-02", 9), Some("DE")),
            ms("2026-10-02", 9)
        );
        // A team-wide holiday applies to everyone.
        assert_eq!(
            c.roll_forward(ms("2026-12-25", 9), Some("DE")),
            ms("2026-12-28", 9)
        );
    }

    #[test]
    fn offsets_and_bad_entries() {
        assert_eq!(parse_offset("+08:00"), Some(8 * 3_600_000));
        assert_eq!(parse_offset("-0530"), Some(-(5 * 3_600_000 + 30 * 60_000)));
        assert_eq!(parse_offset("Z"), Some(0));
        assert_eq!(parse_offset("8"), None);
        let c = Calendar::new(true, "+08:00", &BTreeMap::new(), &BTreeMap::new()).unwrap();
        // 2026-12-04 20:00 UTC is Saturday 04:00 in Shanghai.
        assert_eq!(
            c.roll_forward(ms("2026-12-04", 20), None),
            ms("2026-12-06", 20)
        );
        assert_eq!(c.day_start(ms("2026-12-04", 20)), ms("2026-12-04", 16));
        let bad: BTreeMap<String, Vec<String>> =
            [("CN".to_string(), vec!["2026-13-01".to_string()])].into();
        let w: BTreeMap<String, Vec<String>> = [("AE".to_string(), vec!["caturday".into()])].into();
        let err = Calendar::new(true, "+25:00", &bad, &w).unwrap_err();
        let keys: Vec<&str> = err.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "followup.utc_offset",
                "followup.weekends.AE",
                "followup.holidays.CN"
            ]
        );
    }
}
