//! Instances and leases (migration 0008): the coordination several keepwarm instances on one
//! database need. Every time here is the database server's clock (`Backend::now_sql`), so
//! instances on machines whose clocks disagree still agree on when a lease has expired.
//!
//! These statements run outside the global write lock (`Db::begin_light` / autocommit): a
//! heartbeat must never wait behind a large ingest commit, or leases would lapse under load.

use sqlx::Row;

use super::{Context, Db, StoreError};

/// A running (or stopped, or vanished) instance.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Instance {
    pub id: String,
    pub host: String,
    pub pid: i64,
    pub started_at: i64,
    pub heartbeat_at: i64,
    pub stopped_at: Option<i64>,
    /// Heartbeat within the lease period and not stopped.
    pub live: bool,
}

/// A lease and its holder.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Lease {
    pub name: String,
    pub owner: String,
    pub expires_at: i64,
    pub acquired_at: i64,
    pub live: bool,
}

/// Record this instance's heartbeat; returns the ids of the live instances (heartbeat within
/// `lease_ms`, not stopped), this one included, sorted.
pub async fn heartbeat(
    db: &Db,
    id: &str,
    host: &str,
    pid: i64,
    lease_ms: i64,
) -> Result<Vec<String>, StoreError> {
    let now = db.backend().now_sql();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO instance (id, host, pid, started_at, heartbeat_at) VALUES ($1, $2, $3, {now}, {now})
         ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, stopped_at = NULL"
    )))
    .bind(id)
    .bind(host)
    .bind(pid)
    .execute(db.pool())
    .await
    .ctx("record a heartbeat")?;
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT id FROM instance WHERE stopped_at IS NULL AND heartbeat_at > {now} - $1 ORDER BY id"
    )))
    .bind(lease_ms)
    .fetch_all(db.pool())
    .await
    .ctx("list live instances")
}

/// Renew the leases `names` that `owner` still holds; returns those (a lease that expired and
/// was taken by another instance is not among them).
pub async fn renew(
    db: &Db,
    owner: &str,
    names: &[String],
    lease_ms: i64,
) -> Result<Vec<String>, StoreError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    // Every parameter in one style: sqlx numbers SQLite's bare `?` apart from `$N`.
    let b = db.backend();
    let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "UPDATE lease SET expires_at = {} + {} WHERE owner = {} AND name IN ({}) RETURNING name",
        b.now_sql(),
        b.params(1, 1),
        b.params(2, 1),
        b.params(3, names.len())
    )))
    .bind(lease_ms)
    .bind(owner);
    for n in names {
        q = q.bind(n);
    }
    q.fetch_all(db.pool()).await.ctx("renew leases")
}

/// Take the lease `name` for `owner` until `lease_ms` from now, if it is free or expired (or,
/// with `renew_own`, already `owner`'s). One statement: two instances racing for it cannot
/// both win.
pub async fn acquire(
    db: &Db,
    name: &str,
    owner: &str,
    lease_ms: i64,
    renew_own: bool,
) -> Result<bool, StoreError> {
    let now = db.backend().now_sql();
    let own = if renew_own {
        "lease.owner = excluded.owner OR "
    } else {
        ""
    };
    let got: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "INSERT INTO lease (name, owner, expires_at, acquired_at) VALUES ($1, $2, {now} + $3, {now})
         ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at,
           acquired_at = CASE WHEN lease.owner = excluded.owner THEN lease.acquired_at ELSE excluded.acquired_at END
         WHERE {own}lease.expires_at <= {now}
         RETURNING owner"
    )))
    .bind(name)
    .bind(owner)
    .bind(lease_ms)
    .fetch_optional(db.pool())
    .await
    .ctx("take a lease")?;
    Ok(got.is_some())
}

/// Give a lease up (only if `owner` still holds it).
pub async fn release(db: &Db, name: &str, owner: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM lease WHERE name = $1 AND owner = $2")
        .bind(name)
        .bind(owner)
        .execute(db.pool())
        .await
        .ctx("release a lease")?;
    Ok(())
}

/// A clean stop: every lease of `owner` is given up at once (others take them over without
/// waiting for expiry) and the instance is marked stopped.
pub async fn stopped(db: &Db, owner: &str) -> Result<(), StoreError> {
    let mut tx = db.begin_light().await?;
    sqlx::query("DELETE FROM lease WHERE owner = $1")
        .bind(owner)
        .execute(&mut *tx)
        .await
        .ctx("release leases")?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE instance SET stopped_at = {} WHERE id = $1",
        db.backend().now_sql()
    )))
    .bind(owner)
    .execute(&mut *tx)
    .await
    .ctx("record a stop")?;
    tx.commit().await.ctx("commit a stop")
}

/// Instances seen within `keep_ms` (live or not), newest heartbeat first.
pub async fn instances(db: &Db, lease_ms: i64, keep_ms: i64) -> Result<Vec<Instance>, StoreError> {
    let now = db.backend().now_sql();
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT id, host, pid, started_at, heartbeat_at, stopped_at,
                CASE WHEN stopped_at IS NULL AND heartbeat_at > {now} - $1 THEN 1 ELSE 0 END
         FROM instance WHERE heartbeat_at > {now} - $2 ORDER BY heartbeat_at DESC, id"
    )))
    .bind(lease_ms)
    .bind(keep_ms)
    .fetch_all(db.pool())
    .await
    .ctx("list instances")?;
    Ok(rows
        .iter()
        .map(|r| Instance {
            id: r.get(0),
            host: r.get(1),
            pid: r.get(2),
            started_at: r.get(3),
            heartbeat_at: r.get(4),
            stopped_at: r.get(5),
            live: r.get::<i64, _>(6) != 0,
        })
        .collect())
}

/// Every lease, by name.
pub async fn leases(db: &Db) -> Result<Vec<Lease>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT name, owner, expires_at, acquired_at,
                CASE WHEN expires_at > {} THEN 1 ELSE 0 END
         FROM lease ORDER BY name",
        db.backend().now_sql()
    )))
    .fetch_all(db.pool())
    .await
    .ctx("list leases")?;
    Ok(rows
        .iter()
        .map(|r| Lease {
            name: r.get(0),
            owner: r.get(1),
            expires_at: r.get(2),
            acquired_at: r.get(3),
            live: r.get::<i64, _>(4) != 0,
        })
        .collect())
}
