//! The follow-up policy end to end through the binary: tier timers at their boundaries, the
//! sweep's events and releases to the public pool (held while a mailbox is unhealthy), late
//! backfilled mail, out-of-office pauses, lead routing (3:2:1 with caps, across restarts),
//! conflicts and pool claims, group roll-up, and the daemon's own sweep.

mod common;

use std::time::Duration;

use chrono::{TimeZone, Utc};
use common::dovecot::{Dovecot, Options};
use common::{Workspace, mail};
use serde_json::Value;

const DAY: i64 = 86_400;

fn now_secs() -> i64 {
    Utc::now().timestamp()
}

fn rfc2822(secs: i64) -> String {
    Utc.timestamp_opt(secs, 0)
        .unwrap()
        .format("%a, %d %b %Y %H:%M:%S +0000")
        .to_string()
}

fn rfc3339(secs: i64) -> String {
    Utc.timestamp_opt(secs, 0).unwrap().to_rfc3339()
}

/// Every event written so far matches its JSON Schema in `schemas/events`; returns the kinds.
fn events_match_their_schemas(w: &Workspace) -> std::collections::BTreeSet<String> {
    let all: Vec<Value> = w
        .ok(&["outbox", "list", "--limit", "100000", "--format", "jsonl"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for e in &all {
        common::schema::check_event(e);
    }
    all.iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

fn board(w: &Workspace, at: i64) -> Vec<Value> {
    serde_json::from_str(&w.ok(&["followups", "--format", "json", "--at", &rfc3339(at)])).unwrap()
}

fn entry(board: &[Value], id: &str) -> Value {
    board
        .iter()
        .find(|c| c["customer"] == id)
        .unwrap_or_else(|| panic!("{id} not on the board: {board:#?}"))
        .clone()
}

fn sweep(w: &Workspace, at: i64) -> Value {
    serde_json::from_str(&w.ok(&["sweep", "--format", "json", "--at", &rfc3339(at)])).unwrap()
}

fn customers(w: &Workspace, csv: &str) {
    std::fs::write(w.path("more.csv"), csv).unwrap();
    w.ok(&["customers", "import", "more.csv"]);
}

fn customer(w: &Workspace, id: &str) -> Value {
    serde_json::from_str(&w.ok(&["customers", "show", id, "--format", "json"])).unwrap()
}

const HEADER: &str = "id,name,group,tier,owner,emails,domains,phones,country\n";

/// A workspace whose directory holds the one customer of CSV row `row`.
fn one_customer(row: &str) -> Workspace {
    let w = Workspace::new("");
    customers(&w, &format!("{HEADER}{row}\n"));
    w
}

/// A team whose directory has been known long enough for releases (a fresh install holds them).
const RELEASING: &str = "[pool]\nrelease_start_after = \"1s\"\n";

#[test]
fn tier_timers_sweep_events_and_release_to_the_pool() {
    let w = Workspace::new(RELEASING);
    customers(
        &w,
        &format!(
            "{HEADER}H1,Hanoi Lamps,,high-potential,alice,buyer@hanoilamps.example,,,VN\n\
             V1,Vienna Licht,,vip,alice,einkauf@viennalicht.example,,,AT\n"
        ),
    );
    let base = now_secs() - DAY;
    w.ingest_mails(
        "m1",
        &[
            mail(
                "buyer@hanoilamps.example",
                "alice@sinoexport.example",
                "h-in",
                base - DAY,
                "Could you quote 500 panels?",
            ),
            mail(
                "alice@sinoexport.example",
                "buyer@hanoilamps.example",
                "h-out",
                base,
                "Here is our quotation.",
            ),
            mail(
                "alice@sinoexport.example",
                "einkauf@viennalicht.example",
                "v-out",
                base,
                "Our new catalogue.",
            ),
        ],
    );
    // Boundaries of the 7-day high-potential interval, exactly and one second either side.
    let due = base + 7 * DAY;
    assert_eq!(entry(&board(&w, due - 1), "H1")["state"], "due-soon");
    assert_eq!(entry(&board(&w, due), "H1")["state"], "due");
    assert_eq!(entry(&board(&w, due + 1), "H1")["state"], "due");
    // V1 (a VIP, 30 days) is far from its tier deadline, but the catalogue went unanswered:
    // the second follow-up is due the same day, and the state says so.
    assert_eq!(entry(&board(&w, due - 1), "V1")["state"], "ok");
    let v1 = entry(&board(&w, due), "V1");
    assert_eq!(
        (v1["state"].as_str(), v1["reason"].as_str()),
        (Some("due"), Some("second follow-up"))
    );

    // Today all is well: no events.
    let r = sweep(&w, now_secs());
    assert_eq!(r["judged"], 4, "{r}");
    assert!(w.events("followup.due").is_empty());

    // On the due date: H1's tier timer and both unanswered offers (H1's quotation, V1's
    // catalogue: second follow-ups are due after 7 days whatever the tier).
    sweep(&w, due + 1);
    let due_events = w.events("followup.due");
    let mut got: Vec<(&str, &str)> = due_events
        .iter()
        .map(|e| {
            (
                e["customer_id"].as_str().unwrap(),
                e["data"]["reason"].as_str().unwrap(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("H1", "contact interval"),
            ("H1", "second follow-up"),
            ("V1", "second follow-up")
        ],
        "{due_events:#?}"
    );
    assert_eq!(due_events[0]["data"]["customer"]["owner"], "alice");
    // The same moment again writes nothing new.
    sweep(&w, due + 2);
    assert_eq!(w.events("followup.due").len(), 3);

    // A day later: overdue, once.
    sweep(&w, due + DAY + 1);
    sweep(&w, due + DAY + 2);
    let overdue = w.events("followup.overdue");
    assert_eq!(overdue.len(), 1);
    assert_eq!(overdue[0]["customer_id"], "H1");

    // Three days past due (the tier's grace): released to the pool, with history.
    let r = sweep(&w, due + 3 * DAY);
    assert_eq!(r["released"], 1, "{r}");
    let released = w.events("customer.released");
    assert_eq!(released.len(), 1);
    assert_eq!(released[0]["data"]["former_owner"], "alice");
    assert!(
        released[0]["data"]["reason"]
            .as_str()
            .unwrap()
            .contains("no contact for")
    );
    assert_eq!(customer(&w, "H1")["owner"], Value::Null);
    let pool: Vec<Value> = serde_json::from_str(&w.ok(&["pool", "--format", "json"])).unwrap();
    let h1 = pool.iter().find(|p| p["id"] == "H1").unwrap();
    assert_eq!(h1["former_owner"], "alice");
    let history: Vec<Value> =
        serde_json::from_str(&w.ok(&["pool", "--history", "--format", "json"])).unwrap();
    assert_eq!(history[0]["action"], "released");
    assert_eq!(history[0]["rep"], "alice");
    // VIPs too drop into the pool when neglected, as the method says (30 days, then the
    // tier's grace); their catalogue went out at `base`.
    sweep(&w, base + 44 * DAY - 1);
    assert_eq!(customer(&w, "V1")["owner"], "alice");
    sweep(&w, base + 44 * DAY);
    assert_eq!(customer(&w, "V1")["owner"], Value::Null);
    assert_eq!(w.events("customer.released")[1]["customer_id"], "V1");
    let kinds = events_match_their_schemas(&w);
    assert!(
        ["followup.due", "followup.overdue", "customer.released"]
            .iter()
            .all(|k| kinds.contains(*k))
    );
}

#[test]
fn late_backfilled_mail_only_moves_timers_forward() {
    let w = Workspace::new("");
    customers(
        &w,
        &format!("{HEADER}R1,Rio Luz,,repeat,alice,compras@rioluz.example,,,BR\n"),
    );
    let now = now_secs();
    w.ingest_mails(
        "m1",
        &[mail(
            "alice@sinoexport.example",
            "compras@rioluz.example",
            "r-50",
            now - 50 * DAY,
            "Any new orders this season?",
        )],
    );
    // Ten days ago it was due soon (the baseline); today it is overdue.
    sweep(&w, now - 10 * DAY);
    let r = sweep(&w, now);
    assert_eq!(r["overdue"], 1, "{r}");
    // Older mail found later changes nothing; newer mail found later brings the customer back.
    w.ingest_mails(
        "m2",
        &[mail(
            "alice@sinoexport.example",
            "compras@rioluz.example",
            "r-80",
            now - 80 * DAY,
            "Season greetings.",
        )],
    );
    assert_eq!(
        customer(&w, "R1")["last_outbound_at"].as_i64().unwrap() / 1000,
        now - 50 * DAY
    );
    w.ingest_mails(
        "m3",
        &[mail(
            "alice@sinoexport.example",
            "compras@rioluz.example",
            "r-10",
            now - 10 * DAY,
            "Following up on the samples.",
        )],
    );
    sweep(&w, now);
    let b = entry(&board(&w, now), "R1");
    assert_eq!(b["state"], "ok");
    assert_eq!(b["tier_due_at"].as_i64().unwrap() / 1000, now + 35 * DAY);
    assert_eq!(customer(&w, "R1")["owner"], "alice");
}

#[test]
fn an_out_of_office_reply_pauses_the_clock_and_is_not_contact() {
    let w = Workspace::new("");
    customers(
        &w,
        &format!("{HEADER}O1,Oslo Lys,,vip,alice,innkjop@oslolys.example,,,NO\n"),
    );
    let now = now_secs();
    let sent = now - 2 * DAY;
    let back = Utc.timestamp_opt(now + 20 * DAY, 0).unwrap();
    let away = format!(
        "From: innkjop@oslolys.example\nTo: alice@sinoexport.example\nSubject: Automatic reply: LED panels\n\
         Message-ID: <o-ooo>\nDate: {}\nAuto-Submitted: auto-replied\n\n\
         Thank you for your message. I am out of the office and will be back on {}.\n",
        rfc2822(sent + 60),
        back.format("%-d %B")
    );
    w.ingest_mails(
        "m1",
        &[
            mail(
                "alice@sinoexport.example",
                "innkjop@oslolys.example",
                "o-out",
                sent,
                "Our offer for the spring season.",
            ),
            away,
        ],
    );
    let c = customer(&w, "O1");
    assert_eq!(
        c["last_inbound_at"],
        Value::Null,
        "an auto-reply is not contact"
    );
    let b = entry(&board(&w, now), "O1");
    let back_day = Utc
        .from_utc_datetime(&back.date_naive().and_hms_opt(0, 0, 0).unwrap())
        .timestamp();
    assert_eq!(b["paused_until"].as_i64().unwrap() / 1000, back_day);
    // The second follow-up (7 days after our offer) waits out the absence.
    let follow_up = b["follow_up_due_at"].as_i64().unwrap() / 1000;
    assert_eq!(follow_up, sent + 7 * DAY + (back_day - sent - 60));
    assert!(
        b["flags"][0].as_str().unwrap().starts_with("away until"),
        "{b}"
    );
    // Without the pause the follow-up would be due in five days; the sweep writes nothing then.
    sweep(&w, sent + 8 * DAY);
    assert!(w.events("followup.due").is_empty());
}

/// An offset that puts the team's day in its middle now, so a daily cap cannot reset mid-test.
fn midday_offset() -> String {
    let hour = Utc::now().format("%H").to_string().parse::<i64>().unwrap();
    let off = 12 - hour;
    format!("{}{:02}:00", if off < 0 { "-" } else { "+" }, off.abs())
}

fn inquiry(i: usize, to: &str, days_ago: i64) -> String {
    mail(
        &format!(
            "Buyer {i} <buyer{i}@{}.example>",
            common::IMPORTERS[i % common::IMPORTERS.len()]
        ),
        to,
        &format!("inq-{i}-{days_ago}"),
        now_secs() - days_ago * DAY - 3600,
        "Hello, we are interested in your LED panels. Please send your price list and MOQ.",
    )
}

#[test]
fn leads_are_dealt_three_two_one_with_caps_across_restarts() {
    let w = Workspace::new(&format!(
        "weight = 3\n[[reps]]\nid = \"bob\"\nemails = [\"bob@sinoexport.example\"]\nweight = 2\n\
         [[reps]]\nid = \"carol\"\nemails = [\"carol@sinoexport.example\"]\nweight = 1\ndaily_lead_cap = 1\n\
         [leads]\nenabled = true\n[followup]\nutc_offset = \"{}\"\n",
        midday_offset()
    ));
    // Twelve inquiries to the shared sales address, each ingested by its own process.
    for i in 0..12 {
        w.ingest_mails(
            &format!("lead{i}"),
            &[inquiry(i, "sales@sinoexport.example", 0)],
        );
    }
    let assigned = w.events("lead.assigned");
    let order: String = assigned
        .iter()
        .map(|e| match e["data"]["owner"].as_str().unwrap() {
            "alice" => 'A',
            "bob" => 'B',
            "carol" => 'C',
            other => panic!("{other}"),
        })
        .collect();
    // Round one A B C A B A; round two with carol at her cap of one: A B (C) A B A A.
    assert_eq!(order, "ABCABAABABAA");
    assert_eq!(w.events("lead.created").len(), 12);
    let first = &assigned[0]["customer_id"];
    let lead = customer(&w, first.as_str().unwrap());
    assert_eq!(lead["tier"], "new");
    assert_eq!(lead["name"], "Buyer 0");
    assert_eq!(lead["emails"][0], "buyer0@andeslux.example");
    assert!(lead["last_inbound_at"].is_i64());

    // A second mail from a lead joins it; old mail, spam and auto-replies make no lead.
    let spam = mail(
        "promo@seo-rank.example",
        "sales@sinoexport.example",
        "spam-1",
        now_secs() - 3600,
        "Dear friend, you have won a prize! Claim your lottery winnings, click here to verify your bank account.",
    );
    let auto = format!(
        "From: noreply@shop.example\nTo: sales@sinoexport.example\nSubject: Auto: received\nMessage-ID: <auto-1>\nDate: {}\nAuto-Submitted: auto-replied\n\nWe received your message.\n",
        rfc2822(now_secs() - 3600)
    );
    w.ingest_mails(
        "more",
        &[
            mail(
                "buyer0@andeslux.example",
                "sales@sinoexport.example",
                "inq-0-again",
                now_secs() - 60,
                "Any update on the price list?",
            ),
            inquiry(15, "sales@sinoexport.example", 30),
            spam,
            auto,
        ],
    );
    assert_eq!(w.events("lead.created").len(), 12);
    let again = w
        .messages()
        .into_iter()
        .find(|m| m["key"] == "inq-0-again")
        .unwrap();
    assert_eq!(&again["customer"], first);

    // An inquiry straight to a rep's own address is that rep's lead, whatever the cycle says.
    w.ingest_mails("direct", &[inquiry(16, "carol@sinoexport.example", 0)]);
    let last = w.events("lead.assigned").pop().unwrap();
    assert_eq!(last["data"]["owner"], "carol");
    assert_eq!(last["data"]["how"], "direct");

    // A WhatsApp inquiry from an unknown number to the team's number: a lead with that phone.
    let body = format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"8613900000000","phone_number_id":"9"}},"contacts":[{{"profile":{{"name":"Karim"}},"wa_id":"971501234567"}}],"messages":[{{"from":"971501234567","id":"wamid.lead1","timestamp":"{}","type":"text","text":{{"body":"Hi, do you have 600x600 panels in stock? Need price for 2000 pcs."}}}}]}}}}]}}]}}"#,
        now_secs() - 600
    );
    std::fs::write(w.path("wa.json"), body).unwrap();
    w.ok(&["ingest", "whatsapp", "wa.json"]);
    let created = w.events("lead.created").pop().unwrap();
    assert_eq!(created["data"]["channel"], "whatsapp");
    assert_eq!(created["data"]["counterpart"], "+971501234567");
    let lead = customer(&w, created["customer_id"].as_str().unwrap());
    assert_eq!(lead["name"], "Karim");
    assert_eq!(lead["phones"][0], "+971501234567");
    let kinds = events_match_their_schemas(&w);
    assert!(kinds.contains("lead.created") && kinds.contains("lead.assigned"));
}

