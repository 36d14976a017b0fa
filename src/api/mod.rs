//! The HTTP server of `keepwarm run` (axum): the WhatsApp Cloud API webhook (verification
//! handshake, signed deliveries), a chat ingest endpoint for other bridges, and health.
//!
//! A delivery is answered 200 only after its messages are committed; Meta retries anything
//! else, and every message is idempotent on its id, so nothing is lost or stored twice.

mod error;
pub mod rest;

pub use error::ApiError;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tracing::{info, warn};

use crate::app::App;
use crate::config::read_secret;
use crate::message::{ChatEvent, EventKind};
use crate::pipeline::{self, Context};
use crate::source::whatsapp;

/// Meta sends up to 3 MB; anything over 4 MiB is refused with 413.
pub const BODY_LIMIT: usize = 4 << 20;
/// How long the directory snapshot used for matching is reused.
const CONTEXT_TTL: Duration = Duration::from_secs(2);

/// What the handlers share.
pub struct ApiState {
    pub(crate) app: App,
    /// App secrets (several Meta apps may call the same endpoint).
    secrets: Vec<Vec<u8>>,
    allow_unsigned: bool,
    verify_token: Option<String>,
    pub(crate) tokens: Vec<String>,
    context: tokio::sync::RwLock<Option<(Instant, Arc<Context>)>>,
    /// Deliveries waiting for the group committer (started by `serve`).
    commits: std::sync::OnceLock<tokio::sync::mpsc::Sender<Pending>>,
    /// Bearer tokens of the admin listener (none: loopback only, no token).
    admin_tokens: Vec<String>,
    /// Slots for webhook bodies read before their signature can be checked.
    unsigned_bodies: tokio::sync::Semaphore,
}

/// A prepared delivery and where to report its commit: the source keys of its inputs the
/// database refused (stored as failures), or why nothing was committed.
type Pending = (
    Vec<crate::message::Prepared>,
    tokio::sync::oneshot::Sender<Result<Vec<String>, NotCommitted>>,
);

/// Why a delivery was not committed: the sender retries.
#[derive(Debug, Clone, thiserror::Error)]
enum NotCommitted {
    #[error(transparent)]
    Store(Arc<crate::store::StoreError>),
    #[error("the committer stopped")]
    Stopped,
}

/// Deliveries committed together at most: concurrent requests share one transaction (group
/// commit), so 64 connections do not queue for SQLite's write lock one by one.
const GROUP_COMMIT_MAX: usize = 512;

/// The group committer: takes every delivery waiting, stores them in one transaction, then
/// answers each (200 only after that commit).
async fn group_committer(app: App, mut rx: tokio::sync::mpsc::Receiver<Pending>) {
    while let Some(first) = rx.recv().await {
        let mut group = vec![first];
        while group.len() < GROUP_COMMIT_MAX {
            match rx.try_recv() {
                Ok(p) => group.push(p),
                Err(_) => break,
            }
        }
        let keys: Vec<Vec<String>> = group
            .iter()
            .map(|(p, _)| p.iter().map(|p| p.origin().source_key.clone()).collect())
            .collect();
        let batch: Vec<crate::message::Prepared> = group
            .iter_mut()
            .flat_map(|(p, _)| std::mem::take(p))
            .collect();
        let rules = app.rules.current();
        // An input the database refuses is stored as a failure and fails only its own
        // delivery; the others are committed and answered 200.
        let result = crate::pipeline::commit(&app.db, &batch, &rules, &app.config)
            .await
            .map_err(Arc::new);
        for ((_, reply), keys) in group.into_iter().zip(keys) {
            let answer = match &result {
                Ok(report) => Ok(keys
                    .into_iter()
                    .filter(|k| report.refused.contains(k))
                    .collect()),
                Err(e) => Err(NotCommitted::Store(Arc::clone(e))),
            };
            let _ = reply.send(answer);
        }
    }
}

/// Why the server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    Config(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

