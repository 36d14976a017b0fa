//! The board in a real headless Chromium (WebDriver): sign in, see my follow-ups, open a
//! customer, accept a trait, claim a pool customer, see a refusal in words, switch to Chinese,
//! sign out; a rep cannot open another rep's customer by URL; a form without the session's
//! CSRF token and an expired session are refused; wrong passwords lock the account. Pages are
//! saved as screenshots under target/screenshots/.

// Sync test code waits with blocking sleeps (clippy.toml bans them in async code).
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::Duration;

use common::browser::Browser;
use common::{Workspace, http, mail};

fn sign_in(b: &Browser, base: &str, login: &str, password: &str) {
    b.go(&format!("{base}/login"));
    b.type_in("#login", login);
    b.type_in("#password", password);
    b.click("#sign-in");
}

#[test]
fn a_rep_works_the_board_in_a_real_browser() {
    let port = common::free_port();
    let w = Workspace::new(&format!(
        "[[reps]]\nid = \"bob\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n[pool]\nrelease_embargo = \"12h\"\nmax_protected = 1\n"
    ));
    std::fs::write(
        w.path("more.csv"),
        "id,name,group,tier,owner,emails,domains,phones,country\n\
         P1,Porto Luz,,one-time,,compras@portoluz.example,,,PT\n\
         P2,Perth Lighting,,one-time,bob,orders@perthlighting.example,,,AU\n\
         B1,Bergen Lys,,repeat,bob,innkjop@bergenlys.example,,,NO\n\
         C1,Lagos Trading Ltd,LAGOS,vip,alice,buyer@lagostrade.example,lagostrade.example,,NG\n\
         L2,Lagos Lighting Works,LAGOS,repeat,bob,sales@lagoslighting.example,,,NG\n",
    )
    .unwrap();
    w.ok(&["customers", "import", "more.csv"]);
    let now = chrono::Utc::now().timestamp();
    w.ingest_mails(
        "m1",
        &[mail(
            "buyer@lagostrade.example",
            "alice@sinoexport.example",
            "c1-price",
            now - 3600,
            "Your price is too expensive for us, can you give a discount on 2000 pcs?",
        )],
    );
    // An earlier reply of the buyer under our quoted offer: its own words show, the offer is
    // folded under them.
    w.ingest_mails(
        "m2",
        &[mail(
            "buyer@lagostrade.example",
            "alice@sinoexport.example",
            "c1-reply",
            now - 2 * 86_400,
            "Received, we will check with our engineers.\n\nOn Mon, 30 Nov 2026 at 09:00, Alice <alice@sinoexport.example> wrote:\n> Our offer: USD 4.20 per panel, FOB Ningbo.",
        )],
    );
    w.ok(&[
        "pool",
        "release",
        "P2",
        "--reason",
        "bob moved to another market",
    ]);
    w.add_user("alice", "alice", "alice-secret-1");
    w.add_user("bob", "bob", "bob-secret-12");
    w.add_user("boss", "", "boss-secret-123");
    let daemon = w.spawn(&["run"]);
    daemon.expect(&["HTTP server listening"], Duration::from_secs(15));
    let base = format!("http://127.0.0.1:{port}");

    let b = Browser::start();
    // Not signed in: the board sends to the sign-in page.
    b.go(&format!("{base}/board"));
    b.wait_url("/login");
    b.look("login");
    sign_in(&b, &base, "alice", "alice-secret-1");
    b.wait_for("#board");
    let board = b.text("#board");
    assert!(board.contains("Lagos Trading Ltd"), "{board}");
    assert!(
        !board.contains("Bergen Lys"),
        "another rep's customer: {board}"
    );
    b.look("board");
    // On a phone: nothing wider than the screen but the tables, which scroll in their box.
    b.window(390, 844);
    for page in ["/board", "/customers/C1", "/pool"] {
        b.go(&format!("{base}{page}"));
        let fits = b.script(
            "return document.documentElement.scrollWidth <= document.documentElement.clientWidth",
        );
        assert_eq!(
            fits,
            serde_json::json!(true),
            "{page} is wider than a phone"
        );
    }
    b.go(&format!("{base}/board"));
    b.look("board-phone");
    b.window(1200, 900);

    // A customer: its words, the trait with its evidence and next step; accept it.
    b.go(&format!("{base}/customers/C1"));
    let page = b.source();
    assert!(page.contains("too expensive"), "{page}");
    assert!(page.contains("price-sensitive"), "{page}");
    assert!(page.contains("Received, we will check"), "{page}");
    b.click("details summary");
    let whole = b.text("details .words");
    assert!(whole.contains("USD 4.20 per panel"), "{whole}");
    assert!(
        !b.text(".timeline li:last-child > .words")
            .contains("USD 4.20"),
        "the own words hold no quote"
    );
    // Its corporate group's other customer, another rep's: named with its owner, no link.
    let group = b.text("#group");
    assert!(
        group.contains("Lagos Lighting Works") && group.contains("bob"),
        "{group}"
    );
    assert!(
        !b.exists("#group a"),
        "another rep's customer is not linked"
    );
    b.click("#accept-price-sensitive");
    b.wait_for("li.tag-accepted");
    b.look("customer");

    // Its stage and protection: done, and said so; a second protection is over the quota of
    // one and refused in words.
    b.click("#stage option[value=target]");
    b.click("#set-stage");
    b.wait_for("#done");
    assert_eq!(w.customer("C1")["stage"], "target");
    b.click("#protect");
    // The stage's page said "done" too: wait for the protection's own words.
    b.wait_text("#done", "is protected");
    b.go(&format!("{base}/customers/C2"));
    b.click("#protect");
    b.wait_for("#refusal");
    let refusal = b.text("#refusal");
    assert!(refusal.contains("quota"), "{refusal}");
    b.look("customer-refused");

    // Another rep's customer by URL, or the team's page: not found for a rep.
    b.go(&format!("{base}/customers/B1"));
    assert!(b.source().contains("not one of yours"));
    b.go(&format!("{base}/team"));
    assert!(b.source().contains("not one of yours"));

    // The pool: claim one; another, just released, is refused in words.
    b.go(&format!("{base}/pool"));
    b.look("pool");
    b.click("#claim-P1");
    b.wait_url("claimed=P1");
    assert!(b.source().contains("P1 is yours now."));
    b.click("#claim-P2");
    b.wait_for("#refusal");
    let refusal = b.text("#refusal");
    assert!(refusal.contains("released too recently"), "{refusal}");
    b.look("pool-refused");
    assert_eq!(w.customer("P1")["owner"], "alice");
    assert_eq!(w.customer("P2")["owner"], serde_json::Value::Null);

    // Search finds what the rep may see.
    b.go(&format!("{base}/search?q=porto"));
    assert!(b.text("#results").contains("Porto Luz"));
    b.go(&format!("{base}/search?q=bergen"));
    assert!(!b.exists("#results"));

    // A form without the session's token is refused, whoever sends it.
    let session = b.cookie("kw_session").expect("a session cookie");
    let cookie = format!("kw_session={session}");
    let (status, _) = http(
        port,
        "POST",
        "/pool/P2/claim",
        &[
            ("Cookie", &cookie),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        b"csrf=not-the-token",
    );
    assert_eq!(status, 403);

    // My account: the board's language kept for me (Chinese, then the browser's again) ...
    b.go(&format!("{base}/account"));
    b.look("account");
    b.click("#language option[value=zh]");
    b.click("#save-language");
    b.wait_for("html[lang=zh-Hans] #done");
    b.click("#language option[value='']");
    b.click("#save-language");
    b.wait_for("html[lang=en] #done");
    // ... and the password: the current one must be right; a change ends my other sessions.
    let other = {
        let form = "login=alice&password=alice-secret-1&csrf=pre1";
        let (status, _) = http(
            port,
            "POST",
            "/login",
            &[
                ("Cookie", "kw_pre=pre1"),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            form.as_bytes(),
        );
        assert_eq!(status, 303);
        w.count("web_session WHERE login = 'alice'")
    };
    assert_eq!(other, 2, "two sessions of alice");
    b.type_in("#current", "not-my-password");
    b.type_in("#new", "alice-secret-2");
    b.type_in("#again", "alice-secret-2");
    b.click("#change-password");
    b.wait_for("#refusal");
    assert!(b.text("#refusal").contains("current password is not right"));
    b.type_in("#current", "alice-secret-1");
    b.type_in("#new", "alice-secret-2");
    b.type_in("#again", "alice-secret-2");
    b.click("#change-password");
    b.wait_for("#done");
    assert_eq!(
        w.count("web_session WHERE login = 'alice'"),
        1,
        "the other session ended, this one goes on"
    );

    // Chinese, then sign out.
    b.go(&format!("{base}/board"));
    b.click("a[lang=zh]");
    b.wait_for("html[lang=zh-Hans] #board");
    assert!(b.source().contains("我的跟进"));
    b.look("board-zh");
    b.click("#sign-out");
    b.wait_url("/login");
    let (status, _) = http(port, "GET", "/board", &[("Cookie", &cookie)], b"");
    assert_eq!(status, 303, "the ended session opens nothing");

    // An expired session sends back to the sign-in page.
    sign_in(&b, &base, "alice", "alice-secret-2");
    b.wait_for("#board");
    let expired = format!("kw_session={}", b.cookie("kw_session").expect("a session"));
    let csrf = w.column("SELECT csrf FROM web_session WHERE login = 'alice'")[0].clone();
    w.exec("UPDATE web_session SET expires_at = 0");
    b.go(&format!("{base}/board"));
    b.wait_url("/login?expired");
    // A form posted with it, even with its own token, changes nothing.
    let (status, _) = http(
        port,
        "POST",
        "/pool/P2/claim",
        &[
            ("Cookie", &expired),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        format!("csrf={csrf}").as_bytes(),
    );
    assert_eq!(status, 303, "to the sign-in page");
    assert_eq!(w.customer("P2")["owner"], serde_json::Value::Null);

    // Five wrong passwords lock the account, even for the right one; every try is recorded.
    // (In English again: the language chosen above is remembered in a cookie.)
    b.go(&format!("{base}/lang?to=en"));
    for _ in 0..5 {
        sign_in(&b, &base, "bob", "not-bobs-password");
        b.wait_for("p.error");
        assert!(b.text("p.error").contains("Wrong login or password"));
    }
    sign_in(&b, &base, "bob", "bob-secret-12");
    b.wait_for("p.error");
    assert!(b.text("p.error").contains("Too many failed attempts"));
    assert_eq!(w.count("sign_in WHERE login = 'bob'"), 6);

    // A manager sees the team: customers by state per rep, as a chart and a table.
    sign_in(&b, &base, "boss", "boss-secret-123");
    b.wait_for("#board");
    assert!(
        b.text("#board").contains("Bergen Lys"),
        "a manager sees every rep's customers"
    );
    b.go(&format!("{base}/team"));
    b.wait_for("#by-state rect");
    let team = b.text("#team");
    assert!(team.contains("alice") && team.contains("bob"), "{team}");
    // The month's review per rep, and the charts of contacts per week and releases per month:
    // this week holds the Lagos buyer's mail, this month bob's release of P2.
    assert!(b.text("#review").contains("bob"), "{}", b.text("#review"));
    assert!(b.exists("#contacts-week rect") && b.exists("#releases-month rect"));
    let weeks = b.source();
    assert!(
        weeks.contains("from the customer: 1</title>") && weeks.contains("released: 1</title>"),
        "{weeks}"
    );
    b.look("team");
    // A manager hands a pool customer to a rep from the pool page ...
    b.go(&format!("{base}/pool"));
    b.look("pool-manager");
    b.click("#to-P2 option[value=bob]");
    b.click("#assign-P2");
    b.wait_for("#done");
    assert_eq!(w.customer("P2")["owner"], "bob");
    // ... and gives bob's customer to alice from its page.
    b.go(&format!("{base}/customers/B1"));
    b.click("#assign-rep option[value=alice]");
    b.click("#assign");
    b.wait_for("#done");
    assert_eq!(w.customer("B1")["owner"], "alice");
    b.go(&format!("{base}/team"));
    b.script("document.getElementById('contacts-week').scrollIntoView()");
    b.screenshot("team-charts");
    b.click("#month-prev");
    b.wait_url("month=");
    assert!(b.exists("#month-next"), "a past month links to the next");

    // The rules: every tag with what it means, the last evaluation kept by `rules eval`, and a
    // backtest preview (nothing changes: alice's accepted tag would be kept).
    std::fs::write(
        w.path("labels.jsonl"),
        "{\"key\": \"c1-price\", \"channel\": \"email\", \"direction\": \"inbound\", \"labels\": [\"price-sensitive\"], \"counts_as_contact\": true}\n",
    )
    .unwrap();
    let m1 = w.path("m1");
    w.ok(&[
        "rules",
        "eval",
        "--maildir",
        m1.to_str().unwrap(),
        "--labels",
        "labels.jsonl",
        "--customers",
        "customers.csv",
    ]);
    b.go(&format!("{base}/rules"));
    b.wait_for("#rules");
    let rules = b.text("#rules");
    assert!(
        rules.contains("price-sensitive") && rules.contains("Asks for a discount"),
        "{rules}"
    );
    let row = b.text("#rule-price-sensitive");
    assert!(
        row.contains("0 / 1 / 0") && row.contains("1 accepted, 0 dismissed (100%)"),
        "alice accepted the tag on C1: {row}"
    );
    let eval = b.text("#last-eval");
    assert!(
        eval.contains("1 labeled messages") && eval.contains("macro-F1 1.00"),
        "{eval}"
    );
    b.click("#run-backtest");
    b.wait_for("#backtest-summary");
    let summary = b.text("#backtest-summary");
    assert!(
        summary.contains("0 tags gained, 0 lost, 1 kept"),
        "{summary}"
    );
    b.look("rules");
    b.click("a[lang=zh]");
    b.wait_for("html[lang=zh-Hans] #rules");
    assert!(b.text("#rules").contains("要求折扣"));
    b.look("rules-zh");
    drop(b);
    daemon.stop();
}
