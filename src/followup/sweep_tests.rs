//! The sweep's judgement: releases held and made, exemptions, warnings, events once per
//! transition, group roll-up, mailbox health.

use super::*;
use crate::config::ImapConfig;
use crate::time::HOUR_MS;

const T0: i64 = 1_780_000_000_000;

fn row(tier: &str, owner: Option<&str>, outbound: i64) -> TimerRow {
    TimerRow {
        id: "c1".into(),
        name: "Acme".into(),
        tier: tier.into(),
        owner: owner.map(str::to_string),
        country: None,
        group: None,
        created_at: T0 - 400 * DAY,
        first_inbound_at: None,
        unanswered_since: None,
        last_inbound_at: Some(outbound - DAY),
        last_outbound_at: Some(outbound),
        paused_from: None,
        paused_until: None,
        fu_state: None,
        notified_due_at: None,
        release_frozen: None,
        conflict_rep: None,
        conflict_at: None,
        pool_changed_at: None,
        pool_reason: None,
        next_due_at: None,
        due_reason: None,
        check_at: 0,
        stage: "potential".into(),
        protected: false,
        pool: None,
        owned_since: None,
        warned_release_at: None,
    }
}

#[test]
fn release_waits_for_a_healthy_mailbox() {
    let p = Policy::default();
    let r = row("high-potential", Some("ann"), T0);
    let now = T0 + 30 * DAY;
    let a = assess(&facts_of(&r, &GroupContact::new()), &p, now);
    assert_eq!(a.state, State::Released);
    let j = judge(
        &r,
        &a,
        &p,
        &PoolConfig::default(),
        Some("mailbox ann/INBOX failing"),
        now,
    );
    assert!(j.release.is_none());
    assert_eq!(j.verdict.state, "overdue");
    assert_eq!(
        j.verdict.release_frozen.as_deref(),
        Some("mailbox ann/INBOX failing")
    );
    assert!(j.verdict.check_at > now);
    let j = judge(&r, &a, &p, &PoolConfig::default(), None, now);
    assert!(j.release.unwrap().contains("no contact for 30 days"));
    assert_eq!(j.verdict.state, "released");
}

#[test]
fn events_fire_once_per_transition() {
    let p = Policy::default();
    let mut r = row("vip", Some("ann"), T0);
    let groups = GroupContact::new();
    let at = |now: i64, r: &TimerRow| {
        let a = assess(&facts_of(r, &groups), &p, now);
        judge(r, &a, &p, &PoolConfig::default(), None, now)
    };
    // The first judgement is the baseline: an already overdue customer writes no event.
    let late = at(T0 + 31 * DAY, &r);
    assert!(late.notices.is_empty());
    assert_eq!(late.verdict.notified_due_at, Some(T0 + 7 * DAY));
    r.fu_state = Some(at(T0, &r).verdict.state.into());
    // Day 7: the second follow-up deadline passed.
    let j = at(T0 + 7 * DAY, &r);
    assert_eq!(
        j.notices,
        vec![Notice::Deadline("second follow-up", T0 + 7 * DAY)]
    );
    r.notified_due_at = j.verdict.notified_due_at;
    r.fu_state = Some(j.verdict.state.into());
    assert!(at(T0 + 8 * DAY, &r).notices.is_empty());
    // Day 30: due; day 31: overdue; then quiet.
    let j = at(T0 + 30 * DAY, &r);
    assert_eq!(j.notices, vec![Notice::Due]);
    r.fu_state = Some(j.verdict.state.into());
    let j = at(T0 + 31 * DAY, &r);
    assert_eq!(j.notices, vec![Notice::Overdue]);
    r.fu_state = Some(j.verdict.state.into());
    assert!(at(T0 + 40 * DAY, &r).notices.is_empty());
    // The pool's customers have nobody to tell.
    let pool = row("vip", None, T0);
    assert!(at(T0 + 31 * DAY, &pool).notices.is_empty());
}

#[test]
fn protected_and_signed_customers_stay_overdue_and_are_never_released() {
    let p = Policy::default();
    let pool = PoolConfig::default();
    let now = T0 + 30 * DAY;
    for (stage, protected) in [("potential", true), ("signed", false)] {
        let mut r = row("high-potential", Some("ann"), T0);
        r.stage = stage.into();
        r.protected = protected;
        let a = assess(&facts_of(&r, &GroupContact::new()), &p, now);
        let j = judge(&r, &a, &p, &pool, None, now);
        assert!(j.release.is_none(), "{stage} {protected}");
        assert_eq!(j.verdict.state, "overdue");
    }
    // signed_exempt = false: a signed customer goes like any other.
    let mut r = row("high-potential", Some("ann"), T0);
    r.stage = "signed".into();
    let a = assess(&facts_of(&r, &GroupContact::new()), &p, now);
    let not_exempt = PoolConfig {
        signed_exempt: false,
        ..PoolConfig::default()
    };
    assert!(judge(&r, &a, &p, &not_exempt, None, now).release.is_some());
}

