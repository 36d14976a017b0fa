//! Changes of ownership made by people: a rep claims a pool customer or releases one of its
//! own, a manager assigns a customer, an owner protects one, a customer moves to another stage.
//! Each is judged by `followup::ownership`'s rules at a given moment, applied in one
//! transaction with its history and event, and answered with what changed or a `Refusal`
//! (a stable reason code). The CLI and the REST API both call `act`.

use super::ownership::{Refusal, may_assign, may_claim, may_protect, may_release};
use crate::config::Config;
use crate::events::Event;
use crate::store::outbox::{customer_ref, emit};
use crate::store::ownership::{self as own, Change, Holding, STAGES};
use crate::store::{Db, StoreError, Tx};

/// What a person asks for.
#[derive(Debug, Clone)]
pub enum Ask {
    /// `rep` claims the customer from its pool.
    Claim { rep: String, reason: Option<String> },
    /// The customer goes back to a pool; `by`: the rep asking (`None`: a manager).
    Release { by: Option<String>, reason: String },
    /// A manager gives the customer to `rep` (`force`: over its cap or the tenure rule).
    Assign {
        rep: String,
        force: bool,
        reason: Option<String>,
    },
    /// The owner protects the customer, or lifts the protection; `by` as for `Release`.
    Protect { by: Option<String>, on: bool },
    /// The customer moves to another stage.
    Stage { stage: String },
}

/// The customer after a change.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Done {
    pub customer: String,
    /// claimed, released, assigned, protected, unprotected, stage.
    pub action: &'static str,
    pub owner: Option<String>,
    /// The pool it sits in (without owner).
    pub pool: Option<String>,
    pub stage: String,
    pub protected: bool,
}

