//! From Messages API events to [`ModelDelta`]s: text and thinking as they arrive, each
//! `tool_use` block emitted whole at its `content_block_stop` (the agent starts it while the
//! model still streams), and at `message_stop` the turn's content blocks for [`Replay`], its
//! usage and stop reason. The message's id and model go out first, at its `message_start`.
//!
//! Every block is kept as the JSON the API sent (deltas appended into it), so thinking
//! signatures, citations and server-tool blocks go back verbatim. Blocks fanout has no use for
//! (`server_tool_use`, `web_search_tool_result`, …) produce no deltas and no error.
//!
//! A second `message_start` in one stream (a proxy or gateway spliced in another upstream
//! response):
//! - the same message (same id) again, before any of its content: ignored;
//! - anything else — another message, or the same one restarting after content — is an
//!   `invalid_response` error that is retryable, like a broken stream. Carrying on would mix
//!   two messages: the first one's thinking (already shown) with the second one's calls, and a
//!   thinking text that no longer matches its signature makes the API refuse the next turn (the
//!   Vercel AI SDK decided the same, vercel/ai#18331). The run loop cancels calls already
//!   started and retries the turn while nothing was shown; otherwise the run fails.

use std::collections::{BTreeMap, VecDeque};

use serde_json::Value;

use super::wire::{Event, WireMessageOut, WireUsage};
use super::{PROVIDER, finish_reason, stream_error};
use crate::error::{Error, Result};
use crate::model::http::truncate;
use crate::model::{ModelDelta, Replay, Usage};
use crate::tool::ToolCall;

/// A content block still streaming: the JSON from `content_block_start`, with text, thinking
/// and signature deltas appended in place, and `tool_use` input fragments beside it.
#[derive(Debug)]
struct OpenBlock {
    block: Value,
    json: String,
}

/// Turns the `data` of each SSE event into deltas.
#[derive(Debug, Default)]
pub(crate) struct Assembler {
    /// The response's `request-id`, for errors reported inside the stream.
    request_id: Option<String>,
    started: bool,
    message_id: Option<String>,
    open: BTreeMap<usize, OpenBlock>,
    /// Finished blocks, in order, to send back.
    blocks: Vec<Value>,
    /// Tool calls emitted so far.
    calls: usize,
    usage: Option<WireUsage>,
    stop_reason: Option<String>,
    done: bool,
}

impl crate::model::http::Assemble for Assembler {
    fn on_event(&mut self, data: &str, out: &mut VecDeque<ModelDelta>) -> Result<bool> {
        Assembler::on_event(self, data, out)
    }

    fn on_end(&mut self, out: &mut VecDeque<ModelDelta>) -> Result<()> {
        Assembler::on_end(self, out)
    }
}

impl Assembler {
    /// An assembler for the response with this `request-id`.
    pub(crate) fn new(request_id: Option<String>) -> Self {
        Self { request_id, ..Self::default() }
    }

    /// Handle one event's data. `Ok(true)` once the message is over (`message_stop`).
    pub(crate) fn on_event(&mut self, data: &str, out: &mut VecDeque<ModelDelta>) -> Result<bool> {
        if self.done {
            return Ok(true);
        }
        let event: Event = serde_json::from_str(data).map_err(|e| {
            Error::invalid_response(
                PROVIDER,
                format!("a stream event is not valid JSON ({e}): {}", truncate(data, 200)),
            )
        })?;
        match event.kind.as_str() {
            "message_start" => self.on_message_start(event.message.unwrap_or_default(), out)?,
            "content_block_start" => {
                let index = index(&event)?;
                let block = event.content_block.unwrap_or(Value::Null);
                self.on_block_start(index, block, out)?;
            }
            "content_block_delta" => {
                let index = index(&event)?;
                self.on_block_delta(index, event.delta.unwrap_or_default(), out)?;
            }
            "content_block_stop" => {
                let index = index(&event)?;
                let Some(open) = self.open.remove(&index) else {
                    return Err(unknown_block(index));
                };
                self.finish_block(open, out)?;
            }
            "message_delta" => {
                if let Some(reason) = event.delta.and_then(|d| d.stop_reason).filter(|r| !r.is_empty()) {
                    self.stop_reason = Some(reason);
                }
                self.update_usage(event.usage);
            }
            "message_stop" => {
                self.finish(out)?;
                return Ok(true);
            }
            "error" => {
                let request_id = event.request_id.or_else(|| self.request_id.clone());
                return Err(stream_error(event.error.unwrap_or_default(), request_id));
            }
            // `ping`, and event types newer than this code.
            _ => {}
        }
        Ok(false)
    }

