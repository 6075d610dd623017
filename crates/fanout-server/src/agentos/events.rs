//! A run's [`RunEvent`]s as AgentOS's Server-Sent Events: `event: RunContent` / `data: {...}`,
//! named and shaped as agno 3.x's `agno.run.agent` event classes, numbered by `event_index`.
//!
//! | fanout | AgentOS |
//! |---|---|
//! | `RunStarted` | `RunStarted` (`model`, `model_provider`) |
//! | (a continued run's first event) | `RunContinued` |
//! | `ContentDelta` | `RunContent` (`content`) |
//! | `ReasoningDelta` | `ReasoningContentDelta` (`reasoning_content`) |
//! | `ToolCallStarted` | `ToolCallStarted` (`tool`) |
//! | `ToolCallCompleted` | `ToolCallCompleted` (`tool` with `result`, `metrics`; `content`) |
//! | `ToolCallCancelled` | `ToolCallError` (`tool`, `error`) |
//! | `ToolCallProgress`, `ModelRetry` | `CustomEvent` (`fanout` says which) |
//! | `ModelTurnCompleted` | `ModelRequestCompleted` (token counts) |
//! | `RunCompleted`, paused | `RunPaused` (`tools` waiting for confirmation, `requirements`) |
//! | `RunCompleted` | `RunCompleted` (`content`, `metrics`) |
//! | the run's error | `RunError` (`content`, `error_type`) or `RunCancelled` (`reason`) |
//!
//! fanout's details (a call's turn and position, when it started relative to the run, its wait;
//! the retry policy's numbers) ride along under `fanout`, which Agno's client drops.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use fanout::event::{EventKind, RunEvent};
use fanout::tool::ToolCall;
use serde_json::{Map, Value, json};

use super::schema;
use crate::runs::{Encode, Frame, Protocol, RunContext};
use crate::time::secs;

/// Encodes one run's events, in order.
#[derive(Debug)]
pub(crate) struct Encoder {
    ctx: Arc<RunContext>,
    /// A paused run continued: its stream opens with `RunContinued`.
    continued: bool,
    next_index: u64,
    /// Calls that started, by (turn, index): progress events name their call.
    calls: HashMap<(usize, usize), ToolCall>,
}

impl Encoder {
    /// The encoder of a run's stream; a `continued` run's opens with `RunContinued`.
    pub(crate) fn new(ctx: Arc<RunContext>, continued: bool) -> Self {
        Self { ctx, continued, next_index: 0, calls: HashMap::new() }
    }

    /// The event for one item of the run's stream.
    pub(crate) fn encode(&mut self, item: &fanout::Result<RunEvent>) -> Frame {
        match item {
            Ok(event) => self.run_event(event),
            Err(err) => self.error(err),
        }
    }

    /// The run's error: `RunCancelled` or `RunError`.
    pub(crate) fn error(&mut self, err: &fanout::Error) -> Frame {
        let mut data = self.base(None);
        if err.is_cancelled() {
            data.insert("reason".into(), json!(err.message()));
            data.insert("content".into(), json!(err.message()));
            self.frame("RunCancelled", data, Some("CANCELLED"))
        } else {
            data.insert("content".into(), json!(err.message()));
            data.insert("error_type".into(), serde_json::to_value(err.kind()).unwrap_or(Value::Null));
            data.insert("fanout".into(), json!({"error": err}));
            self.frame("RunError", data, Some("ERROR"))
        }
    }

