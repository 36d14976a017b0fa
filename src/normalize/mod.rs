//! Normalization: raw input → the facts keepwarm needs, as pure functions (no DB, no clock).

pub mod autoreply;
pub mod html;
pub mod mime;
pub mod quote;
pub mod sender;

pub use autoreply::Class;
pub use mime::{Email, Mailbox, parse_email};
pub mod text;
pub mod unsolicited;

/// At most this many bytes of decoded text per message (all parts together) go through the
/// quote, signature and classification heuristics and the rules; the head is kept and the
/// message flagged `text-truncated`. A person's own words are far shorter; what lies beyond is
/// quoted history, logs or a pasted document.
pub const MAX_TEXT_BYTES: usize = 1 << 20;
/// At most this many bytes of an HTML part are turned into text (the head is kept).
pub const MAX_HTML_BYTES: usize = 4 << 20;
/// The longest subject kept.
pub const MAX_SUBJECT_BYTES: usize = 2048;

/// A time limit for the work on one message. Every heuristic is linear and the text is capped,
/// so it is a backstop: when it passes, the stages not yet run are skipped and the message is
/// stored with what was computed, flagged `over-budget`.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    deadline: Option<std::time::Instant>,
}

impl Budget {
    pub fn unlimited() -> Budget {
        Budget { deadline: None }
    }

    /// A budget of `limit` from now.
    pub fn new(limit: std::time::Duration) -> Budget {
        Budget {
            deadline: std::time::Instant::now().checked_add(limit),
        }
    }

    pub fn exceeded(&self) -> bool {
        self.deadline
            .is_some_and(|d| std::time::Instant::now() >= d)
    }
}

/// The head of `s`, at most `max` bytes, cut at a line end when one is near, else at a
/// character boundary.
pub fn head(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let cut = &s[..end];
    match cut.rfind('\n') {
        Some(nl) if nl + 4096 >= end => &s[..nl],
        _ => cut,
    }
}
