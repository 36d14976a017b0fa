//! Tag rows: the hits stored with each message (`message_tag`) and each customer's tags
//! (`customer_tag`). Reads and writes only; what a new sighting does to a customer's tag is
//! decided by `followup::tags`.

use std::collections::{HashMap, HashSet};

use sqlx::Row;

use super::{Backend, Context, StoreError, Tx};
use crate::message::{Message, TagHit};

/// Rows per multi-row statement.
const ROWS: usize = 100;

/// Where a customer's tag stands with the reps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagState {
    /// Shown as a suggestion (new, or back with newer evidence).
    Suggested,
    /// A rep said it is right.
    Accepted,
    /// A rep said it is wrong: hidden until evidence newer than that answer.
    Dismissed,
}

impl TagState {
    pub fn as_str(self) -> &'static str {
        match self {
            TagState::Suggested => "suggested",
            TagState::Accepted => "accepted",
            TagState::Dismissed => "dismissed",
        }
    }

    /// A stored state; an unknown word reads as a suggestion.
    pub fn parse(s: &str) -> TagState {
        match s {
            "accepted" => TagState::Accepted,
            "dismissed" => TagState::Dismissed,
            _ => TagState::Suggested,
        }
    }
}

/// One customer's tag as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTag {
    pub customer_id: String,
    pub tag: String,
    pub state: TagState,
    pub first_seen: i64,
    pub last_seen: i64,
    /// Not shown after this (the newest evidence plus the rule's lifetime).
    pub expires_at: i64,
    pub evidence_count: i64,
    pub last_message_key: String,
    pub last_rule: String,
    pub last_evidence: String,
    pub next_step: String,
    pub updated_at: i64,
    /// When it last became a live suggestion.
    pub suggested_at: Option<i64>,
    /// When a rep last answered it.
    pub feedback_at: Option<i64>,
}

/// What one batch says about one customer's tag: how many of its new messages carry it, the
/// earliest, and the newest hit (by sent time), whose evidence becomes the tag's.
#[derive(Debug, Clone, Copy)]
pub struct TagSighting<'a> {
    pub customer: &'a str,
    pub tag: &'a str,
    pub count: i64,
    pub first_seen: i64,
    pub latest: (&'a Message, &'a TagHit),
}

/// Store each new message's tag hits (a hit already stored for the message is kept).
pub async fn insert_hits(tx: &mut Tx, hits: &[(&Message, &TagHit)]) -> Result<(), StoreError> {
    let backend = Backend::of(tx);
    for chunk in hits.chunks(ROWS) {
        let sql = format!(
            "INSERT INTO message_tag (message_key, tag, rule, matched, evidence, field, span_start, span_end, lang, hits)
             VALUES {} ON CONFLICT (message_key, tag) DO NOTHING",
            backend.placeholders(chunk.len(), 10)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (m, t) in chunk {
            q = q
                .bind(&m.key)
                .bind(&t.tag)
                .bind(&t.rule)
                .bind(&t.matched)
                .bind(&t.evidence)
                .bind(t.field)
                .bind(t.start as i64)
                .bind(t.end as i64)
                .bind(&t.lang)
                .bind(t.hits as i64);
        }
        q.execute(&mut **tx).await.ctx("store message tags")?;
    }
    Ok(())
}

const COLUMNS: &str = "customer_id, tag, state, first_seen, last_seen, expires_at, evidence_count, \
     last_message_key, last_rule, last_evidence, next_step, updated_at, suggested_at, feedback_at";

fn bind_row<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    t: &'q StoredTag,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    q.bind(&t.customer_id)
        .bind(&t.tag)
        .bind(t.state.as_str())
        .bind(t.first_seen)
        .bind(t.last_seen)
        .bind(t.expires_at)
        .bind(t.evidence_count)
        .bind(&t.last_message_key)
        .bind(&t.last_rule)
        .bind(&t.last_evidence)
        .bind(&t.next_step)
        .bind(t.updated_at)
        .bind(t.suggested_at)
        .bind(t.feedback_at)
}

