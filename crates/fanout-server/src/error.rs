//! [`ApiError`]: every failure a route reports, as a JSON body `{"detail", "error_type"}` (the
//! shape of AgentOS's `ErrorResponse`) with its HTTP status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// A request the server refuses or could not serve.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{detail}")]
pub struct ApiError {
    status: StatusCode,
    kind: &'static str,
    detail: String,
}

impl ApiError {
    /// An error with this status, kind (`error_type`) and message.
    pub fn new(status: StatusCode, kind: &'static str, detail: impl Into<String>) -> Self {
        Self { status, kind, detail: detail.into() }
    }

    pub(crate) fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    pub(crate) fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", detail)
    }

    pub(crate) fn invalid(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_error", detail)
    }

    pub(crate) fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", detail)
    }

    pub(crate) fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
    }

    pub(crate) fn config(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "config", detail)
    }

    /// A failure of the session store: logged in full, reported without its details.
    pub(crate) fn storage(err: &fanout::Error) -> Self {
        tracing::error!("session store: {err}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "storage",
            "The session store failed; see the server's log",
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"detail": self.detail, "error_type": self.kind});
        let mut response = (self.status, axum::Json(body)).into_response();
        // Kept with the response so that a protocol with an error shape of its own (OpenAI's,
        // under `/v1`) can answer the errors of the layers around its routes in that shape.
        response.extensions_mut().insert(self);
        response
    }
}

/// `text` for a message or a log line: quoted and escaped (control characters, quotes), and cut
/// to 200 characters, so nothing a client sends can forge log lines or flood a response.
pub(crate) fn quote(text: &str) -> String {
    const MAX: usize = 200;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}
