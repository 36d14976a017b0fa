//! The ownership routes of the REST API: claim, release, assign, protection and stage of a
//! customer (judged by `followup::changes::act`: 200 with the customer's ownership, or 409
//! with the refusal's reason code), the pools and the monthly review. Behind the same bearer
//! tokens and scopes as `rest`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::rest::{Caller, Q};
use super::{ApiError, ApiState};
use crate::followup::changes::Ask;
use crate::store::outbox::time_or_null;
use crate::store::{self, now_ms};

/// The bodies of the ownership routes: JSON objects of these fields only (`null` is the
/// same as left out).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClaimIn {
    rep: String,
    reason: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReleaseIn {
    reason: Option<String>,
    rep: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignIn {
    rep: String,
    #[serde(default)]
    force: bool,
    reason: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProtectionIn {
    protected: bool,
    rep: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StageIn {
    stage: String,
}

fn body_of<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request("malformed-body", e.to_string()))
}

/// A rep id and a reason are bounded (1 to 254 and 500 characters).
fn checked(
    rep: Option<&str>,
    reason: Option<String>,
    caller: &Caller,
) -> Result<Option<String>, ApiError> {
    if rep.is_some_and(|r| r.is_empty() || r.chars().count() > 254) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown-rep",
            "a rep id is 1 to 254 characters",
        ));
    }
    let reason = reason.or(caller.reason.clone());
    if reason
        .as_ref()
        .is_some_and(|r| r.trim().is_empty() || r.chars().count() > 500)
    {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad-reason",
            "a reason is 1 to 500 characters",
        ));
    }
    Ok(reason)
}

/// Judge and apply a change of ownership: 200 with the customer's ownership, or 409 with the
/// refusal's reason code (`{"ok": false, "reason", "message", "error"}`).
async fn ownership(
    s: &ApiState,
    id: &str,
    ask: Ask,
    caller: &Caller,
) -> Result<Response, ApiError> {
    use crate::followup::changes::{AskError, act};
    let outcome = act(&s.app.db, &s.app.config, id, &ask, &caller.who, now_ms()).await;
    match outcome {
        Ok(Ok(done)) => {
            let mut v = serde_json::to_value(&done).unwrap_or_default();
            v["ok"] = true.into();
            Ok(axum::Json(v).into_response())
        }
        Ok(Err(refusal)) => {
            let code = refusal.reason.code();
            let body = json!({
                "ok": false, "reason": code, "message": refusal.message,
                "error": {"code": "refused", "message": refusal.message},
            });
            Ok((StatusCode::CONFLICT, axum::Json(body)).into_response())
        }
        Err(AskError::NoCustomer(_)) => Err(ApiError::not_found("customer with this id")),
        Err(e @ AskError::UnknownRep(..)) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown-rep",
            e.to_string(),
        )),
        Err(e @ AskError::BadStage(_)) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-stage",
            e.to_string(),
        )),
        Err(e @ AskError::ReasonRequired) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "reason-required",
            e.to_string(),
        )),
        Err(AskError::Store(e)) => Err(e.into()),
    }
}

/// `POST /api/v1/customers/{id}/claim` `{"rep", "reason"?}`: claim a pool customer for a rep.
pub(super) async fn claim(
    State(s): State<Arc<ApiState>>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let b: ClaimIn = body_of(&body)?;
    let reason = checked(Some(&b.rep), b.reason, &caller)?;
    caller.sees(&s, &id).await?;
    if caller.own_rep().is_some_and(|own| own != b.rep)
        || (!caller.scope.manages() && caller.scope.rep.is_none())
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "a rep claims customers for itself only",
        ));
    }
    let ask = Ask::Claim { rep: b.rep, reason };
    ownership(&s, &id, ask, &caller).await
}

