//! The IMAP source against a real Dovecot: backfill, Sent discovery and direction, read-only
//! access, live delivery (IDLE and polling), UIDVALIDITY resets, server restarts, SIGKILL during
//! a backfill, TLS, XOAUTH2 and refused logins.

mod common;

use std::time::{Duration, Instant};

use common::Workspace;
use common::dovecot::{Dovecot, Options, message};

fn account(d: &Dovecot, extra: &str) -> String {
    format!(
        "[[imap]]\nname = \"alice\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nusername = \"alice@example.test\"\npassword_env = \"ALICE_PW\"\nrep = \"alice\"\nbackfill = \"90d\"\n{extra}",
        d.port
    )
}

fn date_days_ago(days: i64) -> String {
    let t = chrono::Utc::now() - chrono::Duration::days(days);
    t.format("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

fn imap_days_ago(days: i64) -> String {
    let t = chrono::Utc::now() - chrono::Duration::days(days);
    t.format("%d-%b-%Y %H:%M:%S +0000").to_string()
}

fn keys(w: &Workspace) -> Vec<String> {
    let mut k: Vec<String> = w
        .messages()
        .iter()
        .map(|m| m["key"].as_str().unwrap().to_string())
        .collect();
    k.sort();
    k
}

#[test]
fn backfill_reads_inbox_and_sent_without_touching_them() {
    let d = Dovecot::start(Options::default());
    let mut c = d.client("alice@example.test", "alicepw");
    c.append(
        "INBOX",
        &message(
            "Buyer <buyer@lagostrade.example>",
            "alice@sinoexport.example",
            "Order",
            "in-1@lagostrade.example",
            &date_days_ago(3),
            "Please send the PI, we are ready to order 500 pcs.",
        ),
        Some(&imap_days_ago(3)),
    );
    c.append(
        "INBOX",
        &message(
            "compras@andes.example",
            "alice@sinoexport.example",
            "Viejo",
            "old-1@andes.example",
            &date_days_ago(200),
            "Mensaje antiguo.",
        ),
        Some(&imap_days_ago(200)),
    );
    c.append(
        "Sent",
        &message(
            "Alice <alice@sinoexport.example>",
            "compras@andes.example",
            "Cotización",
            "out-1@sinoexport.example",
            &date_days_ago(1),
            "Adjunto la cotización.",
        ),
        Some(&imap_days_ago(1)),
    );
    c.logout();
    let w = Workspace::new(&account(&d, ""));
    let out = w.ok(&["sync", "--once"]);
    assert!(out.contains("alice/INBOX: fetched 1"), "{out}");
    assert!(out.contains("alice/Sent: fetched 1"), "{out}");

    let msgs = w.messages();
    assert_eq!(
        msgs.len(),
        2,
        "the 200-day-old message is outside the backfill: {msgs:#?}"
    );
    let by_key = |k: &str| msgs.iter().find(|m| m["key"] == k).unwrap().clone();
    let inbound = by_key("in-1@lagostrade.example");
    assert_eq!(inbound["direction"], "inbound");
    assert_eq!(inbound["customer"], "C1");
    assert_eq!(inbound["counts_as_contact"], true);
    let outbound = by_key("out-1@sinoexport.example");
    assert_eq!(outbound["direction"], "outbound");
    assert_eq!(outbound["customer"], "C2");
    let shown = w.ok(&["customers", "show", "C2"]);
    assert!(shown.to_lowercase().contains("last outbound"), "{shown}");

    // Read-only: nothing got \Seen.
    let mut c = d.client("alice@example.test", "alicepw");
    c.command("EXAMINE INBOX");
    let flags = c.command("FETCH 1:* (FLAGS)").join("");
    assert!(!flags.contains("\\Seen"), "{flags}");
    c.logout();

    // Status shows both folders healthy.
    let status = w.status();
    let folders: Vec<&str> = status
        .iter()
        .map(|s| s["folder"].as_str().unwrap())
        .collect();
    assert_eq!(folders, ["INBOX", "Sent"]);
    assert!(
        status
            .iter()
            .all(|s| s["failures"] == 0 && s["last_sync_at"].is_i64())
    );
    assert!(status.iter().all(|s| s["backfilling"] == false));

    // A second sync finds nothing new, quickly.
    let t = Instant::now();
    let out = w.ok(&["sync", "--once"]);
    assert!(out.contains("fetched 0"), "{out}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert_eq!(w.messages().len(), 2);

    // A new message after the first sync is picked up (even though it is old: it is new to
    // the folder).
    let mut c = d.client("alice@example.test", "alicepw");
    c.append(
        "INBOX",
        &message(
            "buyer@lagostrade.example",
            "alice@sinoexport.example",
            "Re: Order",
            "in-2@lagostrade.example",
            &date_days_ago(0),
            "Any discount for 1000 pcs?",
        ),
        None,
    );
    c.logout();
    let out = w.ok(&["sync", "--once"]);
    assert!(out.contains("alice/INBOX: fetched 1"), "{out}");
    assert_eq!(
        keys(&w),
        [
            "in-1@lagostrade.example",
            "in-2@lagostrade.example",
            "out-1@sinoexport.example"
        ]
    );
}
