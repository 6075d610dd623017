//! A run's [`RunEvent`]s as OpenAI's streams: chat completion chunks (`data: {...}` frames, then
//! `data: [DONE]`) and the Responses API's typed events (`event: response.…`, numbered by
//! `sequence_number`).
//!
//! Only the top-level run's text is the answer: a sub-agent's events (those with a
//! `parent_run_id`) are not shown. The text of every model turn streams (a later turn's on a new
//! paragraph), where a whole answer (not streamed) is the last turn's alone. The agent's tool
//! calls run on the server; a chat stream tells of them in a chunk with an empty delta and a
//! `fanout` object (`tool_call_started`, `tool_call_completed`) that OpenAI's clients ignore; a
//! response stream does not (the Responses API's typed events have no place for them, and its
//! client's stream helper checks their sequence).
//!
//! | fanout | chat completion chunks | Responses events |
//! |---|---|---|
//! | (open) | a chunk with `role: assistant` | `response.created`, `response.in_progress` |
//! | `ContentDelta` | a chunk with `content` | (`response.output_item.added`, `response.content_part.added` first) `response.output_text.delta` |
//! | `ToolCallStarted`, `ToolCallCompleted` | a chunk with `fanout` | — |
//! | `RunCompleted` | a chunk with `finish_reason` (and `usage` with `include_usage`) | `response.output_text.done`, `response.content_part.done`, `response.output_item.done`, `response.completed` (or `response.incomplete`) |
//! | the run's error | `data: {"error": …}` | `response.failed` |
//! | (close) | `data: [DONE]` (not after an error) | — |

use std::sync::Arc;

use bytes::Bytes;
use fanout::RunOutput;
use fanout::event::{EventKind, RunEvent};
use serde_json::{Value, json};

use super::error::stream_error;
use super::schema::{self, ResponseHead};
use crate::runs::{Encode, Frame, Protocol, RunContext};

/// `data: <json>` and a blank line.
fn data(out: &mut Vec<u8>, value: &Value) {
    // serde_json never writes a raw newline inside a value, so the data is one line.
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned()).as_bytes());
    out.extend_from_slice(b"\n\n");
}

/// The terminal status of a run's error, for the registry.
fn error_terminal(err: &fanout::Error) -> &'static str {
    if err.is_cancelled() { "CANCELLED" } else { "ERROR" }
}

/// The answer's text across model turns: text of a later turn (after tool calls) starts a new
/// paragraph, so that turns do not run into each other.
#[derive(Debug, Default)]
struct Paragraphs {
    /// Text was streamed.
    any: bool,
    /// Text was streamed in the current turn.
    in_turn: bool,
}

impl Paragraphs {
    /// What to send for `text`.
    fn delta(&mut self, text: &str) -> String {
        let out = if self.any && !self.in_turn { format!("\n\n{text}") } else { text.to_owned() };
        self.any = true;
        self.in_turn = true;
        out
    }

    fn turn_ended(&mut self) {
        self.in_turn = false;
    }
}

/// Encodes one run as chat completion chunks.
#[derive(Debug)]
pub(crate) struct ChatEncoder {
    ctx: Arc<RunContext>,
    created: u64,
    include_usage: bool,
    next_index: u64,
    /// The text streamed (a paused run's note then starts on a new paragraph).
    paragraphs: Paragraphs,
    /// The run failed: the stream ends with the error, without `[DONE]`.
    failed: bool,
}

impl ChatEncoder {
    /// The encoder of run `ctx`'s chunks, created at `created` (Unix seconds); with
    /// `include_usage`, a last chunk carries the run's usage (`stream_options.include_usage`).
    pub(crate) fn new(ctx: Arc<RunContext>, created: u64, include_usage: bool) -> Self {
        Self { ctx, created, include_usage, next_index: 0, paragraphs: Paragraphs::default(), failed: false }
    }

    fn frame(&mut self, bytes: Vec<u8>, terminal: Option<&'static str>) -> Frame {
        let index = self.next_index;
        self.next_index += 1;
        Frame { index, bytes: Bytes::from(bytes), terminal }
    }