#[test]
fn another_reps_contact_is_a_conflict_and_pool_customers_are_claimed_within_the_limit() {
    let w = Workspace::new(
        "[[reps]]\nid = \"bob\"\nemails = [\"bob@sinoexport.example\"]\n[pool]\nclaim_daily_limit = 1\n",
    );
    customers(
        &w,
        &format!(
            "{HEADER}K1,Kyiv Svitlo,,repeat,alice,zakupka@kyivsvitlo.example,,,UA\n\
             P1,Perth Lighting,,one-time,,orders@perthlighting.example,,,AU\n\
             P2,Porto Luz,,one-time,,compras@portoluz.example,,,PT\n"
        ),
    );
    let now = now_secs();
    let from_bob = |to: &str, id: &str, ago: i64| {
        mail(
            "bob@sinoexport.example",
            to,
            id,
            now - ago,
            "Checking in about your next order.",
        )
    };
    w.ingest_mails(
        "m1",
        &[
            mail(
                "alice@sinoexport.example",
                "zakupka@kyivsvitlo.example",
                "k-alice",
                now - 7200,
                "Our offer.",
            ),
            from_bob("zakupka@kyivsvitlo.example", "k-bob-1", 3600),
            from_bob("orders@perthlighting.example", "p1-bob", 3000),
            from_bob("compras@portoluz.example", "p2-bob", 2000),
        ],
    );
    w.ingest_mails(
        "m2",
        &[from_bob("zakupka@kyivsvitlo.example", "k-bob-2", 600)],
    );
    let conflicts = w.events("customer.conflict");
    assert_eq!(conflicts.len(), 2, "{conflicts:#?}");
    let k1 = conflicts.iter().find(|e| e["customer_id"] == "K1").unwrap();
    assert_eq!(k1["data"]["owner"], "alice");
    assert_eq!(k1["data"]["other_rep"], "bob");
    let b = entry(&board(&w, now), "K1");
    assert!(
        b["flags"][0].as_str().unwrap().contains("contacted by bob"),
        "{b}"
    );
    assert_eq!(customer(&w, "K1")["owner"], "alice");

    // P1 is claimed by bob; P2 would be his second claim today: refused and flagged.
    assert_eq!(customer(&w, "P1")["owner"], "bob");
    assert_eq!(customer(&w, "P2")["owner"], Value::Null);
    let claimed = w.events("customer.claimed");
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0]["customer_id"], "P1");
    let p2 = conflicts.iter().find(|e| e["customer_id"] == "P2").unwrap();
    assert!(
        p2["data"]["reason"]
            .as_str()
            .unwrap()
            .contains("claim refused (daily_limit)")
    );
    let history: Vec<Value> =
        serde_json::from_str(&w.ok(&["pool", "--history", "--format", "json"])).unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["action"], "claimed");

    // Old mail (a backfill) neither claims nor conflicts.
    w.ingest_mails(
        "m3",
        &[from_bob("compras@portoluz.example", "p2-old", 30 * DAY)],
    );
    assert_eq!(customer(&w, "P2")["owner"], Value::Null);
    assert_eq!(w.events("customer.conflict").len(), 2);
    let kinds = events_match_their_schemas(&w);
    assert!(kinds.contains("customer.conflict") && kinds.contains("customer.claimed"));
}

