//! A run's [`RunEvent`]s as AG-UI 1.0 events: Server-Sent Events `data: {json}` with camelCase
//! fields, in the order `@ag-ui/client`'s verifier requires (a message is started before its
//! content and ended before the run finishes, a sub-agent is started before its work).
//!
//! | fanout | AG-UI |
//! |---|---|
//! | (the stream opens) | `RUN_STARTED` (`threadId`, `runId`, `protocolVersion`) |
//! | `ContentDelta` | `TEXT_MESSAGE_START` (once per model turn), `TEXT_MESSAGE_CONTENT` |
//! | `ReasoningDelta` | `REASONING_START`, `REASONING_MESSAGE_START`, `REASONING_MESSAGE_CONTENT` |
//! | `ToolCallStarted` | `TOOL_CALL_START` (`parentMessageId`: the turn's message), `TOOL_CALL_ARGS`, `TOOL_CALL_END` |
//! | `ToolCallCompleted` | `TOOL_CALL_RESULT` (`role: tool`, `content`) |
//! | `ToolCallRestored` | the call's start, arguments, end and result |
//! | `ToolCallCancelled` | `TOOL_CALL_RESULT` saying so (a call without a result reads as pending) |
//! | `ToolCallProgress`, `ToolCallPaused`, `ModelRetry` | `CUSTOM` (`fanout.tool_call_progress` …) |
//! | `ModelTurnCompleted` | the turn's open text or reasoning ends |
//! | a sub-agent's events (team members) | `SUBAGENT_STARTED`, its events with `subagentRunId`, `SUBAGENT_FINISHED` / `SUBAGENT_ERROR` |
//! | `RunCompleted` | `RUN_FINISHED` (`result`: the answer, `usage`) |
//! | `RunCompleted`, paused | `RUN_FINISHED` with outcome `interrupt`: one interrupt per call waiting for confirmation, its id the call's |
//! | the run's error | `RUN_ERROR` (`message`, `code`), or `RUN_FINISHED` with outcome `cancelled` |

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use fanout::event::{EventKind, Origin, RunEvent};
use fanout::tool::ToolCall;
use fanout::{RunOutput, ToolExecution};
use serde_json::{Map, Value, json};

use crate::runs::{Encode, Frame, Protocol, RunContext};

/// The AG-UI protocol version these events follow.
const PROTOCOL_VERSION: &str = "1.0";

/// What an interrupt for a call waiting for confirmation is called (`Interrupt.reason`).
const CONFIRMATION: &str = "tool_call_confirmation";

/// Encodes one run's events, in order.
#[derive(Debug)]
pub(crate) struct Encoder {
    ctx: Arc<RunContext>,
    next_index: u64,
    /// The run's last event was encoded: nothing follows it.
    done: bool,
    /// What is open per agent: `None` for the run's own agent, a sub-agent's run id otherwise.
    lanes: HashMap<Option<String>, Lane>,
    /// Sub-agents started and not yet finished, in the order they started.
    subagents: Vec<Subagent>,
    /// Sub-agents finished in this run: their ids are not used again.
    finished: HashSet<String>,
    /// Calls that started, by (run, turn, index): progress events name their call.
    calls: HashMap<(String, usize, usize), String>,
    /// Calls already shown (start, arguments, end) when the run paused: continued, they only
    /// get their results (a client appends arguments sent twice).
    announced: HashSet<String>,
}

/// One agent's messages in the stream.
#[derive(Debug, Default)]
struct Lane {
    /// The assistant message of each model turn (its text and its tool calls): a turn's calls
    /// may start after the turn ended, and belong to its message still.
    turns: HashMap<usize, String>,
    /// The turn text is streamed for now: the one after the last that ended (unknown before a
    /// turn ended in this stream).
    text_turn: Option<usize>,
    /// The message text is streamed into, until its turn ends.
    text_id: Option<String>,
    text_open: bool,
    /// The message the last call was put in.
    last_id: Option<String>,
    /// The open reasoning message (and span) of the turn.
    reasoning_id: Option<String>,
}

