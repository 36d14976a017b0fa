//! The data a team is trusted with: a customer's export and erasure (CLI and REST), the record
//! of who changed an owner or tier and why, and retention of raw content; on SQLite and
//! PostgreSQL.

// Sync test code waits with blocking sleeps (clippy.toml bans them in async code).
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::Duration;

use common::{Workspace, http};
use serde_json::Value;

fn mail(from: &str, to: &str, id: &str, hours_ago: i64, body: &str) -> String {
    let date = chrono::Utc::now() - chrono::Duration::hours(hours_ago);
    format!(
        "From: {from}\nTo: {to}\nSubject: Order\nMessage-ID: <{id}>\nDate: {}\n\n{body}\n",
        date.format("%a, %d %b %Y %H:%M:%S +0000")
    )
}

fn ingest(w: &Workspace, name: &str, mails: &[String]) {
    let dir = w.path(name);
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    for (i, m) in mails.iter().enumerate() {
        std::fs::write(dir.join("cur").join(format!("{i}.eml:2,S")), m).unwrap();
    }
    w.ok(&["ingest", "maildir", dir.to_str().unwrap()]);
}

/// C1 writes (a price complaint: a tag), alice answers, and a stranger writes from an address
/// that later becomes C1's.
fn a_customer_with_history(w: &Workspace) {
    ingest(
        w,
        "m1",
        &[
            mail(
                "buyer@lagostrade.example",
                "alice@sinoexport.example",
                "p1@lagostrade.example",
                5,
                "Your price is too expensive, can you give a discount?",
            ),
            mail(
                "alice@sinoexport.example",
                "buyer@lagostrade.example",
                "p2@sinoexport.example",
                4,
                "Let me check with my manager.",
            ),
            mail(
                "ada.okafor@gmail.com",
                "alice@sinoexport.example",
                "p3@gmail.com",
                3,
                "Hello, this is Ada from Lagos Trading, my private address.",
            ),
            mail(
                "compras@andes.example",
                "alice@sinoexport.example",
                "a1@andes.example",
                2,
                "Necesitamos el catálogo.",
            ),
        ],
    );
    std::fs::write(
        w.path("more.csv"),
        "id,name,group,tier,owner,emails,domains,phones,country\n\
         C1,Lagos Trading Ltd,,repeat,bob,buyer@lagostrade.example;ada.okafor@gmail.com,lagostrade.example,+234 801 234 5678,NG\n",
    )
    .unwrap();
    w.ok(&[
        "customers",
        "import",
        "more.csv",
        "--reason",
        "handover from alice",
    ]);
}

