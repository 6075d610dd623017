//! What a finished run returns: [`RunOutput`] with its [`Metrics`].

use std::time::Duration;

use crate::agent::PausedRun;
use crate::exec::ToolExecution;
use crate::model::{Message, Usage};
use crate::tool::ToolCall;

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
    /// What is needed to continue a paused run.
    pub(crate) paused: Option<Box<PausedRun>>,
}

impl RunOutput {
    /// True when the model gave a final answer.
    pub fn is_completed(&self) -> bool {
        self.status == RunStatus::Completed
    }

    /// The calls waiting for confirmation when the run is paused (empty otherwise).
    pub fn pending_calls(&self) -> &[ToolCall] {
        match &self.status {
            RunStatus::Paused { pending } => pending,
            _ => &[],
        }
    }
}