impl ApiState {
    pub fn new(app: App) -> Result<ApiState, ServeError> {
        let c = &app.config;
        let secret =
            |path: &str, env: &Option<String>, file: &Option<std::path::PathBuf>| match (env, file)
            {
                (None, None) => Ok(None),
                _ => read_secret(env.as_deref(), file.as_deref())
                    .map(|s| Some(s.expose().to_string()))
                    .map_err(|e| ServeError::Config(format!("{path}: {e}"))),
            };
        let secrets: Vec<Vec<u8>> = secret(
            "whatsapp.app_secret_env",
            &c.whatsapp.app_secret_env,
            &c.whatsapp.app_secret_file,
        )?
        .map(|s| {
            s.split(',')
                .map(|x| x.trim().as_bytes().to_vec())
                .filter(|x| !x.is_empty())
                .collect()
        })
        .unwrap_or_default();
        let verify_token = secret(
            "whatsapp.verify_token_env",
            &c.whatsapp.verify_token_env,
            &c.whatsapp.verify_token_file,
        )?;
        let list = |t: String| -> Vec<String> {
            t.split([',', '\n'])
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect()
        };
        let tokens = secret("api.tokens_env", &c.api.tokens_env, &c.api.tokens_file)?
            .map(list)
            .unwrap_or_default();
        let admin_tokens = secret(
            "http.admin_token_env",
            &c.http.admin_token_env,
            &c.http.admin_token_file,
        )?
        .map(list)
        .unwrap_or_default();
        Ok(ApiState {
            allow_unsigned: c.whatsapp.allow_unsigned,
            app,
            secrets,
            verify_token,
            tokens,
            context: tokio::sync::RwLock::new(None),
            commits: std::sync::OnceLock::new(),
            admin_tokens,
            unsigned_bodies: tokio::sync::Semaphore::new(UNSIGNED_BODIES),
        })
    }

    /// Is the WhatsApp endpoint on? Only with an app secret, or when unsigned deliveries are
    /// explicitly allowed.
    pub fn webhook_enabled(&self) -> bool {
        !self.secrets.is_empty() || self.allow_unsigned
    }

    /// The matching snapshot: rules in force and a directory at most `CONTEXT_TTL` old.
    async fn context(&self) -> Result<Arc<Context>, crate::store::StoreError> {
        let rules = self.app.rules.current();
        if let Some((at, ctx)) = &*self.context.read().await
            && at.elapsed() < CONTEXT_TTL
            && ctx.rules.version == rules.version
        {
            return Ok(Arc::clone(ctx));
        }
        let mut slot = self.context.write().await;
        if let Some((at, ctx)) = &*slot
            && at.elapsed() < CONTEXT_TTL
            && ctx.rules.version == rules.version
        {
            return Ok(Arc::clone(ctx));
        }
        let ctx = Arc::new(Context::new(
            crate::store::customers::load_directory(&self.app.db, &self.app.config).await?,
            rules,
            Arc::clone(&self.app.config),
        ));
        *slot = Some((Instant::now(), Arc::clone(&ctx)));
        Ok(ctx)
    }
}

/// `/readyz`: 200 when the database answers and no configured mailbox is failing or stalled
/// (a first backfill is not a problem), else 503; the body says what is wrong.
async fn ready(State(state): State<Arc<ApiState>>) -> Response {
    let app = &state.app;
    let db_ok = sqlx::query_scalar::<_, i64>("SELECT 1")
        .fetch_one(app.db.pool())
        .await
        .is_ok();
    let mut problems: Vec<String> = Vec::new();
    if !db_ok {
        problems.push("database: not reachable".into());
    } else if let Ok(health) = crate::store::mailboxes::health(&app.db).await {
        let stalled_before = crate::store::now_ms() - app.config.followup.stalled_after_ms();
        for h in &health {
            if !app.config.imap.iter().any(|a| a.name == h.account) {
                continue;
            }
            if h.failures > 0 {
                problems.push(format!(
                    "mailbox {}/{}: failing ({} attempts)",
                    h.account, h.folder, h.failures
                ));
            } else if h.last_sync_at.is_some_and(|at| at < stalled_before) {
                problems.push(format!("mailbox {}/{}: stalled", h.account, h.folder));
            }
        }
    }
    // Events the CRM refused or never took do not make the daemon unready, but an operator
    // should hear of them.
    let mut notes: Vec<String> = Vec::new();
    if db_ok && let Ok(depth) = crate::store::outbox::depth(&app.db).await {
        for (state, n) in depth {
            if n > 0 && (state == "rejected" || state == "dead") {
                notes.push(format!(
                    "crm: {n} deliveries {state} (keepwarm outbox list --state {state})"
                ));
            }
        }
    }
    let status = if problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(
            serde_json::json!({"ready": problems.is_empty(), "problems": problems, "notes": notes}),
        ),
    )
        .into_response()
}

/// Count every request by its route (the pattern, not the path: bounded labels) and status.
async fn count_request(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let response = next.run(req).await;
    crate::metrics::request(&route, response.status().as_u16());
    response
}