/// Insert the rows whose (customer, tag) has none yet; returns the keys inserted. A row that
/// exists (or that another transaction is inserting: PostgreSQL waits for it) is left alone.
pub async fn insert_new(
    tx: &mut Tx,
    rows: &[StoredTag],
) -> Result<HashSet<(String, String)>, StoreError> {
    let backend = Backend::of(tx);
    let mut inserted = HashSet::new();
    for chunk in rows.chunks(ROWS) {
        let sql = format!(
            "INSERT INTO customer_tag ({COLUMNS}) VALUES {}
             ON CONFLICT (customer_id, tag) DO NOTHING RETURNING customer_id, tag",
            backend.placeholders(chunk.len(), 14)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for t in chunk {
            q = bind_row(q, t);
        }
        for row in q.fetch_all(&mut **tx).await.ctx("insert customer tags")? {
            inserted.insert((row.get(0), row.get(1)));
        }
    }
    Ok(inserted)
}

/// The stored tags of these (customer, tag) keys, locked until the transaction ends
/// (PostgreSQL; SQLite's write transaction already excludes every other writer).
pub async fn lock(
    tx: &mut Tx,
    keys: &[(&str, &str)],
) -> Result<HashMap<(String, String), StoredTag>, StoreError> {
    let backend = Backend::of(tx);
    let mut out = HashMap::new();
    for chunk in keys.chunks(ROWS) {
        let sql = format!(
            "SELECT {COLUMNS} FROM customer_tag WHERE (customer_id, tag) IN (VALUES {}){}",
            backend.placeholders(chunk.len(), 2),
            match backend {
                Backend::Sqlite => "",
                Backend::Postgres => " FOR UPDATE",
            }
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (customer, tag) in chunk {
            q = q.bind(*customer).bind(*tag);
        }
        for r in q.fetch_all(&mut **tx).await.ctx("read customer tags")? {
            let t = StoredTag {
                customer_id: r.get(0),
                tag: r.get(1),
                state: TagState::parse(r.get(2)),
                first_seen: r.get(3),
                last_seen: r.get(4),
                expires_at: r.get(5),
                evidence_count: r.get(6),
                last_message_key: r.get(7),
                last_rule: r.get(8),
                last_evidence: r.get(9),
                next_step: r.get(10),
                updated_at: r.get(11),
                suggested_at: r.get(12),
                feedback_at: r.get(13),
            };
            out.insert((t.customer_id.clone(), t.tag.clone()), t);
        }
    }
    Ok(out)
}

/// Write these rows over the stored ones (the reps' answer, `feedback_at`, is not theirs to
/// change and is kept).
pub async fn overwrite(tx: &mut Tx, rows: &[StoredTag]) -> Result<(), StoreError> {
    let backend = Backend::of(tx);
    for chunk in rows.chunks(ROWS) {
        let sql = format!(
            "INSERT INTO customer_tag ({COLUMNS}) VALUES {}
             ON CONFLICT (customer_id, tag) DO UPDATE SET
               state = excluded.state, first_seen = excluded.first_seen,
               last_seen = excluded.last_seen, expires_at = excluded.expires_at,
               evidence_count = excluded.evidence_count,
               last_message_key = excluded.last_message_key, last_rule = excluded.last_rule,
               last_evidence = excluded.last_evidence, next_step = excluded.next_step,
               updated_at = excluded.updated_at, suggested_at = excluded.suggested_at",
            backend.placeholders(chunk.len(), 14)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for t in chunk {
            q = bind_row(q, t);
        }
        q.execute(&mut **tx).await.ctx("update customer tags")?;
    }
    Ok(())
}

/// Per tag, the customers carrying it live at `now`: (tag, suggested, accepted, dismissed).
pub async fn live_counts(
    db: &super::Db,
    now: i64,
) -> Result<Vec<(String, i64, i64, i64)>, StoreError> {
    let rows = sqlx::query(
        "SELECT tag,
                SUM(CASE WHEN state = 'suggested' THEN 1 ELSE 0 END),
                SUM(CASE WHEN state = 'accepted' THEN 1 ELSE 0 END),
                SUM(CASE WHEN state = 'dismissed' THEN 1 ELSE 0 END)
         FROM customer_tag WHERE expires_at > $1 GROUP BY tag ORDER BY tag",
    )
    .bind(now)
    .fetch_all(db.pool())
    .await
    .ctx("count customer tags")?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                r.get(0),
                r.get::<i64, _>(1),
                r.get::<i64, _>(2),
                r.get::<i64, _>(3),
            )
        })
        .collect())
}