    /// The body ended. Without `message_stop` that is only fine after a stop reason arrived.
    pub(crate) fn on_end(&mut self, out: &mut VecDeque<ModelDelta>) -> Result<()> {
        if self.done {
            return Ok(());
        }
        if self.stop_reason.is_some() {
            return self.finish(out);
        }
        let open_calls = self.open.values().filter(|b| block_type(&b.block) == "tool_use").count();
        Err(Error::incomplete_stream(
            PROVIDER,
            if open_calls > 0 {
                format!("the body ended in the middle of {open_calls} tool call(s)")
            } else {
                "the body ended before message_stop".to_owned()
            },
        ))
    }

    /// A whole (non-streamed) message: its blocks, usage and stop reason, as deltas.
    pub(crate) fn on_message(
        &mut self,
        message: WireMessageOut,
        out: &mut VecDeque<ModelDelta>,
    ) -> Result<()> {
        self.on_message_start(message, out)?;
        self.finish(out)
    }

    fn on_message_start(&mut self, message: WireMessageOut, out: &mut VecDeque<ModelDelta>) -> Result<()> {
        if self.started {
            let same = message.id == self.message_id;
            let untouched = self.open.is_empty() && self.blocks.is_empty() && self.stop_reason.is_none();
            if same && untouched {
                return Ok(());
            }
            let new = message.id.as_deref().unwrap_or("(no id)");
            let open = self.message_id.as_deref().unwrap_or("(no id)");
            let message = if same {
                format!("message {open} started again after some of its content (a spliced stream)")
            } else {
                format!("a new message ({new}) started inside message {open} (a spliced stream)")
            };
            return Err(Error::invalid_response(PROVIDER, message).with_retryable(true));
        }
        self.started = true;
        out.extend(ModelDelta::response(message.id.as_deref(), message.model.as_deref()));
        self.message_id = message.id;
        self.update_usage(message.usage);
        self.stop_reason = message.stop_reason.filter(|r| !r.is_empty());
        // Blocks that come whole inside the message (a non-streamed response; programmatic tool
        // calling's continuation messages).
        for (position, block) in message.content.into_iter().enumerate() {
            let open = open_block(position, block, out)?;
            self.finish_block(open, out)?;
        }
        Ok(())
    }

    fn on_block_start(&mut self, index: usize, block: Value, out: &mut VecDeque<ModelDelta>) -> Result<()> {
        if self.open.contains_key(&index) {
            return Err(Error::invalid_response(PROVIDER, format!("content block {index} started twice")));
        }
        let open = open_block(index, block, out)?;
        self.open.insert(index, open);
        Ok(())
    }

    fn on_block_delta(
        &mut self,
        index: usize,
        delta: super::wire::Delta,
        out: &mut VecDeque<ModelDelta>,
    ) -> Result<()> {
        let Some(open) = self.open.get_mut(&index) else { return Err(unknown_block(index)) };
        match delta.kind.as_deref().unwrap_or_default() {
            "text_delta" => {
                if let Some(text) = delta.text.filter(|t| !t.is_empty()) {
                    append(&mut open.block, "text", &text);
                    out.push_back(ModelDelta::Text(text));
                }
            }
            "thinking_delta" => {
                if let Some(thinking) = delta.thinking.filter(|t| !t.is_empty()) {
                    append(&mut open.block, "thinking", &thinking);
                    out.push_back(ModelDelta::Reasoning(thinking));
                }
            }
            "signature_delta" => append(&mut open.block, "signature", &delta.signature.unwrap_or_default()),
            "input_json_delta" => open.json.push_str(&delta.partial_json.unwrap_or_default()),
            "citations_delta" => {
                if let (Some(citation), Some(block)) = (delta.citation, open.block.as_object_mut()) {
                    let citations = block.entry("citations").or_insert_with(|| Value::Array(Vec::new()));
                    if let Some(list) = citations.as_array_mut() {
                        list.push(citation);
                    }
                }
            }
            // Delta types newer than this code.
            _ => {}
        }
        Ok(())
    }

