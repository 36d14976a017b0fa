//! The CRM hand-off end to end: the daemon delivers outbox events to a real HTTP receiver on
//! loopback, signed, through faults (500, 429 with Retry-After, a timeout), in order per
//! customer, and after being killed in the middle; the example receiver verifies the signature.

// Sync test code waits with blocking sleeps (clippy.toml bans them in async code).
#![allow(clippy::disallowed_methods)]

mod common;

use std::collections::{HashMap, HashSet};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::Workspace;
use common::receiver::{Receiver, Reply};

const SECRET: &str = "whsec-test";

/// A workspace with lead routing on and a webhook to `port`.
fn workspace(port: u16, extra: &str) -> Workspace {
    Workspace::new(&format!(
        "[[reps]]\nid = \"bob\"\nemails = [\"bob@sinoexport.example\"]\n[leads]\nenabled = true\n\
         [crm]\nretry = [\"1s\"]\nexpire = \"1m\"\n{extra}\
         [[crm.webhooks]]\nname = \"crm\"\nurl = \"http://127.0.0.1:{port}/hook\"\nsecret_env = \"KW_HOOK_SECRET\"\ntimeout = \"1s\"\nevents = [\"lead.*\"]\n"
    ))
}

/// `n` inquiries from unknown senders: each makes a lead (lead.created, then lead.assigned).
fn make_leads(w: &Workspace, n: usize) {
    let dir = w.path("inquiries");
    std::fs::create_dir_all(dir.join("cur")).unwrap();
    std::fs::create_dir_all(dir.join("new")).unwrap();
    let date = chrono::Utc::now() - chrono::Duration::hours(1);
    for i in 0..n {
        let company = common::IMPORTERS[i % common::IMPORTERS.len()];
        let suffix = i / common::IMPORTERS.len();
        std::fs::write(
            dir.join("cur").join(format!("{i:04}.eml:2,S")),
            format!(
                "From: Buyer {i} <buyer{i}@{company}{suffix}.example>\nTo: sales@sinoexport.example\n\
                 Subject: LED panels\nMessage-ID: <inq-{i}>\nDate: {}\n\n\
                 Hello, we are interested in your LED panels. Please send your price list.\n",
                date.format("%a, %d %b %Y %H:%M:%S +0000")
            ),
        )
        .unwrap();
    }
    w.ok(&["ingest", "maildir", dir.to_str().unwrap()]);
}

fn deliveries(w: &Workspace, state: &str) -> Vec<serde_json::Value> {
    w.ok(&[
        "outbox", "list", "--state", state, "--limit", "10000", "--format", "jsonl",
    ])
    .lines()
    .map(|l| serde_json::from_str(l).unwrap())
    .collect()
}

/// Per customer, the event kinds in the order first accepted.
fn order_per_customer(r: &Receiver) -> HashMap<String, Vec<String>> {
    let mut seen = HashSet::new();
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for x in r.accepted() {
        if seen.insert(x.event_id.clone()) {
            out.entry(x.customer.unwrap_or_default())
                .or_default()
                .push(x.event_type);
        }
    }
    out
}

#[test]
fn events_reach_the_crm_through_faults_once_each_and_in_order() {
    let receiver = Receiver::start(
        SECRET,
        vec![
            Reply::Status(500, ""),
            Reply::Status(429, "Retry-After: 2\r\n"),
            Reply::Hang(Duration::from_secs(3)),
        ],
        Duration::ZERO,
    );
    let w = workspace(receiver.port, "");
    make_leads(&w, 3);
    let cmd_env = w.spawn_with_env(&["run"], &[("KW_HOOK_SECRET", SECRET)]);
    w.wait_for("six events accepted", Duration::from_secs(30), || {
        receiver
            .accepted()
            .iter()
            .map(|r| r.event_id.clone())
            .collect::<HashSet<_>>()
            .len()
            == 6
    });
    // Every delivery is recorded as delivered (the database says so, not only the receiver).
    w.wait_for("six deliveries recorded", Duration::from_secs(10), || {
        deliveries(&w, "delivered").len() == 6
    });
    assert!(cmd_env.stop().success());
    let all = receiver.received();
    assert!(all.iter().all(|r| r.signature_ok), "{all:#?}");
    // The faults happened: 500, 429, a timeout; each retried.
    let answered: Vec<u16> = all.iter().take(3).map(|r| r.answered).collect();
    assert_eq!(answered, [500, 429, 0]);
    // Exactly once accepted per event id (a timed-out attempt may have been seen twice, never
    // accepted twice).
    let accepted = receiver.accepted();
    let ids: HashSet<&str> = accepted.iter().map(|r| r.event_id.as_str()).collect();
    assert_eq!(ids.len(), accepted.len(), "an event was accepted twice");
    // Per customer: lead.created before lead.assigned.
    let order = order_per_customer(&receiver);
    assert_eq!(order.len(), 3);
    for kinds in order.values() {
        assert_eq!(kinds, &["lead.created", "lead.assigned"]);
    }
    // The 429's Retry-After (2 s) was honoured: that event came back no sooner.
    let d = deliveries(&w, "delivered");
    assert!(d.iter().any(|x| x["attempts"].as_i64() == Some(2)));
    // The envelope carries what a CRM needs without calling back.
    let created = accepted
        .iter()
        .find(|r| r.event_type == "lead.created")
        .unwrap();
    assert_eq!(created.body["type"], "lead.created");
    assert!(created.body["data"]["customer"]["owner"].is_string());
    assert!(
        created.body["data"]["excerpt"]
            .as_str()
            .unwrap()
            .contains("LED panels")
    );
}

