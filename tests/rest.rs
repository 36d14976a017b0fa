//! The REST API for CRMs through the real daemon over HTTP: tokens, customers with follow-up
//! state and tags with evidence, pagination, messages, the board, upsert and CSV import, tag
//! feedback (a dismissed tag returns only with newer evidence), and the OpenAPI document
//! matching the routes.

// Sync test code waits with blocking sleeps (clippy.toml bans them in async code).
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::Duration;

use common::{Running, Workspace, http};
use serde_json::Value;

struct Server {
    w: Workspace,
    port: u16,
    _daemon: Running,
}

fn start() -> Server {
    start_with("")
}

/// The daemon with `extra` in its config.
fn start_with(extra: &str) -> Server {
    let port = common::free_port();
    let w = Workspace::new(&format!(
        "[http]\nlisten = \"127.0.0.1:{port}\"\n[api]\ntokens_env = \"KW_API_TOKENS\"\n{extra}"
    ));
    // C1 asks for a discount (price-sensitive); alice answered.
    ingest(
        &w,
        "m1",
        &[
            (
                "buyer@lagostrade.example",
                "alice@sinoexport.example",
                "p1",
                3,
                "Your price is too expensive for us, can you give a discount on 2000 pcs?",
            ),
            (
                "alice@sinoexport.example",
                "buyer@lagostrade.example",
                "p2",
                2,
                "Let me check with my manager.",
            ),
        ],
    );
    let daemon = w.spawn(&["run"]);
    daemon.expect(&["HTTP server listening"], Duration::from_secs(15));
    Server {
        w,
        port,
        _daemon: daemon,
    }
}

fn ingest(w: &Workspace, name: &str, mails: &[(&str, &str, &str, i64, &str)]) {
    let dir = w.path(name);
    std::fs::create_dir_all(dir.join("cur")).unwrap();
    std::fs::create_dir_all(dir.join("new")).unwrap();
    for (from, to, id, days_ago, body) in mails {
        let date = chrono::Utc::now() - chrono::Duration::days(*days_ago);
        std::fs::write(
            dir.join("cur").join(format!("{id}.eml:2,S")),
            format!(
                "From: {from}\nTo: {to}\nSubject: Order\nMessage-ID: <{id}>\nDate: {}\n\n{body}\n",
                date.format("%a, %d %b %Y %H:%M:%S +0000")
            ),
        )
        .unwrap();
    }
    w.ok(&["ingest", "maildir", dir.to_str().unwrap()]);
}

const AUTH: (&str, &str) = ("Authorization", "Bearer tok-2");

fn get(s: &Server, path: &str) -> (u16, Value) {
    let (status, body) = http(s.port, "GET", path, &[AUTH], b"");
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn send(s: &Server, method: &str, path: &str, ctype: &str, body: &str) -> (u16, Value) {
    let (status, text) = http(
        s.port,
        method,
        path,
        &[AUTH, ("Content-Type", ctype)],
        body.as_bytes(),
    );
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/v1/customers"),
    ("POST", "/api/v1/customers/import"),
    ("GET", "/api/v1/customers/C1"),
    ("PUT", "/api/v1/customers/C1"),
    ("DELETE", "/api/v1/customers/C1"),
    ("GET", "/api/v1/customers/C1/export"),
    ("GET", "/api/v1/customers/C1/history"),
    ("GET", "/api/v1/customers/C1/messages"),
    ("PUT", "/api/v1/customers/C1/tags/price-sensitive"),
    ("GET", "/api/v1/followups"),
    ("GET", "/api/v1/unknown"),
    ("GET", "/api/v1/leads"),
    ("GET", "/api/v1/mailboxes"),
    ("POST", "/api/v1/messages"),
    ("POST", "/api/v1/customers/C1/claim"),
    ("POST", "/api/v1/customers/C1/release"),
    ("POST", "/api/v1/customers/C1/assign"),
    ("PUT", "/api/v1/customers/C1/protection"),
    ("PUT", "/api/v1/customers/C1/stage"),
    ("GET", "/api/v1/pool"),
    ("GET", "/api/v1/review"),
];

#[test]
fn without_the_right_token_every_route_is_401_and_says_nothing() {
    let s = start();
    for (method, path) in ROUTES {
        for headers in [
            vec![],
            vec![("Authorization", "Bearer nope")],
            vec![("Authorization", "tok-1")],
        ] {
            let (status, body) = http(s.port, method, path, &headers, b"{}");
            assert_eq!(status, 401, "{method} {path} {headers:?}");
            assert!(
                !body.contains("Lagos") && !body.contains("lagostrade"),
                "{body}"
            );
            let v: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["error"]["code"], "unauthorized");
        }
    }
}

