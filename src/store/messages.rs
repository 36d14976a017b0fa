//! Stored messages and failures as the CLI and the API list them (a batch's writes are
//! `store::batch`).

use std::collections::HashMap;

use sqlx::Row;

use super::{Context, Db, StoreError};
use crate::normalize::Class;

/// A stored message as listed by `keepwarm messages`.
#[derive(Debug, Clone)]
pub struct MessageRow {
    pub id: i64,
    pub key: String,
    pub channel: String,
    pub direction: String,
    pub class: Class,
    pub counts_as_contact: bool,
    pub customer: Option<String>,
    pub group: Option<String>,
    pub match_reason: String,
    pub rep: Option<String>,
    pub from: Option<String>,
    pub subject: String,
    pub body: String,
    pub sent_at: i64,
    /// What was cut short when it was prepared (`text-truncated`, `over-budget`).
    pub flags: Vec<String>,
    /// The whole text with its quoted history (read by `timeline` only).
    pub quoted: Option<String>,
}

/// A page of messages in id order after `after_id` (keyset pagination keeps memory flat), of
/// one customer or all, sent after `sent_after`.
pub async fn page(
    db: &Db,
    after_id: i64,
    limit: i64,
    customer: Option<&str>,
    sent_after: i64,
) -> Result<Vec<MessageRow>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {MESSAGE_COLUMNS} FROM message
         WHERE id > $1 AND ($3 IS NULL OR customer_id = $3) AND sent_at > $4 ORDER BY id LIMIT $2"
    )))
    .bind(after_id)
    .bind(limit)
    .bind(customer)
    .bind(sent_after)
    .fetch_all(db.pool())
    .await
    .ctx("list messages")?;
    Ok(rows.iter().map(message_row).collect())
}

/// A customer's newest `limit` messages, newest first, with their quoted history (the
/// board's timeline).
pub async fn timeline(db: &Db, customer: &str, limit: i64) -> Result<Vec<MessageRow>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {MESSAGE_COLUMNS}, quoted FROM message
         WHERE customer_id = $1 ORDER BY sent_at DESC, id DESC LIMIT $2"
    )))
    .bind(customer)
    .bind(limit)
    .fetch_all(db.pool())
    .await
    .ctx("read a customer's timeline")?;
    Ok(rows.iter().map(message_row).collect())
}

/// A customer's messages in the order they were sent, after `(sent_at, id)`.
pub async fn by_customer(
    db: &Db,
    customer: &str,
    after: (i64, i64),
    limit: i64,
) -> Result<Vec<MessageRow>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {MESSAGE_COLUMNS} FROM message
         WHERE customer_id = $1 AND (sent_at > $2 OR (sent_at = $2 AND id > $3))
         ORDER BY sent_at, id LIMIT $4"
    )))
    .bind(customer)
    .bind(after.0)
    .bind(after.1)
    .bind(limit)
    .fetch_all(db.pool())
    .await
    .ctx("list a customer's messages")?;
    Ok(rows.iter().map(message_row).collect())
}

const MESSAGE_COLUMNS: &str = "id, key, channel, direction, class, counts_as_contact, customer_id,
    group_id, match_reason, rep_id, from_addr, subject, body, sent_at, flags";

fn message_row(r: &sqlx::any::AnyRow) -> MessageRow {
    MessageRow {
        id: r.get("id"),
        key: crate::message::display_key(r.get("key")).to_string(),
        channel: r.get("channel"),
        direction: r.get("direction"),
        class: Class::parse(r.get::<&str, _>("class")),
        counts_as_contact: r.get::<i64, _>("counts_as_contact") != 0,
        customer: r.get("customer_id"),
        group: r.get("group_id"),
        match_reason: r.get("match_reason"),
        rep: r.get("rep_id"),
        from: r.get("from_addr"),
        subject: r.get("subject"),
        body: r.get("body"),
        sent_at: r.get("sent_at"),
        quoted: r.try_get("quoted").ok().flatten(),
        flags: r
            .get::<&str, _>("flags")
            .split(',')
            .filter(|f| !f.is_empty())
            .map(str::to_string)
            .collect(),
    }
}

