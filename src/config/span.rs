//! `Span`: a span of time as the config file writes it ("90s", "5m", "12h", "7d", "2w").

use std::fmt;

use serde::{Deserialize, Deserializer};

/// A positive span of time, read once when the file is read.
///
/// Reading is lenient on purpose: a value that is not a positive span is kept as written, so
/// `Config::validate` names every bad one with its key path in one round, and `Config::load`
/// refuses a file with any. Code that uses a loaded config reads `ms()` or `duration()`
/// without parsing again and without a fallback of its own; the default of a key lives only
/// where the key is declared.
#[derive(Clone, PartialEq, Eq)]
pub struct Span {
    text: String,
    ms: Option<i64>,
}

impl Span {
    /// The span as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether it reads as a positive span (checked by `Config::validate`).
    pub fn is_valid(&self) -> bool {
        self.ms.is_some()
    }

    /// Milliseconds. A span that does not read (which a validated config never holds) is 0.
    pub fn ms(&self) -> i64 {
        self.ms.unwrap_or(0)
    }

    /// As a `std::time::Duration`.
    pub fn duration(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.ms() as u64)
    }
}

impl From<&str> for Span {
    fn from(text: &str) -> Span {
        Span {
            text: text.to_string(),
            ms: crate::time::parse_duration_ms(text).filter(|ms| *ms > 0),
        }
    }
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.text)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Span, D::Error> {
        Ok(Span::from(String::deserialize(d)?.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_reads_once_and_keeps_what_was_written() {
        let s = Span::from("90s");
        assert!(s.is_valid());
        assert_eq!(s.ms(), 90_000);
        assert_eq!(s.duration(), std::time::Duration::from_secs(90));
        assert_eq!(s.to_string(), "90s");
        for bad in ["0s", "soon", "", "-1d", "99999999999999999999d"] {
            let s = Span::from(bad);
            assert!(!s.is_valid(), "{bad:?}");
            assert_eq!(s.as_str(), bad);
        }
    }

    #[test]
    fn a_bad_span_in_a_file_is_kept_for_validation_not_a_parse_error() {
        #[derive(Deserialize)]
        struct T {
            a: Span,
            b: Span,
        }
        let t: T = toml::from_str("a = \"5m\"\nb = \"often\"\n").unwrap();
        assert_eq!(t.a.ms(), 300_000);
        assert!(!t.b.is_valid());
        assert!(toml::from_str::<T>("a = 5\nb = \"5m\"\n").is_err());
    }
}
