//! AgentOS's API (agno 3.x `agno/os/routers`): the routes, their inputs and outputs.
//!
//! Each route reads its request, starts or looks up a run through the [registry](crate::runs)
//! or the session store, and answers in AgentOS's shapes ([`schema`], [`events`]). Nothing here
//! runs an agent by itself: runs go through [`fanout::Agent::run`] and
//! [`fanout::Agent::continue_run`], and are stored by the agent's run loop.

pub(crate) mod events;
pub(crate) mod schema;
mod sessions;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use fanout::agent::Decision;
use fanout::store::RunState;
use serde_json::{Value, json};

use crate::error::{ApiError, quote};
use crate::fields::Fields;
use crate::runs::{Gaps, Launch, Protocol, RunContext, sse_response};
use crate::{Registered, State as ServerState};

type AppState = State<Arc<ServerState>>;

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::new(rejection.status(), "bad_request", rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_error", rejection.body_text())
    }
}

/// AgentOS's routes that need the key (when the server has one).
pub(crate) fn routes() -> Router<Arc<ServerState>> {
    Router::new()
        .route("/config", get(config))
        .route("/agents", get(agents))
        .route("/agents/{agent_id}", get(agent))
        .route("/agents/{agent_id}/runs", post(create_run))
        .route("/agents/{agent_id}/runs/{run_id}", get(get_run))
        .route("/agents/{agent_id}/runs/{run_id}/cancel", post(cancel_run))
        .route("/agents/{agent_id}/runs/{run_id}/continue", post(continue_run))
        .route("/agents/{agent_id}/runs/{run_id}/resume", post(resume_run))
        .merge(sessions::routes())
}

/// AgentOS's routes open to all: `/health`.
pub(crate) fn open_routes() -> Router<Arc<ServerState>> {
    Router::new().route("/health", get(health))
}

async fn health(State(state): AppState) -> Json<Value> {
    Json(json!({"status": "ok", "instantiated_at": crate::time::rfc3339(state.started_at)}))
}

/// The database id `/config` and the agents name.
const DB_ID: &str = "fanout";

fn model_of(registered: &Registered) -> Value {
    let model = registered.agent.model();
    json!({"id": model.id(), "name": model.id(), "model": model.id(), "provider": model.provider()})
}

fn agent_summary(state: &ServerState, registered: &Registered) -> Value {
    json!({
        "id": registered.id,
        "name": registered.agent.name().unwrap_or(&registered.id),
        "description": registered.description,
        "db_id": state.store.as_ref().map(|_| DB_ID),
        "model": model_of(registered),
    })
}

async fn config(State(state): AppState) -> Json<Value> {
    let mut models: Vec<Value> = Vec::new();
    for registered in &state.agents {
        let model = registered.agent.model();
        let entry = json!({"id": model.id(), "provider": model.provider()});
        if !models.contains(&entry) {
            models.push(entry);
        }
    }
    let databases: Vec<&str> = state.store.as_ref().map(|_| DB_ID).into_iter().collect();
    Json(json!({
        "os_id": state.os_id,
        "name": state.name,
        "description": state.description,
        "available_models": models,
        "os_database": databases.first(),
        "databases": databases,
        "agents": state.agents.iter().map(|a| agent_summary(&state, a)).collect::<Vec<_>>(),
        "teams": [],
        "workflows": [],
        "interfaces": [],
        "company": null,
        "fanout": {"version": env!("CARGO_PKG_VERSION")},
    }))
}

fn agent_detail(state: &ServerState, registered: &Registered) -> Value {
    let mut value = agent_summary(state, registered);
    let tools: Vec<Value> = registered
        .agent
        .tool_definitions()
        .iter()
        .map(|t| json!({"name": t.name, "description": t.description, "parameters": t.parameters}))
        .collect();
    if !tools.is_empty() {
        value["tools"] = json!({"tools": tools});
    }
    if let Some(prompt) = registered.agent.system_prompt() {
        value["system_message"] = json!({"system_message": prompt});
    }
    value["streaming"] = json!({"stream": true, "stream_events": true});
    value
}