impl Lane {
    /// The message of turn `turn`: the text streamed for it, if any, else a new one.
    fn turn_message(&mut self, turn: usize) -> String {
        if let Some(id) = self.turns.get(&turn) {
            return id.clone();
        }
        let id = match &self.text_id {
            Some(id) if self.text_turn.is_none_or(|t| t == turn) => id.clone(),
            _ => new_id(),
        };
        self.turns.insert(turn, id.clone());
        id
    }

    /// The message text goes into now.
    fn text_message(&mut self) -> String {
        if let Some(id) = &self.text_id {
            return id.clone();
        }
        let id = match self.text_turn {
            Some(turn) => self.turn_message(turn),
            None => new_id(),
        };
        self.text_id = Some(id.clone());
        id
    }
}

/// A sub-agent's run going on.
#[derive(Debug)]
struct Subagent {
    run_id: String,
    /// The run that called it.
    parent_run_id: Option<String>,
    /// The call of its parent that runs it.
    parent_call_id: Option<String>,
    /// That call's id on the wire, which prefixes its own calls' ids.
    call_prefix: String,
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// An event of `kind` with `fields`, attributed to the sub-agent `lane` names (if any).
fn event(kind: &str, lane: Option<&str>, fields: Value) -> Value {
    let mut object = match fields {
        Value::Object(object) => object,
        _ => Map::new(),
    };
    object.insert("type".into(), json!(kind));
    object.insert("timestamp".into(), json!(now_ms()));
    if let Some(run_id) = lane {
        object.insert("subagentRunId".into(), json!(run_id));
    }
    Value::Object(object)
}

impl Encoder {
    /// The encoder of a run's stream; `announced`: the calls a continued run's pause showed.
    pub(crate) fn new(ctx: Arc<RunContext>, announced: impl IntoIterator<Item = String>) -> Self {
        Self {
            ctx,
            next_index: 0,
            done: false,
            lanes: HashMap::new(),
            subagents: Vec::new(),
            finished: HashSet::new(),
            calls: HashMap::new(),
            announced: announced.into_iter().collect(),
        }
    }

    fn thread_id(&self) -> &str {
        self.ctx.session_id.as_deref().unwrap_or(&self.ctx.run_id)
    }

    /// The events for one item of the run's stream.
    fn encode(&mut self, item: &fanout::Result<RunEvent>) -> Vec<Value> {
        if self.done {
            return Vec::new();
        }
        let mut out = Vec::new();
        match item {
            Ok(event) => self.run_event(event, &mut out),
            Err(err) => self.error(err, &mut out),
        }
        out
    }

