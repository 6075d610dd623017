//! OpenAI-compatible endpoints: chat completions, responses and models, so that OpenAI's own
//! clients (and everything built on them) talk to a fanout agent as to a model.
//!
//! The `model` a client names is the id of an agent served here. The agent runs as it is: its
//! own system prompt (a client's `system`/`developer` messages and `instructions` are skipped),
//! its own tools, run on the server (a client's `tools` and `tool_choice` are not offered to it),
//! its own model settings (sampling parameters are ignored). Its answer is the run's top-level
//! text; usage is summed over all the run's model turns, its sub-agents' included.
//!
//! - Chat completions: the last user message is the run's input, the messages before it its
//!   history. Nothing is stored unless `store: true` (a new session each time: the client keeps
//!   the conversation).
//! - Responses: stored by default (`store: false`: nothing is kept, and the response cannot be
//!   continued or retrieved later, 404 as OpenAI). A response's id is its run's
//!   (`resp_<run id>`). `previous_response_id` continues the conversation up to that response:
//!   in its session when it is the session's latest answer (same agent, no earlier messages in
//!   `input`), otherwise in a new session whose history is that conversation (then the `input`
//!   messages) — a branch, which leaves the old session's later answers out. A response still
//!   paused, failed or cancelled cannot be continued (400). `background` is not supported.
//! - A run that pauses for the user's confirmation answers (`finish_reason: stop`, a completed
//!   response) with a text that names the waiting calls and, when it is stored, the run, to be
//!   continued with AgentOS's `POST /agents/{id}/runs/{run_id}/continue`; a run kept nowhere
//!   cannot be continued, and its text says so.
//!
//! Runs start through the [registry](crate::runs) like AgentOS's; a client that goes away
//! cancels its run. Every error under `/v1` is OpenAI's shape ([`error`]).

mod conversation;
pub(crate) mod error;
mod events;
mod schema;

use std::sync::Arc;
use std::time::SystemTime;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use fanout::models::{Message, Usage};
use fanout::output::PausedRun;
use fanout::store::{RunState, StoredRun};
use serde_json::{Map, Value, json};

use self::error::OpenAiError;
use self::schema::ResponseHead;
use crate::error::{ApiError, quote};
use crate::runs::{Launch, RunContext, sse_response};
use crate::time::secs;
use crate::{Registered, State as ServerState};

type AppState = State<Arc<ServerState>>;

/// The OpenAI-compatible routes (they need the key, when the server has one).
pub(crate) fn routes() -> Router<Arc<ServerState>> {
    Router::new()
        .route("/v1/models", get(models))
        .route("/v1/models/{model}", get(model))
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/responses", post(create_response))
        .route("/v1/responses/{response_id}", get(get_response))
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// `GET /v1/models`: the agents, as models.
async fn models(State(state): AppState) -> Json<Value> {
    let created = secs(state.started_at);
    let data: Vec<Value> = state.agents.iter().map(|a| schema::model(&a.id, created)).collect();
    Json(json!({"object": "list", "data": data}))
}

/// `GET /v1/models/{model}`.
async fn model(
    State(state): AppState,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, OpenAiError> {
    let Path(id) = path.map_err(|r| OpenAiError::invalid(None, r.body_text()))?;
    let registered = agent(&state, &id)?;
    Ok(Json(schema::model(&registered.id, secs(state.started_at))))
}

/// The agent a request's `model` names (404 `model_not_found` as OpenAI).
fn agent<'a>(state: &'a ServerState, id: &str) -> Result<&'a Registered, OpenAiError> {
    state.agents.iter().find(|a| a.id == id).ok_or_else(|| {
        OpenAiError::not_found(
            Some("model"),
            "model_not_found",
            format!("The model {} does not exist: it is not an agent served here", quote(id)),
        )
    })
}

/// A request's JSON object, read within the body limit.
fn body(body: Result<Bytes, BytesRejection>) -> Result<Map<String, Value>, OpenAiError> {
    let body = body.map_err(|rejection| {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            OpenAiError::from(ApiError::new(status, "payload_too_large", "The request body is too large"))
        } else {
            OpenAiError::invalid(None, format!("The body could not be read: {}", rejection.body_text()))
        }
    })?;
    match serde_json::from_slice(&body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(OpenAiError::invalid(None, "The body must be a JSON object")),
        Err(err) => Err(OpenAiError::invalid(None, format!("The body is not valid JSON: {err}"))),
    }
}