/// The tags of the messages with `after < id <= last`, by message key: one query per page of a
/// listing.
pub async fn tags_by_id_range(
    db: &Db,
    after: i64,
    last: i64,
) -> Result<HashMap<String, Vec<crate::message::TagHit>>, StoreError> {
    let rows = sqlx::query(
        "SELECT t.message_key, t.tag, t.rule, t.matched, t.evidence, t.field, t.span_start,
                t.span_end, t.lang, t.hits
         FROM message_tag t JOIN message m ON m.key = t.message_key
         WHERE m.id > $1 AND m.id <= $2 ORDER BY t.message_key, t.tag",
    )
    .bind(after)
    .bind(last)
    .fetch_all(db.pool())
    .await
    .ctx("list message tags")?;
    let mut out: HashMap<String, Vec<crate::message::TagHit>> = HashMap::new();
    for r in &rows {
        let hit = crate::message::TagHit {
            tag: r.get("tag"),
            rule: r.get("rule"),
            matched: r.get("matched"),
            evidence: r.get("evidence"),
            field: if r.get::<&str, _>("field") == "subject" {
                "subject"
            } else {
                "body"
            },
            start: r.get::<i64, _>("span_start") as usize,
            end: r.get::<i64, _>("span_end") as usize,
            lang: r.get("lang"),
            hits: r.get::<i64, _>("hits") as usize,
        };
        out.entry(crate::message::display_key(r.get("message_key")).to_string())
            .or_default()
            .push(hit);
    }
    Ok(out)
}

/// A sender that matched no customer.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UnknownSender {
    pub address: String,
    pub messages: i64,
    pub first_seen: i64,
    pub last_seen: i64,
}

/// Unmatched inbound senders of human mail (not spam, bulk, auto-replies or bounces), the most
/// recent first: those after `after` = (last seen, address) of the previous page's last, at
/// most `limit`.
pub async fn unknown_senders(
    db: &Db,
    after: Option<(i64, &str)>,
    limit: i64,
) -> Result<Vec<UnknownSender>, StoreError> {
    let (before, address) = after.unwrap_or((i64::MAX, ""));
    let rows = sqlx::query(
        "SELECT from_addr, COUNT(*) AS n, MIN(sent_at) AS first_seen, MAX(sent_at) AS last_seen
         FROM message
         WHERE customer_id IS NULL AND group_id IS NULL AND direction = 'inbound' AND class = 'human'
           AND from_addr IS NOT NULL
         GROUP BY from_addr
         HAVING MAX(sent_at) < $1 OR (MAX(sent_at) = $1 AND from_addr > $2)
         ORDER BY MAX(sent_at) DESC, from_addr LIMIT $3",
    )
    .bind(before)
    .bind(address)
    .bind(limit)
    .fetch_all(db.pool())
    .await
    .ctx("list unknown senders")?;
    Ok(rows
        .iter()
        .map(|r| UnknownSender {
            address: r.get("from_addr"),
            messages: r.get("n"),
            first_seen: r.get("first_seen"),
            last_seen: r.get("last_seen"),
        })
        .collect())
}

/// An input that could not be used.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FailureRow {
    pub source_key: String,
    pub mailbox: String,
    pub reason: String,
    pub size: i64,
    pub created_at: i64,
}

pub async fn failures(db: &Db) -> Result<Vec<FailureRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT source_key, mailbox, reason, size, created_at FROM failure ORDER BY created_at, source_key",
    )
    .fetch_all(db.pool())
    .await
    .ctx("list failures")?;
    Ok(rows
        .iter()
        .map(|r| FailureRow {
            source_key: r.get("source_key"),
            mailbox: r.get("mailbox"),
            reason: r.get("reason"),
            size: r.get("size"),
            created_at: r.get("created_at"),
        })
        .collect())
}
