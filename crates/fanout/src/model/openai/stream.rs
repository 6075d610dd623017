//! From SSE event data to [`ModelDelta`]s: text as it arrives, tool calls assembled from their
//! fragments by `index` and emitted whole, in order, each as soon as it is complete — its
//! arguments form a complete JSON object (which no valid continuation can extend), or a later
//! call has begun — and all of them at the latest when the turn finishes.

use std::collections::{BTreeMap, VecDeque};

use serde::de::IgnoredAny;

use super::wire::{Chunk, DeltaToolCall};
use super::{PROVIDER, stream_error};
use crate::error::{Error, Result};
use crate::model::http::truncate;
use crate::model::{FinishReason, ModelDelta, Usage};
use crate::tool::ToolCall;

#[derive(Debug, Default)]
struct PartialCall {
    id: Option<String>,
    name: Option<String>,
    arguments: String,
    emitted: bool,
}

/// Turns the `data` of each SSE event into deltas.
#[derive(Debug, Default)]
pub(crate) struct Assembler {
    calls: BTreeMap<usize, PartialCall>,
    /// The index of the call that fragments without an index belong to.
    current: Option<usize>,
    finish: Option<FinishReason>,
    done: bool,
}

impl Assembler {
    /// Handle one event's data. `Ok(true)` once the stream is over (`[DONE]`).
    pub(crate) fn on_event(&mut self, data: &str, out: &mut VecDeque<ModelDelta>) -> Result<bool> {
        if self.done {
            return Ok(true);
        }
        if data.trim() == "[DONE]" {
            self.done = true;
            if self.finish.is_none() {
                self.emit_all(out)?;
                if self.calls.is_empty() && out.is_empty() {
                    // `[DONE]` without a finish reason and without any output is a broken turn.
                    return Err(incomplete("[DONE] arrived before any output or finish reason"));
                }
            }
            return Ok(true);
        }
        let chunk: Chunk = serde_json::from_str(data).map_err(|e| {
            Error::invalid_response(
                PROVIDER,
                format!("a stream chunk is not valid JSON ({e}): {}", truncate(data, 200)),
            )
        })?;
        if let Some(error) = chunk.error {
            return Err(stream_error(error));
        }
        // Only the first choice is used: fanout never asks for `n > 1`.
        if let Some(choice) = chunk.choices.into_iter().next() {
            let delta = choice.delta;
            if let Some(text) = delta.reasoning_content.filter(|t| !t.is_empty()) {
                out.push_back(ModelDelta::Reasoning(text));
            }
            if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                out.push_back(ModelDelta::Text(text));
            }
            for fragment in delta.tool_calls {
                self.on_fragment(fragment, out)?;
            }
            if let Some(reason) = choice.finish_reason.filter(|r| !r.is_empty()) {
                self.emit_all(out)?;
                let reason = FinishReason::from_wire(&reason);
                self.finish = Some(reason.clone());
                out.push_back(ModelDelta::Finish(reason));
            }
        }
        if let Some(usage) = chunk.usage {
            out.push_back(ModelDelta::Usage(Usage::from(usage)));
        }
        Ok(false)
    }

    /// The body ended. Without `[DONE]` that is only fine after the model said it finished.
    pub(crate) fn on_end(&self) -> Result<()> {
        if self.done || self.finish.is_some() {
            return Ok(());
        }
        let open = self.calls.values().filter(|c| !c.emitted).count();
        Err(incomplete(&if open > 0 {
            format!("the body ended in the middle of {open} tool call(s)")
        } else {
            "the body ended without a finish reason or [DONE]".to_owned()
        }))
    }

    fn on_fragment(&mut self, fragment: DeltaToolCall, out: &mut VecDeque<ModelDelta>) -> Result<()> {
        let index = match (fragment.index, &fragment.id, self.current) {
            (Some(index), _, _) => index,
            // No index (some compatible servers): an id starts a new call, else it continues.
            (None, Some(_), current) => current.map_or(0, |c| c + 1),
            (None, None, Some(current)) => current,
            (None, None, None) => 0,
        };
        let starts_new = !self.calls.contains_key(&index);
        if starts_new {
            // A new call began: earlier ones whose arguments are complete can start now.
            self.emit_ready_before(index, out)?;
        }
        self.current = Some(index);
        let call = self.calls.entry(index).or_default();
        let arguments = fragment.function.arguments.unwrap_or_default();
        if call.emitted
            && fragment.id.is_none()
            && fragment.function.name.is_none()
            && arguments.trim().is_empty()
        {
            // Trailing whitespace after a complete call changes nothing.
            return Ok(());
        }
        if call.emitted {
            return Err(Error::invalid_response(
                PROVIDER,
                format!("a fragment for tool call {index} arrived after that call was complete"),
            ));
        }
        if let Some(id) = fragment.id.filter(|id| !id.is_empty()) {
            call.id = Some(id);
        }
        if let Some(name) = fragment.function.name.filter(|n| !n.is_empty()) {
            match &mut call.name {
                // Some servers stream the name in pieces too.
                Some(existing) if !starts_new => existing.push_str(&name),
                _ => call.name = Some(name),
            }
        }
        call.arguments.push_str(&arguments);
        // A complete JSON object cannot be extended by a valid stream: the call can start now,
        // once the calls before it have.
        if is_complete_object(&call.arguments) {
            self.emit_ready_before(index + 1, out)?;
        }
        Ok(())
    }

    /// Emit, in index order, the calls before `index` that are complete.
    fn emit_ready_before(&mut self, index: usize, out: &mut VecDeque<ModelDelta>) -> Result<()> {
        let ready: Vec<usize> = self
            .calls
            .range(..index)
            .take_while(|(_, c)| c.emitted || arguments_complete(&c.arguments))
            .filter(|(_, c)| !c.emitted)
            .map(|(i, _)| *i)
            .collect();
        for i in ready {
            self.emit(i, out)?;
        }
        Ok(())
    }

    fn emit_all(&mut self, out: &mut VecDeque<ModelDelta>) -> Result<()> {
        let open: Vec<usize> = self.calls.iter().filter(|(_, c)| !c.emitted).map(|(i, _)| *i).collect();
        for i in open {
            self.emit(i, out)?;
        }
        Ok(())
    }

    fn emit(&mut self, index: usize, out: &mut VecDeque<ModelDelta>) -> Result<()> {
        let Some(call) = self.calls.get_mut(&index) else { return Ok(()) };
        let missing = |what: &str| {
            Error::invalid_response(PROVIDER, format!("tool call at index {index} has no {what}"))
        };
        let id = call.id.clone().ok_or_else(|| missing("id"))?;
        let name = call.name.clone().ok_or_else(|| missing("function name"))?;
        call.emitted = true;
        let arguments = std::mem::take(&mut call.arguments);
        out.push_back(ModelDelta::ToolCall { index, call: ToolCall { id, name, arguments } });
        Ok(())
    }
}

fn is_complete_object(arguments: &str) -> bool {
    arguments.trim_start().starts_with('{')
        && arguments.trim_end().ends_with('}')
        && arguments_complete(arguments)
}

fn arguments_complete(arguments: &str) -> bool {
    arguments.trim().is_empty() || serde_json::from_str::<IgnoredAny>(arguments).is_ok()
}

fn incomplete(message: &str) -> Error {
    Error::incomplete_stream(PROVIDER, message)
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
    assembler.on_end()?;
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
    fn a_cut_stream_is_incomplete_and_a_missing_id_is_named() {
        let body = sse(&[&tool_delta(0, Some("c0"), Some("a"), "{\"de")]);
        let err = parse_recorded_stream(&[body.as_bytes()]).unwrap_err();
        assert!(err.is_incomplete_stream(), "{err}");

        let body = sse(&[&tool_delta(0, None, Some("a"), "{}"), FINISH, "[DONE]"]);
        let err = parse_recorded_stream(&[body.as_bytes()]).unwrap_err();
        assert_eq!(err.to_string(), "openai sent an invalid response: tool call at index 0 has no id");
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