/// `POST /api/v1/customers/{id}/release` `{"reason", "rep"?}`: back to its pool (the reason
/// in the body or in `X-Keepwarm-Reason`).
pub(super) async fn release(
    State(s): State<Arc<ApiState>>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let b: ReleaseIn = body_of(&body)?;
    caller.changes(&s, &id).await?;
    let b = ReleaseIn {
        rep: caller.own_rep().or(b.rep),
        ..b
    };
    let Some(reason) = checked(b.rep.as_deref(), b.reason, &caller)? else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "reason-required",
            "say why the customer is released (reason)",
        ));
    };
    ownership(&s, &id, Ask::Release { by: b.rep, reason }, &caller).await
}

/// `POST /api/v1/customers/{id}/assign` `{"rep", "force"?, "reason"?}`: a manager's act.
pub(super) async fn assign(
    State(s): State<Arc<ApiState>>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let b: AssignIn = body_of(&body)?;
    let reason = checked(Some(&b.rep), b.reason, &caller)?;
    let ask = Ask::Assign {
        rep: b.rep,
        force: b.force,
        reason,
    };
    ownership(&s, &id, ask, &caller).await
}

/// `PUT /api/v1/customers/{id}/protection` `{"protected": bool, "rep"?}`.
pub(super) async fn protection(
    State(s): State<Arc<ApiState>>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let b: ProtectionIn = body_of(&body)?;
    caller.changes(&s, &id).await?;
    let b = ProtectionIn {
        rep: caller.own_rep().or(b.rep),
        ..b
    };
    checked(b.rep.as_deref(), None, &caller)?;
    let ask = Ask::Protect {
        by: b.rep,
        on: b.protected,
    };
    ownership(&s, &id, ask, &caller).await
}

/// `PUT /api/v1/customers/{id}/stage` `{"stage"}`.
pub(super) async fn stage(
    State(s): State<Arc<ApiState>>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let b: StageIn = body_of(&body)?;
    caller.changes(&s, &id).await?;
    ownership(&s, &id, Ask::Stage { stage: b.stage }, &caller).await
}

/// `GET /api/v1/pool?rep`: customers without owner, with their pool (only the pools `rep` is
/// a member of, when given), most recently released first.
pub(super) async fn pool(
    State(s): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    Q(p): Q,
) -> Result<Response, ApiError> {
    let config = &s.app.config;
    // A rep sees the pools it belongs to.
    let mut p = p;
    if let Some(own) = caller.own_rep() {
        p.rep = Some(own);
    }
    if let Some(rep) = &p.rep
        && !config.reps.is_empty()
        && config.rep(rep).is_none()
    {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown-rep",
            "no rep with this id in the config",
        ));
    }
    let rows = store::followup::pool(&s.app.db).await?;
    let items: Vec<Value> = rows
        .iter()
        .filter_map(|r| {
            let pool =
                store::ownership::pool_of(config, r.pool.as_deref(), r.country.as_deref(), &r.tier);
            if p.rep
                .as_deref()
                .is_some_and(|rep| !config.rep_in_pool(rep, pool))
            {
                return None;
            }
            Some(json!({
                "id": r.id, "name": r.name, "tier": r.tier, "country": r.country, "pool": pool,
                "last_contact_at": time_or_null(r.last_contact_at),
                "released_at": time_or_null(r.released_at),
                "former_owner": r.former_owner, "reason": r.reason,
            }))
        })
        .collect();
    Ok(axum::Json(json!({"items": items})).into_response())
}

/// `GET /api/v1/review?month=YYYY-MM` (default: the current month): the monthly review.
pub(super) async fn review(State(s): State<Arc<ApiState>>, Q(p): Q) -> Result<Response, ApiError> {
    let config = &s.app.config;
    let now = now_ms();
    let month = p
        .month
        .clone()
        .unwrap_or_else(|| config.followup.calendar().month_of(now));
    match crate::followup::review::review(&s.app.db, config, &month, now).await {
        Ok(r) => Ok(axum::Json(r).into_response()),
        Err(crate::followup::review::ReviewError::BadMonth(m)) => Err(ApiError::bad_request(
            "bad-month",
            format!("{m:?} is not a month like 2026-11"),
        )),
        Err(crate::followup::review::ReviewError::Store(e)) => Err(e.into()),
    }
}
