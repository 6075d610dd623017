//! The server's routes: every protocol's, composed, with the key check, the body limit, CORS and
//! JSON answers for unknown routes and wrong methods.
//!
//! Each protocol module (AgentOS's API, OpenAI's, AG-UI, A2A, the chat page) gives its routes;
//! none starts a run by itself: they all go through the [registry](crate::runs), which drives the
//! agent's one event stream and hands it to the protocol's [encoder](crate::runs::Encode).

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;

use crate::error::ApiError;
use crate::{State, a2a, agentos, agui, auth, openai, page};

/// Every route, with the key check on all but the open ones (`/health`, the page).
pub(crate) fn router(state: Arc<State>) -> Router {
    let api = agentos::routes()
        .merge(openai::routes())
        .merge(a2a::routes())
        .merge(agui::routes())
        .route_layer(axum::middleware::from_fn_with_state(Arc::clone(&state), auth::require_key));
    let open = agentos::open_routes().merge(a2a::open_routes()).merge(page::routes());
    let app = open
        .merge(api)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.body_limit))
        // Around everything, so that the key check and unknown routes answer under `/v1` in
        // OpenAI's error shape too.
        .layer(axum::middleware::from_fn(openai::error::reshape));
    let app = match &state.cors {
        Some(cors) => app.layer(cors.clone()),
        None => app,
    };
    app.with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("Not Found")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "Method Not Allowed")
}
