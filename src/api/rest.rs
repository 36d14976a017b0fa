//! The REST API for CRMs (`/api/v1`, bearer tokens): customers with contact times, follow-up
//! state and tags with evidence; a customer's messages; the follow-up board; unknown senders
//! and leads; mailbox health; customer upsert and CSV import; tag feedback. Lists page with an
//! opaque `cursor` (`next_cursor` in each page). Errors are `{"error": {"code", "message"}}`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::{Value, json};

pub(super) use super::caller::Caller;
use super::{ApiError, ApiState};
use crate::followup::policy::{Assessment, State as FuState};
use crate::followup::sweep::Judge;
use crate::store::followup::TimerRow;
use crate::store::outbox::{rfc3339, time_or_null};
use crate::store::{self, now_ms};

/// The OpenAPI 3.1 document of these routes (`/api/v1/openapi.json`).
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// The routes under `/api/v1` that need a token.
pub fn routes(state: Arc<ApiState>) -> Router<Arc<ApiState>> {
    Router::new()
        .route("/api/v1/customers", get(customers))
        .route("/api/v1/customers/import", post(import_csv))
        .route(
            "/api/v1/customers/{id}",
            get(customer).put(upsert).delete(erase),
        )
        .route("/api/v1/customers/{id}/export", get(export))
        .route("/api/v1/customers/{id}/history", get(history))
        .route("/api/v1/customers/{id}/messages", get(messages))
        .route("/api/v1/customers/{id}/tags/{tag}", put(tag_feedback))
        .route("/api/v1/customers/{id}/claim", post(super::owners::claim))
        .route(
            "/api/v1/customers/{id}/release",
            post(super::owners::release),
        )
        .route("/api/v1/customers/{id}/assign", post(super::owners::assign))
        .route(
            "/api/v1/customers/{id}/protection",
            put(super::owners::protection),
        )
        .route("/api/v1/customers/{id}/stage", put(super::owners::stage))
        .route("/api/v1/followups", get(followups))
        .route("/api/v1/pool", get(super::owners::pool))
        .route("/api/v1/review", get(super::owners::review))
        .route("/api/v1/unknown", get(unknown))
        .route("/api/v1/leads", get(leads))
        .route("/api/v1/mailboxes", get(mailboxes))
        .route("/api/v1/messages", post(super::chat::chat_message))
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            super::caller::authorize,
        ))
}

/// Query parameters; a malformed query is a JSON `bad-query` error like every other.
pub(super) struct Q(pub(super) Page);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Q {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match Query::<Page>::from_request_parts(parts, state).await {
            Ok(Query(mut p)) => {
                // An empty cursor is the first page.
                p.cursor = p.cursor.filter(|c| !c.is_empty());
                Ok(Q(p))
            }
            Err(e) => Err(ApiError::bad_request("bad-query", e.body_text())),
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct Page {
    cursor: Option<String>,
    limit: Option<i64>,
    owner: Option<String>,
    state: Option<String>,
    due_before: Option<String>,
    pub(super) month: Option<String>,
    pub(super) rep: Option<String>,
    /// The language of next steps (`en`, `zh`, `es`, ...).
    lang: Option<String>,
}

impl Page {
    fn limit(&self) -> Result<i64, ApiError> {
        match self.limit {
            None => Ok(100),
            Some(n) if (1..=1000).contains(&n) => Ok(n),
            Some(_) => Err(ApiError::bad_request(
                "bad-limit",
                "limit must be between 1 and 1000",
            )),
        }
    }

