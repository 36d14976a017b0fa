//! One bad input never stops the others: oversized identifiers, NUL characters and rows the
//! database refuses, through `ingest maildir`, a real Dovecot and the HTTP endpoints, on SQLite
//! and PostgreSQL.

mod common;

use std::time::Duration;

use common::dovecot::{Dovecot, Options, message};
use common::{Workspace, http};
use hmac::{Hmac, Mac};
use sha2::Sha256;

fn date_days_ago(days: i64) -> String {
    let t = chrono::Utc::now() - chrono::Duration::days(days);
    t.format("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

fn buyer_mail(id: &str, body: &str) -> Vec<u8> {
    message(
        "Buyer <buyer@lagostrade.example>",
        "alice@sinoexport.example",
        "Order",
        id,
        &date_days_ago(2),
        body,
    )
}

fn failures(w: &Workspace) -> Vec<serde_json::Value> {
    serde_json::from_str(&w.ok(&["failures", "--format", "json"])).unwrap()
}

fn write_maildir(w: &Workspace, mails: &[(&str, Vec<u8>)]) -> std::path::PathBuf {
    let dir = w.path("maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    for (name, raw) in mails {
        std::fs::write(dir.join("cur").join(format!("{name}:2,S")), raw).unwrap();
    }
    dir
}

#[test]
fn a_huge_message_id_and_nul_characters_do_not_stop_an_import() {
    let w = Workspace::new("");
    let long_id = format!("{}@lagostrade.example", "x".repeat(3000));
    let mut nul = buyer_mail("nul-1@lagostrade.example", "Price list please");
    // NUL bytes in a header and in the body.
    let at = nul.windows(7).position(|w| w == b"Subject").unwrap();
    nul.splice(at + 9..at + 9, b"Or\0der ".iter().copied());
    nul.extend_from_slice(b"more\0text\r\n");
    let dir = write_maildir(
        &w,
        &[
            ("1", buyer_mail("a-1@lagostrade.example", "first")),
            ("2", buyer_mail("a-2@lagostrade.example", "second")),
            (
                "3",
                buyer_mail(&long_id, "the one with a 3000-character id"),
            ),
            ("4", nul),
            ("5", buyer_mail("a-5@lagostrade.example", "fifth")),
            ("6", buyer_mail("a-6@lagostrade.example", "sixth")),
        ],
    );
    let out = w.ok(&["ingest", "maildir", dir.to_str().unwrap()]);
    assert!(out.contains("ingested 6,"), "{out}");
    let keys = w.keys();
    assert_eq!(keys.len(), 6, "{keys:?}");
    // The long Message-ID is stored under a bounded, stable key: a second import finds it.
    let long = keys
        .iter()
        .find(|k| !k.starts_with("a-") && !k.starts_with("nul-"));
    let long = long.expect("the long-id mail is stored");
    assert!(long.len() <= 600, "{long}");
    let out = w.ok(&["ingest", "maildir", dir.to_str().unwrap()]);
    assert!(out.contains("ingested 0,"), "{out}");
    assert!(failures(&w).is_empty());
}

#[test]
fn a_mail_the_database_refuses_is_a_failure_and_the_rest_are_stored() {
    let w = Workspace::new("");
    w.refuse_messages_containing("POISON-PILL");
    let dir = write_maildir(
        &w,
        &[
            ("1", buyer_mail("b-1@lagostrade.example", "first")),
            (
                "2",
                buyer_mail("b-2@lagostrade.example", "a POISON-PILL here"),
            ),
            ("3", buyer_mail("b-3@lagostrade.example", "third")),
        ],
    );
    let out = w.ok(&["ingest", "maildir", dir.to_str().unwrap()]);
    assert!(
        out.contains("ingested 2,") && out.contains("failed 1,"),
        "{out}"
    );
    assert_eq!(
        w.keys(),
        ["b-1@lagostrade.example", "b-3@lagostrade.example"]
    );
    let f = failures(&w);
    assert_eq!(f.len(), 1, "{f:#?}");
    let reason = f[0]["reason"].as_str().unwrap();
    assert!(reason.contains("database refused"), "{reason}");
    assert!(
        f[0]["size"].as_i64().unwrap() > 0,
        "what was prepared is kept"
    );
    // Contact times moved for the stored mail.
    let shown = w.ok(&["customers", "show", "C1", "--format", "json"]);
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert!(shown["last_inbound_at"].is_i64(), "{shown:#}");
    // Again: nothing new, the failure stays one.
    let out = w.ok(&["ingest", "maildir", dir.to_str().unwrap()]);
    assert!(out.contains("ingested 0,"), "{out}");
    assert_eq!(failures(&w).len(), 1);
}

fn imap_account(d: &Dovecot) -> String {
    format!(
        "[[imap]]\nname = \"alice\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nusername = \"alice@example.test\"\npassword_env = \"ALICE_PW\"\nrep = \"alice\"\nbackfill = \"90d\"\nfolders = [\"INBOX\"]\n",
        d.port
    )
}

#[test]
fn a_poison_mail_over_imap_is_a_failure_and_the_mailbox_goes_on() {
    let d = Dovecot::start(Options::default());
    let long_id = format!("{}@lagostrade.example", "y".repeat(3000));
    let mut c = d.client("alice@example.test", "alicepw");
    c.append(
        "INBOX",
        &buyer_mail("c-1@lagostrade.example", "before"),
        None,
    );
    c.append("INBOX", &buyer_mail(&long_id, "long id"), None);
    c.append(
        "INBOX",
        &buyer_mail("c-3@lagostrade.example", "POISON-PILL"),
        None,
    );
    c.append(
        "INBOX",
        &buyer_mail("c-4@lagostrade.example", "after"),
        None,
    );
    c.logout();
    let w = Workspace::new(&imap_account(&d));
    w.refuse_messages_containing("POISON-PILL");
    let out = w.ok(&["sync", "--once"]);
    assert!(out.contains("alice/INBOX: fetched 4"), "{out}");
    let k = w.keys();
    assert_eq!(k.len(), 3, "{k:?}");
    assert!(k.contains(&"c-1@lagostrade.example".to_string()), "{k:?}");
    assert!(k.contains(&"c-4@lagostrade.example".to_string()), "{k:?}");
    let f = failures(&w);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert!(
        f[0]["source_key"].as_str().unwrap().ends_with("/3"),
        "{f:#?}"
    );
    assert!(
        f[0]["reason"]
            .as_str()
            .unwrap()
            .contains("database refused"),
        "{f:#?}"
    );
    let status = w.status();
    assert!(
        status
            .iter()
            .all(|s| s["failures"] == 0 && s["behind"] == 0),
        "{status:#?}"
    );

    // New mail comes in: it is stored; the poison is not fetched again.
    let mut c = d.client("alice@example.test", "alicepw");
    c.append(
        "INBOX",
        &buyer_mail("c-5@lagostrade.example", "later"),
        None,
    );
    c.logout();
    let out = w.ok(&["sync", "--once"]);
    assert!(out.contains("alice/INBOX: fetched 1"), "{out}");
    assert_eq!(w.keys().len(), 4);
    assert_eq!(failures(&w).len(), 1);

    // The daemon too: a poison arriving live does not stop the folder.
    let daemon = w.spawn(&["run"]);
    daemon.expect(&["Mailbox connected"], Duration::from_secs(20));
    let mut c = d.client("alice@example.test", "alicepw");
    c.append(
        "INBOX",
        &buyer_mail("c-6@lagostrade.example", "POISON-PILL again"),
        None,
    );
    c.append("INBOX", &buyer_mail("c-7@lagostrade.example", "fine"), None);
    c.logout();
    w.wait_for(
        "the mail after the live poison",
        Duration::from_secs(30),
        || w.keys().contains(&"c-7@lagostrade.example".to_string()),
    );
    assert_eq!(failures(&w).len(), 2);
    assert!(daemon.stop().success());
    assert!(w.status().iter().all(|s| s["failures"] == 0));
}

const SECRET: &str = "test-app-secret";

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn wa_body(id: &str, text: &str) -> String {
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"8613957400001","phone_number_id":"9"}},"contacts":[{{"profile":{{"name":"Buyer"}},"wa_id":"2348012345678"}}],"messages":[{{"from":"2348012345678","id":"{id}","timestamp":"1780000000","type":"text","text":{{"body":"{text}"}}}}]}}}}]}}]}}"#
    )
}

