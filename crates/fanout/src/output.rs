//! What a finished run returns: [`RunOutput`] with its [`Metrics`], and the [`PausedRun`] a
//! run waiting for confirmation leaves. All plain data: they serialize to JSON and back.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::exec::ToolExecution;
use crate::model::{Message, Replay, Usage};
use crate::tool::ToolCall;

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TurnMetrics {
    /// From sending the request to the end of the answer.
    pub duration: Duration,
    /// From sending the request to the first streamed delta (streaming only).
    pub time_to_first_token: Option<Duration>,
    /// Token counts, when the provider reported them.
    pub usage: Option<Usage>,
}

/// Numbers about a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Token counts summed over all turns — the run's own and those of the sub-agents it ran
    /// (team members, [agents used as tools](crate::team::AgentTool)); the run's own alone are
    /// [`own_usage`](Self::own_usage), each sub-agent's are in [`members`](Self::members).
    pub usage: Usage,
    /// From the start of the run to the first streamed text.
    pub time_to_first_token: Option<Duration>,
    /// The whole run.
    pub duration: Duration,
    /// One entry per model turn.
    pub turns: Vec<TurnMetrics>,
    /// One entry per sub-agent run that completed under this run — and under those, in the
    /// order they completed (a member's own members follow it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<MemberMetrics>,
}

impl Metrics {
    /// The tokens of the run's own model turns, without its sub-agents'.
    pub fn own_usage(&self) -> Usage {
        self.turns.iter().filter_map(|turn| turn.usage).fold(Usage::default(), |mut sum, usage| {
            sum += usage;
            sum
        })
    }
}

/// What one sub-agent's run used: a team member's, or an
/// [agent used as a tool](crate::team::AgentTool)'s.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemberMetrics {
    /// The sub-agent's name.
    pub agent: Option<String>,
    /// The agents from the root of the tree to this one (see
    /// [`Origin::path`](crate::event::Origin::path)).
    pub path: Vec<String>,
    /// The sub-agent's run.
    pub run_id: String,
    /// The tool call that ran it, in the run above.
    pub call_id: String,
    /// Its tokens, its own sub-agents' included.
    pub usage: Usage,
    /// How long it ran (waits for confirmation excluded).
    pub duration: Duration,
}

/// The result of a run: the answer, the conversation, every tool execution with its timing.
///
/// Plain data: it serializes to JSON and back without loss (times as durations and wall-clock
/// timestamps), a paused run's state included.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunOutput {
    /// The run's id.
    pub run_id: String,
    /// The session it belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The user it ran for, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// When it started, by the wall clock.
    pub created_at: SystemTime,
    /// The final answer text (empty when the run ended for another reason, see `status`).
    pub content: String,
    /// How the run ended.
    pub status: RunStatus,
    /// The whole conversation: the history the run continued, the system prompt, this run's
    /// messages. See [`new_messages`](Self::new_messages) and [`all_messages`](Self::all_messages).
    pub messages: Vec<Message>,
    /// Where this run's own messages begin in `messages` (after the history and the system
    /// prompt).
    pub new_messages_from: usize,
    /// Every tool call of the run, in order, with its result and timing.
    pub tool_executions: Vec<ToolExecution>,
    /// Tokens and timings.
    pub metrics: Metrics,
    /// The final answer as JSON, checked against the agent's
    /// [`output_schema`](crate::AgentBuilder::output_schema) (`None` without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structured: Option<serde_json::Value>,
    /// What is needed to continue a paused run: taken once, by [`take_paused`](Self::take_paused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
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

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<PausedRun>> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl std::fmt::Debug for PausedSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.lock().is_some() { "PausedRun { .. }" } else { "PausedRun (taken)" })
    }
}

/// A paused run serializes as its state while it has not been taken (`null` after).
impl Serialize for PausedSlot {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.lock().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for PausedSlot {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let paused = Option::<PausedRun>::deserialize(deserializer)?;
        Ok(Self(Arc::new(Mutex::new(paused))))
    }
}

/// A run waiting for the user to approve or reject calls of tools that require confirmation.
/// Take it out of the output with [`RunOutput::take_paused`] and continue it with
/// [`Agent::continue_run`](crate::Agent::continue_run), which consumes it: it cannot be cloned
/// or continued twice, so an approved call runs once. It serializes to JSON, so another process
/// can continue it (the store keeps it with the paused run).
#[derive(Debug, Serialize, Deserialize)]
pub struct PausedRun {
    pub(crate) run_id: String,
    pub(crate) session_id: Option<String>,
    pub(crate) user_id: Option<String>,
    pub(crate) created_at: SystemTime,
    pub(crate) messages: Vec<Message>,
    pub(crate) new_messages_from: usize,
    pub(crate) executions: Vec<ToolExecution>,
    pub(crate) metrics: Metrics,
    /// The paused model turn.
    pub(crate) turn: usize,
    /// All calls of the paused turn.
    pub(crate) calls: Vec<ToolCall>,
    pub(crate) text: Option<String>,
    pub(crate) replay: Option<Replay>,
    /// Executions of the turn's calls that needed no confirmation, by call index.
    pub(crate) done: Vec<(usize, ToolExecution)>,
    /// Indices of the calls waiting for a decision.
    pub(crate) pending: Vec<usize>,
    /// Calls of the paused turn that ran sub-agents which paused themselves, waiting for
    /// decisions on their own calls.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) members: Vec<PausedMember>,
}

/// A sub-agent's run paused inside a paused run: resumed by the call that ran it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct PausedMember {
    /// The position of the call in the paused turn.
    pub(crate) index: usize,
    /// The sub-agent's pending calls, their ids prefixed with the call's (`call/child`), as the
    /// paused run lists them.
    pub(crate) pending: Vec<ToolCall>,
    /// The sub-agent's paused run.
    pub(crate) paused: PausedRun,
}

impl PausedRun {
    /// The id of the paused run.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The calls waiting for a decision, in the model's order: the run's own, then those of
    /// its sub-agents that paused, whose ids are prefixed with the id of the call that ran the
    /// sub-agent (`call_2/call_1_1`); decide on them by those ids.
    pub fn pending_calls(&self) -> impl Iterator<Item = &ToolCall> {
        let own = self.pending.iter().filter_map(|&index| self.calls.get(index));
        own.chain(self.members.iter().flat_map(|member| &member.pending))
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
        self.paused.as_ref()?.lock().take()
    }

    /// This run's messages: the user's message, the model's turns, the tool calls and their
    /// results — not the history it continued, not the system prompt. What a store keeps.
    pub fn new_messages(&self) -> &[Message] {
        self.messages.get(self.new_messages_from..).unwrap_or_default()
    }

    /// The whole conversation: the history, the system prompt and this run's messages; pass it
    /// as the [`history`](crate::agent::RunRequest::history) of the next run to continue
    /// without a store (the system prompt in it is skipped: each run sends its agent's own).
    pub fn all_messages(&self) -> &[Message] {
        &self.messages
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