#[test]
fn a_customer_is_exported_whole_and_erased_leaving_only_the_fact() {
    let w = Workspace::new("[[reps]]\nid = \"bob\"\nemails = [\"bob@sinoexport.example\"]\n");
    a_customer_with_history(&w);

    let doc: Value = serde_json::from_str(&w.ok(&["customers", "export", "C1"])).unwrap();
    assert_eq!(doc["customer"]["id"], "C1");
    assert_eq!(doc["customer"]["owner"], "bob");
    let keys: Vec<&str> = doc["message"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["key"].as_str().unwrap())
        .collect();
    // Matched mail both ways, and the mail from the address that became C1's afterwards.
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(keys.iter().any(|k| k.contains("p3@gmail.com")), "{keys:?}");
    assert!(!keys.iter().any(|k| k.contains("andes")));
    assert_eq!(doc["sighting"].as_array().unwrap().len(), 3);
    assert!(
        doc["customer_tag"][0]["tag"] == "price-sensitive",
        "{doc:#}"
    );
    assert!(!doc["message_tag"].as_array().unwrap().is_empty());
    let identities = doc["identity"].as_array().unwrap();
    assert!(
        identities
            .iter()
            .any(|i| i["value"] == "ada.okafor@gmail.com")
    );
    assert!(identities.iter().any(|i| i["value"] == "+2348012345678"));
    // The change of owner is recorded: who (the OS user at the CLI), when, why.
    let changes = doc["customer_change"].as_array().unwrap();
    let owner = changes
        .iter()
        .find(|c| c["field"] == "owner" && c["new_value"] == "bob")
        .expect("the handover is recorded");
    assert_eq!(owner["old_value"], "alice");
    assert_eq!(owner["reason"], "handover from alice");
    assert!(owner["actor"].as_str().unwrap().starts_with("cli:"));
    assert!(!doc["outbox"].as_array().unwrap().is_empty());
    let history: Value =
        serde_json::from_str(&w.ok(&["customers", "history", "C1", "--format", "json"])).unwrap();
    assert!(
        history["changes"].as_array().unwrap().len() >= 3,
        "{history:#}"
    );

    // Erasure needs --yes and a reason.
    assert!(
        !w.run(&["customers", "erase", "C1", "--reason", "GDPR request"])
            .status
            .success()
    );
    let out = w.ok(&[
        "customers",
        "erase",
        "C1",
        "--reason",
        "GDPR request 2026-12",
        "--yes",
    ]);
    assert!(
        out.contains("erased customer C1") && out.contains("3 message"),
        "{out}"
    );
    assert!(!w.run(&["customers", "show", "C1"]).status.success());
    let left = w.messages();
    assert_eq!(left.len(), 1, "{left:#?}");
    assert_eq!(left[0]["customer"], "C2");
    for (table, cond) in [
        ("identity", "customer_id = 'C1'"),
        ("customer_tag", "customer_id = 'C1'"),
        ("customer_change", "customer_id = 'C1'"),
        ("outbox", "customer_id = 'C1'"),
        (
            "sighting",
            "message_key LIKE '%lagostrade%' OR message_key LIKE '%gmail%'",
        ),
        ("message_tag", "message_key LIKE '%lagostrade%'"),
        (
            "message",
            "body LIKE '%Ada%' OR from_addr = 'buyer@lagostrade.example'",
        ),
    ] {
        assert_eq!(w.count(&format!("{table} WHERE {cond}")), 0, "{table}");
    }
    // Only the fact remains: who, why, how many rows; no name, address or text.
    let record = w.column(
        "SELECT customer_id || '|' || actor || '|' || reason || '|' || counts FROM erasure",
    );
    assert_eq!(record.len(), 1);
    assert!(
        record[0].starts_with("C1|cli:") && record[0].contains("GDPR request"),
        "{record:?}"
    );
    for secret in ["Lagos", "lagostrade", "ada", "discount", "234"] {
        assert!(!record[0].contains(secret), "{record:?}");
    }
    // The other customer is untouched.
    assert!(w.run(&["customers", "show", "C2"]).status.success());
    assert!(!w.run(&["customers", "export", "C1"]).status.success());
}

#[test]
fn the_api_exports_erases_and_records_who_changed_what() {
    let port = common::free_port();
    let w = Workspace::new(&format!(
        "[[reps]]\nid = \"bob\"\nemails = [\"bob@sinoexport.example\"]\n\
         [http]\nlisten = \"127.0.0.1:{port}\"\nadmin_listen = \"off\"\n[api]\ntokens_env = \"KW_API_TOKENS\"\n"
    ));
    a_customer_with_history(&w);
    let daemon = w.spawn(&["run"]);
    daemon.expect(&["HTTP server listening"], Duration::from_secs(15));
    let auth = ("Authorization", "Bearer tok-1");
    // An upsert that changes the tier, with a reason.
    let body = serde_json::json!({"name": "Andes Import SA", "tier": "vip", "owner": "alice",
        "emails": ["compras@andes.example"], "domains": ["andes.example"], "country": "PE"});
    let (code, text) = http(
        port,
        "PUT",
        "/api/v1/customers/C2",
        &[
            auth,
            ("Content-Type", "application/json"),
            ("X-Keepwarm-Reason", "signed a frame contract"),
        ],
        body.to_string().as_bytes(),
    );
    assert_eq!(code, 200, "{text}");
    let (code, text) = http(port, "GET", "/api/v1/customers/C2/history", &[auth], b"");
    assert_eq!(code, 200, "{text}");
    let h: Value = serde_json::from_str(&text).unwrap();
    let tier = h["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == "tier" && c["new"] == "vip")
        .expect("the tier change is recorded");
    assert_eq!(tier["old"], "repeat");
    assert_eq!(tier["reason"], "signed a frame contract");
    assert_eq!(tier["via"], "api-upsert");
    let actor = tier["actor"].as_str().unwrap();
    assert!(
        actor.starts_with("api:") && !actor.contains("tok-1"),
        "{actor}"
    );

    let (code, text) = http(port, "GET", "/api/v1/customers/C1/export", &[auth], b"");
    assert_eq!(code, 200);
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["message"].as_array().unwrap().len(), 3);
    // Erasing needs a reason.
    let (code, text) = http(port, "DELETE", "/api/v1/customers/C1", &[auth], b"");
    assert_eq!(code, 422, "{text}");
    assert!(text.contains("reason-required"));
    let (code, text) = http(
        port,
        "DELETE",
        "/api/v1/customers/C1",
        &[auth, ("X-Keepwarm-Reason", "customer asked")],
        b"",
    );
    assert_eq!(code, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["erased"]["message"], 3);
    assert_eq!(
        http(port, "GET", "/api/v1/customers/C1", &[auth], b"").0,
        404
    );
    assert_eq!(
        http(port, "GET", "/api/v1/customers/C1/export", &[auth], b"").0,
        404
    );
    assert_eq!(
        http(
            port,
            "DELETE",
            "/api/v1/customers/C1",
            &[auth, ("X-Keepwarm-Reason", "again")],
            b""
        )
        .0,
        404
    );
}

