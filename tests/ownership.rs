//! Who owns a customer, end to end through the binary with `--at` moments: every cap, quota,
//! limit, cool-down, embargo, pool membership, exemption and tenure rule refused one second
//! before its boundary and accepted at it, with its reason code and exit status 3; releases
//! with their pool, history and events; warnings before a release; claims by contact under
//! the same rules; lead routing past a full rep; and the monthly review against the board.

mod common;

use chrono::{TimeZone, Utc};
use common::{Workspace, mail};
use serde_json::Value;

const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;

fn at(secs: i64) -> String {
    Utc.timestamp_opt(secs, 0).unwrap().to_rfc3339()
}

fn secs(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp()
}

const TEAM: &str = "[[reps]]\nid = \"bo\"\nemails = [\"bo@sinoexport.example\"]\npools = [\"gulf\", \"rest\"]\n\
[[reps]]\nid = \"cy\"\npools = [\"gulf\"]\nmax_customers = 2\n\
[[reps]]\nid = \"dan\"\njoined = \"2026-03-01\"\n\
[[pools]]\nname = \"gulf\"\ncountries = [\"AE\", \"SA\"]\n\
[[pools]]\nname = \"rest\"\n";

const HEADER: &str = "id,name,group,tier,owner,emails,domains,phones,country,stage\n";

/// A workspace with alice (from the harness), bo, cy, dan, two pools and `pool` rules.
fn team(pool: &str, customers: &str) -> Workspace {
    let w = Workspace::new(&format!(
        "{TEAM}[pool]\nrelease_start_after = \"1s\"\n{pool}"
    ));
    std::fs::write(w.path("team.csv"), format!("{HEADER}{customers}")).unwrap();
    w.ok(&["customers", "import", "team.csv"]);
    w
}

