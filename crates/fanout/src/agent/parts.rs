//! The parts of an agent that a run loop needs, for running an agent's turns and calls on another
//! engine (a durable-execution engine such as Restate, a job queue …) while keeping the agent's
//! own settings: its model ([`Agent::model`]), its tools, the request each turn sends, its limits.

use std::sync::Arc;

use super::Agent;
use crate::error::Result;
use crate::exec::Executor;
use crate::model::{Message, ModelRequest};
use crate::retry::RetryPolicy;

impl Agent {
    /// The executor of the agent's tools for its next model turn, with the agent's limits,
    /// timeouts, hooks and cache: [`Executor::run`] runs calls exactly as a run would. When tools
    /// come from [`ToolSource`](crate::tool::ToolSource)s, their lists are refreshed first.
    pub async fn tool_executor(&self) -> Result<Executor> {
        self.inner.turn_executor().await
    }

    /// The request of one model turn over `messages` (the system prompt included, if any), as
    /// the run loop builds it: the tools of `executor`, the agent's `parallel_tool_calls` and
    /// output schema.
    ///
    /// ```
    /// use fanout::prelude::*;
    /// use fanout::models::{Message, scripted::{ScriptedModel, Turn}};
    ///
    /// # #[tokio::main] async fn main() -> fanout::Result<()> {
    /// let agent = Agent::builder().model(ScriptedModel::new([Turn::text("Hi!")])).build()?;
    /// let executor = agent.tool_executor().await?;
    /// let request = agent.model_request(vec![Message::user("Hello")], &executor);
    /// let response = agent.model().complete(&request).await?;
    /// assert_eq!(response.content.as_deref(), Some("Hi!"));
    /// # Ok(()) }
    /// ```
    pub fn model_request(&self, messages: Vec<Message>, executor: &Executor) -> ModelRequest {
        ModelRequest {
            messages,
            tools: Arc::clone(executor.tools().definitions()),
            tool_choice: None,
            parallel_tool_calls: self.inner.settings.parallel_tool_calls,
            output_schema: self.inner.settings.output_schema.clone(),
        }
    }

    /// At most this many model turns per run.
    pub fn max_turns(&self) -> usize {
        self.inner.settings.max_turns
    }

    /// At most this many tool calls per run, if limited.
    pub fn tool_call_limit(&self) -> Option<usize> {
        self.inner.settings.tool_call_limit
    }

    /// How much history a run sends (see [`history::trim`](crate::history::trim)).
    pub fn history_limits(&self) -> crate::history::HistoryLimits {
        self.inner.history_limits()
    }

    /// How a failed model turn is retried.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.settings.retry
    }
}
