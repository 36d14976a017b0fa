//! The IMAP source against a real Dovecot: backfill, Sent discovery and direction, read-only
//! access, live delivery (IDLE and polling), UIDVALIDITY resets, server restarts, SIGKILL during
//! a backfill, TLS, XOAUTH2 and refused logins.

// Sync test code waits with blocking sleeps (clippy.toml bans them in async code).
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::{Duration, Instant};

use common::dovecot::{Dovecot, Options, message};
use common::{TokenServer, Workspace, toml_path};

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

    // A second sync finds nothing new; `--format json` says so in one object.
    let out = w.ok(&["sync", "--once", "--format", "json"]);
    assert_eq!(out.lines().count(), 1, "{out}");
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (
            &summary["messages"],
            &summary["ingested"],
            &summary["failed"]
        ),
        (
            &serde_json::json!(0),
            &serde_json::json!(0),
            &serde_json::json!(0)
        ),
        "{out}"
    );
    assert!(summary["seconds"].is_f64(), "{out}");
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
        w.keys(),
        [
            "in-1@lagostrade.example",
            "in-2@lagostrade.example",
            "out-1@sinoexport.example"
        ]
    );
}

fn customer_mail(i: usize, days_ago: i64) -> Vec<u8> {
    padded_mail(i, days_ago, 0)
}

/// A customer message with `pad` bytes of quoted history (to make a backfill take a while).
fn padded_mail(i: usize, days_ago: i64, pad: usize) -> Vec<u8> {
    let history = "> earlier: thanks for the samples, the cartons arrived in good order\r\n"
        .repeat(pad / 70 + usize::from(pad > 0));
    message(
        "Buyer <buyer@lagostrade.example>",
        "alice@sinoexport.example",
        &format!("Order {i}"),
        &format!("bulk-{i}@lagostrade.example"),
        &date_days_ago(days_ago),
        &format!(
            "Message number {i}: please quote 200 cartons, we need them urgently.\r\n\r\n{history}"
        ),
    )
}

#[test]
fn live_mail_arrives_through_idle_and_sigterm_stops_cleanly() {
    let d = Dovecot::start(Options::default());
    let w = Workspace::new(&account(&d, ""));
    let daemon = w.spawn(&["run"]);
    // Both folders connect, finish their first (empty) sync and enter IDLE.
    w.wait_for("both folders synced", Duration::from_secs(15), || {
        w.status().iter().filter(|s| s["mode"] == "idle").count() == 2
    });
    std::thread::sleep(Duration::from_millis(300));

    let mut c = d.client("alice@example.test", "alicepw");
    c.append("INBOX", &customer_mail(1, 0), None);
    // Polling would take a minute (the default interval): within seconds means IDLE. (How
    // fast, in figures, is BENCHMARKS.md's business, not a test's.)
    w.wait_for("the new INBOX message", Duration::from_secs(5), || {
        w.messages().len() == 1
    });
    let m = &w.messages()[0];
    assert_eq!(
        (m["customer"].as_str(), m["direction"].as_str()),
        (Some("C1"), Some("inbound"))
    );
    let shown = w.ok(&["customers", "show", "C1"]);
    assert!(shown.to_lowercase().contains("last inbound"), "{shown}");

    c.append(
        "Sent",
        &message(
            "alice@sinoexport.example",
            "buyer@lagostrade.example",
            "Re: Order 1",
            "reply-1@sinoexport.example",
            &date_days_ago(0),
            "Quotation attached.",
        ),
        None,
    );
    w.wait_for("the new Sent message", Duration::from_secs(5), || {
        w.messages().len() == 2
    });
    assert!(
        w.messages()
            .iter()
            .any(|m| m["key"] == "reply-1@sinoexport.example" && m["direction"] == "outbound")
    );
    c.logout();

    let status = daemon.stop();
    assert!(status.success(), "{status}");
    assert_eq!(w.messages().len(), 2);
}