    fn run_event(&mut self, event: &RunEvent) -> Frame {
        let mut data = self.base(Some(event));
        let now = SystemTime::now();
        match &event.kind {
            EventKind::RunStarted { model, .. } => {
                data.insert("model".into(), json!(model));
                data.insert("model_provider".into(), json!(self.ctx.provider));
                self.frame("RunStarted", data, None)
            }
            EventKind::ContentDelta(text) => {
                data.insert("content".into(), json!(text));
                data.insert("content_type".into(), json!("str"));
                self.frame("RunContent", data, None)
            }
            EventKind::ReasoningDelta(text) => {
                data.insert("reasoning_content".into(), json!(text));
                self.frame("ReasoningContentDelta", data, None)
            }
            EventKind::ToolCallStarted { turn, index, call, at } => {
                self.calls.insert((*turn, *index), call.clone());
                data.insert("tool".into(), schema::started_call(call, now));
                data.insert(
                    "fanout".into(),
                    json!({"turn": turn, "index": index, "at": schema::seconds(*at)}),
                );
                self.frame("ToolCallStarted", data, None)
            }
            EventKind::ToolCallCompleted { turn, index, execution } => {
                self.calls.remove(&(*turn, *index));
                data.insert("tool".into(), schema::tool_execution(execution));
                data.insert("content".into(), json!(execution.content_for_model()));
                data.insert("fanout".into(), json!({"turn": turn, "index": index}));
                self.frame("ToolCallCompleted", data, None)
            }
            EventKind::ToolCallCancelled { turn, index, call, reason } => {
                self.calls.remove(&(*turn, *index));
                data.insert("tool".into(), schema::started_call(call, now));
                data.insert("error".into(), json!(reason));
                data.insert("fanout".into(), json!({"turn": turn, "index": index, "cancelled": true}));
                self.frame("ToolCallError", data, None)
            }
            EventKind::ToolCallProgress { turn, index, progress, total, message } => {
                let call_id = self.calls.get(&(*turn, *index)).map(|c| c.id.clone());
                data.insert("tool_call_id".into(), json!(call_id));
                data.insert(
                    "fanout".into(),
                    json!({"event": "ToolCallProgress", "turn": turn, "index": index, "progress": progress, "total": total, "message": message}),
                );
                self.frame("CustomEvent", data, None)
            }
            EventKind::ModelRetry { turn, retry, max_retries, wait, error } => {
                data.insert(
                    "fanout".into(),
                    json!({"event": "ModelRetry", "turn": turn, "retry": retry, "max_retries": max_retries, "wait": schema::seconds(*wait), "error": error}),
                );
                self.frame("CustomEvent", data, None)
            }
            EventKind::ModelTurnCompleted { turn, tool_calls, usage, duration, .. } => {
                data.insert("model".into(), json!(self.ctx.model));
                data.insert("model_provider".into(), json!(self.ctx.provider));
                if let Some(usage) = usage {
                    data.insert("input_tokens".into(), json!(usage.input_tokens));
                    data.insert("output_tokens".into(), json!(usage.output_tokens));
                    data.insert("total_tokens".into(), json!(usage.total_tokens));
                }
                data.insert(
                    "fanout".into(),
                    json!({"turn": turn, "tool_calls": tool_calls, "duration": schema::seconds(*duration)}),
                );
                self.frame("ModelRequestCompleted", data, None)
            }
            EventKind::RunCompleted(output) => {
                let pending = output.pending_calls();
                if pending.is_empty() {
                    data.insert("content".into(), json!(output.content));
                    data.insert("content_type".into(), json!("str"));
                    data.insert("metrics".into(), schema::metrics(&output.metrics));
                    let tools: Vec<Value> =
                        output.tool_executions.iter().map(schema::tool_execution).collect();
                    data.insert("tools".into(), json!(tools));
                    let status =
                        serde_json::to_value(&output.status).map(|v| v["status"].clone()).unwrap_or_default();
                    data.insert("fanout".into(), json!({"status": status, "structured": output.structured}));
                    self.frame("RunCompleted", data, Some("COMPLETED"))
                } else {
                    let mut tools: Vec<Value> =
                        output.tool_executions.iter().map(schema::tool_execution).collect();
                    tools.extend(pending.iter().map(|c| schema::pending_call(c, now)));
                    data.insert("tools".into(), json!(tools));
                    let requirements: Vec<Value> =
                        pending.iter().map(|c| schema::requirement(c, now)).collect();
                    data.insert("requirements".into(), json!(requirements));
                    data.insert("content".into(), json!(output.content));
                    self.frame("RunPaused", data, Some("PAUSED"))
                }
            }
            _ => {
                data.insert("fanout".into(), json!({"event": "unknown"}));
                self.frame("CustomEvent", data, None)
            }
        }
    }

