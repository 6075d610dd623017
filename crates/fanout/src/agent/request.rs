//! [`RunRequest`]: everything one run starts with — the input, the conversation it continues,
//! who it is for — and the ways to run it: await it, stream its events, block on it, print it.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use tokio_util::sync::CancellationToken;

use super::run::{self, RunOptions, RunStream, Start};
use super::{Agent, Decision};
use crate::error::Result;
use crate::event::RunEvent;
use crate::model::Message;
use crate::output::{PausedRun, RunOutput};

/// One run of an agent, ready to start: made by [`Agent::run`] (or
/// [`Agent::continue_run`]), configured with the methods below, then started in one of four
/// ways:
///
/// - `.await` it: the [`RunOutput`] (model turns not streamed);
/// - [`stream`](Self::stream): a stream of [`RunEvent`]s as things happen (model turns
///   streamed, calls started eagerly);
/// - [`blocking`](Self::blocking): the output, from synchronous code;
/// - [`print`](Self::print): drawn in the terminal, like [`Agent::print_response`].
///
/// ```
/// use fanout::prelude::*;
/// use fanout::models::Message;
/// use fanout::models::scripted::{ScriptedModel, Turn};
///
/// # #[tokio::main] async fn main() -> fanout::Result<()> {
/// let model = ScriptedModel::new([Turn::text("Noted.")]);
/// let agent = Agent::builder().model(model.clone()).build()?;
/// let first = agent.run("I am Ada").await?;
/// // Continue the conversation without a store: the first run's messages are the history.
/// let second = agent.run("What is my name?").history(first.all_messages().to_vec()).await?;
/// assert_eq!(model.requests()[1].messages.len(), 3); // "I am Ada", "Noted.", the question
/// assert_eq!(second.new_messages().len(), 2); // the question and the answer
/// assert_eq!(second.all_messages().len(), 4);
/// assert!(matches!(&second.all_messages()[0], Message::User { .. }));
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "a RunRequest does nothing until it is awaited, streamed, printed or run blocking"]
pub struct RunRequest {
    pub(super) agent: Agent,
    pub(super) start: Start,
    pub(super) options: RunOptions,
}

impl RunRequest {
    pub(super) fn new(agent: Agent, start: Start) -> Self {
        Self { agent, start, options: RunOptions::default() }
    }

    /// Continue session `id`: the run's history is the session's completed runs (see
    /// [`store`](crate::store)), and the run is stored in it. Needs a store on the agent
    /// ([`AgentBuilder::store`](crate::AgentBuilder::store)); without one the id only labels
    /// the run's output and events.
    pub fn session(mut self, id: impl Into<String>) -> Self {
        self.options.session_id = Some(id.into());
        self
    }

    /// The user the run is for (stored with it, and listed by).
    pub fn user(mut self, id: impl Into<String>) -> Self {
        self.options.user_id = Some(id.into());
        self
    }

    /// Messages the run continues, before the session's own history if it has one: a
    /// conversation kept by the caller (such as [`RunOutput::all_messages`] of the last run).
    /// It is [repaired](crate::history::repair) and trimmed like stored history; system
    /// messages in it are skipped (the agent sends its own).
    pub fn history(mut self, messages: impl IntoIterator<Item = Message>) -> Self {
        self.options.history = messages.into_iter().collect();
        self
    }

    /// Keep this run out of the agent's store: no session history is read, nothing is written
    /// (nor by the sub-agents it calls), and it cannot be [resumed](crate::Agent::resume). A
    /// [`session`](Self::session) id only labels its output and events. For callers that keep
    /// the conversation themselves (OpenAI's `store: false`).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use fanout::prelude::*;
    /// use fanout::models::scripted::{ScriptedModel, Turn};
    /// use fanout::store::{MemoryStore, SessionStore};
    ///
    /// # #[tokio::main] async fn main() -> fanout::Result<()> {
    /// let store = Arc::new(MemoryStore::new());
    /// let agent = Agent::builder()
    ///     .model(ScriptedModel::new([Turn::text("Hello!")]))
    ///     .store(store.clone())
    ///     .build()?;
    /// let output = agent.run("Hi").ephemeral().await?;
    /// assert_eq!(output.content, "Hello!");
    /// assert!(store.run(&output.run_id).await?.is_none());
    /// # Ok(()) }
    /// ```
    pub fn ephemeral(mut self) -> Self {
        self.options.ephemeral = true;
        self
    }

