//! MIME parsing with mail-parser 0.11 (`full_encoding`): addresses, dates, the text this sender
//! wrote, and the signals that classify auto-replies, bounces and bulk mail. mail-parser is
//! used only in this file so a later upgrade to 1.x touches one place.

use mail_parser::{Address, HeaderValue, MessageParser, MimeHeaders, PartType};
use sha2::{Digest, Sha256};

use super::autoreply::{self, Class, Signals};
use super::{html, quote};
use crate::address::normalize_email;

/// A display name and a normalized address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    pub name: String,
    pub email: String,
}

/// A parsed and normalized mail.
#[derive(Debug, Clone)]
pub struct Email {
    /// Message-ID without angle brackets.
    pub message_id: Option<String>,
    pub from: Option<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    /// Bcc: only present in the sender's own copy (a Sent folder).
    pub bcc: Vec<Mailbox>,
    pub subject: String,
    /// Date header as Unix milliseconds, when present and plausible.
    pub date: Option<i64>,
    pub in_reply_to: Option<String>,
    /// What this sender wrote in this message: quotes, signature and disclaimer removed.
    pub text: String,
    /// The whole decoded body text (HTML as text), before quotes and signature are removed.
    pub body_text: String,
    pub class: Class,
    /// A stable key from the content, for mail without a Message-ID.
    pub content_key: String,
    /// What was cut short: `text-truncated` (text over [`super::MAX_TEXT_BYTES`] or HTML over
    /// [`super::MAX_HTML_BYTES`], the head kept), `over-budget` (the time budget ran out:
    /// later parts were not read).
    pub flags: Vec<&'static str>,
    /// `Authentication-Results` header values, top first (at most 8): whether a team From is
    /// really ours (see [`super::sender`]).
    pub authentication_results: Vec<String>,
    /// `Received` header values, top first (at most 32).
    pub received: Vec<String>,
}

impl Email {
    /// The headers the sender check reads.
    pub fn trail(&self) -> super::sender::Trail<'_> {
        super::sender::Trail {
            authentication_results: self
                .authentication_results
                .iter()
                .map(String::as_str)
                .collect(),
            received: self.received.iter().map(String::as_str).collect(),
        }
    }
}

/// Parses only the headers keepwarm reads; the rest (Received chains, DKIM and ARC seals, ...)
/// stay raw text, which is much cheaper.
static PARSER: std::sync::LazyLock<MessageParser> = std::sync::LazyLock::new(|| {
    use mail_parser::HeaderName;
    MessageParser::new()
        .with_minimal_headers()
        .header_id(HeaderName::MessageId)
        .header_id(HeaderName::InReplyTo)
        .default_header_raw()
});

/// Why raw bytes are not a mail keepwarm can use (the reason stored with its failure record).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("empty message")]
    Empty,
    #[error("not an RFC 5322 message")]
    NotAMessage,
    #[error("no header fields found")]
    NoHeaders,
    #[error("no From, Date or Message-ID header")]
    NoIdentity,
}

/// Parse raw RFC 5322 bytes. `Err` says why a message cannot be used.
pub fn parse_email(raw: &[u8]) -> Result<Email, ParseError> {
    parse_email_within(raw, &super::Budget::unlimited())
}

