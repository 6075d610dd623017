//! [`RunEvent`]: what a run's [event stream](crate::agent::RunRequest::stream) yields while it
//! goes on — what happened ([`EventKind`]) and in which run ([`Origin`]).
//!
//! Events are plain data: they serialize to JSON and back (a server streams them, a store or
//! a log keeps them).

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Error;

use crate::exec::ToolExecution;
use crate::model::{FinishReason, Usage};
use crate::output::RunOutput;
use crate::tool::ToolCall;

/// Something that happened during a run, in the order it happened, with the run it happened in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunEvent {
    /// The run it belongs to (shared by all of the run's events).
    pub origin: Arc<Origin>,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

impl RunEvent {
    /// The id of the run the event belongs to.
    pub fn run_id(&self) -> &str {
        &self.origin.run_id
    }

    /// True for an event of a sub-agent's run (a team member's, an
    /// [agent used as a tool](crate::team::AgentTool)), which the run's stream passes on
    /// between its own events; false for the streamed run's own events. A sub-agent's run ends
    /// with its own [`RunCompleted`](EventKind::RunCompleted) — only the streamed run's own
    /// `RunCompleted` ends the stream.
    pub fn is_nested(&self) -> bool {
        self.origin.parent_run_id.is_some()
    }
}

/// Where an event comes from: its run, and where that run sits in a tree of agents (a team's
/// member runs under the call of its leader that delegated to it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The run's id.
    pub run_id: String,
    /// The session the run belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The agent's name, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// The run that started this one, for a sub-agent's run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_run_id: Option<String>,
    /// The tool call of the parent run that started this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_call_id: Option<String>,
    /// The names of the agents from the root of the tree to this one (empty for a run that
    /// is not a sub-agent's; unnamed agents appear as `agent`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path: Vec<String>,
}

/// What happened during a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
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
    /// A tool call of a [resumed](crate::Agent::resume) run that had completed before the run
    /// was interrupted: its result comes from the store, and the call is not run again.
    ToolCallRestored {
        /// The model turn it belongs to.
        turn: usize,
        /// Position of the call in its turn.
        index: usize,
        /// The call and its stored result (its timing is not stored: zero).
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
    /// A started call paused: the sub-agent it runs waits for the user to confirm some of its
    /// own tool calls. The call does not complete now; the run pauses at the end of the batch,
    /// with the sub-agent's pending calls among its own
    /// ([`RunStatus::Paused`](crate::RunStatus::Paused)), and the call starts again, where the
    /// sub-agent stopped, when the run is continued.
    ToolCallPaused {
        /// The model turn it belongs to.
        turn: usize,
        /// Position of the call in its turn.
        index: usize,
        /// The call.
        call: ToolCall,
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
        #[serde(with = "crate::error::shared")]
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