async fn agents(State(state): AppState) -> Json<Value> {
    Json(Value::Array(state.agents.iter().map(|a| agent_detail(&state, a)).collect()))
}

async fn agent(
    State(state): AppState,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(agent_id) = path?;
    Ok(Json(agent_detail(&state, state.agent(&agent_id)?)))
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// `POST /agents/{agent_id}/runs`.
async fn create_run(
    State(state): AppState,
    path: Result<Path<String>, PathRejection>,
    request: Request,
) -> Result<Response, ApiError> {
    let Path(agent_id) = path?;
    let registered = state.agent(&agent_id)?;
    let fields = Fields::read(request).await?;
    let message = fields.required("message")?;
    let stream = fields.flag("stream", true)?;
    let background = fields.flag("background", false)?;
    let user_id = fields.id("user_id")?;
    // As AgentOS: a run without a session starts a new one.
    let session_id = fields.id("session_id")?.unwrap_or_else(new_id);
    let run_id = new_id();
    tracing::debug!(agent = %agent_id, run = %run_id, session = ?session_id, stream, background, "run");
    let mut request = registered.agent.run(message).run_id(run_id.clone()).session(session_id.clone());
    if let Some(user) = &user_id {
        request = request.user(user.clone());
    }
    let ctx = RunContext::new(registered, run_id, Some(session_id), user_id);
    let encoder = Box::new(events::Encoder::new(Arc::clone(&ctx), false));
    let launch = Launch { ctx, request, store: registered.agent.store().cloned(), encoder };
    deliver(&state, launch, stream, background).await
}

/// Start a run and answer as asked: SSE, one JSON output, or (background) 202 / its live stream.
async fn deliver(
    state: &ServerState,
    launch: Launch,
    stream: bool,
    background: bool,
) -> Result<Response, ApiError> {
    let ctx = Arc::clone(&launch.ctx);
    match (background, stream) {
        (true, _) => match (&state.runs.background(launch)?.log, stream) {
            (Some(log), true) => Ok(sse_response(log.tail(None, Gaps::Skip))),
            _ => Ok((
                StatusCode::ACCEPTED,
                Json(json!({"run_id": ctx.run_id, "session_id": ctx.session_id, "status": "RUNNING"})),
            )
                .into_response()),
        },
        (false, true) => Ok(sse_response(state.runs.stream(launch)?)),
        (false, false) => {
            let created_at = std::time::SystemTime::now();
            let output = match state.runs.json(launch)?.output().await? {
                Ok(output) => schema::run_output(&ctx, &output),
                Err(err) => schema::failed_output(&ctx, &err, created_at),
            };
            Ok(Json(output).into_response())
        }
    }
}

fn run_not_found(run_id: &str) -> ApiError {
    ApiError::not_found(format!("Run not found: {}", quote(run_id)))
}

#[derive(Debug, serde::Deserialize)]
struct RunQuery {
    session_id: Option<String>,
}

/// `GET /agents/{agent_id}/runs/{run_id}`.
async fn get_run(
    State(state): AppState,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<RunQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path((agent_id, run_id)) = path?;
    let Query(query) = query?;
    state.agent(&agent_id)?;
    let in_session = |session: &str| query.session_id.as_deref().is_none_or(|s| s == session);
    if let Some(run) = state.stored_run(&agent_id, &run_id).await?
        && in_session(&run.record.session_id)
    {
        let served = state.served_id(run.record.agent_id.as_deref());
        return Ok(Json(schema::stored_run(&run, served.as_deref())));
    }
    match state.runs.get(&run_id) {
        Some(live)
            if live.ctx.agent_id == agent_id && in_session(live.ctx.session_id.as_deref().unwrap_or("")) =>
        {
            let ended = live.log.as_ref().and_then(|log| log.since(None).ended);
            Ok(Json(json!({
                "run_id": run_id,
                "agent_id": agent_id,
                "session_id": live.ctx.session_id,
                "status": ended.unwrap_or("RUNNING"),
            })))
        }
        _ => Err(run_not_found(&run_id)),
    }
}

/// `POST /agents/{agent_id}/runs/{run_id}/cancel`.
async fn cancel_run(
    State(state): AppState,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path((agent_id, run_id)) = path?;
    state.agent(&agent_id)?;
    if let Some(live) = state.runs.live_of(&run_id, &agent_id) {
        tracing::info!(run = %run_id, "cancel");
        live.cancel();
        return Ok(Json(json!({})));
    }
    match state.stored_run(&agent_id, &run_id).await? {
        Some(run) if run.state == RunState::Running => Err(ApiError::conflict(format!(
            "Run {} is going on in another server instance; cancel it there",
            quote(&run_id)
        ))),
        // It has ended: nothing to cancel (as AgentOS, not an error).
        Some(_) => Ok(Json(json!({}))),
        None => Err(run_not_found(&run_id)),
    }
}

/// The user's decisions from AgentOS's `tools` field: the paused run's tool executions, each
/// `confirmed` (or not, with a `confirmation_note`).
fn decisions(tools: &str) -> Result<Vec<(String, Decision)>, ApiError> {
    if tools.trim().is_empty() {
        return Ok(Vec::new());
    }
    let value: Value =
        serde_json::from_str(tools).map_err(|_| ApiError::bad_request("Invalid JSON in tools field"))?;
    let Value::Array(tools) = value else {
        return Err(ApiError::bad_request("The tools field must be a JSON array of tool executions"));
    };
    let mut decisions = Vec::new();
    for tool in &tools {
        let Some(id) = tool.get("tool_call_id").and_then(Value::as_str) else {
            return Err(ApiError::bad_request(
                "Invalid structure or content for tools: a tool has no tool_call_id",
            ));
        };
        let asked = tool.get("requires_confirmation").and_then(Value::as_bool).unwrap_or(false);
        let decision = match tool.get("confirmed").and_then(Value::as_bool) {
            Some(true) => Decision::Approve,
            Some(false) => {
                Decision::Reject(tool.get("confirmation_note").and_then(Value::as_str).map(str::to_owned))
            }
            None if asked => Decision::Reject(Some("the user gave no decision".to_owned())),
            None => continue,
        };
        decisions.push((id.to_owned(), decision));
    }
    Ok(decisions)
}

/// `POST /agents/{agent_id}/runs/{run_id}/continue`: continue a paused run with the user's
/// decisions. (Continuing an interrupted run waits for durable resume in the core.)
async fn continue_run(
    State(state): AppState,
    path: Result<Path<(String, String)>, PathRejection>,
    request: Request,
) -> Result<Response, ApiError> {
    let Path((agent_id, run_id)) = path?;
    let registered = state.agent(&agent_id)?;
    let fields = Fields::read(request).await?;
    let stream = fields.flag("stream", true)?;
    let background = fields.flag("background", false)?;
    let decisions = decisions(fields.text("tools").unwrap_or(""))?;
    if state.runs.is_live(&run_id) {
        return Err(ApiError::conflict(format!(
            "Run {} is going on; it can be continued once paused",
            quote(&run_id)
        )));
    }
    let Some(store) = registered.agent.store() else {
        return Err(ApiError::bad_request(format!(
            "Agent {} keeps no runs (no session store), so its paused runs cannot be continued",
            quote(&agent_id)
        )));
    };
    let Some(stored) = store.run(&run_id).await.map_err(|e| ApiError::storage(&e))? else {
        return Err(run_not_found(&run_id));
    };
    if !state.owns(&agent_id, stored.record.agent_id.as_deref()) {
        return Err(run_not_found(&run_id));
    }
    match stored.state {
        RunState::Paused => {}
        RunState::Interrupted => {
            return Err(ApiError::conflict(format!(
                "Run {} was interrupted; continuing interrupted runs is not supported yet",
                quote(&run_id)
            )));
        }
        other => {
            return Err(ApiError::conflict(format!("Run {} is {other}, not paused", quote(&run_id))));
        }
    }
    let paused = crate::stored::paused_state(&stored)?;
    let session_id = Some(stored.record.session_id.clone());
    let ctx = RunContext::new(registered, run_id, session_id, stored.record.user_id.clone());
    let request = registered.agent.continue_run(paused, decisions);
    let encoder = Box::new(events::Encoder::new(Arc::clone(&ctx), true));
    let launch = Launch { ctx, request, store: Some(Arc::clone(store)), encoder };
    deliver(&state, launch, stream, background).await
}

fn meta(name: &str, data: Value) -> bytes::Bytes {
    events::sse(name, &data)
}

/// `POST /agents/{agent_id}/runs/{run_id}/resume`: a background run's events after
/// `last_event_index`, then the live rest; for a run that ended and whose events are no longer
/// kept, its stored result.
async fn resume_run(
    State(state): AppState,
    path: Result<Path<(String, String)>, PathRejection>,
    request: Request,
) -> Result<Response, ApiError> {
    let Path((agent_id, run_id)) = path?;
    let registered = state.agent(&agent_id)?;
    let fields = Fields::read(request).await?;
    let after = match fields.int("last_event_index")? {
        Some(index) if index >= 0 => Some(index as u64),
        _ => None,
    };
    let requested = after.map_or(-1, |a| a as i64);
    if let Some(run) = state.runs.get(&run_id).filter(|r| r.ctx.agent_id == agent_id) {
        // A run started over another protocol keeps its events in that protocol's form.
        let Some(log) = run.log.as_ref().filter(|_| run.protocol == Protocol::AgentOs) else {
            return Err(ApiError::bad_request(format!(
                "Run {} was not started with background=true: it has no event stream to resume",
                quote(&run_id)
            )));
        };
        let slice = log.since(after);
        let missed = slice.frames.len() as u64;
        let head = if slice.closed {
            let status = slice.ended.unwrap_or("COMPLETED");
            meta(
                "replay",
                json!({
                    "event": "replay", "run_id": run_id, "status": status, "total_events": missed,
                    "total_buffered": slice.total, "last_event_index_requested": requested,
                    "message": format!("Run {}. Replaying {missed} missed events (of {} total).", status.to_lowercase(), slice.total),
                    "fanout": {"dropped": slice.dropped},
                }),
            )
        } else {
            let mut head = Vec::new();
            if missed > 0 {
                head.extend_from_slice(&meta(
                    "catch_up",
                    json!({
                        "event": "catch_up", "run_id": run_id, "status": "running", "missed_events": missed,
                        "current_event_count": slice.total,
                        "message": format!("Catching up on {missed} missed events."),
                        "fanout": {"dropped": slice.dropped},
                    }),
                ));
            }
            head.extend_from_slice(&meta(
                "subscribed",
                json!({
                    "event": "subscribed", "run_id": run_id, "status": "running", "current_event_count": slice.total,
                    "message": "Subscribed to agent run. Receiving live events.",
                }),
            ));
            bytes::Bytes::from(head)
        };
        let head = futures::stream::once(std::future::ready(Ok(head)));
        return Ok(sse_response(Box::pin(futures::StreamExt::chain(head, log.tail(after, Gaps::Skip)))));
    }
    let Some(stored) = state.stored_run(&agent_id, &run_id).await? else {
        return Err(run_not_found(&run_id));
    };
    // Not kept here (another instance ran it, or it ended long ago): the stored result.
    let served = state.served_id(stored.record.agent_id.as_deref()).unwrap_or_else(|| registered.id.clone());
    let status = schema::state(stored.state);
    let mut body = meta(
        "replay",
        json!({
            "event": "replay", "run_id": run_id, "status": status, "total_events": 0,
            "last_event_index_requested": requested,
            "message": if stored.state == RunState::Running {
                "Run is running on another instance; its events are not kept here. Poll the run endpoint for its result."
            } else {
                "Run ended; its events are no longer kept. Its stored result follows."
            },
        }),
    )
    .to_vec();
    if stored.state != RunState::Running {
        let mut output = schema::stored_run(&stored, Some(&served));
        let name = match stored.state {
            RunState::Completed => "RunCompleted",
            RunState::Paused => "RunPaused",
            RunState::Cancelled => "RunCancelled",
            _ => "RunError",
        };
        output["event"] = json!(name);
        body.extend_from_slice(&events::sse(name, &output));
    }
    let body = futures::stream::once(std::future::ready(Ok(bytes::Bytes::from(body))));
    Ok(sse_response(Box::pin(body)))
}
