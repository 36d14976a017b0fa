//! The follow-up rows: pauses, owners, claims and conflict flags (what `followup::ownership`
//! decides a batch's contact does), group roll-up; the sweep's reads and writes; the public
//! pool and its history. (Leads are decided in `followup::leads` and written by
//! `store::leads`.)

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use sqlx::Row;

use super::outbox::customer_ref;
use super::{Context, Db, StoreError, Tx, set_setting, setting};
use crate::directory::identity::MatchReason;
use crate::events::{At, CustomerRef, Due};
use crate::message::{Direction, Message, counterpart_identity};

/// Attach messages the matching snapshot could not place to a customer the database knows by
/// their counterpart's exact address or number (a lead or a customer created since the snapshot).
pub async fn resolve_unmatched(
    tx: &mut Tx,
    messages: &mut [Cow<'_, Message>],
) -> Result<(), StoreError> {
    let unplaced = |m: &Message| {
        m.customer.is_none() && m.group.is_none() && m.direction != Direction::Internal
    };
    let mut wanted: HashMap<&'static str, HashSet<String>> = HashMap::new();
    for m in messages.iter() {
        if unplaced(m)
            && let Some((kind, value)) = counterpart_identity(m)
        {
            wanted.entry(kind).or_default().insert(value);
        }
    }
    // (kind, value) → (customer, group), a few queries per batch.
    let mut found: HashMap<(&'static str, String), (String, Option<String>)> = HashMap::new();
    for (kind, values) in wanted {
        let values: Vec<String> = values.into_iter().collect();
        for chunk in values.chunks(200) {
            let b = super::Backend::of(tx);
            let sql = format!(
                "SELECT i.value, i.customer_id, c.group_id FROM identity i JOIN customer c ON c.id = i.customer_id
                 WHERE i.kind = {} AND i.value IN ({})",
                b.params(1, 1),
                b.params(2, chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(kind);
            for v in chunk {
                q = q.bind(v);
            }
            for r in q.fetch_all(&mut **tx).await.ctx("look up identities")? {
                found.insert((kind, r.get(0)), (r.get(1), r.get(2)));
            }
        }
    }
    if found.is_empty() {
        return Ok(());
    }
    for m in messages.iter_mut() {
        if !unplaced(m) {
            continue;
        }
        let Some(id) = counterpart_identity(m) else {
            continue;
        };
        if let Some((customer, group)) = found.get(&id) {
            let m = m.to_mut();
            m.customer = Some(customer.clone());
            m.group = group.clone();
            m.match_reason = MatchReason::of_identity(id.0);
        }
    }
    Ok(())
}

/// Pause a customer's clock from `from` until `until` (an out-of-office reply), unless a
/// longer pause is already set.
pub async fn pause(tx: &mut Tx, customer: &str, from: i64, until: i64) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE customer SET paused_from = $1, paused_until = $2, check_at = 0
         WHERE id = $3 AND (paused_until IS NULL OR paused_until < $2)",
    )
    .bind(from)
    .bind(until)
    .bind(customer)
    .execute(&mut **tx)
    .await
    .ctx("pause a customer's clock")?;
    Ok(())
}

/// Flag `customer` as contacted by `rep`, who does not own it (the board shows it).
pub async fn flag_conflict(
    tx: &mut Tx,
    customer: &str,
    rep: &str,
    at: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE customer SET conflict_rep = $1, conflict_at = $2 WHERE id = $3")
        .bind(rep)
        .bind(at)
        .bind(customer)
        .execute(&mut **tx)
        .await
        .ctx("flag a conflict")?;
    Ok(())
}

/// With group roll-up on, the other members of the groups whose contact moved are judged again.
pub async fn recheck_groups(tx: &mut Tx, customers: &[&str]) -> Result<(), StoreError> {
    for chunk in customers.chunks(200) {
        let list = (1..=chunk.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "UPDATE customer SET check_at = 0 WHERE check_at <> 0 AND group_id IN
               (SELECT group_id FROM customer WHERE group_id IS NOT NULL AND id IN ({list}))"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for c in chunk {
            q = q.bind(*c);
        }
        q.execute(&mut **tx).await.ctx("recheck group members")?;
    }
    Ok(())
}

/// One customer as the sweep and the board judge it.
#[derive(Debug, Clone)]
pub struct TimerRow {
    pub id: String,
    pub name: String,
    pub tier: String,
    pub owner: Option<String>,
    pub country: Option<String>,
    pub group: Option<String>,
    pub created_at: i64,
    /// When the customer first wrote to us.
    pub first_inbound_at: Option<i64>,
    /// Our first message since their last that they have not answered.
    pub unanswered_since: Option<i64>,
    pub last_inbound_at: Option<i64>,
    pub last_outbound_at: Option<i64>,
    pub paused_from: Option<i64>,
    pub paused_until: Option<i64>,
    pub fu_state: Option<String>,
    pub notified_due_at: Option<i64>,
    pub release_frozen: Option<String>,
    pub conflict_rep: Option<String>,
    pub conflict_at: Option<i64>,
    pub pool_changed_at: Option<i64>,
    pub pool_reason: Option<String>,
    /// The last verdict stored (a new one equal to it is not written again).
    pub next_due_at: Option<i64>,
    pub due_reason: Option<String>,
    pub check_at: i64,
    /// potential, target, signed, dormant.
    pub stage: String,
    /// Protected by its owner.
    pub protected: bool,
    /// The pool it sits in (without owner).
    pub pool: Option<String>,
    /// When the owner got it (claim or assignment).
    pub owned_since: Option<i64>,
    /// The release moment a warning was written for.
    pub warned_release_at: Option<i64>,
}

impl TimerRow {
    /// Never released by the no-contact rule: protected by its owner, or signed (when
    /// `[pool] signed_exempt`).
    pub fn exempt(&self, signed_exempt: bool) -> Option<&'static str> {
        if self.stage == "signed" && signed_exempt {
            Some("signed")
        } else if self.protected {
            Some("protected")
        } else {
            None
        }
    }
}

/// What the sweep reads of a customer: every row of a million is decoded column by column,
/// so only what judging needs (the board's extras follow, read by `BOARD_COLUMNS`).
const SWEEP_COLUMNS: &str = "id, name, tier, owner, country, group_id, created_at, last_inbound_at,
    last_outbound_at, paused_from, paused_until, fu_state, notified_due_at, release_frozen,
    next_due_at, due_reason, check_at, first_inbound_at, unanswered_since, stage, protected,
    owned_since, warned_release_at";
const SWEEP_WIDTH: usize = 23;
const BOARD_COLUMNS: &str = "id, name, tier, owner, country, group_id, created_at, last_inbound_at,
    last_outbound_at, paused_from, paused_until, fu_state, notified_due_at, release_frozen,
    next_due_at, due_reason, check_at, first_inbound_at, unanswered_since, stage, protected,
    owned_since, warned_release_at, conflict_rep, conflict_at, pool_changed_at, pool_reason, pool";

/// Which columns to read: the sweep's, or the board's (conflicts, pool) as well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Columns {
    Sweep,
    Board,
}