#[test]
fn customers_board_messages_and_pages() {
    let s = start();
    let (status, page) = get(&s, "/api/v1/customers");
    assert_eq!(status, 200);
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let c1 = &items[0];
    assert_eq!(c1["id"], "C1");
    assert_eq!(c1["owner"], "alice");
    assert!(c1["last_inbound_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(c1["followup"]["state"], "ok");
    // We answered last: the second follow-up is what is due next.
    assert_eq!(c1["followup"]["reason"], "second follow-up");
    let tag = &c1["tags"][0];
    assert_eq!(tag["tag"], "price-sensitive");
    assert!(tag["evidence"].as_str().unwrap().contains("too expensive"));
    assert!(!tag["next_step"].as_str().unwrap().is_empty());
    assert_eq!(page["next_cursor"], Value::Null);
    // Next steps in the reader's language: `?lang=`, else the team's.
    let (_, zh) = get(&s, "/api/v1/customers/C1?lang=zh");
    assert!(
        zh["tags"][0]["next_step"]
            .as_str()
            .unwrap()
            .contains("阶梯价"),
        "{zh}"
    );
    let (_, all) = get(&s, "/api/v1/customers?lang=es");
    assert!(
        all["items"][0]["tags"][0]["next_step"]
            .as_str()
            .unwrap()
            .contains("volumen")
    );
    let (status, bad) = get(&s, "/api/v1/customers/C1?lang=e1");
    assert_eq!(
        (status, bad["error"]["code"].as_str()),
        (400, Some("bad-lang"))
    );

    // One per page: C1, then C2, then the end.
    let (_, p1) = get(&s, "/api/v1/customers?limit=1");
    assert_eq!(p1["items"][0]["id"], "C1");
    let cursor = p1["next_cursor"].as_str().unwrap().to_string();
    let (_, p2) = get(&s, &format!("/api/v1/customers?limit=1&cursor={cursor}"));
    assert_eq!(p2["items"][0]["id"], "C2");
    let (_, p3) = get(
        &s,
        &format!(
            "/api/v1/customers?limit=1&cursor={}",
            p2["next_cursor"].as_str().unwrap()
        ),
    );
    assert_eq!(p3["items"].as_array().unwrap().len(), 0);
    assert_eq!(p3["next_cursor"], Value::Null);
    assert_eq!(get(&s, "/api/v1/customers?limit=0").0, 400);
    assert_eq!(get(&s, "/api/v1/customers?state=late").0, 400);

    let (status, c) = get(&s, "/api/v1/customers/C1");
    assert_eq!(status, 200);
    assert_eq!(c["emails"][0], "buyer@lagostrade.example");
    assert_eq!(c["messages"]["inbound"], 1);
    assert_eq!(get(&s, "/api/v1/customers/NOPE").0, 404);

    let (_, m) = get(&s, "/api/v1/customers/C1/messages?limit=1");
    assert_eq!(m["items"][0]["key"], "p1");
    assert_eq!(m["items"][0]["direction"], "inbound");
    let (_, m2) = get(
        &s,
        &format!(
            "/api/v1/customers/C1/messages?limit=1&cursor={}",
            m["next_cursor"].as_str().unwrap()
        ),
    );
    assert_eq!(m2["items"][0]["key"], "p2");

    // The board, earliest deadline first; filters.
    let (_, b) = get(&s, "/api/v1/followups?owner=alice");
    let ids: Vec<&str> = b["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["C1", "C2"],
        "C1's follow-up (5 days) comes before C2's tier timer"
    );
    let soon = (chrono::Utc::now() + chrono::Duration::days(6))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (_, b) = get(&s, &format!("/api/v1/followups?due_before={soon}"));
    assert_eq!(b["items"].as_array().unwrap().len(), 1);
    let (_, b) = get(&s, "/api/v1/followups?owner=bob");
    assert_eq!(b["items"].as_array().unwrap().len(), 0);
    let (_, b) = get(&s, "/api/v1/followups?limit=1");
    let (_, b2) = get(
        &s,
        &format!(
            "/api/v1/followups?limit=1&cursor={}",
            b["next_cursor"].as_str().unwrap()
        ),
    );
    assert_eq!(b2["items"][0]["id"], "C2");

    for path in ["/api/v1/unknown", "/api/v1/leads", "/api/v1/mailboxes"] {
        let (status, v) = get(&s, path);
        assert_eq!(status, 200, "{path}");
        assert!(v["items"].is_array());
    }
}

#[test]
fn upsert_import_and_tag_feedback() {
    let s = start();
    let (status, v) = send(
        &s,
        "PUT",
        "/api/v1/customers/C9",
        "application/json",
        r#"{"name": "Nairobi Lamps", "tier": "high-potential", "owner": "alice", "emails": ["jo@nairobilamps.example"], "country": "KE"}"#,
    );
    assert_eq!((status, v["added"].as_i64()), (200, Some(1)), "{v}");
    let (_, c) = get(&s, "/api/v1/customers/C9");
    assert_eq!(c["tier"], "high-potential");
    let (status, v) = send(
        &s,
        "PUT",
        "/api/v1/customers/C9",
        "application/json",
        r#"{"name": "Nairobi Lamps", "tier": "vip", "emails": ["not an address"]}"#,
    );
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["error"]["code"], "invalid-customer");
    assert_eq!(
        send(
            &s,
            "PUT",
            "/api/v1/customers/C9",
            "application/json",
            r#"{"nom": 1}"#
        )
        .0,
        400
    );

    let csv = "id,name,group,tier,owner,emails,domains,phones,country\nC10,Quito Luz,,repeat,alice,compras@quitoluz.example,,,EC\n";
    let (status, v) = send(&s, "POST", "/api/v1/customers/import", "text/csv", csv);
    assert_eq!((status, v["added"].as_i64()), (200, Some(1)), "{v}");

    // Dismissed: gone from the live tags, and the same evidence does not bring it back.
    let path = "/api/v1/customers/C1/tags/price-sensitive";
    let (status, t) = send(
        &s,
        "PUT",
        path,
        "application/json",
        r#"{"state": "dismissed"}"#,
    );
    assert_eq!(
        (status, t["state"].as_str()),
        (200, Some("dismissed")),
        "{t}"
    );
    assert_eq!(
        send(&s, "PUT", path, "application/json", r#"{"state": "maybe"}"#).0,
        422
    );
    assert_eq!(
        send(
            &s,
            "PUT",
            "/api/v1/customers/C1/tags/urgent",
            "application/json",
            r#"{"state": "accepted"}"#
        )
        .0,
        404
    );
    let (_, c) = get(&s, "/api/v1/customers/C1");
    assert!(c["tags"].as_array().unwrap().is_empty(), "{c}");
    // Older mail found later (a backfill) is not new evidence; a new message is.
    ingest(
        &s.w,
        "m2",
        &[(
            "buyer@lagostrade.example",
            "alice@sinoexport.example",
            "p0",
            30,
            "Any discount for a trial order?",
        )],
    );
    let (_, c) = get(&s, "/api/v1/customers/C1");
    assert!(c["tags"].as_array().unwrap().is_empty(), "{c}");
    let out = s.w.ok(&["rules", "eval", "--feedback", "--format", "json"]);
    let fb: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(fb[0]["dismissed"], 1);
    assert!(
        fb[0]["rule"]
            .as_str()
            .unwrap()
            .starts_with("price-sensitive/")
    );
    // (Date headers have whole seconds: let the new mail be visibly newer than the dismissal.)
    std::thread::sleep(Duration::from_millis(1100));
    ingest(
        &s.w,
        "m3",
        &[(
            "buyer@lagostrade.example",
            "alice@sinoexport.example",
            "p3",
            0,
            "We need a better price than this.",
        )],
    );
    let (_, c) = get(&s, "/api/v1/customers/C1");
    assert_eq!(c["tags"][0]["state"], "suggested", "{c}");
    let (status, t) = send(
        &s,
        "PUT",
        path,
        "application/json",
        r#"{"state": "accepted"}"#,
    );
    assert_eq!((status, t["state"].as_str()), (200, Some("accepted")));
    let fb: Value =
        serde_json::from_str(&s.w.ok(&["rules", "eval", "--feedback", "--format", "json"]))
            .unwrap();
    // The CRM heard of it: suggested (the first mail), suggested again (the new mail), and the
    // contact times moving with each recent message; every event matches its schema.
    let events: Vec<Value> =
        s.w.ok(&["outbox", "list", "--limit", "1000", "--format", "jsonl"])
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    for e in &events {
        common::schema::check_event(e);
    }
    let of = |kind: &str| {
        events
            .iter()
            .filter(|e| e["type"] == kind && e["customer_id"] == "C1")
            .count()
    };
    assert_eq!(of("tag.suggested"), 2, "{events:#?}");
    assert!(of("contact.updated") >= 2);
    assert_eq!(
        (fb[0]["accepted"].as_i64(), fb[0]["dismissed"].as_i64()),
        (Some(1), Some(0))
    );
}

#[test]
fn the_openapi_document_matches_the_routes() {
    let s = start();
    // Public (no token), valid JSON, OpenAPI 3.1.
    let (status, body) = http(s.port, "GET", "/api/v1/openapi.json", &[], b"");
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    // Every route is documented, and every documented operation answers (not 404/405).
    let template = |p: &str| {
        p.replace("/C1/tags/price-sensitive", "/{id}/tags/{tag}")
            .replace("/C1/messages", "/{id}/messages")
            .replace("/C1/export", "/{id}/export")
            .replace("/C1/history", "/{id}/history")
            .replace("/C1/claim", "/{id}/claim")
            .replace("/C1/release", "/{id}/release")
            .replace("/C1/assign", "/{id}/assign")
            .replace("/C1/protection", "/{id}/protection")
            .replace("/C1/stage", "/{id}/stage")
            .replace("/customers/C1", "/customers/{id}")
    };
    for (method, path) in ROUTES {
        let op = &paths[&template(path)][method.to_lowercase()];
        assert!(op.is_object(), "{method} {path} is not in openapi.json");
    }
    let mut documented = 0;
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            documented += 1;
            let concrete = path
                .replace("{id}", "C1")
                .replace("{tag}", "price-sensitive");
            let (status, _) = http(s.port, &method.to_uppercase(), &concrete, &[AUTH], b"");
            assert!(status != 404 && status != 405, "{method} {path}: {status}");
        }
    }
    assert_eq!(documented, ROUTES.len());
    // Every $ref resolves.
    let text = body.clone();
    for r in text.split("\"$ref\": \"#/components/schemas/").skip(1) {
        let name = &r[..r.find('"').unwrap()];
        assert!(doc["components"]["schemas"][name].is_object(), "{name}");
    }
}

