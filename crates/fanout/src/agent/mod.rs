//! [`Agent`]: a model, its tools and the run loop that ties them together.
//!
//! A run goes model turn → tool batch (all calls at once) → model turn … until the model answers
//! without calling tools or a limit is reached. Every run starts from one [`RunRequest`]
//! ([`Agent::run`]), which carries the history, the session and the user, and runs it in one of
//! four ways:
//!
//! - `agent.run(input).await`: wait for the [`RunOutput`](crate::RunOutput);
//! - [`RunRequest::stream`]: a stream of [`RunEvent`](crate::RunEvent)s as things happen;
//! - [`RunRequest::blocking`]: for programs without an async runtime (tool calls still run
//!   concurrently);
//! - [`Agent::print_response`] / [`RunRequest::print`]: draw the run in the terminal, like
//!   Agno's `print_response`.

mod blocking;
mod builder;
mod decision;
mod delegate;
mod parts;
#[cfg(feature = "terminal")]
mod print;
mod request;
mod run;
mod sources;
mod tree;

use std::sync::Arc;

pub use builder::{
    AgentBuilder, DEFAULT_LEASE, DEFAULT_MAX_DEPTH, DEFAULT_MAX_TURNS, DEFAULT_OUTPUT_REPAIRS,
};
pub use decision::Decision;
pub(crate) use delegate::delegate;
#[cfg(feature = "terminal")]
pub use print::PrintResponse;
pub use request::RunRequest;

use crate::error::Result;
use crate::exec::Executor;
use crate::history::HistoryLimits;
use crate::model::Model;
use crate::store::SessionStore;

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
    /// What the agent does, for the agents that use it as a tool.
    description: Option<String>,
    model: Arc<dyn Model>,
    executor: Executor,
    /// Only when some tools come from [`ToolSource`](crate::tool::ToolSource)s.
    sources: Option<Box<sources::Sources>>,
    system_prompt: Option<String>,
    settings: Settings,
    /// Only for agents that keep conversations (a store, or history limits).
    conversation: Option<Box<Conversation>>,
}

/// Where an agent keeps its sessions and how much history a run sends.
#[derive(Debug, Default)]
struct Conversation {
    store: Option<Arc<dyn SessionStore>>,
    limits: HistoryLimits,
}

impl Inner {
    fn store(&self) -> Option<&dyn SessionStore> {
        self.conversation.as_ref()?.store.as_deref()
    }

    fn history_limits(&self) -> HistoryLimits {
        self.conversation.as_ref().map(|c| c.limits).unwrap_or_default()
    }

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
    /// How long a stored run's lease lasts ([`AgentBuilder::run_lease`]).
    lease: std::time::Duration,
    /// How many levels of sub-agents may run below a run of this agent.
    max_depth: usize,
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

    /// What the agent does ([`AgentBuilder::description`]): the description of the tool it
    /// becomes in a team or with [`as_tool`](Agent::as_tool).
    pub fn description(&self) -> Option<&str> {
        self.inner.description.as_deref()
    }

    /// The definitions of the agent's own tools, in the order given to the builder (tools of
    /// [`ToolSource`](crate::tool::ToolSource)s are listed per turn and are not among them):
    /// what a server shows of the agent.
    pub fn tool_definitions(&self) -> &Arc<[Arc<crate::tool::ToolDefinition>]> {
        self.inner.executor.tools().definitions()
    }

    /// The system prompt sent at the start of each run, if any.
    pub fn system_prompt(&self) -> Option<&str> {
        self.inner.system_prompt.as_deref()
    }

    #[cfg(feature = "terminal")]
    /// [`print_response`](Agent::print_response) for synchronous code, not streamed; for
    /// streaming use `agent.print_response(input).stream(true).blocking()`.
    pub fn print_response_blocking(&self, input: impl Into<String>) -> Result<()> {
        self.print_response(input).blocking()
    }

    /// The session store, if the agent has one ([`AgentBuilder::store`]).
    pub fn store(&self) -> Option<&Arc<dyn SessionStore>> {
        self.inner.conversation.as_ref()?.store.as_ref()
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
        self.run(input).print()
    }
}