    fn run_event(&mut self, run_event: &RunEvent, out: &mut Vec<Value>) {
        let origin = &*run_event.origin;
        let lane = run_event.is_nested().then(|| origin.run_id.clone());
        if lane.is_some() {
            if self.finished.contains(&origin.run_id) {
                // A sub-agent closed with its parent's call: what it still says is not shown.
                return;
            }
            self.start_subagent(origin, out);
        }
        let tag = lane.as_deref();
        match &run_event.kind {
            EventKind::RunStarted { .. } => {}
            EventKind::ContentDelta(text) => {
                if text.is_empty() {
                    return;
                }
                self.close_reasoning(&lane, out);
                let state = self.lanes.entry(lane.clone()).or_default();
                let message_id = state.text_message();
                if !state.text_open {
                    state.text_open = true;
                    out.push(event(
                        "TEXT_MESSAGE_START",
                        tag,
                        json!({"messageId": message_id, "role": "assistant"}),
                    ));
                }
                out.push(event("TEXT_MESSAGE_CONTENT", tag, json!({"messageId": message_id, "delta": text})));
            }
            EventKind::ReasoningDelta(text) => {
                if text.is_empty() {
                    return;
                }
                self.close_text(&lane, out);
                let state = self.lanes.entry(lane.clone()).or_default();
                let reasoning_id = match &state.reasoning_id {
                    Some(id) => id.clone(),
                    None => {
                        let id = new_id();
                        state.reasoning_id = Some(id.clone());
                        out.push(event("REASONING_START", tag, json!({"messageId": id})));
                        out.push(event(
                            "REASONING_MESSAGE_START",
                            tag,
                            json!({"messageId": id, "role": "reasoning"}),
                        ));
                        id
                    }
                };
                out.push(event(
                    "REASONING_MESSAGE_CONTENT",
                    tag,
                    json!({"messageId": reasoning_id, "delta": text}),
                ));
            }
            EventKind::ToolCallStarted { turn, index, call, .. } => {
                let wire = self.wire_id(&lane, &call.id);
                self.calls.insert((origin.run_id.clone(), *turn, *index), wire.clone());
                if !self.announced.contains(&wire) {
                    self.start_call(&lane, Some(*turn), &wire, call, out);
                }
            }
            EventKind::ToolCallCompleted { turn, index, execution } => {
                self.calls.remove(&(origin.run_id.clone(), *turn, *index));
                self.call_result(&lane, &origin.run_id, execution, out);
            }
            EventKind::ToolCallRestored { turn, execution, .. } => {
                let wire = self.wire_id(&lane, &execution.call.id);
                self.start_call(&lane, Some(*turn), &wire, &execution.call, out);
                self.call_result(&lane, &origin.run_id, execution, out);
            }
            EventKind::ToolCallCancelled { turn, index, call, reason } => {
                self.calls.remove(&(origin.run_id.clone(), *turn, *index));
                self.finish_subagents_of(&origin.run_id, &call.id, Some(reason), out);
                out.push(event(
                    "TOOL_CALL_RESULT",
                    tag,
                    json!({
                        "messageId": new_id(),
                        "toolCallId": self.wire_id(&lane, &call.id),
                        "role": "tool",
                        "content": format!("Cancelled: {reason}"),
                    }),
                ));
            }
            EventKind::ToolCallProgress { turn, index, progress, total, message } => {
                let call_id = self.calls.get(&(origin.run_id.clone(), *turn, *index));
                out.push(event(
                    "CUSTOM",
                    tag,
                    json!({"name": "fanout.tool_call_progress", "value": {
                        "toolCallId": call_id, "progress": progress, "total": total, "message": message,
                    }}),
                ));
            }
            EventKind::ToolCallPaused { call, .. } => {
                out.push(event(
                    "CUSTOM",
                    tag,
                    json!({"name": "fanout.tool_call_paused", "value": {"toolCallId": self.wire_id(&lane, &call.id)}}),
                ));
            }
            EventKind::ModelRetry { turn, retry, max_retries, wait, error } => {
                // The turn starts over: its text so far stays as it was, the retry's is a new
                // message.
                self.end_turn(&lane, None, out);
                let state = self.lanes.entry(lane.clone()).or_default();
                state.turns.remove(turn);
                state.text_turn = Some(*turn);
                out.push(event(
                    "CUSTOM",
                    tag,
                    json!({"name": "fanout.model_retry", "value": {
                        "turn": turn, "retry": retry, "maxRetries": max_retries,
                        "waitSeconds": wait.as_secs_f64(), "error": error.message(),
                    }}),
                ));
            }
            EventKind::ModelTurnCompleted { turn, .. } => self.end_turn(&lane, Some(*turn), out),
            EventKind::RunCompleted(output) => match lane {
                Some(run_id) => self.finish_subagent(&run_id, Some(output), None, out),
                None => self.finish(output, out),
            },
            _ => {
                out.push(event("CUSTOM", tag, json!({"name": "fanout.unknown_event", "value": {}})));
            }
        }
    }

    /// `SUBAGENT_STARTED` for the sub-agent whose run `origin` names, unless it started.
    fn start_subagent(&mut self, origin: &Origin, out: &mut Vec<Value>) {
        if self.subagents.iter().any(|s| s.run_id == origin.run_id) {
            return;
        }
        let mut fields = json!({
            "subagentRunId": origin.run_id,
            "name": origin.agent.as_deref().unwrap_or("agent"),
        });
        if let Some(parent) = origin.parent_run_id.as_deref()
            && (self.subagents.iter().any(|s| s.run_id == parent) || self.finished.contains(parent))
        {
            fields["parentSubagentRunId"] = json!(parent);
        }
        // Its calls' ids are prefixed with its parent call's, as a paused run lists a
        // sub-agent's pending calls (`call_2/call_1_1`): ids of different agents' calls never
        // clash.
        let parent_lane = origin.parent_run_id.clone().filter(|parent| *parent != self.ctx.run_id);
        let call_prefix = match &origin.parent_call_id {
            Some(call_id) => self.wire_id(&parent_lane, call_id),
            None => origin.run_id.clone(),
        };
        if origin.parent_call_id.is_some() {
            fields["parentToolCallId"] = json!(call_prefix);
        }
        out.push(event("SUBAGENT_STARTED", None, fields));
        self.subagents.push(Subagent {
            run_id: origin.run_id.clone(),
            parent_run_id: origin.parent_run_id.clone(),
            parent_call_id: origin.parent_call_id.clone(),
            call_prefix,
        });
    }

