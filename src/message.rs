//! The nouns that flow through the pipeline: what arrives (`Inbound`) and what is stored
//! (`Message`, or a `Failure` when input cannot be used).

use serde::Serialize;

use crate::directory::identity::MatchReason;
use crate::normalize::Class;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Email,
    Whatsapp,
    Wechat,
    Telegram,
    Line,
    Sms,
    /// Any other chat bridge.
    Chat,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Whatsapp => "whatsapp",
            Channel::Wechat => "wechat",
            Channel::Telegram => "telegram",
            Channel::Line => "line",
            Channel::Sms => "sms",
            Channel::Chat => "chat",
        }
    }

    /// A chat channel by the name a bridge gives it.
    pub fn from_name(name: &str) -> Channel {
        match name {
            "whatsapp" => Channel::Whatsapp,
            "wechat" | "wecom" | "weixin" => Channel::Wechat,
            "telegram" => Channel::Telegram,
            "line" => Channel::Line,
            "sms" => Channel::Sms,
            _ => Channel::Chat,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// From a customer or anyone outside the team to us.
    Inbound,
    /// From us to someone outside the team.
    Outbound,
    /// Between team addresses only.
    Internal,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
            Direction::Internal => "internal",
        }
    }
}

/// Where an input came from: its unique source key (the dedupe key of this sighting), the
/// mailbox it sits in, the rep that mailbox belongs to, and when it was received.
#[derive(Debug, Clone)]
pub struct Origin {
    pub source_key: String,
    pub mailbox: String,
    pub rep: Option<String>,
    /// Unix ms; the upper bound for a sender's Date header.
    pub received_at: i64,
    /// Must a team From be proven (`normalize::sender`)? True for a live mailbox's folders
    /// other than Sent, where anyone can deliver a mail "from" one of us; false for Sent
    /// folders, chat and the archives an operator imports (unless asked).
    pub verify_sender: bool,
}

/// The raw content of an input.
#[derive(Debug, Clone)]
pub enum Payload {
    /// An RFC 5322 message.
    Email(Vec<u8>),
    /// A WhatsApp (or other chat) event: a message, an echo of ours, or a status.
    Chat(Box<ChatEvent>),
    /// The source could not read the input; the reason is kept as a failure.
    Unreadable(String),
}

/// One input to the pipeline (`pipeline::Ingestor`).
#[derive(Debug, Clone)]
pub struct Inbound {
    pub origin: Origin,
    pub payload: Payload,
}

/// A message ready to store.
#[derive(Debug, Clone)]
pub struct Message {
    /// Message-ID without brackets, or a content key.
    pub key: String,
    pub message_id: Option<String>,
    pub channel: Channel,
    pub direction: Direction,
    pub class: Class,
    pub counts_as_contact: bool,
    pub customer: Option<String>,
    pub group: Option<String>,
    pub match_reason: MatchReason,
    pub counterpart: Option<String>,
    pub rep: Option<String>,
    pub from: Option<String>,
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
    pub sent_at: i64,
    pub received_at: i64,
    pub in_reply_to: Option<String>,
    /// Trait tags suggested by the rules: one entry per tag with its first hit as evidence.
    pub tags: Vec<TagHit>,
    /// A chat user id (WhatsApp business-scoped id) to link to `customer` when both are known.
    pub chat_user: Option<String>,
    /// The raw chat event (JSON), kept with the message.
    pub raw: Option<String>,
    /// A mail's whole decoded text when it holds more than the sender's own words (quoted
    /// history, signature, disclaimer), for the board's folded view.
    pub quoted: Option<String>,
    /// The sender's display name (a lead's name).
    pub from_name: Option<String>,
    /// An out-of-office reply's announced return (Unix ms): the customer's clock pauses.
    pub away_until: Option<i64>,
    /// The sender's company domain when the sender is unknown (not free mail, not ours): a lead
    /// made from this message also claims the domain if no one holds it.
    pub lead_domain: Option<String>,
    /// What was cut short while preparing it (`text-truncated`, `over-budget`).
    pub flags: Vec<&'static str>,
}

/// The identity a message's counterpart would be stored under: an e-mail address, an E.164
/// number, or a WhatsApp user id.
pub fn counterpart_identity(m: &Message) -> Option<(&'static str, String)> {
    let c = m.counterpart.as_deref()?;
    if m.channel == Channel::Email || c.contains('@') {
        return crate::address::normalize_email(c)
            .ok()
            .map(|e| ("email", e));
    }
    if c.starts_with('+') {
        return Some(("phone", c.to_string()));
    }
    (m.channel == Channel::Whatsapp).then(|| ("wa_user", c.to_string()))
}