#[test]
fn ownership_changes_answer_with_the_customer_or_a_reason_code() {
    let s = start();
    let post = |path: &str, body: &str| send(&s, "POST", path, "application/json", body);
    let put = |path: &str, body: &str| send(&s, "PUT", path, "application/json", body);
    let (status, v) = post("/api/v1/customers/C2/claim", r#"{"rep": "alice"}"#);
    assert_eq!(
        (status, v["reason"].as_str()),
        (409, Some("not_in_pool")),
        "{v}"
    );
    assert_eq!(v["ok"], false);
    assert_eq!(v["error"]["code"], "refused");
    let (status, v) = post("/api/v1/customers/C2/release", "{}");
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (422, Some("reason-required"))
    );
    let (status, v) = post("/api/v1/customers/C2/release", r#"{"reason": "handover"}"#);
    assert_eq!(
        (status, v["owner"].clone(), v["pool"].as_str()),
        (200, Value::Null, Some("public")),
        "{v}"
    );
    let (status, v) = post("/api/v1/customers/C2/claim", r#"{"rep": "zed"}"#);
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (422, Some("unknown-rep"))
    );
    let (status, v) = post(
        "/api/v1/customers/C2/claim",
        r#"{"rep": "alice", "stage": "x"}"#,
    );
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (400, Some("malformed-body"))
    );
    let (status, v) = post("/api/v1/customers/NOPE/claim", r#"{"rep": "alice"}"#);
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (404, Some("not-found"))
    );
    let (status, pool) = get(&s, "/api/v1/pool?rep=alice");
    assert_eq!(
        (status, pool["items"][0]["id"].as_str()),
        (200, Some("C2")),
        "{pool}"
    );
    let (status, v) = post("/api/v1/customers/C2/claim", r#"{"rep": "alice"}"#);
    assert_eq!(
        (status, v["owner"].as_str(), v["ok"].as_bool()),
        (200, Some("alice"), Some(true))
    );
    let (status, v) = put("/api/v1/customers/C2/protection", r#"{"protected": true}"#);
    assert_eq!((status, v["protected"].as_bool()), (200, Some(true)));
    let (status, v) = put("/api/v1/customers/C2/stage", r#"{"stage": "won"}"#);
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (422, Some("invalid-stage"))
    );
    let (status, v) = put("/api/v1/customers/C2/stage", r#"{"stage": "signed"}"#);
    assert_eq!((status, v["stage"].as_str()), (200, Some("signed")));
    let (_, c) = get(&s, "/api/v1/customers/C2");
    assert_eq!(
        (c["stage"].as_str(), c["protected"].as_bool()),
        (Some("signed"), Some(true))
    );
    // The history says who: the token's fingerprint.
    let (_, h) = get(&s, "/api/v1/customers/C2/history");
    assert_eq!(h["policy"][0]["action"], "claimed");
    assert!(
        h["policy"][0]["actor"]
            .as_str()
            .unwrap()
            .starts_with("api:"),
        "{h}"
    );
    let (status, r) = get(&s, "/api/v1/review");
    assert_eq!(status, 200);
    assert!(
        r["owners"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["owner"] == "alice"),
        "{r}"
    );
    // The stage is a field of the upsert too (left out: unchanged).
    let (status, _) = put(
        "/api/v1/customers/C9",
        r#"{"name": "Nine", "tier": "repeat", "stage": "target"}"#,
    );
    assert_eq!(status, 200);
    let (status, _) = put(
        "/api/v1/customers/C9",
        r#"{"name": "Nine B", "tier": "repeat"}"#,
    );
    assert_eq!(status, 200);
    assert_eq!(get(&s, "/api/v1/customers/C9").1["stage"], "target");
    let (status, v) = put(
        "/api/v1/customers/C9",
        r#"{"name": "Nine", "tier": "repeat", "stage": "won"}"#,
    );
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (422, Some("invalid-customer")),
        "{v}"
    );
    let (status, r) = get(&s, "/api/v1/review?month=2026-13");
    assert_eq!(
        (status, r["error"]["code"].as_str()),
        (400, Some("bad-month"))
    );
}

/// A user's token, made through the CLI (`users add`, `tokens create`).
fn user_token(
    w: &Workspace,
    login: &str,
    role: &str,
    rep: Option<&str>,
    read_only: bool,
) -> String {
    let mut add = vec!["users", "add", login, "--role", role, "--no-password"];
    if let Some(r) = rep {
        add.extend(["--rep", r]);
    }
    w.ok(&add);
    let mut create = vec!["tokens", "create", "--user", login];
    if read_only {
        create.push("--read-only");
    }
    w.ok(&create).trim().to_string()
}

#[test]
fn every_route_enforces_the_scope_of_each_role() {
    let s = start_with("[[reps]]\nid = \"bob\"\n");
    let alice = user_token(&s.w, "alice", "rep", Some("alice"), false);
    let bob = user_token(&s.w, "bob", "rep", Some("bob"), false);
    let boss = user_token(&s.w, "boss", "manager", None, false);
    let root = user_token(&s.w, "root", "admin", None, false);
    assert!(alice.starts_with("kw_"), "{alice}");
    let call = |token: &str, method: &str, path: &str, body: &str| -> (u16, Value) {
        let auth = format!("Bearer {token}");
        let ctype = if path.ends_with("/import") {
            "text/csv"
        } else {
            "application/json"
        };
        let (status, text) = http(
            s.port,
            method,
            path,
            &[("Authorization", &auth), ("Content-Type", ctype)],
            body.as_bytes(),
        );
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    };
    // (method, path, body, alice (owns C1), bob (another rep), manager, admin).
    let upsert = r#"{"name": "Lagos Trading Ltd", "tier": "vip", "owner": "alice"}"#;
    let table: &[(&str, &str, &str, [u16; 4])] = &[
        ("GET", "/api/v1/customers", "", [200, 200, 200, 200]),
        (
            "POST",
            "/api/v1/customers/import",
            "id,name\nC7,Seven\n",
            [403, 403, 200, 200],
        ),
        ("GET", "/api/v1/customers/C1", "", [200, 404, 200, 200]),
        ("PUT", "/api/v1/customers/C1", upsert, [403, 403, 200, 200]),
        ("DELETE", "/api/v1/customers/C1", "", [403, 403, 422, 422]),
        (
            "GET",
            "/api/v1/customers/C1/export",
            "",
            [403, 403, 200, 200],
        ),
        (
            "GET",
            "/api/v1/customers/C1/history",
            "",
            [200, 404, 200, 200],
        ),
        (
            "GET",
            "/api/v1/customers/C1/messages",
            "",
            [200, 404, 200, 200],
        ),
        (
            "PUT",
            "/api/v1/customers/C1/tags/price-sensitive",
            r#"{"state": "accepted"}"#,
            [200, 404, 200, 200],
        ),
        ("GET", "/api/v1/followups", "", [200, 200, 200, 200]),
        ("GET", "/api/v1/unknown", "", [403, 403, 200, 200]),
        ("GET", "/api/v1/leads", "", [403, 403, 200, 200]),
        ("GET", "/api/v1/mailboxes", "", [403, 403, 200, 200]),
        ("POST", "/api/v1/messages", "{}", [403, 403, 403, 400]),
        (
            "POST",
            "/api/v1/customers/C1/claim",
            r#"{"rep": "alice"}"#,
            [409, 404, 409, 409],
        ),
        (
            "POST",
            "/api/v1/customers/C1/release",
            "{}",
            [422, 404, 422, 422],
        ),
        (
            "POST",
            "/api/v1/customers/C1/assign",
            r#"{"rep": "alice"}"#,
            [403, 403, 200, 200],
        ),
        (
            "PUT",
            "/api/v1/customers/C1/protection",
            r#"{"protected": false}"#,
            [200, 404, 200, 200],
        ),
        (
            "PUT",
            "/api/v1/customers/C1/stage",
            r#"{"stage": "target"}"#,
            [200, 404, 200, 200],
        ),
        ("GET", "/api/v1/pool", "", [200, 200, 200, 200]),
        ("GET", "/api/v1/review", "", [403, 403, 200, 200]),
    ];
    for (method, path) in ROUTES {
        assert!(
            table.iter().any(|(m, p, ..)| m == method && p == path),
            "{method} {path} has no scope test"
        );
    }
    for (method, path, body, want) in table {
        for (token, (who, want)) in [&alice, &bob, &boss, &root]
            .into_iter()
            .zip(["alice", "bob", "manager", "admin"].into_iter().zip(want))
        {
            let (status, v) = call(token, method, path, body);
            assert_eq!(status, *want, "{method} {path} as {who}: {v}");
        }
    }
    // What a rep lists is its own and its pools' (C7, imported above without owner).
    let (_, list) = call(&bob, "GET", "/api/v1/customers", "");
    let ids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["C7"], "{list}");
    let (_, list) = call(&alice, "GET", "/api/v1/followups", "");
    let owners: Vec<&Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["owner"])
        .collect();
    assert!(
        !owners.is_empty() && owners.iter().all(|o| *o == "alice"),
        "{list}"
    );
    // A rep claims for itself only.
    let (status, _) = call(
        &bob,
        "POST",
        "/api/v1/customers/C1/claim",
        r#"{"rep": "bob"}"#,
    );
    assert_eq!(status, 404);
    // Changes are recorded with the user.
    let (_, h) = call(&boss, "GET", "/api/v1/customers/C1/history", "");
    assert!(h.to_string().contains("user:"), "{h}");
    // A read-only token reads; a disabled user's or a revoked token does nothing.
    let reader = user_token(&s.w, "auditor", "manager", None, true);
    assert_eq!(call(&reader, "GET", "/api/v1/customers", "").0, 200);
    let (status, v) = call(
        &reader,
        "PUT",
        "/api/v1/customers/C1/stage",
        r#"{"stage": "target"}"#,
    );
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (403, Some("read-only"))
    );
    s.w.ok(&["users", "disable", "auditor"]);
    assert_eq!(call(&reader, "GET", "/api/v1/customers", "").0, 401);
    let id = bob.split('_').nth(1).unwrap();
    s.w.ok(&["tokens", "revoke", id]);
    assert_eq!(call(&bob, "GET", "/api/v1/customers", "").0, 401);
    let last = if alice.ends_with('0') { "1" } else { "0" };
    let forged = format!("{}{last}", &alice[..alice.len() - 1]);
    assert_eq!(call(&forged, "GET", "/api/v1/customers", "").0, 401);
    // Tokens are kept hashed: the secret is nowhere in the database.
    let secret = alice.rsplit('_').next().unwrap();
    assert!(
        s.w.column("SELECT secret_hash FROM api_token")
            .iter()
            .all(|h| !h.contains(secret))
    );
}

