//! What a rep's recent contact does to a customer's ownership: a pool customer contacted by a
//! rep is claimed by that rep (within the rep's daily claim limit); a customer contacted by a rep
//! who does not own it is a conflict, flagged for the board and told to the CRM when it is news.
//! An out-of-office reply pauses the customer's clock. The decisions are plain functions; the
//! rows are `store::followup`'s.

use std::collections::HashMap;

use crate::config::Config;
use crate::events::{At, Event};
use crate::message::{Direction, Message};
use crate::store::followup::{flag_conflict, pause};
use crate::store::outbox::{customer_ref, emit};
use crate::store::ownership as own;
pub use crate::store::ownership::{Holding, Load};
use crate::store::{StoreError, Tx};

/// The contacts that can change ownership: recent outbound messages that count, from a rep's
/// mailbox or number to a known customer, oldest first.
pub fn contacts<'m>(fresh: &[&'m Message], recent: i64) -> Vec<&'m Message> {
    let mut out: Vec<&Message> = fresh
        .iter()
        .copied()
        .filter(|m| {
            m.direction == Direction::Outbound
                && m.counts_as_contact
                && m.customer.is_some()
                && m.rep.is_some()
                && m.sent_at >= recent
        })
        .collect();
    out.sort_by_key(|m| m.sent_at);
    out
}

/// Why a change of owner or protection is refused: a stable code for scripts and the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The rep holds as many customers as its cap allows.
    OverHoldingCap,
    /// The owner protects as many customers as its quota allows.
    OverProtectQuota,
    /// The rep claimed as many customers today as the team allows.
    DailyLimit,
    /// ... or this month.
    MonthlyLimit,
    /// The rep lost this customer too recently to claim it back.
    Cooldown,
    /// The customer was released too recently for anyone to claim it.
    Embargo,
    /// The customer sits in a pool the rep is not a member of.
    NotPoolMember,
    /// The customer has an owner: it is not in any pool.
    NotInPool,
    /// A VIP customer needs an owner who joined at least a year ago.
    Tenure,
    /// Only the customer's owner may do this.
    NotOwner,
    /// The customer is in a pool already.
    AlreadyInPool,
}

impl Reason {
    pub fn code(self) -> &'static str {
        match self {
            Reason::OverHoldingCap => "over_holding_cap",
            Reason::OverProtectQuota => "over_protect_quota",
            Reason::DailyLimit => "daily_limit",
            Reason::MonthlyLimit => "monthly_limit",
            Reason::Cooldown => "cooldown",
            Reason::Embargo => "embargo",
            Reason::NotPoolMember => "not_pool_member",
            Reason::NotInPool => "not_in_pool",
            Reason::Tenure => "tenure",
            Reason::NotOwner => "not_owner",
            Reason::AlreadyInPool => "already_in_pool",
        }
    }
}

/// A refused change: its code and the words for a person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub reason: Reason,
    pub message: String,
}

fn refuse(reason: Reason, message: String) -> Result<(), Refusal> {
    Err(Refusal { reason, message })
}

/// Whether `rep` may own a VIP customer at `now`: it joined at least a year ago (or its
/// joining date is not configured).
fn tenure(config: &Config, tier: &str, rep: &str, now: i64) -> Result<(), Refusal> {
    if tier != "vip" {
        return Ok(());
    }
    let Some(joined) = config.rep(rep).and_then(|r| r.joined.as_deref()) else {
        return Ok(());
    };
    let year_on = chrono::NaiveDate::parse_from_str(joined, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.checked_add_months(chrono::Months::new(12)))
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc().timestamp_millis());
    match year_on {
        Some(at) if now < at => refuse(
            Reason::Tenure,
            format!(
                "{rep} joined on {joined}: a VIP customer's owner must have been with the company a year (from {})",
                crate::time::rfc3339(at)
            ),
        ),
        _ => Ok(()),
    }
}

