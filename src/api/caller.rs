//! Who calls the REST API: `authorize` turns the bearer token (a config token: an admin; a
//! user's `kw_…` token: its role and scope) into the request's `Caller`, refuses what the
//! role may not do (managers' routes, the chat bridge, writes with a read-only token), and
//! the handlers ask the `Caller` whether it may see or change a customer.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, ApiState, error};
use crate::store;

/// Who is calling: a config token (an admin), or a user's token (`kw_…`, its role and scope);
/// 401 otherwise (nothing else is said). A read-only token may only read.
pub(super) async fn authorize(
    State(s): State<Arc<ApiState>>,
    req: Request,
    next: Next,
) -> Response {
    let unauthorized = || {
        error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required",
        )
    };
    let scope = if let Some(token) = super::bearer(req.headers(), &s.tokens) {
        // For the records of changes: a fingerprint of the token, never the token.
        use sha2::Digest;
        let fingerprint = hex::encode(&sha2::Sha256::digest(token.as_bytes())[..4]);
        crate::account::Scope::admin(format!("api:{fingerprint}"))
    } else {
        let given = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .and_then(crate::account::parse_token);
        let Some((id, secret)) = given else {
            return unauthorized();
        };
        match store::users::token(&s.app.db, id).await {
            Ok(Some(row)) => match crate::account::token_scope(&row, secret) {
                Some(scope) => scope,
                None => return unauthorized(),
            },
            Ok(None) => return unauthorized(),
            Err(e) => return ApiError::from(e).into_response(),
        }
    };
    // Routes for managers (and admins) only, and the chat bridge for admins (integrations).
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    let needs = match (req.method().as_str(), route.as_str()) {
        ("POST", "/api/v1/messages") => Some(crate::account::Role::Admin),
        ("PUT" | "DELETE", "/api/v1/customers/{id}")
        | ("POST", "/api/v1/customers/import" | "/api/v1/customers/{id}/assign")
        | (
            "GET",
            "/api/v1/customers/{id}/export"
            | "/api/v1/unknown"
            | "/api/v1/leads"
            | "/api/v1/mailboxes"
            | "/api/v1/review",
        ) => Some(crate::account::Role::Manager),
        _ => None,
    };
    if needs.is_some_and(|role| scope.role < role) {
        return error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this needs a manager's or an admin's token",
        );
    }
    if scope.read_only && req.method() != axum::http::Method::GET {
        return error(
            StatusCode::FORBIDDEN,
            "read-only",
            "this token may only read",
        );
    }
    let reason = req
        .headers()
        .get("x-keepwarm-reason")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
        .filter(|r| !r.is_empty());
    if reason.as_ref().is_some_and(|r| r.len() > 500) {
        return error(
            StatusCode::BAD_REQUEST,
            "bad-reason",
            "X-Keepwarm-Reason is longer than 500 characters",
        );
    }
    let mut req = req;
    req.extensions_mut().insert(Caller {
        who: scope.who.clone(),
        reason,
        scope,
    });
    // No identifier, cursor or filter contains a NUL character (PostgreSQL text cannot hold
    // one; SQLite would store it silently): refuse the request instead of asking the database.
    if req
        .uri()
        .path_and_query()
        .is_some_and(|pq| pq.as_str().contains("%00"))
    {
        return error(
            StatusCode::BAD_REQUEST,
            "bad-query",
            "the path or query contains a NUL character (%00)",
        );
    }
    next.run(req).await
}

/// The authenticated caller of a request (set by `authorize`).
#[derive(Debug, Clone)]
pub(super) struct Caller {
    /// `api:<first 8 hex digits of the token's SHA-256>` (config tokens), `user:<login>`.
    pub(super) who: String,
    /// `X-Keepwarm-Reason`, when given.
    pub(super) reason: Option<String>,
    /// What the caller may see and do.
    pub(super) scope: crate::account::Scope,
}

impl Caller {
    /// 404 unless the customer exists and the caller may see it (a rep: its own, or one in a
    /// pool it belongs to); returns its ownership.
    pub(super) async fn sees(
        &self,
        s: &ApiState,
        id: &str,
    ) -> Result<store::ownership::Holding, ApiError> {
        let config = &s.app.config;
        match store::ownership::peek(&s.app.db, id).await? {
            Some(h)
                if self
                    .scope
                    .sees(config, h.owner.as_deref(), h.pool_name(config)) =>
            {
                Ok(h)
            }
            _ => Err(ApiError::not_found("customer with this id")),
        }
    }

    /// As `sees`, and 403 unless the caller may change it (a rep: its own).
    pub(super) async fn changes(&self, s: &ApiState, id: &str) -> Result<(), ApiError> {
        let h = self.sees(s, id).await?;
        if self.scope.changes(h.owner.as_deref()) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "only the customer's owner or a manager may change it",
            ))
        }
    }

    /// The rep a rep's token acts as (`None` for managers and admins).
    pub(super) fn own_rep(&self) -> Option<String> {
        (!self.scope.manages())
            .then(|| self.scope.rep.clone())
            .flatten()
    }

    pub(super) fn actor(&self, via: &'static str) -> store::customers::Actor {
        store::customers::Actor {
            who: self.who.clone(),
            via,
            reason: self.reason.clone(),
        }
    }
}
