//! The monthly review a sales manager holds (`keepwarm review --month`, `GET /api/v1/review`):
//! per owner, the high-potential customers followed 45 days or more without reaching signed,
//! the month's lost deals with the loss reason (the lost-deal tag's evidence), releases,
//! claims and assignments, conflicts, and overdue customers per tier at the review's moment
//! (the end of the month, or now for the month in progress), as `keepwarm followups` shows
//! them at that moment.

use std::collections::BTreeMap;

use serde::Serialize;

use super::policy::State;
use super::sweep::Judge;
use crate::config::Config;
use crate::store::{Db, StoreError};
use crate::time::DAY_MS;

/// How long a high-potential customer may be followed without signing before the review
/// lists it.
pub const STALLED_AFTER_DAYS: i64 = 45;

#[derive(Debug, Clone, Serialize)]
pub struct Review {
    /// YYYY-MM.
    pub month: String,
    /// The month in the team's time, [from, to), RFC 3339.
    pub from: String,
    pub to: String,
    /// The moment states are judged at (the month's last millisecond, or now).
    pub at: String,
    pub owners: Vec<OwnerReview>,
}

/// One owner's part (`owner` null: customers in the pools).
#[derive(Debug, Clone, Default, Serialize)]
pub struct OwnerReview {
    pub owner: Option<String>,
    pub high_potential_stalled: Vec<Stalled>,
    pub lost_deals: Vec<LostDeal>,
    pub released: u32,
    pub claimed: u32,
    pub assigned: u32,
    pub conflicts: u32,
    /// Customers whose board state is overdue (or released, not yet swept) at the review's
    /// moment, per tier.
    pub overdue: BTreeMap<String, u32>,
    pub overdue_total: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Stalled {
    pub customer: String,
    pub name: String,
    pub stage: String,
    /// Followed since (owned or in the directory), and for how many days at the moment.
    pub since: String,
    pub days: i64,
    pub last_contact_at: Option<String>,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LostDeal {
    pub customer: String,
    pub name: String,
    pub at: String,
    /// The customer's words that told it (the lost-deal tag's evidence).
    pub reason: String,
    pub message_key: String,
}

/// Why a month cannot be reviewed.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("{0:?} is not a month like 2026-11")]
    BadMonth(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The review of `month` ("YYYY-MM"), judged at the month's end or at `now` if sooner.
pub async fn review(
    db: &Db,
    config: &Config,
    month: &str,
    now: i64,
) -> Result<Review, ReviewError> {
    let judge = Judge::load(db, config).await?;
    let rows = crate::store::followup::all_timers(db).await?;
    review_over(db, config, month, now, &judge, &rows).await
}

/// `review` over customers and a judge already loaded (the board's Team page has them).
pub async fn review_over(
    db: &Db,
    config: &Config,
    month: &str,
    now: i64,
    judge: &Judge,
    rows: &[crate::store::followup::TimerRow],
) -> Result<Review, ReviewError> {
    let bad = || ReviewError::BadMonth(month.to_string());
    let (y, m) = month.split_once('-').ok_or_else(bad)?;
    let (year, mon) = (
        y.parse::<i32>().map_err(|_| bad())?,
        m.parse::<u32>().map_err(|_| bad())?,
    );
    if y.len() != 4 || m.len() != 2 {
        return Err(bad());
    }
    let calendar = config.followup.calendar();
    let (from, to) = calendar.month_span(year, mon).ok_or_else(bad)?;
    let at = (to - 1).min(now);
    let mut owners: BTreeMap<Option<String>, OwnerReview> = BTreeMap::new();
    let tags = crate::store::customers::live_tags(db, at).await?;
    let names: BTreeMap<&str, &str> = rows
        .iter()
        .map(|r| (r.id.as_str(), r.name.as_str()))
        .collect();
    let owner_of: BTreeMap<&str, Option<&String>> = rows
        .iter()
        .map(|r| (r.id.as_str(), r.owner.as_ref()))
        .collect();
    for r in rows {
        let a = judge.assess(r, at);
        let o = owners.entry(r.owner.clone()).or_default();
        // Overdue, or past the release date and not released yet (held, or the sweep has
        // not run): the board's states `overdue` and `released`.
        if a.state <= State::Overdue {
            *o.overdue.entry(r.tier.clone()).or_default() += 1;
            o.overdue_total += 1;
        }
        let since = r.owned_since.unwrap_or(r.created_at);
        if r.owner.is_some()
            && r.tier == "high-potential"
            && r.stage != "signed"
            && at - since >= STALLED_AFTER_DAYS * DAY_MS
        {
            o.high_potential_stalled.push(Stalled {
                customer: r.id.clone(),
                name: r.name.clone(),
                stage: r.stage.clone(),
                since: crate::time::rfc3339(since),
                days: (at - since) / DAY_MS,
                last_contact_at: r
                    .last_inbound_at
                    .max(r.last_outbound_at)
                    .map(crate::time::rfc3339),
                tags: tags
                    .get(&r.id)
                    .map(|t| t.iter().take(3).map(|(tag, _)| tag.clone()).collect())
                    .unwrap_or_default(),
            });
        }
    }
    for t in crate::store::ownership::tags_first_seen(db, "lost-deal", from, to).await? {
        let owner = owner_of
            .get(t.customer.as_str())
            .copied()
            .flatten()
            .cloned();
        owners.entry(owner).or_default().lost_deals.push(LostDeal {
            name: names.get(t.customer.as_str()).unwrap_or(&"").to_string(),
            customer: t.customer,
            at: crate::time::rfc3339(t.first_seen),
            reason: t.evidence,
            message_key: t.message_key,
        });
    }
    for (action, rep, n) in crate::store::ownership::changes_between(db, from, to).await? {
        let o = owners.entry(rep).or_default();
        match action.as_str() {
            "released" => o.released += n as u32,
            "claimed" => o.claimed += n as u32,
            "assigned" => o.assigned += n as u32,
            _ => {}
        }
    }
    for e in crate::store::outbox::between(db, "customer.conflict", from, to).await? {
        let owner = e.payload["data"]["owner"].as_str().map(str::to_string);
        owners.entry(owner).or_default().conflicts += 1;
    }
    let owners = owners
        .into_iter()
        .map(|(owner, mut r)| {
            r.owner = owner;
            r
        })
        .collect();
    Ok(Review {
        month: format!("{year:04}-{mon:02}"),
        from: crate::time::rfc3339(from),
        to: crate::time::rfc3339(to),
        at: crate::time::rfc3339(at),
        owners,
    })
}
