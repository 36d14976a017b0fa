//! The follow-up policy as a pure function: given a customer's contact facts and the team's
//! policy, what state the customer is in at a given moment and what is due next, and why.
//! No clock and no database: `now` comes in as data, so any moment can be judged.

use serde::Serialize;

use crate::config::FollowupConfig;

const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;

/// What the policy needs to know about one customer.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub tier: String,
    /// When the customer entered the directory (the first-touch clock of new customers).
    pub created_at: i64,
    pub last_inbound_at: Option<i64>,
    pub last_outbound_at: Option<i64>,
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
    pub state: State,
    /// When the tier's contact interval runs out.
    pub tier_due_at: i64,
    /// The customer wrote last and we have not answered: since when, and the answer's deadline.
    pub awaiting_reply_since: Option<i64>,
    pub reply_due_at: Option<i64>,
    /// We wrote last and the customer has not answered: the second follow-up's deadline.
    pub waiting_since: Option<i64>,
    pub follow_up_due_at: Option<i64>,
    /// The earliest deadline and why.
    pub next_due_at: i64,
    pub reason: &'static str,
}

/// Judge one customer at `now` (Unix ms).
pub fn assess(facts: &Facts, policy: &FollowupConfig, now: i64) -> Assessment {
    let tier = policy.tier(&facts.tier);
    let last_contact = if policy.outbound_only {
        facts.last_outbound_at
    } else {
        match (facts.last_inbound_at, facts.last_outbound_at) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    };
    // A new customer we never wrote to gets the first-touch deadline; everyone else the tier
    // interval from the last contact (or from entering the directory, without any contact).
    let (tier_due_at, tier_reason) = if facts.tier == "new" && facts.last_outbound_at.is_none() {
        (
            facts.created_at.max(facts.last_inbound_at.unwrap_or(0))
                + policy.first_touch_days * DAY,
            "first touch",
        )
    } else {
        (
            last_contact.unwrap_or(facts.created_at) + tier.interval_days * DAY,
            "contact interval",
        )
    };
    let warn_at = tier_due_at - tier.warn_days * DAY;
    let overdue_at = tier_due_at + policy.overdue_after_days * DAY;
    let release_at = tier_due_at + tier.release_grace_days * DAY;
    let state = if tier.release && now >= release_at {
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
        (Some(i), o) if o.is_none_or(|o| o < i) => {
            (Some(i), Some(i + policy.reply_within_hours * HOUR))
        }
        _ => (None, None),
    };
    let (waiting_since, follow_up_due_at) = match (facts.last_inbound_at, facts.last_outbound_at) {
        (i, Some(o)) if i.is_none_or(|i| i < o) => {
            (Some(o), Some(o + policy.no_reply_follow_up_days * DAY))
        }
        _ => (None, None),
    };
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
    Assessment {
        state,
        tier_due_at,
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
        }
    }

    #[test]
    fn tier_timers_at_their_boundaries() {
        let p = FollowupConfig::default();
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
            assert_ne!(a.state, State::Due, "{tier} one ms early");
            assert_eq!(
                assess(&f, &p, due).state,
                State::Due,
                "{tier} exactly on time"
            );
            assert_eq!(assess(&f, &p, due + 1000).state, State::Due, "{tier} +1 s");
            assert_eq!(a.tier_due_at, due);
        }
        let f = facts("vip", None, Some(T0));
        let warn = T0 + (30 - p.tier("vip").warn_days) * DAY;
        assert_eq!(assess(&f, &p, warn - 1000).state, State::Ok);
        assert_eq!(assess(&f, &p, warn).state, State::DueSoon);
    }

    #[test]
    fn overdue_then_released_only_where_release_is_on() {
        let p = FollowupConfig::default();
        let f = facts("high-potential", None, Some(T0));
        let due = T0 + 7 * DAY;
        assert_eq!(
            assess(&f, &p, due + p.overdue_after_days * DAY).state,
            State::Overdue
        );
        let grace = p.tier("high-potential").release_grace_days;
        assert_eq!(assess(&f, &p, due + grace * DAY).state, State::Released);
        // VIPs are never released by default.
        let f = facts("vip", None, Some(T0));
        assert_eq!(assess(&f, &p, T0 + 400 * DAY).state, State::Overdue);
    }

    #[test]
    fn reply_and_second_follow_up_deadlines() {
        let p = FollowupConfig::default();
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
    fn outbound_only_policy_ignores_inbound_for_the_tier_timer() {
        let p = FollowupConfig {
            outbound_only: true,
            ..FollowupConfig::default()
        };
        let f = facts("vip", Some(T0 + 20 * DAY), Some(T0));
        assert_eq!(assess(&f, &p, T0).tier_due_at, T0 + 30 * DAY);
        let p = FollowupConfig::default();
        assert_eq!(assess(&f, &p, T0).tier_due_at, T0 + 50 * DAY);
    }
}