/// The longest identifier stored as it is (a Message-ID, a chat id, a source key): longer
/// ones are stored as a stable hash key, so no input can exceed an index's row limit
/// (PostgreSQL's btree takes about 2,700 bytes) and a re-import finds the same key.
pub const MAX_ID_BYTES: usize = 512;
/// The longest free-text value kept in an identifier-like column that is never a key
/// (a display name, In-Reply-To, a mailbox name): longer ones are cut at a character boundary.
pub const MAX_NAME_BYTES: usize = 512;
pub use crate::normalize::MAX_SUBJECT_BYTES;

/// `id` itself when it is at most [`MAX_ID_BYTES`] long, else `id-sha256:<hex>` of it: the
/// same input always gives the same key.
pub fn bounded_id(id: &str) -> std::borrow::Cow<'_, str> {
    use sha2::{Digest, Sha256};
    if id.len() <= MAX_ID_BYTES {
        std::borrow::Cow::Borrowed(id)
    } else {
        let digest = Sha256::digest(id.as_bytes());
        std::borrow::Cow::Owned(format!("id-sha256:{}", hex::encode(digest)))
    }
}

/// Cut `s` to at most `max` bytes at a character boundary.
pub fn truncate_in_place(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

/// Replace NUL characters with U+FFFD: PostgreSQL text cannot hold NUL, and both databases
/// must store the same thing.
pub fn scrub_nul(s: &mut String) {
    if s.contains('\0') {
        *s = s.replace('\0', "\u{FFFD}");
    }
}

/// The storage key of a message: its id in its channel's namespace (`email:<Message-ID>`,
/// `whatsapp:<wamid>`, `telegram:<id>`, ...), so an e-mail whose Message-ID looks like a chat
/// id never takes the place of that chat message.
pub fn storage_key(channel: &str, id: &str) -> String {
    let id = bounded_id(id);
    match id.strip_prefix(channel).and_then(|r| r.strip_prefix(':')) {
        // A bridge's id already names its channel (`telegram:123`).
        Some(_) if channel != "email" => id.into_owned(),
        _ => format!("{channel}:{id}"),
    }
}

/// The key shown outside (CLI, REST, events): the Message-ID of a mail and the wamid of a
/// WhatsApp message without their namespace, as before keys had one; a bridge message keeps
/// `channel:id`.
pub fn display_key(key: &str) -> &str {
    key.strip_prefix("email:")
        .or_else(|| key.strip_prefix("whatsapp:"))
        .unwrap_or(key)
}

impl Origin {
    /// Bound and clean what the source put in: a source key over [`MAX_ID_BYTES`] becomes a
    /// hash key, the mailbox and rep names are cut, NULs replaced.
    pub fn sanitize(&mut self) {
        if self.source_key.len() > MAX_ID_BYTES || self.source_key.contains('\0') {
            let (kind, _) = self.source_key.split_once(':').unwrap_or(("input", ""));
            let kind: String = kind.chars().take(16).filter(|c| *c != '\0').collect();
            self.source_key = format!("{kind}:{}", bounded_id(&self.source_key));
            scrub_nul(&mut self.source_key);
        }
        scrub_nul(&mut self.mailbox);
        truncate_in_place(&mut self.mailbox, MAX_NAME_BYTES);
        if let Some(rep) = &mut self.rep {
            scrub_nul(rep);
            truncate_in_place(rep, MAX_NAME_BYTES);
        }
    }
}

#[cfg(test)]
impl Message {
    /// A new inbound human email from `from` (for unit tests of the policy).
    pub(crate) fn sample(key: &str, from: &str) -> Message {
        Message {
            key: key.into(),
            message_id: None,
            channel: Channel::Email,
            direction: Direction::Inbound,
            class: Class::Human,
            counts_as_contact: true,
            customer: None,
            group: None,
            match_reason: MatchReason::None,
            counterpart: Some(from.into()),
            rep: None,
            from: Some(from.into()),
            to: Vec::new(),
            subject: "Price for 2,000 pcs".into(),
            body: "Please quote.".into(),
            sent_at: 1_000,
            received_at: 1_000,
            in_reply_to: None,
            tags: Vec::new(),
            chat_user: None,
            raw: None,
            quoted: None,
            from_name: None,
            away_until: None,
            lead_domain: None,
            flags: Vec::new(),
        }
    }
}

impl Message {
    /// Make every stored value storable on both databases: NULs replaced with U+FFFD in every
    /// text, identifiers bounded (keys hashed when too long, names cut), the subject cut.
    pub fn sanitize(&mut self) {
        for s in [&mut self.key, &mut self.subject, &mut self.body] {
            scrub_nul(s);
        }
        // Identifiers a lookup may use are hashed when too long; the rest are cut.
        for s in [&mut self.counterpart, &mut self.chat_user]
            .into_iter()
            .flatten()
        {
            scrub_nul(s);
            if s.len() > MAX_ID_BYTES {
                *s = bounded_id(s).into_owned();
            }
        }
        for s in [
            &mut self.message_id,
            &mut self.in_reply_to,
            &mut self.from,
            &mut self.from_name,
            &mut self.rep,
            &mut self.customer,
            &mut self.group,
            &mut self.lead_domain,
        ]
        .into_iter()
        .flatten()
        .chain(self.to.iter_mut())
        {
            scrub_nul(s);
            truncate_in_place(s, MAX_NAME_BYTES);
        }
        for text in [&mut self.raw, &mut self.quoted].into_iter().flatten() {
            scrub_nul(text);
        }
        for t in &mut self.tags {
            scrub_nul(&mut t.matched);
            scrub_nul(&mut t.evidence);
        }
        truncate_in_place(&mut self.subject, MAX_SUBJECT_BYTES);
    }
}

impl Message {
    /// What was prepared, as JSON: kept with a failure when the database refuses the message
    /// (the raw mail is not held until the commit; it stays at its source, which the failure's
    /// source key names).
    pub fn to_failure_json(&self) -> Vec<u8> {
        serde_json::json!({
            "key": self.key, "message_id": self.message_id, "channel": self.channel,
            "direction": self.direction, "class": self.class.as_str(),
            "customer": self.customer, "rep": self.rep, "from": self.from, "to": self.to,
            "subject": self.subject, "body": self.body, "sent_at": self.sent_at,
            "raw_event": self.raw,
        })
        .to_string()
        .into_bytes()
    }
}

/// A tag suggested for a message, with the evidence of its first hit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagHit {
    pub tag: String,
    pub rule: String,
    pub evidence: String,
    pub matched: String,
    pub field: &'static str,
    /// Byte range of the match in the field's stored text.
    pub start: usize,
    pub end: usize,
    pub lang: String,
    /// How many hits this tag had in the message.
    pub hits: usize,
}

