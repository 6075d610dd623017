//! A2A 1.0 (the Agent2Agent protocol, <https://a2a-protocol.org>): every agent at
//! `/a2a/agents/{id}`, as AgentOS lays it out, with its card, its HTTP+JSON routes and JSON-RPC
//! at the base URL.
//!
//! A task is a run (the task id is the run id), a context a session. A message starts a run in
//! its context (a new one without); a message naming a task that waits for confirmation
//! (`TASK_STATE_INPUT_REQUIRED`) continues that run with the decisions it carries
//! ([`request::decisions`]). Sends block until the run ends or pauses, return at once
//! (`configuration.returnImmediately`) or stream ([`events`]). Whichever, the run goes on in the
//! background with its events kept: a task outlives its client's connection (only `CancelTask`
//! stops it), and `SubscribeToTask` streams a working task again from its start. A2A 0.3's JSON-RPC methods are answered too, in 0.3's shapes ([`v03`]), for
//! clients that still speak it (Agno's). Nothing here runs an agent by itself: runs go through the
//! [registry](crate::runs) and are stored by the agent's run loop; tasks are read from it and
//! the session store.

mod card;
mod error;
mod events;
mod request;
mod rpc;
mod schema;
mod v03;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use fanout::store::{RunState, StoredRun};
use fanout::tool::ToolCall;
use futures::StreamExt;
use serde_json::{Value, json};

use crate::runs::{Gaps, Launch, LiveRun, Protocol, RunContext, sse_response};
use crate::{Registered, State as ServerState};
use error::{A2aError, Kind, json_response};
use events::{Binding, Encoder};
use schema::{TaskIds, TaskState};

type AppState = State<Arc<ServerState>>;

/// How long a cancel waits for a background run to stop before answering.
const CANCEL_WAIT: Duration = Duration::from_secs(10);
/// The most tasks `ListTasks` answers at once.
const MAX_PAGE: usize = 100;

/// The A2A routes that need the key (when the server has one).
pub(crate) fn routes() -> Router<Arc<ServerState>> {
    Router::new()
        .route("/a2a/agents/{agent_id}", post(rpc::call))
        // A2A 0.3 clients: the base URL with a slash, and Agno's paths (JSON-RPC bodies).
        .route("/a2a/agents/{agent_id}/", post(rpc::call))
        .route("/a2a/agents/{agent_id}/v1/message:send", post(rpc::call))
        .route("/a2a/agents/{agent_id}/v1/message:stream", post(rpc::call))
        .route("/a2a/agents/{agent_id}/v1/tasks:get", post(rpc::call))
        .route("/a2a/agents/{agent_id}/v1/tasks:cancel", post(rpc::call))
        .route("/a2a/agents/{agent_id}/message:send", post(send_rest))
        .route("/a2a/agents/{agent_id}/message:stream", post(stream_rest))
        .route("/a2a/agents/{agent_id}/tasks", get(list_rest))
        .route("/a2a/agents/{agent_id}/tasks/{task}", get(get_rest).post(task_action_rest))
}

/// The A2A routes open to all: the agent cards.
pub(crate) fn open_routes() -> Router<Arc<ServerState>> {
    Router::new().route("/a2a/agents/{agent_id}/.well-known/agent-card.json", get(agent_card))
}

impl From<PathRejection> for A2aError {
    fn from(rejection: PathRejection) -> Self {
        A2aError::new(Kind::InvalidRequest, rejection.body_text())
    }
}

/// The agent served under `id`.
fn agent<'a>(state: &'a ServerState, id: &str) -> Result<&'a Registered, A2aError> {
    state.agents.iter().find(|a| a.id == id).ok_or_else(|| {
        A2aError::new(Kind::AgentNotFound, format!("Agent not found: {}", crate::error::quote(id)))
    })
}