/// Run an ownership command at `when` with `--format json`: its exit status and answer.
fn act(w: &Workspace, args: &[&str], when: i64) -> (i32, Value) {
    let when = at(when);
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--at", &when, "--format", "json"]);
    let out = w.run(&all);
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| {
        panic!(
            "keepwarm {all:?}: not JSON: {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), v)
}

/// The refusal's reason code (exit 3), or "ok" (exit 0).
fn outcome(w: &Workspace, args: &[&str], when: i64) -> String {
    let (code, v) = act(w, args, when);
    match (code, v["ok"].as_bool()) {
        (0, Some(true)) => "ok".into(),
        (3, Some(false)) => v["reason"].as_str().unwrap().to_string(),
        _ => panic!("keepwarm {args:?}: exit {code}, {v}"),
    }
}

fn owner(w: &Workspace, id: &str) -> Value {
    w.customer(id)["owner"].clone()
}

fn history(w: &Workspace) -> Vec<Value> {
    serde_json::from_str(&w.ok(&["pool", "--history", "--format", "json"])).unwrap()
}

const T: i64 = 1_798_761_600; // 2027-01-01T00:00:00Z

#[test]
fn embargo_and_cool_down_hold_to_the_second() {
    let w = team(
        "release_embargo = \"12h\"\nreclaim_cooldown = \"30d\"\n",
        "A1,Acme GmbH,,repeat,alice,a@acme.example,,,DE,\n",
    );
    // A release needs a reason; then the customer is in the pool its country picks.
    let out = w.run(&["pool", "release", "A1"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "clap refuses a release without --reason"
    );
    let (code, v) = act(
        &w,
        &[
            "pool",
            "release",
            "A1",
            "--reason",
            "alice moves to Gulf accounts",
        ],
        T,
    );
    assert_eq!((code, v["pool"].as_str()), (0, Some("rest")), "{v}");
    assert_eq!(owner(&w, "A1"), Value::Null);
    let released = w.events("customer.released");
    assert_eq!(released[0]["data"]["how"], "manual");
    assert_eq!(released[0]["data"]["former_owner"], "alice");
    assert!(
        released[0]["data"]["by"]
            .as_str()
            .unwrap()
            .starts_with("cli:")
    );
    // Released again: it is in a pool already.
    assert_eq!(
        outcome(&w, &["pool", "release", "A1", "--reason", "x"], T),
        "already_in_pool"
    );

    // Nobody claims it during the embargo.
    let end = T + 12 * HOUR;
    assert_eq!(
        outcome(&w, &["pool", "claim", "A1", "--rep", "bo"], end - 1),
        "embargo"
    );
    assert_eq!(owner(&w, "A1"), Value::Null);
    // Its former owner waits out the cool-down, counted from the release.
    assert_eq!(
        outcome(&w, &["pool", "claim", "A1", "--rep", "alice"], end),
        "cooldown"
    );
    assert_eq!(
        outcome(
            &w,
            &["pool", "claim", "A1", "--rep", "alice"],
            T + 30 * DAY - 1
        ),
        "cooldown"
    );
    assert_eq!(
        outcome(&w, &["pool", "claim", "A1", "--rep", "alice"], T + 30 * DAY),
        "ok"
    );
    assert_eq!(owner(&w, "A1"), "alice");
    // Now it has an owner: not in a pool.
    assert_eq!(
        outcome(&w, &["pool", "claim", "A1", "--rep", "bo"], T + 31 * DAY),
        "not_in_pool"
    );
    let h = history(&w);
    assert_eq!(
        (
            h[0]["action"].as_str(),
            h[0]["rep"].as_str(),
            h[0]["pool"].as_str()
        ),
        (Some("claimed"), Some("alice"), Some("rest"))
    );
    assert!(h[0]["actor"].as_str().unwrap().starts_with("cli:"));
    assert_eq!(h[1]["reason"], "alice moves to Gulf accounts");
    let claimed = w.events("customer.claimed");
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0]["data"]["how"], "command");
    for e in claimed.iter().chain(&released) {
        common::schema::check_event(e);
    }
}

#[test]
fn pool_membership_daily_and_monthly_limits_and_the_holding_cap() {
    let mut rows = String::new();
    for i in 1..=6 {
        rows.push_str(&format!(
            "P{i},Pool {i},,one-time,,p{i}@pool{i}.example,,,DE,\n"
        ));
    }
    rows.push_str("G1,Gulf One,,one-time,,g1@gulf1.example,,,AE,\n");
    rows.push_str("G2,Gulf Two,,one-time,,g2@gulf2.example,,,SA,\n");
    rows.push_str("G3,Gulf Three,,one-time,,g3@gulf3.example,,,AE,\n");
    let w = team(
        "claim_daily_limit = 2\nclaim_monthly_limit = 3\n[followup]\nutc_offset = \"+08:00\"\n",
        &rows,
    );
    // cy is a member of the gulf pool only; the German customers sit in "rest".
    assert_eq!(
        outcome(&w, &["pool", "claim", "P1", "--rep", "cy"], T),
        "not_pool_member"
    );
    let listed: Vec<Value> =
        serde_json::from_str(&w.ok(&["pool", "--rep", "cy", "--format", "json"])).unwrap();
    let ids: Vec<&str> = listed.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["G1", "G2", "G3"], "{listed:#?}");

    // Two claims a day (the team's day starts at 16:00 UTC, +08:00).
    let day = secs("2027-01-05T16:00:00Z");
    assert_eq!(
        outcome(&w, &["pool", "claim", "P1", "--rep", "bo"], day),
        "ok"
    );
    assert_eq!(
        outcome(&w, &["pool", "claim", "P2", "--rep", "bo"], day + HOUR),
        "ok"
    );
    assert_eq!(
        outcome(&w, &["pool", "claim", "P3", "--rep", "bo"], day + DAY - 1),
        "daily_limit"
    );
    assert_eq!(
        outcome(&w, &["pool", "claim", "P3", "--rep", "bo"], day + DAY),
        "ok"
    );
    // Three a month: the fourth waits for the team's next month.
    assert_eq!(
        outcome(&w, &["pool", "claim", "P4", "--rep", "bo"], day + 5 * DAY),
        "monthly_limit"
    );
    let next_month = secs("2027-01-31T16:00:00Z");
    assert_eq!(
        outcome(&w, &["pool", "claim", "P4", "--rep", "bo"], next_month - 1),
        "monthly_limit"
    );
    assert_eq!(
        outcome(&w, &["pool", "claim", "P4", "--rep", "bo"], next_month),
        "ok"
    );

    // cy holds at most two customers.
    assert_eq!(
        outcome(&w, &["pool", "claim", "G1", "--rep", "cy"], T),
        "ok"
    );
    assert_eq!(
        outcome(&w, &["pool", "claim", "G2", "--rep", "cy"], T + DAY),
        "ok"
    );
    assert_eq!(
        outcome(&w, &["pool", "claim", "G3", "--rep", "cy"], T + 2 * DAY),
        "over_holding_cap"
    );
    // A manager's assignment obeys the cap too, unless forced.
    assert_eq!(
        outcome(
            &w,
            &["customers", "assign", "G3", "--rep", "cy"],
            T + 2 * DAY
        ),
        "over_holding_cap"
    );
    let (code, v) = act(
        &w,
        &[
            "customers",
            "assign",
            "G3",
            "--rep",
            "cy",
            "--force",
            "--reason",
            "key account",
        ],
        T + 2 * DAY,
    );
    assert_eq!((code, v["owner"].as_str()), (0, Some("cy")), "{v}");
    let assigned = w.events("customer.assigned");
    assert_eq!(assigned.len(), 1);
    assert_eq!(assigned[0]["data"]["forced"], true);
    assert_eq!(assigned[0]["data"]["reason"], "key account");
    common::schema::check_event(&assigned[0]);
    // Releasing one makes room (and is refused to a rep who does not own it).
    assert_eq!(
        outcome(
            &w,
            &["pool", "release", "G1", "--reason", "r", "--rep", "bo"],
            T + 3 * DAY
        ),
        "not_owner"
    );
    assert_eq!(
        outcome(
            &w,
            &["pool", "release", "G1", "--reason", "r", "--rep", "cy"],
            T + 3 * DAY
        ),
        "ok"
    );
    assert_eq!(
        outcome(&w, &["pool", "claim", "G1", "--rep", "cy"], T + 3 * DAY),
        "over_holding_cap",
        "still two: G2 and G3"
    );
}