#[test]
fn a_server_without_idle_is_polled() {
    let d = Dovecot::start(Options {
        no_idle: true,
        ..Options::default()
    });
    let w = Workspace::new(&account(
        &d,
        "poll_interval = \"1s\"\nfolders = [\"INBOX\"]\n",
    ));
    let daemon = w.spawn(&["run"]);
    daemon.expect(
        &["Mailbox connected", "INBOX", "poll"],
        Duration::from_secs(15),
    );
    std::thread::sleep(Duration::from_millis(300));
    let mut c = d.client("alice@example.test", "alicepw");
    c.append("INBOX", &customer_mail(1, 0), None);
    c.logout();
    w.wait_for("the polled message", Duration::from_secs(6), || {
        w.messages().len() == 1
    });
    assert_eq!(w.status()[0]["mode"], "poll");
    assert!(daemon.stop().success());
}

#[test]
fn a_new_uidvalidity_resyncs_the_folder_without_duplicates() {
    let mut d = Dovecot::start(Options::default());
    d.drop_messages(
        "alice@example.test",
        "INBOX",
        &(0..30)
            .map(|i| {
                (
                    (chrono::Utc::now().timestamp() - 86_400),
                    customer_mail(i, 1),
                )
            })
            .collect::<Vec<_>>(),
    );
    let w = Workspace::new(&account(&d, "folders = [\"INBOX\"]\n"));
    w.ok(&["sync", "--once"]);
    assert_eq!(w.messages().len(), 30);
    let before = w.status()[0]["uid_validity"].as_i64().unwrap();

    d.stop();
    d.reset_uids("alice@example.test", "INBOX");
    // UIDVALIDITY is a timestamp in Dovecot: make sure the new one differs.
    std::thread::sleep(Duration::from_millis(1100));
    d.restart();
    let out = w.ok(&["sync", "--once"]);
    assert!(out.contains("fetched 30, ingested 0"), "{out}");
    let status = w.status();
    assert_ne!(status[0]["uid_validity"].as_i64().unwrap(), before);
    assert_eq!(w.messages().len(), 30, "no duplicates");
    assert_eq!(w.count("message"), 30);
}

#[test]
fn a_server_restart_in_the_middle_of_a_backfill_loses_and_duplicates_nothing() {
    let mut d = Dovecot::start(Options::default());
    let now = chrono::Utc::now().timestamp();
    let mail: Vec<(i64, Vec<u8>)> = (0..3000)
        .map(|i| (now - 3600, padded_mail(i, 0, 40_000)))
        .collect();
    d.drop_messages("alice@example.test", "INBOX", &mail);
    let w = Workspace::new(&account(&d, "folders = [\"INBOX\"]\n"));
    let daemon = w.spawn(&["run"]);
    // Wait until the backfill is under way, then restart the server under it.
    w.wait_for("the backfill to start", Duration::from_secs(20), || {
        let n = w.count("message");
        n > 0 && n < 3000
    });
    d.restart();
    w.wait_for("every message", Duration::from_secs(60), || {
        w.count("message") == 3000
    });
    daemon.expect(&["Mailbox sync failed"], Duration::from_secs(1));
    w.wait_for("a healthy mailbox", Duration::from_secs(20), || {
        w.status()[0]["failures"] == 0
    });
    assert!(daemon.stop().success());
    assert_eq!(w.count("message"), 3000);
    assert_eq!(
        w.count("sighting"),
        3000,
        "one sighting per message, none twice"
    );
}

