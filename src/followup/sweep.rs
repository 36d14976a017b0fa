//! The sweep: judge every customer whose next boundary has passed (an index on `check_at`
//! finds them), store the new state, write `followup.due` / `followup.overdue` events, and
//! release overdue customers to the public pool, unless keepwarm cannot vouch for the owner's
//! mail (a mailbox failing, backfilling or stalled): then the release waits.

use std::collections::HashMap;
use std::time::Instant;

use tracing::{debug, error, info, warn};

use super::policy::{Assessment, Facts, Policy, State, assess};
use crate::config::{Config, PoolConfig};
use crate::events::{At, Event};
use crate::store::followup::{GroupContact, TimerRow, Verdict};
use crate::store::mailboxes::Health;
use crate::store::outbox::{customer_ref, emit_all};
use crate::store::{Db, StoreError, followup as fu};
use crate::supervise::{Backoff, Stop, supervise};
use crate::time::rfc3339;

use crate::time::DAY_MS as DAY;
/// Customers judged per transaction.
const PAGE: i64 = 20_000;

/// What one sweep did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct SweepReport {
    pub judged: usize,
    /// Customers whose stored state changed.
    pub written: usize,
    pub due: usize,
    pub overdue: usize,
    pub released: usize,
    /// Releases held back because the owner's mailbox is unhealthy.
    pub frozen: usize,
    /// Release warnings written.
    pub warned: usize,
    pub elapsed_secs: f64,
}

/// The reps whose mail keepwarm cannot vouch for at `now`, with why: one of their IMAP
/// accounts cannot log in, a folder's last sync failed, is still backfilling, or has not
/// synced within `followup.mailbox_stalled_after`. Reps without IMAP accounts are not judged.
pub fn unhealthy_reps(health: &[Health], config: &Config, now: i64) -> HashMap<String, String> {
    let stalled_before = now - config.followup.stalled_after_ms();
    let mut out: HashMap<String, String> = HashMap::new();
    for account in &config.imap {
        let Some(rep) = &account.rep else {
            continue;
        };
        let rows: Vec<&Health> = health
            .iter()
            .filter(|h| h.account == account.name)
            .collect();
        let name = &account.name;
        let problem = if let Some(h) = rows.iter().find(|h| h.failures > 0) {
            Some(format!(
                "mailbox {name}/{} failing ({} attempts): {}",
                h.folder,
                h.failures,
                h.last_error.as_deref().unwrap_or("unknown error")
            ))
        } else if let Some(why) = first_sync_pending(name, &rows) {
            Some(why)
        } else {
            rows.iter()
                .filter_map(|h| h.last_sync_at.map(|at| (h, at)))
                .find(|(_, at)| *at < stalled_before)
                .map(|(h, at)| {
                    format!(
                        "mailbox {name}/{} has not synced since {}",
                        h.folder,
                        rfc3339(at)
                    )
                })
        };
        if let Some(p) = problem {
            out.entry(rep.clone()).or_insert(p);
        }
    }
    out
}

/// Why nobody may be released now, if so: a configured mailbox has not finished its first
/// sync (its history may hold the contact that keeps a customer), or the directory is younger
/// than `pool.release_start_after` (a fresh install: the mail history is not in yet). The
/// mailboxes are judged as keepwarm sees them today; the directory's age at the policy's `now`.
pub fn release_hold(
    health: &[Health],
    config: &Config,
    directory_since: Option<i64>,
    now: i64,
) -> Option<String> {
    for account in &config.imap {
        let rows: Vec<&Health> = health
            .iter()
            .filter(|h| h.account == account.name)
            .collect();
        if let Some(why) = first_sync_pending(&account.name, &rows) {
            return Some(format!("{why}: releases wait for its history"));
        }
    }
    let wait = config.release_start_after_ms();
    let since = directory_since.unwrap_or(now);
    (now < since.saturating_add(wait)).then(|| {
        format!(
            "the directory is {} days old: releases start once it is {} days old (pool.release_start_after)",
            (now - since).max(0) / DAY,
            wait / DAY
        )
    })
}