/// Refuse a request for another version than 1.x (`A2A-Version`, as a header or a query
/// parameter; none means 0.3, whose clients are answered by JSON-RPC's 0.3 methods only).
fn check_version(headers: &HeaderMap, query: Option<&str>) -> Result<(), A2aError> {
    let from_query = query.and_then(|q| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .ok()?
            .into_iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("A2A-Version"))
            .map(|(_, v)| v)
    });
    let version = headers.get("a2a-version").and_then(|v| v.to_str().ok()).map(str::to_owned).or(from_query);
    let version = version.as_deref().map(str::trim).unwrap_or("");
    if version == "1" || version.strip_prefix("1.").is_some_and(|minor| minor.parse::<u32>().is_ok()) {
        return Ok(());
    }
    let asked = if version.is_empty() { "none (0.3)".to_owned() } else { crate::error::quote(version) };
    Err(A2aError::new(
        Kind::VersionNotSupported,
        format!(
            "A2A version {asked} is not supported here: send the header A2A-Version: {} \
             (A2A 0.3 is served by its JSON-RPC methods only)",
            card::VERSION
        ),
    ))
}

/// A request body as JSON (whatever its content type: clients send `application/json` or
/// `application/a2a+json`); one beyond the server's body limit is refused.
fn json_body(body: Result<Bytes, BytesRejection>) -> Result<Value, A2aError> {
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => A2aError::new(Kind::TooLarge, "The request body is too large"),
        _ => A2aError::new(Kind::InvalidRequest, "The request body could not be read"),
    })?;
    serde_json::from_slice(&body).map_err(|_| A2aError::new(Kind::JsonParse, "The body is not valid JSON"))
}

/// What an operation answers: a JSON object, or a stream.
#[derive(Debug)]
enum Answer {
    /// The result (a task, a list of tasks).
    Json(Value),
    /// A stream of the task's updates.
    Stream(Response),
}

/// How a message is delivered.
#[derive(Debug)]
enum Mode {
    /// Wait for the run to end or pause.
    Blocking,
    /// Answer the working task now; the run goes on.
    Immediately,
    /// Stream the task's updates.
    Stream(Binding),
}

/// `GET /a2a/agents/{id}/.well-known/agent-card.json`.
async fn agent_card(
    State(state): AppState,
    path: Result<Path<String>, PathRejection>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let result = (|| {
        let Path(agent_id) = path?;
        let registered = agent(&state, &agent_id)?;
        // Where the server is mounted: the original path before this route's own.
        let own = format!("/a2a/agents/{agent_id}/.well-known/agent-card.json");
        let prefix = uri.path().strip_suffix(own.as_str()).unwrap_or("");
        let url = card::base_url(&headers, prefix, &registered.id);
        Ok::<_, A2aError>(card::card(&state, registered, &url))
    })();
    match result {
        Ok(card) => json_response(StatusCode::OK, &card),
        Err(err) => err.into_response(),
    }
}

/// An HTTP+JSON answer.
fn rest(result: Result<Answer, A2aError>) -> Response {
    match result {
        Ok(Answer::Json(value)) => json_response(StatusCode::OK, &value),
        Ok(Answer::Stream(response)) => response,
        Err(err) => err.into_response(),
    }
}

/// `POST …/message:send`.
async fn send_rest(
    State(state): AppState,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    rest(
        async {
            let Path(agent_id) = path?;
            check_version(&headers, query.as_deref())?;
            let message = request::send_message(&json_body(body)?)?;
            let mode = if message.return_immediately { Mode::Immediately } else { Mode::Blocking };
            send(&state, &agent_id, message, mode).await
        }
        .await,
    )
}

/// `POST …/message:stream`.
async fn stream_rest(
    State(state): AppState,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    rest(
        async {
            let Path(agent_id) = path?;
            check_version(&headers, query.as_deref())?;
            let message = request::send_message(&json_body(body)?)?;
            send(&state, &agent_id, message, Mode::Stream(Binding::Rest)).await
        }
        .await,
    )
}

/// The query parameters of `GET …/tasks/{id}` and `GET …/tasks`.
fn query_params(query: Option<&str>) -> Result<serde_json::Map<String, Value>, A2aError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|_| A2aError::new(Kind::InvalidParams, "The query string is malformed"))?;
    Ok(pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect())
}

/// `GET …/tasks/{id}`.
async fn get_rest(
    State(state): AppState,
    path: Result<Path<(String, String)>, PathRejection>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    rest(
        async {
            let Path((agent_id, task_id)) = path?;
            check_version(&headers, query.as_deref())?;
            let params = query_params(query.as_deref())?;
            let history_length = request::count(params.get("historyLength"), "historyLength")?;
            get_task(&state, &agent_id, &task_id, history_length).await.map(Answer::Json)
        }
        .await,
    )
}

