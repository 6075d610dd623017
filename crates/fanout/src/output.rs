//! What a finished run returns: [`RunOutput`] with its [`Metrics`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::agent::PausedRun;
use crate::model::{Message, Usage};
use tokio::time::Instant;

use crate::tool::{ToolCall, ToolError, ToolResult};

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunStatus {
    /// The model gave a final answer.
    Completed,
    /// A tool marked `stop_after_tool_call` ran; its batch's results are in the output.
    StoppedAfterToolCall,
    /// The run's `tool_call_limit` was reached; no further model turn was made.
    ToolCallLimitReached {
        /// The limit.
        limit: usize,
    },
    /// The run waits for the user to approve or reject these calls (tools marked
    /// `requires_confirmation`); continue it with [`Agent::continue_run`](crate::Agent::continue_run).
    Paused {
        /// The calls waiting for a decision, in the model's order.
        pending: Vec<ToolCall>,
    },
    /// The run made its maximum number of model turns without a final answer.
    MaxTurnsReached {
        /// The limit.
        limit: usize,
    },
}

/// One finished tool call: what was asked, what came back, and when.
#[derive(Debug, Clone)]
pub struct ToolExecution {
    /// The call as the model made it.
    pub call: ToolCall,
    /// The result text, or why there is none.
    pub result: ToolResult,
    /// When the call actually started (after any wait for a concurrency slot or exclusivity).
    pub started_at: Instant,
    /// How long it waited before starting, from the moment the batch received it.
    pub waited: Duration,
    /// How long it ran.
    pub duration: Duration,
}

impl ToolExecution {
    /// The text the model receives for this call: the result, or `Error: …`.
    pub fn content_for_model(&self) -> String {
        match &self.result {
            Ok(text) => text.clone(),
            Err(err) => format!("Error: {err}"),
        }
    }

    /// True when the call did not produce a normal result.
    pub fn is_error(&self) -> bool {
        self.result.is_err()
    }

    /// A call that was never run, with the reason.
    pub(crate) fn not_run(call: ToolCall, err: ToolError) -> Self {
        Self {
            call,
            result: Err(err),
            started_at: Instant::now(),
            waited: Duration::ZERO,
            duration: Duration::ZERO,
        }
    }
}

/// Timing and token counts of one model turn.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TurnMetrics {
    /// From sending the request to the end of the answer.
    pub duration: Duration,
    /// From sending the request to the first streamed delta (streaming only).
    pub time_to_first_token: Option<Duration>,
    /// Token counts, when the provider reported them.
    pub usage: Option<Usage>,
}

/// Numbers about a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    /// Token counts summed over all turns.
    pub usage: Usage,
    /// From the start of the run to the first streamed text.
    pub time_to_first_token: Option<Duration>,
    /// The whole run.
    pub duration: Duration,
    /// One entry per model turn.
    pub turns: Vec<TurnMetrics>,
}

/// The result of a run: the answer, the conversation, every tool execution with its timing.
#[derive(Debug, Clone)]
pub struct RunOutput {
    /// The final answer text (empty when the run ended for another reason, see `status`).
    pub content: String,
    /// How the run ended.
    pub status: RunStatus,
    /// The conversation, from the system prompt to the final answer.
    pub messages: Vec<Message>,
    /// Every tool call of the run, in order, with its result and timing.
    pub tool_executions: Vec<ToolExecution>,
    /// Tokens and timings.
    pub metrics: Metrics,
    /// The final answer as JSON, checked against the agent's
    /// [`output_schema`](crate::AgentBuilder::output_schema) (`None` without one).
    pub structured: Option<serde_json::Value>,
    /// What is needed to continue a paused run: taken once, by [`take_paused`](Self::take_paused).
    pub(crate) paused: Option<PausedSlot>,
}

/// The one copy of a paused run's state, shared by an output and its clones, so that it can be
/// continued only once (approved calls must not run twice).
#[derive(Clone)]
pub(crate) struct PausedSlot(Arc<Mutex<Option<PausedRun>>>);

impl PausedSlot {
    pub(crate) fn new(paused: PausedRun) -> Self {
        Self(Arc::new(Mutex::new(Some(paused))))
    }
}

impl std::fmt::Debug for PausedSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let waiting = self.0.lock().map(|slot| slot.is_some()).unwrap_or(false);
        f.write_str(if waiting { "PausedRun { .. }" } else { "PausedRun (taken)" })
    }
}

impl RunOutput {
    /// True when the model gave a final answer.
    pub fn is_completed(&self) -> bool {
        self.status == RunStatus::Completed
    }

    /// The state to continue a paused run with ([`Agent::continue_run`](crate::Agent::continue_run)).
    /// It exists once: the first call, on this output or any clone of it, takes it; later calls
    /// return `None`, so approved calls can never run twice.
    pub fn take_paused(&self) -> Option<PausedRun> {
        let slot = self.paused.as_ref()?;
        match slot.0.lock() {
            Ok(mut paused) => paused.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        }
    }

    /// The final answer as a `T`: the JSON object in [`content`](Self::content) (found
    /// leniently: code fences and prose around it are skipped, see
    /// [`extract_json`](crate::structured::extract_json)). The error names the field that does
    /// not fit and keeps the text ([`Error::raw_output`](crate::Error::raw_output)).
    ///
    /// ```
    /// use fanout::prelude::*;
    /// use fanout::models::scripted::{ScriptedModel, Turn};
    ///
    /// #[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
    /// struct Point { x: i32, y: i32 }
    ///
    /// # #[tokio::main] async fn main() -> fanout::Result<()> {
    /// let agent = Agent::builder().model(ScriptedModel::new([Turn::text(r#"{"x": 1, "y": "two"}"#)])).build()?;
    /// let err = agent.run("A point").await?.parse::<Point>().unwrap_err();
    /// assert!(err.to_string().contains("y: invalid type"));
    /// assert_eq!(err.raw_output(), Some(r#"{"x": 1, "y": "two"}"#));
    /// # Ok(()) }
    /// ```
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> crate::Result<T> {
        crate::structured::parse(&self.content)
    }

    /// The calls waiting for confirmation when the run is paused (empty otherwise).
    pub fn pending_calls(&self) -> &[ToolCall] {
        match &self.status {
            RunStatus::Paused { pending } => pending,
            _ => &[],
        }
    }
}
