//! End-to-end tests of the core commands: the real binary on real files and a real database
//! (SQLite, or PostgreSQL on the PostgreSQL pass).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

mod common;
use common::db::TestDb;

/// The core commands' tests start from a bare workspace (no rep, no customer).
type Env = common::Workspace;

fn dev_corpus() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/dev");
    assert!(
        p.join("labels.jsonl").exists(),
        "the labeled development corpus is missing at {}",
        p.display()
    );
    p
}

/// Counts of one number from the summary line, e.g. "ingested 163".
fn summary_count(summary: &str, what: &str) -> usize {
    let at = summary
        .find(what)
        .unwrap_or_else(|| panic!("{what:?} not in {summary:?}"));
    summary[at + what.len()..]
        .trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn write_mail(dir: &Path, name: &str, text: &str) {
    std::fs::create_dir_all(dir.join("cur")).unwrap();
    std::fs::create_dir_all(dir.join("new")).unwrap();
    std::fs::write(dir.join("cur").join(name), text).unwrap();
}

#[test]
fn dev_corpus_attachment_and_contact_are_exact() {
    let corpus = dev_corpus();
    let env = Env::bare("");
    let out = env.ok(&[
        "customers",
        "import",
        corpus.join("customers.csv").to_str().unwrap(),
    ]);
    assert!(out.contains("43 added"), "{out}");
    let summary = env.ok(&[
        "ingest",
        "maildir",
        corpus.join("maildir").to_str().unwrap(),
    ]);
    assert_eq!(summary_count(&summary, "ingested"), 163, "{summary}");
    assert_eq!(summary_count(&summary, "failed"), 0, "{summary}");

    let got: std::collections::HashMap<String, Value> = env
        .messages()
        .into_iter()
        .map(|m| (m["key"].as_str().unwrap().to_string(), m))
        .collect();
    let labels: Vec<Value> = std::fs::read_to_string(corpus.join("labels.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|l: &Value| l["channel"] == "email")
        .collect();
    assert_eq!(labels.len(), 163);
    let (mut customer_ok, mut contact_ok, mut direction_ok) = (0, 0, 0);
    let mut property_errors = Vec::new();
    for label in &labels {
        let key = label["key"].as_str().unwrap();
        let m = got
            .get(key)
            .unwrap_or_else(|| panic!("message {key} not stored"));
        customer_ok += usize::from(m["customer"] == label["customer"]);
        contact_ok += usize::from(m["counts_as_contact"] == label["counts_as_contact"]);
        direction_ok += usize::from(m["direction"] == label["direction"]);
        for prop in ["auto-reply", "bounce"] {
            let want = label["properties"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p == prop);
            let have = m["properties"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p == prop);
            if want != have {
                property_errors.push(format!("{key}: {prop} want {want} have {have}"));
            }
        }
        if label["direction"] != "inbound" || label["counts_as_contact"] != true {
            assert_eq!(
                m["tags"],
                serde_json::json!([]),
                "{key}: no tags on non-customer text"
            );
        }
    }
    assert_eq!(customer_ok, 163, "customer attachment");
    assert_eq!(contact_ok, 163, "counts_as_contact");
    assert_eq!(direction_ok, 163, "direction");
    assert!(property_errors.is_empty(), "{property_errors:#?}");

    // Idempotent: a second run stores nothing new.
    let again = env.ok(&[
        "ingest",
        "maildir",
        corpus.join("maildir").to_str().unwrap(),
    ]);
    assert_eq!(summary_count(&again, "ingested"), 0, "{again}");
    assert_eq!(summary_count(&again, "duplicates"), 163, "{again}");
    assert_eq!(env.messages().len(), 163);

    // Contact times: C1005's last inbound is its latest human mail, not its auto-reply.
    let c = env.customer("C1005");
    assert!(c["last_inbound_at"].as_i64().is_some());
    let listing = env.ok(&["customers", "list"]);
    assert!(listing.contains("Brightway Lighting Inc."), "{listing}");
    assert!(listing.contains("days ago"), "{listing}");
}

const MAIL_A: &str = "From: Buyer <buyer@acme.example>\nTo: li.wei@sinoexport.example\nSubject: Order\n\
Message-ID: <order-1@acme.example>\nDate: Mon, 08 Jun 2026 10:00:00 +0000\n\nWe want 500 pcs.\n";
const MAIL_B_OLDER: &str = "From: Buyer <buyer@acme.example>\nTo: li.wei@sinoexport.example\nSubject: Earlier\n\
Message-ID: <order-0@acme.example>\nDate: Mon, 01 Jun 2026 10:00:00 +0000\n\nHello.\n";
const MAIL_OUT: &str = "From: Li Wei <li.wei@sinoexport.example>\nTo: Someone <someone@unknown.example>, buyer@acme.example\n\
Subject: PI\nMessage-ID: <pi-1@sinoexport.example>\nDate: Tue, 09 Jun 2026 10:00:00 +0000\n\nPI attached.\n";
const CUSTOMERS: &str = "id,name,group,tier,owner,emails,domains,phones,country\n\
C1,Acme Trading Co.,,vip,li.wei,buyer@acme.example,acme.example,+1 415 555 0100,US\n";

#[test]
fn timers_move_forward_only_and_outbound_matches_recipients() {
    let env = Env::bare("[[reps]]\nid = \"li.wei\"\nemails = [\"li.wei@sinoexport.example\"]\n");
    std::fs::write(env.path("c.csv"), CUSTOMERS).unwrap();
    env.ok(&["customers", "import", "c.csv"]);
    let md = env.path("md1");
    write_mail(&md, "1780912800.A.host:2,S", MAIL_A);
    write_mail(&md, "1781000000.B.host:2,S", MAIL_OUT);
    env.ok(&["ingest", "maildir", "md1"]);
    let c = env.customer("C1");
    assert_eq!(c["last_inbound_at"], 1_780_912_800_000i64);
    assert_eq!(c["last_outbound_at"], 1_780_999_200_000i64);
    assert_eq!(c["last_contact_at"], 1_780_999_200_000i64);

    // An older message arriving later does not move the timers back.
    let md2 = env.path("md2");
    write_mail(&md2, "1782000000.C.host:2,S", MAIL_B_OLDER);
    let out = env.ok(&["ingest", "maildir", "md2"]);
    assert_eq!(summary_count(&out, "ingested"), 1);
    let c = env.customer("C1");
    assert_eq!(c["last_inbound_at"], 1_780_912_800_000i64);

    let msgs = env.messages();
    let out_msg = msgs
        .iter()
        .find(|m| m["key"] == "pi-1@sinoexport.example")
        .unwrap();
    assert_eq!(out_msg["direction"], "outbound");
    assert_eq!(
        out_msg["customer"], "C1",
        "the customer recipient, even when listed second"
    );
    assert_eq!(out_msg["rep"], "li.wei");
    let inbound = msgs
        .iter()
        .find(|m| m["key"] == "order-1@acme.example")
        .unwrap();
    assert_eq!(inbound["match"], "address");
    assert_eq!(inbound["rep"], "li.wei", "rep from the recipient address");
}

#[test]
fn future_dates_are_clamped_and_same_mail_in_two_mailboxes_is_one_message() {
    let env = Env::bare("");
    std::fs::write(env.path("c.csv"), CUSTOMERS).unwrap();
    env.ok(&["customers", "import", "c.csv"]);
    let future = MAIL_A.replace("Mon, 08 Jun 2026", "Fri, 08 Jun 2040");
    // Delivered (file name) at 1781000000 = 2026-06-09T10:13:20Z.
    write_mail(&env.path("inbox"), "1781000000.X.host:2,S", &future);
    write_mail(&env.path("other"), "1781000500.Y.host:2,", &future);
    env.ok(&["ingest", "maildir", "inbox", "--rep", "li.wei"]);
    let out = env.ok(&["ingest", "maildir", "other"]);
    assert_eq!(summary_count(&out, "ingested"), 0, "{out}");
    assert_eq!(
        summary_count(&out, "also seen in another mailbox"),
        1,
        "{out}"
    );
    let c = env.customer("C1");
    assert_eq!(
        c["last_inbound_at"], 1_781_000_000_000i64,
        "clamped to the receive time"
    );
    assert_eq!(env.messages().len(), 1);

    // A flag change renames the file: still the same sighting.
    std::fs::rename(
        env.path("inbox/cur/1781000000.X.host:2,S"),
        env.path("inbox/cur/1781000000.X.host:2,RS"),
    )
    .unwrap();
    let out = env.ok(&["ingest", "maildir", "inbox"]);
    assert_eq!(summary_count(&out, "duplicates"), 1, "{out}");
}

#[test]
fn malformed_mail_is_kept_as_a_failure_and_the_run_goes_on() {
    let env = Env::bare("");
    let md = env.path("md");
    write_mail(&md, "1.bad.host:2,", "\u{0}\u{1}\u{2} binary garbage");
    write_mail(&md, "2.empty.host:2,", "");
    write_mail(&md, "3.good.host:2,", MAIL_A);
    // A readable mail whose text carries NUL characters is stored with U+FFFD in their place
    // (PostgreSQL text cannot hold NUL; SQLite stores the same).
    write_mail(
        &md,
        "4.nul.host:2,",
        "From: Buyer <buyer@acme.example>\nTo: li.wei@sinoexport.example\nSubject: A\u{0}B\n\
         Message-ID: <nul-1@acme.example>\nDate: Mon, 08 Jun 2026 11:00:00 +0000\n\nQty\u{0}500\n",
    );
    let out = env.ok(&["ingest", "maildir", "md"]);
    assert_eq!(summary_count(&out, "ingested"), 2, "{out}");
    assert_eq!(summary_count(&out, "failed"), 2, "{out}");
    assert_eq!(summary_count(&out, "unmatched"), 2, "{out}");
    let nul = env
        .messages()
        .into_iter()
        .find(|m| m["key"] == "nul-1@acme.example")
        .expect("the mail with NUL characters is stored");
    assert_eq!(nul["subject"], "A\u{FFFD}B");
    assert_eq!(
        env.db.count(
            env.dir.path(),
            "message WHERE body LIKE '%Qty\u{FFFD}500%' AND key = 'email:nul-1@acme.example'"
        ),
        1
    );
    let failures = env.ok(&["failures"]);
    assert!(failures.contains("empty message"), "{failures}");
    assert!(failures.contains("2 failures"), "{failures}");
    let unknown = env.ok(&["unknown", "--format", "json"]);
    let unknown: Value = serde_json::from_str(&unknown).unwrap();
    assert_eq!(unknown[0]["address"], "buyer@acme.example");
    assert_eq!(unknown[0]["messages"], 2);
    // Failures are not retried as new on a second run.
    let out = env.ok(&["ingest", "maildir", "md"]);
    assert_eq!(summary_count(&out, "failed"), 0, "{out}");
    assert_eq!(summary_count(&out, "duplicates"), 4, "{out}");
}

#[test]
fn mbox_ingest_streams_every_message() {
    let env = Env::bare("");
    let mbox = format!(
        "From buyer@acme.example Mon Jun  8 10:00:00 2026\n{MAIL_A}\nFrom buyer@acme.example Mon Jun  1 10:00:00 2026\n{MAIL_B_OLDER}"
    );
    std::fs::write(env.path("a.mbox"), mbox).unwrap();
    let out = env.ok(&["ingest", "mbox", "a.mbox"]);
    assert_eq!(summary_count(&out, "ingested"), 2, "{out}");
    let out = env.ok(&["ingest", "mbox", "a.mbox"]);
    assert_eq!(summary_count(&out, "duplicates"), 2, "{out}");
}

#[test]
fn customer_import_reports_bad_rows_and_keeps_good_ones() {
    let env = Env::bare("");
    let csv = "id,name,group,tier,owner,emails,domains,phones,country\n\
               C1,\"Acme Trading Co., Ltd.\",,vip,,a@acme.example,acme.example,,US\n\
               C2,ACME Trading Co. Ltd,,new,,b@acme2.example,,,US\n\
               C3,Broken,,gold,,,,,\n\
               C4,Free,,new,,c@gmail.com,gmail.com,,\n";
    std::fs::write(env.path("c.csv"), csv).unwrap();
    let out = env.run(&["customers", "import", "c.csv"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a rejected row makes a non-zero exit"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("3 added") && stdout.contains("1 rejected"),
        "{stdout}"
    );
    assert!(
        stderr.contains("c.csv:4: error") && stderr.contains("gold"),
        "{stderr}"
    );
    assert!(
        stderr.contains("c.csv:3: warning") && stderr.contains("looks like"),
        "{stderr}"
    );
    assert!(
        stderr.contains("c.csv:5: warning") && stderr.contains("free-mail"),
        "{stderr}"
    );

    // Re-import: an address that left the row is removed; unchanged rows stay unchanged.
    let csv2 = "id,name,group,tier,owner,emails,domains,phones,country\n\
                C1,\"Acme Trading Co., Ltd.\",,vip,,,acme.example,,US\n\
                C2,ACME Trading Co. Ltd,,new,,b@acme2.example,,,US\n";
    std::fs::write(env.path("c2.csv"), csv2).unwrap();
    let out = env.ok(&["customers", "import", "c2.csv"]);
    assert!(
        out.contains("1 updated") && out.contains("1 unchanged"),
        "{out}"
    );
    let c1 = env.customer("C1");
    assert_eq!(c1["emails"], serde_json::json!([]));
    assert_eq!(c1["domains"], serde_json::json!(["acme.example"]));

    // GBK as saved by Chinese Excel.
    let (gbk, _, _) = encoding_rs::GBK.encode("id,name,country\nC9,宁波远航进出口有限公司,CN\n");
    std::fs::write(env.path("gbk.csv"), &gbk).unwrap();
    let out = env.ok(&["customers", "import", "gbk.csv"]);
    assert!(out.contains("GB18030"), "{out}");
    assert_eq!(env.customer("C9")["name"], "宁波远航进出口有限公司");
}

#[test]
fn config_errors_name_the_file_and_key() {
    let env = Env::bare("[ingest]\nbatch_size = 0\n");
    let out = env.run(&["migrate"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("keepwarm.toml") && stderr.contains("ingest.batch_size"),
        "{stderr}"
    );

    std::fs::write(env.path("bad.toml"), "[team]\ndomainz = []\n").unwrap();
    let out = env.run(&["--config", "bad.toml", "migrate"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("bad.toml") && stderr.contains("line 2") && stderr.contains("domainz"),
        "{stderr}"
    );
}

#[test]
fn enumerated_flags_list_their_values_when_wrong() {
    let env = Env::bare("");
    env.ok(&["migrate"]);
    for args in [
        &["followups", "--state", "late"][..],
        &["outbox", "list", "--state", "lost"][..],
    ] {
        let out = env.run(args);
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("possible values"), "{args:?}: {stderr}");
    }
    // The older spelling of a state still works.
    env.ok(&["followups", "--state", "due_soon", "--format", "json"]);
    env.ok(&["outbox", "list", "--state", "dead"]);
}

#[test]
fn runs_on_built_in_defaults_without_a_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_keepwarm"))
        .args(["migrate"])
        .current_dir(dir.path())
        .env_remove("KEEPWARM_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("keepwarm.db").exists());
}

#[test]
fn config_example_imap_block_is_valid_once_uncommented() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text.find("# --- imap example start").unwrap();
    let end = text.find("# --- imap example end").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "pw\n").unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "").unwrap();
    let mut block = String::new();
    for line in text[start..end].lines().skip(1) {
        let line = line.strip_prefix("# ").unwrap_or(line);
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        // Secrets from files here (the environment variables are not set in tests).
        let line = if let Some((key, _)) = line.split_once("_env = ") {
            format!("{key}_file = {:?}", secret.display().to_string())
        } else if line.starts_with("ca_file = ") {
            format!("ca_file = {:?}", ca.display().to_string())
        } else {
            line.to_string()
        };
        block.push_str(&line);
        block.push('\n');
    }
    let config_text =
        format!("[[reps]]\nid = \"zhao.lei\"\nemails = [\"zhao.lei@sinoexport.example\"]\n{block}");
    let config = keepwarm::config::Config::from_toml(&config_text, Path::new("example"))
        .unwrap_or_else(|e| panic!("{e}\n{config_text}"));
    assert_eq!(config.imap.len(), 2);
    assert_eq!(config.imap[0].port(), 993);
    assert!(config.imap[1].oauth2.is_some());
}

#[test]
fn imap_config_problems_are_named() {
    let text = r#"
        [[imap]]
        name = "a"
        host = "mail.example.com"
        tls = "none"
        username = "u"
        password_env = "KEEPWARM_TEST_SURELY_UNSET_VAR"
        rep = "nobody"
        backfill = "soon"
        [[imap]]
        name = "a"
        host = "imap.example.com"
        username = "u"
        [[imap]]
        name = "b"
        host = "imap.example.com"
        username = "u"
        [imap.oauth2]
        provider = "yahoo"
        client_id = "x"
        refresh_token_env = "KEEPWARM_TEST_SURELY_UNSET_VAR"
    "#;
    let err = keepwarm::config::Config::from_toml(text, Path::new("k.toml"))
        .unwrap_err()
        .to_string();
    for want in [
        "imap[0].tls: \"none\" sends the password in clear text",
        "imap[0].rep: no [[reps]] entry has id \"nobody\"",
        "imap[0].backfill",
        "imap[1].name: duplicate account name",
        "imap[1].password_env: no credentials",
        "imap[2].oauth2.provider: unknown provider \"yahoo\"",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    // Secrets are read when a mailbox is opened, and by check-config.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("keepwarm.toml"),
        "[[imap]]\nname = \"a\"\nhost = \"imap.example.com\"\nusername = \"u\"\npassword_env = \"KEEPWARM_TEST_SURELY_UNSET_VAR\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_keepwarm"))
        .args(["check-config"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "imap[0].password_env: environment variable KEEPWARM_TEST_SURELY_UNSET_VAR is not set"
        ),
        "{err}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_keepwarm"))
        .args(["sync", "--once"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("imap account a: environment variable"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn config_example_documents_a_valid_config() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let config = keepwarm::config::Config::from_toml(&text, &path).unwrap();
    assert_eq!(config.team.domains, ["sinoexport.example"]);
    // The example sets every key of the tree (parsing above proves each one is a real key).
    for key in [
        "url",
        "busy_timeout_ms",
        "domains",
        "freemail_domains",
        "batch_size",
        "max_message_bytes",
        "whatsapp",
        "weight",
        "sweep_interval",
        "mailbox_stalled_after",
        "group_rollup",
        "business_days",
        "utc_offset",
        "claim_daily_limit",
        "recent",
        "max_age",
        "verify_senders",
        "authserv_ids",
        "message_budget",
        "admin_listen",
        "max_connections",
        "header_timeout",
        "request_timeout",
        "reject_grace",
        "release_start_after",
        "joined",
        "cap_counts_signed",
        "signed_exempt",
        "weight_from",
    ] {
        assert!(
            text.contains(&format!("\n{key} = ")),
            "config.example.toml lacks {key}"
        );
    }
}

#[test]
#[cfg(unix)]
fn a_new_sqlite_database_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::bare("");
    env.ok(&["migrate"]);
    if let TestDb::Sqlite = env.db {
        let mode = std::fs::metadata(env.path("kw.db"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        for side in ["kw.db-wal", "kw.db-shm"] {
            if let Ok(m) = std::fs::metadata(env.path(side)) {
                assert_eq!(m.permissions().mode() & 0o077, 0, "{side}");
            }
        }
    }
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/keepwarm.service"),
    )
    .unwrap();
    assert!(unit.contains("UMask=0077"));
}

#[test]
fn users_are_added_with_a_role_and_a_hashed_password_read_from_stdin() {
    let w = common::Workspace::new("");
    let add = |args: &[&str], stdin: &str| {
        let mut c = w.command(args);
        c.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = c.spawn().unwrap();
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = add(
        &[
            "users",
            "add",
            "ana",
            "--role",
            "rep",
            "--rep",
            "alice",
            "--password-stdin",
        ],
        "a long enough secret\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Refused with a reason: a taken login, a rep without its [[reps]] id, an unknown rep, a
    // short password, a terminal-less prompt.
    for (args, stdin, why) in [
        (
            vec!["users", "add", "ana", "--role", "manager", "--no-password"],
            "",
            "exists",
        ),
        (
            vec!["users", "add", "bo", "--role", "rep", "--no-password"],
            "",
            "--rep",
        ),
        (
            vec![
                "users",
                "add",
                "bo",
                "--role",
                "rep",
                "--rep",
                "zed",
                "--no-password",
            ],
            "",
            "not a rep",
        ),
        (
            vec![
                "users",
                "add",
                "cy",
                "--role",
                "manager",
                "--password-stdin",
            ],
            "short\n",
            "10 characters",
        ),
        (
            vec!["users", "add", "cy", "--role", "manager"],
            "",
            "--password-stdin",
        ),
        (
            vec!["users", "add", "d y", "--role", "manager", "--no-password"],
            "",
            "login",
        ),
    ] {
        let out = add(&args, stdin);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(why), "{args:?}: {err}");
    }
    let users: Vec<serde_json::Value> =
        serde_json::from_str(&w.ok(&["users", "list", "--format", "json"])).unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(
        (
            users[0]["role"].as_str(),
            users[0]["rep"].as_str(),
            users[0]["has_password"].as_bool()
        ),
        (Some("rep"), Some("alice"), Some(true))
    );
    // The password is stored as an argon2id hash, and nowhere as written.
    let hashes = w.column("SELECT password_hash FROM app_user");
    assert!(hashes[0].starts_with("$argon2id$"), "{hashes:?}");
    assert!(!hashes[0].contains("a long enough secret"));
    let out = add(
        &["users", "passwd", "ana", "--password-stdin"],
        "another long secret\n",
    );
    assert!(out.status.success());
    assert_ne!(w.column("SELECT password_hash FROM app_user"), hashes);
    w.ok(&["users", "disable", "ana"]);
    assert!(w.ok(&["users", "list"]).contains("disabled"));
    // A token for a disabled user is refused; tokens are listed without their secrets.
    let out = w.run(&["tokens", "create", "--user", "ana"]);
    assert_eq!(out.status.code(), Some(1));
    w.ok(&["users", "disable", "ana", "--enable"]);
    let token = w.ok(&["tokens", "create", "--user", "ana", "--read-only"]);
    let secret = token.trim().rsplit('_').next().unwrap().to_string();
    let listed = w.ok(&["tokens", "list", "--format", "json"]);
    assert!(
        listed.contains("\"read_only\": true") && !listed.contains(&secret),
        "{listed}"
    );
}
