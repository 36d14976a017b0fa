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
