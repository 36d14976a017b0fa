//! Several instances on one database: three `keepwarm run` processes share 20 mailboxes on a
//! real Dovecot while new mail arrives; one is killed with SIGKILL in the middle. Every message
//! is stored once, the dead instance's mailboxes are taken over within the lease period, and
//! every event reaches the CRM.
//!
//! On the PostgreSQL pass this is the deployment the docs describe (one PostgreSQL, N
//! instances); on the SQLite pass the same three processes share one SQLite file on one host.

// Sync test code waits with blocking sleeps (clippy.toml bans them in async code).
#![allow(clippy::disallowed_methods)]

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::dovecot::{Dovecot, Options, message, user};
use common::receiver::Receiver;
use common::{Running, Workspace};

const MAILBOXES: usize = 20;
const PREFILLED: usize = 10;
const ARRIVING: usize = 4;
const SECRET: &str = "whsec-cluster";
const LEASE_MS: u64 = 3_000;
const HEARTBEAT_MS: u64 = 1_000;

fn customer_address(i: usize) -> String {
    format!("buyer@k{i:02}-trade.example")
}

fn config(d: &Dovecot, receiver_port: u16) -> String {
    let mut c = format!(
        "[cluster]\nlease = \"{}s\"\nheartbeat = \"{}s\"\n\
         [crm]\nretry = [\"1s\"]\nexpire = \"5m\"\nconcurrency = 2\n\
         [[crm.webhooks]]\nname = \"crm\"\nurl = \"http://127.0.0.1:{receiver_port}/hook\"\n\
         secret_env = \"KW_HOOK_SECRET\"\ntimeout = \"1s\"\n",
        LEASE_MS / 1000,
        HEARTBEAT_MS / 1000
    );
    for i in 1..=MAILBOXES {
        c.push_str(&format!(
            "[[reps]]\nid = \"r{i:02}\"\nemails = [\"r{i:02}@sinoexport.example\"]\n\
             [[imap]]\nname = \"mb{i:02}\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\n\
             username = \"{}\"\npassword_env = \"MAIL_PW\"\nrep = \"r{i:02}\"\nbackfill = \"30d\"\n",
            d.port,
            user(i)
        ));
    }
    c
}

fn mail(i: usize, n: usize, hours_ago: i64) -> Vec<u8> {
    let date = (chrono::Utc::now() - chrono::Duration::hours(hours_ago))
        .format("%a, %d %b %Y %H:%M:%S +0000")
        .to_string();
    message(
        &customer_address(i),
        &format!("r{i:02}@sinoexport.example"),
        &format!("Order {n}"),
        &format!("m{i:02}-{n}@k{i:02}-trade.example"),
        &date,
        &format!("Please confirm the delivery date for order {n}."),
    )
}

/// Which instance holds each account, from `keepwarm status --format json`.
fn holders(w: &Workspace) -> HashMap<String, String> {
    w.status()
        .iter()
        .filter_map(|s| {
            Some((
                s["account"].as_str()?.to_string(),
                s["instance"].as_str()?.to_string(),
            ))
        })
        .collect()
}

fn per_instance(h: &HashMap<String, String>) -> HashMap<String, usize> {
    let mut n = HashMap::new();
    for owner in h.values() {
        *n.entry(owner.clone()).or_insert(0) += 1;
    }
    n
}

fn start(w: &Workspace, name: &str) -> (Running, String) {
    let run = w.spawn_with_env(
        &["run"],
        &[
            ("MAIL_PW", "mailpw"),
            ("KW_HOOK_SECRET", SECRET),
            ("KEEPWARM_INSTANCE", name),
        ],
    );
    let line = run.expect(&["Daemon started."], Duration::from_secs(20));
    let id = line
        .split_whitespace()
        .find_map(|f| f.strip_prefix("instance="))
        .expect("the start line names the instance")
        .trim_matches('"')
        .to_string();
    (run, id)
}