    /// Use `id` as the run's id instead of a new random one (an id already stored is refused).
    pub fn run_id(mut self, id: impl Into<String>) -> Self {
        self.options.run_id = Some(id.into());
        self
    }

    /// Stop the run as soon as `token` is cancelled: in-flight async tools and the model
    /// request are aborted, and the run ends with [`Error::cancelled`](crate::Error::cancelled)
    /// (stored as cancelled).
    pub fn cancel_on(mut self, token: CancellationToken) -> Self {
        self.options.cancel = Some(token);
        self
    }

    /// Run with streamed model turns (calls start as soon as their arguments are complete),
    /// yielding [`RunEvent`]s as they happen; the last item is
    /// [`EventKind::RunCompleted`](crate::event::EventKind::RunCompleted) or an error. The run
    /// goes on on a task of its own from the first poll; dropping the stream cancels it.
    ///
    /// ```
    /// use futures::StreamExt;
    /// use fanout::prelude::*;
    /// use fanout::event::EventKind;
    /// use fanout::models::scripted::{ScriptedModel, Turn};
    ///
    /// # #[tokio::main] async fn main() -> fanout::Result<()> {
    /// let agent = Agent::builder().model(ScriptedModel::new([Turn::text("Hello!")])).build()?;
    /// let mut events = agent.run("Hi").stream();
    /// let mut text = String::new();
    /// while let Some(event) = events.next().await {
    ///     if let EventKind::ContentDelta(delta) = event?.kind {
    ///         text.push_str(&delta);
    ///     }
    /// }
    /// assert_eq!(text, "Hello!");
    /// # Ok(()) }
    /// ```
    pub fn stream(self) -> impl Stream<Item = Result<RunEvent>> + Send + 'static {
        self.into_stream(true)
    }

    pub(crate) fn into_stream(self, streaming: bool) -> RunStream {
        run::spawn_stream(Arc::clone(&self.agent.inner), self.start, self.options, streaming)
    }

    /// Run from synchronous code, on fanout's own runtime: no runtime needed, and the calls of
    /// a turn still run concurrently (Agno's synchronous `run` runs them one after another).
    /// Must not be called from inside an async runtime (`.await` the request there).
    pub fn blocking(self) -> Result<RunOutput> {
        super::blocking::block_on(self.into_future())?
    }

    /// Draw the run in the terminal (see [`Agent::print_response`]).
    #[cfg(feature = "terminal")]
    pub fn print(self) -> super::PrintResponse {
        super::PrintResponse::new(self)
    }
}

impl IntoFuture for RunRequest {
    type Output = Result<RunOutput>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<RunOutput>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let RunRequest { agent, start, mut options } = self;
            let origin = run::identify(&agent.inner, &start, &mut options);
            run::run(&agent.inner, start, options, origin, false, &mut |_| {}).await
        })
    }
}

impl Agent {
    /// Start describing a run of `input`; `.await` it for the [`RunOutput`], or see
    /// [`RunRequest`] for history, sessions, streaming, cancellation and blocking use.
    ///
    /// Dropping the future cancels the run: in-flight async tools are aborted.
    pub fn run(&self, input: impl Into<String>) -> RunRequest {
        RunRequest::new(self.clone(), Start::Input(input.into()))
    }

