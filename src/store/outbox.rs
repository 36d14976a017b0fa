//! The outbox: every event for the CRM is written here in the transaction of the change that
//! caused it, so an event exists exactly when its change was committed.

use serde_json::{Value, json};
use sqlx::Row;

use super::{Context, Db, StoreError, Tx};

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

/// RFC 3339 (UTC, milliseconds) of a Unix ms time.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// `rfc3339` of an optional time (null when absent).
pub fn time_or_null(ms: Option<i64>) -> Value {
    ms.map(|m| Value::String(rfc3339(m))).unwrap_or(Value::Null)
}

/// Write one event: `{"id", "type", "created_at", "customer_id", "data"}`. Returns its id.
pub async fn emit(
    tx: &mut Tx,
    kind: &str,
    customer: Option<&str>,
    data: Value,
    now: i64,
) -> Result<String, StoreError> {
    let id = event_id(now);
    let payload = json!({
        "id": id,
        "type": kind,
        "created_at": rfc3339(now),
        "customer_id": customer,
        "data": data,
    });
    sqlx::query(
        "INSERT INTO outbox (event_id, kind, customer_id, payload, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(kind)
    .bind(customer)
    .bind(payload.to_string())
    .bind(now)
    .execute(&mut **tx)
    .await
    .ctx("write an event")?;
    Ok(id)
}

/// Write many events (the sweep's), a few statements per thousand.
pub async fn emit_all(
    tx: &mut Tx,
    events: &[(&'static str, String, Value)],
    now: i64,
) -> Result<(), StoreError> {
    const ROWS: usize = 200;
    let created = rfc3339(now);
    for chunk in events.chunks(ROWS) {
        let sql = format!(
            "INSERT INTO outbox (event_id, kind, customer_id, payload, created_at) VALUES {}",
            super::messages::placeholders(chunk.len(), 5)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (kind, customer, data) in chunk {
            let id = event_id(now);
            let payload = json!({
                "id": id, "type": kind, "created_at": created, "customer_id": customer, "data": data,
            });
            q = q
                .bind(id)
                .bind(*kind)
                .bind(customer)
                .bind(payload.to_string())
                .bind(now);
        }
        q.execute(&mut **tx).await.ctx("write events")?;
    }
    Ok(())
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
    Ok(rows
        .iter()
        .map(|r| EventRow {
            seq: r.get("id"),
            event_id: r.get("event_id"),
            kind: r.get("kind"),
            customer_id: r.get("customer_id"),
            payload: serde_json::from_str(r.get::<&str, _>("payload")).unwrap_or(Value::Null),
            created_at: r.get("created_at"),
        })
        .collect())
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