impl Columns {
    fn list(self) -> &'static str {
        match self {
            Columns::Sweep => SWEEP_COLUMNS,
            Columns::Board => BOARD_COLUMNS,
        }
    }
}

fn timer_row(r: &sqlx::any::AnyRow) -> TimerRow {
    let board = r.len() > SWEEP_WIDTH;
    let extra = |i: usize| {
        board
            .then(|| r.get::<Option<String>, _>(SWEEP_WIDTH + i))
            .flatten()
    };
    let extra_at = |i: usize| {
        board
            .then(|| r.get::<Option<i64>, _>(SWEEP_WIDTH + i))
            .flatten()
    };
    TimerRow {
        id: r.get(0),
        name: r.get(1),
        tier: r.get(2),
        owner: r.get(3),
        country: r.get(4),
        group: r.get(5),
        created_at: r.get(6),
        last_inbound_at: r.get(7),
        last_outbound_at: r.get(8),
        paused_from: r.get(9),
        paused_until: r.get(10),
        fu_state: r.get(11),
        notified_due_at: r.get(12),
        release_frozen: r.get(13),
        next_due_at: r.get(14),
        due_reason: r.get(15),
        check_at: r.get(16),
        first_inbound_at: r.get(17),
        unanswered_since: r.get(18),
        stage: r.get(19),
        protected: r.get::<i64, _>(20) != 0,
        owned_since: r.get(21),
        warned_release_at: r.get(22),
        conflict_rep: extra(0),
        conflict_at: extra_at(1),
        pool_changed_at: extra_at(2),
        pool_reason: extra(3),
        pool: extra(4),
    }
}

