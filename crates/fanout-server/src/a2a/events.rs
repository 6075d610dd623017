//! A run's [`RunEvent`]s as A2A's stream (spec §3.1.2): Server-Sent Events whose data is a
//! `StreamResponse`. Every A2A run keeps its events (a task outlives its client's connection and
//! can be subscribed to again), encoded bare as HTTP+JSON sends them; a JSON-RPC stream wraps each
//! as its request's result as it goes out ([`Binding::wrap`]).
//!
//! | fanout | A2A |
//! |---|---|
//! | (the stream opens) | `task` (`TASK_STATE_SUBMITTED`, the user's message) |
//! | `RunStarted` | `statusUpdate` `TASK_STATE_WORKING` |
//! | `ContentDelta` | `artifactUpdate` of the `answer` artifact, appended |
//! | `ToolCallStarted`, `ToolCallCompleted`, `ToolCallCancelled` (a sub-agent's too) | `statusUpdate` `TASK_STATE_WORKING` with a message: a text and a data part naming the call |
//! | `RunCompleted` | the last `artifactUpdate` (`lastChunk`), then `statusUpdate` `TASK_STATE_COMPLETED` with the answer |
//! | `RunCompleted`, paused | `statusUpdate` `TASK_STATE_INPUT_REQUIRED` with the pending calls |
//! | the run's error | `statusUpdate` `TASK_STATE_FAILED` or `TASK_STATE_CANCELED` |
//!
//! The answer's chunks are the top-level run's text as it streams. Text a model wrote before
//! calling tools is not the answer: when the chunks differ from the final answer, the last
//! `artifactUpdate` replaces them (`append: false`) with it.

use bytes::Bytes;
use fanout::event::{EventKind, RunEvent};
use serde_json::{Value, json};

use super::schema::{self, TaskIds, TaskState};
use crate::runs::{Encode, Frame, Protocol};

/// How the stream's events are wrapped.
#[derive(Debug, Clone)]
pub(crate) enum Binding {
    /// HTTP+JSON: the `StreamResponse` itself.
    Rest,
    /// JSON-RPC: `{"jsonrpc": "2.0", "id": …, "result": StreamResponse}`.
    JsonRpc(Value),
    /// A2A 0.3's JSON-RPC: the result in 0.3's shape.
    JsonRpcV03(Value),
}

impl Binding {
    /// A chunk of a task's kept stream (SSE events of bare `StreamResponse`s, or a keep-alive
    /// comment) as this binding sends it.
    pub(crate) fn wrap(&self, chunk: Bytes) -> Bytes {
        let id = match self {
            Binding::Rest => return chunk,
            Binding::JsonRpc(id) | Binding::JsonRpcV03(id) => id,
        };
        // 1.0's result is the response itself: its JSON (one line, written by the encoder) goes
        // into the envelope as it is, not parsed and written again.
        let head =
            format!(r#"{{"jsonrpc":"2.0","id":{},"result":"#, serde_json::to_string(id).unwrap_or_default());
        let mut out = Vec::with_capacity(chunk.len() + 64);
        for event in chunk.split(|b| *b == b'\n').filter(|line| !line.is_empty()) {
            let Some(data) = event.strip_prefix(b"data: ") else {
                // A comment (keep-alive) goes as it is.
                out.extend_from_slice(event);
                out.extend_from_slice(b"\n\n");
                continue;
            };
            match self {
                Binding::JsonRpcV03(_) => {
                    let response: Value = serde_json::from_slice(data).unwrap_or(Value::Null);
                    let result = super::v03::stream_event(&response);
                    sse_data(&mut out, &json!({"jsonrpc": "2.0", "id": id, "result": result}));
                }
                _ => {
                    out.extend_from_slice(b"data: ");
                    out.extend_from_slice(head.as_bytes());
                    out.extend_from_slice(data);
                    out.extend_from_slice(b"}\n\n");
                }
            }
        }
        Bytes::from(out)
    }
}

/// `data: <json>` and a blank line: one SSE event.
fn sse_data(out: &mut Vec<u8>, value: &Value) {
    // serde_json never writes a raw newline inside a value: the data is one line.
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(&serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec()));
    out.extend_from_slice(b"\n\n");
}

/// Encodes one task's run, in order.
#[derive(Debug)]
pub(crate) struct Encoder {
    ids: TaskIds,
    /// The message that started (or continued) the task, for the opening `task`.
    user: Value,
    next_index: u64,
    /// The answer's text streamed so far.
    streamed: String,
}