/// The request's agent: its `model`, required.
fn requested_agent<'a>(
    state: &'a ServerState,
    body: &Map<String, Value>,
) -> Result<&'a Registered, OpenAiError> {
    match body.get("model") {
        Some(Value::String(id)) => agent(state, id),
        _ => Err(OpenAiError::invalid(Some("model"), "`model` (the id of an agent served here) is required")),
    }
}

/// An optional boolean field.
fn flag(body: &Map<String, Value>, name: &'static str, default: bool) -> Result<bool, OpenAiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(value)) => Ok(*value),
        Some(_) => Err(OpenAiError::invalid(Some(name), format!("`{name}` must be a boolean"))),
    }
}

/// An optional id field (`user`, `previous_response_id`): at most 256 characters, no control
/// characters.
fn id_field(body: &Map<String, Value>, name: &'static str) -> Result<Option<String>, OpenAiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) if id.is_empty() => Ok(None),
        Some(Value::String(id)) => crate::fields::check_id(name, id)
            .map(|()| Some(id.clone()))
            .map_err(|err| OpenAiError::invalid(Some(name), err.detail())),
        Some(_) => Err(OpenAiError::invalid(Some(name), format!("`{name}` must be a string"))),
    }
}

/// Fields the agent decides for itself, which a client may send: noted, not used.
fn note_ignored(body: &Map<String, Value>) {
    let ignored: Vec<&str> =
        ["tools", "tool_choice", "instructions", "temperature", "max_tokens", "response_format"]
            .into_iter()
            .filter(|name| body.get(*name).is_some_and(|v| !v.is_null()))
            .collect();
    if !ignored.is_empty() {
        tracing::debug!(?ignored, "the agent's own settings apply; these fields are not used");
    }
}

/// `POST /v1/chat/completions`.
async fn chat_completions(
    State(state): AppState,
    request: Result<Bytes, BytesRejection>,
) -> Result<Response, OpenAiError> {
    let body = body(request)?;
    let registered = requested_agent(&state, &body)?;
    let stream = flag(&body, "stream", false)?;
    let store = flag(&body, "store", false)?;
    let include_usage = match body.get("stream_options") {
        None | Some(Value::Null) => false,
        Some(Value::Object(options)) => flag(options, "include_usage", false)?,
        Some(_) => {
            return Err(OpenAiError::invalid(Some("stream_options"), "`stream_options` must be an object"));
        }
    };
    match body.get("n") {
        None | Some(Value::Null) => {}
        Some(n) if n.as_u64() == Some(1) => {}
        Some(_) => return Err(OpenAiError::invalid(Some("n"), "Only one choice (`n`: 1) is supported")),
    }
    let user = id_field(&body, "user")?;
    note_ignored(&body);
    let conversation = conversation::chat_messages(body.get("messages"))?;

    let run_id = new_id();
    let mut request =
        registered.agent.run(conversation.input).run_id(run_id.clone()).history(conversation.history);
    let keeper = registered.agent.store().filter(|_| store).cloned();
    let session_id = keeper.as_ref().map(|_| new_id());
    request = match &session_id {
        Some(session) => request.session(session.clone()),
        None => request.ephemeral(),
    };
    if let Some(user) = &user {
        request = request.user(user.clone());
    }
    tracing::debug!(agent = %registered.id, run = %run_id, stream, store, "chat completion");
    let ctx = RunContext::new(registered, run_id, session_id, user);
    let created = secs(SystemTime::now());
    let encoder = Box::new(events::ChatEncoder::new(Arc::clone(&ctx), created, include_usage));
    let launch = Launch { ctx: Arc::clone(&ctx), request, store: keeper, encoder };
    if stream {
        return Ok(sse_response(state.runs.stream(launch)?));
    }
    match state.runs.json(launch)?.output().await? {
        Ok(output) => Ok(Json(schema::chat_completion(&ctx, created, &output)).into_response()),
        Err(err) => Err(OpenAiError::server("run_failed", err.message())),
    }
}

