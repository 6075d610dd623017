//! Assembling Gemini responses into deltas. A whole answer is read as a stream of one chunk, so
//! both paths share every rule.
//!
//! Gemini sends each function call whole (object `args`), so a call is emitted the moment its
//! part arrives: that is eager start. Vertex can instead stream arguments (`partialArgs` by JSON
//! path, `willContinue` until the call ends); those calls are assembled and emitted when they
//! end. The turn's parts are kept for the replay, text pieces joined, so thought signatures go
//! back exactly where Gemini put them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value, json};

use super::wire::{self, FunctionCall, GenerateResponse, Part};
use super::{PROVIDER, SYNTHETIC_ID_PREFIX, stream_error};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{FinishReason, ModelDelta, Replay, Usage};
use crate::tool::ToolCall;

/// A JSON path in `partialArgs` may not index arrays past this (the server is untrusted).
const MAX_PATH_INDEX: usize = 10_000;

/// The state of one turn.
#[derive(Default)]
pub(super) struct Assembler {
    /// The turn's parts as they go back to Gemini.
    parts: Vec<Value>,
    calls: usize,
    partial: Option<PartialCall>,
    usage: Option<Usage>,
    finish: Option<(String, Option<String>)>,
    response_id: Option<String>,
    /// Whether the response's id and model went out (with the first chunk that has them).
    reported: bool,
}

/// A call whose arguments Vertex is still streaming.
struct PartialCall {
    id: Option<String>,
    name: String,
    args: Value,
    signature: Option<String>,
}

impl crate::model::http::Assemble for Assembler {
    fn on_event(&mut self, data: &str, out: &mut VecDeque<ModelDelta>) -> Result<bool> {
        Assembler::on_event(self, data, out).map(|()| false)
    }

    fn on_end(&mut self, out: &mut VecDeque<ModelDelta>) -> Result<()> {
        Assembler::on_end(self, out)
    }
}

impl Assembler {
    /// Read one `data:` payload.
    pub(super) fn on_event(&mut self, data: &str, out: &mut VecDeque<ModelDelta>) -> Result<()> {
        let chunk: GenerateResponse = serde_json::from_str(data).map_err(|e| {
            Error::invalid_response(
                PROVIDER,
                format!("a stream chunk is not valid JSON ({e}): {}", super::http::truncate(data, 200)),
            )
        })?;
        self.on_response(chunk, out)
    }

    /// Read one response: a streamed chunk, or a whole answer.
    pub(super) fn on_response(
        &mut self,
        chunk: GenerateResponse,
        out: &mut VecDeque<ModelDelta>,
    ) -> Result<()> {
        if let Some(error) = chunk.error {
            return Err(stream_error(error));
        }
        if !self.reported
            && let Some(delta) =
                ModelDelta::response(chunk.response_id.as_deref(), chunk.model_version.as_deref())
        {
            self.reported = true;
            out.push_back(delta);
        }
        if self.response_id.is_none() {
            self.response_id = chunk.response_id.filter(|id| !id.is_empty());
        }
        if let Some(usage) = chunk.usage_metadata.filter(wire::UsageMetadata::is_counted) {
            self.usage = Some(usage.into());
        }
        let Some(candidate) = chunk.candidates.into_iter().next() else {
            if let Some(reason) =
                chunk.prompt_feedback.and_then(|f| f.block_reason.map(|r| (r, f.block_reason_message)))
            {
                return Err(blocked(reason));
            }
            return Ok(());
        };
        for part in candidate.content.parts {
            self.on_part(part, out)?;
        }
        if let Some(reason) = candidate.finish_reason.filter(|r| !r.is_empty()) {
            self.finish = Some((reason, candidate.finish_message));
        }
        Ok(())
    }