#[test]
fn group_roll_up_keeps_the_whole_group_warm_only_when_on() {
    let w = Workspace::new("");
    customers(
        &w,
        &format!(
            "{HEADER}S1,Mega Holding Shenzhen,G1,repeat,alice,sz@megaholding-sz.example,,,CN\n\
             S2,Mega Holding Dubai,G1,repeat,alice,dxb@megaholding-ae.example,,,AE\n"
        ),
    );
    let now = now_secs();
    w.ingest_mails(
        "m1",
        &[
            mail(
                "alice@sinoexport.example",
                "sz@megaholding-sz.example",
                "s1",
                now - 5 * DAY,
                "Order confirmation.",
            ),
            mail(
                "alice@sinoexport.example",
                "dxb@megaholding-ae.example",
                "s2",
                now - 50 * DAY,
                "Catalogue.",
            ),
        ],
    );
    assert_eq!(entry(&board(&w, now), "S2")["state"], "overdue");
    let extra = "[followup]\ngroup_rollup = true\n";
    w.write_config(extra);
    let b = entry(&board(&w, now), "S2");
    assert_eq!(b["state"], "ok");
    assert_eq!(b["tier_due_at"].as_i64().unwrap() / 1000, now + 40 * DAY);
    // The sweep judges with the policy in force: ten days ago both were fine; today S2 is
    // kept warm by S1 with roll-up on, and turns overdue once it is off again (a policy change
    // re-judges everyone).
    sweep(&w, now - 10 * DAY);
    sweep(&w, now);
    assert!(w.events("followup.overdue").is_empty());
    w.write_config("");
    sweep(&w, now);
    let overdue = w.events("followup.overdue");
    assert_eq!(overdue.len(), 1);
    assert_eq!(overdue[0]["customer_id"], "S2");
}

