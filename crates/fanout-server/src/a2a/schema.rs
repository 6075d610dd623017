//! fanout's runs in A2A's JSON shapes (spec §4, ProtoJSON: camelCase fields, enums by name):
//! a run is a `Task` (its id the run's, its `contextId` the session's), its answer an
//! `Artifact` named `answer` and the status message, its messages the task's `history`; a run
//! paused for confirmation is `TASK_STATE_INPUT_REQUIRED`, its pending calls in a data part.

use std::time::SystemTime;

use fanout::models::{Message, Usage};
use fanout::output::PausedRun;
use fanout::store::{RunState, StoredRun};
use fanout::tool::ToolCall;
use fanout::{Metrics, RunOutput};
use serde_json::{Value, json};

/// The id of the artifact that carries a task's answer.
pub(crate) const ANSWER: &str = "answer";

/// A task's state (`TaskState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TaskState {
    /// Accepted, not started.
    Submitted,
    /// Going on.
    Working,
    /// Answered.
    Completed,
    /// Ended with an error.
    Failed,
    /// Cancelled.
    Canceled,
    /// Waiting for the user's decisions on tool calls.
    InputRequired,
}

impl TaskState {
    /// Its ProtoJSON name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TaskState::Submitted => "TASK_STATE_SUBMITTED",
            TaskState::Working => "TASK_STATE_WORKING",
            TaskState::Completed => "TASK_STATE_COMPLETED",
            TaskState::Failed => "TASK_STATE_FAILED",
            TaskState::Canceled => "TASK_STATE_CANCELED",
            TaskState::InputRequired => "TASK_STATE_INPUT_REQUIRED",
        }
    }

    /// The state of a stored run. An interrupted run (its server stopped) has failed as far as
    /// A2A can tell: it cannot be continued by a message.
    pub(crate) fn of(state: RunState) -> Self {
        match state {
            RunState::Paused => TaskState::InputRequired,
            RunState::Completed => TaskState::Completed,
            RunState::Cancelled => TaskState::Canceled,
            RunState::Running => TaskState::Working,
            _ => TaskState::Failed,
        }
    }
}

/// The ids that name a task.
#[derive(Debug, Clone)]
pub(crate) struct TaskIds {
    /// The run's id.
    pub(crate) task_id: String,
    /// The session's id.
    pub(crate) context_id: String,
}

/// `2025-06-10T12:00:00.123Z`: a `google.protobuf.Timestamp` in ProtoJSON, milliseconds as the
/// spec asks.
pub(crate) fn timestamp(at: SystemTime) -> String {
    let millis = at.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.subsec_millis()).unwrap_or_default();
    let seconds = crate::time::rfc3339(at);
    format!("{}.{millis:03}Z", seconds.trim_end_matches('Z'))
}

/// A text part.
pub(crate) fn text_part(text: &str) -> Value {
    json!({"text": text})
}

/// A JSON data part.
pub(crate) fn data_part(data: Value) -> Value {
    json!({"data": data, "mediaType": "application/json"})
}

/// A message of the agent's in the task.
pub(crate) fn agent_message(ids: &TaskIds, message_id: String, parts: Vec<Value>) -> Value {
    json!({
        "messageId": message_id,
        "contextId": ids.context_id,
        "taskId": ids.task_id,
        "role": "ROLE_AGENT",
        "parts": parts,
    })
}

/// A `TaskStatus`: the state, now, and the message that goes with it.
pub(crate) fn status(state: TaskState, message: Option<Value>) -> Value {
    let mut status = json!({"state": state.as_str(), "timestamp": timestamp(SystemTime::now())});
    if let Some(message) = message {
        status["message"] = message;
    }
    status
}

/// The artifact holding the answer.
pub(crate) fn answer_artifact(parts: Vec<Value>) -> Value {
    json!({"artifactId": ANSWER, "name": ANSWER, "parts": parts})
}

/// A `Task`; `history_length` keeps the newest messages of its history (0: none).
pub(crate) fn task(
    ids: &TaskIds,
    status: Value,
    artifacts: Vec<Value>,
    mut history: Vec<Value>,
    history_length: Option<usize>,
    metadata: Option<Value>,
) -> Value {
    let mut task = json!({"id": ids.task_id, "contextId": ids.context_id, "status": status});
    if !artifacts.is_empty() {
        task["artifacts"] = Value::Array(artifacts);
    }
    if let Some(keep) = history_length {
        history.drain(..history.len().saturating_sub(keep));
    }
    if !history.is_empty() {
        task["history"] = Value::Array(history);
    }
    if let Some(metadata) = metadata {
        task["metadata"] = metadata;
    }
    task
}

/// A call as the data parts name it.
fn call(call: &ToolCall) -> Value {
    let arguments = serde_json::from_str::<Value>(&call.arguments).unwrap_or_else(|_| json!(call.arguments));
    json!({"toolCallId": call.id, "name": call.name, "arguments": arguments})
}

/// The status message of a task waiting for decisions: the calls, and how to answer.
pub(crate) fn pending_message(ids: &TaskIds, pending: &[ToolCall]) -> Value {
    let names: Vec<String> = pending.iter().map(|c| format!("{} ({})", c.name, c.id)).collect();
    let text = format!(
        "Waiting for your approval of {}. Answer in this task with a data part \
         {{\"approved\": true|false, \"note\": \"…\", \"toolCallId\": \"…\"}} (without toolCallId \
         for every call), or the text yes or no.",
        names.join(", ")
    );
    let data = json!({"pendingCalls": pending.iter().map(call).collect::<Vec<_>>()});
    agent_message(ids, format!("{}-input-required", ids.task_id), vec![text_part(&text), data_part(data)])
}

