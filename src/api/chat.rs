//! Chat deliveries over HTTP: the WhatsApp Cloud API webhook (verification handshake, signed
//! deliveries) and the bridge endpoint for other chat apps (`POST /api/v1/messages`). Each
//! delivery is prepared here and handed to the pipeline's group commit, which stores
//! concurrent deliveries in one transaction; each is answered only after that commit.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use tracing::warn;

use super::{ApiError, ApiState, BODY_LIMIT, error, same};
use crate::message::{ChatEvent, EventKind, Pending};
use crate::pipeline::{self, NotCommitted};
use crate::source::whatsapp;

#[derive(Deserialize)]
pub(super) struct Handshake {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

/// `GET /webhooks/whatsapp`: Meta's subscription handshake.
pub(super) async fn verify(State(s): State<Arc<ApiState>>, Query(q): Query<Handshake>) -> Response {
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

/// `POST /webhooks/whatsapp`: a signed delivery; 200 only after the commit.
///
/// Meta signs the raw body, so it must be read before it can be checked: a delivery without a
/// signature is refused before its body is read, and at most `UNSIGNED_BODIES` bodies are
/// read and checked at once (the others wait their turn, holding only their connection).
pub(super) async fn deliver(
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
    let prepared =
        match pipeline::prepare_all(&ctx, batch.into_iter().map(Pending::ready).collect()).await {
            Ok(p) => p,
            Err(e) => {
                warn!(error = %e, "Preparing a delivery failed.");
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the delivery could not be processed",
                );
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
    let committed = commits.submit(prepared).await;
    if let Err(NotCommitted::Stopped) = committed {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "stopping",
            "the server is stopping",
        );
    }
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