/// `GET /metrics`: Prometheus text format.
async fn metrics(State(state): State<Arc<ApiState>>) -> Response {
    let db = &state.app.db;
    let now = crate::store::now_ms();
    let lag: Vec<(String, String, f64)> = crate::store::mailboxes::health(db)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter_map(|h| {
            h.last_sync_at
                .map(|at| (h.account, h.folder, (now - at).max(0) as f64 / 1000.0))
        })
        .collect();
    let outbox = crate::store::outbox::depth(db).await.unwrap_or_default();
    let events = sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(id) FROM outbox")
        .fetch_one(db.pool())
        .await
        .ok()
        .flatten()
        .unwrap_or(0);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(&lag, &outbox, events),
    )
        .into_response()
}

/// The public listener's routes: health, the WhatsApp webhook (signed), the chat bridge
/// endpoint and the REST API (bearer tokens, checked before a body is read). Metrics and
/// readiness are only on the admin listener.
pub fn router(state: Arc<ApiState>) -> Router {
    let mut r = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/api/v1/openapi.json",
            get(|| async {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    rest::OPENAPI,
                )
            }),
        )
        .merge(rest::routes(Arc::clone(&state)));
    // The same server's cheapest POST, a baseline for load tests: only in builds for them.
    #[cfg(feature = "bench-routes")]
    {
        r = r.route(
            "/webhooks/noop",
            axum::routing::post(|_: Bytes| async { "ok" }),
        );
    }
    if state.webhook_enabled() {
        r = r.route("/webhooks/whatsapp", get(verify).post(deliver));
    }
    layered(r, &state)
}

/// The admin listener's routes: `/healthz`, `/readyz` (what is wrong, by name), `/metrics`;
/// behind `[http] admin_token_*` when one is set.
pub fn admin_router(state: Arc<ApiState>) -> Router {
    let r = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            admin_token,
        ));
    layered(r, &state)
}

/// Bodies of signed but not yet verified deliveries being read at once (4 MiB each at most).
const UNSIGNED_BODIES: usize = 64;

/// The admin token, when one is configured.
async fn admin_token(
    State(s): State<Arc<ApiState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if !s.admin_tokens.is_empty() && bearer(req.headers(), &s.admin_tokens).is_none() {
        return error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required",
        );
    }
    next.run(req).await
}

/// The layers every listener's routes share: request counting, the body limit, tracing with
/// the request id, the request timeout.
fn layered(r: Router<Arc<ApiState>>, state: &Arc<ApiState>) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    r.layer(axum::middleware::from_fn(count_request))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            let id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::debug_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(axum::middleware::from_fn(request_id_in_errors))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            state.app.config.http.request_timeout(),
        ))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(Arc::clone(state))
}

/// A server-side error (5xx) carries the request id in its JSON body, the line to look for in
/// the log; the cause itself is only logged.
async fn request_id_in_errors(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let response = next.run(req).await;
    let (Some(id), true) = (id, response.status().is_server_error()) else {
        return response;
    };
    let json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return (parts.status, "").into_response();
    };
    let body = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(mut v) => {
            if let Some(e) = v.get_mut("error").and_then(|e| e.as_object_mut()) {
                e.insert("request_id".into(), serde_json::Value::String(id));
            }
            Bytes::from(v.to_string())
        }
        Err(_) => bytes,
    };
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// The limits of a listener, from `[http]`.
fn limits(config: &crate::config::HttpConfig) -> crate::httpd::Limits {
    crate::httpd::Limits {
        max_connections: config.max_connections,
        header_timeout: config.header_timeout(),
        write_stall: config.request_timeout(),
    }
}

async fn bind(listen: &str, key: &str) -> Result<tokio::net::TcpListener, ServeError> {
    let addr: SocketAddr = listen
        .parse()
        .map_err(|_| ServeError::Config(format!("{key}: {listen:?} is not an address")))?;
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind {
            addr: listen.to_string(),
            source,
        })
}

