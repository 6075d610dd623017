//! OpenAI's error shape, `{"error": {"message", "type", "param", "code"}}`, for every answer
//! under `/v1`: the routes' own errors, and (through [`reshape`]) those of the layers around
//! them (the key check, the body limit, unknown routes), which speak AgentOS's shape elsewhere.

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::ApiError;

/// A refused or failed OpenAI-compatible request.
#[derive(Debug, Clone)]
pub(crate) struct OpenAiError {
    status: StatusCode,
    message: String,
    kind: &'static str,
    param: Option<&'static str>,
    code: Option<&'static str>,
    /// Whether the client may send the request again: not once the run went on (its tools may
    /// have run), which OpenAI's clients would otherwise do on a 5xx.
    retry: bool,
}

impl OpenAiError {
    /// A 400 about the request's field `param` (OpenAI's `invalid_request_error`).
    pub(crate) fn invalid(param: Option<&'static str>, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            kind: "invalid_request_error",
            param,
            code: None,
            retry: true,
        }
    }

    /// A 404 for a missing thing named by field `param`, with OpenAI's `code` for it.
    pub(crate) fn not_found(
        param: Option<&'static str>,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
            kind: "invalid_request_error",
            param,
            code: Some(code),
            retry: true,
        }
    }

    /// A 500: the run failed (`code` says how). Not to be retried by the client: the run went
    /// on, and its tools may have run.
    pub(crate) fn server(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
            kind: "server_error",
            param: None,
            code: Some(code),
            retry: false,
        }
    }
}

impl From<ApiError> for OpenAiError {
    fn from(err: ApiError) -> Self {
        let status = err.status();
        let (kind, code) = match status {
            StatusCode::UNAUTHORIZED => ("invalid_request_error", Some("invalid_api_key")),
            StatusCode::NOT_FOUND => ("invalid_request_error", Some("not_found")),
            StatusCode::PAYLOAD_TOO_LARGE => ("invalid_request_error", Some("request_too_large")),
            s if s.is_server_error() => ("server_error", None),
            _ => ("invalid_request_error", None),
        };
        Self { status, message: err.detail().to_owned(), kind, param: None, code, retry: true }
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": self.code,
        }});
        let mut response = (self.status, axum::Json(body)).into_response();
        if !self.retry {
            // OpenAI's clients honour it over their retry of 5xx answers.
            response.headers_mut().insert("x-should-retry", axum::http::HeaderValue::from_static("false"));
        }
        response
    }
}

/// An error as one `data:` frame of a chat completion stream: OpenAI's client raises on it.
pub(crate) fn stream_error(message: &str, code: &str) -> serde_json::Value {
    json!({"error": {"message": message, "type": "server_error", "param": null, "code": code}})
}

/// Answers under `/v1` in OpenAI's error shape: an [`ApiError`] from a layer around the routes
/// (it rides in the response's extensions) is rewritten, its status and `WWW-Authenticate` kept.
pub(crate) async fn reshape(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let ours = path == "/v1" || path.starts_with("/v1/");
    let response = next.run(request).await;
    if !ours {
        return response;
    }
    let Some(err) = response.extensions().get::<ApiError>().cloned() else { return response };
    let challenge = response.headers().get(header::WWW_AUTHENTICATE).cloned();
    let mut reshaped = OpenAiError::from(err).into_response();
    if let Some(challenge) = challenge {
        reshaped.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
    }
    reshaped
}