/// The conversation a `previous_response_id` names.
#[derive(Debug)]
struct Previous {
    /// Its session.
    session_id: String,
    /// The agent that answered it (its served id).
    agent_id: Option<String>,
    /// It is its session's latest answer: a run continuing the session continues it.
    latest: bool,
    /// The session's messages up to and including it.
    messages: Vec<Message>,
}

fn previous_not_found(id: &str) -> OpenAiError {
    OpenAiError::not_found(
        Some("previous_response_id"),
        "previous_response_not_found",
        format!("Previous response with id {} not found.", quote(id)),
    )
}

/// The stored conversation up to response `id` (404 for one not stored, as a `store: false`
/// response is not).
async fn previous(state: &ServerState, id: &str) -> Result<Previous, OpenAiError> {
    let run = stored_response(state, id).await?.ok_or_else(|| previous_not_found(id))?;
    match run.state {
        RunState::Completed => {}
        RunState::Paused => {
            return Err(OpenAiError::invalid(
                Some("previous_response_id"),
                format!(
                    "Previous response {} is paused for the user's confirmation: continue it with AgentOS's /continue route first",
                    quote(id)
                ),
            ));
        }
        other => {
            return Err(OpenAiError::invalid(
                Some("previous_response_id"),
                format!("Previous response {} is {other}, so it cannot be continued", quote(id)),
            ));
        }
    }
    let store = state.store().map_err(OpenAiError::from)?;
    let session_id = run.record.session_id.clone();
    let runs = store.runs(&session_id).await.map_err(|e| OpenAiError::from(ApiError::storage(&e)))?;
    // The session's own answers: its top-level runs that completed or may still (a failed or
    // cancelled run is not part of the conversation).
    let answers: Vec<StoredRun> = runs
        .into_iter()
        .filter(|r| r.record.parent_run_id.is_none())
        .filter(|r| !matches!(r.state, RunState::Failed | RunState::Cancelled))
        .collect();
    let position = answers.iter().position(|r| r.record.run_id == run.record.run_id);
    let (latest, upto) = match position {
        Some(i) => (i + 1 == answers.len(), &answers[..=i]),
        None => (false, &answers[..0]),
    };
    let messages = upto
        .iter()
        .filter(|r| r.state == RunState::Completed)
        .flat_map(|r| r.messages.iter().cloned())
        .collect();
    Ok(Previous { session_id, agent_id: state.served_id(run.record.agent_id.as_deref()), latest, messages })
}

/// The stored top-level run of response `id`, if any.
async fn stored_response(state: &ServerState, id: &str) -> Result<Option<StoredRun>, OpenAiError> {
    let Some(run_id) = schema::run_id_of(id) else { return Ok(None) };
    let Some(store) = &state.store else { return Ok(None) };
    let run = store.run(run_id).await.map_err(|e| OpenAiError::from(ApiError::storage(&e)))?;
    Ok(run.filter(|r| r.record.parent_run_id.is_none()))
}

