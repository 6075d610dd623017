//! What the services take and return, and what the journal holds: plain JSON.

use fanout::models::{FinishReason, Replay, Usage};
use fanout::tool::ToolCall;
use serde::{Deserialize, Serialize};

/// The input of the virtual object's `run` handler: `{"message": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRequest {
    /// What the user says.
    pub message: String,
}

/// One model turn as journaled: the response, and what the run does with each of its calls —
/// decided inside the journaled step, so a replay dispatches exactly what the first attempt
/// did even if the tool list has changed since.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TurnRecord {
    pub(crate) content: Option<String>,
    pub(crate) tool_calls: Vec<ToolCall>,
    #[serde(default)]
    pub(crate) usage: Option<Usage>,
    #[serde(default)]
    pub(crate) finish_reason: Option<FinishReason>,
    #[serde(default)]
    pub(crate) replay: Option<Replay>,
    /// One per call, in the calls' order.
    pub(crate) plans: Vec<Plan>,
    /// A call of a `stop_after_tool_call` tool is among them: the run ends after this batch.
    #[serde(default)]
    pub(crate) stop: bool,
}

/// How a call of a turn is handled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Plan {
    /// Sent at once, with the batch's other calls.
    Run,
    /// Not parallel-safe: sent alone, after the batch's other calls have finished.
    Exclusive,
    /// Not run; the model gets this error text.
    Refused(String),
}

/// The input of the tool service's `call` handler.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ToolRequest {
    /// The call to run.
    pub(crate) call: ToolCall,
    /// The idempotency scope: `{invocation id of the run}/{model turn}` (the call's key is
    /// `{scope}/{call id}`).
    pub(crate) scope: String,
    /// For events: the run (its invocation id), the session, the model turn and the call's
    /// position in it.
    pub(crate) run_id: String,
    pub(crate) session: String,
    pub(crate) turn: usize,
    pub(crate) index: usize,
}

/// What a call produced, for the model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ToolOutcome {
    /// The result text, or the error text the model reads.
    pub(crate) content: String,
    /// True when the call failed.
    pub(crate) is_error: bool,
}