/// Every customer (the board).
pub async fn all_timers(db: &Db) -> Result<Vec<TimerRow>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {BOARD_COLUMNS} FROM customer"
    )))
    .fetch_all(db.pool())
    .await
    .ctx("read customers for the board")?;
    Ok(rows.iter().map(timer_row).collect())
}

/// The customers of one owner (a rep's board).
pub async fn timers_of_owner(db: &Db, owner: &str) -> Result<Vec<TimerRow>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {BOARD_COLUMNS} FROM customer WHERE owner = $1"
    )))
    .bind(owner)
    .fetch_all(db.pool())
    .await
    .ctx("read a rep's customers")?;
    Ok(rows.iter().map(timer_row).collect())
}

/// The latest contact per corporate group (group roll-up).
pub async fn group_contact(
    db: &Db,
) -> Result<HashMap<String, (Option<i64>, Option<i64>)>, StoreError> {
    let rows = sqlx::query(
        "SELECT group_id, MAX(last_inbound_at), MAX(last_outbound_at) FROM customer
         WHERE group_id IS NOT NULL GROUP BY group_id",
    )
    .fetch_all(db.pool())
    .await
    .ctx("read group contact times")?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect())
}

/// Customers whose next boundary has passed, up to `limit`, inside the sweep's transaction.
pub async fn due_for_sweep(tx: &mut Tx, now: i64, limit: i64) -> Result<Vec<TimerRow>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {SWEEP_COLUMNS} FROM customer WHERE check_at <= $1 ORDER BY check_at LIMIT $2"
    )))
    .bind(now)
    .bind(limit)
    .fetch_all(&mut **tx)
    .await
    .ctx("read customers due for the sweep")?;
    Ok(rows.iter().map(timer_row).collect())
}

/// Customers after `after_id` in id order, up to `limit`: API pages, and a whole re-judgement
/// after a policy change (inside the sweep's transaction).
pub async fn page_by_id<'c>(
    ex: impl sqlx::Executor<'c, Database = sqlx::Any>,
    columns: Columns,
    after_id: &str,
    limit: i64,
) -> Result<Vec<TimerRow>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM customer WHERE id > $1 ORDER BY id LIMIT $2",
        columns.list()
    )))
    .bind(after_id)
    .bind(limit)
    .fetch_all(ex)
    .await
    .ctx("read customers in id order")?;
    Ok(rows.iter().map(timer_row).collect())
}

impl Verdict {
    /// Is this what the row already holds?
    pub fn stored_in(&self, row: &TimerRow) -> bool {
        row.fu_state.as_deref() == Some(self.state)
            && row.next_due_at == Some(self.next_due_at)
            && row.due_reason.as_deref() == Some(self.reason)
            && row.check_at == self.check_at
            && row.notified_due_at == self.notified_due_at
            && row.release_frozen == self.release_frozen
            && row.warned_release_at == self.warned_release_at
    }
}

/// The sweep's verdict on one customer, to write.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub id: String,
    pub state: &'static str,
    pub next_due_at: i64,
    pub reason: &'static str,
    pub check_at: i64,
    pub notified_due_at: Option<i64>,
    pub release_frozen: Option<String>,
    pub warned_release_at: Option<i64>,
}