    /// End sub-agent `run_id` (and those it started): `SUBAGENT_FINISHED` with its answer, or
    /// `SUBAGENT_ERROR` when it failed.
    fn finish_subagent(
        &mut self,
        run_id: &str,
        output: Option<&RunOutput>,
        error: Option<&str>,
        out: &mut Vec<Value>,
    ) {
        if !self.subagents.iter().any(|s| s.run_id == run_id) {
            return;
        }
        // The sub-agents it called end first.
        let inner: Vec<String> = self
            .subagents
            .iter()
            .filter(|s| s.parent_run_id.as_deref() == Some(run_id))
            .map(|s| s.run_id.clone())
            .collect();
        for inner in &inner {
            self.finish_subagent(inner, None, error, out);
        }
        self.subagents.retain(|s| s.run_id != run_id);
        self.finished.insert(run_id.to_owned());
        let lane = Some(run_id.to_owned());
        self.end_turn(&lane, None, out);
        self.lanes.remove(&lane);
        if let Some(message) = error {
            out.push(event("SUBAGENT_ERROR", None, json!({"subagentRunId": run_id, "message": message})));
            return;
        }
        let mut fields = json!({"subagentRunId": run_id});
        match output {
            Some(output) if !output.pending_calls().is_empty() => {
                fields["outcome"] = json!({"type": "suspended"});
            }
            Some(output) => {
                fields["outcome"] = json!({"type": "success"});
                if !output.content.is_empty() {
                    fields["result"] = json!(output.content);
                }
            }
            None => fields["outcome"] = json!({"type": "success"}),
        }
        out.push(event("SUBAGENT_FINISHED", None, fields));
    }

    /// The id on the wire of call `call_id` of `lane`'s agent.
    fn wire_id(&self, lane: &Option<String>, call_id: &str) -> String {
        let Some(run_id) = lane else { return call_id.to_owned() };
        match self.subagents.iter().find(|s| s.run_id == *run_id) {
            Some(subagent) => format!("{}/{call_id}", subagent.call_prefix),
            None => format!("{run_id}/{call_id}"),
        }
    }

    /// End the sub-agents that call `call_id` of run `run_id` ran, when it ends before they
    /// say they did.
    fn finish_subagents_of(
        &mut self,
        run_id: &str,
        call_id: &str,
        error: Option<&str>,
        out: &mut Vec<Value>,
    ) {
        let runs: Vec<String> = self
            .subagents
            .iter()
            .filter(|s| {
                s.parent_run_id.as_deref() == Some(run_id) && s.parent_call_id.as_deref() == Some(call_id)
            })
            .map(|s| s.run_id.clone())
            .collect();
        for run_id in runs {
            self.finish_subagent(&run_id, None, error, out);
        }
    }

    /// A call's start, arguments and end, in the message of its `turn` (the lane's last
    /// message when the turn is not known).
    fn start_call(
        &mut self,
        lane: &Option<String>,
        turn: Option<usize>,
        wire: &str,
        call: &ToolCall,
        out: &mut Vec<Value>,
    ) {
        // A call ends the text before it; text after it reopens the same message.
        self.close_text(lane, out);
        self.close_reasoning(lane, out);
        let tag = lane.as_deref();
        let state = self.lanes.entry(lane.clone()).or_default();
        let message_id = match turn {
            Some(turn) => state.turn_message(turn),
            // The last turn that ended (a paused run's): its text's message, or its calls'.
            None => (state.text_turn.and_then(|t| t.checked_sub(1)))
                .and_then(|t| state.turns.get(&t).cloned())
                .or_else(|| state.last_id.clone())
                .unwrap_or_else(new_id),
        };
        state.last_id = Some(message_id.clone());
        out.push(event(
            "TOOL_CALL_START",
            tag,
            json!({"toolCallId": wire, "toolCallName": call.name, "parentMessageId": message_id}),
        ));
        // fanout starts a call once its arguments are complete: they go in one piece.
        out.push(event("TOOL_CALL_ARGS", tag, json!({"toolCallId": wire, "delta": call.arguments})));
        out.push(event("TOOL_CALL_END", tag, json!({"toolCallId": wire})));
    }