#[test]
fn killed_while_delivering_nothing_is_lost() {
    // A slow receiver: each event takes 100 ms to accept.
    let receiver = Receiver::start(SECRET, vec![], Duration::from_millis(100));
    let w = workspace(receiver.port, "concurrency = 4\n");
    make_leads(&w, 30);
    let run = w.spawn_with_env(&["run"], &[("KW_HOOK_SECRET", SECRET)]);
    w.wait_for("some events accepted", Duration::from_secs(20), || {
        receiver.accepted().len() >= 8
    });
    run.signal("-KILL");
    drop(run);
    let before = receiver.accepted().len();
    assert!(before < 60, "everything was delivered before the kill");
    let run = w.spawn_with_env(&["run"], &[("KW_HOOK_SECRET", SECRET)]);
    w.wait_for("all 60 events accepted", Duration::from_secs(60), || {
        receiver
            .accepted()
            .iter()
            .map(|r| r.event_id.clone())
            .collect::<HashSet<_>>()
            .len()
            == 60
    });
    w.wait_for("60 deliveries recorded", Duration::from_secs(10), || {
        deliveries(&w, "delivered").len() == 60
    });
    assert!(run.stop().success());
    assert!(deliveries(&w, "pending").is_empty());
    for kinds in order_per_customer(&receiver).values() {
        assert_eq!(kinds, &["lead.created", "lead.assigned"]);
    }
}

#[test]
fn rejected_and_dead_deliveries_are_kept_and_can_be_replayed() {
    // 400 is final; the receiver then goes away for good (connection refused) until replay.
    let receiver = Receiver::start(SECRET, vec![Reply::Status(400, "")], Duration::ZERO);
    let w = workspace(receiver.port, "");
    make_leads(&w, 1);
    let run = w.spawn_with_env(&["run"], &[("KW_HOOK_SECRET", SECRET)]);
    w.wait_for(
        "one rejected, one delivered",
        Duration::from_secs(20),
        || deliveries(&w, "rejected").len() == 1 && deliveries(&w, "delivered").len() == 1,
    );
    drop(run);
    let rejected = &deliveries(&w, "rejected")[0];
    assert_eq!(rejected["last_status"], 400);
    // Send it again: it is accepted this time.
    let event = rejected["event_id"].as_str().unwrap().to_string();
    w.ok(&["outbox", "replay", &event]);
    let run = w.spawn_with_env(&["run"], &[("KW_HOOK_SECRET", SECRET)]);
    w.wait_for(
        "the replayed event accepted",
        Duration::from_secs(20),
        || receiver.accepted().iter().any(|r| r.event_id == event),
    );
    assert!(run.stop().success());
    assert!(deliveries(&w, "rejected").is_empty());
}