#[test]
fn a_release_waits_while_the_owners_mailbox_is_unhealthy() {
    let d = Dovecot::start(Options::default());
    let good = format!(
        "[[imap]]\nname = \"alice\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nusername = \"alice@example.test\"\npassword_env = \"ALICE_PW\"\nrep = \"alice\"\n",
        d.port
    );
    let broken = format!(
        "[[imap]]\nname = \"alice-old\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nusername = \"alice@example.test\"\npassword_env = \"ALICE_PW\"\nrep = \"alice\"\ntimeout = \"2s\"\n",
        common::free_port()
    );
    let good = format!("{RELEASING}{good}");
    let w = Workspace::new(&format!("{good}{broken}"));
    customers(
        &w,
        &format!("{HEADER}H1,Hanoi Lamps,,high-potential,alice,buyer@hanoilamps.example,,,VN\n"),
    );
    let now = now_secs();
    w.ingest_mails(
        "m1",
        &[mail(
            "alice@sinoexport.example",
            "buyer@hanoilamps.example",
            "h-out",
            now - 20 * DAY,
            "Our quotation.",
        )],
    );
    // One mailbox of alice's cannot be reached: keepwarm may be missing her mail.
    let out = w.run(&["sync", "--once"]);
    assert!(!out.status.success());
    let r = sweep(&w, now);
    assert_eq!(
        (r["released"].as_i64(), r["frozen"].as_i64()),
        (Some(0), Some(1)),
        "{r}"
    );
    assert_eq!(customer(&w, "H1")["owner"], "alice");
    let b = entry(&board(&w, now), "H1");
    assert_eq!(
        b["state"], "released",
        "the policy says so; the release is what waits"
    );
    assert!(
        b["release_frozen"].as_str().unwrap().contains("alice-old"),
        "{b}"
    );
    assert!(w.events("customer.released").is_empty());

    // The broken account goes; every remaining mailbox is synced: the release happens.
    w.write_config(&good);
    w.ok(&["sync", "--once"]);
    let r = sweep(&w, now + 600);
    assert_eq!(r["released"], 1, "{r}");
    assert_eq!(customer(&w, "H1")["owner"], Value::Null);
    assert_eq!(w.events("customer.released").len(), 1);
}