/// [`parse_email`] that stops reading further text parts once `budget` has passed.
pub fn parse_email_within(raw: &[u8], budget: &super::Budget) -> Result<Email, ParseError> {
    if raw.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ParseError::Empty);
    }
    // Attachments are never read: drop their base64 bodies before parsing.
    let skipped = skip_binary_decoding(raw);
    let raw: &[u8] = skipped.as_deref().unwrap_or(raw);
    let msg = PARSER.parse(raw).ok_or(ParseError::NotAMessage)?;
    if msg.root_part().headers.is_empty() {
        return Err(ParseError::NoHeaders);
    }
    let message_id = msg
        .message_id()
        .map(|m| {
            m.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .trim()
                .to_string()
        })
        .filter(|m| !m.is_empty());
    let from = msg.from().and_then(first_mailbox);
    let has_date = msg.date().is_some();
    if from.is_none() && message_id.is_none() && !has_date {
        return Err(ParseError::NoIdentity);
    }
    let to = msg.to().map(mailboxes).unwrap_or_default();
    let cc = msg.cc().map(mailboxes).unwrap_or_default();
    let bcc = msg.bcc().map(mailboxes).unwrap_or_default();
    let subject =
        super::head(msg.subject().unwrap_or("").trim(), super::MAX_SUBJECT_BYTES).to_string();
    let date = msg
        .date()
        .map(|d| d.to_timestamp())
        .filter(|s| (631_152_000..4_102_444_800).contains(s))
        .map(|s| s * 1000);
    let in_reply_to = first_text(msg.in_reply_to())
        .map(|s| s.trim_start_matches('<').trim_end_matches('>').to_string());

    // The text bodies chosen by RFC 8621 rules (text/plain preferred in alternatives).
    let mut full = String::new();
    let mut own = String::new();
    let mut flags = Vec::new();
    let mut flag = |f: &'static str| {
        if !flags.contains(&f) {
            flags.push(f);
        }
    };
    for part in msg.text_bodies() {
        if budget.exceeded() {
            flag("over-budget");
            break;
        }
        let room = super::MAX_TEXT_BYTES.saturating_sub(full.len());
        if room == 0 {
            flag("text-truncated");
            break;
        }
        let text = match &part.body {
            PartType::Text(t) => t.to_string(),
            PartType::Html(h) => {
                if h.len() > super::MAX_HTML_BYTES {
                    flag("text-truncated");
                }
                html::html_to_text(super::head(h, super::MAX_HTML_BYTES))
            }
            _ => continue,
        };
        let text = if text.len() > room {
            flag("text-truncated");
            super::head(&text, room).to_string()
        } else {
            text
        };
        if budget.exceeded() {
            flag("over-budget");
            break;
        }
        let stripped = quote::own_text(&text);
        if !full.is_empty() {
            full.push('\n');
        }
        full.push_str(&text);
        if !stripped.is_empty() {
            if !own.is_empty() {
                own.push('\n');
            }
            own.push_str(&stripped);
        }
    }

    let header_text = |name: &'static str| msg.header_raw(name).map(str::trim);
    let root_ct = msg.root_part().content_type();
    let report = root_ct.is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
    });
    let report_type = root_ct.and_then(|ct| ct.attribute("report-type"));
    let delivery_status_part = msg.parts.iter().any(|p| {
        p.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("message")
                && ct
                    .subtype()
                    .is_some_and(|s| s.eq_ignore_ascii_case("delivery-status"))
        })
    });
    let list_headers = ["List-Unsubscribe", "List-Id", "List-Post"]
        .iter()
        .any(|h| msg.header_raw(*h).is_some());
    let x_spam_flag = header_text("X-Spam-Flag").is_some_and(|v| v.eq_ignore_ascii_case("yes"))
        || header_text("X-Spam-Status").is_some_and(|v| v.to_ascii_lowercase().starts_with("yes"));
    let (from_email, from_name) = from
        .as_ref()
        .map(|m| (m.email.as_str(), m.name.as_str()))
        .unwrap_or(("", ""));
    let signals = Signals {
        from: from_email,
        from_name,
        subject: &subject,
        text: &full,
        auto_submitted: header_text("Auto-Submitted"),
        precedence: header_text("Precedence"),
        x_autoreply: header_text("X-Autoreply").is_some()
            || header_text("X-Autorespond").is_some()
            || header_text("X-Autoresponder").is_some(),
        list_headers,
        x_spam_flag,
        report,
        report_type,
        delivery_status_part,
    };
    let class = autoreply::classify(&signals);

    let content_key = {
        let mut h = Sha256::new();
        h.update(from_email.as_bytes());
        h.update([0]);
        h.update(date.unwrap_or(0).to_le_bytes());
        h.update(subject.as_bytes());
        h.update([0]);
        for m in to.iter().chain(cc.iter()) {
            h.update(m.email.as_bytes());
            h.update([0]);
        }
        h.update(full.as_bytes());
        format!("sha256:{}", hex::encode(&h.finalize()[..16]))
    };

    let mut authentication_results = Vec::new();
    let mut received = Vec::new();
    for (name, value) in msg.headers_raw() {
        if name.eq_ignore_ascii_case("Received") && received.len() < 32 {
            received.push(super::head(value.trim(), 2048).to_string());
        } else if name.eq_ignore_ascii_case("Authentication-Results")
            && authentication_results.len() < 8
        {
            authentication_results.push(super::head(value.trim(), 4096).to_string());
        }
    }

    Ok(Email {
        message_id,
        from,
        to,
        cc,
        bcc,
        subject,
        date,
        in_reply_to,
        text: own,
        body_text: full,
        class,
        content_key,
        flags,
        authentication_results,
        received,
    })
}

