//! The follow-up policy as a pure function: given a customer's contact facts and the team's
//! policy, what state the customer is in at a given moment and what is due next, and why.
//! No clock and no database: `now` comes in as data, so any moment can be judged.

use serde::Serialize;

use super::calendar::Calendar;
use crate::config::FollowupConfig;

/// The policy in force: the config and its working calendar, built once.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub config: FollowupConfig,
    pub calendar: Calendar,
}

impl Policy {
    pub fn new(config: &FollowupConfig) -> Policy {
        Policy {
            config: config.clone(),
            calendar: config.calendar(),
        }
    }
}

use crate::time::{DAY_MS as DAY, HOUR_MS as HOUR};

/// What the policy needs to know about one customer.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub tier: String,
    /// When the customer entered the directory (assigned: the first-touch clock of a new
    /// customer who never wrote).
    pub created_at: i64,
    /// When the customer first wrote to us (the first-touch clock of a new customer who did).
    pub first_inbound_at: Option<i64>,
    /// Our first message since their last that they have not answered (`None`: unknown, or
    /// none): a later unanswered message of ours is the second follow-up, already sent.
    pub unanswered_since: Option<i64>,
    pub last_inbound_at: Option<i64>,
    pub last_outbound_at: Option<i64>,
    /// ISO country code (weekends and holidays).
    pub country: Option<String>,
    /// Out of office: from the auto-reply until the announced return.
    pub paused: Option<(i64, i64)>,
}

/// A deadline counted from `base` moves by the part of the absence that falls after `base`.
fn paused(deadline: i64, base: i64, pause: Option<(i64, i64)>) -> i64 {
    match pause {
        Some((from, until)) if base < until && deadline > from => {
            deadline + (until - from.max(base))
        }
        _ => deadline,
    }
}

/// The tier timer's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// Released to the public pool (tiers with release on, overdue past the grace).
    Released,
    Overdue,
    Due,
    DueSoon,
    Ok,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::DueSoon => "due-soon",
            State::Due => "due",
            State::Overdue => "overdue",
            State::Released => "released",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        Some(match s {
            "ok" => State::Ok,
            "due-soon" | "due_soon" => State::DueSoon,
            "due" => State::Due,
            "overdue" => State::Overdue,
            "released" => State::Released,
            _ => return None,
        })
    }
}

/// The judgement of one customer at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assessment {
    /// The most urgent truth of every clock (tier or first touch, reply, second follow-up): a
    /// reply 112 days late is overdue whatever the tier timer says. What a person sees.
    pub state: State,
    /// What the tier timer alone says (its transitions are the `followup.due` and
    /// `followup.overdue` events, and only it releases a customer to the pool).
    #[serde(skip)]
    pub tier_state: State,
    /// When the tier's contact interval runs out, and which clock it is ("first touch" for a
    /// new customer we never wrote to, else "contact interval").
    pub tier_due_at: i64,
    pub tier_reason: &'static str,
    /// When the no-contact rule releases the customer (tiers that release).
    pub release_at: Option<i64>,
    /// The customer wrote last and we have not answered: since when, and the answer's deadline.
    pub awaiting_reply_since: Option<i64>,
    pub reply_due_at: Option<i64>,
    /// We wrote last and the customer has not answered: the second follow-up's deadline.
    pub waiting_since: Option<i64>,
    pub follow_up_due_at: Option<i64>,
    /// The earliest deadline and why.
    pub next_due_at: i64,
    pub reason: &'static str,
    /// When the tier timer passes its next boundary after `now` (the state or a deadline
    /// changes): the sweep looks again then. `i64::MAX`: never, unless contact moves the timers.
    pub check_at: i64,
}

