//! From Responses API events to [`ModelDelta`]s: text and reasoning as they arrive, each tool
//! call emitted whole as soon as the server says its arguments are done
//! (`response.function_call_arguments.done`, or the call's `response.output_item.done`,
//! whichever comes first; never twice), a `parallel` wrapper expanded into its calls (see
//! [`parallel`](crate::model::parallel)), and at `response.completed` the finish, the usage and
//! the turn's output items as a [`Replay`]. A body that ends before `response.completed` is an
//! incomplete stream.
//!
//! What servers do that this accepts: argument deltas keyed by `item_id` — or, when the id is
//! one it never announced (GitHub Copilot gives every event a fresh id), by `output_index` —;
//! arguments only in the `.done` event (LM Studio); calls that only appear whole; unknown events
//! and item types (server-side tool search, web search), which are kept for the replay.

use std::collections::VecDeque;
use std::sync::Arc;

use serde_json::Value;

use super::wire::{Event, ITEMS_KEY, OutputItem, RESPONSE_ID_KEY, WireError, WireResponse};
use crate::error::{Error, ErrorKind, Result};
use crate::model::http::{ErrorBody, truncate};
use crate::model::openai::stream::no_arguments_as_object;
use crate::model::{FinishReason, ModelDelta, Replay, new_call_id, parallel};
use crate::tool::{ToolCall, ToolDefinition};

/// A function call item, from its first event until it is emitted.
#[derive(Debug, Default)]
struct PendingCall {
    item_id: Option<String>,
    output_index: Option<u64>,
    call_id: Option<String>,
    name: Option<String>,
    arguments: String,
    emitted: bool,
}

/// Where a piece of text or reasoning belongs: pieces of different items or parts are
/// separated by a blank line.
type PartKey = (Option<u64>, Option<u64>);

/// Turns the `data` of each SSE event into deltas.
#[derive(Debug)]
pub(crate) struct Assembler {
    provider: &'static str,
    /// The tools offered, so that a wrapper is told from a real tool of that name.
    tools: Arc<[Arc<ToolDefinition>]>,
    calls: Vec<PendingCall>,
    /// The position of the next [`ModelDelta::ToolCall`] (a wrapper's calls count one each).
    position: usize,
    /// The finished output items, in order, for the replay.
    items: Vec<Value>,
    response_id: Option<String>,
    last_text: Option<PartKey>,
    last_reasoning: Option<PartKey>,
    done: bool,
    /// Whether the response's id and model went out (with the first event that has them).
    reported: bool,
}

impl crate::model::http::Assemble for Assembler {
    fn on_event(&mut self, data: &str, out: &mut VecDeque<ModelDelta>) -> Result<bool> {
        Assembler::on_event(self, data, out)
    }

    fn on_end(&mut self, _out: &mut VecDeque<ModelDelta>) -> Result<()> {
        Assembler::on_end(self)
    }
}

impl Assembler {
    pub(crate) fn new(provider: &'static str, tools: Arc<[Arc<ToolDefinition>]>) -> Self {
        Self {
            provider,
            tools,
            calls: Vec::new(),
            position: 0,
            items: Vec::new(),
            response_id: None,
            last_text: None,
            last_reasoning: None,
            done: false,
            reported: false,
        }
    }