/// `POST …/tasks/{id}:cancel` and `POST …/tasks/{id}:subscribe`.
async fn task_action_rest(
    State(state): AppState,
    path: Result<Path<(String, String)>, PathRejection>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    rest(
        async {
            let Path((agent_id, task)) = path?;
            check_version(&headers, query.as_deref())?;
            match task.rsplit_once(':') {
                Some((task_id, "cancel")) => cancel_task(&state, &agent_id, task_id).await.map(Answer::Json),
                Some((task_id, "subscribe")) => subscribe(&state, &agent_id, task_id, Binding::Rest).await,
                _ => Err(A2aError::new(
                    Kind::MethodNotFound,
                    "Not found: POST …/tasks/{id}:cancel or …/tasks/{id}:subscribe",
                )),
            }
        }
        .await,
    )
}

/// `GET …/tasks`.
async fn list_rest(
    State(state): AppState,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    rest(
        async {
            let Path(agent_id) = path?;
            check_version(&headers, query.as_deref())?;
            let params = query_params(query.as_deref())?;
            list_tasks(&state, &agent_id, &Value::Object(params)).await.map(Answer::Json)
        }
        .await,
    )
}

/// `SendMessage` / `SendStreamingMessage`: start a task, or continue one waiting for input.
async fn send(
    state: &ServerState,
    agent_id: &str,
    message: request::SendMessage,
    mode: Mode,
) -> Result<Answer, A2aError> {
    let registered = agent(state, agent_id)?;
    let (ctx, run) = match &message.task_id {
        Some(task_id) => continuation(state, registered, &message, task_id).await?,
        None => {
            let Some(input) = message.input() else {
                return Err(A2aError::new(Kind::InvalidParams, "The message has no text"));
            };
            let session = message.context_id.clone().unwrap_or_else(fanout::store::new_session_id);
            let run_id = uuid::Uuid::new_v4().to_string();
            tracing::debug!(agent = %agent_id, task = %run_id, context = %session, "a2a message");
            let run = registered.agent.run(input).run_id(run_id.clone()).session(session.clone());
            (RunContext::new(registered, run_id, Some(session), None), run)
        }
    };
    let ids = TaskIds { task_id: ctx.run_id.clone(), context_id: ctx.session_id.clone().unwrap_or_default() };
    let user = json!({
        "messageId": message.message_id,
        "contextId": ids.context_id,
        "taskId": ids.task_id,
        "role": "ROLE_USER",
        "parts": message.parts,
    });
    // A task outlives its client's connection: every run goes on in the background, its events
    // kept for the stream and for `SubscribeToTask`; only `CancelTask` stops it.
    let encoder = Box::new(Encoder::new(ids.clone(), user.clone()));
    let store = registered.agent.store().cloned();
    let run = state.runs.background(Launch { ctx, request: run, store, encoder })?;
    match mode {
        Mode::Blocking => {
            let task = match run.outcome().await.as_deref() {
                Some(Ok(output)) => schema::output_task(&ids, output, message.history_length),
                Some(Err(err)) => schema::failed_task(&ids, err),
                None => schema::failed_task(&ids, &fanout::Error::cancelled()),
            };
            Ok(Answer::Json(json!({"task": task})))
        }
        Mode::Immediately => {
            let status = schema::status(TaskState::Working, None);
            let task = schema::task(&ids, status, Vec::new(), vec![user], message.history_length, None);
            Ok(Answer::Json(json!({"task": task})))
        }
        Mode::Stream(binding) => stream(&run, binding),
    }
}

/// A task's kept events from its start (the task first), then the live rest, in `binding`'s form.
fn stream(run: &LiveRun, binding: Binding) -> Result<Answer, A2aError> {
    let Some(log) = run.log.as_ref().filter(|_| run.protocol == Protocol::A2a) else {
        return Err(A2aError::new(Kind::UnsupportedOperation, "The task's events are not kept here"));
    };
    // Appended answer chunks with a hole in them would be a wrong answer: a stream whose first
    // updates are gone is refused, and one that falls that far behind is ended (get the task).
    if log.since(None).dropped > 0 {
        return Err(A2aError::new(
            Kind::UnsupportedOperation,
            "The task's first updates are no longer kept (its stream is too long): get it (GetTask)",
        ));
    }
    let body = log.tail(None, Gaps::End).map(move |chunk| chunk.map(|bytes| binding.wrap(bytes)));
    Ok(Answer::Stream(sse_response(Box::pin(body))))
}

