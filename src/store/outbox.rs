//! The outbox: every event for the CRM is written here in the transaction of the change that
//! caused it, so an event exists exactly when its change was committed.

use serde_json::Value;
use sqlx::Row;

use super::{Context, Db, StoreError, Tx};
use crate::events::{CustomerRef, Event};

/// A new event id: time-ordered (48 bits of milliseconds) and random, formatted as a UUID
/// (version 7 layout), unique across instances.
pub fn event_id(now: i64) -> String {
    let rand_a = fastrand::u16(..) & 0x0fff;
    let rand_b = fastrand::u64(..) & 0x3fff_ffff_ffff_ffff;
    let ms = (now as u64) & 0xffff_ffff_ffff;
    format!(
        "{:08x}-{:04x}-7{:03x}-{:04x}-{:012x}",
        ms >> 16,
        ms & 0xffff,
        rand_a,
        0x8000 | (rand_b >> 48) as u16,
        rand_b & 0xffff_ffff_ffff
    )
}

/// A customer as events name it.
pub fn customer_ref(id: &str, name: &str, tier: &str, owner: Option<&str>) -> CustomerRef {
    CustomerRef {
        id: id.to_string(),
        name: name.to_string(),
        tier: tier.to_string(),
        owner: owner.map(str::to_string),
    }
}

pub use crate::time::rfc3339;

/// `rfc3339` of an optional time (null when absent).
pub fn time_or_null(ms: Option<i64>) -> Value {
    ms.map(|m| Value::String(rfc3339(m))).unwrap_or(Value::Null)
}

/// Write one event (see `emit_all`).
pub async fn emit(tx: &mut Tx, event: &Event, now: i64) -> Result<(), StoreError> {
    emit_all(tx, std::slice::from_ref(event), now).await
}

/// Write events, each as `{"id", "type", "created_at", "customer_id", "data"}`
/// ([`Event::envelope`]), a few statements per thousand.
pub async fn emit_all(tx: &mut Tx, events: &[Event], now: i64) -> Result<(), StoreError> {
    const ROWS: usize = 200;
    for chunk in events.chunks(ROWS) {
        let sql = format!(
            "INSERT INTO outbox (event_id, kind, customer_id, payload, created_at) VALUES {}",
            super::Backend::of(tx).placeholders(chunk.len(), 5)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for event in chunk {
            let id = event_id(now);
            let payload = event.envelope(&id, now);
            q = q
                .bind(id)
                .bind(event.kind())
                .bind(event.customer().id.clone())
                .bind(payload.to_string())
                .bind(now);
        }
        q.execute(&mut **tx).await.ctx("write events")?;
    }
    Ok(())
}

/// The id of the newest event written (0 when none).
pub async fn last_id(db: &Db) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(id) FROM outbox")
            .fetch_one(db.pool())
            .await
            .ctx("read the newest event id")?
            .unwrap_or(0),
    )
}

/// A stored event.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EventRow {
    pub seq: i64,
    pub event_id: String,
    pub kind: String,
    pub customer_id: Option<String>,
    pub payload: Value,
    pub created_at: i64,
}

fn event_row(r: &sqlx::any::AnyRow) -> EventRow {
    EventRow {
        seq: r.get("id"),
        event_id: r.get("event_id"),
        kind: r.get("kind"),
        customer_id: r.get("customer_id"),
        payload: serde_json::from_str(r.get::<&str, _>("payload")).unwrap_or(Value::Null),
        created_at: r.get("created_at"),
    }
}

/// Events in the order they were written, after `after` (sequence number), optionally of one kind.
pub async fn list(
    db: &Db,
    after: i64,
    limit: i64,
    kind: Option<&str>,
) -> Result<Vec<EventRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, event_id, kind, customer_id, payload, created_at FROM outbox
         WHERE id > $1 AND ($3 IS NULL OR kind = $3) ORDER BY id LIMIT $2",
    )
    .bind(after)
    .bind(limit)
    .bind(kind)
    .fetch_all(db.pool())
    .await
    .ctx("list events")?;
    Ok(rows.iter().map(event_row).collect())
}

