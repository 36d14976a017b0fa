//! What is stored about one customer: exported whole, erased on request (leaving only the
//! record that it happened), and raw content dropped past its retention.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use sqlx::{Column, Row};

use super::customers::Actor;
use super::{Context, Db, StoreError, Tx, now_ms};

/// One row as JSON, whatever its columns (integers, text, blobs as hex).
fn row_json(row: &sqlx::any::AnyRow) -> Value {
    let mut out = Map::new();
    for (i, col) in row.columns().iter().enumerate() {
        let v = if let Ok(n) = row.try_get::<Option<i64>, _>(i) {
            n.map(Value::from).unwrap_or(Value::Null)
        } else if let Ok(s) = row.try_get::<Option<String>, _>(i) {
            s.map(Value::from).unwrap_or(Value::Null)
        } else if let Ok(b) = row.try_get::<Option<Vec<u8>>, _>(i) {
            b.map(|b| Value::from(hex::encode(b)))
                .unwrap_or(Value::Null)
        } else {
            Value::Null
        };
        out.insert(col.name().to_string(), v);
    }
    Value::Object(out)
}

/// The identity values (addresses, phones, chat user ids) of a customer: messages that came
/// from them before they were matched name them too.
async fn identity_values(tx: &mut Tx, id: &str) -> Result<Vec<String>, StoreError> {
    sqlx::query_scalar(
        "SELECT value FROM identity WHERE customer_id = $1 AND kind IN ('email', 'phone', 'wa_user')",
    )
    .bind(id)
    .fetch_all(&mut **tx)
    .await
    .ctx("read a customer's identities")
}

/// The keys of the messages about a customer: matched to it, or unmatched from one of its
/// addresses or numbers.
async fn message_keys(tx: &mut Tx, id: &str, values: &[String]) -> Result<Vec<String>, StoreError> {
    let mut keys: Vec<String> =
        sqlx::query_scalar("SELECT key FROM message WHERE customer_id = $1")
            .bind(id)
            .fetch_all(&mut **tx)
            .await
            .ctx("find a customer's messages")?;
    for v in values {
        let more: Vec<String> = sqlx::query_scalar(
            "SELECT key FROM message WHERE customer_id IS NULL AND (from_addr = $1 OR counterpart = $1)",
        )
        .bind(v)
        .fetch_all(&mut **tx)
        .await
        .ctx("find unmatched messages of a customer")?;
        keys.extend(more);
    }
    keys.sort();
    keys.dedup();
    Ok(keys)
}

/// Tables keyed by customer id, and the column holding it.
const BY_CUSTOMER: &[(&str, &str)] = &[
    ("identity", "customer_id"),
    ("customer_tag", "customer_id"),
    ("tag_feedback", "customer_id"),
    ("lead", "customer_id"),
    ("pool_history", "customer_id"),
    ("customer_change", "customer_id"),
];

/// Tables keyed by message key.
const BY_MESSAGE: &[(&str, &str)] = &[("sighting", "message_key"), ("message_tag", "message_key")];