/// `SubscribeToTask`: the stream of a task working here, from its start. A task that ended (or
/// waits for input) has no more updates: get it instead.
async fn subscribe(
    state: &ServerState,
    agent_id: &str,
    task_id: &str,
    binding: Binding,
) -> Result<Answer, A2aError> {
    agent(state, agent_id)?;
    match state.runs.live_of(task_id, agent_id) {
        Some(live) => stream(&live, binding),
        None => match state.stored_run(agent_id, task_id).await? {
            Some(run) if run.state == RunState::Running => Err(A2aError::new(
                Kind::UnsupportedOperation,
                "The task is working in another server instance; subscribe there or get it",
            )),
            Some(run) => Err(A2aError::new(
                Kind::UnsupportedOperation,
                format!(
                    "The task is {}: it has no more updates; get it (GetTask)",
                    TaskState::of(run.state).as_str()
                ),
            )),
            None => Err(task_not_found(task_id)),
        },
    }
}

/// A message to task `task_id`: the paused run it names, continued with the message's decisions.
async fn continuation(
    state: &ServerState,
    registered: &Registered,
    message: &request::SendMessage,
    task_id: &str,
) -> Result<(Arc<RunContext>, fanout::agent::RunRequest), A2aError> {
    if state.runs.is_live(task_id) {
        return Err(A2aError::new(
            Kind::UnsupportedOperation,
            "The task is working; it takes a message once it requires input",
        ));
    }
    let Some(stored) = state.stored_run(&registered.id, task_id).await? else {
        return Err(task_not_found(task_id));
    };
    if message.context_id.as_ref().is_some_and(|c| *c != stored.record.session_id) {
        return Err(A2aError::new(Kind::InvalidParams, "The contextId is not the task's"));
    }
    match stored.state {
        RunState::Paused => {}
        RunState::Running => {
            return Err(A2aError::new(
                Kind::UnsupportedOperation,
                "The task is working (in another server instance); it takes a message once it requires input",
            ));
        }
        other => {
            return Err(A2aError::new(
                Kind::UnsupportedOperation,
                format!("The task has ended ({other}); it takes no further messages: start a new task"),
            ));
        }
    }
    let paused = crate::stored::paused_state(&stored)?;
    let pending: Vec<ToolCall> = paused.pending_calls().cloned().collect();
    let decisions = request::decisions(message, &pending)?;
    tracing::debug!(task = %task_id, decisions = decisions.len(), "a2a continue");
    let session = Some(stored.record.session_id.clone());
    let ctx = RunContext::new(registered, task_id.to_owned(), session, stored.record.user_id.clone());
    Ok((ctx, registered.agent.continue_run(paused, decisions)))
}

fn task_not_found(task_id: &str) -> A2aError {
    A2aError::new(Kind::TaskNotFound, format!("Task not found: {}", crate::error::quote(task_id)))
}

/// `GetTask`: a stored run as its task; a run going on here that is not stored yet, working.
async fn get_task(
    state: &ServerState,
    agent_id: &str,
    task_id: &str,
    history_length: Option<usize>,
) -> Result<Value, A2aError> {
    agent(state, agent_id)?;
    if let Some(run) = state.stored_run(agent_id, task_id).await? {
        return Ok(schema::stored_task(&run, history_length));
    }
    match state.runs.live_of(task_id, agent_id) {
        Some(live) => {
            let ids = TaskIds {
                task_id: task_id.to_owned(),
                context_id: live.ctx.session_id.clone().unwrap_or_default(),
            };
            Ok(schema::task(
                &ids,
                schema::status(TaskState::Working, None),
                Vec::new(),
                Vec::new(),
                None,
                None,
            ))
        }
        None => Err(task_not_found(task_id)),
    }
}