    /// Handle one event's data. `Ok(true)` once the turn is over (`response.completed`).
    pub(crate) fn on_event(&mut self, data: &str, out: &mut VecDeque<ModelDelta>) -> Result<bool> {
        if self.done {
            return Ok(true);
        }
        let event: Event = serde_json::from_str(data).map_err(|e| {
            Error::invalid_response(
                self.provider,
                format!("a stream event is not valid JSON ({e}): {}", truncate(data, 200)),
            )
        })?;
        match event.kind.as_str() {
            "response.created" | "response.in_progress" => {
                if let Some(response) = event.response {
                    self.report(&response, out);
                    if let Some(id) = response.id {
                        self.response_id = Some(id);
                    }
                }
            }
            "response.output_item.added" => {
                if let Some(item) = &event.item {
                    let read = OutputItem::read(item);
                    if read.kind.as_deref() == Some("function_call") {
                        let slot = self.slot(read.id.as_deref(), event.output_index);
                        let call = &mut self.calls[slot];
                        fill(call, read);
                    }
                }
            }
            "response.function_call_arguments.delta" => {
                let slot = self.slot(event.item_id.as_deref(), event.output_index);
                let call = &mut self.calls[slot];
                if !call.emitted {
                    call.arguments.push_str(event.delta.as_deref().unwrap_or_default());
                }
            }
            "response.function_call_arguments.done" => {
                let slot = self.slot(event.item_id.as_deref(), event.output_index);
                let call = &mut self.calls[slot];
                if let Some(arguments) = event.arguments {
                    call.arguments = arguments.0;
                }
                // The name comes with the item; a server that never announced it is waited for
                // until the item is done.
                if call.name.is_some() {
                    self.emit(slot, out)?;
                }
            }
            "response.output_item.done" => {
                if let Some(item) = event.item {
                    let read = OutputItem::read(&item);
                    self.items.push(item);
                    if read.kind.as_deref() == Some("function_call") {
                        let slot = self.slot(read.id.as_deref(), event.output_index);
                        fill(&mut self.calls[slot], read);
                        self.emit(slot, out)?;
                    }
                }
            }
            "response.output_text.delta" | "response.refusal.delta" => {
                let key = (event.output_index, event.content_index);
                if let Some(text) = separated(&mut self.last_text, key, event.delta) {
                    out.push_back(ModelDelta::Text(text));
                }
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                let key = (event.output_index, event.summary_index.or(event.content_index));
                if let Some(text) = separated(&mut self.last_reasoning, key, event.delta) {
                    out.push_back(ModelDelta::Reasoning(text));
                }
            }
            "response.completed" => {
                self.complete(event.response.unwrap_or_default(), out)?;
                return Ok(true);
            }
            "response.incomplete" => {
                return Err(incomplete_response(self.provider, &event.response.unwrap_or_default()));
            }
            "response.failed" => {
                let response = event.response.unwrap_or_default();
                return Err(api_error(self.provider, response.error, "the response failed"));
            }
            "error" => {
                let error =
                    event.error.unwrap_or(WireError { code: event.code, message: event.message, kind: None });
                return Err(api_error(self.provider, Some(error), "the stream reported an error"));
            }
            _ => {}
        }
        Ok(false)
    }

    /// The body ended: fine only after `response.completed`.
    pub(crate) fn on_end(&mut self) -> Result<()> {
        if self.done {
            return Ok(());
        }
        let open = self.calls.iter().filter(|c| !c.emitted).count();
        Err(Error::incomplete_stream(
            self.provider,
            if open > 0 {
                format!("the body ended in the middle of {open} tool call(s), before response.completed")
            } else {
                "the body ended before response.completed".to_owned()
            },
        ))
    }

    /// The end of the turn: calls only the final response holds, the finish, the usage, and
    /// the output items to replay.
    fn complete(&mut self, mut response: WireResponse, out: &mut VecDeque<ModelDelta>) -> Result<()> {
        self.done = true;
        self.report(&response, out);
        if let Some(id) = response.id.take() {
            self.response_id = Some(id);
        }
        // The final output is the whole turn when the server sends it (some send `[]`).
        if !response.output.is_empty() {
            self.items = std::mem::take(&mut response.output);
        }
        for item in &self.items {
            let read = OutputItem::read(item);
            if read.kind.as_deref() != Some("function_call") {
                continue;
            }
            // The same call as streamed, by item id or by call id (item ids may rotate).
            let known = self.calls.iter().position(|c| {
                (c.item_id.is_some() && c.item_id == read.id)
                    || (c.call_id.is_some() && c.call_id == read.call_id)
            });
            let slot = match known {
                Some(slot) => slot,
                None => {
                    self.calls.push(PendingCall::default());
                    self.calls.len() - 1
                }
            };
            fill(&mut self.calls[slot], read);
        }
        for slot in 0..self.calls.len() {
            self.emit(slot, out)?;
        }
        let finish = if self.position > 0 { FinishReason::ToolCalls } else { FinishReason::Stop };
        out.push_back(ModelDelta::Finish(finish));
        if let Some(usage) = response.take_usage() {
            out.push_back(ModelDelta::Usage(usage));
        }
        if let Some(replay) = replay(self.provider, self.response_id.take(), std::mem::take(&mut self.items))
        {
            out.push_back(ModelDelta::Replay(replay));
        }
        Ok(())
    }

    /// The response's id and model, the first time an event has them.
    fn report(&mut self, response: &WireResponse, out: &mut VecDeque<ModelDelta>) {
        if !self.reported
            && let Some(delta) = ModelDelta::response(response.id.as_deref(), response.model.as_deref())
        {
            self.reported = true;
            out.push_back(delta);
        }
    }

    /// The call an event names: by item id, else by output index; a new one if neither is
    /// known.
    fn slot(&mut self, item_id: Option<&str>, output_index: Option<u64>) -> usize {
        let by_id = item_id.and_then(|id| self.calls.iter().position(|c| c.item_id.as_deref() == Some(id)));
        let by_index =
            || output_index.and_then(|i| self.calls.iter().position(|c| c.output_index == Some(i)));
        if let Some(slot) = by_id.or_else(by_index) {
            let call = &mut self.calls[slot];
            call.output_index = call.output_index.or(output_index);
            return slot;
        }
        self.calls.push(PendingCall {
            item_id: item_id.map(str::to_owned),
            output_index,
            ..PendingCall::default()
        });
        self.calls.len() - 1
    }