/// The board's flag on a VIP whose owner joined less than a year ago (kept from before the
/// rule, or assigned with `--force`).
pub fn tenure_flag(config: &Config, tier: &str, owner: Option<&str>, now: i64) -> Option<String> {
    tenure(config, tier, owner?, now).err().map(|r| r.message)
}

/// Whether one more customer fits under `rep`'s holding cap.
fn holding_cap(config: &Config, c: &Holding, rep: &str, load: &Load) -> Result<(), Refusal> {
    if c.signed() && !config.pool.cap_counts_signed {
        return Ok(());
    }
    match config.max_customers(rep) {
        Some(cap) if load.owned >= cap => refuse(
            Reason::OverHoldingCap,
            format!("{rep} holds {} customers: the cap is {cap}", load.owned),
        ),
        _ => Ok(()),
    }
}

/// May `rep` claim customer `c` from its pool at `now`? `lost_at`: when `rep` last lost it.
pub fn may_claim(
    config: &Config,
    c: &Holding,
    rep: &str,
    load: &Load,
    lost_at: Option<i64>,
    now: i64,
) -> Result<(), Refusal> {
    if let Some(owner) = &c.owner {
        let whose = if owner == rep {
            "yours already".to_string()
        } else {
            format!("owned by {owner}")
        };
        return refuse(
            Reason::NotInPool,
            format!("{} is not in a pool: {whose}", c.id),
        );
    }
    let pool = c.pool_name(config);
    if !config.rep_in_pool(rep, pool) {
        return refuse(
            Reason::NotPoolMember,
            format!("{} is in pool {pool}, which {rep} is not a member of", c.id),
        );
    }
    if let (Some(span), Some(released)) = (&config.pool.release_embargo, c.changed_at)
        && now < released.saturating_add(span.ms())
    {
        return refuse(
            Reason::Embargo,
            format!(
                "{} was released at {}: nobody may claim it before {}",
                c.id,
                crate::time::rfc3339(released),
                crate::time::rfc3339(released.saturating_add(span.ms()))
            ),
        );
    }
    if let (Some(span), Some(lost)) = (&config.pool.reclaim_cooldown, lost_at)
        && now < lost.saturating_add(span.ms())
    {
        return refuse(
            Reason::Cooldown,
            format!(
                "{rep} lost {} at {}: it may claim it back from {}",
                c.id,
                crate::time::rfc3339(lost),
                crate::time::rfc3339(lost.saturating_add(span.ms()))
            ),
        );
    }
    tenure(config, &c.tier, rep, now)?;
    holding_cap(config, c, rep, load)?;
    if let Some(limit) = config.claim_daily_limit()
        && load.claims_today >= limit
    {
        return refuse(
            Reason::DailyLimit,
            format!(
                "{rep} claimed {} customers today: the limit is {limit} a day",
                load.claims_today
            ),
        );
    }
    if let Some(limit) = config.pool.claim_monthly_limit
        && load.claims_month >= limit
    {
        return refuse(
            Reason::MonthlyLimit,
            format!(
                "{rep} claimed {} customers this month: the limit is {limit} a month",
                load.claims_month
            ),
        );
    }
    Ok(())
}

/// May a manager give customer `c` to `rep`? `force` overrides the cap and the tenure rule.
pub fn may_assign(
    config: &Config,
    c: &Holding,
    rep: &str,
    load: &Load,
    force: bool,
    now: i64,
) -> Result<(), Refusal> {
    if force || c.owner.as_deref() == Some(rep) {
        return Ok(());
    }
    tenure(config, &c.tier, rep, now)?;
    holding_cap(config, c, rep, load)
}