#[test]
fn the_daemon_sweeps_on_its_own() {
    let w = Workspace::new(&format!("{RELEASING}[followup]\nsweep_interval = \"1s\"\n"));
    customers(
        &w,
        &format!("{HEADER}H2,Hue Lights,,high-potential,alice,mua@huelights.example,,,VN\n"),
    );
    w.ingest_mails(
        "m1",
        &[mail(
            "alice@sinoexport.example",
            "mua@huelights.example",
            "h2-out",
            now_secs() - 20 * DAY,
            "Our quotation.",
        )],
    );
    let run = w.spawn(&["run"]);
    run.expect(
        &["Follow-up sweep done.", "released=1"],
        Duration::from_secs(20),
    );
    assert!(run.stop().success());
    assert_eq!(customer(&w, "H2")["owner"], Value::Null);
    assert_eq!(w.events("customer.released").len(), 1);
}

/// A fresh install releases nobody: not while the directory is younger than
/// `pool.release_start_after` (default: the longest tier interval), not while a configured
/// mailbox has not finished its first sync. The board shows what would be released and why.
#[test]
fn a_fresh_install_releases_nobody_until_its_history_is_in() {
    let w = Workspace::new("");
    let csv =
        format!("{HEADER}H1,Hanoi Lamps,,high-potential,alice,buyer@hanoilamps.example,,,VN\n");
    customers(&w, &csv);
    let imported = now_secs();
    // The only mail in so far: an offer 20 days old (a week's interval, three days' grace).
    w.ingest_mails(
        "m1",
        &[mail(
            "alice@sinoexport.example",
            "buyer@hanoilamps.example",
            "h-out",
            imported - 20 * DAY,
            "Our quotation.",
        )],
    );
    let r = sweep(&w, imported + 60);
    assert_eq!(
        (r["released"].as_i64(), r["frozen"].as_i64()),
        (Some(0), Some(1)),
        "{r}"
    );
    assert_eq!(customer(&w, "H1")["owner"], "alice");
    let b = entry(&board(&w, imported + 60), "H1");
    assert_eq!(b["state"], "released", "what the policy would do");
    assert!(
        b["release_frozen"]
            .as_str()
            .unwrap()
            .contains("pool.release_start_after"),
        "{b}"
    );
    assert!(w.events("customer.released").is_empty());
    // The longest built-in interval is 90 days: still held the day before (every overdue
    // customer of the directory is), released after.
    let r = sweep(&w, imported + 89 * DAY);
    assert_eq!(r["released"], 0, "{r}");
    assert!(r["frozen"].as_i64() >= Some(1), "{r}");
    assert_eq!(customer(&w, "H1")["owner"], "alice");
    let r = sweep(&w, imported + 90 * DAY + 60);
    assert!(r["released"].as_i64() >= Some(1), "{r}");
    assert_eq!(customer(&w, "H1")["owner"], Value::Null);
    assert!(
        w.events("customer.released")
            .iter()
            .any(|e| e["customer_id"] == "H1")
    );

    // A configured mailbox that has not finished its first sync holds every release, whoever
    // owns the customer (its history may hold the contact that keeps one).
    let mailbox = format!(
        "{RELEASING}[[imap]]\nname = \"shared\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nusername = \"sales@example.test\"\npassword_env = \"SALES_PW\"\n",
        common::free_port()
    );
    let w = Workspace::new(&mailbox);
    customers(&w, &csv);
    w.ingest_mails(
        "m1",
        &[mail(
            "alice@sinoexport.example",
            "buyer@hanoilamps.example",
            "h-out",
            now_secs() - 20 * DAY,
            "Our quotation.",
        )],
    );
    let r = sweep(&w, now_secs() + 60);
    assert_eq!(r["released"], 0, "{r}");
    assert_eq!(customer(&w, "H1")["owner"], "alice");
    let b = entry(&board(&w, now_secs() + 60), "H1");
    assert!(
        b["release_frozen"]
            .as_str()
            .unwrap()
            .contains("mailbox shared"),
        "{b}"
    );
}

