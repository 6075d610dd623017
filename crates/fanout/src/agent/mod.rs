//! [`Agent`]: a model, its tools and the run loop that ties them together.
//!
//! A run goes model turn → tool batch (all calls at once) → model turn … until the model answers
//! without calling tools or a limit is reached. Three ways to run:
//!
//! - [`Agent::run`]: wait for the [`RunOutput`];
//! - [`Agent::run_stream`]: a stream of [`RunEvent`]s as things happen;
//! - [`Agent::print_response`]: draw the run in the terminal, like Agno's `print_response`.
//!
//! Each has a blocking twin for programs without an async runtime ([`Agent::run_blocking`],
//! [`PrintResponse::blocking`]); tool calls still run concurrently there.

mod blocking;
mod builder;
mod parts;
#[cfg(feature = "terminal")]
mod print;
mod run;
mod sources;

use std::sync::Arc;

use futures::stream::Stream;
use tokio_util::sync::CancellationToken;

pub use builder::{AgentBuilder, DEFAULT_MAX_TURNS, DEFAULT_OUTPUT_REPAIRS};
#[cfg(feature = "terminal")]
pub use print::PrintResponse;
pub use run::{Decision, PausedRun};

use crate::error::{Error, Result};
use crate::event::RunEvent;
use crate::exec::Executor;
use crate::model::Model;
use crate::output::RunOutput;

/// An agent: a model, a set of tools and the settings of its runs.
///
/// Cheap to clone (one `Arc`), `Send + Sync`: one agent serves any number of concurrent runs.
///
/// ```
/// use fanout::prelude::*;
/// use fanout::models::scripted::{ScriptedModel, Turn};
///
/// /// Simulate a task that takes some time
/// ///
/// /// # Arguments
/// /// * `delay` - Seconds to wait
/// #[tool]
/// async fn atask1(delay: u64) -> String {
///     tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
///     format!("Task 1 completed in {delay}ms")
/// }
///
/// # #[tokio::main] async fn main() -> fanout::Result<()> {
/// let agent = Agent::builder()
///     .model(ScriptedModel::new([Turn::call_every_tool(serde_json::json!({"delay": 5})), Turn::summarize_results()]))
///     .tools(tools![atask1])
///     .markdown(true)
///     .build()?;
/// let output = agent.run("Please run all tasks").await?;
/// assert!(output.content.contains("Task 1 completed in 5ms"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Agent {
    inner: Arc<Inner>,
}

/// Everything a run needs, shared by all runs of an agent.
#[derive(Debug)]
struct Inner {
    name: Option<String>,
    model: Arc<dyn Model>,
    executor: Executor,
    /// Only when some tools come from [`ToolSource`](crate::tool::ToolSource)s.
    sources: Option<Box<sources::Sources>>,
    system_prompt: Option<String>,
    settings: Settings,
}

impl Inner {
    /// The executor for the next model turn: the agent's own, or one over the tool sources'
    /// current lists.
    async fn turn_executor(&self) -> Result<Executor> {
        match &self.sources {
            None => Ok(self.executor.clone()),
            Some(sources) => sources.executor().await,
        }
    }
}

/// Run settings fixed at build time.
#[derive(Debug, Clone)]
struct Settings {
    max_turns: usize,
    tool_call_limit: Option<usize>,
    parallel_tool_calls: Option<bool>,
    eager_start: bool,
    debug_mode: bool,
    markdown: bool,
    retry: crate::retry::RetryPolicy,
    /// The schema of the final answer, sent with every turn and checked at the end.
    output_schema: Option<Arc<crate::structured::OutputSchema>>,
    /// How many repair turns an answer that does not fit the schema gets.
    output_repairs: usize,
}

impl Agent {
    /// Start building an agent.
    pub fn builder() -> AgentBuilder {
        AgentBuilder::default()
    }

    /// The agent's model.
    pub fn model(&self) -> &Arc<dyn Model> {
        &self.inner.model
    }

    /// The agent's name, if it was given one (it names the run's trace span).
    pub fn name(&self) -> Option<&str> {
        self.inner.name.as_deref()
    }