/// The result of preparing one input.
#[derive(Debug, Clone)]
pub enum Prepared {
    Message {
        origin: Origin,
        message: Box<Message>,
    },
    Failure {
        origin: Origin,
        reason: String,
        raw: Vec<u8>,
    },
}

impl Prepared {
    /// Where the input came from.
    pub fn origin(&self) -> &Origin {
        match self {
            Prepared::Message { origin, .. } | Prepared::Failure { origin, .. } => origin,
        }
    }
}

/// An input not read yet: its size (for batching by bytes) and how to read it. Bulk sources
/// yield these so the reading happens on the parallel parse workers.
pub struct Pending {
    pub size: u64,
    pub load: Box<dyn FnOnce() -> Inbound + Send>,
}

impl Pending {
    /// An input that is already in memory.
    pub fn ready(inbound: Inbound) -> Pending {
        let size = match &inbound.payload {
            Payload::Email(raw) => raw.len() as u64,
            Payload::Chat(e) => e.text.len() as u64,
            Payload::Unreadable(_) => 0,
        };
        Pending {
            size,
            load: Box::new(move || inbound),
        }
    }
}

/// One chat event: from a WhatsApp webhook body or a chat bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatEvent {
    /// The message id (`wamid.…`): for a status, the id of our outbound message.
    pub id: String,
    pub kind: EventKind,
    /// The customer's WhatsApp id (digits with country code, no "+"), when given.
    pub wa_id: Option<String>,
    /// The customer's business-scoped user id (2026 usernames), when given.
    pub user_id: Option<String>,
    /// The contact's profile name.
    pub name: Option<String>,
    /// Our business number (display number, digits).
    pub business_number: Option<String>,
    /// Unix ms.
    pub timestamp: i64,
    /// The message type (`text`, `image`, ...) or the status (`sent`, `read`, ...).
    pub detail: String,
    /// What the customer wrote: text, captions, replies; empty for media without caption.
    pub text: String,
    /// `whatsapp`, or the name another chat bridge gives its channel.
    pub channel: String,
    /// The rep, when the source knows it (bridges); WhatsApp finds it by the business number.
    pub rep: Option<String>,
    /// The event as it arrived (the message, echo or status object, JSON).
    pub raw: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A customer's message to us.
    Inbound,
    /// Sent by us from the WhatsApp Business app (coexistence echo).
    Echo,
    /// A status of a message we sent through the API.
    Status,
}

impl ChatEvent {
    /// The customer's number in E.164 ("+" and digits).
    pub fn phone(&self) -> Option<String> {
        self.wa_id
            .as_deref()
            .map(|w| w.chars().filter(char::is_ascii_digit).collect::<String>())
            .filter(|d| d.len() >= 6)
            .map(|d| format!("+{d}"))
    }

    /// Does this status count as contact (the message reached the customer's phone or was
    /// at least accepted for delivery)?
    pub fn status_counts(&self) -> bool {
        matches!(
            self.detail.as_str(),
            "sent" | "delivered" | "read" | "played"
        )
    }
}