    fn chunk(&self, delta: Value, finish_reason: Option<&str>) -> Value {
        schema::chunk(&self.ctx, self.created, delta, finish_reason)
    }

    fn completed(&mut self, output: &RunOutput) -> Frame {
        let ending = schema::ending(&self.ctx, output);
        let mut out = Vec::new();
        if let Some(note) = &ending.note {
            let text = if self.paragraphs.any { format!("\n\n{note}") } else { note.clone() };
            data(&mut out, &self.chunk(json!({"content": text}), None));
        }
        data(&mut out, &self.chunk(json!({}), Some(ending.finish_reason)));
        if self.include_usage {
            let mut usage = self.chunk(json!({}), None);
            usage["choices"] = json!([]);
            usage["usage"] = schema::chat_usage(&output.metrics.usage);
            data(&mut out, &usage);
        }
        self.frame(out, Some(ending.terminal))
    }
}

impl Encode for ChatEncoder {
    fn protocol(&self) -> Protocol {
        Protocol::OpenAi
    }

    fn open(&mut self) -> Option<Frame> {
        let mut out = Vec::new();
        data(&mut out, &self.chunk(json!({"role": "assistant", "content": ""}), None));
        Some(self.frame(out, None))
    }

    fn event(&mut self, item: &fanout::Result<RunEvent>) -> Option<Frame> {
        let event = match item {
            Ok(event) => event,
            Err(err) => {
                self.failed = true;
                let code = if err.is_cancelled() { "cancelled" } else { "run_failed" };
                let mut out = Vec::new();
                data(&mut out, &stream_error(err.message(), code));
                return Some(self.frame(out, Some(error_terminal(err))));
            }
        };
        if event.is_nested() {
            return None;
        }
        let (delta, fanout) = match &event.kind {
            EventKind::ContentDelta(text) if !text.is_empty() => {
                (json!({"content": self.paragraphs.delta(text)}), None)
            }
            EventKind::ModelTurnCompleted { .. } => {
                self.paragraphs.turn_ended();
                return None;
            }
            EventKind::ToolCallStarted { call, .. } => (
                json!({}),
                Some(
                    json!({"event": "tool_call_started", "id": call.id, "name": call.name, "arguments": call.arguments}),
                ),
            ),
            EventKind::ToolCallCompleted { execution, .. } => (
                json!({}),
                Some(json!({
                    "event": "tool_call_completed",
                    "id": execution.call.id,
                    "name": execution.call.name,
                    "error": execution.is_error(),
                })),
            ),
            EventKind::RunCompleted(output) => return Some(self.completed(output)),
            _ => return None,
        };
        let mut chunk = self.chunk(delta, None);
        if let Some(fanout) = fanout {
            chunk["fanout"] = fanout;
        }
        let mut out = Vec::new();
        data(&mut out, &chunk);
        Some(self.frame(out, None))
    }

    fn close(&mut self) -> Option<Frame> {
        (!self.failed).then(|| self.frame(b"data: [DONE]\n\n".to_vec(), None))
    }
}

/// Encodes one run as the Responses API's events.
#[derive(Debug)]
pub(crate) struct ResponseEncoder {
    ctx: Arc<RunContext>,
    head: ResponseHead,
    next_index: u64,
    sequence: u64,
    /// The message item was announced (`output_item.added`, `content_part.added`).
    open: bool,
    /// The text streamed so far.
    text: String,
    paragraphs: Paragraphs,
}

impl ResponseEncoder {
    /// The encoder of run `ctx`'s response events.
    pub(crate) fn new(ctx: Arc<RunContext>, head: ResponseHead) -> Self {
        Self {
            ctx,
            head,
            next_index: 0,
            sequence: 0,
            open: false,
            text: String::new(),
            paragraphs: Paragraphs::default(),
        }
    }

