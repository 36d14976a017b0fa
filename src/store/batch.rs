//! The rows a batch commit writes, in the order `pipeline::commit` drives them: the inputs
//! (`write_inputs`: failures, sightings, messages new by key, upgrades, chat user ids), what
//! the new messages bring (`tally`: new messages, tag sightings, contact times; no database),
//! then the contact times moved forward (`advance_timers`, with `contact.updated` events);
//! the savepoints of the one-input-at-a-time fallback, and the hook an IMAP source runs in the
//! transaction. Tag rows are in `tags`, their lifecycle in `followup::tags`.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use sqlx::Row;

pub use super::tags::TagSighting;
use super::{Context, StoreError, Tx};
use crate::message::{Direction, Message, Prepared};
use crate::normalize::Class;

/// Counts from committing one batch.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchReport {
    /// New messages stored.
    pub ingested: usize,
    /// Known messages seen in another mailbox or folder (a new sighting only).
    pub sightings: usize,
    /// Inputs already seen at the same place: nothing new.
    pub duplicates: usize,
    /// Inputs stored as failures.
    pub failed: usize,
    /// New inbound human messages that matched no customer.
    pub unmatched: usize,
    /// Customers whose contact times moved.
    pub customers_touched: usize,
    /// Tags suggested on new messages.
    pub tags: usize,
    /// Unknown senders turned into leads.
    pub leads: usize,
    /// Source keys of the inputs the database refused: each is stored as a failure (also
    /// counted in `failed`).
    pub refused: Vec<String>,
}

impl BatchReport {
    pub fn add(&mut self, o: &BatchReport) {
        self.ingested += o.ingested;
        self.sightings += o.sightings;
        self.duplicates += o.duplicates;
        self.failed += o.failed;
        self.unmatched += o.unmatched;
        self.customers_touched += o.customers_touched;
        self.tags += o.tags;
        self.leads += o.leads;
        self.refused.extend(o.refused.iter().cloned());
    }

    /// Inputs looked at.
    pub fn seen(&self) -> usize {
        self.ingested + self.sightings + self.duplicates + self.failed
    }
}

#[derive(Default)]
struct Timers<'a> {
    /// The batch's earliest inbound contact (the first-touch clock starts at the first).
    first_inbound: Option<i64>,
    inbound: Option<i64>,
    outbound: Option<i64>,
    /// The latest message that moved them (for the `contact.updated` event).
    latest: Option<&'a Message>,
}

fn later(a: Option<i64>, b: i64) -> Option<i64> {
    Some(a.map_or(b, |a| a.max(b)))
}

/// Rows per multi-row INSERT: few statements per batch, far below SQLite's parameter limit.
const CHUNK: usize = 16;

/// How long a tag's evidence holds (ms) and the next step it suggests, in the hit's language:
/// the rules' say, handed in by the caller.
pub type StepOf<'a> = &'a (dyn Fn(&crate::message::TagHit) -> (i64, String) + Send + Sync);

/// Work done in a batch's transaction just before its commit (an IMAP source moves its
/// checkpoint: `mailboxes::Advance`).
pub trait InTransaction: Send + Sync {
    fn run<'t>(&'t self, tx: &'t mut Tx) -> futures::future::BoxFuture<'t, Result<(), StoreError>>;
}

/// Nothing more.
impl InTransaction for () {
    fn run<'t>(&'t self, _: &'t mut Tx) -> futures::future::BoxFuture<'t, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }
}

/// A savepoint step of the one-input-at-a-time fallback of a batch commit.
#[derive(Debug, Clone, Copy)]
pub enum Savepoint {
    Mark,
    Release,
    RollBack,
}

/// Take, release or roll back to the savepoint of one input.
pub async fn savepoint(tx: &mut Tx, step: Savepoint) -> Result<(), StoreError> {
    let sql = match step {
        Savepoint::Mark => "SAVEPOINT kw_one",
        Savepoint::Release => "RELEASE SAVEPOINT kw_one",
        Savepoint::RollBack => "ROLLBACK TO SAVEPOINT kw_one",
    };
    sqlx::query(sql)
        .execute(&mut **tx)
        .await
        .ctx("mark a savepoint")?;
    Ok(())
}