    /// A call's result; the sub-agents it ran end with it.
    fn call_result(
        &mut self,
        lane: &Option<String>,
        run_id: &str,
        execution: &ToolExecution,
        out: &mut Vec<Value>,
    ) {
        let failed = execution.result.as_ref().err().map(ToString::to_string);
        self.finish_subagents_of(run_id, &execution.call.id, failed.as_deref(), out);
        out.push(event(
            "TOOL_CALL_RESULT",
            lane.as_deref(),
            json!({
                "messageId": new_id(),
                "toolCallId": self.wire_id(lane, &execution.call.id),
                "role": "tool",
                "content": execution.content_for_model(),
            }),
        ));
    }

    fn close_text(&mut self, lane: &Option<String>, out: &mut Vec<Value>) {
        let Some(state) = self.lanes.get_mut(lane) else { return };
        if std::mem::take(&mut state.text_open)
            && let Some(id) = &state.text_id
        {
            out.push(event("TEXT_MESSAGE_END", lane.as_deref(), json!({"messageId": id})));
        }
    }

    fn close_reasoning(&mut self, lane: &Option<String>, out: &mut Vec<Value>) {
        let Some(state) = self.lanes.get_mut(lane) else { return };
        if let Some(id) = state.reasoning_id.take() {
            out.push(event("REASONING_MESSAGE_END", lane.as_deref(), json!({"messageId": id})));
            out.push(event("REASONING_END", lane.as_deref(), json!({"messageId": id})));
        }
    }

    /// Model turn `turn` ended (or an unknown one): its text and reasoning end; the next
    /// turn's text is a new message.
    fn end_turn(&mut self, lane: &Option<String>, turn: Option<usize>, out: &mut Vec<Value>) {
        self.close_text(lane, out);
        self.close_reasoning(lane, out);
        let Some(state) = self.lanes.get_mut(lane) else { return };
        if let Some(turn) = turn {
            // The turn's calls that start later join its text.
            if let Some(id) = state.text_id.take() {
                state.turns.entry(turn).or_insert(id);
            }
            state.text_turn = Some(turn + 1);
        }
        state.text_id = None;
    }

    /// Everything still open ends (the run does): messages, reasoning, sub-agents.
    fn close_all(&mut self, error: Option<&str>, out: &mut Vec<Value>) {
        while let Some(first) = self.subagents.first() {
            let run_id = first.run_id.clone();
            self.finish_subagent(&run_id, None, error, out);
        }
        let lanes: Vec<Option<String>> = self.lanes.keys().cloned().collect();
        for lane in lanes {
            self.end_turn(&lane, None, out);
        }
    }

    /// The run's own `RunCompleted`: `RUN_FINISHED`, with the calls waiting for confirmation as
    /// interrupts when it paused.
    fn finish(&mut self, output: &RunOutput, out: &mut Vec<Value>) {
        self.close_all(None, out);
        self.done = true;
        let mut fields = json!({"threadId": self.thread_id(), "runId": self.ctx.run_id});
        let pending = output.pending_calls();
        if pending.is_empty() {
            fields["outcome"] = json!({"type": "success"});
            if let Some(structured) = output.structured.as_ref().filter(|v| !v.is_null()) {
                fields["result"] = structured.clone();
            } else if !output.content.is_empty() {
                fields["result"] = json!(output.content);
            }
        } else {
            // Calls waiting for confirmation have not started: shown now, so that the
            // interrupts name calls the client has.
            for call in pending {
                if !self.announced.contains(&call.id) {
                    self.start_call(&None, None, &call.id, call, out);
                }
            }
            let interrupts: Vec<Value> = pending.iter().map(interrupt).collect();
            fields["outcome"] = json!({"type": "interrupt", "interrupts": interrupts});
        }
        let usage = &output.metrics.usage;
        if usage.input_tokens + usage.output_tokens + usage.total_tokens > 0 {
            fields["usage"] = json!([{
                "provider": self.ctx.provider,
                "model": self.ctx.model,
                "inputTokens": usage.input_tokens,
                "outputTokens": usage.output_tokens,
                "totalTokens": usage.total_tokens,
                "reasoningTokens": usage.reasoning_tokens,
                "cachedInputTokens": usage.cached_input_tokens,
            }]);
        }
        out.push(event("RUN_FINISHED", None, fields));
    }