/// Why account `name` (its health rows) has not finished its first sync, if it has not: it
/// never synced, or a folder is still backfilling.
fn first_sync_pending(name: &str, rows: &[&Health]) -> Option<String> {
    if rows.iter().all(|h| h.folder == "*") {
        return Some(format!("mailbox {name} has never synced"));
    }
    rows.iter()
        .find(|h| h.last_sync_at.is_none())
        .map(|h| format!("mailbox {name}/{} is still backfilling", h.folder))
}

/// The facts the policy judges, with the group's latest contact when roll-up is on.
pub fn facts_of(row: &TimerRow, groups: &GroupContact) -> Facts {
    let (mut inbound, mut outbound) = (row.last_inbound_at, row.last_outbound_at);
    if let Some((gi, go)) = row.group.as_ref().and_then(|g| groups.get(g)) {
        inbound = inbound.max(*gi);
        outbound = outbound.max(*go);
    }
    Facts {
        tier: row.tier.clone(),
        created_at: row.owned_since.unwrap_or(row.created_at),
        first_inbound_at: row.first_inbound_at,
        unanswered_since: row.unanswered_since,
        last_inbound_at: inbound,
        last_outbound_at: outbound,
        country: row.country.clone(),
        paused: row.paused_from.zip(row.paused_until),
    }
}

/// The policy in force and, with group roll-up on, each group's latest contact: what judging
/// a stored customer needs (the sweep, the board, the API).
pub struct Judge {
    pub policy: Policy,
    groups: GroupContact,
    signed_exempt: bool,
}

impl Judge {
    pub async fn load(db: &Db, config: &Config) -> Result<Judge, StoreError> {
        let groups = if config.followup.group_rollup {
            fu::group_contact(db).await?
        } else {
            GroupContact::new()
        };
        Ok(Judge {
            policy: Policy::new(&config.followup),
            groups,
            signed_exempt: config.pool.signed_exempt,
        })
    }

    /// The customer's state and deadlines at `now`. A protected (or signed) customer with an
    /// owner is never released: past its release date it shows as overdue.
    pub fn assess(&self, row: &TimerRow, now: i64) -> Assessment {
        let mut a = assess(&facts_of(row, &self.groups), &self.policy, now);
        if row.owner.is_some() && row.exempt(self.signed_exempt).is_some() {
            a.release_at = None;
            a.state = a.state.max(State::Overdue);
            a.tier_state = a.tier_state.max(State::Overdue);
        }
        a
    }
}

/// An event the sweep writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The tier timer ran out (`followup.due`).
    Due,
    /// Past due by `overdue_after_days` (`followup.overdue`).
    Overdue,
    /// A reply or second follow-up deadline passed (`followup.due`).
    Deadline(&'static str, i64),
}

/// What to do with one customer.
#[derive(Debug, Clone)]
pub struct Judgement {
    pub verdict: Verdict,
    pub notices: Vec<Notice>,
    /// Release to the pool, with the reason kept in history.
    pub release: Option<String>,
    /// Warn the owner that the customer is released at this moment (`customer.release_warning`).
    pub warning: Option<i64>,
}