impl Encoder {
    /// The encoder of task `ids`, started by the user's message `user`.
    pub(crate) fn new(ids: TaskIds, user: Value) -> Self {
        Self { ids, user, next_index: 0, streamed: String::new() }
    }

    /// The frame for one item of the run's stream, if A2A shows it.
    fn encode(&mut self, item: &fanout::Result<RunEvent>) -> Option<Frame> {
        let event = match item {
            Ok(event) => event,
            Err(err) => {
                let state = if err.is_cancelled() { TaskState::Canceled } else { TaskState::Failed };
                let terminal = if err.is_cancelled() { "CANCELLED" } else { "ERROR" };
                let message = self.message("error", vec![schema::text_part(err.message())]);
                let update = self.status_update(state, Some(message), None);
                return Some(self.frame(&[update], Some(terminal)));
            }
        };
        if event.is_nested() {
            // A sub-agent's run: its tool activity shows, its text and its end are not the answer.
            return self.tool_activity(event).map(|update| self.frame(&[update], None));
        }
        match &event.kind {
            EventKind::RunStarted { .. } => {
                let update = self.status_update(TaskState::Working, None, None);
                Some(self.frame(&[update], None))
            }
            EventKind::ContentDelta(text) if !text.is_empty() => {
                let append = !self.streamed.is_empty();
                self.streamed.push_str(text);
                let update = self.artifact_update(vec![schema::text_part(text)], append, false);
                Some(self.frame(&[update], None))
            }
            EventKind::RunCompleted(output) => {
                let pending = output.pending_calls();
                if !pending.is_empty() {
                    let message = schema::pending_message(&self.ids, pending);
                    let update = self.status_update(TaskState::InputRequired, Some(message), None);
                    return Some(self.frame(&[update], Some("PAUSED")));
                }
                let parts = schema::answer_parts(&output.content, output.structured.as_ref());
                let whole = !self.streamed.is_empty() && self.streamed == output.content;
                let last = if whole && output.structured.is_none() {
                    // Every chunk was the answer: close the artifact.
                    self.artifact_update(vec![schema::text_part("")], true, true)
                } else {
                    self.artifact_update(parts.clone(), false, true)
                };
                let run_status = serde_json::to_value(&output.status).map(|v| v["status"].clone()).ok();
                let metadata = schema::usage_metadata(&output.metrics.usage, run_status);
                let message = self.message("answer", parts);
                let done = self.status_update(TaskState::Completed, Some(message), Some(metadata));
                Some(self.frame(&[last, done], Some("COMPLETED")))
            }
            _ => self.tool_activity(event).map(|update| self.frame(&[update], None)),
        }
    }

    /// A tool call starting or ending, as a working status with a message about it.
    fn tool_activity(&self, event: &RunEvent) -> Option<Value> {
        let (text, data) = match &event.kind {
            EventKind::ToolCallStarted { call, .. } => (
                format!("Calling {}", call.name),
                json!({"event": "toolCallStarted", "toolCallId": call.id, "name": call.name,
                       "arguments": serde_json::from_str::<Value>(&call.arguments).unwrap_or_else(|_| json!(call.arguments))}),
            ),
            EventKind::ToolCallCompleted { execution, .. } => (
                format!("{} finished", execution.call.name),
                json!({"event": "toolCallCompleted", "toolCallId": execution.call.id, "name": execution.call.name,
                       "result": execution.content_for_model(), "error": execution.is_error(),
                       "duration": execution.duration.as_secs_f64()}),
            ),
            EventKind::ToolCallCancelled { call, reason, .. } => (
                format!("{} was cancelled", call.name),
                json!({"event": "toolCallCancelled", "toolCallId": call.id, "name": call.name, "reason": reason}),
            ),
            _ => return None,
        };
        let mut data = data;
        if event.is_nested() {
            data["agent"] = json!(event.origin.agent);
            data["path"] = json!(event.origin.path);
            data["runId"] = json!(event.origin.run_id);
        }
        let id = match data["toolCallId"].as_str() {
            Some(call) => format!("{}-{}", data["event"].as_str().unwrap_or("tool"), call),
            None => "tool".to_owned(),
        };
        let message = self.message(&id, vec![schema::text_part(&text), schema::data_part(data)]);
        Some(self.status_update(TaskState::Working, Some(message), None))
    }

    /// An agent message of this task; `suffix` makes its id.
    fn message(&self, suffix: &str, parts: Vec<Value>) -> Value {
        schema::agent_message(&self.ids, format!("{}-{suffix}", self.ids.task_id), parts)
    }