/// The events of `kind` written in [from, to), oldest first.
pub async fn between(db: &Db, kind: &str, from: i64, to: i64) -> Result<Vec<EventRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, event_id, kind, customer_id, payload, created_at FROM outbox
         WHERE kind = $1 AND created_at >= $2 AND created_at < $3 ORDER BY id",
    )
    .bind(kind)
    .bind(from)
    .bind(to)
    .fetch_all(db.pool())
    .await
    .ctx("list a month's events")?;
    Ok(rows.iter().map(event_row).collect())
}

/// Fan new outbox events out to the webhooks that want them: a delivery row per (webhook,
/// event), a cursor per webhook. A webhook seen for the first time starts with the events of
/// the last `since_ms` (older ones would be dead anyway). Returns the deliveries created.
pub async fn fan_out(
    db: &Db,
    webhooks: &[crate::config::WebhookConfig],
    now: i64,
    since_ms: i64,
) -> Result<usize, StoreError> {
    if webhooks.is_empty() {
        return Ok(0);
    }
    // Reads first: an idle daemon must not take the write lock several times a second.
    let last = sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(id) FROM outbox")
        .fetch_one(db.pool())
        .await
        .ctx("read the last event")?
        .unwrap_or(0);
    let mut behind = false;
    for hook in webhooks {
        let cursor: Option<String> = sqlx::query_scalar("SELECT value FROM setting WHERE key = $1")
            .bind(format!("webhook_cursor:{}", hook.name))
            .fetch_optional(db.pool())
            .await
            .ctx("read a webhook cursor")?;
        let at = cursor.and_then(|c| c.parse::<i64>().ok());
        behind |= at.is_none_or(|c| c < last);
    }
    if !behind {
        return Ok(0);
    }
    let mut tx = db.begin_write().await?;
    let mut created = 0;
    for hook in webhooks {
        let name = hook.name.as_str();
        let key = format!("webhook_cursor:{name}");
        let cursor: i64 = match super::setting(&mut tx, &key).await? {
            Some(v) => v.parse().unwrap_or(0),
            None => {
                let first_recent = sqlx::query_scalar::<_, Option<i64>>(
                    "SELECT MIN(id) - 1 FROM outbox WHERE created_at >= $1",
                )
                .bind(now - since_ms)
                .fetch_one(&mut *tx)
                .await
                .ctx("start a webhook cursor")?;
                match first_recent {
                    Some(c) => c,
                    None => max_seq(&mut tx).await?,
                }
            }
        };
        let rows = sqlx::query(
            "SELECT id, event_id, kind, customer_id FROM outbox WHERE id > $1 ORDER BY id LIMIT 5000",
        )
        .bind(cursor)
        .fetch_all(&mut *tx)
        .await
        .ctx("read new events")?;
        let Some(last) = rows.last().map(|r| r.get::<i64, _>(0)) else {
            // Nothing new; remember where a new webhook starts.
            let at = cursor.max(max_seq(&mut tx).await?);
            super::set_setting(&mut tx, &key, &at.to_string()).await?;
            continue;
        };
        let wanted: Vec<(i64, String)> = rows
            .iter()
            .filter(|r| hook.wants(r.get::<&str, _>(2)))
            .map(|r| {
                let order: Option<String> = r.get(3);
                (r.get(0), order.unwrap_or_else(|| r.get(1)))
            })
            .collect();
        for chunk in wanted.chunks(200) {
            let sql = format!(
                "INSERT INTO delivery (event_seq, webhook, order_key, state, next_attempt_at, created_at)
                 VALUES {} ON CONFLICT (webhook, event_seq) DO NOTHING",
                super::Backend::of(&tx).placeholders(chunk.len(), 6)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (seq, order) in chunk {
                q = q
                    .bind(seq)
                    .bind(name)
                    .bind(order)
                    .bind("pending")
                    .bind(now)
                    .bind(now);
            }
            created += q
                .execute(&mut *tx)
                .await
                .ctx("create deliveries")?
                .rows_affected() as usize;
        }
        super::set_setting(&mut tx, &key, &last.to_string()).await?;
    }
    tx.commit().await.ctx("commit deliveries")?;
    Ok(created)
}

async fn max_seq(tx: &mut Tx) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(id) FROM outbox")
            .fetch_one(&mut **tx)
            .await
            .ctx("read the last event")?
            .unwrap_or(0),
    )
}