/// Decide a customer's new state, events and release from its assessment. Pure.
pub fn judge(
    row: &TimerRow,
    a: &Assessment,
    policy: &Policy,
    pool: &PoolConfig,
    unhealthy: Option<&str>,
    now: i64,
) -> Judgement {
    let old = row.fu_state.as_deref().and_then(State::parse);
    let mut state = a.tier_state;
    let mut check_at = a.check_at;
    let mut frozen = None;
    let mut release = None;
    let exempt = row.exempt(pool.signed_exempt);
    if state == State::Released && row.owner.is_some() {
        match (exempt, unhealthy) {
            // Protected and signed customers stay with their owner, overdue.
            (Some(_), _) => state = State::Overdue,
            (None, Some(why)) => {
                state = State::Overdue;
                frozen = Some(why.to_string());
                check_at = now + policy.config.sweep_interval_ms();
            }
            (None, None) => {
                let tier = policy.config.tier(&row.tier);
                let since = row
                    .last_inbound_at
                    .max(row.last_outbound_at)
                    .map(|t| format!("no contact for {} days", (now - t) / DAY))
                    .unwrap_or_else(|| "never contacted".into());
                release = Some(format!(
                    "{since}: tier {} asks for contact every {} days, released {} days after the due date",
                    row.tier, tier.interval_days, tier.release_grace_days
                ));
            }
        }
    }
    // The warning before a release: once per release moment, from `warn_before_release`
    // ahead (the first judgement only records it, like every other notice).
    let mut warned = row.warned_release_at;
    let mut warning = None;
    if let (Some(span), Some(release_at), Some(_), None) =
        (&pool.warn_before_release, a.release_at, &row.owner, exempt)
    {
        let from = release_at.saturating_sub(span.ms());
        if now < from {
            check_at = check_at.min(from);
        } else if now < release_at && warned != Some(release_at) {
            if old.is_some() {
                warning = Some(release_at);
            }
            warned = Some(release_at);
        }
    }
    let mut notices = Vec::new();
    let mut notified = row.notified_due_at;
    // The first judgement of a customer (just imported, or keepwarm just installed) is the
    // baseline: its standing state is on the board, and events start with the next change.
    // (A directory of a million customers would otherwise flood the CRM on the first day.)
    if old.is_none() {
        notified = a
            .reply_due_at
            .or(a.follow_up_due_at)
            .filter(|d| *d <= now)
            .or(notified);
    } else if row.owner.is_some() && release.is_none() {
        let was = |states: &[State]| old.is_some_and(|o| states.contains(&o));
        if state == State::Due && !was(&[State::Due, State::Overdue, State::Released]) {
            notices.push(Notice::Due);
        }
        if state == State::Overdue && !was(&[State::Overdue, State::Released]) {
            notices.push(Notice::Overdue);
        }
        let action = a
            .reply_due_at
            .map(|d| (d, "reply to the customer"))
            .or(a.follow_up_due_at.map(|d| (d, "second follow-up")));
        if let Some((due, why)) = action
            && due <= now
            && notified != Some(due)
        {
            notices.push(Notice::Deadline(why, due));
            notified = Some(due);
        }
    }
    Judgement {
        verdict: Verdict {
            id: row.id.clone(),
            state: state.as_str(),
            next_due_at: a.next_due_at,
            reason: a.reason,
            check_at,
            notified_due_at: notified,
            release_frozen: frozen,
            warned_release_at: warned,
        },
        notices,
        release,
        warning,
    }
}

