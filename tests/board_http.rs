//! The board over plain HTTP: sign-in limits per address, and the board on a listener of its
//! own (`[board] listen`), away from the public one.

mod common;

use std::time::Duration;

use common::{Workspace, free_port, http};

/// A sign-in attempt from this test (loopback, so `X-Forwarded-For` names the address):
/// (status, page).
fn sign_in(port: u16, from: &str, login: &str, password: &str) -> (u16, String) {
    let form = format!("login={login}&password={password}&csrf=pre123");
    http(
        port,
        "POST",
        "/login",
        &[
            ("Cookie", "kw_pre=pre123"),
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("X-Forwarded-For", from),
        ],
        form.as_bytes(),
    )
}

#[test]
fn many_failures_from_one_address_stop_its_sign_ins_for_a_while() {
    let port = free_port();
    let w = Workspace::new(&format!("[http]\nlisten = \"127.0.0.1:{port}\"\n"));
    w.add_user("alice", "alice", "alice-secret-1");
    let daemon = w.spawn(&["run"]);
    daemon.expect(&["HTTP server listening"], Duration::from_secs(15));

    // Guessing across logins from one address: no single account is locked ...
    for i in 0..20 {
        let (status, page) = sign_in(port, "203.0.113.7", &format!("user{i}"), "guess-guess");
        assert_eq!(status, 401, "{page}");
        assert!(page.contains("Wrong login or password"), "{page}");
    }
    // ... but the address is, even with the right password.
    let (status, page) = sign_in(port, "203.0.113.7", "alice", "alice-secret-1");
    assert_eq!(status, 401);
    assert!(
        page.contains("Too many failed sign-ins from your address"),
        "{page}"
    );
    // Another address signs in.
    let (status, _) = sign_in(port, "198.51.100.2", "alice", "alice-secret-1");
    assert_eq!(status, 303);
    assert_eq!(
        w.count("sign_in WHERE remote = '203.0.113.7' AND outcome = 'address-limited'"),
        1
    );
    // Once the failures are older than the window, the address may try again.
    w.exec("UPDATE sign_in SET at = at - 16 * 60 * 1000 WHERE remote = '203.0.113.7'");
    let (status, _) = sign_in(port, "203.0.113.7", "alice", "alice-secret-1");
    assert_eq!(status, 303);
    daemon.stop();
}

#[test]
fn the_board_on_its_own_listener_leaves_the_public_one() {
    let (public, board) = (free_port(), free_port());
    let w = Workspace::new(&format!(
        "[http]\nlisten = \"127.0.0.1:{public}\"\n[board]\nlisten = \"127.0.0.1:{board}\"\n"
    ));
    w.add_user("alice", "alice", "alice-secret-1");
    let daemon = w.spawn(&["run"]);
    daemon.expect(&["Board listening"], Duration::from_secs(15));
    let (status, page) = http(board, "GET", "/login", &[], b"");
    assert_eq!(status, 200);
    assert!(page.contains("id=\"sign-in\""), "{page}");
    assert_eq!(
        sign_in(board, "192.0.2.1", "alice", "alice-secret-1").0,
        303
    );
    // The public listener has no board, the board's none of the API.
    assert_eq!(http(public, "GET", "/login", &[], b"").0, 404);
    assert_eq!(http(public, "GET", "/healthz", &[], b"").0, 200);
    assert_eq!(http(board, "GET", "/api/v1/customers", &[], b"").0, 404);

    daemon.stop();

    // The same address twice is a config error naming the key.
    w.write_config(&format!(
        "[http]\nlisten = \"127.0.0.1:{public}\"\n[board]\nlisten = \"127.0.0.1:{public}\"\n"
    ));
    let out = w.run(&["check-config"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success());
    assert!(text.contains("board.listen"), "{text}");
}

/// Read the `kw_session` cookie a sign-in sets (a raw request: `http` drops the headers).
fn session_cookie(port: u16, login: &str, password: &str) -> String {
    use std::io::{Read as _, Write as _};
    let form = format!("login={login}&password={password}&csrf=pre9");
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nCookie: kw_pre=pre9\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    )
    .unwrap();
    let mut head = String::new();
    s.read_to_string(&mut head).unwrap();
    head.lines()
        .filter_map(|l| l.strip_prefix("set-cookie: kw_session="))
        .map(|v| v.split(';').next().unwrap().to_string())
        .find(|v| !v.is_empty())
        .unwrap_or_else(|| panic!("no session cookie: {head}"))
}

#[test]
fn a_session_opened_on_one_instance_works_on_another() {
    let (a, b) = (free_port(), free_port());
    let w = Workspace::new(&format!("[http]\nlisten = \"127.0.0.1:{a}\"\n"));
    let config = std::fs::read_to_string(w.path("keepwarm.toml")).unwrap();
    std::fs::write(
        w.path("second.toml"),
        config.replace(&format!("127.0.0.1:{a}"), &format!("127.0.0.1:{b}")),
    )
    .unwrap();
    w.add_user("alice", "alice", "alice-secret-1");
    let first = w.spawn(&["run"]);
    first.expect(&["HTTP server listening"], Duration::from_secs(15));
    let second = w.spawn(&["--config", "second.toml", "run"]);
    second.expect(&["HTTP server listening"], Duration::from_secs(15));
    let cookie = format!(
        "kw_session={}",
        session_cookie(a, "alice", "alice-secret-1")
    );
    let (status, page) = http(b, "GET", "/board", &[("Cookie", &cookie)], b"");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Lagos Trading Ltd"), "{page}");
    // Signed out on the second, the session is gone on the first too.
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    let (status, _) = http(
        b,
        "POST",
        "/logout",
        &[
            ("Cookie", &cookie),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        format!("csrf={csrf}").as_bytes(),
    );
    assert_eq!(status, 303);
    assert_eq!(http(a, "GET", "/board", &[("Cookie", &cookie)], b"").0, 303);
    second.stop();
    first.stop();
}
