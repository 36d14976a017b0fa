//! Ownership rows: a customer's owner, stage, protection and pool; what a rep holds and has
//! claimed; and every change of owner with who, when and why (`pool_history`). The rules that
//! decide a change are `followup::ownership`'s; this module reads and writes.

use sqlx::Row;

use super::{Backend, Context, StoreError, Tx};
use crate::config::Config;

/// A customer's ownership as the rules see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holding {
    pub id: String,
    pub name: String,
    pub tier: String,
    pub country: Option<String>,
    pub owner: Option<String>,
    /// potential, target, signed, dormant.
    pub stage: String,
    /// Protected by its owner (signed customers are protected whatever this says).
    pub protected: bool,
    /// The pool it sits in (without owner; `None`: the default pool).
    pub pool: Option<String>,
    /// When its owner last changed (for a pool customer: when it was released).
    pub changed_at: Option<i64>,
    pub conflict_rep: Option<String>,
    pub conflict_at: Option<i64>,
}

/// The stages a customer goes through.
pub const STAGES: &[&str] = &["potential", "target", "signed", "dormant"];

impl Holding {
    pub fn signed(&self) -> bool {
        self.stage == "signed"
    }

    /// Protected from the no-contact rule and from other reps.
    pub fn is_protected(&self) -> bool {
        self.protected || self.signed()
    }

    /// The pool it sits in (or would, without owner), by name: the one recorded at its
    /// release, else the first that takes a customer of its country and tier.
    pub fn pool_name<'a>(&'a self, config: &'a Config) -> &'a str {
        pool_of(
            config,
            self.pool.as_deref(),
            self.country.as_deref(),
            &self.tier,
        )
    }
}

/// The pool of a customer without owner: the one recorded, else the first `[[pools]]` that
/// takes its country and tier (a customer that never had an owner), else `public`.
pub fn pool_of<'a>(
    config: &'a Config,
    recorded: Option<&'a str>,
    country: Option<&str>,
    tier: &str,
) -> &'a str {
    recorded.unwrap_or_else(|| config.pool_for(country, tier, None))
}

/// What a rep holds and has claimed, as the caps need it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Load {
    /// Customers owned (signed ones only when `[pool] cap_counts_signed`).
    pub owned: u32,
    /// Customers protected, signed ones not counted.
    pub protected: u32,
    pub claims_today: u32,
    pub claims_month: u32,
}

const HOLDING_COLUMNS: &str = "id, name, tier, country, owner, stage, protected, pool,
    pool_changed_at, conflict_rep, conflict_at";

fn holding_row(r: &sqlx::any::AnyRow) -> Holding {
    Holding {
        id: r.get(0),
        name: r.get(1),
        tier: r.get(2),
        country: r.get(3),
        owner: r.get(4),
        stage: r.get(5),
        protected: r.get::<i64, _>(6) != 0,
        pool: r.get(7),
        changed_at: r.get(8),
        conflict_rep: r.get(9),
        conflict_at: r.get(10),
    }
}

/// Customer `id`'s ownership, locked for the rest of the transaction on PostgreSQL (SQLite's
/// write transaction holds the whole database).
pub async fn holding(tx: &mut Tx, id: &str) -> Result<Option<Holding>, StoreError> {
    let sql = format!(
        "SELECT {HOLDING_COLUMNS} FROM customer WHERE id = $1{}",
        match Backend::of(tx) {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
        .ctx("read a customer's ownership")?;
    Ok(row.as_ref().map(holding_row))
}

/// Customer `id`'s ownership, read outside any transaction (who may see it).
pub async fn peek(db: &super::Db, id: &str) -> Result<Option<Holding>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {HOLDING_COLUMNS} FROM customer WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db.pool())
    .await
    .ctx("read a customer's ownership")?;
    Ok(row.as_ref().map(holding_row))
}

/// The other customers of corporate group `group`, by name.
pub async fn group_members(
    db: &super::Db,
    group: &str,
    except: &str,
) -> Result<Vec<Holding>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {HOLDING_COLUMNS} FROM customer WHERE group_id = $1 AND id <> $2 ORDER BY name, id"
    )))
    .bind(group)
    .bind(except)
    .fetch_all(db.pool())
    .await
    .ctx("list a group's customers")?;
    Ok(rows.iter().map(holding_row).collect())
}

/// What `rep` holds now and has claimed since `day_start` and `month_start`.
pub async fn load(
    tx: &mut Tx,
    rep: &str,
    day_start: i64,
    month_start: i64,
    counts_signed: bool,
) -> Result<Load, StoreError> {
    let row = sqlx::query(
        "SELECT COUNT(*),
                COALESCE(SUM(CASE WHEN stage = 'signed' THEN 1 ELSE 0 END), 0),
                COALESCE(SUM(CASE WHEN protected <> 0 AND stage <> 'signed' THEN 1 ELSE 0 END), 0)
         FROM customer WHERE owner = $1",
    )
    .bind(rep)
    .fetch_one(&mut **tx)
    .await
    .ctx("count a rep's customers")?;
    let (owned, signed, protected): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    let claims = sqlx::query(
        "SELECT COALESCE(SUM(CASE WHEN at >= $2 THEN 1 ELSE 0 END), 0), COUNT(*)
         FROM pool_history WHERE rep_id = $1 AND action = 'claimed' AND at >= $3",
    )
    .bind(rep)
    .bind(day_start)
    .bind(month_start.min(day_start))
    .fetch_one(&mut **tx)
    .await
    .ctx("count a rep's claims")?;
    let (today, month): (i64, i64) = (claims.get(0), claims.get(1));
    Ok(Load {
        owned: (if counts_signed { owned } else { owned - signed }) as u32,
        protected: protected as u32,
        claims_today: today as u32,
        claims_month: month as u32,
    })
}

