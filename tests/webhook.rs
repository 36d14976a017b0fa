//! The HTTP server of `keepwarm run`: the WhatsApp webhook (handshake, signatures, limits,
//! malformed bodies, retries, statuses in any order, mixed and concurrent deliveries) and the
//! chat bridge endpoint.

// Sync test code waits with blocking sleeps (clippy.toml bans them in async code).
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::Duration;

use common::{Running, Workspace, http};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const SECRET: &str = "test-app-secret";

struct Server {
    w: Workspace,
    port: u16,
    /// The admin listener (metrics, readiness).
    admin: u16,
    _daemon: Running,
}

fn start(extra: &str) -> Server {
    start_with("", extra)
}

/// `http` goes into the `[http]` table.
fn start_with(http: &str, extra: &str) -> Server {
    let port = common::free_port();
    let admin = common::free_port();
    // Rep alice's WhatsApp Business number, then the server.
    let w = Workspace::new(&format!(
        "whatsapp = [\"+8613957400001\"]\n[http]\nlisten = \"127.0.0.1:{port}\"\nadmin_listen = \"127.0.0.1:{admin}\"\n{http}\n{extra}"
    ));
    let daemon = w.spawn(&["run"]);
    daemon.expect(&["HTTP server listening"], Duration::from_secs(15));
    daemon.expect(&["Admin listener"], Duration::from_secs(15));
    Server {
        w,
        port,
        admin,
        _daemon: daemon,
    }
}

fn signed() -> String {
    "[whatsapp]\napp_secret_env = \"WA_SECRET\"\nverify_token_env = \"WA_VERIFY\"\n[api]\ntokens_env = \"KW_API_TOKENS\"\n".into()
}

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn post(srv: &Server, body: &str) -> u16 {
    let sig = sign(body.as_bytes());
    http(
        srv.port,
        "POST",
        "/webhooks/whatsapp",
        &[
            ("X-Hub-Signature-256", &sig),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    )
    .0
}

fn text_body(id: &str, from: &str, text: &str) -> String {
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"8613957400001","phone_number_id":"9"}},"contacts":[{{"profile":{{"name":"Buyer"}},"wa_id":"{from}"}}],"messages":[{{"from":"{from}","id":"{id}","timestamp":"1780000000","type":"text","text":{{"body":"{text}"}}}}]}}}}]}}]}}"#
    )
}

fn status_body(id: &str, to: &str, status: &str, ts: u64) -> String {
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"8613957400001","phone_number_id":"9"}},"statuses":[{{"id":"{id}","status":"{status}","timestamp":"{ts}","recipient_id":"{to}"}}]}}}}]}}]}}"#
    )
}

/// Give Lagos Trading (C1) a WhatsApp number, and wait for the server's directory snapshot to
/// renew.
fn give_lagos_a_phone(srv: &Server) {
    std::fs::write(
        srv.w.path("more.csv"),
        "id,name,group,tier,owner,emails,domains,phones,country\nC1,Lagos Trading Ltd,,vip,alice,buyer@lagostrade.example,lagostrade.example,+234 801 234 5678,NG\n",
    )
    .unwrap();
    srv.w.ok(&["customers", "import", "more.csv"]);
    std::thread::sleep(Duration::from_millis(2100));
}

fn stored(srv: &Server) -> Vec<serde_json::Value> {
    srv.w.messages()
}