    /// Emit call `slot` (once): as itself, or as the calls of a `parallel` wrapper.
    fn emit(&mut self, slot: usize, out: &mut VecDeque<ModelDelta>) -> Result<()> {
        let Some(call) = self.calls.get_mut(slot).filter(|c| !c.emitted) else { return Ok(()) };
        call.emitted = true;
        // The id stays: the final output may name the call again, by it.
        let (id, name, arguments) =
            (call.call_id.clone(), call.name.clone(), std::mem::take(&mut call.arguments));
        for call in tool_calls(self.provider, id, name, arguments, &self.tools)? {
            out.push_back(ModelDelta::ToolCall { index: self.position, call });
            self.position += 1;
        }
        Ok(())
    }
}

/// The calls a function call item stands for: itself, or a `parallel` wrapper's calls. A call
/// without a `call_id` gets a made-up one; empty arguments are `{}`.
pub(super) fn tool_calls(
    provider: &'static str,
    call_id: Option<String>,
    name: Option<String>,
    arguments: String,
    tools: &[Arc<ToolDefinition>],
) -> Result<Vec<ToolCall>> {
    let name = name
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Error::invalid_response(provider, "a function call has no name"))?;
    let call = ToolCall {
        id: call_id.filter(|id| !id.is_empty()).unwrap_or_else(new_call_id),
        name,
        arguments: no_arguments_as_object(arguments),
    };
    Ok(parallel::expand(call, tools.iter().map(|t| &**t)))
}

/// Take what a function call item says about itself.
fn fill(call: &mut PendingCall, item: OutputItem) {
    if call.emitted {
        return;
    }
    call.item_id = call.item_id.take().or(item.id);
    if let Some(call_id) = item.call_id.filter(|id| !id.is_empty()) {
        call.call_id = Some(call_id);
    }
    if let Some(name) = item.name.filter(|n| !n.is_empty()) {
        call.name = Some(name);
    }
    if let Some(arguments) = item.arguments.filter(|a| !a.0.is_empty()) {
        call.arguments = arguments.0;
    }
}

/// `delta`, after a blank line when it begins another item or part than the last one.
fn separated(last: &mut Option<PartKey>, key: PartKey, delta: Option<String>) -> Option<String> {
    let delta = delta.filter(|d| !d.is_empty())?;
    let text = match last.replace(key) {
        Some(previous) if previous != key => format!("\n\n{delta}"),
        _ => delta,
    };
    Some(text)
}

/// The turn's own record: its response id and output items, sent back with it.
pub(super) fn replay(provider: &str, response_id: Option<String>, items: Vec<Value>) -> Option<Replay> {
    (response_id.is_some() || !items.is_empty())
        .then(|| Replay::new(provider, serde_json::json!({ RESPONSE_ID_KEY: response_id, ITEMS_KEY: items })))
}

/// An error the API reported (an `error` event, a failed response, an error body with a 200).
/// Retryable when the API says it was on its side or a rate limit.
pub(super) fn api_error(provider: &'static str, error: Option<WireError>, fallback: &str) -> Error {
    let error = error.unwrap_or_default();
    let code = error.code_text();
    let retryable = [code.as_deref(), error.kind.as_deref()].into_iter().flatten().any(|t| {
        matches!(t, "server_error" | "slow_down" | "timeout")
            || t.contains("rate_limit")
            || t.contains("overloaded")
    });
    let message = error.message.filter(|m| !m.is_empty()).or_else(|| Some(fallback.to_owned()));
    let body = ErrorBody { message, code, error_type: error.kind, ..ErrorBody::default() };
    body.into_error(provider, None).with_retryable(retryable)
}

/// `response.incomplete` (or a whole response with that status): the model stopped early, for
/// the reason given (`max_output_tokens`, `content_filter`). Not retried: the same request
/// would stop the same way.
pub(super) fn incomplete_response(provider: &'static str, response: &WireResponse) -> Error {
    let reason = response.incomplete_details.as_ref().and_then(|d| d.reason.clone());
    let message = match &reason {
        Some(reason) => format!("the response is incomplete: {reason}"),
        None => "the response is incomplete".to_owned(),
    };
    let err = Error::new(ErrorKind::Status, message)
        .with_provider(provider)
        .with_error_type("incomplete")
        .with_retryable(false);
    match reason {
        Some(reason) => err.with_code(reason),
        None => err,
    }
}