    /// The fields every AgentOS agent event has. Events of a sub-agent's run name that run and
    /// its parent.
    fn base(&self, event: Option<&RunEvent>) -> Map<String, Value> {
        let ctx = &self.ctx;
        let origin = event.map(|e| &*e.origin);
        let mut data = Map::new();
        data.insert("created_at".into(), json!(secs(SystemTime::now())));
        data.insert("agent_id".into(), json!(ctx.agent_id));
        let nested = origin.is_some_and(|o| o.parent_run_id.is_some());
        let name = match origin.and_then(|o| o.agent.as_deref()) {
            Some(name) if nested => name,
            _ => &ctx.agent_name,
        };
        data.insert("agent_name".into(), json!(name));
        data.insert("run_id".into(), json!(origin.map_or(ctx.run_id.as_str(), |o| o.run_id.as_str())));
        if let Some(parent) = origin.and_then(|o| o.parent_run_id.as_deref()) {
            data.insert("parent_run_id".into(), json!(parent));
        }
        let session = origin.and_then(|o| o.session_id.as_deref()).or(ctx.session_id.as_deref());
        data.insert("session_id".into(), json!(session));
        data
    }

    fn frame(
        &mut self,
        name: &'static str,
        mut data: Map<String, Value>,
        terminal: Option<&'static str>,
    ) -> Frame {
        let index = self.next_index;
        self.next_index += 1;
        data.insert("event".into(), json!(name));
        data.insert("event_index".into(), json!(index));
        Frame { index, bytes: sse(name, &Value::Object(data)), terminal }
    }
}

impl Encode for Encoder {
    fn protocol(&self) -> Protocol {
        Protocol::AgentOs
    }

    fn open(&mut self) -> Option<Frame> {
        let continued = std::mem::take(&mut self.continued);
        continued.then(|| {
            let base = self.base(None);
            self.frame("RunContinued", base, None)
        })
    }

    fn event(&mut self, item: &fanout::Result<RunEvent>) -> Option<Frame> {
        Some(self.encode(item))
    }
}

/// One SSE frame: `event: name`, `data: <json on one line>`, a blank line.
pub(crate) fn sse(name: &str, data: &Value) -> Bytes {
    // serde_json never writes a raw newline inside a value, so the data is one line.
    let json = serde_json::to_string(data).unwrap_or_else(|_| "{}".to_owned());
    let mut out = String::with_capacity(json.len() + name.len() + 16);
    out.push_str("event: ");
    out.push_str(name);
    out.push_str("\ndata: ");
    out.push_str(&json);
    out.push_str("\n\n");
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fanout::event::Origin;

    fn ctx() -> Arc<RunContext> {
        RunContext::scripted("seed", Some("s1"))
    }

    #[test]
    fn content_is_one_sse_frame_with_its_index() {
        let mut encoder = Encoder::new(ctx(), false);
        let origin = Arc::new(Origin { run_id: "r1".into(), ..Origin::default() });
        let first = encoder
            .encode(&Ok(RunEvent { origin: origin.clone(), kind: EventKind::ContentDelta("a\nb\"".into()) }));
        let second = encoder.encode(&Ok(RunEvent { origin, kind: EventKind::ContentDelta("c".into()) }));
        let text = std::str::from_utf8(&first.bytes).unwrap();
        assert!(text.starts_with("event: RunContent\ndata: {"), "{text}");
        assert!(text.ends_with("}\n\n"));
        assert_eq!(text.matches('\n').count(), 3, "the data is one line: {text}");
        let data: Value =
            serde_json::from_str(text.lines().nth(1).unwrap().strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(data["content"], "a\nb\"");
        assert_eq!(data["event"], "RunContent");
        assert_eq!(data["event_index"], 0);
        assert_eq!(data["agent_id"], "seed");
        assert_eq!(data["session_id"], "s1");
        assert_eq!(second.index, 1);
    }

    #[test]
    fn errors_end_the_stream() {
        let mut encoder = Encoder::new(ctx(), false);
        let frame = encoder.error(&fanout::Error::cancelled());
        assert_eq!(frame.terminal, Some("CANCELLED"));
        assert!(std::str::from_utf8(&frame.bytes).unwrap().starts_with("event: RunCancelled\n"));
    }
}
