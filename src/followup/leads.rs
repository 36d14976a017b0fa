//! Unknown senders become leads: each sender of a new human inquiry that matched nobody gets a
//! lead (tier new), dealt to its rep when the inquiry came to a rep's own mailbox or number,
//! else by weighted round-robin within the reps' daily caps (`assign`), else left to the pool.
//! The decisions here are plain functions; `store::leads` writes the rows.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use super::assign::{Seat, next};
use crate::config::Config;
use crate::directory::identity::MatchReason;
use crate::message::{Direction, Message, counterpart_identity};
use crate::normalize::Class;
use crate::store::{StoreError, Tx};

/// The senders of new inquiries that matched nobody, each once, in the order of their first
/// inquiry: (identity kind, identity value) and the index of that inquiry in `messages`.
pub fn inquiries(
    messages: &[Cow<'_, Message>],
    inserted: &HashSet<String>,
    min_sent: i64,
) -> Vec<((&'static str, String), usize)> {
    let mut senders: Vec<((&'static str, String), usize)> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        if m.customer.is_some()
            || m.group.is_some()
            || m.direction != Direction::Inbound
            || m.class != Class::Human
            || m.sent_at < min_sent
            || !inserted.contains(&m.key)
        {
            continue;
        }
        if let Some(id) = counterpart_identity(m)
            && !senders.iter().any(|(s, _)| *s == id)
        {
            senders.push((id, i));
        }
    }
    senders
}

/// Who gets the next leads: the reps taking part (weight above 0), where the round-robin cycle
/// stands, and how many leads each rep got today.
#[derive(Debug, Clone)]
pub struct Router {
    seats: Vec<Seat>,
    position: u64,
    today: HashMap<String, u32>,
    reps: Vec<String>,
    /// Customers each rep holds, and its holding cap (reps at it get no round-robin lead).
    holding: HashMap<String, u32>,
    caps: HashMap<String, u32>,
}

pub use crate::store::leads::Standing;

impl Router {
    pub fn new(config: &Config, standing: Standing) -> Router {
        let by_conversion = config.leads.weight_from == crate::config::WeightFrom::Conversion;
        Router {
            seats: config
                .reps
                .iter()
                .filter(|r| r.weight > 0)
                .map(|r| Seat {
                    rep: r.id.clone(),
                    // From results: one more share per converted lead (a rep without any
                    // still gets one).
                    weight: if by_conversion {
                        1 + standing.converted.get(&r.id).copied().unwrap_or(0).min(999)
                    } else {
                        r.weight
                    },
                    daily_cap: r.daily_lead_cap,
                })
                .collect(),
            position: standing.position,
            today: standing.today,
            reps: config.reps.iter().map(|r| r.id.clone()).collect(),
            holding: standing.holding,
            caps: config
                .reps
                .iter()
                .filter_map(|r| config.max_customers(&r.id).map(|c| (r.id.clone(), c)))
                .collect(),
        }
    }

    /// The owner of a lead and how it was chosen: the rep whose mailbox or number the inquiry
    /// came to (`direct`, when a configured rep), else the next rep of the cycle under its cap
    /// (`round-robin`), else nobody (`pool`).
    pub fn assign(&mut self, direct: Option<&str>) -> (Option<String>, &'static str) {
        if let Some(rep) = direct.filter(|r| self.reps.iter().any(|c| c == r)) {
            return (Some(rep.to_string()), "direct");
        }
        let counts: Vec<u32> = self
            .seats
            .iter()
            .map(|s| self.today.get(&s.rep).copied().unwrap_or(0))
            .collect();
        let full: Vec<bool> = self
            .seats
            .iter()
            .map(|s| {
                self.caps
                    .get(&s.rep)
                    .is_some_and(|cap| self.holding.get(&s.rep).copied().unwrap_or(0) >= *cap)
            })
            .collect();
        match next(&self.seats, self.position, &counts, &full) {
            Some((i, p)) => {
                self.position = p;
                (Some(self.seats[i].rep.clone()), "round-robin")
            }
            None => (None, "pool"),
        }
    }

    /// A lead was made for `owner`: it counts toward the owner's cap today.
    pub fn dealt(&mut self, owner: &str) {
        *self.today.entry(owner.to_string()).or_default() += 1;
        *self.holding.entry(owner.to_string()).or_default() += 1;
    }

    /// The position to store.
    pub fn position(&self) -> u64 {
        self.position
    }
}

/// The messages of a batch from a counterpart (any direction but internal) that matched
/// nobody join its lead `id`.
pub fn attach(messages: &mut [Cow<'_, Message>], kind: &str, value: &str, id: &str) {
    for m in messages.iter_mut() {
        if m.customer.is_none()
            && m.group.is_none()
            && m.direction != Direction::Internal
            && counterpart_identity(m).is_some_and(|(k, v)| k == kind && v == value)
        {
            let m = m.to_mut();
            m.customer = Some(id.to_string());
            m.group = None;
            m.match_reason = MatchReason::of_identity(kind);
        }
    }
}

/// Turn the new, still unknown inquiries of a batch into leads, one per sender, dealt to the
/// reps; attach the sender's messages (this batch's and earlier unmatched ones) to it. Returns
/// the number of leads made.
pub async fn make(
    tx: &mut Tx,
    messages: &mut [Cow<'_, Message>],
    inserted: &HashSet<String>,
    config: &Config,
    now: i64,
) -> Result<usize, StoreError> {
    let senders = inquiries(messages, inserted, now - config.leads_max_age_ms());
    if senders.is_empty() {
        return Ok(0);
    }
    let day_start = config.followup.calendar().day_start(now);
    let standing = crate::store::leads::routing_state(
        tx,
        day_start,
        config.pool.cap_counts_signed,
        now - 90 * crate::time::DAY_MS,
    )
    .await?;
    let mut router = Router::new(config, standing);
    let mut made = 0;
    for ((kind, value), first) in senders {
        let m: Message = (*messages[first]).clone();
        let id = crate::store::leads::lead_id(kind, &value);
        let (owner, how) = router.assign(m.rep.as_deref());
        let name = m.from_name.clone().unwrap_or_else(|| value.clone());
        let name_key = crate::directory::import::name_key(&name);
        let lead = crate::store::leads::NewLead {
            id: &id,
            name: &name,
            name_key: &name_key,
            kind,
            value: &value,
            owner: owner.as_deref(),
            how,
            message: &m,
        };
        if crate::store::leads::create(tx, &lead, now).await? {
            if let Some(o) = &owner {
                router.dealt(o);
            }
            made += 1;
        }
        attach(messages, kind, &value, &id);
        crate::store::leads::attach_stored(tx, &id, kind, m.counterpart.as_deref()).await?;
    }
    crate::store::leads::set_position(tx, router.position()).await?;
    Ok(made)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inquiry(key: &str, from: &str, rep: Option<&str>) -> Message {
        let mut m = Message::sample(key, from);
        m.rep = rep.map(str::to_string);
        m
    }

    fn team(reps: &str) -> Config {
        Config::from_toml(reps, std::path::Path::new("test.toml")).unwrap()
    }

    #[test]
    fn each_unknown_sender_of_a_new_human_inquiry_is_one_lead() {
        let mut known = inquiry("k3", "c@known.example", None);
        known.customer = Some("acme".into());
        let mut spam = inquiry("k4", "d@spam.example", None);
        spam.class = Class::Spam;
        let mut ours = inquiry("k5", "e@out.example", None);
        ours.direction = Direction::Outbound;
        let mut old = inquiry("k6", "f@old.example", None);
        old.sent_at = 10;
        let messages: Vec<Cow<'_, Message>> = [
            inquiry("k1", "A@Buyer.example", None),
            inquiry("k2", "a@buyer.example", None),
            known,
            spam,
            ours,
            old,
            inquiry("k7", "g@seen.example", None),
            inquiry("k8", "h@new.example", None),
        ]
        .into_iter()
        .map(Cow::Owned)
        .collect();
        // k7 was stored before: a copy, not a new inquiry.
        let inserted: HashSet<String> = ["k1", "k2", "k3", "k4", "k5", "k6", "k8"]
            .iter()
            .map(|k| k.to_string())
            .collect();
        let got = inquiries(&messages, &inserted, 100);
        assert_eq!(
            got,
            vec![
                (("email", "a@buyer.example".to_string()), 0),
                (("email", "h@new.example".to_string()), 7)
            ]
        );
    }

    #[test]
    fn leads_go_to_the_rep_written_to_else_round_robin_within_caps_else_the_pool() {
        let config = team(
            r#"
            [[reps]]
            id = "ana"
            weight = 2
            daily_lead_cap = 2
            [[reps]]
            id = "bo"
            weight = 1
            [[reps]]
            id = "cy"
            weight = 0
            "#,
        );
        let today: HashMap<String, u32> = [("ana".to_string(), 1)].into();
        let mut router = Router::new(
            &config,
            Standing {
                today,
                ..Standing::default()
            },
        );
        // Written to a configured rep (even one taking no round-robin leads): that rep.
        assert_eq!(router.assign(Some("cy")), (Some("cy".into()), "direct"));
        assert_eq!(router.position(), 0);
        // Not a configured rep: dealt like any other.
        let (owner, how) = router.assign(Some("someone-else"));
        assert_eq!((owner.as_deref(), how), (Some("ana"), "round-robin"));
        router.dealt("ana");
        // ana is at her cap of 2 today: bo takes the rest.
        assert_eq!(router.assign(None), (Some("bo".into()), "round-robin"));
        router.dealt("bo");
        assert_eq!(router.assign(None), (Some("bo".into()), "round-robin"));
        let position = router.position();
        assert!(position > 1, "the cycle moved on: {position}");

        let capped = team(
            r#"
            [[reps]]
            id = "ana"
            daily_lead_cap = 1
            "#,
        );
        let mut router = Router::new(
            &capped,
            Standing {
                position: 7,
                today: [("ana".to_string(), 1)].into(),
                ..Standing::default()
            },
        );
        assert_eq!(router.assign(None), (None, "pool"));
        assert_eq!(router.position(), 7);
    }

    #[test]
    fn routing_skips_reps_at_their_holding_cap_and_can_weigh_by_conversion() {
        let config = team(
            r#"
            [pool]
            max_customers = 10
            [[reps]]
            id = "ana"
            max_customers = 3
            [[reps]]
            id = "bo"
            "#,
        );
        let mut router = Router::new(
            &config,
            Standing {
                holding: [("ana".to_string(), 2), ("bo".to_string(), 10)].into(),
                ..Standing::default()
            },
        );
        // bo is at the team's cap of 10; ana takes one more and is full.
        assert_eq!(router.assign(None), (Some("ana".into()), "round-robin"));
        router.dealt("ana");
        assert_eq!(router.assign(None), (None, "pool"));

        let by_results = team(
            r#"
            [leads]
            weight_from = "conversion"
            [[reps]]
            id = "ana"
            [[reps]]
            id = "bo"
            [[reps]]
            id = "cy"
            weight = 0
            "#,
        );
        let mut router = Router::new(
            &by_results,
            Standing {
                converted: [("ana".to_string(), 2), ("cy".to_string(), 5)].into(),
                ..Standing::default()
            },
        );
        let dealt: Vec<String> = (0..8).map(|_| router.assign(None).0.unwrap()).collect();
        // ana 3 shares, bo 1; cy takes no leads whatever its results.
        assert_eq!(
            dealt,
            ["ana", "bo", "ana", "ana", "ana", "bo", "ana", "ana"]
        );
    }

    #[test]
    fn a_senders_unplaced_messages_join_its_lead() {
        let mut placed = inquiry("k2", "a@buyer.example", None);
        placed.customer = Some("other".into());
        let mut internal = inquiry("k3", "a@buyer.example", None);
        internal.direction = Direction::Internal;
        let mut reply = inquiry("k4", "A@buyer.example", None);
        reply.direction = Direction::Outbound;
        let mut messages: Vec<Cow<'_, Message>> = [
            inquiry("k1", "a@buyer.example", None),
            placed,
            internal,
            reply,
            inquiry("k5", "z@else.example", None),
        ]
        .into_iter()
        .map(Cow::Owned)
        .collect();
        attach(&mut messages, "email", "a@buyer.example", "lead-1");
        let customers: Vec<Option<&str>> = messages.iter().map(|m| m.customer.as_deref()).collect();
        assert_eq!(
            customers,
            vec![Some("lead-1"), Some("other"), None, Some("lead-1"), None]
        );
        assert_eq!(messages[0].match_reason, MatchReason::Address);
    }
}