    fn finish_block(&mut self, open: OpenBlock, out: &mut VecDeque<ModelDelta>) -> Result<()> {
        let OpenBlock { mut block, json } = open;
        if !json.trim().is_empty() {
            block["input"] = super::wire::input_object(&json);
        }
        match block_type(&block) {
            "tool_use" => {
                let field = |name: &str| block.get(name).and_then(Value::as_str).filter(|s| !s.is_empty());
                let missing =
                    |what: &str| Error::invalid_response(PROVIDER, format!("a tool_use block has no {what}"));
                let id = field("id").ok_or_else(|| missing("id"))?.to_owned();
                let name = field("name").ok_or_else(|| missing("name"))?.to_owned();
                // The arguments as streamed; a block that came whole carries them in `input`.
                let arguments = if json.trim().is_empty() {
                    match block.get("input") {
                        Some(input @ Value::Object(_)) => input.to_string(),
                        _ => "{}".to_owned(),
                    }
                } else {
                    json
                };
                out.push_back(ModelDelta::ToolCall {
                    index: self.calls,
                    call: ToolCall { id, name, arguments },
                });
                self.calls += 1;
            }
            // The API rejects empty text blocks when they are sent back.
            "text" if block.get("text").and_then(Value::as_str).is_none_or(str::is_empty) => return Ok(()),
            // A notice that another model answered: nothing to send back.
            "fallback" => return Ok(()),
            _ => {}
        }
        self.blocks.push(block);
        Ok(())
    }

    /// The message is complete: blocks left open are closed as they are, then the replay, the
    /// usage and the stop reason.
    fn finish(&mut self, out: &mut VecDeque<ModelDelta>) -> Result<()> {
        for (_, open) in std::mem::take(&mut self.open) {
            self.finish_block(open, out)?;
        }
        self.done = true;
        if !self.blocks.is_empty() {
            let content = Value::Array(std::mem::take(&mut self.blocks));
            out.push_back(ModelDelta::Replay(Replay::new(
                PROVIDER,
                serde_json::json!({ "content": content }),
            )));
        }
        if let Some(usage) = self.usage {
            out.push_back(ModelDelta::Usage(Usage::from(usage)));
        }
        if let Some(reason) = &self.stop_reason {
            out.push_back(ModelDelta::Finish(finish_reason(reason)));
        }
        Ok(())
    }

    fn update_usage(&mut self, later: Option<WireUsage>) {
        if let Some(later) = later {
            self.usage.get_or_insert_default().update(later);
        }
    }
}

/// A block as it starts. Blocks normally start empty; text they start with (a block that came
/// whole) is shown like a delta.
fn open_block(index: usize, block: Value, out: &mut VecDeque<ModelDelta>) -> Result<OpenBlock> {
    if !block.is_object() {
        return Err(Error::invalid_response(PROVIDER, format!("content block {index} is not an object")));
    }
    match block_type(&block) {
        "text" => push_delta(out, ModelDelta::Text, block.get("text")),
        "thinking" => push_delta(out, ModelDelta::Reasoning, block.get("thinking")),
        _ => {}
    }
    Ok(OpenBlock { block, json: String::new() })
}

fn index(event: &Event) -> Result<usize> {
    event.index.ok_or_else(|| {
        Error::invalid_response(PROVIDER, format!("a {} event has no content block index", event.kind))
    })
}

fn unknown_block(index: usize) -> Error {
    Error::invalid_response(PROVIDER, format!("an event for content block {index}, which is not open"))
}

fn block_type(block: &Value) -> &str {
    block.get("type").and_then(Value::as_str).unwrap_or_default()
}