    fn state(&self) -> Result<Option<FuState>, ApiError> {
        match &self.state {
            None => Ok(None),
            Some(s) => FuState::parse(s).map(Some).ok_or_else(|| {
                ApiError::bad_request(
                    "bad-state",
                    "state must be ok, due-soon, due, overdue or released",
                )
            }),
        }
    }
}

fn followup_json(c: &TimerRow, a: &Assessment, now: i64) -> Value {
    json!({
        "state": a.state,
        "next_due_at": rfc3339(a.next_due_at),
        "reason": a.reason,
        "tier_due_at": rfc3339(a.tier_due_at),
        "awaiting_reply_since": time_or_null(a.awaiting_reply_since),
        "reply_due_at": time_or_null(a.reply_due_at),
        "waiting_since": time_or_null(a.waiting_since),
        "follow_up_due_at": time_or_null(a.follow_up_due_at),
        "paused_until": time_or_null(c.paused_until.filter(|u| *u > now)),
        "conflict_rep": c.conflict_rep,
        "release_frozen": c.release_frozen,
    })
}

/// The language next steps are given in: `?lang=`, else the token's user's, else the team's
/// (what is stored).
fn step_lang(p: &Page, caller: &Caller) -> Result<Option<String>, ApiError> {
    match &p.lang {
        Some(l) if l.is_empty() || l.len() > 8 || !l.bytes().all(|b| b.is_ascii_alphabetic()) => {
            Err(ApiError::bad_request(
                "bad-lang",
                "lang is a language code such as en or zh",
            ))
        }
        Some(l) => Ok(Some(l.to_ascii_lowercase())),
        None => Ok(caller.scope.language.clone()),
    }
}

/// A tag with its next step in `lang` (when given).
fn tag_json_in(s: &ApiState, t: &store::customers::CustomerTag, lang: Option<&str>) -> Value {
    let mut v = tag_json(t);
    if let Some(l) = lang
        && let Some(r) = s.app.rules.current().rule(&t.tag)
    {
        v["next_step"] = r.next_step(l).into();
    }
    v
}

fn tag_json(t: &store::customers::CustomerTag) -> Value {
    json!({
        "tag": t.tag, "state": t.state, "rule": t.rule, "evidence": t.evidence,
        "message_key": t.message_key, "next_step": t.next_step, "evidence_count": t.evidence_count,
        "first_seen": rfc3339(t.first_seen), "last_seen": rfc3339(t.last_seen),
        "expires_at": rfc3339(t.expires_at),
    })
}

fn customer_json(c: &TimerRow, a: &Assessment, tags: Vec<Value>, now: i64) -> Value {
    json!({
        "id": c.id, "name": c.name, "group": c.group, "tier": c.tier, "owner": c.owner,
        "country": c.country, "stage": c.stage, "protected": c.protected || c.stage == "signed",
        "pool": c.owner.is_none().then_some(c.pool.as_deref()).flatten(),
        "last_inbound_at": time_or_null(c.last_inbound_at),
        "last_outbound_at": time_or_null(c.last_outbound_at),
        "last_contact_at": time_or_null(c.last_inbound_at.max(c.last_outbound_at)),
        "followup": followup_json(c, a, now),
        "tags": tags,
    })
}

async fn judge(s: &ApiState) -> Result<Judge, ApiError> {
    Ok(Judge::load(&s.app.db, &s.app.config).await?)
}

/// `GET /api/v1/customers?cursor&limit&owner&state`
async fn customers(
    State(s): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    Q(p): Q,
) -> Result<Response, ApiError> {
    let config = &s.app.config;
    let (limit, state) = (p.limit()?, p.state()?);
    let lang = step_lang(&p, &caller)?;
    let db = &s.app.db;
    let now = now_ms();
    let judge = judge(&s).await?;
    let rows = store::followup::page_by_id(
        db.pool(),
        store::followup::Columns::Board,
        p.cursor.as_deref().unwrap_or(""),
        limit,
    )
    .await?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.id.clone()))
        .flatten();
    let mut items = Vec::new();
    for c in &rows {
        if p.owner
            .as_ref()
            .is_some_and(|o| c.owner.as_ref() != Some(o))
        {
            continue;
        }
        let pool =
            store::ownership::pool_of(config, c.pool.as_deref(), c.country.as_deref(), &c.tier);
        if !caller.scope.sees(config, c.owner.as_deref(), pool) {
            continue;
        }
        let a = judge.assess(c, now);
        if state.is_some_and(|st| st != a.state) {
            continue;
        }
        let tags = store::customers::customer_tags(db, &c.id, now)
            .await?
            .iter()
            .map(|t| tag_json_in(&s, t, lang.as_deref()))
            .collect();
        items.push(customer_json(c, &a, tags, now));
    }
    Ok(axum::Json(json!({"items": items, "next_cursor": next})).into_response())
}