    /// One event: `event: <type>`, `data: {type, sequence_number, …fields}`.
    fn emit(&mut self, out: &mut Vec<u8>, kind: &str, mut fields: Value) {
        fields["type"] = json!(kind);
        fields["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(kind.as_bytes());
        out.push(b'\n');
        data(out, &fields);
    }

    fn frame(&mut self, bytes: Vec<u8>, terminal: Option<&'static str>) -> Frame {
        let index = self.next_index;
        self.next_index += 1;
        Frame { index, bytes: Bytes::from(bytes), terminal }
    }

    fn item_id(&self) -> String {
        schema::message_id(&self.head.run_id)
    }

    /// Announce the message item and its text part, once.
    fn open_message(&mut self, out: &mut Vec<u8>) {
        if std::mem::replace(&mut self.open, true) {
            return;
        }
        let item = schema::message_item(&self.head.run_id, None, "in_progress");
        self.emit(out, "response.output_item.added", json!({"output_index": 0, "item": item}));
        let part = schema::output_text("");
        let item_id = self.item_id();
        self.emit(
            out,
            "response.content_part.added",
            json!({"item_id": item_id, "output_index": 0, "content_index": 0, "part": part}),
        );
    }

    fn delta(&mut self, out: &mut Vec<u8>, text: &str) {
        self.open_message(out);
        self.text.push_str(text);
        let item_id = self.item_id();
        self.emit(
            out,
            "response.output_text.delta",
            json!({"item_id": item_id, "output_index": 0, "content_index": 0, "delta": text, "logprobs": []}),
        );
    }

    /// Close the message item with the text so far (`status` of the item).
    fn close_message(&mut self, out: &mut Vec<u8>, status: &str) -> Value {
        self.open_message(out);
        let item_id = self.item_id();
        let text = self.text.clone();
        self.emit(
            out,
            "response.output_text.done",
            json!({"item_id": item_id, "output_index": 0, "content_index": 0, "text": text, "logprobs": []}),
        );
        self.emit(
            out,
            "response.content_part.done",
            json!({"item_id": item_id, "output_index": 0, "content_index": 0, "part": schema::output_text(&text)}),
        );
        let item = schema::message_item(&self.head.run_id, Some(&text), status);
        self.emit(out, "response.output_item.done", json!({"output_index": 0, "item": item}));
        item
    }

    fn completed(&mut self, output: &RunOutput) -> Frame {
        let ending = schema::ending(&self.ctx, output);
        let mut out = Vec::new();
        if let Some(note) = &ending.note {
            let text = if self.text.is_empty() { note.clone() } else { format!("\n\n{note}") };
            self.delta(&mut out, &text);
        }
        let item = self.close_message(&mut out, "completed");
        let (status, kind) = if ending.complete {
            ("completed", "response.completed")
        } else {
            ("incomplete", "response.incomplete")
        };
        let response = schema::response(&self.head, status, vec![item], Some(&output.metrics.usage), None);
        self.emit(&mut out, kind, json!({"response": response}));
        self.frame(out, Some(ending.terminal))
    }

    fn failed(&mut self, err: &fanout::Error) -> Frame {
        let mut out = Vec::new();
        let output = if self.open { vec![self.close_message(&mut out, "incomplete")] } else { Vec::new() };
        let status = if err.is_cancelled() { "cancelled" } else { "failed" };
        let response = schema::response(&self.head, status, output, None, Some(err.message()));
        self.emit(&mut out, "response.failed", json!({"response": response}));
        self.frame(out, Some(error_terminal(err)))
    }
}

impl Encode for ResponseEncoder {
    fn protocol(&self) -> Protocol {
        Protocol::OpenAi
    }

    fn open(&mut self) -> Option<Frame> {
        let mut out = Vec::new();
        let response = schema::response(&self.head, "in_progress", Vec::new(), None, None);
        self.emit(&mut out, "response.created", json!({"response": response.clone()}));
        self.emit(&mut out, "response.in_progress", json!({"response": response}));
        Some(self.frame(out, None))
    }