    /// Continue a run paused for confirmation ([`RunStatus::Paused`](crate::RunStatus::Paused)):
    /// approved calls run (concurrently), rejected ones — and any without a decision — send the
    /// model a "rejected by the user" result; then the run goes on, under the same run id and
    /// session. The [`PausedRun`] comes from [`RunOutput::take_paused`] (or from JSON, in
    /// another process) and is consumed, so a paused run continues once.
    ///
    /// ```
    /// use fanout::prelude::*;
    /// use fanout::agent::Decision;
    /// use fanout::models::scripted::{ScriptedModel, Turn};
    ///
    /// /// Delete a file
    /// #[tool(requires_confirmation)]
    /// fn delete(path: String) -> String { format!("deleted {path}") }
    ///
    /// # #[tokio::main] async fn main() -> fanout::Result<()> {
    /// let model = ScriptedModel::new([Turn::call("delete", serde_json::json!({"path": "/tmp/x"})), Turn::text("Done.")]);
    /// let agent = Agent::builder().model(model).tool(delete).build()?;
    /// let output = agent.run("Delete /tmp/x").await?;
    /// assert_eq!(output.pending_calls()[0].name, "delete");
    ///
    /// let paused = output.take_paused().expect("the run is paused");
    /// let id = output.pending_calls()[0].id.clone();
    /// let output = agent.continue_run(paused, [(id, Decision::Approve)]).await?;
    /// assert_eq!(output.tool_executions[0].result.as_deref(), Ok("deleted /tmp/x"));
    /// assert_eq!(output.content, "Done.");
    /// # Ok(()) }
    /// ```
    pub fn continue_run(
        &self,
        paused: PausedRun,
        decisions: impl IntoIterator<Item = (String, Decision)>,
    ) -> RunRequest {
        RunRequest::new(self.clone(), Start::Resume(Box::new(paused), decisions.into_iter().collect()))
    }

    /// Resume stored run `run_id`, interrupted because its process died (see
    /// [`SessionStore::interrupted_runs`](crate::store::SessionStore::interrupted_runs)): the
    /// results of the calls that had completed are restored from the store
    /// ([`EventKind::ToolCallRestored`](crate::event::EventKind::ToolCallRestored); they do not
    /// run again), the calls that had not run, then the loop goes on to the answer, under the
    /// same run id and session. The run's history is its session's completed runs that began
    /// before it.
    ///
    /// Needs a store on the agent and the same tools. The run is claimed first (its lease): a
    /// run that is still going on in another process is refused (a storage error), as is a run
    /// that ended; a run paused for confirmation is continued with
    /// [`continue_run`](Self::continue_run) and the [`PausedRun`] stored with its state.
    ///
    /// **Side effects**: a call that was running when the process died ran (at least partly)
    /// and runs again. Each call has a stable idempotency key, `{run id}/{call id}`
    /// ([`idempotency_key`](crate::tool::idempotency_key)), that a tool can pass to the system
    /// it changes so the second attempt is a no-op. Calls that completed never run again. The
    /// model turn that was going on is asked again, and the token usage of the part before the
    /// interruption is not in the resumed run's metrics.
    ///
    /// ```
    /// use fanout::prelude::*;
    /// use fanout::models::scripted::{ScriptedModel, Turn};
    /// use fanout::store::{MemoryStore, SessionStore, StoredMessage, RunRecord};
    /// use fanout::models::Message;
    ///
    /// # #[tokio::main] async fn main() -> fanout::Result<()> {
    /// // A run that died after storing its user message (as a process that was killed leaves it).
    /// let store = MemoryStore::new();
    /// let record = RunRecord {
    ///     run_id: "r1".into(), session_id: "s1".into(), user_id: None, agent_id: None,
    ///     parent_run_id: None, created_at: std::time::SystemTime::now(),
    /// };
    /// store.begin_run(&record).await?;
    /// store.append_messages("r1", &[StoredMessage { seq: 0, message: Message::user("Hi") }]).await?;
    /// assert_eq!(store.interrupted_runs("s1").await?, ["r1"]);
    ///
    /// let agent = Agent::builder().model(ScriptedModel::new([Turn::text("Hello!")])).store(store.clone()).build()?;
    /// let output = agent.resume("r1").await?;
    /// assert_eq!(output.content, "Hello!");
    /// assert!(store.interrupted_runs("s1").await?.is_empty());
    /// # Ok(()) }
    /// ```
    pub fn resume(&self, run_id: impl Into<String>) -> RunRequest {
        RunRequest::new(self.clone(), Start::Recover(run_id.into()))
    }
}
