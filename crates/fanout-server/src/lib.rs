//! Serve fanout agents over HTTP, with the API of Agno's AgentOS: Agno's `AgentOSClient`, its
//! `RemoteAgent` and UIs built for AgentOS work against a fanout server unchanged. The same
//! server speaks AG-UI 1.0 (`POST /agui`, as AgentOS's AG-UI interface), so AG-UI clients
//! (`@ag-ui/client`'s `HttpAgent`, UIs built on it) run its agents too.
//!
//! A [`Server`] holds agents registered by id and the [`SessionStore`] their sessions are kept
//! in. Mount its [`router`](Server::router) in an axum app of your own, or let
//! [`Server::serve`] run it (graceful shutdown on SIGTERM and Ctrl-C included):
//!
//! ```no_run
//! use fanout::prelude::*;
//! use fanout::models::scripted::{ScriptedModel, Turn};
//! use fanout::store::MemoryStore;
//! use fanout_server::Server;
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = std::sync::Arc::new(MemoryStore::new());
//! let agent = Agent::builder()
//!     .name("greeter")
//!     .model(ScriptedModel::new([Turn::text("Hello!")]))
//!     .store(store.clone())
//!     .build()?;
//! let server = Server::builder().agent("greeter", agent).store(store).build()?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:7777").await?;
//! server.serve(listener).await?;
//! # Ok(()) }
//! ```
//!
//! # Routes
//!
//! AgentOS's as it defines them (agno 3.x, `agno/os/routers`), AG-UI's, and OpenAI's under `/v1`:
//!
//! | route | what |
//! |---|---|
//! | `GET /health` | `{"status": "ok", "instantiated_at": …}` (no key needed) |
//! | `GET /config` | the OS: its agents, models, database |
//! | `GET /agents`, `GET /agents/{id}` | the agents, with their model and tools |
//! | `POST /agents/{id}/runs` | run: `message`, `stream`, `session_id`, `user_id`, `background` as a form (urlencoded or multipart) or JSON; SSE events or one JSON run output |
//! | `POST /agents/{id}/runs/{run_id}/cancel` | cancel a run going on |
//! | `POST /agents/{id}/runs/{run_id}/continue` | continue a paused run with the user's decisions (`tools`) |
//! | `POST /agents/{id}/runs/{run_id}/resume` | a background run's events after `last_event_index`, then the live rest |
//! | `GET /agents/{id}/runs/{run_id}` | a run's status and output |
//! | `GET /sessions` | sessions, newest first, by `user_id`, `component_id`, paged (`limit`, `page`) |
//! | `GET /sessions/{id}`, `GET /sessions/{id}/runs`, `GET /sessions/{id}/runs/{run_id}` | a session, its runs, one run |
//! | `POST /sessions/{id}/rename`, `DELETE /sessions/{id}` | rename, delete |
//! | `GET /` | a chat page: pick an agent, chat, watch its tool calls, browse sessions |
//! | `POST /agui` | AG-UI: run the first registered agent on a `RunAgentInput` (`threadId` is the session); AG-UI's SSE events |
//! | `POST /agents/{id}/agui` | AG-UI: the same for agent `{id}` |
//! | `GET /v1/models`, `GET /v1/models/{id}` | OpenAI-compatible: the agents, as models |
//! | `POST /v1/chat/completions` | OpenAI-compatible: `model` names the agent, `messages` are the history and (the last user message) the input; one `chat.completion`, or `chat.completion.chunk`s then `[DONE]` (`stream`); stored only with `store: true` |
//! | `POST /v1/responses` | OpenAI-compatible: a `response` (id `resp_<run id>`), or its typed events (`stream`); `previous_response_id` continues a stored one; `store: false` keeps nothing |
//! | `GET /v1/responses/{id}` | OpenAI-compatible: a stored response |
//!
//! And [A2A](https://a2a-protocol.org) 1.0 (HTTP+JSON and JSON-RPC; requests carry
//! `A2A-Version: 1.0`), each agent at `/a2a/agents/{id}`: a task is a run (its id the run's), its
//! `contextId` the session; a run paused for confirmation is a `TASK_STATE_INPUT_REQUIRED` task
//! that a message naming it continues, with a data part `{"approved": true|false, "note",
//! "toolCallId"}` per call (or for all) or the text `yes` / `no`:
//!
//! | route | what |
//! |---|---|
//! | `GET /a2a/agents/{id}/.well-known/agent-card.json` | the agent's card: its interfaces at the base URL, the bearer scheme when there is a key (no key needed) |
//! | `POST /a2a/agents/{id}/message:send` | a message: the task when the run ends or pauses, or at once (`configuration.returnImmediately`) |
//! | `POST /a2a/agents/{id}/message:stream` | a message, streamed: the task, status updates (tool calls in their messages), the answer's artifact chunks, the final status |
//! | `GET /a2a/agents/{id}/tasks/{task_id}` | a task: state, answer, history (`historyLength`) |
//! | `GET /a2a/agents/{id}/tasks?contextId=…` | a context's tasks, newest first (`pageSize`, `pageToken`, `historyLength`, `includeArtifacts`) |
//! | `POST /a2a/agents/{id}/tasks/{task_id}:cancel` | cancel a working task |
//! | `POST /a2a/agents/{id}/tasks/{task_id}:subscribe` | a working task's stream again, from its start (a task outlives its client's connection) |
//! | `POST /a2a/agents/{id}` | JSON-RPC: `SendMessage`, `SendStreamingMessage`, `GetTask`, `ListTasks`, `CancelTask`, `SubscribeToTask` |
//! | `POST /a2a/agents/{id}/`, `…/v1/message:send`, `…/v1/message:stream`, `…/v1/tasks:get`, `…/v1/tasks:cancel` | A2A 0.3's JSON-RPC (`message/send`, `message/stream`, `tasks/get`, `tasks/cancel`), in 0.3's shapes, at the paths of Agno's A2A interface: Agno's `A2AClient` works unchanged |
//!
//! Streamed runs are Server-Sent Events named and shaped as AgentOS's (`RunStarted`,
//! `RunContent`, `ToolCallStarted`, `ToolCallCompleted`, `RunPaused`, `RunContinued`,
//! `RunCompleted`, `RunError`, `RunCancelled` …), each with its `event_index`; fanout's own
//! details (a call's turn and position, its wait, retries, progress) ride along in a `fanout`
//! object that Agno's client ignores.
//!
//! The `/v1` routes speak OpenAI's API, so that OpenAI's own clients use an agent as a model: the
//! agent keeps its own system prompt, tools (run on the server) and model settings — a client's
//! `system`/`developer` messages, `instructions`, `tools` and sampling parameters are not used —
//! and its answer is the run's top-level text, with the usage of all its model turns. A run
//! that pauses for confirmation answers with a text naming the run, which AgentOS's `/continue`
//! route continues. Their errors are OpenAI's `{"error": {"message", "type", "param", "code"}}`.
//!
//! AG-UI runs stream AG-UI 1.0's events (`RUN_STARTED`, `TEXT_MESSAGE_*`, `TOOL_CALL_*`,
//! `REASONING_*`, team members' work as `SUBAGENT_*`, `RUN_FINISHED` / `RUN_ERROR`). The input is
//! the last user message; the thread's stored history is the conversation (the client's earlier
//! messages when nothing is stored). A run paused for confirmation finishes with an `interrupt`
//! outcome, one interrupt per waiting call, and a later run on the thread whose `resume` answers
//! them continues it.
//!
//! # Operation
//!
//! - A client that disconnects from a plain streamed run cancels it (stored as cancelled); a run
//!   started with `background=true` goes on, and its stream can be picked up with `/resume`.
//! - Every stream's buffer is bounded: a stalled client holds the run up for at most
//!   [`ServerBuilder::stall_timeout`], then it is cancelled; a background run's replay log holds
//!   at most [`ServerBuilder::replay_bytes`].
//! - With an API key ([`ServerBuilder::api_key`], `FANOUT_API_KEY` in the example), every route
//!   but `/health`, the page and the A2A cards needs `Authorization: Bearer <key>` (compared in
//!   constant time).
//! - Request bodies are limited ([`ServerBuilder::body_limit`], 413 beyond); every error is a
//!   JSON object `{"detail": …, "error_type": …}` (under `/v1`, OpenAI's `{"error": …}`; under
//!   `/a2a`, A2A's) with a 4xx/5xx status.
//! - [`Server::serve`] stops accepting on SIGTERM or Ctrl-C, lets runs finish for
//!   [`ServerBuilder::shutdown_grace`], then records those still going as interrupted.