/// Why a change could not even be judged.
#[derive(Debug, thiserror::Error)]
pub enum AskError {
    #[error("no customer with id {0:?}")]
    NoCustomer(String),
    #[error("{0:?} is not a rep in the config (known: {1})")]
    UnknownRep(String, String),
    #[error("{0:?} is not a stage (potential, target, signed, dormant)")]
    BadStage(String),
    #[error("a reason is required (say why the customer is released)")]
    ReasonRequired,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Judge and apply `ask` on `customer` at `now`, by `actor` (`cli:<user>`, `api:<token>`).
/// A refusal changes nothing.
pub async fn act(
    db: &Db,
    config: &Config,
    customer: &str,
    ask: &Ask,
    actor: &str,
    now: i64,
) -> Result<Result<Done, Refusal>, AskError> {
    for rep in [match ask {
        Ask::Claim { rep, .. } | Ask::Assign { rep, .. } => Some(rep),
        Ask::Release { by, .. } | Ask::Protect { by, .. } => by.as_ref(),
        Ask::Stage { .. } => None,
    }]
    .into_iter()
    .flatten()
    {
        known_rep(config, rep)?;
    }
    match ask {
        Ask::Stage { stage } if !STAGES.contains(&stage.as_str()) => {
            return Err(AskError::BadStage(stage.clone()));
        }
        Ask::Release { reason, .. } if reason.trim().is_empty() => {
            return Err(AskError::ReasonRequired);
        }
        _ => {}
    }
    let mut tx = db.begin_write().await?;
    let Some(c) = own::holding(&mut tx, customer).await? else {
        return Err(AskError::NoCustomer(customer.to_string()));
    };
    let outcome = apply(&mut tx, config, &c, ask, actor, now).await?;
    if outcome.is_ok() {
        tx.commit().await.map_err(|source| StoreError::Query {
            context: "commit a change of owner",
            source,
        })?;
    }
    Ok(outcome)
}

fn known_rep(config: &Config, rep: &str) -> Result<(), AskError> {
    if config.reps.is_empty() || config.rep(rep).is_some() {
        return Ok(());
    }
    let known: Vec<&str> = config.reps.iter().map(|r| r.id.as_str()).collect();
    Err(AskError::UnknownRep(rep.to_string(), known.join(", ")))
}

async fn load_of(
    tx: &mut Tx,
    config: &Config,
    rep: &str,
    now: i64,
) -> Result<own::Load, StoreError> {
    let calendar = config.followup.calendar();
    own::load(
        tx,
        rep,
        calendar.day_start(now),
        calendar.month_start(now),
        config.pool.cap_counts_signed,
    )
    .await
}

async fn apply(
    tx: &mut Tx,
    config: &Config,
    c: &Holding,
    ask: &Ask,
    actor: &str,
    now: i64,
) -> Result<Result<Done, Refusal>, StoreError> {
    let mut done = Done {
        customer: c.id.clone(),
        action: "",
        owner: c.owner.clone(),
        pool: c.owner.is_none().then(|| c.pool_name(config).to_string()),
        stage: c.stage.clone(),
        protected: c.is_protected(),
    };
    let reference = |owner: Option<&str>| customer_ref(&c.id, &c.name, &c.tier, owner);
    match ask {
        Ask::Claim { rep, reason } => {
            let load = load_of(tx, config, rep, now).await?;
            let lost = own::lost_at(tx, &c.id, rep).await?;
            if let Err(r) = may_claim(config, c, rep, &load, lost, now) {
                return Ok(Err(r));
            }
            let pool = c.pool_name(config).to_string();
            let reason = reason
                .clone()
                .unwrap_or_else(|| format!("claimed by {rep}"));
            let change = Change {
                customer: &c.id,
                action: "claimed",
                owner: Some(rep),
                former: None,
                pool: Some(&pool),
                reason: &reason,
                actor,
                at: now,
            };
            own::change_owner(tx, &change).await?;
            let event = Event::CustomerClaimed {
                customer: reference(Some(rep)),
                owner: rep.clone(),
                reason,
                how: "command".into(),
                pool: Some(pool),
                message_key: None,
                sent_at: None,
            };
            emit(tx, &event, now).await?;
            done.action = "claimed";
            done.owner = Some(rep.clone());
            done.pool = None;
            done.protected = c.signed();
        }
        Ask::Release { by, reason } => {
            if let Err(r) = may_release(c, by.as_deref()) {
                return Ok(Err(r));
            }
            let pool = config
                .pool_for(c.country.as_deref(), &c.tier, c.owner.as_deref())
                .to_string();
            let change = Change {
                customer: &c.id,
                action: "released",
                owner: None,
                former: c.owner.as_deref(),
                pool: Some(&pool),
                reason,
                actor,
                at: now,
            };
            own::change_owner(tx, &change).await?;
            let event = Event::CustomerReleased {
                customer: reference(None),
                former_owner: c.owner.clone(),
                reason: reason.clone(),
                how: "manual".into(),
                pool: pool.clone(),
                by: Some(actor.to_string()),
                due_at: None,
                last_inbound_at: None,
                last_outbound_at: None,
            };
            emit(tx, &event, now).await?;
            done.action = "released";
            done.owner = None;
            done.pool = Some(pool);
            done.protected = c.signed();
        }
        Ask::Assign { rep, force, reason } => {
            let load = load_of(tx, config, rep, now).await?;
            if let Err(r) = may_assign(config, c, rep, &load, *force, now) {
                return Ok(Err(r));
            }
            done.action = "assigned";
            if c.owner.as_deref() == Some(rep.as_str()) {
                return Ok(Ok(done));
            }
            let reason = reason
                .clone()
                .unwrap_or_else(|| format!("assigned to {rep}"));
            let change = Change {
                customer: &c.id,
                action: "assigned",
                owner: Some(rep),
                former: c.owner.as_deref(),
                pool: c.owner.is_none().then(|| c.pool_name(config)),
                reason: &reason,
                actor,
                at: now,
            };
            own::change_owner(tx, &change).await?;
            let event = Event::CustomerAssigned {
                customer: reference(Some(rep)),
                owner: rep.clone(),
                former_owner: c.owner.clone(),
                reason,
                by: actor.to_string(),
                forced: *force,
            };
            emit(tx, &event, now).await?;
            done.owner = Some(rep.clone());
            done.pool = None;
            done.protected = c.signed();
        }
        Ask::Protect { by, on } => {
            if *on {
                let owner = c.owner.as_deref().unwrap_or_default();
                let load = load_of(tx, config, owner, now).await?;
                if let Err(r) = may_protect(config, c, by.as_deref(), &load) {
                    return Ok(Err(r));
                }
            } else if let Err(r) = may_release(c, by.as_deref()) {
                // Only the owner (or a manager) lifts a protection, and a pool customer has none.
                return Ok(Err(r));
            }
            own::set_protected(tx, &c.id, *on).await?;
            let (old, new) = (c.protected.to_string(), on.to_string());
            audit(tx, c, "protected", &old, &new, actor, now).await?;
            done.action = if *on { "protected" } else { "unprotected" };
            done.protected = *on || c.signed();
        }
        Ask::Stage { stage } => {
            own::set_stage(tx, &c.id, stage).await?;
            audit(tx, c, "stage", &c.stage, stage, actor, now).await?;
            done.action = "stage";
            done.stage = stage.clone();
            done.protected = c.protected || stage == "signed";
        }
    }
    Ok(Ok(done))
}

/// Record a change of protection or stage with who made it (`customers history`).
async fn audit(
    tx: &mut Tx,
    c: &Holding,
    field: &str,
    old: &str,
    new: &str,
    actor: &str,
    now: i64,
) -> Result<(), StoreError> {
    let who = crate::store::customers::Actor {
        who: actor.to_string(),
        via: "ownership",
        reason: None,
    };
    crate::store::customers::record_change(tx, &c.id, field, Some(old), Some(new), &who, now).await
}
