//! Several instances on one database: each instance heartbeats, holds a lease per IMAP account
//! it syncs, and takes its even share of the accounts; the follow-up sweep runs on whichever
//! instance holds the sweep's lease for the interval. SQLite runs one instance, and the same
//! code then simply holds every lease.
//!
//! Guarantees:
//! - An account is synced by at most one instance at a time while leases are honoured: the
//!   holder renews every heartbeat, and stops syncing an account as soon as a renewal shows it
//!   lost the lease, or when it could not renew for two thirds of the lease period (so it has
//!   stopped before anyone else may take the lease).
//! - An instance that dies (SIGKILL, power loss) holds its leases for at most `cluster.lease`
//!   after its last heartbeat; the others take its accounts at their next heartbeat.
//! - A clean stop gives the leases up at once.
//! - Even if two instances ever overlapped on an account (a paused VM waking up past its
//!   lease), nothing is stored twice: messages and sightings are unique in the database.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::app::App;
use crate::config::Config;
use crate::source::imap::Account;
use crate::store::{Db, StoreError, cluster};

/// This instance as the cluster sees it.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: String,
    host: String,
    pid: i64,
    pub lease_ms: i64,
    pub heartbeat: Duration,
}

/// The lease name of an IMAP account.
pub fn account_lease(account: &str) -> String {
    format!("imap:{account}")
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

impl Member {
    pub fn new(config: &Config) -> Member {
        let host = host_name();
        let pid = std::process::id();
        // The environment wins over the (shared) config file, so each instance of a deployment
        // can be named while all read the same file.
        let id = std::env::var("KEEPWARM_INSTANCE")
            .ok()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty() && v.len() <= 100 && !v.contains(char::is_control))
            .or_else(|| config.cluster.instance.clone())
            .unwrap_or_else(|| format!("{host}-{pid}-{:04x}", fastrand::u16(..)));
        Member {
            id,
            host,
            pid: i64::from(pid),
            lease_ms: config.cluster.lease_ms(),
            heartbeat: Duration::from_millis(config.cluster.heartbeat_ms() as u64),
        }
    }

    /// Record a heartbeat; the live instances' ids.
    pub async fn heartbeat(&self, db: &Db) -> Result<Vec<String>, StoreError> {
        cluster::heartbeat(db, &self.id, &self.host, self.pid, self.lease_ms).await
    }
}

/// How many of `accounts` each of `live` instances should hold: an even share, rounded up.
pub fn share(accounts: usize, live: usize) -> usize {
    accounts.div_ceil(live.max(1))
}

/// The order in which this instance tries free accounts: rotated by its id, so instances
/// starting together reach for different accounts first.
fn preference(accounts: &[Arc<Account>], me: &str) -> Vec<Arc<Account>> {
    let mut list: Vec<Arc<Account>> = accounts.to_vec();
    if list.is_empty() {
        return list;
    }
    let seed = me
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let n = list.len();
    list.rotate_left((seed % n as u64) as usize);
    list
}

struct Syncing {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Syncing {
    /// Stop the account's task and wait for it: fetching stops, a chunk under way commits.
    async fn finish(self, name: &str) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .is_err()
        {
            warn!(account = %name, "The account did not stop within 30 s; its last chunk is rolled back.");
        }
    }

    /// Stop the account's task in the background (the heartbeat goes on meanwhile, renewing
    /// its lease until it has stopped).
    fn finish_later(self, name: String) -> JoinHandle<()> {
        tokio::spawn(async move { self.finish(&name).await })
    }
}

/// This instance's accounts: syncing, and stopping (lease still held until stopped).
#[derive(Default)]
struct Held {
    running: HashMap<String, Syncing>,
    stopping: HashMap<String, JoinHandle<()>>,
}