/// `GET /api/v1/customers/{id}`
async fn customer(
    State(s): State<Arc<ApiState>>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
    Q(p): Q,
) -> Result<Response, ApiError> {
    caller.sees(&s, &id).await?;
    let db = &s.app.db;
    let now = now_ms();
    let Some(c) = store::followup::timer(db, &id).await? else {
        return Err(ApiError::not_found("such customer"));
    };
    let a = judge(&s).await?.assess(&c, now);
    let detail = store::customers::get_customer(db, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("such customer"))?;
    let lang = step_lang(&p, &caller)?;
    let tags: Vec<Value> = detail
        .tags
        .iter()
        .map(|t| tag_json_in(&s, t, lang.as_deref()))
        .collect();
    let mut v = customer_json(&c, &a, tags, now);
    v["emails"] = json!(detail.emails);
    v["domains"] = json!(detail.domains);
    v["phones"] = json!(detail.phones);
    v["messages"] = json!({
        "inbound": detail.messages_inbound, "outbound": detail.messages_outbound,
        "not_contact": detail.messages_not_contact,
    });
    Ok(axum::Json(v).into_response())
}

/// `GET /api/v1/customers/{id}/messages?cursor&limit`
async fn messages(
    State(s): State<Arc<ApiState>>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
    Q(p): Q,
) -> Result<Response, ApiError> {
    caller.sees(&s, &id).await?;
    let limit = p.limit()?;
    // The cursor is "<sent_at>:<id>" of the last message of the previous page.
    let after: (i64, i64) = match p.cursor.as_deref() {
        None => (i64::MIN, 0),
        Some(c) => match c
            .split_once(':')
            .and_then(|(t, id)| Some((t.parse().ok()?, id.parse().ok()?)))
        {
            Some(a) => a,
            None => {
                return Err(ApiError::bad_request("bad-cursor", "unknown cursor"));
            }
        },
    };
    let db = &s.app.db;
    if store::followup::timer(db, &id).await?.is_none() {
        return Err(ApiError::not_found("such customer"));
    }
    let rows = store::messages::by_customer(db, &id, after, limit).await?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|m| format!("{}:{}", m.sent_at, m.id)))
        .flatten();
    let items: Vec<Value> = rows
        .iter()
        .map(|m| {
            json!({
                "key": m.key, "channel": m.channel, "direction": m.direction,
                "class": m.class.as_str(), "counts_as_contact": m.counts_as_contact,
                "rep": m.rep, "from": m.from, "subject": m.subject, "text": m.body,
                "sent_at": rfc3339(m.sent_at), "match": m.match_reason,
            })
        })
        .collect();
    Ok(axum::Json(json!({"items": items, "next_cursor": next})).into_response())
}