/// A new customer's first touch counts from the first message they sent us, not from when
/// keepwarm learned of them nor from their latest message.
#[test]
fn first_touch_counts_from_the_customers_first_message() {
    let w = one_customer("N1,Nairobi Bulbs,,new,alice,orders@nairobibulbs.example,,,KE");
    let now = now_secs();
    let first = now - 4 * DAY;
    w.ingest_mails(
        "m1",
        &[
            mail(
                "orders@nairobibulbs.example",
                "alice@sinoexport.example",
                "n-1",
                first,
                "Do you make 12 W bulbs?",
            ),
            mail(
                "orders@nairobibulbs.example",
                "alice@sinoexport.example",
                "n-2",
                now - DAY,
                "Any news on the 12 W bulbs?",
            ),
        ],
    );
    let b = entry(&board(&w, now), "N1");
    assert_eq!(b["tier_reason"], "first touch", "{b}");
    assert_eq!(b["tier_due_at"], (first + 3 * DAY) * 1000, "{b}");
    assert_eq!(b["state"], "overdue", "{b}");
    // An older message backfilled later moves the clock back to it.
    w.ingest_mails(
        "m2",
        &[mail(
            "orders@nairobibulbs.example",
            "alice@sinoexport.example",
            "n-0",
            first - DAY,
            "Please send your catalogue.",
        )],
    );
    let b = entry(&board(&w, now), "N1");
    assert_eq!(b["tier_due_at"], (first + 2 * DAY) * 1000, "{b}");
}

