//! The one way in: `prepare` (pure: normalize → classify → match → tag) and `commit` (one
//! transaction per batch: messages, sightings, failures, leads, tags, customer timers;
//! `commit.rs`). Sources hand their inputs to an `Ingestor` or a `GroupCommit` (`ingest.rs`),
//! which overlap the two.

use std::sync::Arc;

use crate::directory::identity::{Directory, Match, domain_of};
use crate::message::{Channel, Direction, Inbound, Message, Origin, Payload, Prepared, TagHit};
use crate::normalize::{self, Class, autoreply};
use crate::rules::RuleSet;
use crate::store::batch::BatchReport;
use crate::store::{Db, StoreError};

pub mod commit;
pub mod ingest;
pub use commit::{commit, commit_with};
pub use ingest::{
    Batch, Committed, GROUP_COMMIT_MAX, GroupCommit, IngestError, Ingestor, NotCommitted,
    prepare_all,
};

/// What `prepare` needs besides the input: the directory snapshot and limits.
#[derive(Debug, Clone)]
pub struct Context {
    pub directory: Directory,
    pub rules: Arc<RuleSet>,
    pub max_message_bytes: usize,
    /// The time one message may take to prepare (see [`normalize::Budget`]).
    pub message_budget: std::time::Duration,
    /// The policy a commit applies (lead routing, claims, conflicts).
    pub config: Arc<crate::config::Config>,
}

impl Context {
    /// The context every writer uses: the directory as the database holds it now, the rules
    /// given (the ones in force), limits from the config.
    pub async fn load(
        db: &Db,
        rules: Arc<RuleSet>,
        config: Arc<crate::config::Config>,
    ) -> Result<Context, StoreError> {
        let directory = crate::store::customers::load_directory(db, &config).await?;
        Ok(Context::new(directory, rules, config))
    }

    /// The context of a directory snapshot and the rules in force, limits from the config.
    pub fn new(
        directory: Directory,
        rules: Arc<RuleSet>,
        config: Arc<crate::config::Config>,
    ) -> Context {
        Context {
            directory,
            rules,
            max_message_bytes: config.ingest.max_message_bytes,
            message_budget: config.ingest.message_budget(),
            config,
        }
    }
}

/// Turn one input into a storable message or a failure record. Pure.
pub fn prepare(ctx: &Context, inbound: Inbound) -> Prepared {
    let Inbound {
        mut origin,
        payload,
    } = inbound;
    origin.sanitize();
    match payload {
        Payload::Email(raw) => prepare_email(ctx, origin, raw),
        Payload::Chat(event) => prepare_chat(ctx, origin, *event),
        Payload::Unreadable(reason) => Prepared::Failure {
            origin,
            reason,
            raw: Vec::new(),
        },
    }
}