    /// The run's error: `RUN_ERROR`, or `RUN_FINISHED` with outcome `cancelled`.
    fn error(&mut self, err: &fanout::Error, out: &mut Vec<Value>) {
        self.done = true;
        if err.is_cancelled() {
            self.close_all(Some(err.message()), out);
            out.push(event(
                "RUN_FINISHED",
                None,
                json!({"threadId": self.thread_id(), "runId": self.ctx.run_id, "outcome": {"type": "cancelled"}}),
            ));
        } else {
            self.close_all(Some(err.message()), out);
            let code = serde_json::to_value(err.kind()).ok().and_then(|v| v.as_str().map(str::to_owned));
            let mut fields = json!({"message": err.message()});
            if let Some(code) = code {
                fields["code"] = json!(code);
            }
            out.push(event("RUN_ERROR", None, fields));
        }
    }

    fn frame(&mut self, events: &[Value], terminal: Option<&'static str>) -> Option<Frame> {
        if events.is_empty() {
            return None;
        }
        let index = self.next_index;
        self.next_index += 1;
        Some(Frame { index, bytes: sse(events), terminal })
    }
}

/// The interrupt for a call waiting for confirmation: its id is the call's; a resume entry
/// answers it (`resolved` runs the call unless its payload says `{"approved": false}`).
fn interrupt(call: &ToolCall) -> Value {
    let arguments: Value = serde_json::from_str(&call.arguments).unwrap_or_else(|_| json!(call.arguments));
    json!({
        "id": call.id,
        "reason": CONFIRMATION,
        "message": format!("Run {}?", call.name),
        "toolCallId": call.id,
        "responseSchema": {
            "type": "object",
            "properties": {
                "approved": {"type": "boolean", "description": "Run the call (true) or not (false)"},
                "note": {"type": "string", "description": "Why not, for the model"},
            },
        },
        "metadata": {"fanout": {"toolName": call.name, "arguments": arguments}},
    })
}

/// The terminal status of a frame ending with `events`' last one, if it ends the run.
fn terminal_of(events: &[Value]) -> Option<&'static str> {
    let last = events.last()?;
    match last["type"].as_str()? {
        "RUN_ERROR" => Some("ERROR"),
        "RUN_FINISHED" => match last["outcome"]["type"].as_str() {
            Some("interrupt") => Some("PAUSED"),
            Some("cancelled") => Some("CANCELLED"),
            _ => Some("COMPLETED"),
        },
        _ => None,
    }
}

impl Encode for Encoder {
    fn protocol(&self) -> Protocol {
        Protocol::AgUi
    }

    fn open(&mut self) -> Option<Frame> {
        let started = event(
            "RUN_STARTED",
            None,
            json!({"threadId": self.thread_id(), "runId": self.ctx.run_id, "protocolVersion": PROTOCOL_VERSION}),
        );
        self.frame(&[started], None)
    }

    fn event(&mut self, item: &fanout::Result<RunEvent>) -> Option<Frame> {
        let events = self.encode(item);
        let terminal = terminal_of(&events);
        self.frame(&events, terminal)
    }

    fn close(&mut self) -> Option<Frame> {
        if self.done {
            return None;
        }
        // The stream ended without the run's end (it cannot, but a client must not hang).
        self.done = true;
        let mut events = Vec::new();
        self.close_all(Some("the run ended without a result"), &mut events);
        events.push(event("RUN_ERROR", None, json!({"message": "The run ended without a result"})));
        self.frame(&events, Some("ERROR"))
    }
}