/// Append `text` to the string field `name` of `block`, creating it if needed.
fn append(block: &mut Value, name: &str, text: &str) {
    match block.get_mut(name) {
        Some(Value::String(existing)) => existing.push_str(text),
        _ => block[name] = Value::String(text.to_owned()),
    }
}

fn push_delta(out: &mut VecDeque<ModelDelta>, delta: fn(String) -> ModelDelta, text: Option<&Value>) {
    if let Some(text) = text.and_then(Value::as_str).filter(|t| !t.is_empty()) {
        out.push_back(delta(text.to_owned()));
    }
}

/// Parse a whole recorded SSE body into deltas, as the provider does while streaming. For
/// benchmarks and tests.
#[doc(hidden)]
pub fn parse_recorded_stream(chunks: &[&[u8]]) -> Result<Vec<ModelDelta>> {
    let mut parser = crate::model::sse::SseParser::default();
    let mut assembler = Assembler::default();
    let mut events = Vec::new();
    let mut out = VecDeque::new();
    for chunk in chunks {
        parser
            .feed(chunk, &mut events)
            .map_err(|too_large| Error::invalid_response(PROVIDER, too_large.to_string()))?;
        for data in events.drain(..) {
            if assembler.on_event(&data, &mut out)? {
                return Ok(out.into());
            }
        }
    }
    assembler.on_end(&mut out)?;
    Ok(out.into())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::model::FinishReason;

    fn sse(events: &[&str]) -> String {
        events.iter().map(|e| format!("data: {e}\n\n")).collect()
    }

    const START: &str = r#"{"type":"message_start","message":{"id":"msg_1","model":"claude-test","content":[],"usage":{"input_tokens":5,"output_tokens":1}}}"#;

    /// Who answered, as [`START`] says.
    fn who() -> ModelDelta {
        ModelDelta::Response { id: Some("msg_1".into()), model: Some("claude-test".into()) }
    }
    const TOOL_START: &str = r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_1","name":"a","input":{}}}"#;
    const STOP_REASON: &str =
        r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}}"#;

    fn json_delta(fragment: &str) -> String {
        serde_json::json!({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":fragment}})
            .to_string()
    }

    #[test]
    fn a_call_is_emitted_at_its_block_stop_and_unknown_events_are_skipped() {
        let body = sse(&[
            START,
            r#"{"type":"future_event","x":1}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"web_search_tool_result","tool_use_id":"srv_1","content":[]}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"future_delta","x":1}}"#,
            r#"{"type":"content_block_stop","index":0}"#,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"See"}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"citations_delta","citation":{"url":"u"}}}"#,
            r#"{"type":"content_block_stop","index":1}"#,
            r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_1","name":"a","input":{}}}"#,
            r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"x\":"}}"#,
            r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"1}"}}"#,
            r#"{"type":"content_block_stop","index":2}"#,
            STOP_REASON,
            r#"{"type":"message_stop"}"#,
        ]);
        let deltas = parse_recorded_stream(&[body.as_bytes()]).unwrap();
        assert_eq!(deltas[0], who(), "who answered goes out at message_start");
        let deltas = &deltas[1..];
        assert_eq!(deltas[0], ModelDelta::Text("See".into()));
        assert_eq!(
            deltas[1],
            ModelDelta::ToolCall { index: 0, call: ToolCall::new("toolu_1", "a", "{\"x\":1}") }
        );
        let ModelDelta::Replay(replay) = &deltas[2] else { panic!("{deltas:?}") };
        assert_eq!(
            replay.data["content"],
            serde_json::json!([
                {"type": "web_search_tool_result", "tool_use_id": "srv_1", "content": []},
                {"type": "text", "text": "See", "citations": [{"url": "u"}]},
                {"type": "tool_use", "id": "toolu_1", "name": "a", "input": {"x": 1}},
            ])
        );
        assert!(matches!(deltas[3], ModelDelta::Usage(Usage { input_tokens: 5, output_tokens: 9, .. })));
        assert_eq!(deltas[4], ModelDelta::Finish(FinishReason::ToolCalls));
    }

    #[test]
    fn a_body_cut_in_a_call_is_incomplete_but_one_after_the_stop_reason_is_not() {
        let body = sse(&[START, TOOL_START, &json_delta("{\"x\"")]);
        let err = parse_recorded_stream(&[body.as_bytes()]).unwrap_err();
        assert!(err.is_incomplete_stream() && err.is_retryable(), "{err}");
        assert!(err.to_string().contains("in the middle of 1 tool call(s)"), "{err}");

        let body = sse(&[START, TOOL_START, &json_delta("{}"), r#"{"type":"content_block_stop","index":0}"#]);
        let err = parse_recorded_stream(&[body.as_bytes()]).unwrap_err();
        assert!(err.to_string().contains("ended before message_stop"), "{err}");

        let body = sse(&[START, TOOL_START, r#"{"type":"content_block_stop","index":0}"#, STOP_REASON]);
        let deltas = parse_recorded_stream(&[body.as_bytes()]).unwrap();
        assert_eq!(deltas[1], ModelDelta::ToolCall { index: 0, call: ToolCall::new("toolu_1", "a", "{}") });
        assert_eq!(deltas.last(), Some(&ModelDelta::Finish(FinishReason::ToolCalls)));
    }

    #[test]
    fn another_message_inside_an_open_one_is_a_retryable_invalid_response() {
        let second = r#"{"type":"message_start","message":{"id":"msg_2","content":[]}}"#;
        // Before any content, after a block started, after a call was emitted: all the same.
        for prefix in [
            vec![START],
            vec![START, TOOL_START],
            vec![START, TOOL_START, r#"{"type":"content_block_stop","index":0}"#],
        ] {
            let body = sse(&[prefix.as_slice(), &[second, STOP_REASON]].concat());
            let err = parse_recorded_stream(&[body.as_bytes()]).unwrap_err();
            assert!(err.is_invalid_response() && err.is_retryable(), "{err}");
            assert!(err.to_string().contains("a new message (msg_2) started inside message msg_1"), "{err}");
        }
        // The same message restarting after some of its content would repeat it.
        let body = sse(&[START, TOOL_START, START]);
        let err = parse_recorded_stream(&[body.as_bytes()]).unwrap_err();
        assert!(err.is_retryable() && err.to_string().contains("msg_1 started again"), "{err}");
        // A duplicate before any content is ignored.
        let body =
            sse(&[START, START, TOOL_START, r#"{"type":"content_block_stop","index":0}"#, STOP_REASON]);
        let deltas = parse_recorded_stream(&[body.as_bytes()]).unwrap();
        assert_eq!(
            deltas[..2],
            [who(), ModelDelta::ToolCall { index: 0, call: ToolCall::new("toolu_1", "a", "{}") }]
        );
        assert_eq!(deltas.iter().filter(|d| matches!(d, ModelDelta::Response { .. })).count(), 1);
    }

    #[test]
    fn protocol_violations_are_named() {
        let no_id = r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","name":"a","input":{}}}"#;
        let body = sse(&[START, no_id, r#"{"type":"content_block_stop","index":0}"#]);
        let err = parse_recorded_stream(&[body.as_bytes()]).unwrap_err();
        assert_eq!(err.to_string(), "anthropic sent an invalid response: a tool_use block has no id");

        let body = sse(&[START, &json_delta("{}")]);
        let err = parse_recorded_stream(&[body.as_bytes()]).unwrap_err();
        assert!(err.to_string().contains("content block 0, which is not open"), "{err}");

        let err = parse_recorded_stream(&[b"data: {\"type\": \n\n"]).unwrap_err();
        assert!(err.is_invalid_response() && err.to_string().contains("not valid JSON"), "{err}");

        let body = sse(&[START, r#"{"type":"error","error":{"type":"api_error","message":"Internal"}}"#]);
        let err = parse_recorded_stream(&[body.as_bytes()]).unwrap_err();
        assert_eq!(err.to_string(), "anthropic API error (api_error): Internal");
        assert!(err.is_retryable());
    }
}