    fn on_part(&mut self, value: Value, out: &mut VecDeque<ModelDelta>) -> Result<()> {
        let part = Part::read(&value);
        if let Some(call) = part.function_call {
            return self.on_call(call, part.thought_signature, value, out);
        }
        let Some(text) = part.text else {
            // A kind of part fanout does not read (code execution, inline data): replay it.
            if value.as_object().is_some_and(|o| !o.is_empty()) {
                self.parts.push(value);
            }
            return Ok(());
        };
        if !text.is_empty() {
            out.push_back(if part.thought {
                ModelDelta::Reasoning(text.clone())
            } else {
                ModelDelta::Text(text.clone())
            });
        }
        // Join streamed pieces of one text, up to the piece carrying its signature.
        let thought = part.thought;
        if let Some(last) = self.parts.last_mut().and_then(Value::as_object_mut)
            && last.get("functionCall").is_none()
            && last.get("thoughtSignature").is_none()
            && last.get("thought").and_then(Value::as_bool).unwrap_or(false) == thought
            && let Some(Value::String(joined)) = last.get_mut("text")
        {
            joined.push_str(&text);
            if let Some(signature) = part.thought_signature {
                last.insert("thoughtSignature".into(), Value::from(signature));
            }
            return Ok(());
        }
        if !text.is_empty() || part.thought_signature.is_some() {
            self.parts.push(value);
        }
        Ok(())
    }

    fn on_call(
        &mut self,
        call: FunctionCall,
        signature: Option<String>,
        value: Value,
        out: &mut VecDeque<ModelDelta>,
    ) -> Result<()> {
        let Some(name) = call.name.filter(|n| !n.is_empty()) else {
            // A piece of a streamed call: arguments, a continuation mark, or its end (`{}`).
            let Some(partial) = &mut self.partial else {
                if call.partial_args.is_empty() {
                    return Ok(());
                }
                return Err(Error::invalid_response(
                    PROVIDER,
                    "call arguments arrived before the call's name",
                ));
            };
            for arg in call.partial_args {
                apply(&mut partial.args, arg)?;
            }
            if !call.will_continue {
                self.end_partial(out);
            }
            return Ok(());
        };
        // A new call ends one still streaming (Vertex may omit the closing part).
        self.end_partial(out);
        if call.will_continue && call.args.is_none() {
            let partial = PartialCall { id: call.id, name, args: Value::Object(Map::new()), signature };
            self.partial = Some(partial);
            return Ok(());
        }
        let args = match call.args {
            Some(Value::Object(args)) => Value::Object(args),
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(other) => {
                return Err(Error::invalid_response(
                    PROVIDER,
                    format!(
                        "the arguments of call `{name}` are not an object: {}",
                        super::http::truncate(&other.to_string(), 100)
                    ),
                ));
            }
        };
        self.emit(call.id, name, &args, out);
        self.parts.push(value);
        Ok(())
    }

    fn end_partial(&mut self, out: &mut VecDeque<ModelDelta>) {
        let Some(PartialCall { id, name, args, signature }) = self.partial.take() else { return };
        let mut function_call = json!({"name": name, "args": args});
        if let Some(id) = &id {
            function_call["id"] = Value::from(id.as_str());
        }
        let mut part = json!({"functionCall": function_call});
        if let Some(signature) = signature {
            part["thoughtSignature"] = Value::from(signature);
        }
        self.emit(id, name, &args, out);
        self.parts.push(part);
    }

    fn emit(&mut self, id: Option<String>, name: String, args: &Value, out: &mut VecDeque<ModelDelta>) {
        let index = self.calls;
        self.calls += 1;
        let id = id.filter(|id| !id.is_empty()).unwrap_or_else(|| self.synthetic_id(index));
        let call = ToolCall { id, name, arguments: args.to_string() };
        out.push_back(ModelDelta::ToolCall { index, call });
    }

    /// Gemini 2.x sends calls without ids; fanout needs one per call to match its result. It
    /// is unique per response (and per process without a response id), and never sent to
    /// Gemini: it starts with [`SYNTHETIC_ID_PREFIX`].
    fn synthetic_id(&self, index: usize) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        match &self.response_id {
            Some(response) => format!("{SYNTHETIC_ID_PREFIX}{response}_{index}"),
            None => format!("{SYNTHETIC_ID_PREFIX}{}", NEXT.fetch_add(1, Ordering::Relaxed)),
        }
    }

    /// Whether Gemini said why the turn ended.
    pub(super) fn has_finished(&self) -> bool {
        self.finish.is_some()
    }

    /// The body ended: the turn is complete only if Gemini said why it stopped.
    pub(super) fn on_end(&mut self, out: &mut VecDeque<ModelDelta>) -> Result<()> {
        let Some((reason, message)) = self.finish.take() else {
            return Err(Error::incomplete_stream(
                PROVIDER,
                "the stream ended before Gemini sent a finish reason",
            ));
        };
        // Vertex may end the turn without closing the last streamed call.
        self.end_partial(out);
        let finish = finish_reason(&reason, message.as_deref(), self.calls > 0)?;
        if !self.parts.is_empty() {
            out.push_back(ModelDelta::Replay(Replay::new(
                PROVIDER,
                Value::Array(std::mem::take(&mut self.parts)),
            )));
        }
        if let Some(usage) = self.usage.take() {
            out.push_back(ModelDelta::Usage(usage));
        }
        out.push_back(ModelDelta::Finish(finish));
        Ok(())
    }
}