/// A delivery claimed for sending.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: i64,
    pub webhook: String,
    pub event_id: String,
    pub kind: String,
    pub payload: String,
    pub attempts: i64,
    /// When the delivery was queued (expiry counts from here; a replay starts it again).
    pub created_at: i64,
}

/// Claim up to `limit` due deliveries with a lease until `lease_until`: only the earliest
/// pending delivery of each (webhook, customer), so one customer's events arrive in order.
pub async fn claim(
    db: &Db,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> Result<Vec<Claimed>, StoreError> {
    let due: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM delivery WHERE state = 'pending' AND next_attempt_at <= $1
           AND (lease_until IS NULL OR lease_until < $1) LIMIT 1",
    )
    .bind(now)
    .fetch_optional(db.pool())
    .await
    .ctx("look for due deliveries")?;
    if due.is_none() {
        return Ok(Vec::new());
    }
    // PostgreSQL: no global write lock; rows another instance is claiming right now are
    // skipped (and its claim holds back later events of the same customer through NOT EXISTS,
    // which sees the pending row whether locked or not).
    let mut tx = db.begin_light().await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT d.id, d.webhook, o.event_id, o.kind, o.payload, d.attempts, d.created_at
         FROM delivery d JOIN outbox o ON o.id = d.event_seq
         WHERE d.state = 'pending' AND d.next_attempt_at <= $1
           AND (d.lease_until IS NULL OR d.lease_until < $1)
           AND NOT EXISTS (SELECT 1 FROM delivery e
                           WHERE e.state = 'pending' AND e.webhook = d.webhook
                             AND e.order_key = d.order_key AND e.event_seq < d.event_seq)
         ORDER BY d.event_seq LIMIT $2{}",
        db.backend().skip_locked("d")
    )))
    .bind(now)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await
    .ctx("claim deliveries")?;
    let claimed: Vec<Claimed> = rows
        .iter()
        .map(|r| Claimed {
            id: r.get(0),
            webhook: r.get(1),
            event_id: r.get(2),
            kind: r.get(3),
            payload: r.get(4),
            attempts: r.get(5),
            created_at: r.get(6),
        })
        .collect();
    for chunk in claimed.chunks(500) {
        let b = super::Backend::of(&tx);
        let sql = format!(
            "UPDATE delivery SET lease_until = {} WHERE id IN ({})",
            b.params(1, 1),
            b.params(2, chunk.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(lease_until);
        for c in chunk {
            q = q.bind(c.id);
        }
        q.execute(&mut *tx).await.ctx("lease deliveries")?;
    }
    tx.commit().await.ctx("commit claims")?;
    Ok(claimed)
}

/// What became of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx.
    Delivered { status: u16 },
    /// 408, 429, 5xx, a timeout or a refused connection: try again at `at`.
    Retry {
        status: Option<u16>,
        error: String,
        at: i64,
    },
    /// Any other 4xx: the receiver will never take it.
    Rejected { status: u16, error: String },
    /// Still failing when its time ran out.
    Dead { status: Option<u16>, error: String },
}