/// The schemathesis binary: `KEEPWARM_SCHEMATHESIS`, else the one `scripts/test` installs.
fn schemathesis() -> std::path::PathBuf {
    let path = std::env::var_os("KEEPWARM_SCHEMATHESIS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("target/schemathesis/bin/schemathesis")
        });
    assert!(
        path.exists(),
        "schemathesis is not installed at {}: run scripts/test (it installs it from PyPI)",
        path.display()
    );
    path
}

#[test]
fn the_live_api_conforms_to_its_openapi_document() {
    let st = schemathesis();
    let s = start();
    let base = format!("http://127.0.0.1:{}", s.port);
    // Every check but "valid data is accepted": business rules (an address that does not
    // parse, an identity another customer holds) answer 422 as documented, which JSON Schema
    // cannot express.
    let out = std::process::Command::new(st)
        .args([
            "run",
            &format!("{base}/api/v1/openapi.json"),
            "--url",
            &base,
        ])
        .args(["-H", "Authorization: Bearer tok-1"])
        .args([
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
        ])
        .args(["--max-examples", "25", "--seed", "1", "--no-color"])
        .current_dir(s.w.path(""))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("11 passed") || text.contains("passed"),
        "{text}"
    );
}

/// Every page of a list, following `next_cursor`.
fn all_pages(s: &Server, path: &str, limit: usize) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let url = match &cursor {
            Some(c) => format!("{path}?limit={limit}&cursor={c}"),
            None => format!("{path}?limit={limit}"),
        };
        let (status, page) = get(s, &url);
        assert_eq!(status, 200, "{url}: {page}");
        let got = page["items"].as_array().unwrap();
        assert!(got.len() <= limit, "{url}: {} items", got.len());
        items.extend(got.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.replace(':', "%3A").replace('@', "%40")),
            None => return items,
        }
    }
    panic!("{path}: no last page");
}