/// `CancelTask`: cancel a run going on here, and answer its task once it stopped (a background
/// run's end is awaited, up to [`CANCEL_WAIT`]); an ended task cannot be cancelled.
async fn cancel_task(state: &ServerState, agent_id: &str, task_id: &str) -> Result<Value, A2aError> {
    agent(state, agent_id)?;
    if let Some(live) = state.runs.live_of(task_id, agent_id) {
        tracing::info!(task = %task_id, "a2a cancel");
        live.cancel();
        if let Some(log) = &live.log {
            // The log closes when the run has ended and is stored.
            let mut events = log.tail(None, Gaps::Skip);
            let _ = tokio::time::timeout(CANCEL_WAIT, async { while events.next().await.is_some() {} }).await;
        }
        if let Some(run) = state.stored_run(agent_id, task_id).await?
            && run.state != RunState::Running
        {
            return Ok(schema::stored_task(&run, None));
        }
        // Still stopping (or not stored): it is cancelled, the run loop stores it so.
        let ids = TaskIds {
            task_id: task_id.to_owned(),
            context_id: live.ctx.session_id.clone().unwrap_or_default(),
        };
        return Ok(schema::task(
            &ids,
            schema::status(TaskState::Canceled, None),
            Vec::new(),
            Vec::new(),
            None,
            None,
        ));
    }
    match state.stored_run(agent_id, task_id).await? {
        Some(run) if run.state == RunState::Running => Err(A2aError::new(
            Kind::TaskNotCancelable,
            "The task is working in another server instance; cancel it there",
        )),
        Some(run) if run.state == RunState::Paused => Err(A2aError::new(
            Kind::TaskNotCancelable,
            "The task waits for input: answer it (reject its calls) to end it",
        )),
        Some(run) => Err(A2aError::new(
            Kind::TaskNotCancelable,
            format!("The task has ended ({}); it cannot be cancelled", run.state),
        )),
        None => Err(task_not_found(task_id)),
    }
}

/// `ListTasks` of one context (`contextId` is required here), newest first, by `status` if
/// given, paged by `pageSize` and `pageToken`.
async fn list_tasks(state: &ServerState, agent_id: &str, params: &Value) -> Result<Value, A2aError> {
    agent(state, agent_id)?;
    let Some(context_id) = request::id(params.get("contextId"), "contextId")? else {
        return Err(A2aError::new(
            Kind::InvalidParams,
            "`contextId` is required: tasks are listed by context",
        ));
    };
    // 0 is ProtoJSON's "unset".
    let page_size =
        request::count(params.get("pageSize"), "pageSize")?.filter(|n| *n > 0).unwrap_or(50).min(MAX_PAGE);
    let wanted_state = match params.get("status") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() || s == "TASK_STATE_UNSPECIFIED" => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(A2aError::new(Kind::InvalidParams, "`status` must be a TaskState name")),
    };
    let offset = match params.get("pageToken").and_then(Value::as_str).filter(|t| !t.is_empty()) {
        None => 0,
        Some(token) => {
            token.parse::<usize>().map_err(|_| A2aError::new(Kind::InvalidParams, "Invalid pageToken"))?
        }
    };
    let history_length = request::count(params.get("historyLength"), "historyLength")?;
    let include_artifacts = matches!(params.get("includeArtifacts"), Some(Value::Bool(true)))
        || params.get("includeArtifacts").and_then(Value::as_str) == Some("true");
    let runs = match &state.store {
        Some(store) => store.runs(&context_id).await.map_err(|e| crate::error::ApiError::storage(&e))?,
        None => Vec::new(),
    };
    let mut runs: Vec<StoredRun> = runs
        .into_iter()
        .filter(|r| r.record.parent_run_id.is_none())
        .filter(|r| state.owns(agent_id, r.record.agent_id.as_deref()))
        .filter(|r| wanted_state.as_deref().is_none_or(|s| TaskState::of(r.state).as_str() == s))
        .collect();
    runs.sort_by_key(|run| std::cmp::Reverse(run.updated_at));
    let total = runs.len();
    let tasks: Vec<Value> = runs
        .iter()
        .skip(offset)
        .take(page_size)
        .map(|run| {
            let mut task = schema::stored_task(run, history_length);
            if !include_artifacts && let Some(task) = task.as_object_mut() {
                task.remove("artifacts");
            }
            task
        })
        .collect();
    let next = if offset + tasks.len() < total { (offset + tasks.len()).to_string() } else { String::new() };
    Ok(json!({"tasks": tasks, "nextPageToken": next, "pageSize": page_size, "totalSize": total}))
}