#[test]
fn handshake_signatures_limits_and_malformed_bodies() {
    let srv = start(&signed());
    let p = srv.port;
    let (code, body) = http(
        p,
        "GET",
        "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444",
        &[],
        b"",
    );
    assert_eq!((code, body.as_str()), (200, "1158201444"));
    let (code, _) = http(
        p,
        "GET",
        "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1",
        &[],
        b"",
    );
    assert_eq!(code, 403);
    let (code, _) = http(p, "GET", "/webhooks/whatsapp?hub.challenge=1", &[], b"");
    assert_eq!(code, 403);

    // Lagos Trading's buyer writes (the customers file of the harness has no phones: the
    // message is stored unmatched, which is what this test needs).
    let body = text_body("wamid.T1", "2348012345678", "Please send samples");
    assert_eq!(post(&srv, &body), 200);
    // A wrong signature, a missing one: 401, nothing stored.
    let other = text_body("wamid.T2", "2348012345678", "tampered");
    let (code, _) = http(
        p,
        "POST",
        "/webhooks/whatsapp",
        &[("X-Hub-Signature-256", &sign(body.as_bytes()))],
        other.as_bytes(),
    );
    assert_eq!(code, 401);
    let (code, _) = http(p, "POST", "/webhooks/whatsapp", &[], other.as_bytes());
    assert_eq!(code, 401);
    // Malformed JSON, correctly signed: 400.
    assert_eq!(post(&srv, "{\"entry\": [oops"), 400);
    // Over 4 MiB: 413.
    let big = format!(
        r#"{{"object":"x","entry":[],"pad":"{}"}}"#,
        "x".repeat(4 * 1024 * 1024 + 10)
    );
    assert_eq!(post(&srv, &big), 413);
    // A body of 3 MB (Meta's largest) is fine.
    let large = format!(
        r#"{{"object":"x","entry":[],"pad":"{}"}}"#,
        "x".repeat(3_000_000)
    );
    assert_eq!(post(&srv, &large), 200);

    let keys: Vec<String> = stored(&srv)
        .iter()
        .map(|m| m["key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(keys, ["wamid.T1"]);
}

#[test]
fn retries_statuses_in_any_order_mixed_and_concurrent_deliveries() {
    let srv = start(&signed());
    give_lagos_a_phone(&srv);

    // The same delivery three times: one message.
    let body = text_body(
        "wamid.R1",
        "2348012345678",
        "We need it urgently, please confirm the PI",
    );
    for _ in 0..3 {
        assert_eq!(post(&srv, &body), 200);
    }
    let msgs = stored(&srv);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["customer"], "C1");
    assert_eq!(msgs[0]["channel"], "whatsapp");
    assert_eq!(msgs[0]["rep"], "alice");
    let tags: Vec<&str> = msgs[0]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tag"].as_str().unwrap())
        .collect();
    assert!(tags.contains(&"urgent"), "{tags:?}");

    // Statuses of our outbound message, read before sent: one outbound message that counts.
    assert_eq!(
        post(
            &srv,
            &status_body("wamid.OUT1", "2348012345678", "read", 1780000100)
        ),
        200
    );
    assert_eq!(
        post(
            &srv,
            &status_body("wamid.OUT1", "2348012345678", "sent", 1780000050)
        ),
        200
    );
    assert_eq!(
        post(
            &srv,
            &status_body("wamid.OUT1", "2348012345678", "delivered", 1780000060)
        ),
        200
    );
    // Failed alone does not count; delivered after all does.
    assert_eq!(
        post(
            &srv,
            &status_body("wamid.OUT2", "2348012345678", "failed", 1780000200)
        ),
        200
    );
    let find = |k: &str| {
        stored(&srv)
            .into_iter()
            .find(|m| m["key"] == k)
            .unwrap_or_else(|| panic!("{k} missing"))
    };
    let out1 = find("wamid.OUT1");
    assert_eq!(
        (
            out1["direction"].as_str(),
            out1["counts_as_contact"].as_bool()
        ),
        (Some("outbound"), Some(true))
    );
    assert_eq!(out1["customer"], "C1");
    assert_eq!(find("wamid.OUT2")["counts_as_contact"], false);
    assert_eq!(
        post(
            &srv,
            &status_body("wamid.OUT2", "2348012345678", "delivered", 1780000300)
        ),
        200
    );
    assert_eq!(find("wamid.OUT2")["counts_as_contact"], true);
    assert_eq!(stored(&srv).len(), 3);

    // A mixed body: a message, a status and a coexistence echo.
    let mixed = r#"{"object":"whatsapp_business_account","entry":[
      {"id":"1","changes":[{"field":"messages","value":{"metadata":{"display_phone_number":"8613957400001"},
        "contacts":[{"wa_id":"2348012345678"}],
        "messages":[{"from":"2348012345678","id":"wamid.M1","timestamp":"1780000400","type":"image","image":{"id":"x","caption":"the damaged cartons"}}],
        "statuses":[{"id":"wamid.OUT3","status":"delivered","timestamp":"1780000401","recipient_id":"2348012345678"}]}}]},
      {"id":"1","changes":[{"field":"smb_message_echoes","value":{"metadata":{"display_phone_number":"8613957400001"},
        "message_echoes":[{"from":"8613957400001","to":"2348012345678","id":"wamid.E1","timestamp":"1780000402","type":"text","text":{"body":"Sorry, we will replace them"}}]}}]}]}"#;
    assert_eq!(post(&srv, mixed), 200);
    assert_eq!(find("wamid.M1")["direction"], "inbound");
    assert_eq!(find("wamid.OUT3")["direction"], "outbound");
    assert_eq!(find("wamid.E1")["direction"], "outbound");

    // Concurrent deliveries: 24 at once, each answered 200 after its commit.
    let port = srv.port;
    let threads: Vec<_> = (0..24)
        .map(|i| {
            std::thread::spawn(move || {
                let body = text_body(
                    &format!("wamid.C{i}"),
                    "2348012345678",
                    &format!("message {i}"),
                );
                let sig = sign(body.as_bytes());
                http(
                    port,
                    "POST",
                    "/webhooks/whatsapp",
                    &[("X-Hub-Signature-256", &sig)],
                    body.as_bytes(),
                )
                .0
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 200);
    }
    assert_eq!(stored(&srv).len(), 6 + 24);
    let shown = srv.w.ok(&["customers", "show", "C1"]);
    assert!(shown.to_lowercase().contains("last outbound"), "{shown}");
}

#[test]
fn without_an_app_secret_the_webhook_is_off_unless_explicitly_allowed() {
    let srv = start("");
    let body = text_body("wamid.U1", "2348012345678", "hello");
    let (code, _) = http(srv.port, "POST", "/webhooks/whatsapp", &[], body.as_bytes());
    assert_eq!(code, 404);
    let srv = start("[whatsapp]\nallow_unsigned = true\n");
    let (code, _) = http(srv.port, "POST", "/webhooks/whatsapp", &[], body.as_bytes());
    assert_eq!(code, 200);
    assert_eq!(stored(&srv).len(), 1);
}

#[test]
fn chat_bridges_post_messages_with_a_bearer_token() {
    let srv = start(&signed());
    let msg = br#"{"channel":"wechat","external_id":"wx-1","direction":"inbound","customer":"buyer@lagostrade.example","text":"Please send the price list, urgent","timestamp":"2026-11-30T08:00:00Z"}"#;
    let (code, _) = http(srv.port, "POST", "/api/v1/messages", &[], msg);
    assert_eq!(code, 401);
    let (code, _) = http(
        srv.port,
        "POST",
        "/api/v1/messages",
        &[("Authorization", "Bearer nope")],
        msg,
    );
    assert_eq!(code, 401);
    for _ in 0..2 {
        let (code, body) = http(
            srv.port,
            "POST",
            "/api/v1/messages",
            &[("Authorization", "Bearer tok-2")],
            msg,
        );
        assert_eq!(code, 200, "{body}");
    }
    let msgs = stored(&srv);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["key"], "wechat:wx-1");
    assert_eq!(msgs[0]["channel"], "wechat");
    assert_eq!(msgs[0]["customer"], "C1");
    let bad = br#"{"channel":"wechat","external_id":"wx-2","direction":"sideways","customer":"x","timestamp":1}"#;
    let (code, _) = http(
        srv.port,
        "POST",
        "/api/v1/messages",
        &[("Authorization", "Bearer tok-1")],
        bad,
    );
    assert_eq!(code, 422);
    let (code, _) = http(
        srv.port,
        "POST",
        "/api/v1/messages",
        &[("Authorization", "Bearer tok-1")],
        b"{",
    );
    assert_eq!(code, 400);
}

