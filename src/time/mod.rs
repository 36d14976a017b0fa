//! Time as keepwarm counts it: Unix milliseconds, and durations written the way a config or a
//! rule file writes them, and the team's working calendar. A leaf: it imports nothing of the
//! crate.

pub mod calendar;

/// A minute, an hour and a day in milliseconds (a day of UTC time; the working calendar
/// counts business days in `calendar`).
pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 60 * MINUTE_MS;
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// Parse a duration such as "90d", "12h", "30m" (`None`: not one, or too long to count in ms).
pub fn parse_duration_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: i64 = num.parse().ok()?;
    let ms = match unit.trim() {
        "d" | "day" | "days" => 86_400_000,
        "h" | "hour" | "hours" => 3_600_000,
        "m" | "min" | "minutes" => 60_000,
        "s" | "sec" | "seconds" => 1_000,
        "w" | "week" | "weeks" => 7 * 86_400_000,
        _ => return None,
    };
    n.checked_mul(ms)
}

/// RFC 3339 (UTC, milliseconds) of a Unix ms time.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_every_unit() {
        assert_eq!(parse_duration_ms("90d"), Some(90 * 86_400_000));
        assert_eq!(parse_duration_ms(" 12 h "), Some(12 * 3_600_000));
        assert_eq!(parse_duration_ms("30m"), Some(1_800_000));
        assert_eq!(parse_duration_ms("2 weeks"), Some(14 * 86_400_000));
        assert_eq!(parse_duration_ms("1y"), None);
        assert_eq!(parse_duration_ms("d"), None);
        assert_eq!(parse_duration_ms("-5d"), None);
    }

    #[test]
    fn a_span_too_long_to_count_is_refused_not_wrapped() {
        assert_eq!(parse_duration_ms("9999999999999999d"), None);
        assert_eq!(parse_duration_ms("99999999999999999999s"), None);
    }
}