/// Everything stored about customer `id` as one JSON document, or `None` when there is no
/// such customer.
pub async fn export(db: &Db, id: &str) -> Result<Option<Value>, StoreError> {
    let mut tx = db.pool().begin().await.ctx("begin an export")?;
    let Some(customer) = sqlx::query("SELECT * FROM customer WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .ctx("read a customer")?
    else {
        return Ok(None);
    };
    let mut doc = Map::new();
    doc.insert("customer".into(), row_json(&customer));
    for (table, column) in BY_CUSTOMER {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT * FROM {table} WHERE {column} = $1"
        )))
        .bind(id)
        .fetch_all(&mut *tx)
        .await
        .ctx("read a customer's rows")?;
        doc.insert(
            (*table).into(),
            Value::Array(rows.iter().map(row_json).collect()),
        );
    }
    let values = identity_values(&mut tx, id).await?;
    let keys = message_keys(&mut tx, id, &values).await?;
    let mut messages = Vec::new();
    let mut by_message: BTreeMap<&str, Vec<Value>> =
        BY_MESSAGE.iter().map(|(t, _)| (*t, Vec::new())).collect();
    for key in &keys {
        if let Some(m) = sqlx::query("SELECT * FROM message WHERE key = $1")
            .bind(key)
            .fetch_optional(&mut *tx)
            .await
            .ctx("read a message")?
        {
            messages.push(row_json(&m));
        }
        for (table, column) in BY_MESSAGE {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT * FROM {table} WHERE {column} = $1"
            )))
            .bind(key)
            .fetch_all(&mut *tx)
            .await
            .ctx("read a message's rows")?;
            by_message
                .entry(table)
                .or_default()
                .extend(rows.iter().map(row_json));
        }
    }
    doc.insert("message".into(), Value::Array(messages));
    for (table, rows) in by_message {
        doc.insert(table.into(), Value::Array(rows));
    }
    // Events about the customer, with their payloads as JSON, and their deliveries.
    let events = sqlx::query("SELECT * FROM outbox WHERE customer_id = $1 ORDER BY id")
        .bind(id)
        .fetch_all(&mut *tx)
        .await
        .ctx("read a customer's events")?;
    let events: Vec<Value> = events
        .iter()
        .map(|r| {
            let mut v = row_json(r);
            if let Some(p) = v.get("payload").and_then(Value::as_str)
                && let Ok(parsed) = serde_json::from_str::<Value>(p)
            {
                v["payload"] = parsed;
            }
            v
        })
        .collect();
    doc.insert("outbox".into(), Value::Array(events));
    let deliveries = sqlx::query(
        "SELECT d.* FROM delivery d JOIN outbox o ON o.id = d.event_seq WHERE o.customer_id = $1 ORDER BY d.id",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await
    .ctx("read a customer's deliveries")?;
    doc.insert(
        "delivery".into(),
        Value::Array(deliveries.iter().map(row_json).collect()),
    );
    doc.insert(
        "exported_at".into(),
        Value::from(super::outbox::rfc3339(now_ms())),
    );
    tx.rollback().await.ctx("end an export")?;
    Ok(Some(Value::Object(doc)))
}

/// What an erasure removed: rows per table.
pub type Erased = BTreeMap<&'static str, u64>;

/// Erase customer `id`: its row, identities, tags, lead, histories, the messages about it
/// (matched, or unmatched from its addresses and numbers) with their sightings and tag hits,
/// and the events naming it with their deliveries. The erasure itself is recorded (who, when,
/// why, how many rows) without any of the data. `None`: no such customer.
pub async fn erase(db: &Db, id: &str, actor: &Actor) -> Result<Option<Erased>, StoreError> {
    let mut tx = db.begin_write().await?;
    let exists: Option<String> = sqlx::query_scalar("SELECT id FROM customer WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .ctx("find a customer")?;
    if exists.is_none() {
        return Ok(None);
    }
    let mut erased = Erased::new();
    let values = identity_values(&mut tx, id).await?;
    let keys = message_keys(&mut tx, id, &values).await?;
    for key in &keys {
        for (table, column) in BY_MESSAGE {
            let n = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE {column} = $1"
            )))
            .bind(key)
            .execute(&mut *tx)
            .await
            .ctx("erase a message's rows")?
            .rows_affected();
            *erased.entry(table).or_default() += n;
        }
        let n = sqlx::query("DELETE FROM message WHERE key = $1")
            .bind(key)
            .execute(&mut *tx)
            .await
            .ctx("erase a message")?
            .rows_affected();
        *erased.entry("message").or_default() += n;
    }
    let n = sqlx::query(
        "DELETE FROM delivery WHERE event_seq IN (SELECT id FROM outbox WHERE customer_id = $1)",
    )
    .bind(id)
    .execute(&mut *tx)
    .await
    .ctx("erase a customer's deliveries")?
    .rows_affected();
    erased.insert("delivery", n);
    let n = sqlx::query("DELETE FROM outbox WHERE customer_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .ctx("erase a customer's events")?
        .rows_affected();
    erased.insert("outbox", n);
    for (table, column) in BY_CUSTOMER {
        let n = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE {column} = $1"
        )))
        .bind(id)
        .execute(&mut *tx)
        .await
        .ctx("erase a customer's rows")?
        .rows_affected();
        *erased.entry(table).or_default() += n;
    }
    let n = sqlx::query("DELETE FROM customer WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .ctx("erase a customer")?
        .rows_affected();
    erased.insert("customer", n);
    sqlx::query(
        "INSERT INTO erasure (customer_id, actor, reason, counts, at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(&actor.who)
    .bind(&actor.reason)
    .bind(serde_json::to_string(&erased).unwrap_or_default())
    .bind(now_ms())
    .execute(&mut *tx)
    .await
    .ctx("record an erasure")?;
    tx.commit().await.ctx("commit an erasure")?;
    Ok(Some(erased))
}

/// What retention dropped.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Dropped {
    /// Failures whose raw content was dropped.
    pub failure_raw: u64,
    /// Chat messages whose raw event was dropped.
    pub chat_raw: u64,
    /// Mails whose whole text (with its quoted history) was dropped.
    pub quoted: u64,
    /// Sign-in records dropped.
    pub sign_ins: u64,
    /// Board sessions that had ended (idle or past their lifetime) and were removed.
    pub sessions: u64,
}