/// `GET /api/v1/followups?owner&state&due_before&cursor&limit`: most urgent first.
async fn followups(
    State(s): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    Q(p): Q,
) -> Result<Response, ApiError> {
    // A rep's board is its own customers.
    let own = caller.own_rep();
    let (limit, state) = (p.limit()?, p.state()?);
    let due_before = match p
        .due_before
        .as_deref()
        .map(chrono::DateTime::parse_from_rfc3339)
    {
        None => None,
        Some(Ok(t)) => Some(t.timestamp_millis()),
        Some(Err(_)) => {
            return Err(ApiError::bad_request(
                "bad-time",
                "due_before must be an RFC 3339 time",
            ));
        }
    };
    // The cursor is the position after which the page starts: "<next_due_at>:<id>".
    let after: Option<(i64, String)> = match p.cursor.as_deref() {
        None => None,
        Some(c) => match c
            .split_once(':')
            .and_then(|(t, id)| Some((t.parse().ok()?, id)))
        {
            Some((t, id)) => Some((t, id.to_string())),
            None => {
                return Err(ApiError::bad_request("bad-cursor", "unknown cursor"));
            }
        },
    };
    let db = &s.app.db;
    let now = now_ms();
    let judge = judge(&s).await?;
    let rows = store::followup::all_timers(db).await?;
    let mut board: Vec<(TimerRow, Assessment)> = rows
        .into_iter()
        .filter(|c| p.owner.as_ref().is_none_or(|o| c.owner.as_ref() == Some(o)))
        .filter(|c| own.is_none() || c.owner == own)
        .map(|c| {
            let a = judge.assess(&c, now);
            (c, a)
        })
        .filter(|(_, a)| state.is_none_or(|st| a.state == st))
        .filter(|(_, a)| due_before.is_none_or(|t| a.next_due_at < t))
        .collect();
    board.sort_by(|(c1, a1), (c2, a2)| (a1.next_due_at, &c1.id).cmp(&(a2.next_due_at, &c2.id)));
    let start = match &after {
        None => 0,
        Some((t, id)) => board.partition_point(|(c, a)| (a.next_due_at, &c.id) <= (*t, id)),
    };
    let page: Vec<&(TimerRow, Assessment)> =
        board.iter().skip(start).take(limit as usize).collect();
    let next = (start + page.len() < board.len())
        .then(|| {
            page.last()
                .map(|(c, a)| format!("{}:{}", a.next_due_at, c.id))
        })
        .flatten();
    let items: Vec<Value> = page
        .iter()
        .map(|(c, a)| customer_json(c, a, Vec::new(), now))
        .collect();
    Ok(axum::Json(json!({"items": items, "next_cursor": next})).into_response())
}

/// A keyset cursor `<unix ms>:<text>` (the sort keys of a page's last item).
fn keyset_cursor(cursor: Option<&str>) -> Result<Option<(i64, &str)>, ApiError> {
    let Some(c) = cursor else {
        return Ok(None);
    };
    let (at, rest) = c.split_once(':').unwrap_or((c, ""));
    at.parse::<i64>()
        .map(|at| Some((at, rest)))
        .map_err(|_| ApiError::bad_request("bad-cursor", "unknown cursor"))
}

/// `GET /api/v1/unknown?cursor&limit`: senders that matched no customer, the most recent
/// first.
async fn unknown(State(s): State<Arc<ApiState>>, Q(p): Q) -> Result<Response, ApiError> {
    let limit = p.limit()?;
    let after = keyset_cursor(p.cursor.as_deref())?;
    let rows = store::messages::unknown_senders(&s.app.db, after, limit).await?;
    let next = (rows.len() as i64 == limit)
        .then(|| {
            rows.last()
                .map(|u| format!("{}:{}", u.last_seen, u.address))
        })
        .flatten();
    let items: Vec<Value> = rows
        .iter()
        .map(|u| {
            json!({"address": u.address, "messages": u.messages,
                   "first_seen": rfc3339(u.first_seen), "last_seen": rfc3339(u.last_seen)})
        })
        .collect();
    Ok(axum::Json(json!({"items": items, "next_cursor": next})).into_response())
}

