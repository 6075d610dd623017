//! From SSE event data to [`ModelDelta`]s: text and reasoning as they arrive, tool calls
//! assembled from their fragments and emitted whole, in order, each as soon as its arguments
//! form a complete JSON object — which no valid continuation can extend — and all of them at the
//! latest when the turn finishes. A call never counts as complete because another one began:
//! some servers interleave the fragments of several calls.
//!
//! What compatible servers do that this accepts: fragments without `index` (an id, or a name
//! after a complete call, starts the next call), sparse or repeated indices, several calls in
//! one chunk, empty or repeated ids and names on continuation fragments, empty fragments after
//! a call is complete (Qwen), calls without any id (one is made up), empty arguments for a tool
//! without parameters (sent on as `{}`), the `multi_tool_use.parallel` wrapper (expanded, see
//! [`parallel`](crate::model::parallel)), usage in every chunk (the last one counts) or in
//! Groq's `x_groq`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use serde::de::IgnoredAny;

use super::stream_error;
use super::text_calls::{Piece, TextCalls};
use super::wire::{Chunk, DeltaToolCall, REASONING_KEY};
use crate::error::{Error, Result};
use crate::model::http::truncate;
use crate::model::{FinishReason, ModelDelta, Replay, Usage, new_call_id, parallel};
use crate::tool::{ToolCall, ToolDefinition};

#[derive(Debug, Default)]
struct PartialCall {
    id: Option<String>,
    name: Option<String>,
    arguments: String,
}

/// Turns the `data` of each SSE event into deltas.
#[derive(Debug)]
pub(crate) struct Assembler {
    provider: &'static str,
    /// The tools offered, so that a wrapper is told from a real tool of that name.
    tools: Arc<[Arc<ToolDefinition>]>,
    /// Collect the reasoning and hand it back as a [`Replay`] (see `Quirks::replay_reasoning`).
    replay_reasoning: bool,
    /// The calls in the order they began.
    calls: Vec<PartialCall>,
    /// The call each wire `index` currently names.
    by_index: HashMap<usize, usize>,
    /// The call of the last fragment: fragments without an index continue it.
    current: Option<usize>,
    /// Calls are emitted in order: these many are out.
    emitted: usize,
    /// The position of the next [`ModelDelta::ToolCall`] (a wrapper's calls count one each).
    position: usize,
    usage: Option<Usage>,
    reasoning: String,
    /// Calls written as text, when recognised (see `OpenAIChat::text_tool_calls`).
    text_calls: Option<TextCalls>,
    /// Whether any call was written as text.
    called_in_text: bool,
    /// Whether text or reasoning arrived (the queue is drained as it goes, so it cannot tell).
    any_output: bool,
    finish: Option<FinishReason>,
    done: bool,
    /// Whether the response's id and model went out (with the first chunk that has them).
    reported: bool,
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
    pub(crate) fn new(
        provider: &'static str,
        tools: Arc<[Arc<ToolDefinition>]>,
        replay_reasoning: bool,
    ) -> Self {
        Self {
            provider,
            tools,
            replay_reasoning,
            calls: Vec::new(),
            by_index: HashMap::new(),
            current: None,
            emitted: 0,
            position: 0,
            usage: None,
            reasoning: String::new(),
            text_calls: None,
            called_in_text: false,
            any_output: false,
            finish: None,
            done: false,
            reported: false,
        }
    }

    /// Also recognise tool calls written as text.
    pub(crate) fn with_text_calls(mut self, on: bool) -> Self {
        self.text_calls = on.then(TextCalls::default);
        self
    }

    /// Handle one event's data. `Ok(true)` once the stream is over (`[DONE]`).
    pub(crate) fn on_event(&mut self, data: &str, out: &mut VecDeque<ModelDelta>) -> Result<bool> {
        if self.done {
            return Ok(true);
        }
        if data.trim() == "[DONE]" {
            self.done = true;
            if self.finish.is_none() {
                if self.calls.is_empty() && !self.any_output && self.usage.is_none() {
                    // `[DONE]` without a finish reason and without any output is a broken turn.
                    return Err(self.incomplete("[DONE] arrived before any output or finish reason"));
                }
                self.end_text(out);
                self.emit_all(out)?;
            }
            self.flush(out);
            return Ok(true);
        }
        let mut chunk: Chunk = serde_json::from_str(data).map_err(|e| {
            Error::invalid_response(
                self.provider,
                format!("a stream chunk is not valid JSON ({e}): {}", truncate(data, 200)),
            )
        })?;
        if let Some(error) = chunk.error.take() {
            return Err(stream_error(self.provider, error));
        }
        if !self.reported
            && let Some(delta) = ModelDelta::response(chunk.id.as_deref(), chunk.model.as_deref())
        {
            self.reported = true;
            out.push_back(delta);
        }
        if let Some(usage) = chunk.take_usage() {
            // Some servers send the running total in every chunk: the last one counts.
            self.usage = Some(usage);
        }
        // Only the first choice is used: fanout never asks for `n > 1`.
        if let Some(choice) = chunk.choices.into_iter().next() {
            let mut delta = choice.delta;
            if let Some(text) = delta.take_reasoning().filter(|t| !t.is_empty()) {
                self.any_output = true;
                if self.replay_reasoning {
                    self.reasoning.push_str(&text);
                }
                out.push_back(ModelDelta::Reasoning(text));
            }
            if let Some(text) = delta.take_text() {
                self.any_output = true;
                self.on_text(text, out);
            }
            for fragment in delta.tool_calls {
                self.on_fragment(fragment, out)?;
            }
            if let Some(reason) = choice.finish_reason.filter(|r| !r.is_empty()) {
                self.end_text(out);
                self.emit_all(out)?;
                let mut reason = FinishReason::from_wire(&reason);
                if self.called_in_text && reason == FinishReason::Stop {
                    reason = FinishReason::ToolCalls;
                }
                self.finish = Some(reason.clone());
                out.push_back(ModelDelta::Finish(reason));
            }
        }
        Ok(false)
    }