/// SSE frames, one `data:` line per event (serde_json writes no raw newline inside a value).
fn sse(events: &[Value]) -> Bytes {
    let mut out = Vec::new();
    for value in events {
        out.extend_from_slice(b"data: ");
        // A Value always serializes.
        if serde_json::to_writer(&mut out, value).is_err() {
            out.extend_from_slice(b"{}");
        }
        out.extend_from_slice(b"\n\n");
    }
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use fanout::Agent;
    use fanout::models::scripted::{ScriptedModel, Turn};
    use futures::StreamExt;

    fn ctx() -> Arc<RunContext> {
        RunContext::scripted("a", Some("t1"))
    }

    fn own(kind: EventKind) -> fanout::Result<RunEvent> {
        Ok(RunEvent { origin: Arc::new(Origin { run_id: "r1".into(), ..Origin::default() }), kind })
    }

    /// The order rules of `@ag-ui/client`'s verifier that an encoder can break.
    fn verify(events: &[Value]) {
        let mut open: HashSet<(String, String)> = HashSet::new();
        let mut subagents: HashSet<String> = HashSet::new();
        let mut ended = false;
        for (i, event) in events.iter().enumerate() {
            let kind = event["type"].as_str().unwrap();
            assert!(!ended, "{kind} after the run ended");
            assert_eq!(i == 0, kind == "RUN_STARTED", "RUN_STARTED first, once: {kind}");
            let id = |field: &str| (field.to_owned(), event[field].as_str().unwrap().to_owned());
            let key = |prefix: &str, field: &str| (format!("{prefix}{}", id(field).0), id(field).1);
            match kind {
                "TEXT_MESSAGE_START" => assert!(open.insert(key("text", "messageId")), "{event}"),
                "TEXT_MESSAGE_CONTENT" => assert!(open.contains(&key("text", "messageId")), "{event}"),
                "TEXT_MESSAGE_END" => assert!(open.remove(&key("text", "messageId")), "{event}"),
                "TOOL_CALL_START" => assert!(open.insert(key("call", "toolCallId")), "{event}"),
                "TOOL_CALL_ARGS" => assert!(open.contains(&key("call", "toolCallId")), "{event}"),
                "TOOL_CALL_END" => assert!(open.remove(&key("call", "toolCallId")), "{event}"),
                "REASONING_START" => assert!(open.insert(key("span", "messageId")), "{event}"),
                "REASONING_END" => assert!(open.remove(&key("span", "messageId")), "{event}"),
                "REASONING_MESSAGE_START" => assert!(open.insert(key("reasoning", "messageId")), "{event}"),
                "REASONING_MESSAGE_CONTENT" => {
                    assert!(open.contains(&key("reasoning", "messageId")), "{event}")
                }
                "REASONING_MESSAGE_END" => assert!(open.remove(&key("reasoning", "messageId")), "{event}"),
                "SUBAGENT_STARTED" => assert!(subagents.insert(id("subagentRunId").1), "{event}"),
                "SUBAGENT_FINISHED" | "SUBAGENT_ERROR" => {
                    assert!(subagents.remove(&id("subagentRunId").1), "{event}");
                }
                "RUN_FINISHED" => {
                    assert!(open.is_empty() && subagents.is_empty(), "still open: {open:?} {subagents:?}");
                    ended = true;
                }
                "RUN_ERROR" => ended = true,
                _ => {}
            }
        }
        assert!(ended, "the run ends");
    }

    fn encode_all(encoder: &mut Encoder, items: &[fanout::Result<RunEvent>]) -> Vec<Value> {
        let mut frames = vec![encoder.open().unwrap()];
        frames.extend(items.iter().filter_map(|item| encoder.event(item)));
        frames.extend(encoder.close());
        frames
            .iter()
            .flat_map(|frame| {
                let text = std::str::from_utf8(&frame.bytes).unwrap().to_owned();
                text.split("\n\n")
                    .filter_map(|f| f.strip_prefix("data: "))
                    .map(|d| serde_json::from_str::<Value>(d).unwrap())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Echo a word
    ///
    /// # Arguments
    /// * `word` - The word
    #[fanout::tool]
    fn echo(word: String) -> String {
        word
    }

    #[tokio::test]
    async fn a_runs_turns_are_messages_with_their_calls_and_reasoning_closes_before_text() {
        let agent = Agent::builder()
            .model(ScriptedModel::new([
                Turn::calls([
                    ("echo", serde_json::json!({"word": "a"})),
                    ("echo", serde_json::json!({"word": "b"})),
                ]),
                Turn::text("Done."),
            ]))
            .tool(echo)
            .build()
            .unwrap();
        let mut items: Vec<_> = agent.run("go").stream().collect().await;
        // Reasoning before the last turn's text, as a thinking model streams it.
        let answer = items
            .iter()
            .position(|i| matches!(&i.as_ref().unwrap().kind, EventKind::ContentDelta(_)))
            .unwrap();
        let origin = Arc::clone(&items[answer].as_ref().unwrap().origin);
        for text in ["thinking", " more"] {
            items.insert(
                answer,
                Ok(RunEvent { origin: Arc::clone(&origin), kind: EventKind::ReasoningDelta(text.into()) }),
            );
        }
        let events = encode_all(&mut Encoder::new(ctx(), []), &items);
        verify(&events);
        let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        let parents: HashSet<&str> = events
            .iter()
            .filter(|e| e["type"] == "TOOL_CALL_START")
            .map(|e| e["parentMessageId"].as_str().unwrap())
            .collect();
        assert_eq!(parents.len(), 1, "one turn, one message: {types:?}");
        let text = events.iter().find(|e| e["type"] == "TEXT_MESSAGE_START").unwrap();
        assert!(
            !parents.contains(text["messageId"].as_str().unwrap()),
            "the answer is the next turn's message"
        );
        let reasoning_end = types.iter().position(|t| *t == "REASONING_END").unwrap();
        assert!(reasoning_end < types.iter().position(|t| *t == "TEXT_MESSAGE_START").unwrap());
        let finished = events.last().unwrap();
        assert_eq!(finished["outcome"]["type"], "success");
        assert_eq!(finished["result"], "Done.");
        assert_eq!(finished["threadId"], "t1");
    }

    #[test]
    fn a_cancelled_run_closes_what_is_open_and_finishes_cancelled() {
        let mut encoder = Encoder::new(ctx(), []);
        let items = [own(EventKind::ContentDelta("Hel".into())), Err(fanout::Error::cancelled())];
        let events = encode_all(&mut encoder, &items);
        verify(&events);
        let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(
            types,
            ["RUN_STARTED", "TEXT_MESSAGE_START", "TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_END", "RUN_FINISHED"]
        );
        assert_eq!(events[4]["outcome"]["type"], "cancelled");
    }

    #[test]
    fn a_nested_run_is_a_subagent_closed_with_its_call_and_a_stream_without_an_end_is_an_error() {
        let mut encoder = Encoder::new(ctx(), []);
        let member = Arc::new(Origin {
            run_id: "m1".into(),
            agent: Some("member".into()),
            parent_run_id: Some("r1".into()),
            parent_call_id: Some("c1".into()),
            ..Origin::default()
        });
        let call = ToolCall::new("c1", "member", "{}");
        let inner = ToolCall::new("c1", "echo", "{}");
        let items = [
            own(EventKind::ToolCallStarted { turn: 0, index: 0, call, at: Duration::ZERO }),
            Ok(RunEvent { origin: Arc::clone(&member), kind: EventKind::ContentDelta("hm".into()) }),
            Ok(RunEvent {
                origin: member,
                kind: EventKind::ToolCallStarted { turn: 0, index: 0, call: inner, at: Duration::ZERO },
            }),
        ];
        let events = encode_all(&mut encoder, &items);
        verify(&events);
        let started = events.iter().find(|e| e["type"] == "SUBAGENT_STARTED").unwrap();
        assert_eq!(started["parentToolCallId"], "c1");
        let calls: Vec<&str> = events
            .iter()
            .filter(|e| e["type"] == "TOOL_CALL_START")
            .map(|e| e["toolCallId"].as_str().unwrap())
            .collect();
        assert_eq!(calls, ["c1", "c1/c1"], "a member's call ids never clash with its parent's");
        assert_eq!(events.last().unwrap()["type"], "RUN_ERROR");
    }
}