/// May the owner protect `c`? `by`: the rep asking (`None`: a manager acting for the owner);
/// `load`: the owner's.
pub fn may_protect(
    config: &Config,
    c: &Holding,
    by: Option<&str>,
    load: &Load,
) -> Result<(), Refusal> {
    let Some(owner) = c.owner.as_deref() else {
        return refuse(
            Reason::NotOwner,
            format!("{} is in a pool: only an owner protects a customer", c.id),
        );
    };
    if let Some(rep) = by
        && rep != owner
    {
        return refuse(
            Reason::NotOwner,
            format!("{} is {owner}'s customer: only its owner protects it", c.id),
        );
    }
    if c.is_protected() {
        return Ok(());
    }
    match config.max_protected(owner) {
        Some(max) if load.protected >= max => refuse(
            Reason::OverProtectQuota,
            format!(
                "{owner} protects {} customers: the quota is {max}",
                load.protected
            ),
        ),
        _ => Ok(()),
    }
}

/// May customer `c` be released by hand? `by`: the rep asking (`None`: a manager).
pub fn may_release(c: &Holding, by: Option<&str>) -> Result<(), Refusal> {
    match c.owner.as_deref() {
        None => refuse(
            Reason::AlreadyInPool,
            format!("{} is in a pool already", c.id),
        ),
        Some(owner) if by.is_some_and(|rep| rep != owner) => refuse(
            Reason::NotOwner,
            format!(
                "{} is {owner}'s customer: only its owner or a manager releases it",
                c.id
            ),
        ),
        Some(_) => Ok(()),
    }
}

/// What one contact by `rep` means for customer `c`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The rep owns it, or nobody does and claims on contact are off.
    Nothing,
    /// A pool customer the rep's contact claims.
    Claim { reason: String },
    /// Someone other than the owner wrote (`owner`: the owner named, none when a claim was
    /// refused), and why.
    Conflict {
        owner: Option<String>,
        reason: String,
    },
}

/// Judge one contact by `rep` on channel `channel`: a pool customer is claimed when the
/// claim rules allow it (`load`, `lost_at` as for `may_claim`).
pub fn judge(
    config: &Config,
    c: &Holding,
    rep: &str,
    channel: &str,
    load: &Load,
    lost_at: Option<i64>,
    now: i64,
) -> Verdict {
    match c.owner.as_deref() {
        Some(o) if o == rep => Verdict::Nothing,
        Some(o) => Verdict::Conflict {
            owner: Some(o.to_string()),
            reason: if c.is_protected() {
                "contacted by another rep: a protected customer".into()
            } else {
                "contacted by another rep".into()
            },
        },
        None if !config.followup.claim_on_contact => Verdict::Nothing,
        None => match may_claim(config, c, rep, load, lost_at, now) {
            Ok(()) => Verdict::Claim {
                reason: format!("claimed by contact ({channel} message)"),
            },
            Err(r) => Verdict::Conflict {
                owner: None,
                reason: format!("claim refused ({}): {}", r.reason.code(), r.message),
            },
        },
    }
}

/// Is a conflict by `rep` news for the CRM: a rep new to the flag, or the last flag older than
/// `recent`?
pub fn conflict_is_news(
    flagged_rep: Option<&str>,
    flagged_at: Option<i64>,
    rep: &str,
    recent: i64,
) -> bool {
    flagged_rep != Some(rep) || flagged_at.is_none_or(|at| at < recent)
}