/// Write verdicts (a few statements per hundreds of rows).
pub async fn write_verdicts(tx: &mut Tx, verdicts: &[Verdict]) -> Result<(), StoreError> {
    const ROWS: usize = 400;
    for chunk in verdicts.chunks(ROWS) {
        let sql = format!(
            "UPDATE customer SET fu_state = v.column2, next_due_at = v.column3, due_reason = v.column4,
               check_at = v.column5, notified_due_at = v.column6, release_frozen = v.column7,
               warned_release_at = v.column8
             FROM (VALUES {}) AS v WHERE customer.id = v.column1",
            super::Backend::of(tx).placeholders(chunk.len(), 8)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for v in chunk {
            q = q
                .bind(&v.id)
                .bind(v.state)
                .bind(v.next_due_at)
                .bind(v.reason)
                .bind(v.check_at)
                .bind(v.notified_due_at)
                .bind(&v.release_frozen)
                .bind(v.warned_release_at);
        }
        q.execute(&mut **tx).await.ctx("write follow-up states")?;
    }
    Ok(())
}

/// A release by the no-contact rule.
#[derive(Debug, Clone)]
pub struct Release {
    pub customer: String,
    pub former: Option<String>,
    pub pool: String,
    pub reason: String,
}

/// Release customers to their pools. The owners go; the history stays (the caller writes the
/// `customer.released` events in the same transaction).
pub async fn release_all(tx: &mut Tx, releases: &[Release], now: i64) -> Result<(), StoreError> {
    const ROWS: usize = 200;
    for chunk in releases.chunks(ROWS) {
        let sql = format!(
            "UPDATE customer SET owner = NULL, pool = v.column4, pool_changed_at = v.column3,
               pool_reason = v.column2, owned_since = NULL, protected = 0, release_frozen = NULL,
               conflict_rep = NULL, conflict_at = NULL, warned_release_at = NULL
             FROM (VALUES {}) AS v WHERE customer.id = v.column1",
            super::Backend::of(tx).placeholders(chunk.len(), 4)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for r in chunk {
            q = q.bind(&r.customer).bind(&r.reason).bind(now).bind(&r.pool);
        }
        q.execute(&mut **tx).await.ctx("release customers")?;
        let changes: Vec<super::ownership::Change> = chunk
            .iter()
            .map(|r| super::ownership::Change {
                customer: &r.customer,
                action: "released",
                owner: None,
                former: r.former.as_deref(),
                pool: Some(&r.pool),
                reason: &r.reason,
                actor: "policy",
                at: now,
            })
            .collect();
        super::ownership::record(tx, &changes).await?;
    }
    Ok(())
}

/// Has the policy changed since every customer was last judged? (The first policy ever is
/// remembered at once: there is nothing to judge again.)
pub async fn policy_changed(tx: &mut Tx, fingerprint: &str) -> Result<bool, StoreError> {
    match setting(tx, "followup_policy").await? {
        Some(old) => Ok(old != fingerprint),
        None => {
            set_setting(tx, "followup_policy", fingerprint).await?;
            Ok(false)
        }
    }
}

/// The policy every customer has now been judged with (after a whole re-judgement: a crash
/// half-way means the next sweep starts it again).
pub async fn remember_policy(db: &Db, fingerprint: &str) -> Result<(), StoreError> {
    let mut tx = db.begin_write().await?;
    set_setting(&mut tx, "followup_policy", fingerprint).await?;
    tx.commit().await.ctx("commit the policy")?;
    Ok(())
}

/// A customer in the public pool.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PoolRow {
    pub id: String,
    pub name: String,
    pub tier: String,
    pub country: Option<String>,
    pub last_contact_at: Option<i64>,
    /// When and why it entered the pool (none: it never had an owner).
    pub released_at: Option<i64>,
    pub former_owner: Option<String>,
    pub reason: Option<String>,
    /// The pool it sits in (`None`: not recorded, the default pool).
    pub pool: Option<String>,
}

/// The public pool: customers without an owner, most recently released first.
pub async fn pool(db: &Db) -> Result<Vec<PoolRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT c.id, c.name, c.tier, c.country, c.last_contact_at, h.at, h.rep_id, h.reason,
                c.pool
         FROM customer c
         LEFT JOIN pool_history h ON h.id = (SELECT MAX(id) FROM pool_history x
                                            WHERE x.customer_id = c.id AND x.action = 'released')
         WHERE c.owner IS NULL
         ORDER BY h.at IS NULL, h.at DESC, c.id",
    )
    .fetch_all(db.pool())
    .await
    .ctx("list the pool")?;
    Ok(rows
        .iter()
        .map(|r| PoolRow {
            id: r.get(0),
            name: r.get(1),
            tier: r.get(2),
            country: r.get(3),
            last_contact_at: r.get(4),
            released_at: r.get(5),
            former_owner: r.get(6),
            reason: r.get(7),
            pool: r.get(8),
        })
        .collect())
}