/// When `rep` last lost `customer` (released, or given to someone else), if ever.
pub async fn lost_at(tx: &mut Tx, customer: &str, rep: &str) -> Result<Option<i64>, StoreError> {
    sqlx::query_scalar::<_, Option<i64>>(
        "SELECT MAX(at) FROM pool_history
         WHERE customer_id = $1 AND former_owner = $2
           AND (action = 'released' OR rep_id IS DISTINCT FROM $2)",
    )
    .bind(customer)
    .bind(rep)
    .fetch_one(&mut **tx)
    .await
    .ctx("read when a rep lost a customer")
}

/// One change of owner, as history keeps it.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    pub customer: &'a str,
    /// claimed, assigned, released.
    pub action: &'static str,
    /// The new owner (`None`: released to `pool`).
    pub owner: Option<&'a str>,
    pub former: Option<&'a str>,
    /// The pool it went to (released) or came from (claimed).
    pub pool: Option<&'a str>,
    pub reason: &'a str,
    /// `policy`, `cli:<user>`, `api:<fingerprint>`.
    pub actor: &'a str,
    pub at: i64,
}

/// Apply one change of owner and record it. A customer who changes hands loses its owner's
/// protection (not its stage); one released goes to `pool`.
pub async fn change_owner(tx: &mut Tx, c: &Change<'_>) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE customer SET owner = $1, pool = $2, pool_changed_at = $3, pool_reason = $4,
           owned_since = CASE WHEN $1 IS NULL THEN NULL ELSE $3 END,
           protected = CASE WHEN owner IS NOT DISTINCT FROM $1 THEN protected ELSE 0 END,
           release_frozen = NULL, conflict_rep = NULL, conflict_at = NULL,
           warned_release_at = NULL, check_at = 0
         WHERE id = $5",
    )
    .bind(c.owner)
    .bind(if c.owner.is_none() { c.pool } else { None })
    .bind(c.at)
    .bind(c.reason)
    .bind(c.customer)
    .execute(&mut **tx)
    .await
    .ctx("change a customer's owner")?;
    record(tx, std::slice::from_ref(c)).await
}

/// Record changes of owner already applied (the sweep releases in bulk).
pub async fn record(tx: &mut Tx, changes: &[Change<'_>]) -> Result<(), StoreError> {
    const ROWS: usize = 200;
    for chunk in changes.chunks(ROWS) {
        let sql = format!(
            "INSERT INTO pool_history (customer_id, action, rep_id, reason, at, actor, former_owner, pool)
             VALUES {}",
            Backend::of(tx).placeholders(chunk.len(), 8)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for c in chunk {
            // rep_id: the new owner, or for a release the former one (as before actors were
            // recorded).
            q = q
                .bind(c.customer)
                .bind(c.action)
                .bind(c.owner.or(c.former))
                .bind(c.reason)
                .bind(c.at)
                .bind(c.actor)
                .bind(c.former)
                .bind(c.pool);
        }
        q.execute(&mut **tx).await.ctx("write pool history")?;
    }
    Ok(())
}

/// Set or lift the owner's protection.
pub async fn set_protected(tx: &mut Tx, id: &str, on: bool) -> Result<(), StoreError> {
    sqlx::query("UPDATE customer SET protected = $1, check_at = 0 WHERE id = $2")
        .bind(i64::from(on))
        .bind(id)
        .execute(&mut **tx)
        .await
        .ctx("protect a customer")?;
    Ok(())
}

/// Move a customer to another stage.
pub async fn set_stage(tx: &mut Tx, id: &str, stage: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE customer SET stage = $1, check_at = 0 WHERE id = $2")
        .bind(stage)
        .bind(id)
        .execute(&mut **tx)
        .await
        .ctx("set a customer's stage")?;
    Ok(())
}

/// A tag first seen in a span, with its evidence (the review's lost deals).
#[derive(Debug, Clone)]
pub struct TagSeen {
    pub customer: String,
    pub evidence: String,
    pub message_key: String,
    pub first_seen: i64,
}

/// Customers whose `tag` was first seen in [from, to), not dismissed.
pub async fn tags_first_seen(
    db: &super::Db,
    tag: &str,
    from: i64,
    to: i64,
) -> Result<Vec<TagSeen>, StoreError> {
    let rows = sqlx::query(
        "SELECT customer_id, last_evidence, last_message_key, first_seen FROM customer_tag
         WHERE tag = $1 AND first_seen >= $2 AND first_seen < $3 AND state <> 'dismissed'
         ORDER BY first_seen, customer_id",
    )
    .bind(tag)
    .bind(from)
    .bind(to)
    .fetch_all(db.pool())
    .await
    .ctx("read the month's tags")?;
    Ok(rows
        .iter()
        .map(|r| TagSeen {
            customer: r.get(0),
            evidence: r.get(1),
            message_key: r.get(2),
            first_seen: r.get(3),
        })
        .collect())
}

/// Changes of owner in [from, to): (action, new owner or the former one for a release,
/// former owner, count).
pub async fn changes_between(
    db: &super::Db,
    from: i64,
    to: i64,
) -> Result<Vec<(String, Option<String>, i64)>, StoreError> {
    let rows = sqlx::query(
        "SELECT action, rep_id, COUNT(*) FROM pool_history WHERE at >= $1 AND at < $2
         GROUP BY action, rep_id ORDER BY action, rep_id",
    )
    .bind(from)
    .bind(to)
    .fetch_all(db.pool())
    .await
    .ctx("count the month's changes of owner")?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}