/// Judge one customer at `now` (Unix ms).
pub fn assess(facts: &Facts, policy: &Policy, now: i64) -> Assessment {
    let cal = &policy.calendar;
    let country = facts.country.as_deref();
    let policy = &policy.config;
    let tier = policy.tier(&facts.tier);
    let last_contact = if policy.outbound_only {
        facts.last_outbound_at
    } else {
        match (facts.last_inbound_at, facts.last_outbound_at) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    };
    // A new customer we never wrote to gets the first-touch deadline, counted from the first
    // message they sent us (or from when they were assigned, if they never wrote); everyone
    // else the tier interval from the last contact (or from entering the directory, without
    // any contact).
    let (base, days, tier_reason) = if facts.tier == "new" && facts.last_outbound_at.is_none() {
        (
            facts
                .first_inbound_at
                .or(facts.last_inbound_at)
                .unwrap_or(facts.created_at),
            policy.first_touch_days,
            "first touch",
        )
    } else {
        (
            last_contact.unwrap_or(facts.created_at),
            tier.interval_days,
            "contact interval",
        )
    };
    let tier_due_at = cal.roll_forward(paused(base + days * DAY, base, facts.paused), country);
    let warn_at = tier_due_at - tier.warn_days * DAY;
    let overdue_at = tier_due_at + policy.overdue_after_days * DAY;
    let release_at = tier_due_at + tier.release_grace_days * DAY;
    let tier_state = if tier.release && now >= release_at {
        State::Released
    } else if now >= overdue_at {
        State::Overdue
    } else if now >= tier_due_at {
        State::Due
    } else if now >= warn_at {
        State::DueSoon
    } else {
        State::Ok
    };
    let (awaiting_reply_since, reply_due_at) = match (facts.last_inbound_at, facts.last_outbound_at)
    {
        (Some(i), o) if o.is_none_or(|o| o < i) => (
            Some(i),
            Some(cal.roll_forward(i + policy.reply_within_hours * HOUR, country)),
        ),
        _ => (None, None),
    };
    // The second follow-up is due once, seven days after our first unanswered message; a
    // later message of ours was that follow-up.
    let followed_up = facts
        .unanswered_since
        .is_some_and(|u| Some(u) < facts.last_outbound_at);
    let (waiting_since, follow_up_due_at) = match (facts.last_inbound_at, facts.last_outbound_at) {
        (i, Some(o)) if i.is_none_or(|i| i < o) && !followed_up => {
            let due = paused(o + policy.no_reply_follow_up_days * DAY, o, facts.paused);
            (Some(o), Some(cal.roll_forward(due, country)))
        }
        _ => (None, None),
    };
    // A reply or second follow-up deadline passed is due, and overdue after the same grace as
    // the tier timer's.
    let clock = |due: Option<i64>| match due {
        Some(d) if now >= d + policy.overdue_after_days * DAY => State::Overdue,
        Some(d) if now >= d => State::Due,
        _ => State::Ok,
    };
    let state = tier_state
        .min(clock(reply_due_at))
        .min(clock(follow_up_due_at));
    let mut next = (tier_due_at, tier_reason);
    if let Some(r) = reply_due_at
        && r < next.0
    {
        next = (r, "reply to the customer");
    }
    if let Some(f) = follow_up_due_at
        && f < next.0
    {
        next = (f, "second follow-up");
    }
    let check_at = [
        Some(warn_at),
        Some(tier_due_at),
        Some(overdue_at),
        tier.release.then_some(release_at),
        reply_due_at,
        follow_up_due_at,
    ]
    .into_iter()
    .flatten()
    .filter(|t| *t > now)
    .min()
    .unwrap_or(i64::MAX);
    Assessment {
        check_at,
        state,
        tier_state,
        tier_due_at,
        tier_reason,
        release_at: tier.release.then_some(release_at),
        awaiting_reply_since,
        reply_due_at,
        waiting_since,
        follow_up_due_at,
        next_due_at: next.0,
        reason: next.1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_780_000_000_000;

    fn facts(tier: &str, inbound: Option<i64>, outbound: Option<i64>) -> Facts {
        Facts {
            tier: tier.into(),
            created_at: T0 - 400 * DAY,
            last_inbound_at: inbound,
            last_outbound_at: outbound,
            ..Facts::default()
        }
    }

    #[test]
    fn out_of_office_pauses_the_clock_until_the_return() {
        let p = Policy::default();
        // We wrote on T0; the customer's auto-reply the same day says back in 10 days.
        let mut f = facts("vip", Some(T0 - DAY), Some(T0));
        f.paused = Some((T0 + HOUR, T0 + 10 * DAY));
        let a = assess(&f, &p, T0 + 8 * DAY);
        // The second follow-up (day 7) and the tier timer (day 30) move by the absence.
        let shift = 10 * DAY - HOUR;
        assert_eq!(a.follow_up_due_at, Some(T0 + 7 * DAY + shift));
        assert_eq!(a.tier_due_at, T0 + 30 * DAY + shift);
        assert_eq!(a.state, State::Ok);
        assert_eq!(a.reason, "second follow-up");
        // Contact after the return starts a fresh clock: the old absence does not apply.
        let mut later = facts("vip", Some(T0 - DAY), Some(T0 + 12 * DAY));
        later.paused = f.paused;
        assert_eq!(assess(&later, &p, T0).tier_due_at, T0 + 42 * DAY);
    }

    /// A team that never releases its VIPs (`[followup.tiers.vip] release = false`).
    fn kept_vips() -> Policy {
        let mut cfg = FollowupConfig::default();
        cfg.tiers.insert(
            "vip".into(),
            crate::config::TierOverride {
                release: Some(false),
                ..Default::default()
            },
        );
        Policy::new(&cfg)
    }

    #[test]
    fn check_at_is_the_next_boundary() {
        let p = Policy::default();
        let f = facts("vip", Some(T0 - DAY), Some(T0));
        // Next: the second follow-up on day 7, then due-soon on day 23, due on 30, overdue 31.
        assert_eq!(assess(&f, &p, T0).check_at, T0 + 7 * DAY);
        assert_eq!(assess(&f, &p, T0 + 7 * DAY).check_at, T0 + 23 * DAY);
        assert_eq!(assess(&f, &p, T0 + 30 * DAY).check_at, T0 + 31 * DAY);
        // Then the release, 14 days after the due date; then nothing more to wait for.
        assert_eq!(assess(&f, &p, T0 + 31 * DAY).check_at, T0 + 44 * DAY);
        assert_eq!(assess(&f, &p, T0 + 44 * DAY).check_at, i64::MAX);
        assert_eq!(assess(&f, &kept_vips(), T0 + 31 * DAY).check_at, i64::MAX);
    }

    #[test]
    fn business_days_move_deadlines_off_weekends() {
        let cfg = FollowupConfig {
            business_days: true,
            ..FollowupConfig::default()
        };
        let p = Policy::new(&cfg);
        // 2026-12-04 is a Friday: a customer's mail at 10:00 is answered by Monday 10:00,
        // and in Saudi Arabia (Friday-Saturday weekend) by Sunday.
        let fri = 1_796_378_400_000; // 2026-12-04T10:00:00Z
        let f = Facts {
            tier: "vip".into(),
            created_at: fri - 400 * DAY,
            last_inbound_at: Some(fri),
            last_outbound_at: Some(fri - DAY),
            ..Facts::default()
        };
        assert_eq!(assess(&f, &p, fri).reply_due_at, Some(fri + 3 * DAY));
        let sa = Facts {
            country: Some("SA".into()),
            ..f.clone()
        };
        assert_eq!(assess(&sa, &p, fri).reply_due_at, Some(fri + 2 * DAY));
        assert_eq!(
            assess(&f, &Policy::default(), fri).reply_due_at,
            Some(fri + DAY)
        );
    }

    #[test]
    fn tier_timers_at_their_boundaries() {
        let p = Policy::default();
        for (tier, days) in [
            ("vip", 30),
            ("repeat", 45),
            ("one-time", 45),
            ("high-potential", 7),
            ("low-potential", 90),
        ] {
            let f = facts(tier, Some(T0 - DAY), Some(T0));
            let due = T0 + days * DAY;
            let a = assess(&f, &p, due - 1);
            assert_ne!(a.tier_state, State::Due, "{tier} one ms early");
            assert_eq!(
                assess(&f, &p, due).tier_state,
                State::Due,
                "{tier} exactly on time"
            );
            assert_eq!(
                assess(&f, &p, due + 1000).tier_state,
                State::Due,
                "{tier} +1 s"
            );
            assert_eq!(a.tier_due_at, due);
        }
        let f = facts("vip", None, Some(T0));
        let warn = T0 + (30 - p.config.tier("vip").warn_days) * DAY;
        assert_eq!(assess(&f, &p, warn - 1000).tier_state, State::Ok);
        assert_eq!(assess(&f, &p, warn).tier_state, State::DueSoon);
    }

    #[test]
    fn the_state_is_the_most_urgent_of_every_clock() {
        let p = kept_vips();
        // The customer wrote 112 days ago and nobody answered.
        let late_reply = facts("vip", Some(T0 - 112 * DAY), None);
        let a = assess(&late_reply, &p, T0);
        assert_eq!(a.state, State::Overdue);
        assert_eq!(a.reason, "reply to the customer");
        // Answered within the day: nothing is late.
        let answered = facts("vip", Some(T0 - 2 * HOUR), Some(T0 - HOUR));
        assert_eq!(assess(&answered, &p, T0).state, State::Ok);
        // A reply due now is due, a day later overdue, while the tier timer is fine.
        let waiting = facts("vip", Some(T0), None);
        let due = T0 + p.config.reply_within_hours * HOUR;
        let a = assess(&waiting, &p, due - 1);
        assert_eq!((a.state, a.tier_state), (State::Ok, State::Ok));
        assert_eq!(assess(&waiting, &p, due).state, State::Due);
        assert_eq!(assess(&waiting, &p, due + DAY).state, State::Overdue);
        assert_eq!(assess(&waiting, &p, due + DAY).tier_state, State::Ok);
        // The second follow-up: due seven days after our first unanswered message, once.
        let mut offer = facts("vip", Some(T0 - DAY), Some(T0));
        offer.unanswered_since = Some(T0);
        assert_eq!(assess(&offer, &p, T0 + 7 * DAY - 1).state, State::Ok);
        let a = assess(&offer, &p, T0 + 7 * DAY);
        assert_eq!((a.state, a.reason), (State::Due, "second follow-up"));
        // It went out on day 6: nothing more is due before the tier interval.
        offer.last_outbound_at = Some(T0 + 6 * DAY);
        let a = assess(&offer, &p, T0 + 20 * DAY);
        assert_eq!((a.state, a.follow_up_due_at), (State::Ok, None));
        assert_eq!(a.tier_due_at, T0 + 36 * DAY);
        // Released stays the most urgent.
        let gone = facts("high-potential", Some(T0 - 30 * DAY), None);
        assert_eq!(assess(&gone, &p, T0).state, State::Released);
    }

    #[test]
    fn overdue_then_released_only_where_release_is_on() {
        let p = Policy::default();
        let f = facts("high-potential", None, Some(T0));
        let due = T0 + 7 * DAY;
        assert_eq!(
            assess(&f, &p, due + p.config.overdue_after_days * DAY).state,
            State::Overdue
        );
        let grace = p.config.tier("high-potential").release_grace_days;
        assert_eq!(assess(&f, &p, due + grace * DAY).state, State::Released);
        // VIPs too, as the method says (30 days, then the grace), unless the team keeps them.
        let f = facts("vip", None, Some(T0));
        assert_eq!(assess(&f, &p, T0 + 44 * DAY - 1).state, State::Overdue);
        assert_eq!(assess(&f, &p, T0 + 44 * DAY).state, State::Released);
        assert_eq!(
            assess(&f, &kept_vips(), T0 + 400 * DAY).state,
            State::Overdue
        );
    }

    #[test]
    fn reply_and_second_follow_up_deadlines() {
        let p = Policy::default();
        // The customer wrote last: answer within 24 h.
        let a = assess(&facts("vip", Some(T0), Some(T0 - DAY)), &p, T0);
        assert_eq!(a.awaiting_reply_since, Some(T0));
        assert_eq!(a.next_due_at, T0 + 24 * HOUR);
        assert_eq!(a.reason, "reply to the customer");
        // We wrote last: follow up within 7 days.
        let a = assess(&facts("vip", Some(T0 - DAY), Some(T0)), &p, T0);
        assert_eq!(a.follow_up_due_at, Some(T0 + 7 * DAY));
        assert_eq!(a.reason, "second follow-up");
        // A repeat customer whose mail we only ever received: the tier interval applies.
        let a = assess(&facts("repeat", Some(T0), None), &p, T0);
        assert_eq!(a.tier_due_at, T0 + 45 * DAY);
        // A new customer we never wrote to: first touch within 3 days.
        let f = Facts {
            tier: "new".into(),
            created_at: T0,
            ..Facts::default()
        };
        let a = assess(&f, &p, T0);
        assert_eq!((a.next_due_at, a.reason), (T0 + 3 * DAY, "first touch"));
    }

    #[test]
    fn first_touch_counts_from_the_first_message_the_customer_sent() {
        let p = Policy::default();
        // Wrote four days before keepwarm learned of them, and twice since: late already.
        let f = Facts {
            tier: "new".into(),
            created_at: T0,
            first_inbound_at: Some(T0 - 4 * DAY),
            last_inbound_at: Some(T0 - DAY),
            ..Facts::default()
        };
        let a = assess(&f, &p, T0);
        assert_eq!(
            a.tier_due_at,
            T0 - DAY,
            "three days after the first message"
        );
        assert_eq!(a.tier_reason, "first touch");
        assert_eq!(a.state, State::Overdue, "a day past due");
        assert_eq!(assess(&f, &p, T0 - DAY).state, State::Due);
        assert_eq!(assess(&f, &p, T0 - DAY - 1).state, State::DueSoon);
        // Never wrote: from when they were assigned.
        let f = Facts {
            first_inbound_at: None,
            last_inbound_at: None,
            ..f
        };
        assert_eq!(assess(&f, &p, T0).tier_due_at, T0 + 3 * DAY);
        // Once we wrote, the tier interval from the last contact applies.
        let f = Facts {
            first_inbound_at: Some(T0 - 4 * DAY),
            last_inbound_at: Some(T0 - 4 * DAY),
            last_outbound_at: Some(T0 - 2 * DAY),
            ..f
        };
        assert_eq!(assess(&f, &p, T0).tier_reason, "contact interval");
    }

    #[test]
    fn outbound_only_policy_ignores_inbound_for_the_tier_timer() {
        let p = Policy {
            config: FollowupConfig {
                outbound_only: true,
                ..FollowupConfig::default()
            },
            ..Policy::default()
        };
        let f = facts("vip", Some(T0 + 20 * DAY), Some(T0));
        assert_eq!(assess(&f, &p, T0).tier_due_at, T0 + 30 * DAY);
        let p = Policy::default();
        assert_eq!(assess(&f, &p, T0).tier_due_at, T0 + 50 * DAY);
    }
}
