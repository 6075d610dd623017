//! Durable fanout agents on [Restate](https://restate.dev): a batch of parallel tool calls that
//! survives any crash, on an engine you already run.
//!
//! [`RestateAgent`] serves any [`Agent`] as two Restate services:
//!
//! - **a virtual object** named as you choose (`seed`), keyed by session id. Its exclusive
//!   handler `run` takes `{"message": "…"}` and answers with the run's final text; `messages`
//!   (shared) returns the session's conversation, `reset` clears it. Each model turn is
//!   journaled with `ctx.run`: after a crash it is replayed from the journal, never requested
//!   again.
//! - **a tool service** `{name}-tools` whose handler `call` runs one call of the agent's tool
//!   set, by name, with the agent's own executor (timeouts, hooks, cache, panic isolation).
//!   Every call of a batch is its own durable invocation: the run sends all of them at once and
//!   collects them with the SDK's `DurableFuturesUnordered`, so they overlap, and a crash
//!   re-runs only the calls that had not finished.
//!
//! ```text
//! POST /seed/{session}/run   {"message": "Please run all tasks with a delay of 3s"}
//!   ├─ ctx.run "model turn 1"          journaled ModelResponse (calls atask1, atask2, atask3)
//!   ├─ seed-tools/call atask1 ┐
//!   ├─ seed-tools/call atask2 ├ one durable invocation each, all in flight together
//!   ├─ seed-tools/call atask3 ┘
//!   ├─ ctx.run "model turn 2"          the final answer
//!   └─ state "messages" := the conversation with this run appended
//! ```
//!
//! ```no_run
//! use fanout::prelude::*;
//! use fanout_restate::RestateAgent;
//!
//! /// Look up an order
//! #[tool(timeout_secs = 30)]
//! async fn order(id: u64) -> String { format!("order {id}: shipped") }
//!
//! # async fn demo(model: std::sync::Arc<dyn fanout::models::Model>) -> Result<(), Box<dyn std::error::Error>> {
//! let agent = Agent::builder().model(model).tools(tools![order]).build()?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9080").await?;
//! RestateAgent::new("support", agent)?.serve(listener).await?;
//! // then: restate deployments register http://127.0.0.1:9080
//! //       curl localhost:8080/support/alice/run --json '{"message": "Where is order 7?"}'
//! # Ok(()) }
//! ```
//!
//! # Where the conversation lives
//!
//! In the virtual object's own state (key `messages`), not in a separate session store.
//! Restate runs at most one exclusive handler per key at a time, so each session has a single
//! writer by construction — two runs of one session queue instead of racing — and the state is
//! updated by the same journal that records the run, so there is no second store to keep
//! consistent with it, and nothing to lock. A run appends its messages once, when it ends —
//! also when it ends at a limit (`max_turns`, `tool_call_limit`: the answer is then an error
//! saying so); a run that fails (a model error) leaves the conversation as it was. Sessions
//! are independent keys: they run in parallel. The state keeps the whole conversation; each
//! request sends it as a plain run would — repaired and trimmed by the agent's history limits
//! ([`history_runs`](fanout::AgentBuilder::history_runs) …), after the agent's system prompt. An
//! agent's own session store is not used by these runs: Restate's state is the store.
//!
//! # Exactly what runs once
//!
//! - A model turn runs inside `ctx.run`: once its response is journaled, a retry or a restart
//!   replays it. A turn interrupted before that is requested again.
//! - A tool call is an invocation of `{name}-tools/call`: once it has finished, its result is
//!   in the journal and it never runs again. A call interrupted by a crash runs again, from the
//!   start: for side effects, read [`fanout::tool::idempotency_key`] in the tool — it is
//!   `{invocation id of the run}/{model turn}/{call id}` (`inv_1a…/1/call_0`), the same on
//!   every attempt, and is also the call's Restate idempotency key. (The turn is in it because
//!   some servers number their calls per turn, so a call id alone can repeat within a run.)
//! - Events ([`RestateAgent::on_event`]) are reported where the work actually happens — inside
//!   the journaled closure, inside the tool service — so a replay reports nothing twice.
//!
//! # Timeouts
//!
//! Restate asks an invocation that has been silent for its *inactivity timeout* (server
//! default 1 min) to suspend, and aborts and retries it after a further *abort timeout*
//! (default 10 min). A tool call cannot suspend, so a call running longer than both would be
//! restarted on every attempt. The tool service's inactivity timeout is therefore the longest
//! tool timeout of the agent (a tool without one counts as [`DEFAULT_UNTIMED_TOOL`]), and its
//! abort timeout [`DEFAULT_ABORT_TIMEOUT`]; fanout's own per-tool timeout always fires first and
//! becomes the call's error result, as in any run. Override with
//! [`RestateAgent::tool_timeouts`].
//!
//! # What differs from `Agent::run`
//!
//! Turns are not streamed (each is one journaled response, so its text arrives whole); tools
//! that require confirmation are not run (their result says so); the per-run
//! `max_concurrency` does not apply across the calls of a batch (each runs in its own
//! invocation; a shared `ConcurrencyLimit` still does, per process); an output schema is sent
//! but the answer is not checked.