fn bridge(port: u16, body: &serde_json::Value) -> (u16, String) {
    http(
        port,
        "POST",
        "/api/v1/messages",
        &[
            ("Authorization", "Bearer tok-1"),
            ("Content-Type", "application/json"),
        ],
        body.to_string().as_bytes(),
    )
}

#[test]
fn bad_bridge_messages_are_refused_and_a_refused_row_fails_only_its_delivery() {
    let port = common::free_port();
    let w = Workspace::new(&format!(
        "whatsapp = [\"+8613957400001\"]\n[http]\nlisten = \"127.0.0.1:{port}\"\n\
         [whatsapp]\napp_secret_env = \"WA_SECRET\"\n[api]\ntokens_env = \"KW_API_TOKENS\"\n"
    ));
    w.refuse_messages_containing("POISON-PILL");
    let daemon = w.spawn(&["run"]);
    daemon.expect(&["HTTP server listening"], Duration::from_secs(15));
    let msg = |ext: &str, rep: Option<&str>, text: &str| {
        serde_json::json!({"channel": "telegram", "external_id": ext, "direction": "inbound",
            "customer": "+2348012345678", "rep": rep, "text": text, "timestamp": 1780000000})
    };
    // Validation: a NUL in the rep, an unknown rep, a 3 KB id: 422 with a stable code.
    for (body, field) in [
        (msg("t-1", Some("al\u{0}ice"), "hi"), "rep"),
        (msg("t-2", Some("mallory"), "hi"), "rep"),
        (msg(&"9".repeat(3000), Some("alice"), "hi"), "external_id"),
    ] {
        let (code, text) = bridge(port, &body);
        assert_eq!(code, 422, "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["error"]["code"], "invalid-message", "{text}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(field),
            "{text}"
        );
    }
    let mut long_customer = msg("t-3", None, "hi");
    long_customer["customer"] = serde_json::json!("c".repeat(3000));
    assert_eq!(bridge(port, &long_customer).0, 422);
    let (code, _) = bridge(port, &msg("t-ok", Some("alice"), "fine"));
    assert_eq!(code, 200);

    // 100 signed WhatsApp deliveries at once, with poison bridge messages among them: every
    // WhatsApp delivery gets 200, each poison its own error.
    let threads: Vec<_> = (0..110)
        .map(|i| {
            std::thread::spawn(move || {
                if i % 11 == 5 {
                    let body = serde_json::json!({"channel": "telegram", "external_id": format!("p-{i}"),
                        "direction": "inbound", "customer": "+2348012345678", "rep": "alice",
                        "text": "a POISON-PILL", "timestamp": 1780000000});
                    ("poison", bridge(port, &body).0)
                } else {
                    // One WhatsApp message the database refuses: acknowledged (Meta would
                    // retry it for days in vain), kept as a failure.
                    let text = if i == 7 { "POISON-PILL" } else { "hello" };
                    let body = wa_body(&format!("wamid.G{i}"), text);
                    let sig = sign(body.as_bytes());
                    let (code, _) = http(
                        port,
                        "POST",
                        "/webhooks/whatsapp",
                        &[("X-Hub-Signature-256", &sig)],
                        body.as_bytes(),
                    );
                    ("whatsapp", code)
                }
            })
        })
        .collect();
    let results: Vec<(&str, u16)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let wa: Vec<u16> = results
        .iter()
        .filter(|r| r.0 == "whatsapp")
        .map(|r| r.1)
        .collect();
    assert_eq!(wa.len(), 100);
    assert!(wa.iter().all(|c| *c == 200), "{wa:?}");
    assert!(
        results
            .iter()
            .filter(|r| r.0 == "poison")
            .all(|r| r.1 == 422),
        "{results:?}"
    );
    let stored = w.messages();
    assert_eq!(
        stored.iter().filter(|m| m["channel"] == "whatsapp").count(),
        99
    );
    let f = failures(&w);
    assert_eq!(f.len(), 11, "{f:#?}");
    assert!(f.iter().any(|f| f["source_key"] == "wa:wamid.G7"), "{f:#?}");
    drop(daemon);
}