#[test]
fn a_username_only_contact_is_linked_to_its_customer_once_the_phone_appears() {
    let srv = start(&signed());
    give_lagos_a_phone(&srv);
    let bsuid_only = |id: &str| {
        format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[{{"field":"messages","value":{{"metadata":{{"display_phone_number":"8613957400001"}},"contacts":[{{"profile":{{"name":"Ada","username":"ada"}},"user_id":"NG.777"}}],"messages":[{{"from_user_id":"NG.777","id":"{id}","timestamp":"1780000000","type":"text","text":{{"body":"hello again"}}}}]}}}}]}}]}}"#
        )
    };
    assert_eq!(post(&srv, &bsuid_only("wamid.B1")), 200);
    let find = |k: &str| {
        srv.w
            .messages()
            .into_iter()
            .find(|m| m["key"] == k)
            .unwrap()
    };
    assert_eq!(find("wamid.B1")["customer"], serde_json::Value::Null);
    // Phone and user id together: the user id is learned, the earlier message attached.
    let both = r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"display_phone_number":"8613957400001"},"contacts":[{"profile":{"name":"Ada"},"wa_id":"2348012345678","user_id":"NG.777"}],"messages":[{"from":"2348012345678","from_user_id":"NG.777","id":"wamid.B2","timestamp":"1780000100","type":"text","text":{"body":"it's me"}}]}}]}]}"#;
    assert_eq!(post(&srv, both), 200);
    assert_eq!(find("wamid.B2")["customer"], "C1");
    assert_eq!(find("wamid.B1")["customer"], "C1");
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(post(&srv, &bsuid_only("wamid.B3")), 200);
    assert_eq!(find("wamid.B3")["customer"], "C1");
    // The raw event is kept with each chat message.
    assert_eq!(srv.w.count("message WHERE raw LIKE '%from_user_id%'"), 3);
}