/// Record an input that could not be used; false when its source key is already recorded.
pub async fn insert_failure(
    tx: &mut Tx,
    origin: &crate::message::Origin,
    reason: &str,
    raw: &[u8],
    now: i64,
) -> Result<bool, StoreError> {
    let mut reason = reason.to_string();
    crate::message::scrub_nul(&mut reason);
    let stored = sqlx::query(
        "INSERT INTO failure (source_key, mailbox, reason, size, raw, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (source_key) DO NOTHING RETURNING source_key",
    )
    .bind(&origin.source_key)
    .bind(&origin.mailbox)
    .bind(&reason)
    .bind(raw.len() as i64)
    .bind(raw)
    .bind(now)
    .fetch_optional(&mut **tx)
    .await
    .ctx("store a failure")?;
    Ok(stored.is_some())
}

/// What [`write_inputs`] stored of a batch.
pub struct Written<'a> {
    pub report: BatchReport,
    /// The batch's messages, one per key, matched again against what is stored now.
    pub messages: Vec<Cow<'a, Message>>,
    /// Keys of the messages inserted now.
    pub inserted: HashSet<String>,
    /// Keys of stored messages this batch upgraded: they count from now on.
    pub upgraded: HashSet<String>,
}

/// Write a batch's inputs inside a transaction the caller commits: failures, sightings, the
/// messages new by key, upgrades of stored ones, chat user ids seen with a known phone.
/// Idempotent: a sighting already stored is a duplicate; a message already stored under the
/// same key gets only a new sighting.
pub async fn write_inputs<'a>(
    tx: &mut Tx,
    batch: &'a [Prepared],
    now: i64,
) -> Result<Written<'a>, StoreError> {
    let mut report = BatchReport::default();

    // Failures.
    for p in batch {
        if let Prepared::Failure {
            origin,
            reason,
            raw,
        } = p
        {
            if insert_failure(tx, origin, reason, raw, now).await? {
                report.failed += 1;
            } else {
                report.duplicates += 1;
            }
        }
    }

    // Sightings: the ones already stored are duplicates of this very input.
    let messages: Vec<(&crate::message::Origin, &Message)> = batch
        .iter()
        .filter_map(|p| match p {
            Prepared::Message { origin, message } => Some((origin, &**message)),
            Prepared::Failure { .. } => None,
        })
        .collect();
    let mut new_sightings: HashSet<String> = HashSet::new();
    for chunk in messages.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO sighting (source_key, message_key, mailbox, rep_id, seen_at) VALUES {}
             ON CONFLICT (source_key) DO NOTHING RETURNING source_key",
            super::Backend::of(tx).placeholders(chunk.len(), 5)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (origin, m) in chunk {
            q = q
                .bind(&origin.source_key)
                .bind(&m.key)
                .bind(&origin.mailbox)
                .bind(&origin.rep)
                .bind(now);
        }
        for row in q.fetch_all(&mut **tx).await.ctx("store sightings")? {
            new_sightings.insert(row.get(0));
        }
    }

    // Messages: the first input of each key is inserted; a key already stored (or repeated in
    // this batch) is the same mail seen in another mailbox.
    // (Of two chat statuses of one message in a batch, one that counts as contact wins.)
    let mut by_key: HashMap<&str, usize> = HashMap::new();
    let mut candidates: Vec<Cow<'_, Message>> = Vec::new();
    for (origin, m) in &messages {
        if !new_sightings.contains(&origin.source_key) {
            report.duplicates += 1;
        } else if let Some(&i) = by_key.get(m.key.as_str()) {
            report.sightings += 1;
            if m.counts_as_contact && !candidates[i].counts_as_contact {
                candidates[i] = Cow::Borrowed(*m);
            }
        } else {
            by_key.insert(m.key.as_str(), candidates.len());
            candidates.push(Cow::Borrowed(*m));
        }
    }
    // The matching snapshot may be older than a customer or lead created since.
    crate::store::followup::resolve_unmatched(tx, &mut candidates).await?;
    let mut inserted: HashSet<String> = HashSet::new();
    for chunk in candidates.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO message (key, message_id, channel, direction, class, counts_as_contact,
               customer_id, group_id, match_reason, counterpart, rep_id, from_addr, to_addrs,
               subject, body, sent_at, received_at, in_reply_to, created_at, raw, flags, quoted)
             VALUES {} ON CONFLICT (key) DO NOTHING RETURNING key",
            super::Backend::of(tx).placeholders(chunk.len(), 22)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for m in chunk {
            let to = serde_json::to_string(&m.to).unwrap_or_else(|_| "[]".into());
            q = q
                .bind(&m.key)
                .bind(&m.message_id)
                .bind(m.channel.as_str())
                .bind(m.direction.as_str())
                .bind(m.class.as_str())
                .bind(i64::from(m.counts_as_contact))
                .bind(&m.customer)
                .bind(&m.group)
                .bind(m.match_reason.as_str())
                .bind(&m.counterpart)
                .bind(&m.rep)
                .bind(&m.from)
                .bind(to)
                .bind(&m.subject)
                .bind(&m.body)
                .bind(m.sent_at)
                .bind(m.received_at)
                .bind(&m.in_reply_to)
                .bind(now)
                .bind(&m.raw)
                .bind(m.flags.join(","))
                .bind(&m.quoted);
        }
        for row in q.fetch_all(&mut **tx).await.ctx("store messages")? {
            inserted.insert(row.get(0));
        }
    }

    // A message already stored that this copy upgrades; it counts from now on and moves the
    // timers below:
    // - a chat message stored as not counting (a failed WhatsApp status) that now arrives as
    //   counting (delivered after all);
    // - a mail first seen as a spoof (a colleague's mail in an INBOX, nothing to prove it) that
    //   now arrives from where it is trusted (the sender's Sent folder, or with proof): it
    //   becomes what that copy says.
    let mut upgraded: HashSet<String> = HashSet::new();
    for m in candidates.iter().filter(|m| !inserted.contains(&m.key)) {
        let q = if m.channel != crate::message::Channel::Email && m.counts_as_contact {
            sqlx::query(
                "UPDATE message SET counts_as_contact = 1 WHERE key = $1 AND counts_as_contact = 0 RETURNING key",
            )
            .bind(&m.key)
        } else if m.channel == crate::message::Channel::Email && m.class != Class::Spoof {
            sqlx::query(
                "UPDATE message SET direction = $1, class = $2, counts_as_contact = $3,
                   customer_id = $4, group_id = $5, match_reason = $6, counterpart = $7, rep_id = $8
                 WHERE key = $9 AND class = 'spoof' RETURNING key",
            )
            .bind(m.direction.as_str())
            .bind(m.class.as_str())
            .bind(i64::from(m.counts_as_contact))
            .bind(&m.customer)
            .bind(&m.group)
            .bind(m.match_reason.as_str())
            .bind(&m.counterpart)
            .bind(&m.rep)
            .bind(&m.key)
        } else {
            continue;
        };
        if q.fetch_optional(&mut **tx)
            .await
            .ctx("upgrade a stored message")?
            .is_some()
        {
            upgraded.insert(m.key.clone());
        }
    }
    // A chat user id seen with a known phone: remember it, and attach the messages that came
    // under the user id alone.
    for m in &candidates {
        if let (Some(user), Some(customer)) = (&m.chat_user, &m.customer) {
            sqlx::query(
                "INSERT INTO identity (kind, value, customer_id, group_id) VALUES ('wa_user', $1, $2, $3)
                 ON CONFLICT (kind, value) DO NOTHING",
            )
            .bind(user)
            .bind(customer)
            .bind(&m.group)
            .execute(&mut **tx)
            .await
            .ctx("link a chat user id")?;
            sqlx::query(
                "UPDATE message SET customer_id = $1, group_id = $2, match_reason = 'phone'
                 WHERE customer_id IS NULL AND channel = 'whatsapp' AND counterpart = $3",
            )
            .bind(customer)
            .bind(&m.group)
            .bind(user)
            .execute(&mut **tx)
            .await
            .ctx("attach earlier chat messages")?;
        }
    }

    Ok(Written {
        report,
        messages: candidates,
        inserted,
        upgraded,
    })
}

