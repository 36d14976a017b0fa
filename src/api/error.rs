//! The one error type of the HTTP API: a status, a stable code a client can branch on, and
//! words for a person. Never internal text: a database failure is logged (with the request's
//! span) and answered `503 unavailable`. Handlers return `Result<Response, ApiError>` and use
//! `?`; the body is `{"error": {"code", "message"}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tracing::warn;

use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// `400` with `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// `404 not-found`: "no {what}".
    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not-found", format!("no {what}"))
    }

    /// The stable code (`not-found`, `bad-limit`, `unavailable`, …).
    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        warn!(error = %e, "Database unavailable.");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the database is unavailable; retry later",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        super::error(self.status, self.code, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_database_failure_is_503_without_its_text() {
        let e: ApiError = StoreError::Query {
            context: "read postgres://user:secret@db/x",
            source: sqlx::Error::Protocol("secret detail".into()),
        }
        .into();
        assert_eq!(
            (e.status(), e.code()),
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        );
        let body = axum::body::to_bytes(e.into_response().into_body(), 1 << 16)
            .await
            .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(
            !text.contains("secret") && !text.contains("postgres"),
            "{text}"
        );
        assert!(text.contains("\"code\":\"unavailable\""), "{text}");
    }
}