#[test]
fn readyz_reports_a_failing_mailbox() {
    let srv = start(&signed());
    let (status, body) = http(srv.admin, "GET", "/readyz", &[], b"");
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"notes":[],"problems":[],"ready":true}"#)
    );
    // Not on the public listener, which faces the internet.
    assert_eq!(http(srv.port, "GET", "/readyz", &[], b"").0, 404);
    let closed = common::free_port();
    let broken = start(&format!(
        "{}[[imap]]\nname = \"alice\"\nhost = \"127.0.0.1\"\nport = {closed}\ntls = \"none\"\nusername = \"alice\"\npassword_env = \"ALICE_PW\"\nrep = \"alice\"\n",
        signed()
    ));
    broken
        .w
        .wait_for("readyz 503", Duration::from_secs(15), || {
            let (status, body) = http(broken.admin, "GET", "/readyz", &[], b"");
            status == 503 && body.contains("mailbox alice/*: failing")
        });
}

#[test]
fn metrics_count_messages_requests_and_latency() {
    let srv = start(&signed());
    assert_eq!(
        post(
            &srv,
            &text_body("wamid.m1", "2348031234567", "Do you have a better price?")
        ),
        200
    );
    assert_eq!(post(&srv, "{\"entry\": [oops"), 400);
    let (status, text) = http(srv.admin, "GET", "/metrics", &[], b"");
    assert_eq!(status, 200);
    assert_eq!(http(srv.port, "GET", "/metrics", &[], b"").0, 404);
    for needle in [
        "keepwarm_messages_total{source=\"whatsapp\",outcome=\"ingested\"} 1",
        "keepwarm_http_requests_total{route=\"/webhooks/whatsapp\",status=\"200\"} 1",
        "keepwarm_http_requests_total{route=\"/webhooks/whatsapp\",status=\"400\"} 1",
        "keepwarm_ingest_latency_seconds_count{source=\"whatsapp\"} 1",
        "keepwarm_rule_hits_total{tag=\"price-sensitive\"} 1",
        "keepwarm_outbox_events 0",
        "# TYPE keepwarm_mailbox_sync_lag_seconds gauge",
    ] {
        assert!(text.contains(needle), "{needle} not in:\n{text}");
    }
}