/// `GET /api/v1/leads?cursor&limit`: newest first.
async fn leads(State(s): State<Arc<ApiState>>, Q(p): Q) -> Result<Response, ApiError> {
    let limit = p.limit()?;
    let before = keyset_cursor(p.cursor.as_deref())?.unwrap_or((i64::MAX, ""));
    let rows = store::followup::leads(&s.app.db, before, limit).await?;
    let next = (rows.len() as i64 == limit)
        .then(|| {
            rows.last()
                .map(|l| format!("{}:{}", l.created_at, l.customer_id))
        })
        .flatten();
    let items: Vec<Value> = rows
        .iter()
        .map(|l| {
            json!({"customer_id": l.customer_id, "channel": l.channel,
                   "counterpart": l.counterpart, "owner": l.owner, "how": l.how,
                   "message_key": l.message_key, "created_at": rfc3339(l.created_at)})
        })
        .collect();
    Ok(axum::Json(json!({"items": items, "next_cursor": next})).into_response())
}

/// `GET /api/v1/mailboxes`: each IMAP folder's health.
async fn mailboxes(State(s): State<Arc<ApiState>>) -> Result<Response, ApiError> {
    let rows = store::mailboxes::health(&s.app.db).await?;
    let items: Vec<Value> = rows
        .iter()
        .map(|h| {
            json!({"account": h.account, "folder": h.folder, "rep": h.rep,
                   "mode": h.mode, "backfilling": h.backfilling,
                   "last_sync_at": time_or_null(h.last_sync_at),
                   "last_error": h.last_error, "last_error_at": time_or_null(h.last_error_at),
                   "failures": h.failures, "behind": h.behind})
        })
        .collect();
    Ok(axum::Json(json!({"items": items, "next_cursor": null})).into_response())
}

/// A customer as the CRM sends it (`PUT /api/v1/customers/{id}`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomerIn {
    name: String,
    #[serde(default)]
    group: Option<String>,
    tier: String,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    emails: Vec<String>,
    #[serde(default)]
    domains: Vec<String>,
    #[serde(default)]
    phones: Vec<String>,
    #[serde(default)]
    country: Option<String>,
    /// potential, target, signed, dormant (left out: unchanged).
    #[serde(default)]
    stage: Option<String>,
}

/// `PUT /api/v1/customers/{id}`: upsert one customer (the CSV import's rules and checks).
async fn upsert(
    State(s): State<Arc<ApiState>>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    if id.is_empty() || id.chars().count() > 128 || id.chars().any(char::is_control) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-customer",
            "a customer id is 1 to 128 characters without control characters",
        ));
    }
    let c: CustomerIn = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => {
            return Err(ApiError::bad_request("malformed-body", e.to_string()));
        }
    };
    let mut w = csv::Writer::from_writer(Vec::new());
    let list = |v: &[String]| v.join(";");
    let record = [
        id.clone(),
        c.name,
        c.group.unwrap_or_default(),
        c.tier,
        c.owner.unwrap_or_default(),
        list(&c.emails),
        list(&c.domains),
        list(&c.phones),
        c.country.unwrap_or_default(),
        c.stage.unwrap_or_default(),
    ];
    let text = w
        .write_record([
            "id", "name", "group", "tier", "owner", "emails", "domains", "phones", "country",
            "stage",
        ])
        .and_then(|_| w.write_record(&record))
        .ok()
        .and_then(|_| w.into_inner().ok());
    let Some(text) = text else {
        return Err(ApiError::bad_request(
            "malformed-body",
            "cannot encode the customer",
        ));
    };
    import(&s, &text, true, &caller.actor("api-upsert")).await
}

/// `POST /api/v1/customers/import` (text/csv): the columns of `keepwarm customers import`.
async fn import_csv(
    State(s): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("empty-body", "the CSV is empty"));
    }
    import(&s, &body, false, &caller.actor("api-import")).await
}

/// `GET /api/v1/customers/{id}/export`: everything stored about the customer.
async fn export(
    State(s): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    match store::privacy::export(&s.app.db, &id).await? {
        Some(doc) => Ok(axum::Json(doc).into_response()),
        None => Err(ApiError::not_found("customer with this id")),
    }
}