#[test]
fn raw_content_past_its_retention_is_dropped_and_the_rest_stays() {
    let w = Workspace::new(
        "[retention]\nfailure_raw = \"1s\"\nchat_raw = \"1s\"\nquoted = \"1s\"\nsign_ins = \"1s\"\n",
    );
    // A malformed mail (a failure with its raw content), a WhatsApp message (raw event) and a
    // reply quoting our mail (its whole text kept beside the sender's own words).
    ingest(
        &w,
        "reply",
        &[common::mail(
            "buyer@lagostrade.example",
            "alice@sinoexport.example",
            "reply-1",
            1_780_000_000,
            "Thanks, we agree.\n\nOn Mon, 1 Jun 2026 at 10:00, Alice <alice@sinoexport.example> wrote:\n> Our offer: USD 4.20 per piece.",
        )],
    );
    assert_eq!(
        w.count("message WHERE quoted LIKE '%USD 4.20%' AND body NOT LIKE '%USD 4.20%'"),
        1
    );
    ingest(&w, "bad", &["\u{1}\u{2} not a mail".to_string()]);
    let body = r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"8613957400001","phone_number_id":"9"},"contacts":[{"profile":{"name":"Buyer"},"wa_id":"2348012345678"}],"messages":[{"from":"2348012345678","id":"wamid.R1","timestamp":"1780000000","type":"text","text":{"body":"hello"}}]}}]}]}"#;
    std::fs::write(w.path("wa.json"), body).unwrap();
    w.ok(&["ingest", "whatsapp", "wa.json"]);
    assert_eq!(w.count("failure WHERE raw IS NOT NULL"), 1);
    assert_eq!(w.count("message WHERE raw IS NOT NULL"), 1);
    // A sign-in record, a live board session and one idle for three hours.
    w.exec("INSERT INTO sign_in (login, at, remote, outcome) VALUES ('bo', 1000, '192.0.2.1', 'bad-password')");
    let now = chrono::Utc::now().timestamp_millis();
    w.exec(&format!(
        "INSERT INTO web_session (id_hash, login, csrf, created_at, seen_at, expires_at) VALUES ('live', 'bo', 'c', {now}, {now}, {later}), ('idle', 'bo', 'c', {old}, {old}, {later})",
        old = now - 3 * 3_600_000,
        later = now + 3_600_000,
    ));
    std::thread::sleep(Duration::from_millis(1200));
    let out = w.ok(&["retention"]);
    assert!(
        out.contains("1 failures, 1 chat messages, 1 mails' quoted text, 1 sign-in records"),
        "{out}"
    );
    assert!(out.contains("1 ended board sessions removed"), "{out}");
    assert_eq!(w.count("web_session WHERE id_hash = 'live'"), 1);
    assert_eq!(w.count("sign_in"), 0);
    assert_eq!(
        w.count("message WHERE quoted IS NULL AND body LIKE 'Thanks, we agree.%'"),
        1
    );
    assert_eq!(w.count("failure WHERE raw IS NULL AND size > 0"), 1);
    assert_eq!(w.count("message WHERE raw IS NULL AND body = 'hello'"), 1);
    // Off by default.
    let w = Workspace::new("");
    assert!(w.ok(&["retention"]).contains("raw content is kept"));
}