/// Read what the server sends until it closes the connection or `limit` passes; (closed,
/// text).
fn read_until_closed(s: &mut std::net::TcpStream, limit: Duration) -> (bool, String) {
    use std::io::Read;
    s.set_read_timeout(Some(limit)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (true, String::from_utf8_lossy(&out).into()),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return (true, String::from_utf8_lossy(&out).into());
            }
            Err(_) => return (false, String::from_utf8_lossy(&out).into()),
        }
    }
}

#[test]
fn the_public_listener_limits_slow_clients_connections_and_unauthenticated_bodies() {
    use std::io::Write;
    let srv = start_with("header_timeout = \"1s\"\nmax_connections = 4\n", &signed());
    // No load-test route in a production build.
    assert_eq!(http(srv.port, "POST", "/webhooks/noop", &[], b"x").0, 404);

    // A half-sent request head is dropped after header_timeout, not held open.
    let mut slow = std::net::TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
    slow.write_all(b"POST /webhooks/whatsapp HTTP/1.1\r\nHost: x\r\nX-Hub-Sig")
        .unwrap();
    let started = std::time::Instant::now();
    let (closed, _) = read_until_closed(&mut slow, Duration::from_secs(10));
    assert!(closed, "a half-sent header must not be held open");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // The bridge endpoint refuses a request without a token before reading its 3 MB body.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
    s.write_all(
        b"POST /api/v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 3000000\r\n\r\n",
    )
    .unwrap();
    let (_, text) = read_until_closed(&mut s, Duration::from_secs(3));
    assert!(text.starts_with("HTTP/1.1 401"), "{text}");

    // Four connections at once at most: a fifth is closed at once; once one of the four
    // goes, a new connection is served again.
    let held: Vec<_> = (0..4)
        .map(|_| {
            let mut c = std::net::TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
            c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let mut buf = [0u8; 256];
            use std::io::Read;
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let n = c.read(&mut buf).unwrap();
            assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
            c
        })
        .collect();
    let mut fifth = std::net::TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
    let _ = fifth.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    let (closed, text) = read_until_closed(&mut fifth, Duration::from_secs(3));
    assert!(closed && text.is_empty(), "{text}");
    drop(held);
    srv.w
        .wait_for("a slot is free again", Duration::from_secs(5), || {
            std::panic::catch_unwind(|| http(srv.port, "GET", "/healthz", &[], b"").0)
                .is_ok_and(|c| c == 200)
        });
    let (_, metrics) = http(srv.admin, "GET", "/metrics", &[], b"");
    assert!(
        metrics.contains("keepwarm_http_connections_refused_total{listener=\"public\"}"),
        "{metrics}"
    );
}

#[test]
fn the_admin_listener_needs_a_token_off_loopback() {
    let out = Workspace::new("").run(&["check-config"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let w = Workspace::new("");
    w.write_config("[http]\nadmin_listen = \"0.0.0.0:9999\"\n");
    let out = w.run(&["check-config"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("http.admin_listen"), "{err}");

    let admin = common::free_port();
    let w = Workspace::new(&format!(
        "[http]\nadmin_listen = \"127.0.0.1:{admin}\"\nadmin_token_env = \"KW_API_TOKENS\"\n"
    ));
    let daemon = w.spawn(&["run"]);
    daemon.expect(&["Admin listener"], Duration::from_secs(15));
    assert_eq!(http(admin, "GET", "/metrics", &[], b"").0, 401);
    let (code, text) = http(
        admin,
        "GET",
        "/metrics",
        &[("Authorization", "Bearer tok-2")],
        b"",
    );
    assert_eq!(code, 200, "{text}");
}

/// Two listeners of one test (public and admin) once got the same port: the picker must never
/// hand out a port twice in one test process.
#[test]
fn the_port_picker_never_hands_out_a_port_twice() {
    let mut seen = std::collections::HashSet::new();
    for _ in 0..1000 {
        let p = common::free_port();
        assert!(seen.insert(p), "port {p} handed out twice");
    }
}