#[test]
fn sigkill_during_a_backfill_stores_every_message_exactly_once() {
    let d = Dovecot::start(Options::default());
    let now = chrono::Utc::now().timestamp();
    let mail: Vec<(i64, Vec<u8>)> = (0..5000)
        .map(|i| (now - 7200, padded_mail(i, 0, 12_000)))
        .collect();
    d.drop_messages("alice@example.test", "INBOX", &mail);
    let w = Workspace::new(&account(&d, "folders = [\"INBOX\"]\n"));
    let mut kills = 0;
    // Kill at several points of the backfill: after the first chunk, a third of the way and
    // two thirds of the way.
    for target in [1, 1700, 3400] {
        let mut run = w.spawn(&["sync", "--once"]);
        let start = Instant::now();
        loop {
            let n = w.count("message");
            if n >= target || start.elapsed() > Duration::from_secs(60) {
                break;
            }
            if let Ok(Some(_)) = run.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if run.child.try_wait().unwrap().is_none() {
            run.signal("-KILL");
            let _ = run.child.wait();
            kills += 1;
        }
        let n = w.count("message");
        assert!(n <= 5000, "{n}");
    }
    assert!(
        kills >= 2,
        "the backfill finished before it could be killed"
    );
    let out = w.ok(&["sync", "--once"]);
    assert!(out.contains("synced"), "{out}");
    assert_eq!(w.count("message"), 5000);
    assert_eq!(w.count("sighting"), 5000);
    let status = w.status();
    assert_eq!(status[0]["backfilling"], false);
    assert_eq!(status[0]["behind"], 0);
}

#[test]
fn tls_implicit_and_starttls_against_a_test_ca() {
    let d = Dovecot::start(Options {
        tls: true,
        ..Options::default()
    });
    let mut c = d.client("alice@example.test", "alicepw");
    c.append("INBOX", &customer_mail(1, 0), None);
    c.logout();
    let ca = toml_path(&d.ca_file());
    let implicit = format!(
        "[[imap]]\nname = \"alice\"\nhost = \"localhost\"\nport = {}\ntls = \"implicit\"\nca_file = {ca}\nusername = \"alice@example.test\"\npassword_env = \"ALICE_PW\"\nfolders = [\"INBOX\"]\n",
        d.tls_port
    );
    let w = Workspace::new(&implicit);
    let out = w.ok(&["sync", "--once"]);
    assert!(out.contains("alice/INBOX: fetched 1"), "{out}");

    let starttls = format!(
        "[[imap]]\nname = \"alice\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"starttls\"\nca_file = {ca}\nusername = \"alice@example.test\"\npassword_env = \"ALICE_PW\"\nfolders = [\"INBOX\"]\n",
        d.port
    );
    let w = Workspace::new(&starttls);
    let out = w.ok(&["sync", "--once"]);
    assert!(out.contains("alice/INBOX: fetched 1"), "{out}");

    // Without the test CA the server's certificate is not trusted.
    let untrusted = implicit.replace(&format!("ca_file = {ca}\n"), "");
    let w = Workspace::new(&untrusted);
    let out = w.run(&["sync", "--once"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("TLS") && err.to_lowercase().contains("certificate"),
        "{err}"
    );
    assert_eq!(w.messages().len(), 0);
}

#[test]
fn xoauth2_tokens_are_refreshed_when_they_expire() {
    let tokens = TokenServer::start(2, "alice@example.test");
    let d = Dovecot::start(Options {
        oauth_introspection_port: Some(tokens.port),
        ..Options::default()
    });
    let mut c = d.client("alice@example.test", "alicepw");
    c.append("INBOX", &customer_mail(1, 0), None);
    c.logout();
    let oauth = format!(
        "[[imap]]\nname = \"alice\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nusername = \"alice@example.test\"\nfolders = [\"INBOX\"]\n[imap.oauth2]\ntoken_url = \"http://127.0.0.1:{}/token\"\nclient_id = \"keepwarm-test\"\nrefresh_token_env = \"KW_REFRESH\"\n",
        d.port, tokens.port
    );
    let w = Workspace::new(&oauth);
    // The daemon: a token for the discovery connection and the folder connection.
    let daemon = w.spawn(&["run"]);
    daemon.expect(&["Mailbox connected", "INBOX"], Duration::from_secs(15));
    w.wait_for("the first message", Duration::from_secs(10), || {
        w.messages().len() == 1
    });
    let issued = tokens.issued();
    assert!(issued >= 1);
    // The token expires; a new connection (the server drops ours) needs a fresh one.
    std::thread::sleep(Duration::from_secs(3));
    d.kick("alice@example.test");
    let mut c = d.client("alice@example.test", "alicepw");
    c.append("INBOX", &customer_mail(2, 0), None);
    c.logout();
    w.wait_for(
        "the message after the reconnect",
        Duration::from_secs(20),
        || w.messages().len() == 2,
    );
    assert!(tokens.issued() > issued, "no new token was fetched");
    assert!(d.log().contains("method=XOAUTH2"), "{}", d.log());
    assert!(daemon.stop().success());

    // A revoked refresh token: a clear error, nothing stored.
    let w = Workspace::new(&oauth.replace("KW_REFRESH", "WRONG_PW"));
    let out = w.run(&["sync", "--once"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid_grant") && err.contains("OAuth2"),
        "{err}"
    );
}

#[test]
fn a_wrong_password_is_reported_and_retried_slowly() {
    let d = Dovecot::start(Options::default());
    let w = Workspace::new(&account(&d, "").replace("ALICE_PW", "WRONG_PW"));
    let out = w.run(&["sync", "--once"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("authentication failed") && err.contains("alice@example.test"),
        "{err}"
    );
    assert!(
        !err.contains("not-the-password"),
        "the password must never be shown: {err}"
    );

    let daemon = w.spawn(&["run"]);
    let line = daemon.expect(&["login refused"], Duration::from_secs(10));
    assert!(line.contains("retry_secs=600"), "{line}");
    std::thread::sleep(Duration::from_secs(3));
    let status = w.status();
    let row = status.iter().find(|s| s["folder"] == "*").unwrap();
    assert_eq!(
        row["failures"], 2,
        "one failed sync --once, one failed start: {status:#?}"
    );
    assert!(
        row["last_error"]
            .as_str()
            .unwrap()
            .contains("authentication failed")
    );
    let attempts = d.log().matches("auth failed").count()
        + d.log().matches("Authentication failed").count()
        + d.log().matches("auth_failed").count();
    assert!(
        attempts <= 3,
        "hammered the server: {attempts} failed logins\n{}",
        d.log()
    );
    assert!(
        !daemon
            .log
            .lock()
            .unwrap()
            .join("\n")
            .contains("not-the-password")
    );
    assert!(daemon.stop().success());
}

/// A mail with extra header lines above the rest.
fn with_headers(headers: &str, from: &str, to: &str, id: &str, days: i64) -> Vec<u8> {
    let mut raw = headers.replace('\n', "\r\n").into_bytes();
    raw.extend(message(
        from,
        to,
        "Checking in",
        id,
        &date_days_ago(days),
        "Checking in about your next order.",
    ));
    raw
}

#[test]
fn a_team_from_in_an_inbox_counts_only_when_the_receiving_server_proves_it() {
    let d = Dovecot::start(Options::default());
    let w = Workspace::new(&format!(
        "[[reps]]\nid = \"bob\"\nemails = [\"bob@sinoexport.example\"]\n{}",
        account(&d, "")
    ));
    std::fs::write(
        w.path("pool.csv"),
        "id,name,group,tier,owner,emails,domains,phones,country\nP1,Perth Lighting,,one-time,,orders@perthlighting.example,,,AU\n",
    )
    .unwrap();
    w.ok(&["customers", "import", "pool.csv"]);
    let before = w.ok(&["customers", "show", "C1", "--format", "json"]);
    let mut c = d.client("alice@example.test", "alicepw");
    // An outsider writes "from bob" to the pool customer and to alice's customer, Alice in Cc.
    for (id, to) in [
        ("spoof-1@attacker.example", "orders@perthlighting.example"),
        ("spoof-2@attacker.example", "buyer@lagostrade.example"),
    ] {
        let raw = with_headers(
            "Received: from mail.attacker.example (mail.attacker.example [198.51.100.7]) by mx.sinoexport.example with ESMTP id Z1; Mon, 7 Dec 2026 10:00:00 +0000\n\
             Received: from [10.0.0.5] (Authenticated sender: bob) by mail.sinoexport.example with ESMTPSA id F; Mon, 7 Dec 2026 09:59:00 +0000\n\
             Authentication-Results: mx.sinoexport.example; dkim=none; spf=fail smtp.mailfrom=sinoexport.example; dmarc=fail header.from=sinoexport.example\n\
             Cc: alice@sinoexport.example\n",
            "Bob <bob@sinoexport.example>",
            to,
            id,
            0,
        );
        c.append("INBOX", &raw, None);
    }
    c.logout();
    w.ok(&["sync", "--once"]);
    let msgs = w.messages();
    for id in ["spoof-1@attacker.example", "spoof-2@attacker.example"] {
        let m = msgs.iter().find(|m| m["key"] == id).unwrap();
        assert_eq!(m["class"], "spoof", "{m:#}");
        assert_eq!(m["counts_as_contact"], false);
        assert_eq!(m["properties"][0], "spoof");
    }
    // No claim, no conflict, no timer moved.
    let p1: serde_json::Value =
        serde_json::from_str(&w.ok(&["customers", "show", "P1", "--format", "json"])).unwrap();
    assert_eq!(p1["owner"], serde_json::Value::Null);
    assert_eq!(
        w.ok(&["customers", "show", "C1", "--format", "json"]),
        before
    );
    let events = w.ok(&["outbox", "list", "--format", "jsonl"]);
    assert!(
        !events.contains("customer.claimed") && !events.contains("customer.conflict"),
        "{events}"
    );

    // Bob really writing, proven by the receiving server's DMARC result or by a submission to
    // our own server: ours, so the pool customer is claimed and Alice's customer conflicted.
    let mut c = d.client("alice@example.test", "alicepw");
    c.append(
        "INBOX",
        &with_headers(
            "Authentication-Results: mx.sinoexport.example; dkim=pass header.d=sinoexport.example; dmarc=pass header.from=sinoexport.example\n\
             Cc: alice@sinoexport.example\n",
            "Bob <bob@sinoexport.example>",
            "orders@perthlighting.example",
            "real-1@sinoexport.example",
            0,
        ),
        None,
    );
    c.append(
        "INBOX",
        &with_headers(
            "Received: from mail.sinoexport.example by mail.sinoexport.example with LMTP id L; Mon, 7 Dec 2026 10:00:01 +0000\n\
             Received: from [203.0.113.9] (unknown [203.0.113.9]) (Authenticated sender: bob) by mail.sinoexport.example (Postfix) with ESMTPSA id Q; Mon, 7 Dec 2026 10:00:00 +0000\n\
             Cc: alice@sinoexport.example\n",
            "Bob <bob@sinoexport.example>",
            "buyer@lagostrade.example",
            "real-2@sinoexport.example",
            0,
        ),
        None,
    );
    // What Alice sent is in her Sent folder: trusted as it is.
    c.append(
        "Sent",
        &message(
            "Alice <alice@sinoexport.example>",
            "compras@andes.example",
            "Oferta",
            "sent-1@sinoexport.example",
            &date_days_ago(0),
            "Adjunto la oferta.",
        ),
        None,
    );
    c.logout();
    w.ok(&["sync", "--once"]);
    let msgs = w.messages();
    for id in [
        "real-1@sinoexport.example",
        "real-2@sinoexport.example",
        "sent-1@sinoexport.example",
    ] {
        let m = msgs.iter().find(|m| m["key"] == id).unwrap();
        assert_eq!(m["class"], "human", "{m:#}");
        assert_eq!(m["direction"], "outbound", "{m:#}");
        assert_eq!(m["counts_as_contact"], true);
    }
    let p1: serde_json::Value =
        serde_json::from_str(&w.ok(&["customers", "show", "P1", "--format", "json"])).unwrap();
    assert_eq!(p1["owner"], "bob");
    let events = w.ok(&["outbox", "list", "--format", "jsonl"]);
    assert!(events.contains("customer.conflict"), "{events}");

    // An archive the operator imports is trusted; asked to, it is checked like a mailbox.
    let dir = w.path("archive");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::write(
        dir.join("cur/1.a:2,S"),
        with_headers(
            "",
            "bob@sinoexport.example",
            "compras@andes.example",
            "arch-1@x.example",
            1,
        ),
    )
    .unwrap();
    let w2 = Workspace::new("[[reps]]\nid = \"bob\"\nemails = [\"bob@sinoexport.example\"]\n");
    w2.ok(&["ingest", "maildir", dir.to_str().unwrap()]);
    assert_eq!(w2.messages()[0]["class"], "human");
    let w3 = Workspace::new("[[reps]]\nid = \"bob\"\nemails = [\"bob@sinoexport.example\"]\n");
    w3.ok(&[
        "ingest",
        "maildir",
        dir.to_str().unwrap(),
        "--verify-senders",
    ]);
    assert_eq!(w3.messages()[0]["class"], "spoof");
    // The same mail from Bob's Sent folder: it was his after all. It becomes outbound contact.
    let sent = w.path("bob-sent/.Sent");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(sent.join(sub)).unwrap();
    }
    std::fs::create_dir_all(w.path("bob-sent/cur")).unwrap();
    std::fs::copy(dir.join("cur/1.a:2,S"), sent.join("cur/1.a:2,S")).unwrap();
    w3.ok(&[
        "ingest",
        "maildir",
        w.path("bob-sent").to_str().unwrap(),
        "--verify-senders",
    ]);
    let m = &w3.messages()[0];
    assert_eq!(m["class"], "human", "{m:#}");
    assert_eq!(m["direction"], "outbound", "{m:#}");
    assert_eq!(m["customer"], "C2");
    let c2: serde_json::Value =
        serde_json::from_str(&w3.ok(&["customers", "show", "C2", "--format", "json"])).unwrap();
    assert!(c2["last_outbound_at"].is_i64(), "{c2:#}");
}

#[test]
fn a_rotated_refresh_token_is_kept_sealed_and_used_after_a_restart() {
    // The endpoint rotates refresh tokens and revokes the used one; it also names an absurd
    // lifetime, which must not overflow the token cache.
    let tokens = TokenServer::start_rotating(u64::MAX, "alice@example.test");
    let d = Dovecot::start(Options {
        oauth_introspection_port: Some(tokens.port),
        ..Options::default()
    });
    let mut c = d.client("alice@example.test", "alicepw");
    c.append("INBOX", &customer_mail(1, 0), None);
    c.logout();
    let w = Workspace::new(&format!(
        "[[imap]]\nname = \"alice\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nusername = \"alice@example.test\"\nfolders = [\"INBOX\"]\n[imap.oauth2]\ntoken_url = \"http://127.0.0.1:{}/token\"\nclient_id = \"keepwarm-test\"\nrefresh_token_env = \"KW_REFRESH\"\n",
        d.port, tokens.port
    ));
    // Each run is a new process starting from the configured refresh-1, long revoked after
    // the first: only the stored, rotated token lets the second and third log in.
    for round in 1..=3 {
        let mut c = d.client("alice@example.test", "alicepw");
        c.append("INBOX", &customer_mail(round + 1, 0), None);
        c.logout();
        let out = w.run(&["sync", "--once"]);
        assert!(
            out.status.success(),
            "round {round}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(w.messages().len(), 4);
    assert_eq!(tokens.issued(), 3);
    let stored = w.column("SELECT value FROM setting WHERE key = 'oauth2:alice'");
    assert_eq!(stored.len(), 1);
    assert!(
        !stored[0].contains("refresh-"),
        "stored in clear: {}",
        stored[0]
    );

    // A new refresh token in the config wins over the stored chain (here a wrong one: it is
    // tried, and refused, rather than the stored token being used behind the operator's back).
    let out = w
        .command(&["sync", "--once"])
        .env("KW_REFRESH", "refresh-other")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid_grant"));
}

#[test]
fn a_message_the_server_lists_but_does_not_return_is_recorded_not_skipped() {
    let d = Dovecot::start(Options::default());
    let mut c = d.client("alice@example.test", "alicepw");
    for i in 1..=3 {
        c.append("INBOX", &customer_mail(i, 0), None);
    }
    c.logout();
    let proxy = common::HidingProxy::start(d.port, 2);
    let w = Workspace::new(&account(&d, "folders = [\"INBOX\"]\n").replace(
        &format!("port = {}", d.port),
        &format!("port = {}", proxy.port),
    ));
    let out = w.ok(&["sync", "--once"]);
    assert!(out.contains("alice/INBOX: fetched 3"), "{out}");
    assert_eq!(w.messages().len(), 2);
    let failures: Vec<serde_json::Value> =
        serde_json::from_str(&w.ok(&["failures", "--format", "json"])).unwrap();
    assert_eq!(failures.len(), 1, "{failures:#?}");
    assert!(failures[0]["source_key"].as_str().unwrap().ends_with("/2"));
    assert!(
        failures[0]["reason"]
            .as_str()
            .unwrap()
            .contains("returned nothing for UID 2"),
        "{failures:#?}"
    );
    // The folder is done and healthy: the checkpoint moved past it.
    assert!(
        w.status()
            .iter()
            .all(|s| s["failures"] == 0 && s["behind"] == 0)
    );
}