fn prepare_email(ctx: &Context, origin: Origin, raw: Vec<u8>) -> Prepared {
    if raw.len() > ctx.max_message_bytes {
        let reason = format!(
            "message of {} bytes exceeds ingest.max_message_bytes ({})",
            raw.len(),
            ctx.max_message_bytes
        );
        return Prepared::Failure {
            origin,
            reason,
            raw: Vec::new(),
        };
    }
    let budget = normalize::Budget::new(ctx.message_budget);
    let email = match normalize::mime::parse_email_within(&raw, &budget) {
        Ok(e) => e,
        Err(reason) => {
            return Prepared::Failure {
                origin,
                reason: reason.to_string(),
                raw,
            };
        }
    };
    let dir = &ctx.directory;
    let from = email.from.as_ref().map(|m| m.email.as_str()).unwrap_or("");
    let recipients: Vec<&str> = email
        .to
        .iter()
        .chain(email.cc.iter())
        .chain(email.bcc.iter())
        .map(|m| m.email.as_str())
        .collect();
    let recipient_rep = || {
        recipients
            .iter()
            .find_map(|r| dir.rep_for(r))
            .map(str::to_string)
    };
    let mut class = email.class;

    let (direction, matched, counterpart, rep) = if class == Class::Bounce {
        (
            Direction::Inbound,
            Match::none(),
            None,
            origin.rep.clone().or_else(recipient_rep),
        )
    } else if dir.is_team_address(from)
        && origin.verify_sender
        && ctx.config.team.verify_senders
        && !normalize::sender::verify(
            domain_of(from),
            &dir.team_domains,
            &ctx.config.team.authserv_ids,
            &email.trail(),
        )
        .proven()
    {
        // "From" one of us into a live mailbox, with nothing to prove it: kept, flagged, never
        // our contact.
        class = Class::Spoof;
        (
            Direction::Inbound,
            Match::none(),
            Some(from.to_string()),
            origin.rep.clone().or_else(recipient_rep),
        )
    } else if dir.is_team_address(from) {
        let externals: Vec<&str> = recipients
            .iter()
            .copied()
            .filter(|r| !dir.is_team_address(r))
            .collect();
        let rep = dir
            .rep_for(from)
            .map(str::to_string)
            .or_else(|| origin.rep.clone());
        if externals.is_empty() {
            (Direction::Internal, Match::none(), None, rep)
        } else {
            let found = externals
                .iter()
                .map(|r| (*r, dir.match_email(r)))
                .find(|(_, m)| m.customer.is_some() || m.group.is_some());
            match found {
                Some((addr, m)) => (Direction::Outbound, m, Some(addr.to_string()), rep),
                None => (
                    Direction::Outbound,
                    Match::none(),
                    Some(externals[0].to_string()),
                    rep,
                ),
            }
        }
    } else {
        let m = dir.match_email(from);
        let rep = origin.rep.clone().or_else(recipient_rep);
        (
            Direction::Inbound,
            m,
            Some(from.to_string()).filter(|f| !f.is_empty()),
            rep,
        )
    };

    if direction == Direction::Inbound
        && class == Class::Human
        && matched.customer.is_none()
        && matched.group.is_none()
        && (autoreply::scam_wording(&email.subject, &email.text)
            || crate::normalize::unsolicited::judge(&email.subject, &email.text).is_some()
            || dir.is_lookalike(domain_of(from)))
    {
        class = Class::Spam;
    }
    let counts_as_contact = class == Class::Human && direction != Direction::Internal;
    let sent_at = email
        .date
        .map(|d| d.min(origin.received_at))
        .unwrap_or(origin.received_at);
    let mut flags = email.flags.clone();
    if budget.exceeded() && !flags.contains(&"over-budget") {
        flags.push("over-budget");
    }
    let tags = if class == Class::Human && direction != Direction::Internal && !budget.exceeded() {
        suggest_tags(
            &ctx.rules,
            &email.subject,
            &email.text,
            direction == Direction::Outbound,
        )
    } else {
        Vec::new()
    };
    let away_until = (class == Class::AutoReply && direction == Direction::Inbound)
        .then(|| {
            crate::followup::ooo::return_date(
                &format!("{}\n{}", email.subject, email.text),
                sent_at,
            )
        })
        .flatten();
    let from_domain = domain_of(from);
    let lead_domain = (direction == Direction::Inbound
        && matched.customer.is_none()
        && matched.group.is_none()
        && !from_domain.is_empty()
        && !dir.freemail.contains(from_domain)
        && !dir.is_team_address(from))
    .then(|| from_domain.to_string());
    let from_name = email
        .from
        .as_ref()
        .map(|m| m.name.trim().to_string())
        .filter(|n| !n.is_empty());
    let key = crate::message::storage_key(
        Channel::Email.as_str(),
        email.message_id.as_deref().unwrap_or(&email.content_key),
    );
    let mut message = Message {
        key,
        message_id: email.message_id,
        channel: Channel::Email,
        direction,
        class,
        counts_as_contact,
        customer: matched.customer,
        group: matched.group,
        match_reason: matched.reason,
        counterpart,
        rep,
        from: email.from.map(|m| m.email),
        to: recipients.iter().map(|r| r.to_string()).collect(),
        subject: email.subject,
        quoted: (email.body_text.trim() != email.text.trim()).then_some(email.body_text),
        body: email.text,
        sent_at,
        received_at: origin.received_at,
        in_reply_to: email.in_reply_to,
        tags,
        chat_user: None,
        raw: None,
        from_name,
        away_until,
        lead_domain,
        flags,
    };
    message.sanitize();
    Prepared::Message {
        origin,
        message: Box::new(message),
    }
}