/// `POST /v1/responses`.
async fn create_response(
    State(state): AppState,
    request: Result<Bytes, BytesRejection>,
) -> Result<Response, OpenAiError> {
    let body = body(request)?;
    let registered = requested_agent(&state, &body)?;
    let stream = flag(&body, "stream", false)?;
    let store = flag(&body, "store", true)?;
    let user = id_field(&body, "user")?;
    let previous_id = id_field(&body, "previous_response_id")?;
    if flag(&body, "background", false)? {
        return Err(OpenAiError::invalid(Some("background"), "Background responses are not supported"));
    }
    note_ignored(&body);
    let conversation = conversation::response_input(body.get("input"))?;

    let keeper = registered.agent.store().filter(|_| store).cloned();
    let mut history = Vec::new();
    let mut session_id = None;
    if let Some(id) = &previous_id {
        let previous = previous(&state, id).await?;
        let in_place = keeper.is_some()
            && previous.latest
            && conversation.history.is_empty()
            && previous.agent_id.as_deref().is_none_or(|agent| agent == registered.id);
        if in_place {
            session_id = Some(previous.session_id);
        } else {
            // A branch (or a run kept nowhere): the conversation so far, as history.
            history = previous.messages;
        }
    }
    history.extend(conversation.history);
    if keeper.is_some() && session_id.is_none() {
        session_id = Some(new_id());
    }

    let run_id = new_id();
    let mut request = registered.agent.run(conversation.input).run_id(run_id.clone());
    if !history.is_empty() {
        request = request.history(history);
    }
    request = match &session_id {
        Some(session) => request.session(session.clone()),
        None => request.ephemeral(),
    };
    if let Some(user) = &user {
        request = request.user(user.clone());
    }
    tracing::debug!(agent = %registered.id, run = %run_id, stream, store, continues = ?previous_id, "response");
    let head = ResponseHead {
        run_id: run_id.clone(),
        model: registered.id.clone(),
        created_at: secs(SystemTime::now()),
        previous_response_id: previous_id,
        store: keeper.is_some(),
        session_id: session_id.clone(),
        user: user.clone(),
    };
    let ctx = RunContext::new(registered, run_id, session_id, user);
    let encoder = Box::new(events::ResponseEncoder::new(Arc::clone(&ctx), head.clone()));
    let launch = Launch { ctx: Arc::clone(&ctx), request, store: keeper, encoder };
    if stream {
        return Ok(sse_response(state.runs.stream(launch)?));
    }
    let response = match state.runs.json(launch)?.output().await? {
        Ok(output) => schema::response_of(&ctx, &head, &output),
        Err(err) => {
            let status = if err.is_cancelled() { "cancelled" } else { "failed" };
            schema::response(&head, status, Vec::new(), None, Some(err.message()))
        }
    };
    Ok(Json(response).into_response())
}

/// `GET /v1/responses/{response_id}`: a stored response, as it is now.
async fn get_response(
    State(state): AppState,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, OpenAiError> {
    let Path(id) = path.map_err(|r| OpenAiError::invalid(None, r.body_text()))?;
    let not_found =
        || OpenAiError::not_found(None, "not_found", format!("Response with id {} not found.", quote(&id)));
    let run = stored_response(&state, &id).await?.ok_or_else(not_found)?;
    let record = &run.record;
    let model = state.served_id(record.agent_id.as_deref()).unwrap_or_default();
    let head = ResponseHead {
        run_id: record.run_id.clone(),
        model: model.clone(),
        created_at: secs(record.created_at),
        previous_response_id: None,
        store: true,
        session_id: Some(record.session_id.clone()),
        user: record.user_id.clone(),
    };
    let data = run.data.as_ref();
    let response = match run.state {
        RunState::Completed => {
            let content = data.and_then(|d| d["content"].as_str()).unwrap_or_default();
            let usage: Option<Usage> =
                data.and_then(|d| serde_json::from_value(d["metrics"]["usage"].clone()).ok());
            let ended = data.and_then(|d| d["status"]["status"].as_str()).unwrap_or("completed");
            let complete = matches!(ended, "completed" | "stopped_after_tool_call");
            let item = schema::message_item(&record.run_id, Some(content), "completed");
            let status = if complete { "completed" } else { "incomplete" };
            schema::response(&head, status, vec![item], usage.as_ref(), None)
        }
        RunState::Paused => {
            let paused: Option<PausedRun> = data.and_then(|d| serde_json::from_value(d.clone()).ok());
            let names: Vec<&str> =
                paused.iter().flat_map(|p| p.pending_calls()).map(|c| c.name.as_str()).collect();
            let note = schema::paused_note(&model, &record.run_id, &names);
            let item = schema::message_item(&record.run_id, Some(&note), "completed");
            schema::response(&head, "completed", vec![item], None, None)
        }
        RunState::Running => schema::response(&head, "in_progress", Vec::new(), None, None),
        RunState::Cancelled => schema::response(&head, "cancelled", Vec::new(), None, None),
        RunState::Interrupted => schema::response(&head, "incomplete", Vec::new(), None, None),
        _ => {
            let message = data.and_then(|d| d["message"].as_str()).unwrap_or("The run failed");
            schema::response(&head, "failed", Vec::new(), None, Some(message))
        }
    };
    Ok(Json(response))
}