#[test]
fn the_release_warning_comes_once_at_its_moment() {
    let p = Policy::default();
    let pool = PoolConfig {
        warn_before_release: Some("3d".into()),
        ..PoolConfig::default()
    };
    let mut r = row("repeat", Some("ann"), T0);
    r.fu_state = Some("ok".into());
    let groups = GroupContact::new();
    // repeat: due at 45 days, released 14 days later: the warning from day 56.
    let release_at = T0 + 59 * DAY;
    let at = |now: i64, r: &TimerRow| {
        let a = assess(&facts_of(r, &groups), &p, now);
        judge(r, &a, &p, &pool, None, now)
    };
    let before = at(release_at - 3 * DAY - 1, &r);
    assert_eq!(before.warning, None);
    assert_eq!(before.verdict.check_at, release_at - 3 * DAY);
    let j = at(release_at - 3 * DAY, &r);
    assert_eq!(j.warning, Some(release_at));
    r.warned_release_at = j.verdict.warned_release_at;
    assert_eq!(at(release_at - DAY, &r).warning, None);
    // Protected: no warning, nothing to release.
    let mut p2 = row("repeat", Some("ann"), T0);
    p2.fu_state = Some("ok".into());
    p2.protected = true;
    assert_eq!(at(release_at - DAY, &p2).warning, None);
}

#[test]
fn group_roll_up_takes_the_latest_contact_of_the_group() {
    let mut r = row("repeat", Some("ann"), T0);
    r.group = Some("g1".into());
    let groups: GroupContact = [("g1".to_string(), (Some(T0 + 20 * DAY), None))].into();
    assert_eq!(facts_of(&r, &groups).last_inbound_at, Some(T0 + 20 * DAY));
    assert_eq!(
        facts_of(&r, &GroupContact::new()).last_inbound_at,
        Some(T0 - DAY)
    );
}

#[test]
fn mailbox_health_per_rep() {
    let mut config = Config::default();
    let toml = r#"name = "ann-mail"
host = "imap.example.com"
username = "ann"
rep = "ann"
password_env = "X""#;
    config
        .imap
        .push(toml::from_str::<ImapConfig>(toml).unwrap());
    let h = |folder: &str, last_sync: Option<i64>, failures: i64| Health {
        account: "ann-mail".into(),
        folder: folder.into(),
        rep: Some("ann".into()),
        uid_validity: None,
        last_uid: 0,
        backfilling: false,
        last_sync_at: last_sync,
        last_error: Some("connection refused".into()),
        last_error_at: None,
        failures,
        behind: None,
        mode: None,
    };
    let now = T0;
    assert!(unhealthy_reps(&[], &config, now)["ann"].contains("never synced"));
    assert!(unhealthy_reps(&[h("INBOX", Some(now - 60_000), 0)], &config, now).is_empty());
    assert!(
        unhealthy_reps(&[h("INBOX", Some(now - 60_000), 2)], &config, now)["ann"]
            .contains("failing")
    );
    assert!(unhealthy_reps(&[h("INBOX", None, 0)], &config, now)["ann"].contains("backfilling"));
    assert!(
        unhealthy_reps(&[h("INBOX", Some(now - 7 * 3_600_000), 0)], &config, now)["ann"]
            .contains("has not synced since")
    );
    assert!(unhealthy_reps(&[h("*", None, 3)], &config, now)["ann"].contains("failing"));
    // Releases wait for every mailbox's first sync, whoever owns the customer.
    let long_ago = Some(now - 400 * DAY);
    assert!(
        release_hold(&[], &config, long_ago, now)
            .unwrap()
            .contains("never synced")
    );
    assert!(
        release_hold(&[h("INBOX", None, 0)], &config, long_ago, now)
            .unwrap()
            .contains("backfilling")
    );
    assert_eq!(
        release_hold(&[h("INBOX", Some(now), 2)], &config, long_ago, now),
        None,
        "a failing mailbox holds its own rep's customers (unhealthy_reps), not everyone's"
    );
}

#[test]
fn releases_start_once_the_directory_is_old_enough() {
    let mut config = Config::default();
    // Default: the longest tier interval (low-potential, 90 days).
    let since = T0 - 90 * DAY;
    assert!(
        release_hold(&[], &config, Some(since + 1), T0)
            .unwrap()
            .contains("89 days old")
    );
    assert_eq!(release_hold(&[], &config, Some(since), T0), None);
    // A longer configured tier moves the default; a set value beats it.
    config.followup.tiers.insert(
        "strategic".into(),
        crate::config::TierOverride {
            interval_days: Some(120),
            ..Default::default()
        },
    );
    assert!(release_hold(&[], &config, Some(since), T0).is_some());
    config.pool.release_start_after = Some("1h".into());
    assert_eq!(release_hold(&[], &config, Some(T0 - HOUR_MS), T0), None);
    assert!(release_hold(&[], &config, Some(T0 - HOUR_MS + 1), T0).is_some());
    // An empty directory has nothing to release, and no age yet.
    assert!(release_hold(&[], &config, None, T0).is_some());
}