/// What a written batch's new messages (inserted or upgraded) bring, counted without the
/// database: the new messages, their tag hits and per (customer, tag) sightings (sorted), the
/// contact times per customer, and the counts.
pub struct Tally<'b> {
    pub fresh: Vec<&'b Message>,
    pub hits: Vec<(&'b Message, &'b crate::message::TagHit)>,
    pub tags: Vec<TagSighting<'b>>,
    timers: HashMap<&'b str, Timers<'b>>,
    report: BatchReport,
}

/// Tally a written batch (see [`Tally`]).
pub fn tally<'b>(written: &'b Written<'_>) -> Tally<'b> {
    let (candidates, inserted, upgraded) =
        (&written.messages, &written.inserted, &written.upgraded);
    let mut report = BatchReport::default();
    let mut timers: HashMap<&str, Timers> = HashMap::new();
    let mut fresh: Vec<&Message> = Vec::new();
    let mut hits: Vec<(&Message, &crate::message::TagHit)> = Vec::new();
    let mut tags: HashMap<(&str, &str), TagSighting> = HashMap::new();
    for m in candidates {
        let m: &Message = m;
        if upgraded.contains(&m.key) {
            report.sightings += 1;
        } else if !inserted.contains(&m.key) {
            report.sightings += 1;
            continue;
        } else {
            report.ingested += 1;
        }
        fresh.push(m);
        for t in &m.tags {
            report.tags += 1;
            hits.push((m, t));
            if let Some(customer) = &m.customer {
                let g = tags
                    .entry((customer.as_str(), t.tag.as_str()))
                    .or_insert(TagSighting {
                        customer,
                        tag: &t.tag,
                        count: 0,
                        first_seen: m.sent_at,
                        latest: (m, t),
                    });
                g.count += 1;
                g.first_seen = g.first_seen.min(m.sent_at);
                if m.sent_at >= g.latest.0.sent_at {
                    g.latest = (m, t);
                }
            }
        }
        if m.customer.is_none()
            && m.group.is_none()
            && m.direction == Direction::Inbound
            && m.class == Class::Human
        {
            report.unmatched += 1;
        }
        if let (true, Some(c)) = (m.counts_as_contact, m.customer.as_deref()) {
            let t = timers.entry(c).or_default();
            if m.direction != Direction::Internal && t.latest.is_none_or(|l| l.sent_at < m.sent_at)
            {
                t.latest = Some(m);
            }
            match m.direction {
                Direction::Inbound => {
                    t.inbound = later(t.inbound, m.sent_at);
                    t.first_inbound = Some(t.first_inbound.map_or(m.sent_at, |f| f.min(m.sent_at)));
                }
                Direction::Outbound => t.outbound = later(t.outbound, m.sent_at),
                Direction::Internal => {}
            }
        }
    }
    let mut tags: Vec<TagSighting> = tags.into_values().collect();
    tags.sort_by(|a, b| (a.customer, a.tag).cmp(&(b.customer, b.tag)));
    Tally {
        fresh,
        hits,
        tags,
        timers,
        report,
    }
}