mod manifest;
mod object;
mod tools;
mod wire;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use fanout::event::{EventKind, Origin};
use fanout::{Agent, RunEvent};
use restate_sdk::endpoint::Endpoint;
use restate_sdk::http_server::HttpServer;
use tokio::net::TcpListener;

pub use wire::RunRequest;

/// The tool service's inactivity timeout stands for at least this long a tool without a timeout
/// of its own (Restate's default inactivity timeout).
pub const DEFAULT_UNTIMED_TOOL: Duration = Duration::from_secs(60);

/// The tool service's abort timeout unless set (Restate's default).
pub const DEFAULT_ABORT_TIMEOUT: Duration = Duration::from_secs(600);

/// What can go wrong setting up the services.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The name does not make a valid Restate service name.
    #[error(
        "`{0}` is not a valid Restate service name: start with a letter (or `_` and a letter or \
         digit), then letters, digits, `.`, `_` or `-`"
    )]
    InvalidName(String),
    /// The agent's tools could not be listed.
    #[error("the agent's tools could not be listed: {0}")]
    Tools(#[from] fanout::Error),
    /// Accepting connections failed.
    #[error("serving failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Where events go.
pub(crate) type EventSink = Arc<dyn Fn(&RunEvent) + Send + Sync>;

/// Serves an [`Agent`] on Restate: a virtual object (the sessions) and a tool service (the
/// calls). See the [crate docs](crate).
#[derive(Clone)]
pub struct RestateAgent {
    agent: Agent,
    name: String,
    events: Option<EventSink>,
    timeouts: Option<(Duration, Duration)>,
}

/// What both services share while they serve.
pub(crate) struct Shared {
    pub(crate) agent: Agent,
    /// The virtual object's name.
    pub(crate) name: String,
    /// The tool service's name.
    pub(crate) tools_name: String,
    pub(crate) events: Option<EventSink>,
}

impl Shared {
    /// Report `kind` of the run `origin`, if anyone listens.
    pub(crate) fn emit(&self, origin: &Arc<Origin>, kind: EventKind) {
        emit(self.events.as_ref(), origin, kind);
    }

    /// Where the events of the run `run_id` of session `session` come from.
    pub(crate) fn origin(&self, run_id: &str, session: &str) -> Arc<Origin> {
        Arc::new(Origin {
            run_id: run_id.to_owned(),
            session_id: Some(session.to_owned()),
            agent: Some(self.agent.name().unwrap_or(&self.name).to_owned()),
            ..Origin::default()
        })
    }
}

/// Report `kind` of the run `origin` to `events`, if set.
pub(crate) fn emit(events: Option<&EventSink>, origin: &Arc<Origin>, kind: EventKind) {
    if let Some(events) = events {
        events(&RunEvent { origin: Arc::clone(origin), kind });
    }
}

impl std::fmt::Debug for RestateAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestateAgent")
            .field("name", &self.name)
            .field("agent", &self.agent)
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

/// Restate's rule for service names: `^([a-zA-Z]|_[a-zA-Z0-9])[a-zA-Z0-9._-]*$`.
fn valid_service_name(name: &str) -> bool {
    let head = match name.as_bytes() {
        [c, ..] if c.is_ascii_alphabetic() => true,
        [b'_', c, ..] => c.is_ascii_alphanumeric(),
        _ => false,
    };
    head && name.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

impl RestateAgent {
    /// Serve `agent` as the virtual object `name` (sessions: `POST /{name}/{session}/run`),
    /// with its tools as the service `{name}-tools`. Fails when `name` is not a valid Restate
    /// service name.
    pub fn new(name: impl Into<String>, agent: Agent) -> Result<Self, Error> {
        let name = name.into();
        if !valid_service_name(&name) {
            return Err(Error::InvalidName(name));
        }
        Ok(Self { agent, name, events: None, timeouts: None })
    }

    /// The virtual object's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tool service's name: `{name}-tools`.
    pub fn tools_service(&self) -> String {
        format!("{}-tools", self.name)
    }

    /// The agent served.
    pub fn agent(&self) -> &Agent {
        &self.agent
    }

    /// Report the runs' events to `sink`: [`EventKind::RunStarted`], [`EventKind::ModelRetry`],
    /// [`EventKind::ContentDelta`] (a turn's whole text) and [`EventKind::ModelTurnCompleted`]
    /// from inside the journaled turn, and [`EventKind::ToolCallStarted`] /
    /// [`EventKind::ToolCallCompleted`] from the tool service where the call runs — each once
    /// per time it really happens, never on a replay. (A call that a crash interrupted starts
    /// again, and is reported again.) Their [`Origin`]: the run id is the Restate invocation id
    /// of the run, the session id the object's key, the agent its name (else the object's). A
    /// call's `at` counts from the start of its own invocation. The sink is called on the
    /// handler's task: keep it quick.
    pub fn on_event(mut self, sink: impl Fn(&RunEvent) + Send + Sync + 'static) -> Self {
        self.events = Some(Arc::new(sink));
        self
    }

    /// Set the tool service's inactivity and abort timeouts instead of deriving them from the
    /// tools' timeouts (see the [crate docs](crate#timeouts)).
    pub fn tool_timeouts(mut self, inactivity: Duration, abort: Duration) -> Self {
        self.timeouts = Some((inactivity, abort));
        self
    }

    /// The tool service's inactivity and abort timeouts: as set, or derived from the tools'.
    pub async fn tool_service_timeouts(&self) -> Result<(Duration, Duration), Error> {
        if let Some(timeouts) = self.timeouts {
            return Ok(timeouts);
        }
        let executor = self.agent.tool_executor().await?;
        let longest = executor
            .tools()
            .definitions()
            .iter()
            .map(|tool| executor.timeout_for(&tool.name).unwrap_or(DEFAULT_UNTIMED_TOOL))
            .max()
            .unwrap_or(DEFAULT_UNTIMED_TOOL);
        Ok((longest.max(Duration::from_secs(1)), DEFAULT_ABORT_TIMEOUT))
    }

    /// The Restate endpoint serving both services, to serve with your own HTTP/2 server or
    /// Restate's [`HttpServer`].
    pub async fn endpoint(&self) -> Result<Endpoint, Error> {
        let (inactivity, abort) = self.tool_service_timeouts().await?;
        let shared = Arc::new(Shared {
            agent: self.agent.clone(),
            name: self.name.clone(),
            tools_name: self.tools_service(),
            events: self.events.clone(),
        });
        Ok(Endpoint::builder()
            .bind(object::definition(Arc::clone(&shared))?)
            .bind(tools::definition(shared, inactivity, abort)?)
            .build())
    }

    /// Serve on `listener` until Ctrl-C (SIGINT). Restate must be told where, once:
    /// `restate deployments register http://ADDR` (or `POST /deployments` on its admin API).
    pub async fn serve(self, listener: TcpListener) -> Result<(), Error> {
        self.serve_until(listener, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
    }

    /// Serve on `listener` until `shutdown` completes, then finish the requests in flight (for
    /// up to 10 s).
    pub async fn serve_until(self, listener: TcpListener, shutdown: impl Future) -> Result<(), Error> {
        let endpoint = self.endpoint().await?;
        HttpServer::new(endpoint).serve_with_cancel(listener, shutdown).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use fanout::models::scripted::ScriptedModel;
    use fanout::{tool, tools};

    /// Quick
    #[tool(timeout_secs = 5)]
    async fn quick() -> String {
        String::new()
    }

    /// Slow
    #[tool(timeout_secs = 300)]
    async fn slow() -> String {
        String::new()
    }

    /// Untimed
    #[tool]
    async fn untimed() -> String {
        String::new()
    }

    fn agent(tools: fanout::tool::Tools, default_timeout: Option<Duration>) -> Agent {
        let builder = Agent::builder().model(ScriptedModel::new([])).tools(tools);
        match default_timeout {
            Some(timeout) => builder.tool_timeout(timeout).build().unwrap(),
            None => builder.build().unwrap(),
        }
    }

    #[tokio::test]
    async fn the_tool_service_outlasts_the_longest_tool_timeout() {
        let timeouts = |tools, default| async move {
            RestateAgent::new("a", agent(tools, default)).unwrap().tool_service_timeouts().await.unwrap()
        };
        let abort = DEFAULT_ABORT_TIMEOUT;
        assert_eq!(timeouts(tools![quick], None).await, (Duration::from_secs(5), abort));
        assert_eq!(timeouts(tools![quick, slow], None).await, (Duration::from_secs(300), abort));
        // A tool without a timeout: Restate's default inactivity timeout, or the agent's default.
        assert_eq!(timeouts(tools![quick, untimed], None).await, (DEFAULT_UNTIMED_TOOL, abort));
        let ninety = Duration::from_secs(90);
        assert_eq!(timeouts(tools![quick, untimed], Some(ninety)).await, (ninety, abort));
        assert_eq!(timeouts(tools![], None).await, (DEFAULT_UNTIMED_TOOL, abort));
        let set = RestateAgent::new("a", agent(tools![slow], None))
            .unwrap()
            .tool_timeouts(Duration::from_secs(1), Duration::from_secs(2));
        assert_eq!(
            set.tool_service_timeouts().await.unwrap(),
            (Duration::from_secs(1), Duration::from_secs(2))
        );
    }

    #[test]
    fn a_name_restate_refuses_is_refused_up_front() {
        let err = RestateAgent::new("my agent", agent(tools![], None)).unwrap_err();
        assert!(matches!(err, Error::InvalidName(ref name) if name == "my agent"), "{err}");
        assert_eq!(RestateAgent::new("seed", agent(tools![], None)).unwrap().tools_service(), "seed-tools");
    }

    #[test]
    fn service_names_follow_restates_rule() {
        for name in ["seed", "Seed2", "_1agent", "a.b-c_d", "x"] {
            assert!(valid_service_name(name), "{name}");
        }
        for name in ["", "_", "__x", "1seed", "-seed", "se ed", "seed/x", "sééd"] {
            assert!(!valid_service_name(name), "{name}");
        }
    }
}