/// Record outcomes (one transaction).
pub async fn record(db: &Db, outcomes: &[(i64, Outcome)], now: i64) -> Result<(), StoreError> {
    let mut tx = db.begin_write().await?;
    for (id, outcome) in outcomes {
        let (state, status, error, next): (&str, Option<u16>, Option<&str>, Option<i64>) =
            match outcome {
                Outcome::Delivered { status } => ("delivered", Some(*status), None, None),
                Outcome::Retry { status, error, at } => {
                    ("pending", *status, Some(error.as_str()), Some(*at))
                }
                Outcome::Rejected { status, error } => {
                    ("rejected", Some(*status), Some(error.as_str()), None)
                }
                Outcome::Dead { status, error } => ("dead", *status, Some(error.as_str()), None),
            };
        sqlx::query(
            "UPDATE delivery SET state = $1, attempts = attempts + 1, last_status = $2, last_error = $3,
               next_attempt_at = COALESCE($4, next_attempt_at), lease_until = NULL,
               done_at = CASE WHEN $1 = 'pending' THEN NULL ELSE $5 END
             WHERE id = $6",
        )
        .bind(state)
        .bind(status.map(i64::from))
        .bind(error)
        .bind(next)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .ctx("record a delivery")?;
    }
    tx.commit().await.ctx("commit delivery outcomes")?;
    Ok(())
}

/// One delivery, for `keepwarm outbox list --deliveries`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeliveryRow {
    pub id: i64,
    pub event_id: String,
    pub kind: String,
    pub customer_id: Option<String>,
    pub webhook: String,
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub done_at: Option<i64>,
}

/// Deliveries, newest first, optionally in one state.
pub async fn deliveries(
    db: &Db,
    state: Option<&str>,
    limit: i64,
) -> Result<Vec<DeliveryRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT d.id, o.event_id, o.kind, o.customer_id, d.webhook, d.state, d.attempts,
                d.next_attempt_at, d.last_status, d.last_error, d.created_at, d.done_at
         FROM delivery d JOIN outbox o ON o.id = d.event_seq
         WHERE ($1 IS NULL OR d.state = $1) ORDER BY d.id DESC LIMIT $2",
    )
    .bind(state)
    .bind(limit)
    .fetch_all(db.pool())
    .await
    .ctx("list deliveries")?;
    Ok(rows
        .iter()
        .map(|r| DeliveryRow {
            id: r.get(0),
            event_id: r.get(1),
            kind: r.get(2),
            customer_id: r.get(3),
            webhook: r.get(4),
            state: r.get(5),
            attempts: r.get(6),
            next_attempt_at: r.get(7),
            last_status: r.get(8),
            last_error: r.get(9),
            created_at: r.get(10),
            done_at: r.get(11),
        })
        .collect())
}

/// Send again: the deliveries of one event (by event id or outbox sequence number), or every
/// dead one. Returns how many were queued.
pub async fn replay(db: &Db, event: Option<&str>, dead: bool, now: i64) -> Result<u64, StoreError> {
    let mut tx = db.begin_write().await?;
    let n = sqlx::query(
        "UPDATE delivery SET state = 'pending', attempts = 0, next_attempt_at = $1, lease_until = NULL,
           done_at = NULL, created_at = $1
         WHERE ($2 IS NOT NULL AND event_seq IN (SELECT id FROM outbox WHERE event_id = $2 OR CAST(id AS TEXT) = $2))
            OR ($3 AND state = 'dead')",
    )
    .bind(now)
    .bind(event)
    .bind(dead)
    .execute(&mut *tx)
    .await
    .ctx("replay deliveries")?
    .rows_affected();
    tx.commit().await.ctx("commit a replay")?;
    Ok(n)
}

/// Deliveries by state (for `/metrics` and `/readyz`).
pub async fn depth(db: &Db) -> Result<Vec<(String, i64)>, StoreError> {
    let rows = sqlx::query("SELECT state, COUNT(*) FROM delivery GROUP BY state")
        .fetch_all(db.pool())
        .await
        .ctx("count deliveries")?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_uuid_v7_shaped_ordered_and_unique() {
        let a = event_id(1_780_000_000_000);
        let b = event_id(1_780_000_000_001);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "7");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
        assert!(a[..13] < b[..13]);
        let many: std::collections::HashSet<String> =
            (0..10_000).map(|_| event_id(1_780_000_000_000)).collect();
        assert_eq!(many.len(), 10_000);
    }
}