impl Dropped {
    pub fn total(&self) -> u64 {
        self.failure_raw + self.chat_raw + self.quoted + self.sign_ins + self.sessions
    }
}

/// How long each kind of raw content is kept, in ms (`None`: kept).
#[derive(Debug, Default, Clone, Copy)]
pub struct Keep {
    pub failure_raw: Option<i64>,
    pub chat_raw: Option<i64>,
    pub quoted: Option<i64>,
    pub sign_ins: Option<i64>,
}

impl Keep {
    /// What `[retention]` says.
    pub fn of(r: &crate::config::RetentionConfig) -> Keep {
        Keep {
            failure_raw: r.failure_raw_ms(),
            chat_raw: r.chat_raw_ms(),
            quoted: r.quoted_ms(),
            sign_ins: r.sign_ins_ms(),
        }
    }
}

/// Drop raw content older than its retention: the raw mail of failures (their reason and
/// size stay), the raw events kept with chat messages, the whole text of mails (the message
/// and the sender's own words stay) and sign-in records; and remove the board sessions that
/// have ended (no request for `session_idle`, or past their lifetime) whatever `keep` says.
pub async fn apply_retention(
    db: &Db,
    keep: Keep,
    session_idle: i64,
    now: i64,
) -> Result<Dropped, StoreError> {
    let mut dropped = Dropped {
        sessions: sqlx::query("DELETE FROM web_session WHERE expires_at <= $1 OR seen_at <= $2")
            .bind(now)
            .bind(now.saturating_sub(session_idle))
            .execute(db.pool())
            .await
            .ctx("remove ended sessions")?
            .rows_affected(),
        ..Dropped::default()
    };
    let statements = [
        (
            keep.failure_raw,
            "UPDATE failure SET raw = NULL WHERE raw IS NOT NULL AND created_at < $1",
            "drop old raw failures",
        ),
        (
            keep.chat_raw,
            "UPDATE message SET raw = NULL WHERE raw IS NOT NULL AND channel <> 'email' AND received_at < $1",
            "drop old raw chat events",
        ),
        (
            keep.quoted,
            "UPDATE message SET quoted = NULL WHERE quoted IS NOT NULL AND received_at < $1",
            "drop old quoted text",
        ),
        (
            keep.sign_ins,
            "DELETE FROM sign_in WHERE at < $1",
            "drop old sign-in records",
        ),
    ];
    if statements.iter().all(|(ms, _, _)| ms.is_none()) {
        return Ok(dropped);
    }
    let mut tx = db.begin_write().await?;
    let mut counts = [0u64; 4];
    for (i, (ms, sql, what)) in statements.into_iter().enumerate() {
        if let Some(ms) = ms {
            counts[i] = sqlx::query(sql)
                .bind(now.saturating_sub(ms))
                .execute(&mut *tx)
                .await
                .ctx(what)?
                .rows_affected();
        }
    }
    tx.commit().await.ctx("commit a retention pass")?;
    [
        dropped.failure_raw,
        dropped.chat_raw,
        dropped.quoted,
        dropped.sign_ins,
    ] = counts;
    Ok(dropped)
}

/// A recorded change of a customer, newest first.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Change {
    pub field: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub actor: String,
    pub via: String,
    pub reason: Option<String>,
    pub at: i64,
}

/// The changes made to customer `id` by people, newest first.
pub async fn changes(db: &Db, id: &str) -> Result<Vec<Change>, StoreError> {
    let rows = sqlx::query(
        "SELECT field, old_value, new_value, actor, via, reason, at FROM customer_change
         WHERE customer_id = $1 ORDER BY at DESC, id DESC",
    )
    .bind(id)
    .fetch_all(db.pool())
    .await
    .ctx("list a customer's changes")?;
    Ok(rows
        .iter()
        .map(|r| Change {
            field: r.get(0),
            old_value: r.get(1),
            new_value: r.get(2),
            actor: r.get(3),
            via: r.get(4),
            reason: r.get(5),
            at: r.get(6),
        })
        .collect())
}