/// A WhatsApp event: a customer's message (inbound), an echo of what a rep sent from the
/// WhatsApp Business app, or a status of our outbound message (both outbound). Matched by phone
/// (with the national quirks) or by a learned user id.
fn prepare_chat(ctx: &Context, origin: Origin, mut ev: crate::message::ChatEvent) -> Prepared {
    use crate::address::phone_variants;
    use crate::directory::identity::MatchReason;
    use crate::message::EventKind;
    let dir = &ctx.directory;
    let phone = ev.phone();
    let mut matched = phone
        .as_deref()
        .map(|p| {
            phone_variants(p)
                .iter()
                .map(|v| dir.match_phone(v))
                .find(|m| m.customer.is_some() || m.group.is_some())
                .unwrap_or_else(Match::none)
        })
        .unwrap_or_else(Match::none);
    // A bridge may name the customer by e-mail address.
    if matched.customer.is_none()
        && matched.group.is_none()
        && let Some(email) = ev.user_id.as_deref().filter(|u| u.contains('@'))
        && let Ok(norm) = crate::address::normalize_email(email)
    {
        matched = dir.match_email(&norm);
    }
    if matched.customer.is_none()
        && matched.group.is_none()
        && let Some(c) = ev.user_id.as_ref().and_then(|u| dir.chat_users.get(u))
    {
        matched = Match {
            group: dir.groups.get(c).cloned(),
            customer: Some(c.clone()),
            reason: MatchReason::Phone,
        };
    }
    let rep = ev
        .rep
        .clone()
        .or_else(|| {
            ev.business_number
                .as_deref()
                .and_then(|b| {
                    let digits: String = b.chars().filter(char::is_ascii_digit).collect();
                    dir.rep_phones.get(&format!("+{digits}"))
                })
                .cloned()
        })
        .or_else(|| origin.rep.clone());
    let known = matched.customer.is_some() || matched.group.is_some();
    let direction = match ev.kind {
        EventKind::Inbound => Direction::Inbound,
        EventKind::Echo | EventKind::Status => Direction::Outbound,
    };
    let mut class = Class::Human;
    if direction == Direction::Inbound
        && !known
        && (crate::normalize::unsolicited::judge("", &ev.text).is_some()
            || autoreply::scam_wording("", &ev.text))
    {
        class = Class::Spam;
    }
    let counts_as_contact = match ev.kind {
        EventKind::Status => ev.status_counts(),
        _ => class == Class::Human,
    };
    let tags = if direction == Direction::Inbound && class == Class::Human {
        suggest_tags(&ctx.rules, "", &ev.text, false)
    } else {
        Vec::new()
    };
    let counterpart = phone.clone().or_else(|| ev.user_id.clone());
    let business = ev.business_number.as_deref().map(|b| format!("+{b}"));
    let (from, to) = match direction {
        Direction::Inbound => (counterpart.clone(), business.into_iter().collect()),
        _ => (business, counterpart.clone().into_iter().collect()),
    };
    let sent_at = if ev.timestamp > 0 {
        ev.timestamp.min(origin.received_at)
    } else {
        origin.received_at
    };
    let raw = Some(std::mem::take(&mut ev.raw));
    let whatsapp = ev.channel == "whatsapp";
    let mut message = Message {
        key: crate::message::storage_key(&ev.channel, &ev.id),
        message_id: Some(ev.id),
        channel: Channel::from_name(&ev.channel),
        direction,
        class,
        counts_as_contact,
        customer: matched.customer.clone(),
        group: matched.group,
        match_reason: matched.reason,
        counterpart,
        rep,
        from,
        to,
        subject: String::new(),
        body: ev.text,
        sent_at,
        received_at: origin.received_at,
        in_reply_to: None,
        tags,
        chat_user: ev
            .user_id
            .filter(|_| whatsapp && phone.is_some() && matched.customer.is_some()),
        raw,
        from_name: ev.name.filter(|_| direction == Direction::Inbound),
        away_until: None,
        quoted: None,
        lead_domain: None,
        flags: Vec::new(),
    };
    message.sanitize();
    Prepared::Message {
        origin,
        message: Box::new(message),
    }
}

/// Run the rules over a message's own words and keep one entry per tag (its first hit, and
/// how many hits it had). Outbound messages only get tags from rules that ask for them.
pub fn suggest_tags(rules: &RuleSet, subject: &str, body: &str, outbound: bool) -> Vec<TagHit> {
    let mut out: Vec<TagHit> = Vec::new();
    // The next step is given in the customer's language: the script of the text when it tells
    // (a Chinese text matched by a keyword shared with Japanese is still Chinese), else the
    // language of the keyword that matched.
    let script = normalize::text::script_language(body);
    for hit in rules.tag_message(subject, body) {
        if outbound && !rules.rule(&hit.tag).is_some_and(|r| r.outbound_too) {
            continue;
        }
        match out.iter_mut().find(|t| t.tag == hit.tag) {
            Some(t) => t.hits += hit.count,
            None => out.push(TagHit {
                tag: hit.tag,
                rule: hit.rule,
                evidence: hit.evidence,
                matched: hit.matched,
                field: hit.field.as_str(),
                start: hit.start,
                end: hit.end,
                lang: script.map(str::to_string).unwrap_or(hit.lang),
                hits: hit.count,
            }),
        }
    }
    out
}

/// Totals of a whole ingest run.
#[derive(Debug, Default, Clone)]
pub struct RunReport {
    pub batch: BatchReport,
    pub elapsed_secs: f64,
}

impl RunReport {
    pub fn rate(&self) -> f64 {
        let n = self.batch.seen() as f64;
        if self.elapsed_secs > 0.0 {
            n / self.elapsed_secs
        } else {
            n
        }
    }

    /// The one-line summary every import ends with.
    pub fn summary_line(&self) -> String {
        let b = &self.batch;
        format!(
            "ingested {}, also seen in another mailbox {}, duplicates {}, failed {}, unmatched {}, elapsed {:.2}s, {:.0} messages/s",
            b.ingested,
            b.sightings,
            b.duplicates,
            b.failed,
            b.unmatched,
            self.elapsed_secs,
            self.rate()
        )
    }
}