mod a2a;
mod agentos;
mod agui;
mod auth;
mod error;
mod fields;
mod openai;
mod page;
mod router;
mod runs;
mod stored;
mod time;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use fanout::Agent;
use fanout::store::SessionStore;
use tower_http::cors::CorsLayer;

pub use error::ApiError;

/// The default largest request body: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1 << 20;

/// An HTTP server for fanout agents, speaking AgentOS's API. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Server {
    state: Arc<State>,
}

/// What every handler shares.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) agents: Vec<Registered>,
    /// Agent names (as stored with runs) to the ids they are registered under.
    pub(crate) ids_by_name: HashMap<String, String>,
    pub(crate) store: Option<Arc<dyn SessionStore>>,
    pub(crate) runs: Arc<runs::Registry>,
    pub(crate) started_at: SystemTime,
    pub(crate) os_id: String,
    pub(crate) name: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) api_key: Option<auth::Key>,
    pub(crate) body_limit: usize,
    pub(crate) cors: Option<CorsLayer>,
    pub(crate) shutdown_grace: Duration,
}

/// An agent and the id it is served under.
#[derive(Debug)]
pub(crate) struct Registered {
    pub(crate) id: String,
    pub(crate) agent: Agent,
    pub(crate) description: Option<String>,
}

impl State {
    pub(crate) fn agent(&self, id: &str) -> Result<&Registered, ApiError> {
        self.agents
            .iter()
            .find(|a| a.id == id)
            .ok_or_else(|| ApiError::not_found(format!("Agent not found: {}", error::quote(id))))
    }