/// Move the contact times of a tallied batch's customers (only forward). Returns the new
/// messages, the customers touched and those whose times moved.
pub async fn advance_timers<'b>(
    tx: &mut Tx,
    tally: Tally<'b>,
    now: i64,
) -> Result<Contact<'b>, StoreError> {
    let Tally {
        fresh,
        timers,
        mut report,
        ..
    } = tally;
    // Timestamps only move forward: each column takes the later of its value and the batch's.
    let timers: Vec<(&str, Timers)> = timers.into_iter().collect();
    let mut moved = Vec::new();
    for chunk in timers.chunks(CHUNK) {
        let sql = format!(
            "UPDATE customer SET
               last_inbound_at = CASE WHEN v.column2 IS NOT NULL AND (last_inbound_at IS NULL OR last_inbound_at < v.column2) THEN v.column2 ELSE last_inbound_at END,
               last_outbound_at = CASE WHEN v.column3 IS NOT NULL AND (last_outbound_at IS NULL OR last_outbound_at < v.column3) THEN v.column3 ELSE last_outbound_at END,
               last_contact_at = CASE WHEN v.column4 IS NOT NULL AND (last_contact_at IS NULL OR last_contact_at < v.column4) THEN v.column4 ELSE last_contact_at END,
               updated_at = v.column5, check_at = 0
             FROM (VALUES {}) AS v
             WHERE customer.id = v.column1 AND (
               (v.column2 IS NOT NULL AND (last_inbound_at IS NULL OR last_inbound_at < v.column2)) OR
               (v.column3 IS NOT NULL AND (last_outbound_at IS NULL OR last_outbound_at < v.column3)))
             RETURNING id, name, tier, owner, last_inbound_at, last_outbound_at",
            super::Backend::of(tx).placeholders(chunk.len(), 5)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (customer, t) in chunk {
            q = q
                .bind(*customer)
                .bind(t.inbound)
                .bind(t.outbound)
                .bind(t.inbound.max(t.outbound))
                .bind(now);
        }
        let rows = q.fetch_all(&mut **tx).await.ctx("update contact times")?;
        report.customers_touched += rows.len();
        for r in &rows {
            let id: &str = r.get(0);
            moved.push(Moved {
                customer: crate::store::outbox::customer_ref(id, r.get(1), r.get(2), r.get(3)),
                last_inbound_at: r.get(4),
                last_outbound_at: r.get(5),
                latest: chunk
                    .iter()
                    .find(|(c, _)| *c == id)
                    .and_then(|(_, t)| t.latest),
            });
        }
    }
    // The first inbound contact only moves back (a backfill of older mail finds an earlier one).
    let firsts: Vec<(&str, i64)> = timers
        .iter()
        .filter_map(|(c, t)| t.first_inbound.map(|f| (*c, f)))
        .collect();
    for chunk in firsts.chunks(CHUNK) {
        let sql = format!(
            "UPDATE customer SET first_inbound_at = v.column2, check_at = 0
             FROM (VALUES {}) AS v
             WHERE customer.id = v.column1
               AND (first_inbound_at IS NULL OR first_inbound_at > v.column2)",
            super::Backend::of(tx).placeholders(chunk.len(), 2)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (customer, first) in chunk {
            q = q.bind(*customer).bind(*first);
        }
        q.execute(&mut **tx).await.ctx("move first contact times")?;
    }
    // Our first unanswered message since the customer's last: read again from the messages
    // (mail found out of order may land before or after their last message).
    for chunk in timers.chunks(CHUNK) {
        let sql = format!(
            "UPDATE customer SET unanswered_since = (
               SELECT MIN(m.sent_at) FROM message m
                WHERE m.customer_id = customer.id AND m.direction = 'outbound'
                  AND m.counts_as_contact = 1 AND m.sent_at > COALESCE(customer.last_inbound_at, -1))
             WHERE id IN ({})",
            super::Backend::of(tx).params(1, chunk.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (customer, _) in chunk {
            q = q.bind(*customer);
        }
        q.execute(&mut **tx).await.ctx("find unanswered messages")?;
    }
    Ok(Contact {
        touched: timers.iter().map(|(c, _)| *c).collect(),
        fresh,
        moved,
        report,
    })
}

/// A customer whose contact times a batch moved: its times now and the batch's latest message
/// of contact with it (not an internal one).
pub struct Moved<'b> {
    pub customer: crate::events::CustomerRef,
    pub last_inbound_at: Option<i64>,
    pub last_outbound_at: Option<i64>,
    pub latest: Option<&'b Message>,
}

/// The new messages of a batch, the customers it touched and those whose contact times
/// moved, and the counts of the batch (ingested, sightings, tags, unmatched, customers
/// touched).
pub struct Contact<'b> {
    pub fresh: Vec<&'b Message>,
    pub touched: Vec<&'b str>,
    pub moved: Vec<Moved<'b>>,
    pub report: BatchReport,
}