    fn status_update(&self, state: TaskState, message: Option<Value>, metadata: Option<Value>) -> Value {
        let mut update = json!({
            "taskId": self.ids.task_id,
            "contextId": self.ids.context_id,
            "status": schema::status(state, message),
        });
        if let Some(metadata) = metadata {
            update["metadata"] = metadata;
        }
        json!({"statusUpdate": update})
    }

    fn artifact_update(&self, parts: Vec<Value>, append: bool, last_chunk: bool) -> Value {
        json!({"artifactUpdate": {
            "taskId": self.ids.task_id,
            "contextId": self.ids.context_id,
            "artifact": schema::answer_artifact(parts),
            "append": append,
            "lastChunk": last_chunk,
        }})
    }

    /// One frame of one or more `StreamResponse`s, each an SSE event.
    fn frame(&mut self, responses: &[Value], terminal: Option<&'static str>) -> Frame {
        let index = self.next_index;
        self.next_index += 1;
        let mut bytes = Vec::new();
        for response in responses {
            sse_data(&mut bytes, response);
        }
        Frame { index, bytes: Bytes::from(bytes), terminal }
    }
}

impl Encode for Encoder {
    fn protocol(&self) -> Protocol {
        Protocol::A2a
    }

    fn open(&mut self) -> Option<Frame> {
        let status = schema::status(TaskState::Submitted, None);
        let task = schema::task(&self.ids, status, Vec::new(), vec![self.user.clone()], None, None);
        Some(self.frame(&[json!({"task": task})], None))
    }

    fn event(&mut self, item: &fanout::Result<RunEvent>) -> Option<Frame> {
        self.encode(item)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use fanout::event::Origin;

    use super::*;

    fn encoder() -> Encoder {
        let ids = TaskIds { task_id: "t1".into(), context_id: "c1".into() };
        Encoder::new(ids, json!({"role": "ROLE_USER", "parts": [{"text": "hi"}]}))
    }

    fn data(frame: &Frame) -> Vec<Value> {
        events(&frame.bytes)
    }

    fn events(bytes: &[u8]) -> Vec<Value> {
        let text = std::str::from_utf8(bytes).unwrap_or_default();
        text.split("\n\n")
            .filter_map(|event| event.strip_prefix("data: "))
            .filter_map(|d| serde_json::from_str(d).ok())
            .collect()
    }

    #[test]
    fn the_stream_opens_with_the_task_and_appends_chunks() {
        let mut encoder = encoder();
        let open = encoder.open().map(|f| data(&f)).unwrap_or_default();
        assert_eq!(open[0]["task"]["status"]["state"], "TASK_STATE_SUBMITTED");
        assert_eq!(open[0]["task"]["history"][0]["parts"][0]["text"], "hi");
        let origin = Arc::new(Origin { run_id: "t1".into(), ..Origin::default() });
        let delta =
            |text: &str| Ok(RunEvent { origin: origin.clone(), kind: EventKind::ContentDelta(text.into()) });
        let first = encoder.event(&delta("a\nb")).map(|f| data(&f)).unwrap_or_default();
        let second = encoder.event(&delta("c")).map(|f| data(&f)).unwrap_or_default();
        assert_eq!(first[0]["artifactUpdate"]["append"], false);
        assert_eq!(first[0]["artifactUpdate"]["artifact"]["parts"][0]["text"], "a\nb");
        assert_eq!(second[0]["artifactUpdate"]["append"], true);
    }

    #[test]
    fn json_rpc_wraps_and_errors_end_the_stream() {
        let mut encoder = encoder();
        let frame = encoder.encode(&Err(fanout::Error::cancelled()));
        let frame = frame.unwrap_or_else(|| Frame { index: 0, bytes: Bytes::new(), terminal: None });
        assert_eq!(frame.terminal, Some("CANCELLED"));
        let mut chunk = frame.bytes.to_vec();
        chunk.extend_from_slice(b": keep-alive\n\n");
        let wrapped = Binding::JsonRpc(json!(7)).wrap(Bytes::from(chunk));
        let events = events(&wrapped);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["id"], 7);
        assert_eq!(events[0]["result"]["statusUpdate"]["status"]["state"], "TASK_STATE_CANCELED");
        assert!(wrapped.ends_with(b"\n\n: keep-alive\n\n"));
        assert_eq!(Binding::Rest.wrap(frame.bytes.clone()), frame.bytes);
    }
}