/// Keep this instance's share of the IMAP accounts synced until `stop`: heartbeat, renew,
/// rebalance, start and stop the account tasks. On a clean stop every lease is given up.
pub async fn run_mailboxes(
    app: App,
    member: Arc<Member>,
    accounts: Vec<Arc<Account>>,
    mut stop: watch::Receiver<bool>,
) {
    let db = app.db.clone();
    let order = preference(&accounts, &member.id);
    let mut held = Held::default();
    let mut last_renewed = Instant::now();
    let mut live_before = 0usize;
    let fence = Duration::from_millis((member.lease_ms * 2 / 3) as u64);
    // On a shared database, announce this instance and give instances starting at the same
    // time a moment to do the same before anyone takes accounts: otherwise the first to start
    // takes every account and hands most of them over a heartbeat later, mid-backfill.
    if db.backend() == crate::store::Backend::Postgres && member.heartbeat(&db).await.is_ok() {
        tokio::select! {
            _ = tokio::time::sleep(member.heartbeat.min(Duration::from_secs(1))) => {}
            _ = stop.changed() => {}
        }
    }
    loop {
        if *stop.borrow() {
            break;
        }
        // Accounts that finished stopping (or whose task ended by itself) are given back.
        let done: Vec<String> = held
            .running
            .iter()
            .filter(|(_, s)| s.task.is_finished())
            .map(|(n, _)| n)
            .chain(
                held.stopping
                    .iter()
                    .filter(|(_, t)| t.is_finished())
                    .map(|(n, _)| n),
            )
            .cloned()
            .collect();
        for name in done {
            held.running.remove(&name);
            held.stopping.remove(&name);
            let _ = cluster::release(&db, &account_lease(&name), &member.id).await;
        }
        match round(&app, &member, &order, &mut held).await {
            Ok(live) => {
                last_renewed = Instant::now();
                if live != live_before {
                    info!(
                        instance = %member.id,
                        live,
                        holding = held.running.len(),
                        accounts = accounts.len(),
                        "Cluster membership changed."
                    );
                    live_before = live;
                }
            }
            Err(e) => {
                warn!(instance = %member.id, error = %e, "Cannot renew leases.");
                if last_renewed.elapsed() >= fence && !held.running.is_empty() {
                    warn!(
                        instance = %member.id,
                        accounts = held.running.len(),
                        "Leases not renewed for two thirds of the lease period: stopping every account before another instance may take them."
                    );
                    let all = held.running.drain().map(|(name, s)| async move {
                        s.finish(&name).await;
                    });
                    futures::future::join_all(all).await;
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(member.heartbeat) => {}
            _ = stop.changed() => {}
        }
    }
    let all = held.running.into_iter().map(|(name, s)| async move {
        s.finish(&name).await;
    });
    futures::future::join_all(all).await;
    futures::future::join_all(held.stopping.into_values()).await;
    if let Err(e) = cluster::stopped(&db, &member.id).await {
        warn!(error = %e, "Cannot give the leases up; others take them when they expire.");
    }
}

/// One heartbeat: renew what is held (stopping what was lost), hand over what exceeds the even
/// share, take free accounts up to it. Returns the number of live instances. Never waits for an
/// account to stop: stops run in the background while the heartbeat goes on.
async fn round(
    app: &App,
    member: &Member,
    order: &[Arc<Account>],
    held: &mut Held,
) -> Result<usize, StoreError> {
    let db = &app.db;
    let live = member.heartbeat(db).await?.len().max(1);
    let names: Vec<String> = held
        .running
        .keys()
        .chain(held.stopping.keys())
        .map(|n| account_lease(n))
        .collect();
    let kept = cluster::renew(db, &member.id, &names, member.lease_ms).await?;
    let lost: Vec<String> = held
        .running
        .keys()
        .filter(|n| !kept.contains(&account_lease(n)))
        .cloned()
        .collect();
    for name in lost {
        warn!(account = %name, instance = %member.id, "Lease lost to another instance: stopping this account.");
        if let Some(s) = held.running.remove(&name) {
            // Not ours any more: nothing to renew or release afterwards.
            drop(s.finish_later(name));
        }
    }
    let target = share(order.len(), live);
    // Accounts being handed over still count until they are released: taking new ones in
    // their place would overshoot the share.
    let holding = held.running.len() + held.stopping.len();
    if held.running.len() > target {
        // Hand over the excess (the last in this instance's order first); each is released
        // once its task has stopped, and another instance takes it at its next heartbeat.
        let mut extra: Vec<String> = order
            .iter()
            .map(|a| a.name().to_string())
            .filter(|n| held.running.contains_key(n))
            .collect();
        extra.drain(..target);
        for name in extra {
            if let Some(s) = held.running.remove(&name) {
                info!(account = %name, instance = %member.id, live, "Handing the account over to even out the load.");
                held.stopping.insert(name.clone(), s.finish_later(name));
            }
        }
        return Ok(live);
    }
    let mut holding = holding;
    for account in order {
        if holding >= target {
            break;
        }
        let name = account.name().to_string();
        if held.running.contains_key(&name) || held.stopping.contains_key(&name) {
            continue;
        }
        if cluster::acquire(db, &account_lease(&name), &member.id, member.lease_ms, true).await? {
            info!(account = %name, instance = %member.id, "Account taken: syncing it here.");
            let (stop, rx) = watch::channel(false);
            let task = tokio::spawn(crate::source::imap::run_account(
                app.clone(),
                Arc::clone(account),
                rx,
            ));
            held.running.insert(name, Syncing { stop, task });
            holding += 1;
        }
    }
    Ok(live)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_even_and_cover_every_account() {
        assert_eq!(share(20, 1), 20);
        assert_eq!(share(20, 2), 10);
        assert_eq!(share(20, 3), 7);
        assert_eq!(share(400, 7), 58);
        assert_eq!(share(3, 5), 1);
        assert_eq!(share(0, 3), 0);
        assert_eq!(share(5, 0), 5, "no live instance seen: this one takes all");
        for live in 1..10 {
            assert!(share(20, live) * live >= 20);
        }
    }
}