/// A run's messages as the task's history: the user's text, the agent's text, its tool calls
/// and their results (data parts).
pub(crate) fn history(ids: &TaskIds, messages: &[Message]) -> Vec<Value> {
    let mut history = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        let id = format!("{}-{i}", ids.task_id);
        match message {
            Message::User { content } => history.push(json!({
                "messageId": id,
                "contextId": ids.context_id,
                "taskId": ids.task_id,
                "role": "ROLE_USER",
                "parts": [text_part(content)],
            })),
            Message::Assistant { content, tool_calls, .. } => {
                let mut parts = Vec::new();
                if let Some(text) = content.as_deref().filter(|t| !t.is_empty()) {
                    parts.push(text_part(text));
                }
                if !tool_calls.is_empty() {
                    parts.push(data_part(
                        json!({"toolCalls": tool_calls.iter().map(call).collect::<Vec<_>>()}),
                    ));
                }
                if !parts.is_empty() {
                    history.push(agent_message(ids, id, parts));
                }
            }
            Message::Tool { call_id, name, content, is_error } => history.push(agent_message(
                ids,
                id,
                vec![data_part(json!({"toolResult": {
                    "toolCallId": call_id, "name": name, "result": content, "error": is_error,
                }}))],
            )),
            _ => {}
        }
    }
    history
}

/// Token counts, under `fanout` in a task's metadata.
pub(crate) fn usage_metadata(usage: &Usage, status: Option<Value>) -> Value {
    json!({"fanout": {
        "usage": {
            "inputTokens": usage.input_tokens,
            "outputTokens": usage.output_tokens,
            "totalTokens": usage.total_tokens,
        },
        "status": status,
    }})
}

/// The answer's parts: its text, and its JSON when the agent has an output schema.
pub(crate) fn answer_parts(content: &str, structured: Option<&Value>) -> Vec<Value> {
    let mut parts = vec![text_part(content)];
    if let Some(structured) = structured {
        parts.push(data_part(structured.clone()));
    }
    parts
}

/// The task of a run that ended with `output` (answered, or paused for decisions).
pub(crate) fn output_task(ids: &TaskIds, output: &RunOutput, history_length: Option<usize>) -> Value {
    let pending = output.pending_calls();
    let run_status = serde_json::to_value(&output.status).map(|v| v["status"].clone()).ok();
    let metadata = Some(usage_metadata(&output.metrics.usage, run_status));
    let history = history(ids, output.new_messages());
    if !pending.is_empty() {
        let status = status(TaskState::InputRequired, Some(pending_message(ids, pending)));
        return task(ids, status, Vec::new(), history, history_length, metadata);
    }
    let parts = answer_parts(&output.content, output.structured.as_ref());
    let message = agent_message(ids, format!("{}-answer", ids.task_id), parts.clone());
    let status = status(TaskState::Completed, Some(message));
    task(ids, status, vec![answer_artifact(parts)], history, history_length, metadata)
}

/// The task of a run that failed or was cancelled.
pub(crate) fn failed_task(ids: &TaskIds, err: &fanout::Error) -> Value {
    let state = if err.is_cancelled() { TaskState::Canceled } else { TaskState::Failed };
    let message = agent_message(ids, format!("{}-error", ids.task_id), vec![text_part(err.message())]);
    task(ids, status(state, Some(message)), Vec::new(), Vec::new(), None, None)
}

/// The task of a stored run, from what its state stored with it: the answer and its usage, the
/// paused run's pending calls, the error.
pub(crate) fn stored_task(run: &StoredRun, history_length: Option<usize>) -> Value {
    let ids = TaskIds { task_id: run.record.run_id.clone(), context_id: run.record.session_id.clone() };
    let state = TaskState::of(run.state);
    let history = history(&ids, &run.messages);
    let data = run.data.as_ref();
    let (message, artifacts, metadata) = match run.state {
        RunState::Completed => {
            let content = data.and_then(|d| d.get("content")).and_then(Value::as_str).unwrap_or_default();
            let parts =
                answer_parts(content, data.and_then(|d| d.get("structured")).filter(|s| !s.is_null()));
            let message = agent_message(&ids, format!("{}-answer", ids.task_id), parts.clone());
            let metrics = data
                .and_then(|d| d.get("metrics"))
                .and_then(|m| serde_json::from_value::<Metrics>(m.clone()).ok());
            let run_status = data.and_then(|d| d.get("status")).and_then(|s| s.get("status")).cloned();
            let metadata = metrics.map(|m| usage_metadata(&m.usage, run_status));
            (Some(message), vec![answer_artifact(parts)], metadata)
        }
        RunState::Paused => {
            let paused = data.and_then(|d| serde_json::from_value::<PausedRun>(d.clone()).ok());
            let pending: Vec<ToolCall> =
                paused.as_ref().map(|p| p.pending_calls().cloned().collect()).unwrap_or_default();
            (Some(pending_message(&ids, &pending)), Vec::new(), None)
        }
        RunState::Running => (None, Vec::new(), None),
        _ => {
            let text = data
                .and_then(|d| d.get("message"))
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| format!("The run is {}", run.state));
            let message = agent_message(&ids, format!("{}-error", ids.task_id), vec![text_part(&text)]);
            (Some(message), Vec::new(), None)
        }
    };
    let mut status = status(state, message);
    status["timestamp"] = json!(timestamp(run.updated_at));
    task(&ids, status, artifacts, history, history_length, metadata)
}