/// Apply a batch's new messages to ownership inside its transaction: out-of-office pauses,
/// claims (by the same rules as a claim by command) and conflicts, with their events.
pub async fn after_contact(
    tx: &mut Tx,
    fresh: &[&Message],
    config: &Config,
    now: i64,
) -> Result<(), StoreError> {
    for m in fresh {
        if let (Some(until), Some(c)) = (m.away_until, &m.customer) {
            pause(tx, c, m.sent_at, until).await?;
        }
    }
    let policy = &config.followup;
    let recent = now - policy.recent_ms();
    let contacts = contacts(fresh, recent);
    if contacts.is_empty() {
        return Ok(());
    }
    let calendar = policy.calendar();
    let (day_start, month_start) = (calendar.day_start(now), calendar.month_start(now));
    let mut loads: HashMap<String, Load> = HashMap::new();
    for m in contacts {
        let (Some(customer), Some(rep)) = (m.customer.as_deref(), m.rep.as_deref()) else {
            continue;
        };
        let Some(c) = own::holding(tx, customer).await? else {
            continue;
        };
        // What the rep holds is read only where a claim is possible, once per batch.
        let (load, lost) = if c.owner.is_none() && policy.claim_on_contact {
            let load = match loads.get(rep) {
                Some(l) => *l,
                None => {
                    own::load(
                        tx,
                        rep,
                        day_start,
                        month_start,
                        config.pool.cap_counts_signed,
                    )
                    .await?
                }
            };
            (load, own::lost_at(tx, customer, rep).await?)
        } else {
            (Load::default(), None)
        };
        let message_key = crate::message::display_key(&m.key).to_string();
        match judge(config, &c, rep, m.channel.as_str(), &load, lost, now) {
            Verdict::Nothing => {}
            Verdict::Claim { reason } => {
                let pool = c.pool_name(config).to_string();
                own::change_owner(
                    tx,
                    &own::Change {
                        customer,
                        action: "claimed",
                        owner: Some(rep),
                        former: None,
                        pool: Some(&pool),
                        reason: &reason,
                        actor: "policy",
                        at: now,
                    },
                )
                .await?;
                let mut load = load;
                load.owned += u32::from(!c.signed() || config.pool.cap_counts_signed);
                load.claims_today += 1;
                load.claims_month += 1;
                loads.insert(rep.to_string(), load);
                let event = Event::CustomerClaimed {
                    customer: customer_ref(customer, &c.name, &c.tier, Some(rep)),
                    owner: rep.to_string(),
                    reason,
                    how: "contact".into(),
                    pool: Some(pool),
                    message_key: Some(message_key),
                    sent_at: Some(At(m.sent_at)),
                };
                emit(tx, &event, now).await?;
            }
            Verdict::Conflict { owner, reason } => {
                flag_conflict(tx, customer, rep, m.sent_at).await?;
                if conflict_is_news(c.conflict_rep.as_deref(), c.conflict_at, rep, recent) {
                    let event = Event::CustomerConflict {
                        customer: customer_ref(customer, &c.name, &c.tier, c.owner.as_deref()),
                        owner,
                        other_rep: rep.to_string(),
                        reason,
                        message_key,
                        channel: m.channel.as_str().to_string(),
                        sent_at: At(m.sent_at),
                    };
                    emit(tx, &event, now).await?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = crate::time::DAY_MS;
    const T0: i64 = 1_780_000_000_000;

    fn config(toml: &str) -> Config {
        Config::from_toml(toml, std::path::Path::new("t.toml")).unwrap()
    }

    fn pool_customer(tier: &str) -> Holding {
        Holding {
            id: "C1".into(),
            name: "Acme".into(),
            tier: tier.into(),
            stage: "potential".into(),
            changed_at: Some(T0),
            ..Holding::default()
        }
    }

    fn code(r: Result<(), Refusal>) -> &'static str {
        match r {
            Ok(()) => "ok",
            Err(r) => r.reason.code(),
        }
    }

    #[test]
    fn the_owner_writing_changes_nothing_another_rep_is_a_conflict() {
        let cfg = config("");
        let mut c = pool_customer("repeat");
        c.owner = Some("ana".into());
        let load = Load::default();
        assert_eq!(
            judge(&cfg, &c, "ana", "email", &load, None, T0),
            Verdict::Nothing
        );
        assert_eq!(
            judge(&cfg, &c, "bo", "email", &load, None, T0),
            Verdict::Conflict {
                owner: Some("ana".into()),
                reason: "contacted by another rep".into()
            }
        );
        c.stage = "signed".into();
        let Verdict::Conflict { reason, .. } = judge(&cfg, &c, "bo", "email", &load, None, T0)
        else {
            panic!("a conflict")
        };
        assert!(reason.contains("protected"), "{reason}");
    }

    #[test]
    fn a_contact_claims_by_the_same_rules_as_a_command() {
        let cfg = config("[pool]\nclaim_daily_limit = 2\n");
        let c = pool_customer("repeat");
        let load = Load {
            claims_today: 1,
            ..Load::default()
        };
        assert_eq!(
            judge(&cfg, &c, "bo", "whatsapp", &load, None, T0),
            Verdict::Claim {
                reason: "claimed by contact (whatsapp message)".into()
            }
        );
        let load = Load {
            claims_today: 2,
            ..Load::default()
        };
        let Verdict::Conflict {
            owner: None,
            reason,
        } = judge(&cfg, &c, "bo", "email", &load, None, T0)
        else {
            panic!("a refused claim")
        };
        assert!(
            reason.starts_with("claim refused (daily_limit)"),
            "{reason}"
        );
        let off = config("[followup]\nclaim_on_contact = false\n");
        assert_eq!(
            judge(&off, &c, "bo", "email", &Load::default(), None, T0),
            Verdict::Nothing
        );
    }

    #[test]
    fn each_claim_rule_refuses_at_its_boundary_and_not_after() {
        let cfg = config(
            "[pool]\nrelease_embargo = \"12h\"\nreclaim_cooldown = \"30d\"\n\
             claim_daily_limit = 3\nclaim_monthly_limit = 10\nmax_customers = 5\n\
             [[reps]]\nid = \"bo\"\njoined = \"2025-06-01\"\nmax_customers = 6\n\
             [[reps]]\nid = \"cy\"\npools = [\"public\"]\n",
        );
        let c = pool_customer("repeat");
        let free = Load::default();
        let embargo_end = T0 + 12 * 3600 * 1000;
        assert_eq!(
            code(may_claim(&cfg, &c, "bo", &free, None, embargo_end - 1)),
            "embargo"
        );
        assert_eq!(
            code(may_claim(&cfg, &c, "bo", &free, None, embargo_end)),
            "ok"
        );
        let lost = T0 - 10 * DAY;
        assert_eq!(
            code(may_claim(&cfg, &c, "bo", &free, Some(lost), embargo_end)),
            "cooldown"
        );
        assert_eq!(
            code(may_claim(
                &cfg,
                &c,
                "bo",
                &free,
                Some(lost),
                lost + 30 * DAY
            )),
            "ok"
        );
        // The rep's own cap (6) beats the team's (5).
        let at = |owned, claims_today, claims_month| Load {
            owned,
            claims_today,
            claims_month,
            protected: 0,
        };
        let now = embargo_end;
        assert_eq!(
            code(may_claim(&cfg, &c, "bo", &at(5, 0, 0), None, now)),
            "ok"
        );
        assert_eq!(
            code(may_claim(&cfg, &c, "bo", &at(6, 0, 0), None, now)),
            "over_holding_cap"
        );
        assert_eq!(
            code(may_claim(&cfg, &c, "cy", &at(5, 0, 0), None, now)),
            "over_holding_cap"
        );
        assert_eq!(
            code(may_claim(&cfg, &c, "bo", &at(0, 3, 3), None, now)),
            "daily_limit"
        );
        assert_eq!(
            code(may_claim(&cfg, &c, "bo", &at(0, 2, 10), None, now)),
            "monthly_limit"
        );
        assert_eq!(
            code(may_claim(&cfg, &c, "bo", &at(0, 2, 9), None, now)),
            "ok"
        );
        let mut owned = c.clone();
        owned.owner = Some("bo".into());
        assert_eq!(
            code(may_claim(&cfg, &owned, "bo", &free, None, now)),
            "not_in_pool"
        );
    }

    #[test]
    fn pools_take_customers_by_filter_and_only_members_claim_them() {
        let cfg = config(
            "[[pools]]\nname = \"gulf\"\ncountries = [\"AE\", \"SA\"]\n\
             [[pools]]\nname = \"rest\"\n\
             [[reps]]\nid = \"ana\"\npools = [\"gulf\"]\n\
             [[reps]]\nid = \"bo\"\n",
        );
        assert_eq!(cfg.pool_for(Some("AE"), "repeat", Some("ana")), "gulf");
        assert_eq!(cfg.pool_for(Some("DE"), "repeat", Some("ana")), "rest");
        let mut c = pool_customer("repeat");
        c.pool = Some("rest".into());
        assert_eq!(
            code(may_claim(&cfg, &c, "ana", &Load::default(), None, T0)),
            "not_pool_member"
        );
        assert_eq!(
            code(may_claim(&cfg, &c, "bo", &Load::default(), None, T0)),
            "ok"
        );
        c.pool = Some("gulf".into());
        assert_eq!(
            code(may_claim(&cfg, &c, "ana", &Load::default(), None, T0)),
            "ok"
        );
    }

    #[test]
    fn a_vip_needs_an_owner_of_a_year_unless_a_manager_forces_it() {
        let cfg =
            config("[[reps]]\nid = \"new\"\njoined = \"2025-03-01\"\n[[reps]]\nid = \"old\"\n");
        let year_on = chrono::DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z")
            .unwrap()
            .timestamp_millis();
        let vip = pool_customer("vip");
        let free = Load::default();
        assert_eq!(
            code(may_claim(&cfg, &vip, "new", &free, None, year_on - 1000)),
            "tenure"
        );
        assert_eq!(
            code(may_claim(&cfg, &vip, "new", &free, None, year_on)),
            "ok"
        );
        assert_eq!(code(may_claim(&cfg, &vip, "old", &free, None, T0)), "ok");
        assert_eq!(
            code(may_assign(&cfg, &vip, "new", &free, false, year_on - 1000)),
            "tenure"
        );
        assert_eq!(
            code(may_assign(&cfg, &vip, "new", &free, true, year_on - 1000)),
            "ok"
        );
        let repeat = pool_customer("repeat");
        assert_eq!(code(may_claim(&cfg, &repeat, "new", &free, None, T0)), "ok");
    }

    #[test]
    fn protection_is_the_owners_within_its_quota_and_signed_is_free() {
        let cfg = config("[pool]\nmax_protected = 2\n[[reps]]\nid = \"ana\"\n");
        let mut c = pool_customer("repeat");
        let two = Load {
            protected: 2,
            ..Load::default()
        };
        assert_eq!(code(may_protect(&cfg, &c, None, &two)), "not_owner");
        c.owner = Some("ana".into());
        assert_eq!(
            code(may_protect(&cfg, &c, Some("bo"), &Load::default())),
            "not_owner"
        );
        assert_eq!(
            code(may_protect(&cfg, &c, Some("ana"), &two)),
            "over_protect_quota"
        );
        let one = Load {
            protected: 1,
            ..Load::default()
        };
        assert_eq!(code(may_protect(&cfg, &c, Some("ana"), &one)), "ok");
        c.stage = "signed".into();
        assert_eq!(code(may_protect(&cfg, &c, Some("ana"), &two)), "ok");
        assert_eq!(code(may_release(&c, Some("bo"))), "not_owner");
        assert_eq!(code(may_release(&c, None)), "ok");
        c.owner = None;
        assert_eq!(code(may_release(&c, None)), "already_in_pool");
    }

    #[test]
    fn a_conflict_is_news_for_a_new_rep_or_after_a_quiet_while() {
        assert!(conflict_is_news(None, None, "bo", 100));
        assert!(conflict_is_news(Some("cy"), Some(500), "bo", 100));
        assert!(conflict_is_news(Some("bo"), Some(50), "bo", 100));
        assert!(!conflict_is_news(Some("bo"), Some(150), "bo", 100));
    }
}
