//! The HTTP server of `keepwarm run` (axum): the WhatsApp Cloud API webhook (verification
//! handshake, signed deliveries), a chat ingest endpoint for other bridges, and health.
//!
//! A delivery is answered 200 only after its messages are committed; Meta retries anything
//! else, and every message is idempotent on its id, so nothing is lost or stored twice.

mod caller;
mod chat;
mod error;
mod owners;
pub mod rest;
pub mod web;

pub use chat::{BridgeError, BridgeMessage, bridge_event, signature_ok};
use chat::{deliver, verify};
pub use error::ApiError;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tracing::{info, warn};

use crate::app::App;
use crate::config::read_secret;
use crate::pipeline::Context;

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
    /// The group committer of deliveries (started by `serve`).
    commits: std::sync::OnceLock<crate::pipeline::GroupCommit>,
    /// Bearer tokens of the admin listener (none: loopback only, no token).
    admin_tokens: Vec<String>,
    /// Slots for webhook bodies read before their signature can be checked.
    unsigned_bodies: tokio::sync::Semaphore,
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
        let ctx = Arc::new(Context::load(&self.app.db, rules, Arc::clone(&self.app.config)).await?);
        *slot = Some((Instant::now(), Arc::clone(&ctx)));
        Ok(ctx)
    }
}

/// `/readyz`: 200 when the database answers and no configured mailbox is failing or stalled
/// (a first backfill is not a problem), else 503; the body says what is wrong.
async fn ready(State(state): State<Arc<ApiState>>) -> Response {
    let app = &state.app;
    let db_ok = app.db.ping().await.is_ok();
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
    let events = crate::store::outbox::last_id(db).await.unwrap_or(0);
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
/// endpoint, the REST API (bearer tokens, checked before a body is read) and the board
/// (browser sessions). Metrics and
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
    // The board, unless it has a listener of its own.
    if state.app.config.board.listen.is_none() {
        r = r.merge(web::routes());
    }
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

/// The board's own listener (`[board] listen`): the board's pages and `/healthz`.
pub fn board_router(state: Arc<ApiState>) -> Router {
    let r = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(web::routes());
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
    state.commits.get_or_init(|| {
        let rules = state.app.rules.clone();
        crate::pipeline::GroupCommit::start(
            state.app.db.clone(),
            std::sync::Arc::clone(&state.app.config),
            move || rules.current(),
        )
    });
    let addr = listener.local_addr().ok();
    info!(addr = ?addr, webhook = state.webhook_enabled(), "HTTP server listening.");
    let limits = limits(&state.app.config.http);
    let app = router(state);
    Ok(tokio::spawn(crate::httpd::serve(
        listener, app, limits, stop, "public",
    )))
}

/// Serve the board on `[board] listen` (`None` when the board shares `[http] listen`).
pub async fn serve_board(
    state: Arc<ApiState>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<Option<tokio::task::JoinHandle<()>>, ServeError> {
    let Some(listen) = state.app.config.board.listen.clone() else {
        return Ok(None);
    };
    let listener = bind(&listen, "board.listen").await?;
    info!(addr = %listen, "Board listening.");
    let limits = limits(&state.app.config.http);
    let app = board_router(state);
    Ok(Some(tokio::spawn(crate::httpd::serve(
        listener, app, limits, stop, "board",
    ))))
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

/// An error answer: `{"error": {"code", "message"}}` with `status`.
pub(crate) fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(serde_json::json!({"error": {"code": code, "message": message.into()}})),
    )
        .into_response()
}