/// Serve the public routes until `stop` turns true; requests in flight finish (and commit)
/// before the returned task ends.
pub async fn serve(
    state: Arc<ApiState>,
    listen: &str,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, ServeError> {
    let listener = bind(listen, "http.listen").await?;
    if !state.webhook_enabled() {
        warn!(
            "WhatsApp webhook off: no whatsapp.app_secret (set allow_unsigned = true only for tests)."
        );
    }
    let (tx, rx) = tokio::sync::mpsc::channel(4 * GROUP_COMMIT_MAX);
    if state.commits.set(tx).is_ok() {
        tokio::spawn(group_committer(state.app.clone(), rx));
    }
    let addr = listener.local_addr().ok();
    info!(addr = ?addr, webhook = state.webhook_enabled(), "HTTP server listening.");
    let limits = limits(&state.app.config.http);
    let app = router(state);
    Ok(tokio::spawn(crate::httpd::serve(
        listener, app, limits, stop, "public",
    )))
}

/// Serve the admin routes (`[http] admin_listen`); `None` when it is off, or when the default
/// address is taken (said in the log: a second instance on the same host).
pub async fn serve_admin(
    state: Arc<ApiState>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<Option<tokio::task::JoinHandle<()>>, ServeError> {
    let http = &state.app.config.http;
    let Some((listen, by_default)) = http.admin() else {
        return Ok(None);
    };
    let listener = match bind(listen, "http.admin_listen").await {
        Ok(l) => l,
        Err(e) if by_default => {
            warn!(error = %e, "Admin listener (metrics, readiness) not started: its default address is taken. Set [http] admin_listen.");
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    info!(addr = %listen, "Admin listener (metrics, readiness) listening.");
    let limits = limits(http);
    let app = admin_router(state);
    Ok(Some(tokio::spawn(crate::httpd::serve(
        listener, app, limits, stop, "admin",
    ))))
}

/// The request's bearer token when it is one of `tokens` (compared in constant time).
pub(crate) fn bearer<'a>(headers: &'a HeaderMap, tokens: &[String]) -> Option<&'a str> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))?;
    tokens
        .iter()
        .any(|want| same(want.as_bytes(), token.as_bytes()))
        .then_some(token)
}

/// Equal without an early exit (tokens and verify tokens).
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Deserialize)]
struct Handshake {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

/// `GET /webhooks/whatsapp`: Meta's subscription handshake.
async fn verify(State(s): State<Arc<ApiState>>, Query(q): Query<Handshake>) -> Response {
    let ok = q.mode.as_deref() == Some("subscribe")
        && match (&s.verify_token, &q.token) {
            (Some(want), Some(got)) => same(want.as_bytes(), got.as_bytes()),
            _ => false,
        };
    match (ok, q.challenge) {
        (true, Some(challenge)) => (StatusCode::OK, challenge).into_response(),
        _ => (StatusCode::FORBIDDEN, "verification failed").into_response(),
    }
}

/// Is `header` (`sha256=<hex>`) the HMAC-SHA256 of `body` under one of the app secrets?
pub fn signature_ok(secrets: &[Vec<u8>], header: Option<&str>, body: &[u8]) -> bool {
    let Some(hex_sig) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    secrets.iter().any(|secret| {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
            return false;
        };
        mac.update(body);
        mac.verify_slice(&sig).is_ok()
    })
}

pub(crate) fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(serde_json::json!({"error": {"code": code, "message": message.into()}})),
    )
        .into_response()
}

/// `POST /webhooks/whatsapp`: a signed delivery; 200 only after the commit.
///
/// Meta signs the raw body, so it must be read before it can be checked: a delivery without a
/// signature is refused before its body is read, and at most `UNSIGNED_BODIES` bodies are
/// read and checked at once (the others wait their turn, holding only their connection).
async fn deliver(
    State(s): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    if !s.secrets.is_empty() && signature.is_none() {
        warn!(
            reason = "missing X-Hub-Signature-256",
            "WhatsApp delivery refused."
        );
        return error(
            StatusCode::UNAUTHORIZED,
            "bad-signature",
            "missing X-Hub-Signature-256",
        );
    }
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            format!("the body is larger than {BODY_LIMIT} bytes"),
        )
    };
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
        return too_large();
    }
    let Ok(slot) = s.unsigned_bodies.acquire().await else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "stopping",
            "the server is stopping",
        );
    };
    let body = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(e) => {
            let over = std::error::Error::source(&e)
                .is_some_and(|src| src.is::<http_body_util::LengthLimitError>());
            if over {
                return too_large();
            }
            return error(
                StatusCode::BAD_REQUEST,
                "incomplete-body",
                "the body could not be read",
            );
        }
    };
    if !s.secrets.is_empty() && !signature_ok(&s.secrets, signature, &body) {
        let why = if signature.is_none() {
            "missing X-Hub-Signature-256"
        } else {
            "X-Hub-Signature-256 does not match the body"
        };
        warn!(
            reason = why,
            bytes = body.len(),
            "WhatsApp delivery refused."
        );
        return error(StatusCode::UNAUTHORIZED, "bad-signature", why);
    }
    let events = match whatsapp::parse(&body) {
        Ok(e) => e,
        Err(why) => return error(StatusCode::BAD_REQUEST, "malformed-body", why),
    };
    drop(body);
    drop(slot);
    store(&s, events, Caller::WhatsApp).await
}