    pub(crate) fn store(&self) -> Result<&Arc<dyn SessionStore>, ApiError> {
        self.store.as_ref().ok_or_else(|| {
            ApiError::not_found("This server keeps no sessions (no session store is configured)")
        })
    }

    /// The id a stored run's agent (its name) is served under.
    pub(crate) fn served_id(&self, name: Option<&str>) -> Option<String> {
        let name = name?;
        Some(self.ids_by_name.get(name).cloned().unwrap_or_else(|| name.to_owned()))
    }
}

/// Builds a [`Server`]: agents by id, the session store, security and limits.
#[derive(Debug)]
#[must_use]
pub struct ServerBuilder {
    agents: Vec<Registered>,
    store: Option<Arc<dyn SessionStore>>,
    api_key: Option<String>,
    body_limit: usize,
    cors: Option<CorsLayer>,
    shutdown_grace: Duration,
    stall_timeout: Duration,
    replay_bytes: usize,
    name: Option<String>,
    description: Option<String>,
    os_id: Option<String>,
}

impl Default for ServerBuilder {
    fn default() -> Self {
        Self {
            agents: Vec::new(),
            store: None,
            api_key: None,
            body_limit: DEFAULT_BODY_LIMIT,
            cors: None,
            shutdown_grace: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(30),
            replay_bytes: 4 << 20,
            name: None,
            description: None,
            os_id: None,
        }
    }
}

impl ServerBuilder {
    /// Serve `agent` under `id` (the `{id}` of `/agents/{id}`). Give it the server's store
    /// ([`AgentBuilder::store`](fanout::AgentBuilder::store)) so its runs are kept, and its id as
    /// its name, so stored sessions name it.
    pub fn agent(mut self, id: impl Into<String>, agent: Agent) -> Self {
        self.agents.push(Registered { id: id.into(), agent, description: None });
        self
    }

    /// Serve `agent` under `id` with a description (shown by `/agents`).
    pub fn agent_described(
        mut self,
        id: impl Into<String>,
        description: impl Into<String>,
        agent: Agent,
    ) -> Self {
        self.agents.push(Registered { id: id.into(), agent, description: Some(description.into()) });
        self
    }

    /// Where sessions are read from (and runs are continued from). Without it, the first
    /// registered agent's store is used.
    pub fn store(mut self, store: impl SessionStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Require `Authorization: Bearer <key>` on every route but `/health`, the page and the A2A
    /// cards (AgentOS's `OS_SECURITY_KEY`). An empty key means none.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into()).filter(|k| !k.is_empty());
        self
    }

    /// The largest request body accepted, in bytes (413 beyond). Default [`DEFAULT_BODY_LIMIT`].
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Cross-origin requests: tower-http's [`CorsLayer`], as configured by you. Without it,
    /// browsers only allow the server's own origin (the page at `/`).
    pub fn cors(mut self, cors: CorsLayer) -> Self {
        self.cors = Some(cors);
        self
    }

    /// How long [`Server::serve`] lets runs finish after SIGTERM or Ctrl-C before recording
    /// them as interrupted. Default 10 s.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// How long a streamed run waits for a client that stopped reading before cancelling the run
    /// (its stream buffer is full). Default 30 s.
    pub fn stall_timeout(mut self, timeout: Duration) -> Self {
        self.stall_timeout = timeout;
        self
    }