#[test]
fn leads_of_one_batch_and_unknown_senders_page_without_loss_and_errors_hide_the_database() {
    let port = common::free_port();
    let w = Workspace::new(&format!(
        "[http]\nlisten = \"127.0.0.1:{port}\"\n[api]\ntokens_env = \"KW_API_TOKENS\"\n[leads]\nenabled = true\n"
    ));
    // Seven recent inquiries in one import (one batch: one creation time) become leads; five
    // older ones stay unknown senders.
    let mut mails: Vec<(String, String, i64)> = (0..7)
        .map(|i| {
            (
                format!("buyer{i}@importer{i}.example"),
                format!("lead-{i}"),
                1,
            )
        })
        .collect();
    mails.extend((0..5).map(|i| (format!("old{i}@shop{i}.example"), format!("old-{i}"), 20)));
    let refs: Vec<(&str, &str, &str, i64, &str)> = mails
        .iter()
        .map(|(from, id, days)| {
            (
                from.as_str(),
                "alice@sinoexport.example",
                id.as_str(),
                *days,
                "Please quote 100 pcs of your LED panel, delivery to our warehouse.",
            )
        })
        .collect();
    ingest(&w, "inquiries", &refs);
    let daemon = w.spawn(&["run"]);
    daemon.expect(&["HTTP server listening"], Duration::from_secs(15));
    let s = Server {
        w,
        port,
        _daemon: daemon,
    };
    let leads = all_pages(&s, "/api/v1/leads", 3);
    let mut ids: Vec<&str> = leads
        .iter()
        .map(|l| l["customer_id"].as_str().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 7, "{leads:#?}");
    let unknown = all_pages(&s, "/api/v1/unknown", 2);
    let mut addresses: Vec<&str> = unknown
        .iter()
        .map(|u| u["address"].as_str().unwrap())
        .collect();
    addresses.sort();
    assert_eq!(
        addresses,
        (0..5)
            .map(|i| format!("old{i}@shop{i}.example"))
            .collect::<Vec<_>>()
    );

    // A database error is logged; the client gets a stable code and the request id, never
    // the database's text.
    s.w.exec("DROP TABLE lead");
    let (status, text) = http(s.port, "GET", "/api/v1/leads", &[AUTH], b"");
    assert_eq!(status, 503, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["error"]["code"], "unavailable", "{text}");
    assert!(
        body["error"]["request_id"]
            .as_str()
            .is_some_and(|id| id.len() > 8),
        "{text}"
    );
    let lower = text.to_lowercase();
    assert!(
        !lower.contains("lead") && !lower.contains("table") && !lower.contains("sql"),
        "{text}"
    );
}