    /// The system prompt sent at the start of each run, if any.
    pub fn system_prompt(&self) -> Option<&str> {
        self.inner.system_prompt.as_deref()
    }

    /// Run to the end and return the output. Model turns are not streamed.
    ///
    /// Dropping the future cancels the run: in-flight async tools are aborted.
    pub async fn run(&self, input: impl Into<String>) -> Result<RunOutput> {
        run::run(&self.inner, run::Start::Input(input.into()), false, &mut |_| {}).await
    }

    /// [`run`](Agent::run) that stops with [`Error::cancelled()`] as soon as `token` is cancelled,
    /// aborting in-flight async tools and the model request.
    pub async fn run_until_cancelled(
        &self,
        input: impl Into<String>,
        token: &CancellationToken,
    ) -> Result<RunOutput> {
        tokio::select! {
            biased;
            () = token.cancelled() => Err(Error::cancelled()),
            output = self.run(input) => output,
        }
    }

    /// Run with streamed model turns, yielding [`RunEvent`]s as they happen; the last item is
    /// [`RunEvent::RunCompleted`] or an error.
    ///
    /// The run proceeds on its own task; dropping the stream cancels it.
    ///
    /// ```
    /// use futures::StreamExt;
    /// use fanout::prelude::*;
    /// use fanout::models::scripted::{ScriptedModel, Turn};
    ///
    /// # #[tokio::main] async fn main() -> fanout::Result<()> {
    /// let agent = Agent::builder().model(ScriptedModel::new([Turn::text("Hello!")])).build()?;
    /// let mut events = agent.run_stream("Hi");
    /// let mut text = String::new();
    /// while let Some(event) = events.next().await {
    ///     if let RunEvent::ContentDelta(delta) = event? {
    ///         text.push_str(&delta);
    ///     }
    /// }
    /// assert_eq!(text, "Hello!");
    /// # Ok(()) }
    /// ```
    pub fn run_stream(
        &self,
        input: impl Into<String>,
    ) -> impl Stream<Item = Result<RunEvent>> + Send + 'static {
        run::spawn_stream(Arc::clone(&self.inner), run::Start::Input(input.into()), true)
    }

    /// Continue a run paused for confirmation ([`RunStatus::Paused`](crate::RunStatus::Paused)):
    /// approved calls run (concurrently), rejected ones — and any without a decision — send the
    /// model a "rejected by the user" result; then the run goes on. The [`PausedRun`] comes
    /// from [`RunOutput::take_paused`] and is consumed, so a paused run continues once.
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
    pub async fn continue_run(
        &self,
        paused: PausedRun,
        decisions: impl IntoIterator<Item = (String, Decision)>,
    ) -> Result<RunOutput> {
        let start = run::Start::Resume(Box::new(paused), decisions.into_iter().collect());
        run::run(&self.inner, start, false, &mut |_| {}).await
    }

    /// [`run`](Agent::run) for synchronous code: no runtime needed, and the calls of a turn
    /// still run concurrently (Agno's synchronous `run` runs them one after another).
    ///
    /// Must not be called from inside an async runtime (use `run().await` there).
    pub fn run_blocking(&self, input: impl Into<String>) -> Result<RunOutput> {
        blocking::block_on(self.run(input))?
    }

    #[cfg(feature = "terminal")]
    /// [`print_response`](Agent::print_response) for synchronous code, not streamed; for
    /// streaming use `agent.print_response(input).stream(true).blocking()`.
    pub fn print_response_blocking(&self, input: impl Into<String>) -> Result<()> {
        self.print_response(input).blocking()
    }

    #[cfg(feature = "terminal")]
    /// Draw the run in the terminal: the message, the tool calls as they run, the response.
    /// Await it, or call [`PrintResponse::blocking`] from synchronous code.
    ///
    /// ```no_run
    /// # use fanout::prelude::*;
    /// # async fn demo(agent: Agent) -> fanout::Result<()> {
    /// agent.print_response("Please run all tasks with a delay of 3s").stream(true).await
    /// # }
    /// ```
    pub fn print_response(&self, input: impl Into<String>) -> PrintResponse {
        PrintResponse::new(self.clone(), input.into())
    }
}