/// One change of ownership.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HistoryRow {
    pub customer_id: String,
    pub action: String,
    pub rep: Option<String>,
    pub reason: String,
    pub at: i64,
    /// Who: `policy`, `cli:<user>`, `api:<fingerprint>` (none: before this was recorded).
    pub actor: Option<String>,
    pub former_owner: Option<String>,
    pub pool: Option<String>,
}

/// Ownership changes made by the policy (of one customer, or all), newest first.
pub async fn pool_history(
    db: &Db,
    customer: Option<&str>,
    limit: i64,
) -> Result<Vec<HistoryRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT customer_id, action, rep_id, reason, at, actor, former_owner, pool FROM pool_history
         WHERE ($1 IS NULL OR customer_id = $1) ORDER BY id DESC LIMIT $2",
    )
    .bind(customer)
    .bind(limit)
    .fetch_all(db.pool())
    .await
    .ctx("list pool history")?;
    Ok(rows
        .iter()
        .map(|r| HistoryRow {
            customer_id: r.get(0),
            action: r.get(1),
            rep: r.get(2),
            reason: r.get(3),
            at: r.get(4),
            actor: r.get(5),
            former_owner: r.get(6),
            pool: r.get(7),
        })
        .collect())
}

/// Group contact times as a map for the judgement, empty unless roll-up is on.
pub type GroupContact = HashMap<String, (Option<i64>, Option<i64>)>;

/// A customer as an event names it, inside a transaction.
pub async fn customer_summary(tx: &mut Tx, id: &str) -> Result<CustomerRef, StoreError> {
    let row = sqlx::query("SELECT name, tier, owner FROM customer WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
        .ctx("read a customer for an event")?;
    Ok(match row {
        Some(r) => customer_ref(id, r.get(0), r.get(1), r.get(2)),
        None => customer_ref(id, "", "", None),
    })
}

/// What a due or overdue event says of a customer.
pub fn due_event(row: &TimerRow, state: &str, reason: &str, due_at: i64) -> Due {
    Due {
        customer: customer_ref(&row.id, &row.name, &row.tier, row.owner.as_deref()),
        state: state.to_string(),
        reason: reason.to_string(),
        due_at: At(due_at),
        last_inbound_at: row.last_inbound_at.map(At),
        last_outbound_at: row.last_outbound_at.map(At),
    }
}

/// A lead, newest first.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LeadRow {
    pub customer_id: String,
    pub message_key: String,
    pub channel: String,
    pub counterpart: String,
    pub owner: Option<String>,
    pub how: String,
    pub created_at: i64,
}

/// Leads after `before` = (created_at, customer id) of the previous page's last (keyset
/// pagination: leads of one batch share a creation time), newest first.
pub async fn leads(db: &Db, before: (i64, &str), limit: i64) -> Result<Vec<LeadRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT customer_id, message_key, channel, counterpart, owner, how, created_at FROM lead
         WHERE created_at < $1 OR (created_at = $1 AND customer_id < $2)
         ORDER BY created_at DESC, customer_id DESC LIMIT $3",
    )
    .bind(before.0)
    .bind(before.1)
    .bind(limit)
    .fetch_all(db.pool())
    .await
    .ctx("list leads")?;
    Ok(rows
        .iter()
        .map(|r| LeadRow {
            customer_id: r.get(0),
            message_key: crate::message::display_key(r.get(1)).to_string(),
            channel: r.get(2),
            counterpart: r.get(3),
            owner: r.get(4),
            how: r.get(5),
            created_at: r.get(6),
        })
        .collect())
}

/// One customer's timer row.
pub async fn timer(db: &Db, id: &str) -> Result<Option<TimerRow>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {BOARD_COLUMNS} FROM customer WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db.pool())
    .await
    .ctx("read a customer's timers")?;
    Ok(row.as_ref().map(timer_row))
}