#[test]
fn three_instances_share_mailboxes_and_survive_a_sigkill() {
    let d = Dovecot::start(Options {
        users: MAILBOXES,
        ..Options::default()
    });
    for i in 1..=MAILBOXES {
        let now = chrono::Utc::now().timestamp();
        let msgs: Vec<(i64, Vec<u8>)> = (0..PREFILLED)
            .map(|n| {
                let hours = (PREFILLED - n) as i64 * 2;
                (now - hours * 3600, mail(i, n, hours))
            })
            .collect();
        d.drop_messages(&user(i), "INBOX", &msgs);
    }
    let receiver = Receiver::start(SECRET, vec![], Duration::from_millis(20));
    let w = Workspace::new(&config(&d, receiver.port));
    let mut csv = String::from("id,name,group,tier,owner,emails,domains,phones,country\n");
    for i in 1..=MAILBOXES {
        csv.push_str(&format!(
            "K{i:02},Trading {i},,repeat,r{i:02},{},k{i:02}-trade.example,,DE\n",
            customer_address(i)
        ));
    }
    std::fs::write(w.path("k.csv"), csv).unwrap();
    w.ok(&["customers", "import", "k.csv"]);

    let t0 = Instant::now();
    // One named through the environment (every instance reads the same file), two by default.
    let (a, a_id) = start(&w, "kw-a");
    assert_eq!(a_id, "kw-a");
    let (b, b_id) = start(&w, "");
    let (c, c_id) = start(&w, "");
    let ids: HashSet<String> = [a_id.clone(), b_id.clone(), c_id.clone()].into();
    assert_eq!(ids.len(), 3, "three distinct instances");

    // Even spread over the three: 7, 7 and 6.
    eprintln!("{:?} waiting: 20 mailboxes spread 7/7/6", t0.elapsed());
    w.wait_for("20 mailboxes spread 7/7/6", Duration::from_secs(30), || {
        let h = holders(&w);
        let mut n: Vec<usize> = per_instance(&h).into_values().collect();
        n.sort();
        h.len() == MAILBOXES && n == [6, 7, 7]
    });
    let prefilled = (MAILBOXES * PREFILLED) as i64;
    eprintln!("{:?} waiting: backfill stored", t0.elapsed());
    w.wait_for("backfill stored", Duration::from_secs(60), || {
        w.count("message") >= prefilled
    });

    // New mail arrives in every mailbox while the instances run; one is killed half-way.
    let stop_arrivals = Arc::new(AtomicBool::new(false));
    let appended = Arc::new(Mutex::new(0usize));
    let arrivals = {
        let appended = Arc::clone(&appended);
        let stop = Arc::clone(&stop_arrivals);
        let mut clients: Vec<_> = (1..=MAILBOXES)
            .map(|i| (i, d.client(&user(i), "mailpw")))
            .collect();
        std::thread::spawn(move || {
            for n in 0..ARRIVING {
                for (i, client) in clients.iter_mut() {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    client.append("INBOX", &mail(*i, PREFILLED + n, 0), None);
                    *appended.lock().unwrap() += 1;
                    std::thread::sleep(Duration::from_millis(40));
                }
            }
        })
    };
    w.wait_for(
        "half of the new mail appended",
        Duration::from_secs(30),
        || *appended.lock().unwrap() >= MAILBOXES * ARRIVING / 2,
    );
    let before_kill = holders(&w);
    let b_accounts: Vec<String> = before_kill
        .iter()
        .filter(|(_, owner)| **owner == b_id)
        .map(|(acct, _)| acct.clone())
        .collect();
    assert!(b_accounts.len() >= 6, "{before_kill:?}");
    b.signal("-KILL");
    let killed_at = Instant::now();
    drop(b);

    // Its mailboxes are taken over within one lease period (plus the survivors' heartbeat).
    let took = w.wait_for(
        "the killed instance's mailboxes taken over",
        Duration::from_secs(20),
        || {
            let h = holders(&w);
            h.len() == MAILBOXES && h.values().all(|o| *o == a_id || *o == c_id)
        },
    );
    let since_kill = killed_at.elapsed();
    assert!(
        since_kill <= Duration::from_millis(LEASE_MS + HEARTBEAT_MS + 2_000),
        "takeover took {since_kill:?} (waited {took:?})"
    );
    // And spread evenly again (an instance may take more for a moment while the dead one
    // still looks alive; the excess is handed over at the next heartbeats).
    eprintln!("{:?} waiting: 10 mailboxes each", t0.elapsed());
    w.wait_for("10 mailboxes each", Duration::from_secs(20), || {
        let after = per_instance(&holders(&w));
        after.get(&a_id) == Some(&10) && after.get(&c_id) == Some(&10)
    });

    arrivals.join().unwrap();
    stop_arrivals.store(true, Ordering::Relaxed);
    let total = (MAILBOXES * (PREFILLED + ARRIVING)) as i64;
    assert_eq!(*appended.lock().unwrap() as i64, total - prefilled);

    // Every message stored exactly once, seen in exactly one place.
    eprintln!("{:?} waiting: every message stored", t0.elapsed());
    w.wait_for("every message stored", Duration::from_secs(60), || {
        w.count("message") >= total
    });
    std::thread::sleep(Duration::from_millis(2 * HEARTBEAT_MS));
    assert_eq!(w.count("message"), total);
    assert_eq!(w.count("sighting"), total);
    let expected: Vec<String> = (1..=MAILBOXES)
        .flat_map(|i| {
            (0..PREFILLED + ARRIVING)
                .map(move |n| format!("'email:m{i:02}-{n}@k{i:02}-trade.example'"))
        })
        .collect();
    assert_eq!(
        w.count(&format!("message WHERE key IN ({})", expected.join(", "))),
        total,
        "every message that arrived is there"
    );

    // Every event delivered: the receiver accepted each outbox event, and an event accepted
    // twice was one the killed instance had in flight (sent before the kill, never recorded).
    let events = w.count("outbox");
    assert!(events >= MAILBOXES as i64, "events: {events}");
    eprintln!("{:?} waiting: every event delivered", t0.elapsed());
    w.wait_for("every event delivered", Duration::from_secs(60), || {
        w.count("delivery WHERE state = 'delivered'") == events
    });
    assert_eq!(w.count("delivery"), events);
    let accepted = receiver.accepted();
    let mut first: HashMap<String, Instant> = HashMap::new();
    let mut repeats = Vec::new();
    for r in &accepted {
        assert!(r.signature_ok);
        if let Some(at) = first.get(&r.event_id) {
            repeats.push((r.event_id.clone(), *at));
        } else {
            first.insert(r.event_id.clone(), r.at);
        }
    }
    assert_eq!(first.len() as i64, events, "each event accepted");
    for (id, first_at) in &repeats {
        assert!(
            *first_at < killed_at,
            "event {id} was sent twice though nobody died while sending it"
        );
    }
    assert!(repeats.len() <= 8, "{repeats:?}");

    // Clean stops give the leases up at once.
    assert!(a.stop().success());
    assert!(c.stop().success());
    assert!(holders(&w).is_empty(), "{:?}", holders(&w));
}