#[test]
fn deliveries_to_an_unreachable_crm_expire_as_dead_and_replay() {
    let port = common::free_port();
    let w = Workspace::new(&format!(
        "[leads]\nenabled = true\n[crm]\nretry = [\"1s\"]\nexpire = \"2s\"\n\
         [[crm.webhooks]]\nname = \"gone\"\nurl = \"http://127.0.0.1:{port}/hook\"\nsecret_env = \"KW_HOOK_SECRET\"\nevents = [\"lead.created\", \"lead.assigned\"]\n"
    ));
    make_leads(&w, 1);
    let run = w.spawn_with_env(&["run"], &[("KW_HOOK_SECRET", SECRET)]);
    w.wait_for("both deliveries dead", Duration::from_secs(20), || {
        deliveries(&w, "dead").len() == 2
    });
    assert!(run.stop().success());
    let dead = deliveries(&w, "dead");
    // The first event was tried until its time ran out; the second waited behind it (order).
    assert!(
        dead.iter().any(|d| d["attempts"].as_i64().unwrap() >= 2),
        "{dead:#?}"
    );
    assert!(
        dead[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("cannot reach")
    );
    assert!(
        w.ok(&["outbox", "replay", "--dead"])
            .contains("2 deliveries queued again")
    );
    assert_eq!(deliveries(&w, "pending").len(), 2);
}

#[test]
fn the_example_receiver_verifies_signatures_and_dedups() {
    let port = common::free_port();
    let w = workspace(port, "");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/receiver.py");
    let mut py = Command::new("python3")
        .arg(&script)
        .args(["--port", &port.to_string(), "--seen-db"])
        .arg(w.path("seen.db"))
        .env("KEEPWARM_WEBHOOK_SECRET", SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for it to listen.
    w.wait_for(
        "the example receiver listens",
        Duration::from_secs(10),
        || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
    );
    make_leads(&w, 2);
    let run = w.spawn_with_env(&["run"], &[("KW_HOOK_SECRET", SECRET)]);
    w.wait_for("four deliveries", Duration::from_secs(20), || {
        deliveries(&w, "delivered").len() == 4
    });
    assert!(run.stop().success());
    // Replaying a delivered event: accepted again (200), printed once.
    let first = deliveries(&w, "delivered")[0]["event_id"]
        .as_str()
        .unwrap()
        .to_string();
    w.ok(&["outbox", "replay", &first]);
    let run = w.spawn_with_env(&["run"], &[("KW_HOOK_SECRET", SECRET)]);
    w.wait_for("the replay delivered", Duration::from_secs(20), || {
        deliveries(&w, "pending").is_empty() && deliveries(&w, "delivered").len() == 4
    });
    assert!(run.stop().success());
    // A forged request is refused.
    let status = post_raw(port, "1780000000", "v1=00", r#"{"id":"x"}"#);
    assert_eq!(status, 401);
    py.kill().unwrap();
    let out = py.wait_with_output().unwrap();
    let printed: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(printed.len(), 4, "{printed:#?}");
    let ids: HashSet<&str> = printed.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 4);
}

fn post_raw(port: u16, ts: &str, sig: &str, body: &str) -> u16 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST /hook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Keepwarm-Timestamp: {ts}\r\nX-Keepwarm-Signature: {sig}\r\nX-Keepwarm-Event-Id: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn webhook_config_problems_name_their_keys() {
    let w = Workspace::new("");
    w.write_config(
        "[[crm.webhooks]]\nname = \"crm\"\nurl = \"http://crm.example.com/hook\"\n\
         [crm]\nretry = [\"soon\"]\n",
    );
    let out = w.run(&["check-config"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    for key in [
        "crm.webhooks[0].url",
        "crm.webhooks[0].secret_env",
        "crm.retry[0]",
    ] {
        assert!(err.contains(key), "{key}: {err}");
    }
}

#[test]
fn redirects_are_not_followed_a_deploy_window_is_retried_and_secrets_stay_hidden() {
    // The receiver redirects the first delivery elsewhere (307, then 301), answers 401 and
    // 404 as a CRM in the middle of its deploy, then takes everything; a second receiver at
    // the redirect target must never see the signed event.
    let elsewhere = Receiver::start(SECRET, vec![], Duration::ZERO);
    let location: &'static str = Box::leak(
        format!(
            "Location: http://127.0.0.1:{}/stolen?key=leak\r\n",
            elsewhere.port
        )
        .into_boxed_str(),
    );
    let receiver = Receiver::start(
        SECRET,
        vec![
            Reply::Status(307, location),
            Reply::Status(301, location),
            Reply::Status(401, ""),
            Reply::Status(404, ""),
        ],
        Duration::ZERO,
    );
    let w = Workspace::new(&format!(
        "[leads]\nenabled = true\n[crm]\nretry = [\"1s\"]\nexpire = \"1m\"\nreject_grace = \"30s\"\n\
         [[crm.webhooks]]\nname = \"crm\"\nurl = \"http://127.0.0.1:{}/hook?token=sekrit-in-url\"\n\
         secret_env = \"KW_HOOK_SECRET\"\nprevious_secret_env = \"KW_OLD_SECRET\"\ntimeout = \"1s\"\nevents = [\"lead.created\"]\n",
        receiver.port
    ));
    make_leads(&w, 1);
    let run = w.spawn_with_env(
        &["run"],
        &[("KW_HOOK_SECRET", SECRET), ("KW_OLD_SECRET", "whsec-old")],
    );
    w.wait_for("the event delivered", Duration::from_secs(30), || {
        deliveries(&w, "delivered").len() == 1
    });
    let log = run.log.lock().unwrap().join("\n");
    drop(run);
    let all = receiver.received();
    let answered: Vec<u16> = all.iter().map(|r| r.answered).collect();
    assert_eq!(answered, [307, 301, 401, 404, 200], "{all:#?}");
    // Always a POST with the body: a 301 never turned it into a GET.
    assert!(all.iter().all(|r| r.method == "POST" && r.signature_ok));
    // Signed with both secrets during the rotation.
    assert!(all.iter().all(|r| r.signatures == 2));
    assert!(elsewhere.received().is_empty(), "a redirect was followed");
    let d = &deliveries(&w, "delivered")[0];
    assert_eq!(d["attempts"], 5);
    // Neither the delivery record nor the log shows the URL's token.
    let all_rows = w.ok(&["outbox", "list", "--limit", "100", "--format", "jsonl"]);
    assert!(
        !all_rows.contains("sekrit") && !log.contains("sekrit"),
        "{log}"
    );
    assert!(!log.contains("key=leak"), "{log}");

    // Past the grace, a 404 is final; any other 4xx is final at once.
    let receiver = Receiver::start(
        SECRET,
        (0..20).map(|_| Reply::Status(404, "")).collect(),
        Duration::ZERO,
    );
    let w = Workspace::new(&format!(
        "[leads]\nenabled = true\n[crm]\nretry = [\"1s\"]\nexpire = \"1m\"\nreject_grace = \"2s\"\n\
         [[crm.webhooks]]\nname = \"crm\"\nurl = \"http://127.0.0.1:{}/hook\"\nsecret_env = \"KW_HOOK_SECRET\"\ntimeout = \"1s\"\nevents = [\"lead.created\"]\n",
        receiver.port
    ));
    make_leads(&w, 1);
    let run = w.spawn_with_env(&["run"], &[("KW_HOOK_SECRET", SECRET)]);
    w.wait_for("the event rejected", Duration::from_secs(20), || {
        deliveries(&w, "rejected").len() == 1
    });
    drop(run);
    let attempts = deliveries(&w, "rejected")[0]["attempts"].as_i64().unwrap();
    assert!((2..=4).contains(&attempts), "{attempts}");
}

#[test]
fn a_huge_retry_after_ends_the_delivery_instead_of_looping() {
    let receiver = Receiver::start(
        SECRET,
        (0..50)
            .map(|_| Reply::Status(429, "Retry-After: 9223372036854775807\r\n"))
            .collect(),
        Duration::ZERO,
    );
    let admin = common::free_port();
    let w = Workspace::new(&format!(
        "[http]\nadmin_listen = \"127.0.0.1:{admin}\"\n\
         [leads]\nenabled = true\n[crm]\nretry = [\"1s\"]\nexpire = \"1m\"\n\
         [[crm.webhooks]]\nname = \"crm\"\nurl = \"http://127.0.0.1:{}/hook\"\nsecret_env = \"KW_HOOK_SECRET\"\ntimeout = \"1s\"\nevents = [\"lead.created\"]\n",
        receiver.port
    ));
    make_leads(&w, 1);
    let run = w.spawn_with_env(&["run"], &[("KW_HOOK_SECRET", SECRET)]);
    w.wait_for("the delivery dead", Duration::from_secs(20), || {
        deliveries(&w, "dead").len() == 1
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(receiver.received().len(), 1, "one attempt, not a loop");
    // Readiness says so (still ready: the CRM is at fault, not the daemon); metrics count it.
    let (status, body) = common::http(admin, "GET", "/readyz", &[], b"");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("crm: 1 deliveries dead"), "{body}");
    let (_, metrics) = common::http(admin, "GET", "/metrics", &[], b"");
    assert!(
        metrics.contains("keepwarm_deliveries_total{webhook=\"crm\",outcome=\"dead\"} 1"),
        "{metrics}"
    );
    drop(run);
}