/// Who sent a delivery: Meta (whose retries of an input the database refuses would fail the
/// same way for days) or a bridge (which should hear that its message was not stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    WhatsApp,
    Bridge,
}

async fn store(s: &ApiState, events: Vec<ChatEvent>, caller: Caller) -> Response {
    let started = Instant::now();
    // A bridge names its channel freely: metrics see only the known channels (and "chat").
    let source = events
        .first()
        .map(|e| crate::message::Channel::from_name(&e.channel).as_str())
        .unwrap_or("chat");
    let response = store_events(s, events, caller).await;
    if response.status() == StatusCode::OK {
        crate::metrics::latency(source, started.elapsed().as_secs_f64());
    }
    response
}

async fn store_events(s: &ApiState, events: Vec<ChatEvent>, caller: Caller) -> Response {
    if events.is_empty() {
        return (StatusCode::OK, "EVENT_RECEIVED").into_response();
    }
    let ctx = match s.context().await {
        Ok(c) => c,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let batch = whatsapp::inbound_of(events, crate::store::now_ms());
    // Small bodies are prepared right here; a large one on the blocking pool.
    let prepared = if batch.len() <= 4 {
        batch
            .into_iter()
            .map(|i| pipeline::prepare(&ctx, i))
            .collect()
    } else {
        let ctx = Arc::clone(&ctx);
        match tokio::task::spawn_blocking(move || {
            batch
                .into_iter()
                .map(|i| pipeline::prepare(&ctx, i))
                .collect::<Vec<_>>()
        })
        .await
        {
            Ok(p) => p,
            Err(e) => {
                warn!(error = %e, "Preparing a delivery failed.");
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the delivery could not be processed",
                );
            }
        }
    };
    // The group committer runs from `serve`, which mounts these routes.
    let Some(commits) = s.commits.get() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "starting",
            "the server is starting",
        );
    };
    let (reply, done) = tokio::sync::oneshot::channel();
    if commits.send((prepared, reply)).await.is_err() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "stopping",
            "the server is stopping",
        );
    }
    let committed = done.await.unwrap_or(Err(NotCommitted::Stopped));
    match committed {
        Ok(refused) if refused.is_empty() || caller == Caller::WhatsApp => {
            if !refused.is_empty() {
                warn!(inputs = ?refused, "Delivery acknowledged; the database refused some of its messages, kept as failures.");
            }
            (StatusCode::OK, "EVENT_RECEIVED").into_response()
        }
        Ok(_) => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "not-stored",
            "the message could not be stored; it is kept as a failure (keepwarm failures)",
        ),
        Err(e) => {
            warn!(error = %e, "Delivery not stored; the sender will retry.");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the message could not be stored now; retry later",
            )
        }
    }
}

/// One message from another chat bridge (WeChat Work, Telegram, LINE, ...). Fields not listed
/// here are ignored (and kept in the raw event only as far as listed).
#[derive(Debug, Deserialize)]
pub struct BridgeMessage {
    /// `wechat`, `telegram`, `line`, `sms` or any short lower-case name.
    pub channel: String,
    /// The bridge's id of the message: with `channel`, the idempotency key.
    pub external_id: String,
    /// `inbound` (from the customer) or `outbound` (from a rep).
    pub direction: String,
    /// The customer's identity: an E.164 phone (`+8613...`), an e-mail address, or the
    /// platform's user id.
    pub customer: String,
    /// The rep's id, when the bridge knows it.
    #[serde(default)]
    pub rep: Option<String>,
    #[serde(default)]
    pub text: String,
    /// RFC 3339, or Unix seconds.
    pub timestamp: serde_json::Value,
}