/// `DELETE /api/v1/customers/{id}` with `X-Keepwarm-Reason`: erase the customer (see
/// `keepwarm customers erase`); the erasure is recorded without the data.
async fn erase(
    State(s): State<Arc<ApiState>>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    if caller.reason.is_none() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "reason-required",
            "say why in the X-Keepwarm-Reason header",
        ));
    }
    match store::privacy::erase(&s.app.db, &id, &caller.actor("api-erase")).await? {
        Some(erased) => Ok(axum::Json(json!({"erased": erased})).into_response()),
        None => Err(ApiError::not_found("customer with this id")),
    }
}

/// `GET /api/v1/customers/{id}/history`: changes of owner and tier by people (who, when,
/// why) and the policy's releases and claims, newest first.
async fn history(
    State(s): State<Arc<ApiState>>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    caller.sees(&s, &id).await?;
    let db = &s.app.db;
    if store::customers::get_customer(db, &id).await?.is_none() {
        return Err(ApiError::not_found("customer with this id"));
    }
    let changes = store::privacy::changes(db, &id).await?;
    let policy = store::followup::pool_history(db, Some(&id), 1000).await?;
    let changes: Vec<Value> = changes
        .iter()
        .map(|c| {
            json!({"field": c.field, "old": c.old_value, "new": c.new_value, "actor": c.actor,
                   "via": c.via, "reason": c.reason, "at": rfc3339(c.at)})
        })
        .collect();
    let policy: Vec<Value> = policy
        .iter()
        .map(|p| {
            json!({"action": p.action, "rep": p.rep, "reason": p.reason, "at": rfc3339(p.at),
                   "actor": p.actor.as_deref().unwrap_or("policy"), "former_owner": p.former_owner,
                   "pool": p.pool})
        })
        .collect();
    Ok(axum::Json(json!({"changes": changes, "policy": policy})).into_response())
}

async fn import(
    s: &ApiState,
    bytes: &[u8],
    single: bool,
    actor: &store::customers::Actor,
) -> Result<Response, ApiError> {
    let parsed = crate::directory::import::parse_csv(bytes, &s.app.config);
    let summary = store::customers::apply_import(&s.app.db, parsed, actor).await?;
    let issues = |v: &[crate::directory::import::RowIssue]| -> Vec<Value> {
        v.iter()
            .map(|i| json!({"line": i.line, "message": i.message}))
            .collect()
    };
    let body = json!({
        "added": summary.added, "updated": summary.updated, "unchanged": summary.unchanged,
        "errors": issues(&summary.errors), "warnings": issues(&summary.warnings),
    });
    // One customer with a problem, or a CSV without a usable header: nothing was imported.
    let refused = if single {
        (!summary.errors.is_empty()).then_some("invalid-customer")
    } else {
        summary
            .errors
            .iter()
            .any(|e| e.line == 1)
            .then_some("invalid-csv")
    };
    if let Some(code) = refused {
        let message = summary.errors[0].message.clone();
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(json!({"error": {"code": code, "message": message}, "detail": body})),
        )
            .into_response());
    }
    Ok(axum::Json(body).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TagFeedback {
    state: String,
}

/// `PUT /api/v1/customers/{id}/tags/{tag}` `{"state": "accepted" | "dismissed"}`.
async fn tag_feedback(
    State(s): State<Arc<ApiState>>,
    Path((id, tag)): Path<(String, String)>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.changes(&s, &id).await?;
    let f: TagFeedback = match serde_json::from_slice(&body) {
        Ok(f) => f,
        Err(e) => {
            return Err(ApiError::bad_request("malformed-body", e.to_string()));
        }
    };
    if f.state != "accepted" && f.state != "dismissed" {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad-state",
            "state must be accepted or dismissed",
        ));
    }
    match store::customers::set_tag_state(&s.app.db, &id, &tag, &f.state, now_ms()).await? {
        Some(t) => Ok(axum::Json(tag_json(&t)).into_response()),
        None => Err(ApiError::not_found("such tag on this customer")),
    }
}