/// The board's state is the most urgent truth: an unanswered customer is overdue on the reply
/// clock even while the tier timer is far off.
#[test]
fn an_unanswered_customer_is_overdue_whatever_the_tier_timer_says() {
    let w = one_customer("V2,Vigo Lumen,,vip,alice,compras@vigolumen.example,,,ES");
    let now = now_secs();
    w.ingest_mails(
        "m1",
        &[
            mail(
                "alice@sinoexport.example",
                "compras@vigolumen.example",
                "v2-out",
                now - 4 * DAY,
                "Our offer.",
            ),
            mail(
                "compras@vigolumen.example",
                "alice@sinoexport.example",
                "v2-in",
                now - 3 * DAY,
                "Can you do 5% less?",
            ),
        ],
    );
    let b = entry(&board(&w, now), "V2");
    assert_eq!(
        (b["state"].as_str(), b["reason"].as_str()),
        (Some("overdue"), Some("reply to the customer")),
        "{b}"
    );
    assert_eq!(b["tier_due_at"].as_i64().unwrap() / 1000, now + 27 * DAY);
    let overdue: Vec<Value> = serde_json::from_str(&w.ok(&[
        "followups",
        "--state",
        "overdue",
        "--format",
        "json",
        "--at",
        &rfc3339(now),
    ]))
    .unwrap();
    assert!(overdue.iter().any(|c| c["customer"] == "V2"));
    // Answered: nothing is late.
    w.ingest_mails(
        "m2",
        &[mail(
            "alice@sinoexport.example",
            "compras@vigolumen.example",
            "v2-answer",
            now - 60,
            "Yes, 5% less for 2,000 pcs.",
        )],
    );
    assert_eq!(entry(&board(&w, now), "V2")["state"], "ok");
}

