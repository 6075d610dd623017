//! Sessions, as AgentOS's `agno/os/routers/session`: list (by user and agent, paged), get, its
//! runs, one run, rename, delete. Everything is read from (and deleted in) the session store.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use fanout::models::Message;
use fanout::store::{SessionInfo, SessionQuery};
use serde_json::{Value, json};

use super::schema;
use crate::State as ServerState;
use crate::error::{ApiError, quote};
use crate::fields::{Fields, check_id};

type AppState = State<Arc<ServerState>>;
type Params = Result<Query<HashMap<String, String>>, QueryRejection>;

/// The largest page `GET /sessions` returns.
const MAX_PAGE: usize = 100;

pub(super) fn routes() -> Router<Arc<ServerState>> {
    Router::new()
        .route("/sessions", get(list).delete(delete_many))
        .route("/sessions/{session_id}", get(detail).delete(delete))
        .route("/sessions/{session_id}/runs", get(runs))
        .route("/sessions/{session_id}/runs/{run_id}", get(run))
        .route("/sessions/{session_id}/rename", post(rename))
}

fn positive(params: &HashMap<String, String>, name: &str, default: usize) -> Result<usize, ApiError> {
    match params.get(name).map(String::as_str) {
        None | Some("") => Ok(default),
        Some(text) => text.parse::<usize>().map_err(|_| {
            ApiError::invalid(format!(
                "The query parameter `{name}` must be a whole number, not {}",
                quote(text)
            ))
        }),
    }
}

fn session_not_found(session_id: &str) -> ApiError {
    ApiError::not_found(format!("Session not found: {}", quote(session_id)))
}

/// The session, if it exists and (when `user_id` is given) is that user's.
async fn find(
    state: &ServerState,
    session_id: &str,
    params: &HashMap<String, String>,
) -> Result<SessionInfo, ApiError> {
    check_id("session_id", session_id)?;
    let store = state.store()?;
    let info = store.session(session_id).await.map_err(|e| ApiError::storage(&e))?;
    match info {
        Some(info) if params.get("user_id").is_none_or(|u| info.user_id.as_deref() == Some(u.as_str())) => {
            Ok(info)
        }
        _ => Err(session_not_found(session_id)),
    }
}

/// The first user message of a session (its name when it has none).
async fn first_input(state: &ServerState, session_id: &str) -> Option<String> {
    let runs = state.store.as_ref()?.runs(session_id).await.ok()?;
    runs.iter().flat_map(|r| r.messages.iter()).find_map(|m| match m {
        Message::User { content } => Some(content.clone()),
        _ => None,
    })
}

/// `GET /sessions?user_id=&component_id=&limit=&page=`.
async fn list(State(state): AppState, params: Params) -> Result<Json<Value>, ApiError> {
    let Query(params) = params?;
    let limit = positive(&params, "limit", SessionQuery::DEFAULT_LIMIT)?.clamp(1, MAX_PAGE);
    let page = positive(&params, "page", 1)?.max(1);
    let empty = || {
        Json(
            json!({"data": [], "meta": {"page": page, "limit": limit, "total_pages": 0, "total_count": 0, "search_time_ms": 0.0}}),
        )
    };
    if params.get("type").is_some_and(|t| t != "agent") {
        return Ok(empty());
    }
    let store = state.store()?;
    // Stored runs name their agent; `component_id` is the id it is served under.
    let agent_id = params.get("component_id").filter(|c| !c.is_empty()).map(|id| {
        match state.agents.iter().find(|a| &a.id == id).and_then(|a| a.agent.name()) {
            Some(name) => name.to_owned(),
            None => id.clone(),
        }
    });
    let query = SessionQuery {
        user_id: params.get("user_id").filter(|u| !u.is_empty()).cloned(),
        agent_id,
        limit,
        offset: (page - 1).saturating_mul(limit),
    };
    let started = std::time::Instant::now();
    let found = store.sessions(&query).await.map_err(|e| ApiError::storage(&e))?;
    let names = futures::future::join_all(found.items.iter().map(|info| {
        let state = &state;
        async move {
            match &info.name {
                Some(_) => schema::session_name(info, None),
                None => schema::session_name(info, first_input(state, &info.session_id).await.as_deref()),
            }
        }
    }))
    .await;
    let mut data: Vec<Value> = found
        .items
        .iter()
        .zip(names)
        .map(|(info, name)| schema::session(info, name, state.served_id(info.agent_id.as_deref())))
        .collect();
    if let Some(wanted) = params.get("session_name").filter(|n| !n.is_empty()) {
        let wanted = wanted.to_lowercase();
        data.retain(|s| s["session_name"].as_str().is_some_and(|n| n.to_lowercase().contains(&wanted)));
    }
    let total = found.total;
    Ok(Json(json!({
        "data": data,
        "meta": {
            "page": page,
            "limit": limit,
            "total_pages": total.div_ceil(limit as u64),
            "total_count": total,
            "search_time_ms": started.elapsed().as_secs_f64() * 1000.0,
        },
    })))
}

