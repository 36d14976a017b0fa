//! Counts for the board's Team page: customers' messages and releases over a span of time.

use sqlx::Row;

use super::{Context, Db, StoreError};

/// Customers' own messages (human, matched to a customer) sent in `[from, to)`: (inbound,
/// outbound).
pub async fn contacts_between(db: &Db, from: i64, to: i64) -> Result<(i64, i64), StoreError> {
    let row = sqlx::query(
        "SELECT COALESCE(SUM(CASE WHEN direction = 'inbound' THEN 1 ELSE 0 END), 0),
                COALESCE(SUM(CASE WHEN direction = 'outbound' THEN 1 ELSE 0 END), 0)
         FROM message
         WHERE customer_id IS NOT NULL AND class = 'human' AND sent_at >= $1 AND sent_at < $2",
    )
    .bind(from)
    .bind(to)
    .fetch_one(db.pool())
    .await
    .ctx("count contacts")?;
    Ok((row.get(0), row.get(1)))
}

/// Customers released to a pool in `[from, to)`.
pub async fn releases_between(db: &Db, from: i64, to: i64) -> Result<i64, StoreError> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM pool_history WHERE action = 'released' AND at >= $1 AND at < $2",
    )
    .bind(from)
    .bind(to)
    .fetch_one(db.pool())
    .await
    .ctx("count releases")
}
