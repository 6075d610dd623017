//! AG-UI (the Agent–User Interaction protocol, 1.0): `POST /agui` (the first registered agent,
//! where AgentOS's AG-UI interface sits) and `POST /agents/{id}/agui` take a `RunAgentInput`
//! and answer with the run's events as AG-UI Server-Sent Events ([`events`]).
//!
//! - The client's `threadId` is the session. The input is the last user message; the session's
//!   stored history supplies the conversation before it (as AgentOS does). A thread with no
//!   stored history (a new one, or an agent without a store) continues the client's own copy:
//!   the messages before the last user message.
//! - The run's id is the client's `runId` when it is a plain id (else a new one); an id already
//!   used is refused (409), so a run is never stored twice.
//! - A run paused for confirmation finishes with outcome `interrupt`, one interrupt per call
//!   waiting (its id is the call's). A later run on the thread whose `resume` answers them
//!   continues the paused run (the same run id: `RUN_STARTED` names it): `resolved` approves,
//!   `resolved` with payload `{"approved": false, "note": …}` or `cancelled` rejects. Without
//!   `resume`, tool messages ending the conversation answer the calls they name, as AgentOS
//!   reads them (content `{"accepted": true}` approves).
//! - A malformed request is a 4xx JSON error before the stream opens; a run that fails ends with
//!   `RUN_ERROR`. A client that disconnects cancels the run.
//! - The input's `tools` (tools the client runs), `state` and `context` are not used: fanout's
//!   agents run their own tools and keep no client state.

mod events;
mod input;

use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::response::Response;
use axum::routing::post;
use fanout::agent::Decision;
use fanout::store::RunState;

use crate::error::{ApiError, quote};
use crate::runs::{Launch, RunContext, sse_response};
use crate::{Registered, State as ServerState};

use input::RunInput;

type AppState = State<Arc<ServerState>>;

/// AG-UI's routes (they need the key, when the server has one).
pub(crate) fn routes() -> Router<Arc<ServerState>> {
    Router::new().route("/agui", post(run_first)).route("/agents/{agent_id}/agui", post(run_agent))
}

/// `POST /agui`: the first registered agent.
async fn run_first(State(state): AppState, request: Request) -> Result<Response, ApiError> {
    let registered =
        state.agents.first().ok_or_else(|| ApiError::not_found("This server serves no agents"))?;
    run(&state, registered, request).await
}

/// `POST /agents/{agent_id}/agui`.
async fn run_agent(
    State(state): AppState,
    path: Result<Path<String>, PathRejection>,
    request: Request,
) -> Result<Response, ApiError> {
    let Path(agent_id) = path?;
    let registered = state.agent(&agent_id)?;
    run(&state, registered, request).await
}

/// Read the input, start the run (or continue the thread's paused run) and stream its events.
async fn run(state: &ServerState, registered: &Registered, request: Request) -> Result<Response, ApiError> {
    let body = crate::fields::bytes(request).await?;
    let input = RunInput::parse(&body)?;
    let (ctx, request, announced) = if input.resume.is_empty() {
        let (ctx, request) = new_run(registered, input).await?;
        (ctx, request, Vec::new())
    } else {
        continuation(state, registered, input).await?
    };
    tracing::debug!(agent = %registered.id, run = %ctx.run_id, "agui run");
    let encoder = Box::new(events::Encoder::new(Arc::clone(&ctx), announced));
    let launch = Launch { ctx, request, store: registered.agent.store().cloned(), encoder };
    Ok(sse_response(state.runs.stream(launch)?))
}

/// A new run of the last user message.
async fn new_run(
    registered: &Registered,
    input: RunInput,
) -> Result<(Arc<RunContext>, fanout::agent::RunRequest), ApiError> {
    let RunInput { thread_id, run_id, user_id, text, history, .. } = input;
    let store = registered.agent.store();
    let run_id = match run_id {
        Some(id) => {
            if let Some(store) = store
                && store.run(&id).await.map_err(|e| ApiError::storage(&e))?.is_some()
            {
                return Err(ApiError::conflict(format!(
                    "Run {} exists already; send a new runId for a new run",
                    quote(&id)
                )));
            }
            id
        }
        None => uuid::Uuid::new_v4().to_string(),
    };
    // The stored conversation wins; the client's copy stands in when there is none.
    let stored = match store {
        Some(store) => {
            !store.history(&thread_id, Some(1)).await.map_err(|e| ApiError::storage(&e))?.is_empty()
        }
        None => false,
    };
    let mut request =
        registered.agent.run(text.unwrap_or_default()).run_id(run_id.clone()).session(thread_id.clone());
    if !stored && !history.is_empty() {
        request = request.history(history);
    }
    if let Some(user) = &user_id {
        request = request.user(user.clone());
    }
    Ok((RunContext::new(registered, run_id, Some(thread_id), user_id), request))
}

/// The thread's paused run, continued with the answers to its interrupts; and the calls its
/// stream showed that start again (its pending calls, and the calls that ran paused sub-agents).
async fn continuation(
    state: &ServerState,
    registered: &Registered,
    input: RunInput,
) -> Result<(Arc<RunContext>, fanout::agent::RunRequest, Vec<String>), ApiError> {
    let Some(store) = registered.agent.store() else {
        return Err(ApiError::bad_request(format!(
            "Agent {} keeps no runs (no session store), so its paused runs cannot be resumed",
            quote(&registered.id)
        )));
    };
    let runs = store.runs(&input.thread_id).await.map_err(|e| ApiError::storage(&e))?;
    let ours = |agent: Option<&str>| state.owns(&registered.id, agent);
    let Some(stored) = runs
        .into_iter()
        .rev()
        .find(|run| run.state == RunState::Paused && ours(run.record.agent_id.as_deref()))
    else {
        return Err(ApiError::conflict(format!(
            "Thread {} has no paused run of agent {} to resume",
            quote(&input.thread_id),
            quote(&registered.id)
        )));
    };
    let run_id = stored.record.run_id.clone();
    if state.runs.is_live(&run_id) {
        return Err(ApiError::conflict(format!("Run {} is going on", quote(&run_id))));
    }
    let paused = crate::stored::paused_state(&stored)?;
    let pending: Vec<String> = paused.pending_calls().map(|call| call.id.clone()).collect();
    if let Some((unknown, _)) = input.resume.iter().find(|(id, _)| !pending.contains(id)) {
        return Err(ApiError::invalid(format!(
            "Interrupt {} is not pending on thread {} (pending: {})",
            quote(unknown),
            quote(&input.thread_id),
            pending.iter().map(|id| quote(id)).collect::<Vec<_>>().join(", ")
        )));
    }
    let decisions: Vec<(String, Decision)> = input.resume;
    let ctx = RunContext::new(registered, run_id, Some(input.thread_id), stored.record.user_id.clone());
    // A sub-agent's pending call (`call_2/call_1_1`) was shown under the call that ran it, which
    // starts again too: shown already, all of them.
    let mut shown = pending.clone();
    for id in &pending {
        shown.extend(id.match_indices('/').map(|(at, _)| id[..at].to_owned()));
    }
    Ok((ctx, registered.agent.continue_run(paused, decisions), shown))
}