/// Drop the base64 bodies of MIME parts that are not text, multipart or message (images, PDFs,
/// spreadsheets): attachments are never read, and skipping them spares the parser both the
/// boundary scan and the decoding. Returns `None` when there was nothing to drop. A base64 body
/// cannot contain "--", so the next line starting with "--" is the part's closing boundary.
pub fn skip_binary_decoding(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    // Bytes of `raw` before this offset are already in `out` (or need no copy yet).
    let mut copied = 0;
    let mut in_headers = true;
    let mut ctype_binary = false;
    let mut cte_base64 = false;
    let mut pos = 0;
    while pos < raw.len() {
        let end = memchr::memchr(b'\n', &raw[pos..])
            .map(|e| pos + e + 1)
            .unwrap_or(raw.len());
        let line = &raw[pos..end];
        let trimmed = line.strip_suffix(b"\n").unwrap_or(line);
        let trimmed = trimmed.strip_suffix(b"\r").unwrap_or(trimmed);
        if in_headers {
            if trimmed.is_empty() {
                in_headers = false;
                if ctype_binary && cte_base64 {
                    // Skip the body up to the next boundary line.
                    let body_end = memchr::memmem::find(&raw[end..], b"\n--")
                        .map(|e| end + e + 1)
                        .unwrap_or(raw.len());
                    let buf = out.get_or_insert_with(|| Vec::with_capacity(raw.len() / 2));
                    buf.extend_from_slice(&raw[copied..end]);
                    copied = body_end;
                    pos = body_end;
                    continue;
                }
            } else if trimmed[0] == b' ' || trimmed[0] == b'\t' {
                // Folded continuation: the type of a Content-Type header is on its first line.
            } else if let Some(value) = header_value(trimmed, b"content-type") {
                let v = value.trim_ascii_start();
                let lower: Vec<u8> = v.iter().take(12).map(|b| b.to_ascii_lowercase()).collect();
                ctype_binary = !(lower.starts_with(b"text/")
                    || lower.starts_with(b"multipart/")
                    || lower.starts_with(b"message/"));
            } else if let Some(value) = header_value(trimmed, b"content-transfer-encoding") {
                cte_base64 = value.trim_ascii().eq_ignore_ascii_case(b"base64");
            }
        } else if trimmed.len() > 2
            && trimmed.starts_with(b"--")
            && !trimmed[2].is_ascii_whitespace()
        {
            // A boundary line: a part's header block follows.
            in_headers = true;
            ctype_binary = false;
            cte_base64 = false;
        }
        pos = end;
    }
    out.map(|mut buf| {
        buf.extend_from_slice(&raw[copied..]);
        buf
    })
}

fn header_value<'a>(line: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    if line.len() > name.len() && line[..name.len()].eq_ignore_ascii_case(name) {
        let rest = line[name.len()..].trim_ascii_start();
        return rest.strip_prefix(b":");
    }
    None
}

fn first_text<'a>(v: &'a HeaderValue<'a>) -> Option<&'a str> {
    match v {
        HeaderValue::Text(t) => Some(t.as_ref()),
        HeaderValue::TextList(l) => l.first().map(|t| t.as_ref()),
        _ => None,
    }
}

fn first_mailbox(a: &Address<'_>) -> Option<Mailbox> {
    mailboxes(a).into_iter().next()
}

fn mailboxes(a: &Address<'_>) -> Vec<Mailbox> {
    a.iter()
        .filter_map(|addr| {
            let raw = addr.address()?;
            let email = normalize_email(raw).ok()?;
            Some(Mailbox {
                name: addr.name().unwrap_or("").trim().to_string(),
                email,
            })
        })
        .collect()
}