/// Gemini's finish reasons. A malformed or unexpected call is an error (retried: the model may
/// get it right next time); safety stops are [`FinishReason::ContentFilter`].
fn finish_reason(reason: &str, message: Option<&str>, calls: bool) -> Result<FinishReason> {
    Ok(match reason {
        "STOP" if calls => FinishReason::ToolCalls,
        "STOP" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION" => FinishReason::ContentFilter,
        "MALFORMED_FUNCTION_CALL"
        | "UNEXPECTED_TOOL_CALL"
        | "TOO_MANY_TOOL_CALLS"
        | "MISSING_THOUGHT_SIGNATURE" => {
            let detail = message.map(|m| format!(": {m}")).unwrap_or_default();
            return Err(Error::invalid_response(
                PROVIDER,
                format!("the model stopped with {reason}{detail}"),
            )
            .with_code(reason)
            .with_retryable(true));
        }
        other => FinishReason::Other(other.to_owned()),
    })
}

/// A prompt Gemini refused to answer (`promptFeedback.blockReason`); not retried.
fn blocked((reason, message): (String, Option<String>)) -> Error {
    let detail = message.map(|m| format!(": {m}")).unwrap_or_default();
    Error::new(ErrorKind::Other, format!("Gemini blocked the prompt ({reason}){detail}"))
        .with_provider(PROVIDER)
        .with_code(reason)
}

/// One step of a `partialArgs` JSON path.
enum Step {
    Key(String),
    Index(usize),
}

/// `$.a.b[0].c` (and `$['a']`) as steps.
fn path(path: &str) -> Option<Vec<Step>> {
    let mut rest = path.strip_prefix('$')?;
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let (key, tail) = after.split_at(end);
            if key.is_empty() {
                return None;
            }
            steps.push(Step::Key(key.to_owned()));
            rest = tail;
        } else if let Some(after) = rest.strip_prefix("['") {
            let end = after.find("']")?;
            steps.push(Step::Key(after[..end].to_owned()));
            rest = &after[end + 2..];
        } else {
            let after = rest.strip_prefix('[')?;
            let end = after.find(']')?;
            let index = after[..end].parse().ok().filter(|i| *i <= MAX_PATH_INDEX)?;
            steps.push(Step::Index(index));
            rest = &after[end + 1..];
        }
    }
    Some(steps)
}