#[test]
fn a_mail_cannot_take_the_place_of_a_chat_message_and_old_keys_are_rewritten() {
    let port = common::free_port();
    let w = Workspace::new(&format!(
        "whatsapp = [\"+8613957400001\"]\n[http]\nlisten = \"127.0.0.1:{port}\"\n\
         [whatsapp]\napp_secret_env = \"WA_SECRET\"\n[api]\ntokens_env = \"KW_API_TOKENS\"\n"
    ));
    // A mail whose Message-ID is a bridge message's id arrives first.
    let dir = write_maildir(
        &w,
        &[
            ("1", buyer_mail("telegram:123", "Hello there")),
            ("2", buyer_mail("d-2@lagostrade.example", "urgent order")),
        ],
    );
    w.ok(&["ingest", "maildir", dir.to_str().unwrap()]);
    let daemon = w.spawn(&["run"]);
    daemon.expect(&["HTTP server listening"], Duration::from_secs(15));
    let body = serde_json::json!({"channel": "telegram", "external_id": "123", "direction": "inbound",
        "customer": "buyer@lagostrade.example", "text": "from telegram", "timestamp": 1780000000});
    assert_eq!(bridge(port, &body).0, 200);
    let wa = wa_body("wamid.K1", "hello on whatsapp");
    let (code, _) = http(
        port,
        "POST",
        "/webhooks/whatsapp",
        &[("X-Hub-Signature-256", &sign(wa.as_bytes()))],
        wa.as_bytes(),
    );
    assert_eq!(code, 200);
    drop(daemon);
    let stored = w.messages();
    let telegram: Vec<_> = stored
        .iter()
        .filter(|m| m["key"] == "telegram:123")
        .collect();
    assert_eq!(telegram.len(), 2, "{stored:#?}");
    assert!(telegram.iter().any(|m| m["channel"] == "email"));
    assert!(telegram.iter().any(|m| m["channel"] == "telegram"));
    assert!(stored.iter().any(|m| m["key"] == "wamid.K1"));
    let mut internal = w.column("SELECT key FROM message ORDER BY key");
    internal.sort();
    assert_eq!(
        internal,
        [
            "email:d-2@lagostrade.example",
            "email:telegram:123",
            "telegram:123",
            "whatsapp:wamid.K1"
        ]
    );

    // A database written before keys had namespaces: put the old keys back and forget the
    // migration; migrating again rewrites messages and every reference.
    w.exec(
        "DELETE FROM message WHERE key = 'telegram:123';
         DELETE FROM sighting WHERE message_key = 'telegram:123';
         UPDATE message SET key = substr(key, 7) WHERE channel = 'email';
         UPDATE sighting SET message_key = substr(message_key, 7) WHERE message_key LIKE 'email:%';
         UPDATE message_tag SET message_key = substr(message_key, 7) WHERE message_key LIKE 'email:%';
         UPDATE customer_tag SET last_message_key = substr(last_message_key, 7) WHERE last_message_key LIKE 'email:%';
         UPDATE message SET key = substr(key, 10) WHERE channel = 'whatsapp';
         UPDATE sighting SET message_key = substr(message_key, 10) WHERE message_key LIKE 'whatsapp:%';
         DELETE FROM _sqlx_migrations WHERE version = 9;",
    );
    assert_eq!(
        w.column("SELECT COUNT(*) FROM customer_tag WHERE last_message_key LIKE 'email:%'"),
        ["0"]
    );
    w.ok(&["migrate"]);
    let mut internal = w.column("SELECT key FROM message ORDER BY key");
    internal.sort();
    assert_eq!(
        internal,
        [
            "email:d-2@lagostrade.example",
            "email:telegram:123",
            "whatsapp:wamid.K1"
        ]
    );
    let mut sightings = w.column("SELECT message_key FROM sighting");
    sightings.sort();
    assert_eq!(sightings, internal);
    assert_eq!(
        w.column("SELECT message_key FROM message_tag"),
        ["email:d-2@lagostrade.example"]
    );
    assert_eq!(
        w.column("SELECT last_message_key FROM customer_tag"),
        ["email:d-2@lagostrade.example"]
    );
    // The customer's tag still shows its message.
    let shown: serde_json::Value =
        serde_json::from_str(&w.ok(&["customers", "show", "C1", "--format", "json"])).unwrap();
    assert_eq!(shown["tags"][0]["message_key"], "d-2@lagostrade.example");
}