/// The second follow-up is due once, seven days after our first unanswered message: a customer
/// we already followed up is not late again before the tier interval.
#[test]
fn the_second_follow_up_is_due_once() {
    let w = one_customer("V3,Vaasa Valo,,vip,alice,osto@vaasavalo.example,,,FI");
    let now = now_secs();
    let offer = mail(
        "alice@sinoexport.example",
        "osto@vaasavalo.example",
        "v3-offer",
        now - 20 * DAY,
        "Our offer.",
    );
    w.ingest_mails("m1", &[offer]);
    let b = entry(&board(&w, now), "V3");
    assert_eq!(
        (b["state"].as_str(), b["reason"].as_str()),
        (Some("overdue"), Some("second follow-up")),
        "{b}"
    );
    assert_eq!(
        b["follow_up_due_at"].as_i64().unwrap() / 1000,
        now - 13 * DAY
    );
    // The follow-up went out on day 8; still no answer: the tier interval is what is left.
    w.ingest_mails(
        "m2",
        &[mail(
            "alice@sinoexport.example",
            "osto@vaasavalo.example",
            "v3-follow-up",
            now - 12 * DAY,
            "Any thoughts on our offer?",
        )],
    );
    let b = entry(&board(&w, now), "V3");
    assert_eq!(b["state"], "ok", "{b}");
    assert_eq!(b["follow_up_due_at"], Value::Null, "{b}");
    assert_eq!(b["tier_due_at"].as_i64().unwrap() / 1000, now + 18 * DAY);
    // An answer, then a new offer of ours: a new stretch, a new second follow-up.
    w.ingest_mails(
        "m3",
        &[
            mail(
                "osto@vaasavalo.example",
                "alice@sinoexport.example",
                "v3-answer",
                now - 10 * DAY,
                "Thanks, we will think about it.",
            ),
            mail(
                "alice@sinoexport.example",
                "osto@vaasavalo.example",
                "v3-offer-2",
                now - 9 * DAY,
                "A better offer.",
            ),
        ],
    );
    let b = entry(&board(&w, now), "V3");
    assert_eq!(
        b["follow_up_due_at"].as_i64().unwrap() / 1000,
        now - 2 * DAY
    );
    assert_eq!(b["state"], "overdue", "{b}");
}

#[test]
fn next_steps_are_advice_in_the_teams_language_whatever_the_customer_wrote() {
    let w = Workspace::new("");
    let path = w.path("keepwarm.toml");
    let config = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        config.replace("[team]\n", "[team]\nlanguage = \"zh\"\n"),
    )
    .unwrap();
    let now = now_secs();
    w.ingest_mails(
        "m1",
        &[mail(
            "compras@andes.example",
            "alice@sinoexport.example",
            "es-price",
            now - 3600,
            "El precio es demasiado caro para nosotros, ¿pueden hacer un descuento por volumen?",
        )],
    );
    let b = entry(&board(&w, now), "C2");
    let tag = &b["tags"][0];
    assert_eq!(tag["tag"], "price-sensitive", "{b}");
    let step = tag["next_step"].as_str().unwrap();
    assert!(
        step.contains("阶梯价"),
        "a Chinese team reads a Chinese next step: {step}"
    );
    let suggested = w.events("tag.suggested");
    assert_eq!(suggested[0]["data"]["tag"], "price-sensitive");
    assert!(
        suggested[0]["data"]["next_step"]
            .as_str()
            .unwrap()
            .contains("阶梯价")
    );
}

/// Next steps are advice to the rep: `followups` and `customers show` give them in the team's
/// language (`[team] language`) or `--lang`, whatever language the customer wrote in.
#[test]
fn next_steps_are_shown_in_the_readers_language() {
    let w = Workspace::new("");
    let config = std::fs::read_to_string(w.path("keepwarm.toml")).unwrap();
    std::fs::write(
        w.path("keepwarm.toml"),
        config.replace("[team]\n", "[team]\nlanguage = \"zh\"\n"),
    )
    .unwrap();
    w.ingest_mails(
        "ja",
        &[mail(
            "buyer@lagostrade.example",
            "alice@sinoexport.example",
            "ja-price",
            now_secs() - 3600,
            "御社の価格は高すぎます。値引きをお願いできますか。",
        )],
    );
    let steps = |args: &[&str]| -> Vec<String> {
        let v: Value = serde_json::from_str(&w.ok(args)).unwrap();
        let list = match &v {
            Value::Array(board) => {
                board.iter().find(|e| e["customer"] == "C1").unwrap()["tags"].clone()
            }
            _ => v["tags"].clone(),
        };
        list.as_array()
            .unwrap()
            .iter()
            .filter(|t| t["tag"] == "price-sensitive")
            .map(|t| t["next_step"].as_str().unwrap().to_string())
            .collect()
    };
    let zh = "提供阶梯价或降本方案；强调综合成本，而不是单价。";
    assert_eq!(steps(&["followups", "--format", "json"]), [zh]);
    assert_eq!(
        steps(&["customers", "show", "C1", "--format", "json"]),
        [zh]
    );
    let en = steps(&["followups", "--format", "json", "--lang", "en"]);
    assert!(en[0].starts_with("Offer volume tiers"), "{en:?}");
    let text = w.ok(&["followups"]);
    assert!(text.contains(zh), "{text}");
    assert!(
        !text.contains("総コスト"),
        "not the customer's language: {text}"
    );
    let out = w.run(&["followups", "--lang", "xx"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--lang \"xx\""));
}
