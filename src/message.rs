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
}

/// The raw content of an input.
#[derive(Debug, Clone)]
pub enum Payload {
    /// An RFC 5322 message.
    Email(Vec<u8>),
    /// A WhatsApp (or other chat) event: a message, an echo of ours, or a status.
    Chat(Box<crate::source::whatsapp::ChatEvent>),
    /// The source could not read the input; the reason is kept as a failure.
    Unreadable(String),
}

/// One input to `pipeline::ingest`.
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
    /// The sender's display name (a lead's name).
    pub from_name: Option<String>,
    /// An out-of-office reply's announced return (Unix ms): the customer's clock pauses.
    pub away_until: Option<i64>,
    /// The sender's company domain when the sender is unknown (not free mail, not ours): a lead
    /// made from this message also claims the domain if no one holds it.
    pub lead_domain: Option<String>,
}

impl Message {
    /// Replace NUL characters (a malformed mail or chat text can carry them) with U+FFFD in
    /// every stored text: PostgreSQL text cannot hold NUL, and both databases must store the
    /// same thing.
    pub fn scrub_nul(&mut self) {
        fn scrub(s: &mut String) {
            if s.contains('\0') {
                *s = s.replace('\0', "\u{FFFD}");
            }
        }
        for s in [&mut self.key, &mut self.subject, &mut self.body] {
            scrub(s);
        }
        for s in [
            &mut self.message_id,
            &mut self.counterpart,
            &mut self.from,
            &mut self.in_reply_to,
            &mut self.raw,
            &mut self.from_name,
            &mut self.chat_user,
        ]
        .into_iter()
        .flatten()
        {
            scrub(s);
        }
        self.to.iter_mut().for_each(scrub);
        for t in &mut self.tags {
            scrub(&mut t.matched);
            scrub(&mut t.evidence);
        }
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
