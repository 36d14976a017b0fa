//! IMAP mailboxes: the sync checkpoint of each (account, folder) and its health.
//!
//! The checkpoint moves inside the transaction that stores the messages it covers, so after a
//! crash the next sync starts exactly after the last stored message.

use sqlx::Row;

use super::{Context, Db, StoreError, Tx, now_ms};

/// Where a folder's sync stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkpoint {
    pub uid_validity: Option<u32>,
    /// Every message with a UID up to this one is stored (or was left out by the backfill window).
    pub last_uid: u32,
    /// While the first sync is under way: its window start (Unix ms).
    pub backfill_since: Option<i64>,
}

/// One row of `keepwarm status`.
#[derive(Debug, Clone)]
pub struct Health {
    pub account: String,
    pub folder: String,
    pub rep: Option<String>,
    pub uid_validity: Option<i64>,
    pub last_uid: i64,
    pub backfilling: bool,
    pub last_sync_at: Option<i64>,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    pub failures: i64,
    pub behind: Option<i64>,
    pub mode: Option<String>,
}

/// The checkpoint of a folder (the default when it was never synced).
pub async fn checkpoint(db: &Db, account: &str, folder: &str) -> Result<Checkpoint, StoreError> {
    let row = sqlx::query(
        "SELECT uid_validity, last_uid, backfill_since FROM mailbox WHERE account = $1 AND folder = $2",
    )
    .bind(account)
    .bind(folder)
    .fetch_optional(db.pool())
    .await
    .ctx("read a mailbox checkpoint")?;
    Ok(match row {
        Some(r) => Checkpoint {
            uid_validity: r.get::<Option<i64>, _>(0).map(|v| v as u32),
            last_uid: r.get::<i64, _>(1) as u32,
            backfill_since: r.get(2),
        },
        None => Checkpoint::default(),
    })
}

/// Move a folder's checkpoint in the transaction that stores the chunk it covers, with the
/// number of messages still to fetch.
#[derive(Debug, Clone)]
pub struct Advance {
    pub account: String,
    pub folder: String,
    pub rep: Option<String>,
    pub checkpoint: Checkpoint,
    /// Messages still to come after the chunk.
    pub behind: u32,
}

impl super::batch::InTransaction for Advance {
    fn run<'t>(&'t self, tx: &'t mut Tx) -> futures::future::BoxFuture<'t, Result<(), StoreError>> {
        Box::pin(advance(
            tx,
            &self.account,
            &self.folder,
            self.rep.as_deref(),
            &self.checkpoint,
            self.behind,
        ))
    }
}

pub async fn advance(
    tx: &mut Tx,
    account: &str,
    folder: &str,
    rep: Option<&str>,
    cp: &Checkpoint,
    behind: u32,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO mailbox (account, folder, rep_id, uid_validity, last_uid, backfill_since, behind, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (account, folder) DO UPDATE SET
           rep_id = excluded.rep_id, uid_validity = excluded.uid_validity,
           last_uid = excluded.last_uid, backfill_since = excluded.backfill_since,
           behind = excluded.behind, updated_at = excluded.updated_at",
    )
    .bind(account)
    .bind(folder)
    .bind(rep)
    .bind(cp.uid_validity.map(i64::from))
    .bind(i64::from(cp.last_uid))
    .bind(cp.backfill_since)
    .bind(i64::from(behind))
    .bind(now_ms())
    .execute(&mut **tx)
    .await
    .ctx("move a mailbox checkpoint")?;
    Ok(())
}

/// What one look at a folder found: record a successful sync.
pub async fn synced(
    db: &Db,
    account: &str,
    folder: &str,
    rep: Option<&str>,
    behind: u32,
    mode: &str,
) -> Result<(), StoreError> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO mailbox (account, folder, rep_id, last_sync_at, failures, behind, mode, updated_at)
         VALUES ($1, $2, $3, $4, 0, $5, $6, $4)
         ON CONFLICT (account, folder) DO UPDATE SET
           rep_id = excluded.rep_id, last_sync_at = excluded.last_sync_at, failures = 0,
           behind = excluded.behind, mode = excluded.mode, updated_at = excluded.updated_at",
    )
    .bind(account)
    .bind(folder)
    .bind(rep)
    .bind(now)
    .bind(i64::from(behind))
    .bind(mode)
    .execute(db.pool())
    .await
    .ctx("record a mailbox sync")?;
    Ok(())
}

/// How many messages the server holds that are not stored yet (while a sync runs).
pub async fn set_behind(
    db: &Db,
    account: &str,
    folder: &str,
    behind: u32,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE mailbox SET behind = $1, updated_at = $2 WHERE account = $3 AND folder = $4",
    )
    .bind(i64::from(behind))
    .bind(now_ms())
    .bind(account)
    .bind(folder)
    .execute(db.pool())
    .await
    .ctx("record how far a mailbox is behind")?;
    Ok(())
}

/// Forget a row (the account-level row "*" once the account's folders are found again).
pub async fn clear(db: &Db, account: &str, folder: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM mailbox WHERE account = $1 AND folder = $2")
        .bind(account)
        .bind(folder)
        .execute(db.pool())
        .await
        .ctx("clear a mailbox row")?;
    Ok(())
}

/// Record a failed attempt; returns the number of consecutive failures.
pub async fn failed(
    db: &Db,
    account: &str,
    folder: &str,
    rep: Option<&str>,
    error: &str,
) -> Result<i64, StoreError> {
    let now = now_ms();
    let n: i64 = sqlx::query_scalar(
        "INSERT INTO mailbox (account, folder, rep_id, last_error, last_error_at, failures, updated_at)
         VALUES ($1, $2, $3, $4, $5, 1, $5)
         ON CONFLICT (account, folder) DO UPDATE SET
           last_error = excluded.last_error, last_error_at = excluded.last_error_at,
           failures = mailbox.failures + 1, updated_at = excluded.updated_at
         RETURNING failures",
    )
    .bind(account)
    .bind(folder)
    .bind(rep)
    .bind(error)
    .bind(now)
    .fetch_one(db.pool())
    .await
    .ctx("record a mailbox failure")?;
    Ok(n)
}

/// Every mailbox's health, by account and folder.
pub async fn health(db: &Db) -> Result<Vec<Health>, StoreError> {
    let rows = sqlx::query(
        "SELECT account, folder, rep_id, uid_validity, last_uid, backfill_since, last_sync_at,
                last_error, last_error_at, failures, behind, mode
         FROM mailbox ORDER BY account, folder",
    )
    .fetch_all(db.pool())
    .await
    .ctx("read mailbox health")?;
    Ok(rows
        .into_iter()
        .map(|r| Health {
            account: r.get(0),
            folder: r.get(1),
            rep: r.get(2),
            uid_validity: r.get(3),
            last_uid: r.get(4),
            backfilling: r.get::<Option<i64>, _>(5).is_some(),
            last_sync_at: r.get(6),
            last_error: r.get(7),
            last_error_at: r.get(8),
            failures: r.get(9),
            behind: r.get(10),
            mode: r.get(11),
        })
        .collect())
}
