//! [`RunEvent`]: what [`Agent::run_stream`](crate::Agent::run_stream) yields while a run goes on.

use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;

use crate::model::{FinishReason, Usage};
use crate::output::RunOutput;
use crate::output::ToolExecution;
use crate::tool::ToolCall;

/// Something that happened during a run, in the order it happened.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RunEvent {
    /// The run began.
    RunStarted {
        /// The model's id.
        model: String,
        /// The user's input.
        input: String,
    },
    /// A piece of the answer text arrived.
    ContentDelta(String),
    /// A piece of reasoning text arrived.
    ReasoningDelta(String),
    /// A tool call started running (possibly before the model's turn ended: eager start).
    ToolCallStarted {
        /// The model turn it belongs to (0-based).
        turn: usize,
        /// Position of the call in its turn.
        index: usize,
        /// The call.
        call: ToolCall,
        /// Time since the run started.
        at: Duration,
    },
    /// A tool call finished, the moment it finished.
    ToolCallCompleted {
        /// The model turn it belongs to.
        turn: usize,
        /// Position of the call in its turn.
        index: usize,
        /// The call, its result and its timing.
        execution: ToolExecution,
    },
    /// A running tool call reported progress: an MCP server's `notifications/progress`, or
    /// [`report_progress`](crate::tool::report_progress) in a tool of one's own. Arrives
    /// between the call's `ToolCallStarted` and `ToolCallCompleted`.
    ToolCallProgress {
        /// The model turn it belongs to.
        turn: usize,
        /// Position of the call in its turn.
        index: usize,
        /// Progress so far (increases with each report).
        progress: f64,
        /// What `progress` counts to, when known.
        total: Option<f64>,
        /// What the call is doing now.
        message: Option<String>,
    },
    /// A tool call that had started was cancelled before it finished, because the model turn
    /// it belongs to failed and is tried again: a consumer never sees a start without an end.
    ToolCallCancelled {
        /// The model turn it belonged to.
        turn: usize,
        /// Position of the call in its turn.
        index: usize,
        /// The call.
        call: ToolCall,
        /// Why it was cancelled.
        reason: String,
    },
    /// A model turn failed and is tried again after `wait`, under the agent's
    /// [`RetryPolicy`](crate::RetryPolicy).
    ModelRetry {
        /// The turn being retried.
        turn: usize,
        /// Which retry this is (1-based).
        retry: u32,
        /// The most retries the policy allows.
        max_retries: u32,
        /// How long the run waits before the retry.
        wait: Duration,
        /// What failed.
        error: Arc<Error>,
    },
    /// A model turn ended.
    ModelTurnCompleted {
        /// Which turn (0-based).
        turn: usize,
        /// How many tool calls the model asked for in it.
        tool_calls: usize,
        /// Token counts, when reported.
        usage: Option<Usage>,
        /// Why the model stopped.
        finish_reason: Option<FinishReason>,
        /// How long the turn took.
        duration: Duration,
    },
    /// The run finished; the last event.
    RunCompleted(Box<RunOutput>),
}