/// `GET /sessions/{session_id}`.
async fn detail(
    State(state): AppState,
    path: Result<Path<String>, PathRejection>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let Path(session_id) = path?;
    let Query(params) = params?;
    let info = find(&state, &session_id, &params).await?;
    let runs = state.store()?.runs(&session_id).await.map_err(|e| ApiError::storage(&e))?;
    Ok(Json(schema::session_detail(&info, &runs, state.served_id(info.agent_id.as_deref()))))
}

/// `GET /sessions/{session_id}/runs`.
async fn runs(
    State(state): AppState,
    path: Result<Path<String>, PathRejection>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let Path(session_id) = path?;
    let Query(params) = params?;
    find(&state, &session_id, &params).await?;
    let runs = state.store()?.runs(&session_id).await.map_err(|e| ApiError::storage(&e))?;
    let wanted: Option<Vec<String>> =
        params.get("status").map(|s| s.split(',').map(str::to_uppercase).collect());
    let runs: Vec<Value> = runs
        .iter()
        .map(|run| schema::stored_run(run, state.served_id(run.record.agent_id.as_deref()).as_deref()))
        .filter(|run| wanted.as_ref().is_none_or(|w| w.iter().any(|s| run["status"] == s.as_str())))
        .collect();
    Ok(Json(Value::Array(runs)))
}

/// `GET /sessions/{session_id}/runs/{run_id}`.
async fn run(
    State(state): AppState,
    path: Result<Path<(String, String)>, PathRejection>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let Path((session_id, run_id)) = path?;
    let Query(params) = params?;
    find(&state, &session_id, &params).await?;
    let run = state.store()?.run(&run_id).await.map_err(|e| ApiError::storage(&e))?;
    match run {
        Some(run) if run.record.session_id == session_id => {
            Ok(Json(schema::stored_run(&run, state.served_id(run.record.agent_id.as_deref()).as_deref())))
        }
        _ => Err(ApiError::not_found(format!(
            "Run {} not found in session {}",
            quote(&run_id),
            quote(&session_id)
        ))),
    }
}

/// `POST /sessions/{session_id}/rename` with `{"session_name": …}` (JSON or form).
async fn rename(
    State(state): AppState,
    path: Result<Path<String>, PathRejection>,
    params: Params,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    let Path(session_id) = path?;
    let Query(params) = params?;
    let fields = Fields::read(request).await?;
    let name = fields.required("session_name")?;
    if name.chars().count() > 1000 {
        return Err(ApiError::invalid("The session name must be at most 1000 characters"));
    }
    find(&state, &session_id, &params).await?;
    let store = state.store()?;
    if !store.rename_session(&session_id, name).await.map_err(|e| ApiError::storage(&e))? {
        return Err(session_not_found(&session_id));
    }
    let info = find(&state, &session_id, &params).await?;
    let runs = store.runs(&session_id).await.map_err(|e| ApiError::storage(&e))?;
    Ok(Json(schema::session_detail(&info, &runs, state.served_id(info.agent_id.as_deref()))))
}

/// `DELETE /sessions/{session_id}`.
async fn delete(
    State(state): AppState,
    path: Result<Path<String>, PathRejection>,
    params: Params,
) -> Result<Response, ApiError> {
    let Path(session_id) = path?;
    let Query(params) = params?;
    find(&state, &session_id, &params).await?;
    if !state.store()?.delete_session(&session_id).await.map_err(|e| ApiError::storage(&e))? {
        return Err(session_not_found(&session_id));
    }
    tracing::info!(session = ?session_id, "session deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /sessions` with `{"session_ids": […], "session_types": […]}`.
async fn delete_many(State(state): AppState, params: Params, request: Request) -> Result<Response, ApiError> {
    let Query(params) = params?;
    let fields = Fields::read(request).await?;
    let ids: Vec<String> = serde_json::from_str(fields.required("session_ids")?)
        .map_err(|_| ApiError::invalid("`session_ids` must be a list of session ids"))?;
    if ids.is_empty() {
        return Err(ApiError::invalid("`session_ids` must not be empty"));
    }
    for id in &ids {
        find(&state, id, &params).await?;
    }
    let store = state.store()?;
    for id in &ids {
        store.delete_session(id).await.map_err(|e| ApiError::storage(&e))?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