/// `POST /api/v1/messages` (bearer token): a message from another chat bridge, through the same
/// pipeline; idempotent on (channel, external_id).
/// The bearer token is checked by the REST layer before the body is read.
pub(crate) async fn chat_message(State(s): State<Arc<ApiState>>, body: Bytes) -> Response {
    let m: BridgeMessage = match serde_json::from_slice(&body) {
        Ok(m) => m,
        Err(e) => return error(StatusCode::BAD_REQUEST, "malformed-body", e.to_string()),
    };
    match bridge_event(m, &s.app.config.reps) {
        Ok(event) => store(&s, vec![event], Caller::Bridge).await,
        Err(why) => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-message",
            why.to_string(),
        ),
    }
}

/// Why a bridge message was refused (answered `422 invalid-message` with these words).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BridgeError {
    #[error("channel must be a short name like \"wechat\"")]
    BadChannel,
    #[error("channel \"email\" is reserved for mail: send mail through IMAP or an import")]
    EmailChannel,
    #[error("{0} must not be empty")]
    Empty(&'static str),
    #[error("{0} is longer than {MAX_BRIDGE_ID} bytes")]
    TooLong(&'static str),
    #[error("{0} must not contain control characters")]
    ControlCharacters(&'static str),
    #[error("rep {0:?} is not a [[reps]] id")]
    UnknownRep(String),
    #[error("direction {0:?}: inbound or outbound")]
    Direction(String),
    #[error("timestamp must be RFC 3339 or Unix seconds")]
    Timestamp,
}

/// The longest external id and customer identity a bridge may send.
const MAX_BRIDGE_ID: usize = 256;

/// A bridge message as a chat event (validated: a short channel name other than `email`, an
/// external id and a customer of at most 256 bytes without control characters, a rep of
/// `[[reps]]`).
pub fn bridge_event(
    m: BridgeMessage,
    reps: &[crate::config::RepConfig],
) -> Result<ChatEvent, BridgeError> {
    let raw = serde_json::json!({
        "channel": m.channel, "external_id": m.external_id, "direction": m.direction,
        "customer": m.customer, "rep": m.rep, "text": m.text, "timestamp": m.timestamp,
    })
    .to_string();
    let channel = m.channel.trim().to_ascii_lowercase();
    if channel.is_empty()
        || channel.len() > 32
        || !channel
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(BridgeError::BadChannel);
    }
    if channel == "email" {
        return Err(BridgeError::EmailChannel);
    }
    let id_problem = |field: &'static str, v: &str| -> Option<BridgeError> {
        if v.trim().is_empty() {
            Some(BridgeError::Empty(field))
        } else if v.len() > MAX_BRIDGE_ID {
            Some(BridgeError::TooLong(field))
        } else if v.chars().any(char::is_control) {
            Some(BridgeError::ControlCharacters(field))
        } else {
            None
        }
    };
    if let Some(p) = id_problem("external_id", &m.external_id) {
        return Err(p);
    }
    if let Some(p) = id_problem("customer", &m.customer) {
        return Err(p);
    }
    if let Some(rep) = &m.rep {
        if let Some(p) = id_problem("rep", rep) {
            return Err(p);
        }
        if !reps.iter().any(|r| r.id == *rep) {
            return Err(BridgeError::UnknownRep(rep.clone()));
        }
    }
    let kind = match m.direction.as_str() {
        "inbound" => EventKind::Inbound,
        "outbound" => EventKind::Echo,
        other => return Err(BridgeError::Direction(other.to_string())),
    };
    let timestamp = match &m.timestamp {
        // Unix seconds up to the year 2100.
        serde_json::Value::Number(n) => n
            .as_i64()
            .filter(|s| (0..=4_102_444_800).contains(s))
            .map(|s| s * 1000),
        serde_json::Value::String(t) => chrono::DateTime::parse_from_rfc3339(t)
            .ok()
            .map(|d| d.timestamp_millis())
            .or_else(|| {
                t.parse::<i64>()
                    .ok()
                    .filter(|s| (0..=4_102_444_800).contains(s))
                    .map(|s| s * 1000)
            }),
        _ => None,
    }
    .ok_or(BridgeError::Timestamp)?;
    let customer = m.customer.trim().to_string();
    if customer.is_empty() {
        return Err(BridgeError::Empty("customer"));
    }
    let phone = customer.starts_with('+') && customer[1..].chars().all(|c| c.is_ascii_digit());
    Ok(ChatEvent {
        id: format!("{channel}:{}", m.external_id.trim()),
        kind,
        wa_id: phone.then(|| customer[1..].to_string()),
        user_id: (!phone).then(|| customer.clone()),
        name: None,
        business_number: None,
        timestamp,
        detail: channel.clone(),
        text: m.text,
        channel,
        rep: m.rep,
        raw,
    })
}
