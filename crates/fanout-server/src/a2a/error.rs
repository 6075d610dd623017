//! [`A2aError`]: A2A's errors (spec §3.3.2, §5.4) in both of its bindings' shapes: a
//! `google.rpc.Status` with an `ErrorInfo` detail for HTTP+JSON, a JSON-RPC error object for
//! JSON-RPC. The official clients map the `ErrorInfo` reason (or the JSON-RPC code) back to
//! their typed errors (`TaskNotFoundError` …).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::ApiError;

/// The `ErrorInfo` domain of A2A's own errors.
const DOMAIN: &str = "a2a-protocol.org";

/// Which error: A2A's, JSON-RPC's standard ones, and the server's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// No such task (or another agent's).
    TaskNotFound,
    /// The task has ended (or cannot be cancelled here).
    TaskNotCancelable,
    /// Not done by this server, or not in the task's state.
    UnsupportedOperation,
    /// A part this server does not take (files).
    ContentTypeNotSupported,
    /// The `A2A-Version` is not one served here.
    VersionNotSupported,
    /// A field is missing or wrong.
    InvalidParams,
    /// The request is not a request.
    InvalidRequest,
    /// No such JSON-RPC method.
    MethodNotFound,
    /// The body is not JSON.
    JsonParse,
    /// The server failed.
    Internal,
    /// No agent is served under the id in the URL.
    AgentNotFound,
    /// The server is shutting down.
    Unavailable,
    /// The body is beyond the server's limit.
    TooLarge,
}

impl Kind {
    /// HTTP status, `google.rpc.Code` name, `ErrorInfo` reason and JSON-RPC code.
    fn codes(self) -> (StatusCode, &'static str, Option<&'static str>, i64) {
        use StatusCode as S;
        match self {
            Kind::TaskNotFound => (S::NOT_FOUND, "NOT_FOUND", Some("TASK_NOT_FOUND"), -32001),
            Kind::TaskNotCancelable => {
                (S::BAD_REQUEST, "FAILED_PRECONDITION", Some("TASK_NOT_CANCELABLE"), -32002)
            }
            Kind::UnsupportedOperation => {
                (S::BAD_REQUEST, "FAILED_PRECONDITION", Some("UNSUPPORTED_OPERATION"), -32004)
            }
            Kind::ContentTypeNotSupported => {
                (S::BAD_REQUEST, "INVALID_ARGUMENT", Some("CONTENT_TYPE_NOT_SUPPORTED"), -32005)
            }
            Kind::VersionNotSupported => {
                (S::BAD_REQUEST, "FAILED_PRECONDITION", Some("VERSION_NOT_SUPPORTED"), -32009)
            }
            Kind::InvalidParams => (S::BAD_REQUEST, "INVALID_ARGUMENT", Some("INVALID_PARAMS"), -32602),
            Kind::InvalidRequest => (S::BAD_REQUEST, "INVALID_ARGUMENT", Some("INVALID_REQUEST"), -32600),
            Kind::MethodNotFound => (S::NOT_FOUND, "NOT_FOUND", Some("METHOD_NOT_FOUND"), -32601),
            Kind::JsonParse => (S::BAD_REQUEST, "INVALID_ARGUMENT", None, -32700),
            Kind::Internal => (S::INTERNAL_SERVER_ERROR, "INTERNAL", Some("INTERNAL_ERROR"), -32603),
            // Not A2A errors: no reason a client would map to a typed error.
            Kind::AgentNotFound => (S::NOT_FOUND, "NOT_FOUND", None, -32601),
            Kind::Unavailable => (S::SERVICE_UNAVAILABLE, "UNAVAILABLE", None, -32603),
            Kind::TooLarge => (S::PAYLOAD_TOO_LARGE, "INVALID_ARGUMENT", None, -32600),
        }
    }
}

/// A request refused or failed, as A2A reports it.
#[derive(Debug, Clone)]
pub(crate) struct A2aError {
    kind: Kind,
    message: String,
}

impl A2aError {
    /// An error of `kind` saying `message`.
    pub(crate) fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }

    /// Which error it is.
    #[cfg(test)]
    pub(crate) fn kind(&self) -> Kind {
        self.kind
    }

    /// The `ErrorInfo` detail, for the errors A2A defines.
    fn details(&self) -> Vec<Value> {
        let (_, _, reason, _) = self.kind.codes();
        reason
            .map(|reason| {
                json!({
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": reason,
                    "domain": DOMAIN,
                    "metadata": {},
                })
            })
            .into_iter()
            .collect()
    }

    /// The JSON-RPC error object (`code`, `message`, `data`).
    pub(crate) fn rpc_error(&self) -> Value {
        let (_, _, _, code) = self.kind.codes();
        json!({"code": code, "message": self.message, "data": self.details()})
    }

    /// The HTTP status of a JSON-RPC answer carrying this error: 200 as JSON-RPC has it, but
    /// 404 for a URL that names no agent (there is no endpoint to answer) and 413 for a body
    /// that was not read.
    pub(crate) fn rpc_status(&self) -> StatusCode {
        match self.kind {
            Kind::AgentNotFound => StatusCode::NOT_FOUND,
            Kind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::OK,
        }
    }
}

impl std::fmt::Display for A2aError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The HTTP+JSON form: the status, and `{"error": {code, status, message, details}}`.
impl IntoResponse for A2aError {
    fn into_response(self) -> Response {
        let (status, name, _, _) = self.kind.codes();
        let body = json!({"error": {
            "code": status.as_u16(),
            "status": name,
            "message": self.message,
            "details": self.details(),
        }});
        json_response(status, &body)
    }
}

/// The registry's and the store's errors (shutting down, a run already going on, the store
/// failing) in A2A's terms.
impl From<ApiError> for A2aError {
    fn from(err: ApiError) -> Self {
        let kind = match err.status() {
            StatusCode::SERVICE_UNAVAILABLE => Kind::Unavailable,
            StatusCode::CONFLICT => Kind::UnsupportedOperation,
            StatusCode::NOT_FOUND => Kind::TaskNotFound,
            status if status.is_client_error() => Kind::InvalidRequest,
            _ => Kind::Internal,
        };
        Self::new(kind, err.detail())
    }
}

/// A JSON body with A2A's media type.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/a2a+json"));
    response
}