/// One sweep at `now` (the policy's clock; tests and `keepwarm sweep --at` move it). Mailbox
/// health is judged at `health_now`, the real time: it is about what keepwarm sees today.
pub async fn sweep(
    db: &Db,
    config: &Config,
    now: i64,
    health_now: i64,
) -> Result<SweepReport, StoreError> {
    let started = Instant::now();
    let judging = Judge::load(db, config).await?;
    let policy = &judging.policy;
    let health = crate::store::mailboxes::health(db).await?;
    let unhealthy = unhealthy_reps(&health, config, health_now);
    let since = crate::store::customers::directory_since(db).await?;
    let hold = release_hold(&health, config, since, now);
    // A new policy: every customer is judged again (in id order), and only the verdicts that
    // differ are written. Otherwise only those whose next boundary has passed.
    let everyone = {
        let mut tx = db.begin_write().await?;
        let changed = fu::policy_changed(&mut tx, &config.sweep_fingerprint()).await?;
        tx.commit().await.map_err(|source| StoreError::Query {
            context: "commit the policy",
            source,
        })?;
        changed
    };
    if everyone {
        info!("Follow-up policy changed: every customer is judged again.");
    }
    let mut report = SweepReport::default();
    let mut after_id = String::new();
    loop {
        let mut tx = db.begin_write().await?;
        let t0 = Instant::now();
        let rows = if everyone {
            fu::page_by_id(&mut *tx, fu::Columns::Sweep, &after_id, PAGE).await?
        } else {
            fu::due_for_sweep(&mut tx, now, PAGE).await?
        };
        let n = rows.len();
        let t_read = t0.elapsed();
        let mut verdicts = Vec::with_capacity(n);
        let mut events = Vec::new();
        let mut releases = Vec::new();
        for row in &rows {
            let a = judging.assess(row, now);
            let owner_problem = row
                .owner
                .as_ref()
                .and_then(|o| unhealthy.get(o))
                .map(String::as_str)
                .or(hold.as_deref());
            let j = judge(row, &a, policy, &config.pool, owner_problem, now);
            if j.verdict.release_frozen.is_some() {
                report.frozen += 1;
            }
            for notice in &j.notices {
                let event = match notice {
                    Notice::Due => {
                        report.due += 1;
                        Event::FollowupDue(fu::due_event(row, "due", a.tier_reason, a.tier_due_at))
                    }
                    Notice::Overdue => {
                        report.overdue += 1;
                        Event::FollowupOverdue(fu::due_event(
                            row,
                            "overdue",
                            a.tier_reason,
                            a.tier_due_at,
                        ))
                    }
                    Notice::Deadline(why, due) => {
                        report.due += 1;
                        Event::FollowupDue(fu::due_event(row, a.state.as_str(), why, *due))
                    }
                };
                events.push(event);
            }
            if let (Some(release_at), Some(owner)) = (j.warning, &row.owner) {
                report.warned += 1;
                events.push(Event::CustomerReleaseWarning {
                    customer: customer_ref(&row.id, &row.name, &row.tier, Some(owner)),
                    owner: owner.clone(),
                    release_at: At(release_at),
                    due_at: At(a.tier_due_at),
                    reason: a.tier_reason.to_string(),
                });
            }
            if let Some(reason) = &j.release {
                report.released += 1;
                let pool = config
                    .pool_for(row.country.as_deref(), &row.tier, row.owner.as_deref())
                    .to_string();
                events.push(Event::CustomerReleased {
                    customer: customer_ref(&row.id, &row.name, &row.tier, None),
                    former_owner: row.owner.clone(),
                    reason: reason.clone(),
                    how: "no-contact".into(),
                    pool: pool.clone(),
                    by: None,
                    due_at: Some(At(a.tier_due_at)),
                    last_inbound_at: row.last_inbound_at.map(At),
                    last_outbound_at: row.last_outbound_at.map(At),
                });
                releases.push(fu::Release {
                    customer: row.id.clone(),
                    former: row.owner.clone(),
                    pool,
                    reason: reason.clone(),
                });
            }
            // A customer picked by its passed boundary is always written (its next boundary
            // moves on, else the next page would pick it again).
            if !everyone || !j.verdict.stored_in(row) {
                verdicts.push(j.verdict);
            }
        }
        let t_judge = t0.elapsed();
        fu::release_all(&mut tx, &releases, now).await?;
        emit_all(&mut tx, &events, now).await?;
        fu::write_verdicts(&mut tx, &verdicts).await?;
        let t_write = t0.elapsed();
        tx.commit().await.map_err(|source| StoreError::Query {
            context: "commit a sweep page",
            source,
        })?;
        report.judged += n;
        report.written += verdicts.len();
        debug!(
            customers = n,
            written = verdicts.len(),
            read_ms = t_read.as_millis() as u64,
            judged_ms = t_judge.as_millis() as u64,
            written_ms = t_write.as_millis() as u64,
            committed_ms = t0.elapsed().as_millis() as u64,
            "Sweep page done."
        );
        if (n as i64) < PAGE {
            break;
        }
        if let Some(last) = rows.last() {
            after_id = last.id.clone();
        }
    }
    if everyone {
        fu::remember_policy(db, &config.sweep_fingerprint()).await?;
    }
    report.elapsed_secs = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The lease of the follow-up sweep's turn.
pub const SWEEP_LEASE: &str = "sweep";

/// The daemon's sweep: once per `sweep_interval` across all instances sharing the database,
/// until `stop`. Each instance (`member`, its cluster id) looks every `heartbeat` (or interval,
/// if shorter); the one that finds the sweep's lease expired takes it for one interval and
/// sweeps. Each sweep runs in its own task (a panic is logged, the next sweep runs on time).
pub async fn run(
    db: Db,
    config: std::sync::Arc<Config>,
    member: String,
    heartbeat: std::time::Duration,
    stop: Stop,
) {
    // Each sweep runs in a task of its own already (`sweep_once`); the supervisor restarts the
    // loop itself should anything around it (the lease, retention) panic.
    let s = stop.clone();
    supervise(
        "follow-up sweep",
        SWEEP_BACKOFF,
        stop,
        move || {
            let turns = turns(
                db.clone(),
                std::sync::Arc::clone(&config),
                member.clone(),
                heartbeat,
                s.clone(),
            );
            async move {
                turns.await;
                Ok::<(), std::convert::Infallible>(())
            }
        },
        |_, _| async { None },
    )
    .await;
}

const SWEEP_BACKOFF: Backoff = Backoff {
    first: std::time::Duration::from_secs(1),
    cap: std::time::Duration::from_secs(60),
    healthy_after: std::time::Duration::from_secs(300),
};

/// Take the sweep's turn every interval (when this instance holds the lease), until the stop.
async fn turns(
    db: Db,
    config: std::sync::Arc<Config>,
    member: String,
    heartbeat: std::time::Duration,
    mut stop: Stop,
) {
    let interval_ms = config.followup.sweep_interval_ms();
    let every = std::time::Duration::from_millis(interval_ms as u64).min(heartbeat);
    // Raw content past its retention is dropped at most hourly, by the instance whose turn it
    // is to sweep.
    let mut retention_due = std::time::Instant::now();
    loop {
        let turn =
            crate::store::cluster::acquire(&db, SWEEP_LEASE, &member, interval_ms, false).await;
        match turn {
            Ok(true) => {
                sweep_once(&db, &config).await;
                if std::time::Instant::now() >= retention_due {
                    retention_due =
                        std::time::Instant::now() + std::time::Duration::from_secs(3600);
                    retention(&db, &config).await;
                }
            }
            Ok(false) => {}
            Err(e) => warn!(error = %e, "Cannot take the sweep's turn; trying again."),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}

async fn retention(db: &Db, config: &Config) {
    match crate::store::privacy::apply_retention(
        db,
        crate::store::privacy::Keep::of(&config.retention),
        crate::account::SESSION_IDLE_MS,
        crate::store::now_ms(),
    )
    .await
    {
        Ok(d) if d.total() > 0 => info!(
            failures = d.failure_raw,
            chat_messages = d.chat_raw,
            quoted_mails = d.quoted,
            sign_ins = d.sign_ins,
            ended_sessions = d.sessions,
            "Raw content past its retention dropped, ended sessions removed."
        ),
        Ok(_) => {}
        Err(e) => warn!(error = %e, "Retention pass failed; trying again in an hour."),
    }
}

async fn sweep_once(db: &Db, config: &std::sync::Arc<Config>) {
    let (db, config) = (db.clone(), std::sync::Arc::clone(config));
    let task = tokio::spawn(async move {
        let now = crate::store::now_ms();
        sweep(&db, &config, now, now).await
    });
    match task.await {
        Ok(Ok(r)) if r.due + r.overdue + r.released + r.frozen > 0 => info!(
            judged = r.judged,
            due = r.due,
            overdue = r.overdue,
            released = r.released,
            held = r.frozen,
            secs = r.elapsed_secs,
            "Follow-up sweep done."
        ),
        Ok(Ok(r)) => debug!(
            judged = r.judged,
            secs = r.elapsed_secs,
            "Follow-up sweep done."
        ),
        Ok(Err(e)) => {
            warn!(error = %e, "Follow-up sweep failed; retrying at the next interval.")
        }
        Err(e) => {
            error!(error = %e, "Follow-up sweep panicked; retrying at the next interval.")
        }
    }
}

#[cfg(test)]
#[path = "sweep_tests.rs"]
mod tests;