    fn event(&mut self, item: &fanout::Result<RunEvent>) -> Option<Frame> {
        let event = match item {
            Ok(event) => event,
            Err(err) => return Some(self.failed(err)),
        };
        if event.is_nested() {
            return None;
        }
        match &event.kind {
            EventKind::ContentDelta(text) if !text.is_empty() => {
                let text = self.paragraphs.delta(text);
                let mut out = Vec::new();
                self.delta(&mut out, &text);
                Some(self.frame(out, None))
            }
            EventKind::ModelTurnCompleted { .. } => {
                self.paragraphs.turn_ended();
                None
            }
            EventKind::RunCompleted(output) => Some(self.completed(output)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fanout::event::Origin;

    fn ctx() -> Arc<RunContext> {
        RunContext::scripted("seed", None)
    }

    fn delta(text: &str, parent: Option<&str>) -> fanout::Result<RunEvent> {
        let origin =
            Origin { run_id: "r1".into(), parent_run_id: parent.map(str::to_owned), ..Origin::default() };
        Ok(RunEvent { origin: Arc::new(origin), kind: EventKind::ContentDelta(text.into()) })
    }

    fn datas(frame: &Frame) -> Vec<Value> {
        let text = std::str::from_utf8(&frame.bytes).unwrap();
        text.lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    }

    #[test]
    fn chat_chunks_carry_top_level_text_only() {
        let mut encoder = ChatEncoder::new(ctx(), 1, false);
        let open = encoder.open().unwrap();
        assert_eq!(datas(&open)[0]["choices"][0]["delta"]["role"], "assistant");
        let text = encoder.event(&delta("Hi", None)).unwrap();
        assert_eq!(datas(&text)[0]["choices"][0]["delta"]["content"], "Hi");
        assert_eq!(datas(&text)[0]["id"], "chatcmpl-r1");
        assert!(encoder.event(&delta("member", Some("r0"))).is_none());
        let done = encoder.close().unwrap();
        assert_eq!(&done.bytes[..], b"data: [DONE]\n\n");
    }

    #[test]
    fn a_later_turn_starts_a_new_paragraph() {
        let mut encoder = ChatEncoder::new(ctx(), 1, false);
        encoder.event(&delta("Let me look.", None));
        let origin = Arc::new(Origin { run_id: "r1".into(), ..Origin::default() });
        let turn = EventKind::ModelTurnCompleted {
            turn: 0,
            tool_calls: 1,
            usage: None,
            finish_reason: None,
            duration: std::time::Duration::ZERO,
        };
        assert!(encoder.event(&Ok(RunEvent { origin, kind: turn })).is_none());
        let next = encoder.event(&delta("Found.", None)).unwrap();
        assert_eq!(datas(&next)[0]["choices"][0]["delta"]["content"], "\n\nFound.");
        let same_turn = encoder.event(&delta(" More.", None)).unwrap();
        assert_eq!(datas(&same_turn)[0]["choices"][0]["delta"]["content"], " More.");
    }

    #[test]
    fn chat_errors_end_without_done() {
        let mut encoder = ChatEncoder::new(ctx(), 1, false);
        let frame = encoder.event(&Err(fanout::Error::cancelled())).unwrap();
        assert_eq!(frame.terminal, Some("CANCELLED"));
        assert!(datas(&frame)[0]["error"]["message"].is_string());
        assert!(encoder.close().is_none());
    }

    #[test]
    fn response_events_are_numbered_and_open_the_message_once() {
        let head = ResponseHead {
            run_id: "r1".into(),
            model: "seed".into(),
            created_at: 1,
            previous_response_id: None,
            store: true,
            session_id: None,
            user: None,
        };
        let mut encoder = ResponseEncoder::new(ctx(), head);
        let mut events = datas(&encoder.open().unwrap());
        events.extend(datas(&encoder.event(&delta("a", None)).unwrap()));
        events.extend(datas(&encoder.event(&delta("b", None)).unwrap()));
        events.extend(datas(&encoder.event(&Err(fanout::Error::cancelled())).unwrap()));
        let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.failed",
            ]
        );
        for (i, event) in events.iter().enumerate() {
            assert_eq!(event["sequence_number"], i);
        }
        assert_eq!(events[6]["text"], "ab");
    }
}