    /// How many bytes of events a background run keeps for `/resume`; the oldest are dropped
    /// beyond (a client resuming from before them is told). Default 4 MiB.
    pub fn replay_bytes(mut self, bytes: usize) -> Self {
        self.replay_bytes = bytes;
        self
    }

    /// The server's name and description (shown by `/config`).
    pub fn name(mut self, name: impl Into<String>, description: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self.description = Some(description.into());
        self
    }

    /// The server's id in `/config` (`os_id`); random by default. Instances serving the same
    /// agents from one database may share it.
    pub fn os_id(mut self, id: impl Into<String>) -> Self {
        self.os_id = Some(id.into());
        self
    }

    /// The server. Fails when two agents share an id, or an id is not a plain path segment.
    pub fn build(self) -> Result<Server, ApiError> {
        let mut ids_by_name = HashMap::new();
        for (i, registered) in self.agents.iter().enumerate() {
            let id = &registered.id;
            let plain = !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !plain {
                return Err(ApiError::config(format!(
                    "agent id {} must be letters, digits, '-', '_' or '.'",
                    error::quote(id)
                )));
            }
            if self.agents[..i].iter().any(|other| &other.id == id) {
                return Err(ApiError::config(format!("two agents are registered as {}", error::quote(id))));
            }
            if let Some(name) = registered.agent.name() {
                // Stored runs name their agent: two served agents of one name could read and
                // continue each other's runs.
                if let Some(other) = ids_by_name.insert(name.to_owned(), id.clone()) {
                    return Err(ApiError::config(format!(
                        "agents {} and {} are both named {}: give each served agent a name of its own",
                        error::quote(&other),
                        error::quote(id),
                        error::quote(name)
                    )));
                }
            }
            if registered.agent.store().is_none() {
                tracing::warn!(
                    "agent {id:?} has no session store: its runs are not kept, continued or listed"
                );
            }
        }
        let unnamed = self.agents.iter().filter(|a| a.agent.name().is_none()).count();
        if unnamed > 1 {
            tracing::warn!(
                "{unnamed} agents have no name: their stored runs cannot be told apart, so none of them \
                 continues or reads back a run (name each agent, e.g. with its id)"
            );
        }
        let store = self.store.or_else(|| self.agents.iter().find_map(|a| a.agent.store().cloned()));
        let state = State {
            agents: self.agents,
            ids_by_name,
            store,
            runs: Arc::new(runs::Registry::new(self.stall_timeout, self.replay_bytes)),
            started_at: SystemTime::now(),
            os_id: self.os_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            name: self.name,
            description: self.description,
            api_key: self.api_key.map(auth::Key::new),
            body_limit: self.body_limit,
            cors: self.cors,
            shutdown_grace: self.shutdown_grace,
        };
        Ok(Server { state: Arc::new(state) })
    }
}

impl Server {
    /// Start building a server.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// The routes, with authentication, limits and CORS applied: mount it in your own axum app
    /// (`Router::new().nest("/os", server.router())`) or serve it as it is.
    pub fn router(&self) -> Router {
        router::router(Arc::clone(&self.state))
    }

    /// Serve on `listener` until SIGTERM or Ctrl-C, then shut down gracefully (see
    /// [`serve_with_shutdown`](Self::serve_with_shutdown)).
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        self.serve_with_shutdown(listener, shutdown_signal()).await
    }

    /// Serve on `listener` until `signal` completes; then stop accepting connections, let the
    /// runs going on finish for the [grace period](ServerBuilder::shutdown_grace), and record
    /// those still going as interrupted (so they can be resumed) before returning.
    pub async fn serve_with_shutdown(
        self,
        listener: tokio::net::TcpListener,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let state = Arc::clone(&self.state);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let app = self.router();
        let serving = axum::serve(listener, app).with_graceful_shutdown({
            let mut stop_rx = stop_rx.clone();
            async move {
                let _ = stop_rx.wait_for(|stop| *stop).await;
            }
        });
        let serving = tokio::spawn(async move { serving.await });
        signal.await;
        tracing::info!(
            "shutting down: no new connections; waiting up to {:?} for runs",
            state.shutdown_grace
        );
        state.runs.stop_accepting();
        let _ = stop_tx.send(true);
        let finished = tokio::time::timeout(state.shutdown_grace, state.runs.idle()).await.is_ok();
        if !finished {
            state.runs.interrupt_all().await;
        }
        // Connections still open (streams of interrupted runs) are closed with the runtime.
        match tokio::time::timeout(Duration::from_millis(200), serving).await {
            Ok(Ok(result)) => result,
            _ => Ok(()),
        }
    }
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