    /// The body ended. Without `[DONE]` that is only fine after the model said it finished.
    pub(crate) fn on_end(&mut self, out: &mut VecDeque<ModelDelta>) -> Result<()> {
        if self.done {
            return Ok(());
        }
        if self.finish.is_some() {
            self.done = true;
            self.flush(out);
            return Ok(());
        }
        let open = self.calls.len() - self.emitted;
        Err(self.incomplete(&if open > 0 {
            format!("the body ended in the middle of {open} tool call(s)")
        } else {
            "the body ended without a finish reason or [DONE]".to_owned()
        }))
    }

    /// The end of the turn: the usage, and the reasoning to replay.
    fn flush(&mut self, out: &mut VecDeque<ModelDelta>) {
        if let Some(usage) = self.usage.take() {
            out.push_back(ModelDelta::Usage(usage));
        }
        if let Some(replay) =
            reasoning_replay(self.provider, self.replay_reasoning, self.position, &self.reasoning)
        {
            out.push_back(ModelDelta::Replay(replay));
        }
    }

    fn on_text(&mut self, text: String, out: &mut VecDeque<ModelDelta>) {
        let Some(text_calls) = &mut self.text_calls else {
            out.push_back(ModelDelta::Text(text));
            return;
        };
        let mut pieces = Vec::new();
        let tools = &self.tools;
        text_calls.feed(&text, &|name| tools.iter().any(|t| t.name == name), &mut pieces);
        self.emit_pieces(pieces, out);
    }

    /// The text is over: what was held back goes out.
    fn end_text(&mut self, out: &mut VecDeque<ModelDelta>) {
        let mut pieces = Vec::new();
        if let Some(text_calls) = &mut self.text_calls {
            text_calls.finish(&mut pieces);
        }
        self.emit_pieces(pieces, out);
    }

    fn emit_pieces(&mut self, pieces: Vec<Piece>, out: &mut VecDeque<ModelDelta>) {
        for piece in pieces {
            match piece {
                Piece::Text(text) => out.push_back(ModelDelta::Text(text)),
                Piece::Call { name, arguments } => {
                    self.called_in_text = true;
                    let call = ToolCall { id: new_call_id(), name, arguments };
                    out.push_back(ModelDelta::ToolCall { index: self.position, call });
                    self.position += 1;
                }
            }
        }
    }

    fn on_fragment(&mut self, fragment: DeltaToolCall, out: &mut VecDeque<ModelDelta>) -> Result<()> {
        let id = fragment.id.filter(|id| !id.is_empty());
        let name = fragment.function.name.filter(|n| !n.is_empty());
        let arguments = fragment.function.arguments.map(|a| a.0).unwrap_or_default();
        let slot = self.slot_for(fragment.index, id.as_deref(), name.as_deref(), arguments.trim().is_empty());
        self.current = Some(slot);
        let call = &mut self.calls[slot];
        if slot < self.emitted {
            let same = |new: &Option<String>, old: &Option<String>| new.is_none() || new == old;
            if arguments.trim().is_empty() && same(&id, &call.id) && same(&name, &call.name) {
                // Qwen sends empty fragments after a call is complete: nothing changes.
                return Ok(());
            }
            return Err(Error::invalid_response(
                self.provider,
                format!("a fragment for tool call {slot} arrived after that call was complete"),
            ));
        }
        if call.id.is_none() {
            call.id = id;
        }
        if let Some(name) = name {
            match &mut call.name {
                None => call.name = Some(name),
                // A repeated name changes nothing; some servers stream the name in pieces.
                Some(existing) if *existing != name => existing.push_str(&name),
                Some(_) => {}
            }
        }
        call.arguments.push_str(&arguments);
        self.emit_ready(out)
    }