#[test]
fn protection_quota_stages_and_vip_tenure() {
    let w = team(
        "max_protected = 1\n",
        "A1,Acme,,repeat,alice,a@acme.example,,,DE,\n\
         A2,Bolt,,repeat,alice,b@bolt.example,,,DE,target\n\
         A3,Cobalt,,repeat,alice,c@cobalt.example,,,DE,已签约\n\
         V1,Vega,,vip,,v@vega.example,,,DE,\n",
    );
    assert_eq!(w.customer("A3")["stage"], "signed");
    assert_eq!(w.customer("A3")["protected"], true);
    assert_eq!(
        outcome(&w, &["customers", "protect", "A1", "--rep", "bo"], T),
        "not_owner"
    );
    assert_eq!(
        outcome(&w, &["customers", "protect", "A1", "--rep", "alice"], T),
        "ok"
    );
    assert_eq!(
        outcome(&w, &["customers", "protect", "A2", "--rep", "alice"], T),
        "over_protect_quota"
    );
    // Signed customers are protected without counting against the quota.
    assert_eq!(outcome(&w, &["customers", "protect", "A3"], T), "ok");
    assert_eq!(outcome(&w, &["customers", "unprotect", "A1"], T), "ok");
    assert_eq!(outcome(&w, &["customers", "protect", "A2"], T), "ok");
    // Stages: a bad one is an error (exit 1), not a refusal.
    let out = w.run(&["customers", "stage", "A2", "won"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a stage"));
    assert_eq!(
        outcome(&w, &["customers", "stage", "A2", "signed"], T),
        "ok"
    );
    let changes: Value =
        serde_json::from_str(&w.ok(&["customers", "history", "A2", "--format", "json"])).unwrap();
    assert!(changes.to_string().contains("\"stage\""), "{changes}");

    // dan joined on 2026-03-01: a VIP is his from 2027-03-01 on, unless a manager forces it.
    let year_on = secs("2027-03-01T00:00:00Z");
    assert_eq!(
        outcome(&w, &["pool", "claim", "V1", "--rep", "dan"], year_on - 1),
        "tenure"
    );
    assert_eq!(
        outcome(
            &w,
            &["customers", "assign", "V1", "--rep", "dan"],
            year_on - 1
        ),
        "tenure"
    );
    assert_eq!(
        outcome(&w, &["pool", "claim", "V1", "--rep", "dan"], year_on),
        "ok"
    );
}

#[test]
fn the_sweep_warns_then_releases_to_the_right_pool_and_spares_protected_and_signed() {
    // Never contacted: the repeat tier is due 45 days after T, released 14 later (so is the
    // harness's own C2; its VIP C1 goes at 30 + 14 days).
    let w = team(
        "warn_before_release = \"3d\"\n",
        "R1,Riyadh Lights,,repeat,alice,r1@riyadh.example,,,SA,\n\
         R2,Rhein Licht,,repeat,alice,r2@rhein.example,,,DE,\n\
         R3,Protected One,,repeat,alice,r3@prot.example,,,DE,\n\
         R4,Signed One,,repeat,alice,r4@signed.example,,,DE,signed\n",
    );
    // The directory (and each owner's customers) as of T.
    let created = T;
    w.exec(&format!(
        "UPDATE customer SET created_at = {0}, owned_since = {0}, check_at = 0",
        created * 1000
    ));
    assert_eq!(outcome(&w, &["customers", "protect", "R3"], T), "ok");
    let sweep = |when: i64| -> Value {
        serde_json::from_str(&w.ok(&["sweep", "--format", "json", "--at", &at(when)])).unwrap()
    };
    let release = created + 59 * DAY;
    sweep(created + DAY);
    let r = sweep(release - 3 * DAY - 1);
    assert_eq!(r["warned"], 0, "{r}");
    let r = sweep(release - 3 * DAY);
    assert_eq!(r["warned"], 3, "{r}");
    let warnings = w.events("customer.release_warning");
    let mut warned: Vec<&str> = warnings
        .iter()
        .map(|e| e["customer_id"].as_str().unwrap())
        .collect();
    warned.sort();
    assert_eq!(warned, ["C2", "R1", "R2"]);
    common::schema::check_event(&warnings[0]);
    assert_eq!(sweep(release - DAY)["warned"], 0, "once per release");
    let board: Vec<Value> =
        serde_json::from_str(&w.ok(&["followups", "--format", "json", "--at", &at(release - DAY)]))
            .unwrap();
    let r2 = board.iter().find(|c| c["customer"] == "R2").unwrap();
    assert!(
        r2["flags"].to_string().contains("released to the pool"),
        "{r2}"
    );

    let r = sweep(release - 1);
    assert_eq!(r["released"], 0, "{r}");
    let r = sweep(release);
    assert_eq!(r["released"], 3, "{r}");
    let pools: Vec<Value> = serde_json::from_str(&w.ok(&["pool", "--format", "json"])).unwrap();
    let pool_of = |id: &str| {
        pools
            .iter()
            .find(|p| p["id"] == id)
            .map(|p| p["pool"].as_str().unwrap().to_string())
    };
    assert_eq!(pool_of("R1").as_deref(), Some("gulf"));
    assert_eq!(pool_of("R2").as_deref(), Some("rest"));
    // Protected and signed customers stay, overdue on the board.
    let board: Vec<Value> =
        serde_json::from_str(&w.ok(&["followups", "--format", "json", "--at", &at(release + DAY)]))
            .unwrap();
    for id in ["R3", "R4"] {
        let c = board.iter().find(|c| c["customer"] == id).unwrap();
        assert_eq!(
            (c["owner"].as_str(), c["state"].as_str()),
            (Some("alice"), Some("overdue")),
            "{c}"
        );
    }
    let released = w.events("customer.released");
    assert_eq!(released.len(), 4, "C1, C2, R1, R2");
    assert!(released.iter().all(|e| e["data"]["how"] == "no-contact"));
    assert_eq!(
        released.iter().find(|e| e["customer_id"] == "R1").unwrap()["data"]["pool"],
        "gulf"
    );
}

fn now_secs() -> i64 {
    Utc::now().timestamp()
}

#[test]
fn a_claim_by_contact_obeys_the_same_rules_and_routing_skips_a_full_rep() {
    let w = team(
        "release_embargo = \"12h\"\nmax_customers = 3\n[leads]\nenabled = true\n",
        "E1,Essen Licht,,one-time,alice,e1@essen.example,,,DE,\n\
         F1,Free One,,one-time,,f1@free.example,,,DE,\n",
    );
    let now = now_secs();
    // E1 went back to the pool an hour ago: bo's mail now is inside the embargo.
    assert_eq!(
        outcome(
            &w,
            &["pool", "release", "E1", "--reason", "handover"],
            now - HOUR
        ),
        "ok"
    );
    w.ingest_mails(
        "m1",
        &[
            mail(
                "bo@sinoexport.example",
                "e1@essen.example",
                "e1-bo",
                now - 60,
                "Hello",
            ),
            mail(
                "bo@sinoexport.example",
                "f1@free.example",
                "f1-bo",
                now - 50,
                "Hello",
            ),
        ],
    );
    assert_eq!(owner(&w, "E1"), Value::Null);
    assert_eq!(owner(&w, "F1"), "bo");
    let conflicts = w.events("customer.conflict");
    let e1 = conflicts.iter().find(|e| e["customer_id"] == "E1").unwrap();
    assert!(
        e1["data"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("claim refused (embargo)"),
        "{e1}"
    );
    let claimed = w.events("customer.claimed");
    assert_eq!(claimed[0]["data"]["how"], "contact");
    assert_eq!(claimed[0]["data"]["message_key"], "f1-bo");

    // alice holds C1 and C2 (the harness's) and has room for one: the first lead is hers,
    // the next ones skip her (full) for the others in the cycle.
    w.ingest_mails(
        "m2",
        &[
            mail(
                "buyer@new1.example",
                "sales@sinoexport.example",
                "l1",
                now - 40,
                "Please quote 500 panels.",
            ),
            mail(
                "buyer@new2.example",
                "sales@sinoexport.example",
                "l2",
                now - 30,
                "Please quote 800 panels.",
            ),
            mail(
                "buyer@new3.example",
                "sales@sinoexport.example",
                "l3",
                now - 20,
                "Please quote 900 panels.",
            ),
        ],
    );
    let assigned: Vec<Value> = w.events("lead.assigned");
    let owners: Vec<&str> = assigned
        .iter()
        .map(|e| e["data"]["owner"].as_str().unwrap_or("-"))
        .collect();
    assert_eq!(owners.len(), 3, "{assigned:#?}");
    assert_eq!(
        owners.iter().filter(|o| **o == "alice").count(),
        1,
        "{owners:?}"
    );
}

#[test]
fn the_monthly_review_adds_up_with_the_board() {
    let w = team(
        "",
        "H1,Hot One,,high-potential,bo,h1@hot.example,,,DE,\n\
         H2,Hot Two,,high-potential,bo,h2@hot2.example,,,DE,target\n\
         H3,Hot Signed,,high-potential,bo,h3@hot3.example,,,DE,signed\n\
         H4,Hot New,,high-potential,bo,h4@hot4.example,,,DE,\n\
         L1,Lost One,,repeat,cy,l1@lost.example,,,AE,\n",
    );
    let dec = secs("2026-12-01T00:00:00Z");
    // Followed since October (H1-H3) or since mid-December (H4).
    w.exec(&format!(
        "UPDATE customer SET created_at = {0}, owned_since = {0}, check_at = 0",
        (dec - 50 * DAY) * 1000
    ));
    w.exec(&format!(
        "UPDATE customer SET owned_since = {} WHERE id = 'H4'",
        (dec + 15 * DAY) * 1000
    ));
    // A lost deal told on 2026-12-10, with its evidence.
    w.exec(&format!(
        "INSERT INTO customer_tag (customer_id, tag, state, first_seen, last_seen, expires_at,
           evidence_count, last_message_key, last_rule, last_evidence, next_step, updated_at)
         VALUES ('L1', 'lost-deal', 'suggested', {0}, {0}, {1}, 1, 'k-lost', 'lost-deal/en/x',
           'we signed with another factory', 'Ask why', {0})",
        (dec + 9 * DAY) * 1000,
        (dec + 400 * DAY) * 1000
    ));
    assert_eq!(
        outcome(
            &w,
            &["pool", "release", "L1", "--reason", "lost to a competitor"],
            dec + 12 * DAY
        ),
        "ok"
    );
    let now = secs("2027-01-10T00:00:00Z");
    let r: Value = serde_json::from_str(&w.ok(&[
        "review",
        "--month",
        "2026-12",
        "--at",
        &at(now),
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(r["at"], "2026-12-31T23:59:59.999Z");
    let part = |o: Option<&str>| -> Value {
        r["owners"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["owner"].as_str() == o)
            .cloned()
            .unwrap_or_else(|| panic!("{o:?}: {r:#}"))
    };
    let bo = part(Some("bo"));
    let stalled: Vec<&str> = bo["high_potential_stalled"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["customer"].as_str().unwrap())
        .collect();
    assert_eq!(
        stalled,
        ["H1", "H2"],
        "signed and recent ones are not stalled"
    );
    let cy = part(Some("cy"));
    assert_eq!(cy["released"], 1);
    let pool = part(None);
    assert_eq!(
        pool["lost_deals"][0]["reason"],
        "we signed with another factory"
    );
    // The overdue counts are the board's at the same moment.
    let board: Vec<Value> = serde_json::from_str(&w.ok(&[
        "followups",
        "--format",
        "json",
        "--at",
        r["at"].as_str().unwrap(),
    ]))
    .unwrap();
    for part in r["owners"].as_array().unwrap() {
        let owner = part["owner"].as_str();
        let on_board = board
            .iter()
            .filter(|c| {
                c["owner"].as_str() == owner
                    && (c["state"] == "overdue" || c["state"] == "released")
            })
            .count();
        assert_eq!(
            part["overdue_total"].as_u64().unwrap() as usize,
            on_board,
            "{owner:?}"
        );
    }
    assert_eq!(bo["overdue_total"], 4, "{bo}");
    assert_eq!(bo["overdue"]["high-potential"], 4, "{bo}");
    // A month that is not one is refused.
    let out = w.run(&["review", "--month", "2026-13"]);
    assert_eq!(out.status.code(), Some(1));
}
