//! The optional bearer key: every API route needs `Authorization: Bearer <key>` when one is set.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// The key, never printed.
pub(crate) struct Key(Vec<u8>);

impl Key {
    pub(crate) fn new(key: String) -> Self {
        Self(key.into_bytes())
    }

    /// Whether `given` is the key, compared in constant time (for keys of the same length; the
    /// length itself is not secret enough to matter).
    fn matches(&self, given: &[u8]) -> bool {
        given.len() == self.0.len() && bool::from(self.0.ct_eq(given))
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(…)")
    }
}

/// Refuse requests without the key (401), when the server has one.
pub(crate) async fn require_key(
    State(state): State<Arc<crate::State>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(key) = &state.api_key else { return next.run(request).await };
    let given = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim);
    match given {
        Some(given) if key.matches(given.as_bytes()) => next.run(request).await,
        Some(_) => ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "Invalid authentication token")
            .into_response(),
        None => {
            let mut response =
                ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "Authorization header required")
                    .into_response();
            response.headers_mut().insert("www-authenticate", axum::http::HeaderValue::from_static("Bearer"));
            response
        }
    }
}