    /// The call a fragment belongs to: the call of its `index` (or, without one, of the last
    /// fragment), unless the fragment starts another call; then a new one.
    fn slot_for(&mut self, index: Option<usize>, id: Option<&str>, name: Option<&str>, empty: bool) -> usize {
        let candidate = match index {
            Some(index) => self.by_index.get(&index).copied(),
            None => self.current,
        };
        let continues = |slot: usize| {
            let call = &self.calls[slot];
            let complete =
                slot < self.emitted || (call.name.is_some() && is_complete_object(&call.arguments));
            let starts_new = match (id, name) {
                // Another call's id (servers that number every call 0, or send no index).
                (Some(id), _) => call.id.as_deref().map_or(complete, |old| old != id),
                // A name after a complete call, unless it only repeats that call's name.
                (None, Some(name)) => complete && !(empty && call.name.as_deref() == Some(name)),
                (None, None) => false,
            };
            !starts_new
        };
        match candidate.filter(|&slot| continues(slot)) {
            Some(slot) => slot,
            None => {
                self.calls.push(PartialCall::default());
                let slot = self.calls.len() - 1;
                if let Some(index) = index {
                    self.by_index.insert(index, slot);
                }
                slot
            }
        }
    }

    /// Emit, in order, the calls that are complete.
    fn emit_ready(&mut self, out: &mut VecDeque<ModelDelta>) -> Result<()> {
        while let Some(call) = self.calls.get(self.emitted) {
            if call.name.is_none() || !is_complete_object(&call.arguments) {
                break;
            }
            self.emit_next(out)?;
        }
        Ok(())
    }

    fn emit_all(&mut self, out: &mut VecDeque<ModelDelta>) -> Result<()> {
        while self.emitted < self.calls.len() {
            self.emit_next(out)?;
        }
        Ok(())
    }

    fn emit_next(&mut self, out: &mut VecDeque<ModelDelta>) -> Result<()> {
        let slot = self.emitted;
        let Some(call) = self.calls.get_mut(slot) else { return Ok(()) };
        let name = call.name.clone().ok_or_else(|| {
            Error::invalid_response(self.provider, format!("tool call at index {slot} has no function name"))
        })?;
        let id = call.id.get_or_insert_with(new_call_id).clone();
        let arguments = no_arguments_as_object(std::mem::take(&mut call.arguments));
        self.emitted += 1;
        for call in parallel::expand(ToolCall { id, name, arguments }, self.tools.iter().map(|t| &**t)) {
            out.push_back(ModelDelta::ToolCall { index: self.position, call });
            self.position += 1;
        }
        Ok(())
    }

    fn incomplete(&self, message: &str) -> Error {
        Error::incomplete_stream(self.provider, message)
    }
}

/// The reasoning of a turn with tool calls, as the [`Replay`] a provider that needs it back
/// (DeepSeek and Moonshot in thinking mode) gets with the turn.
pub(super) fn reasoning_replay(
    provider: &str,
    wanted: bool,
    calls: usize,
    reasoning: &str,
) -> Option<Replay> {
    (wanted && calls > 0 && !reasoning.is_empty())
        .then(|| Replay::new(provider, serde_json::json!({ REASONING_KEY: reasoning })))
}

/// Empty arguments (a tool without parameters, on some servers) are the empty object.
pub(super) fn no_arguments_as_object(arguments: String) -> String {
    if arguments.trim().is_empty() { "{}".to_owned() } else { arguments }
}

fn is_complete_object(arguments: &str) -> bool {
    arguments.trim_start().starts_with('{')
        && arguments.trim_end().ends_with('}')
        && serde_json::from_str::<IgnoredAny>(arguments).is_ok()
}