/// Put one streamed argument value in place; string pieces are appended.
fn apply(args: &mut Value, arg: wire::PartialArg) -> Result<()> {
    let steps = path(&arg.json_path).ok_or_else(|| {
        Error::invalid_response(
            PROVIDER,
            format!("an argument path is not understood: {}", super::http::truncate(&arg.json_path, 100)),
        )
    })?;
    // The containers are created just above each use, so the lookups cannot fail.
    let shape = || Error::invalid_response(PROVIDER, "an argument path does not fit the arguments");
    let mut at = args;
    for step in steps {
        at = match step {
            Step::Key(key) => {
                if !at.is_object() {
                    *at = Value::Object(Map::new());
                }
                at.as_object_mut().ok_or_else(shape)?.entry(key).or_insert(Value::Null)
            }
            Step::Index(index) => {
                if !at.is_array() {
                    *at = Value::Array(Vec::new());
                }
                let items = at.as_array_mut().ok_or_else(shape)?;
                if items.len() <= index {
                    items.resize(index + 1, Value::Null);
                }
                items.get_mut(index).ok_or_else(shape)?
            }
        };
    }
    if let Some(piece) = arg.string_value {
        match at {
            Value::String(text) => text.push_str(&piece),
            _ => *at = Value::String(piece),
        }
    } else if let Some(number) = arg.number_value {
        *at = Value::Number(number);
    } else if let Some(flag) = arg.bool_value {
        *at = Value::Bool(flag);
    } else if arg.null_value.is_some() {
        *at = Value::Null;
    }
    Ok(())
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
            assembler.on_event(&data, &mut out)?;
        }
    }
    assembler.on_end(&mut out)?;
    Ok(out.into())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sse(events: &[Value]) -> String {
        events.iter().map(|e| format!("data: {e}\n\n")).collect()
    }

    fn chunk(parts: Value, finish: Option<&str>) -> Value {
        let mut candidate = json!({"content": {"role": "model", "parts": parts}});
        if let Some(finish) = finish {
            candidate["finishReason"] = finish.into();
        }
        json!({"candidates": [candidate]})
    }

    fn replay(deltas: &[ModelDelta]) -> Value {
        deltas
            .iter()
            .find_map(|d| match d {
                ModelDelta::Replay(r) => Some(r.data.clone()),
                _ => None,
            })
            .unwrap()
    }

    #[test]
    fn text_pieces_join_up_to_their_signature_and_unknown_parts_are_kept() {
        let body = sse(&[
            chunk(json!([{"text": "Thin", "thought": true}]), None),
            chunk(json!([{"text": "king", "thought": true, "thoughtSignature": "s1"}]), None),
            chunk(json!([{"text": "Hel"}]), None),
            chunk(json!([{"text": "lo"}, {"executableCode": {"code": "1+1"}}]), None),
            chunk(json!([{"text": "!", "thoughtSignature": "s2"}]), Some("STOP")),
        ]);
        let deltas = parse_recorded_stream(&[body.as_bytes()]).unwrap();
        assert_eq!(deltas[0], ModelDelta::Reasoning("Thin".into()));
        assert_eq!(
            replay(&deltas),
            json!([
                {"text": "Thinking", "thought": true, "thoughtSignature": "s1"},
                {"text": "Hello"},
                {"executableCode": {"code": "1+1"}},
                {"text": "!", "thoughtSignature": "s2"}
            ])
        );
        assert_eq!(deltas.last(), Some(&ModelDelta::Finish(FinishReason::Stop)));
    }

    #[test]
    fn partial_arguments_are_assembled_by_path() {
        let partial = |path: &str, value: Value, more: bool| {
            let mut arg = json!({"jsonPath": path});
            arg.as_object_mut().unwrap().extend(value.as_object().unwrap().clone());
            chunk(json!([{"functionCall": {"partialArgs": [arg], "willContinue": more}}]), None)
        };
        let body = sse(&[
            chunk(
                json!([{"functionCall": {"name": "f", "willContinue": true}, "thoughtSignature": "s"}]),
                None,
            ),
            partial("$.a[1].b", json!({"stringValue": "x"}), true),
            partial("$.a[1].b", json!({"stringValue": "y"}), true),
            partial("$['c d']", json!({"boolValue": true}), true),
            partial("$.n", json!({"nullValue": null}), false),
            chunk(json!([{"text": ""}]), Some("STOP")),
        ]);
        let deltas = parse_recorded_stream(&[body.as_bytes()]).unwrap();
        let ModelDelta::ToolCall { index: 0, call } = &deltas[0] else { panic!("{deltas:?}") };
        let args: Value = serde_json::from_str(&call.arguments).unwrap();
        assert_eq!(args, json!({"a": [null, {"b": "xy"}], "c d": true, "n": null}));
        assert_eq!(
            replay(&deltas),
            json!([{"functionCall": {"name": "f", "args": args}, "thoughtSignature": "s"}])
        );
    }

    #[test]
    fn bad_calls_are_clear_errors() {
        for (parts, message) in [
            (
                json!([{"functionCall": {"name": "f", "args": [1]}}]),
                "the arguments of call `f` are not an object",
            ),
            (
                json!([{"functionCall": {"partialArgs": [{"jsonPath": "$.a", "stringValue": "x"}]}}]),
                "before the call's name",
            ),
        ] {
            let body = sse(&[chunk(parts, Some("STOP"))]);
            let err = parse_recorded_stream(&[body.as_bytes()]).unwrap_err();
            assert!(err.to_string().contains(message), "{err}");
        }
        assert!(path("$.a[99999999]").is_none(), "indexes are bounded");
        assert!(path("a.b").is_none() && path("$..a").is_none() && path("$[x]").is_none());
        let err = parse_recorded_stream(&[b"data: {\"candidates\": [\n\n"]).unwrap_err();
        assert!(err.to_string().contains("a stream chunk is not valid JSON"), "{err}");
    }
}