/// Parse a whole recorded SSE body into deltas, as the provider does while streaming (no tools
/// offered, so a `multi_tool_use.parallel` wrapper is expanded). For benchmarks and tests.
#[doc(hidden)]
pub fn parse_recorded_stream(chunks: &[&[u8]]) -> Result<Vec<ModelDelta>> {
    let mut parser = crate::model::sse::SseParser::default();
    let mut assembler = Assembler::new(super::PROVIDER, Arc::from(Vec::new()), false);
    let mut events = Vec::new();
    let mut out = VecDeque::new();
    for chunk in chunks {
        parser
            .feed(chunk, &mut events)
            .map_err(|too_large| Error::invalid_response(super::PROVIDER, too_large.to_string()))?;
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

    fn sse(events: &[&str]) -> String {
        events.iter().map(|e| format!("data: {e}\n\n")).collect()
    }

    fn tool_delta(index: usize, id: Option<&str>, name: Option<&str>, args: &str) -> String {
        let mut call = serde_json::json!({"index": index, "function": {"arguments": args}});
        if let Some(id) = id {
            call["id"] = id.into();
            call["type"] = "function".into();
        }
        if let Some(name) = name {
            call["function"]["name"] = name.into();
        }
        serde_json::json!({"choices": [{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": null}]})
            .to_string()
    }

    const FINISH: &str = r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#;
    const USAGE: &str =
        r#"{"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}"#;

    #[test]
    fn calls_are_emitted_as_soon_as_complete() {
        let body = sse(&[
            &tool_delta(0, Some("c0"), Some("a"), ""),
            &tool_delta(0, None, None, "{\"delay\""),
            &tool_delta(0, None, None, ":3}"),
            &tool_delta(1, Some("c1"), Some("b"), ""),
            &tool_delta(1, None, None, "{}"),
            FINISH,
            USAGE,
            "[DONE]",
        ]);
        let deltas = parse_recorded_stream(&[body.as_bytes()]).unwrap();
        assert_eq!(
            deltas[0],
            ModelDelta::ToolCall { index: 0, call: ToolCall::new("c0", "a", "{\"delay\":3}") }
        );
        assert_eq!(deltas[1], ModelDelta::ToolCall { index: 1, call: ToolCall::new("c1", "b", "{}") });
        assert_eq!(deltas[2], ModelDelta::Finish(FinishReason::ToolCalls));
        assert!(matches!(deltas[3], ModelDelta::Usage(Usage { total_tokens: 15, .. })));
    }

    #[test]
    fn interleaved_fragments_are_assembled_by_index() {
        let body = sse(&[
            &tool_delta(0, Some("c0"), Some("a"), "{\"x\":"),
            &tool_delta(1, Some("c1"), Some("b"), "{\"y\":"),
            &tool_delta(0, None, None, "1}"),
            &tool_delta(1, None, None, "2}"),
            FINISH,
            "[DONE]",
        ]);
        let deltas = parse_recorded_stream(&[body.as_bytes()]).unwrap();
        assert_eq!(deltas[0], ModelDelta::ToolCall { index: 0, call: ToolCall::new("c0", "a", "{\"x\":1}") });
        assert_eq!(deltas[1], ModelDelta::ToolCall { index: 1, call: ToolCall::new("c1", "b", "{\"y\":2}") });
    }

    #[test]
    fn a_cut_stream_is_incomplete_and_a_missing_id_is_made_up() {
        let body = sse(&[&tool_delta(0, Some("c0"), Some("a"), "{\"de")]);
        let err = parse_recorded_stream(&[body.as_bytes()]).unwrap_err();
        assert!(err.is_incomplete_stream(), "{err}");

        let body = sse(&[
            &tool_delta(0, None, Some("a"), "{}"),
            &tool_delta(1, None, Some("a"), "{}"),
            FINISH,
            "[DONE]",
        ]);
        let calls: Vec<ToolCall> = parse_recorded_stream(&[body.as_bytes()])
            .unwrap()
            .into_iter()
            .filter_map(|d| match d {
                ModelDelta::ToolCall { call, .. } => Some(call),
                _ => None,
            })
            .collect();
        assert_eq!(calls.len(), 2);
        assert!(calls.iter().all(|c| c.id.starts_with("call_") && c.id.len() > 20), "{calls:?}");
        assert_ne!(calls[0].id, calls[1].id);
    }

    #[test]
    fn lenient_about_what_compatible_servers_send() {
        let body = sse(&[
            r#"{"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":null},"finish_reason":""}],"usage":null,"extra":{"a":1}}"#,
            r#"{"choices":[{"delta":{"content":"Hi","reasoning_content":"think"},"finish_reason":null}]}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#,
        ]);
        // No usage chunk, no [DONE]: accepted because the model said it finished.
        let deltas = parse_recorded_stream(&[body.as_bytes()]).unwrap();
        assert_eq!(
            deltas,
            [
                ModelDelta::Response { id: Some("x".into()), model: None },
                ModelDelta::Reasoning("think".into()),
                ModelDelta::Text("Hi".into()),
                ModelDelta::Finish(FinishReason::Stop)
            ]
        );
    }

    #[test]
    fn malformed_chunks_and_stream_errors_are_clear() {
        let err = parse_recorded_stream(&[b"data: {\"choices\": [\n\n"]).unwrap_err();
        assert!(
            err.to_string().starts_with("openai sent an invalid response: a stream chunk is not valid JSON"),
            "{err}"
        );
        let body = sse(&[r#"{"error":{"message":"overloaded","type":"server_error","code":null}}"#]);
        let err = parse_recorded_stream(&[body.as_bytes()]).unwrap_err();
        assert_eq!(err.to_string(), "openai API error (server_error): overloaded");
        assert!(err.is_retryable());
    }
}
