//! Responses API wire types. Requests are built from the [`ModelRequest`], replaying each
//! assistant turn's own output items when its [`Replay`](crate::model::Replay) has them;
//! responses are read leniently: unknown fields and events are ignored, missing or `null`
//! optional ones default.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::super::wire::{Arguments, count, lenient, nullable};
use super::Settings;
use crate::model::{Message, ModelRequest, ToolChoice, Usage};
use crate::tool::{ToolCall, ToolDefinition};

/// The keys of a `Replay` written by this provider: the response's id and its output items.
pub(super) const RESPONSE_ID_KEY: &str = "response_id";
pub(super) const ITEMS_KEY: &str = "items";

#[derive(Serialize)]
pub(super) struct ResponsesRequest<'a> {
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    instructions: Option<String>,
    input: Vec<InputItem<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    /// Structured output: `{format: {type: json_schema, name, schema, strict: true}}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<Value>,
    store: bool,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    include: &'static [&'static str],
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_response_id: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(flatten)]
    settings: &'a Settings,
}

/// One item of `input`.
#[derive(Serialize, Debug, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
enum InputItem<'a> {
    Message {
        role: &'static str,
        content: &'a str,
    },
    FunctionCall {
        call_id: &'a str,
        name: &'a str,
        arguments: &'a str,
    },
    FunctionCallOutput {
        call_id: &'a str,
        output: &'a str,
    },
    /// An output item of an earlier turn, sent back as the API gave it.
    #[serde(untagged)]
    Replayed(Value),
}

#[derive(Serialize)]
struct WireTool<'a> {
    r#type: &'static str,
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    description: &'a str,
    parameters: &'a Value,
    /// Always sent: the Responses API's default is `true`, which refuses schemas that are not
    /// strict-compatible.
    strict: bool,
}

impl<'a> From<&'a ToolDefinition> for WireTool<'a> {
    fn from(tool: &'a ToolDefinition) -> Self {
        Self {
            r#type: "function",
            name: &tool.name,
            description: &tool.description,
            parameters: &tool.parameters,
            strict: tool.strict,
        }
    }
}

impl<'a> ResponsesRequest<'a> {
    /// `provider` names the `Replay`s this provider wrote: only those are sent back;
    /// `reasoning`: whether the model reasons (and can return its reasoning encrypted).
    pub(super) fn new(
        model: &'a str,
        provider: &str,
        reasoning: bool,
        settings: &'a Settings,
        request: &'a ModelRequest,
        stream: bool,
    ) -> Self {
        let store = settings.store;
        let system: Vec<&str> = request
            .messages
            .iter()
            .filter_map(|m| match m {
                Message::System { content } => Some(content.as_str()),
                _ => None,
            })
            .collect();
        let (previous_response_id, start) =
            if store { continuation(provider, &request.messages) } else { (None, 0) };
        let mut input = Vec::new();
        for message in &request.messages[start..] {
            match message {
                Message::System { .. } => {}
                Message::User { content } => input.push(InputItem::Message { role: "user", content }),
                Message::Assistant { content, tool_calls, replay } => {
                    let items = replay
                        .as_ref()
                        .and_then(|r| r.data_for(provider))
                        .and_then(|data| data[ITEMS_KEY].as_array());
                    match items {
                        Some(items) => replayed_turn(items, tool_calls, store, &mut input),
                        None => {
                            if let Some(content) = content.as_deref().filter(|c| !c.is_empty()) {
                                input.push(InputItem::Message { role: "assistant", content });
                            }
                            input.extend(tool_calls.iter().map(function_call));
                        }
                    }
                }
                Message::Tool { call_id, content, .. } => {
                    input.push(InputItem::FunctionCallOutput { call_id, output: content })
                }
            }
        }
        let tool_choice = request.tool_choice.as_ref().map(|choice| match choice {
            ToolChoice::Auto => Value::from("auto"),
            ToolChoice::None => Value::from("none"),
            ToolChoice::Required => Value::from("required"),
            ToolChoice::Function(name) => serde_json::json!({"type": "function", "name": name}),
        });
        Self {
            model,
            instructions: (!system.is_empty()).then(|| system.join("\n\n")),
            input,
            tools: request.tools.iter().map(|tool| WireTool::from(&**tool)).collect(),
            tool_choice,
            parallel_tool_calls: request.parallel_tool_calls,
            text: request.output_schema.as_deref().map(|schema| {
                serde_json::json!({"format": {
                    "type": "json_schema",
                    "name": schema.name(),
                    "schema": schema.strict_schema(),
                    "strict": true,
                }})
            }),
            store,
            // Without storage, the reasoning can only be carried across turns encrypted; other
            // models refuse to be asked for it.
            include: if !store && reasoning { &["reasoning.encrypted_content"] } else { &[] },
            previous_response_id,
            stream,
            settings,
        }
    }
}

fn function_call(call: &ToolCall) -> InputItem<'_> {
    InputItem::FunctionCall { call_id: &call.id, name: &call.name, arguments: &call.arguments }
}

/// With stored responses: the last assistant turn the server can continue from (its response
/// id), and where the input after it begins. A turn whose calls are not the API's own (a
/// `parallel` wrapper expanded into calls it never issued) cannot be continued: the server
/// would wait for the wrapper's result. Then the whole conversation is sent.
fn continuation<'a>(provider: &str, messages: &'a [Message]) -> (Option<&'a str>, usize) {
    for (at, message) in messages.iter().enumerate().rev() {
        let Message::Assistant { tool_calls, replay, .. } = message else { continue };
        let Some(data) = replay.as_ref().and_then(|r| r.data_for(provider)) else { break };
        let (Some(id), Some(items)) = (data[RESPONSE_ID_KEY].as_str(), data[ITEMS_KEY].as_array()) else {
            break;
        };
        let own_calls = items
            .iter()
            .filter(|item| item["type"] == "function_call")
            .all(|item| tool_calls.iter().any(|call| item["call_id"] == call.id.as_str()));
        if own_calls {
            return (Some(id), at + 1);
        }
        break;
    }
    (None, 0)
}

/// An assistant turn from its own output items (reasoning with its `encrypted_content`,
/// messages, calls), in their order. A `parallel` wrapper's item is replaced by the calls it was
/// expanded into (`<call_id>_<i>`), which the tool results answer; calls the turn holds but the
/// items do not are added after them.
fn replayed_turn<'a>(items: &[Value], calls: &'a [ToolCall], store: bool, input: &mut Vec<InputItem<'a>>) {
    let mut sent = vec![false; calls.len()];
    for item in items {
        match item["type"].as_str() {
            Some("function_call") => {
                let call_id = item["call_id"].as_str().unwrap_or_default();
                if let Some(at) = calls.iter().position(|c| c.id == call_id) {
                    sent[at] = true;
                    input.push(InputItem::Replayed(replayable(item, store)));
                    continue;
                }
                let prefix = format!("{call_id}_");
                for (at, call) in calls.iter().enumerate() {
                    let expanded = call.id.strip_prefix(&prefix).is_some_and(|i| i.parse::<usize>().is_ok());
                    if expanded && !sent[at] {
                        sent[at] = true;
                        input.push(function_call(call));
                    }
                }
            }
            // Without storage a reasoning item is only of use with its encrypted content.
            Some("reasoning") if !store && item["encrypted_content"].as_str().is_none() => {}
            _ => input.push(InputItem::Replayed(replayable(item, store))),
        }
    }
    for (call, sent) in calls.iter().zip(sent) {
        if !sent {
            input.push(function_call(call));
        }
    }
}

/// Without storage, the item's `id` names nothing the server kept: it is left out.
fn replayable(item: &Value, store: bool) -> Value {
    let mut item = item.clone();
    if !store && let Some(object) = item.as_object_mut() {
        object.remove("id");
    }
    item
}

/// One streamed event. Only what fanout reads; everything else is ignored.
#[derive(Deserialize, Default)]
pub(super) struct Event {
    #[serde(default, rename = "type")]
    pub(super) kind: String,
    #[serde(default, deserialize_with = "lenient")]
    pub(super) item_id: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub(super) output_index: Option<u64>,
    /// Which summary part or content part a delta belongs to.
    #[serde(default, deserialize_with = "lenient")]
    pub(super) summary_index: Option<u64>,
    #[serde(default, deserialize_with = "lenient")]
    pub(super) content_index: Option<u64>,
    #[serde(default, deserialize_with = "lenient")]
    pub(super) delta: Option<String>,
    #[serde(default)]
    pub(super) arguments: Option<Arguments>,
    /// An output item, kept as sent for the replay.
    #[serde(default)]
    pub(super) item: Option<Value>,
    #[serde(default)]
    pub(super) response: Option<WireResponse>,
    /// The `error` event's error (some servers put its fields at the top level instead).
    #[serde(default)]
    pub(super) error: Option<WireError>,
    #[serde(default, deserialize_with = "lenient")]
    pub(super) code: Option<Value>,
    #[serde(default, deserialize_with = "lenient")]
    pub(super) message: Option<String>,
}

/// A response object: whole, or in `response.*` events.
#[derive(Deserialize, Default)]
pub(super) struct WireResponse {
    #[serde(default, deserialize_with = "lenient")]
    pub(super) id: Option<String>,
    /// The model that answered.
    #[serde(default, deserialize_with = "lenient")]
    pub(super) model: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub(super) status: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) output: Vec<Value>,
    #[serde(default, deserialize_with = "lenient")]
    usage: Option<WireUsage>,
    #[serde(default, deserialize_with = "lenient")]
    pub(super) error: Option<WireError>,
    #[serde(default, deserialize_with = "lenient")]
    pub(super) incomplete_details: Option<IncompleteDetails>,
}

impl WireResponse {
    pub(super) fn take_usage(&mut self) -> Option<Usage> {
        self.usage.take().map(Usage::from)
    }
}

#[derive(Deserialize, Default)]
pub(super) struct IncompleteDetails {
    #[serde(default, deserialize_with = "lenient")]
    pub(super) reason: Option<String>,
}

/// `{code, message, type}` of an error event, a failed response or an error body.
#[derive(Deserialize, Default)]
pub(super) struct WireError {
    #[serde(default, deserialize_with = "lenient")]
    pub(super) code: Option<Value>,
    #[serde(default, deserialize_with = "lenient")]
    pub(super) message: Option<String>,
    #[serde(default, rename = "type", deserialize_with = "lenient")]
    pub(super) kind: Option<String>,
}

impl WireError {
    pub(super) fn code_text(&self) -> Option<String> {
        code_text(self.code.as_ref())
    }
}

/// A code: a string, or a number on some servers.
fn code_text(code: Option<&Value>) -> Option<String> {
    match code {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

/// An output item, read for what fanout shows and runs.
#[derive(Deserialize, Default)]
pub(super) struct OutputItem {
    #[serde(default, rename = "type", deserialize_with = "lenient")]
    pub(super) kind: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub(super) id: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub(super) call_id: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) arguments: Option<Arguments>,
    /// A message's `output_text` and `refusal` parts; a reasoning item's `reasoning_text`.
    #[serde(default, deserialize_with = "nullable")]
    pub(super) content: Vec<Part>,
    /// A reasoning item's `summary_text` parts.
    #[serde(default, deserialize_with = "nullable")]
    pub(super) summary: Vec<Part>,
}

impl OutputItem {
    pub(super) fn read(item: &Value) -> Self {
        Self::deserialize(item).unwrap_or_default()
    }
}

#[derive(Deserialize, Default)]
pub(super) struct Part {
    #[serde(default, rename = "type", deserialize_with = "lenient")]
    pub(super) kind: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub(super) text: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub(super) refusal: Option<String>,
}

#[derive(Deserialize, Default)]
struct WireUsage {
    #[serde(default, deserialize_with = "count")]
    input_tokens: u64,
    #[serde(default, deserialize_with = "count")]
    output_tokens: u64,
    #[serde(default, deserialize_with = "count")]
    total_tokens: u64,
    #[serde(default, deserialize_with = "lenient")]
    input_tokens_details: Option<TokenDetails>,
    #[serde(default, deserialize_with = "lenient")]
    output_tokens_details: Option<TokenDetails>,
}

#[derive(Deserialize, Default)]
struct TokenDetails {
    #[serde(default, deserialize_with = "count")]
    cached_tokens: u64,
    #[serde(default, deserialize_with = "count")]
    reasoning_tokens: u64,
}

impl From<WireUsage> for Usage {
    fn from(u: WireUsage) -> Self {
        Usage {
            input_tokens: u.input_tokens,
            output_tokens: u.output_tokens,
            total_tokens: if u.total_tokens > 0 { u.total_tokens } else { u.input_tokens + u.output_tokens },
            cached_input_tokens: u.input_tokens_details.map_or(0, |d| d.cached_tokens),
            reasoning_tokens: u.output_tokens_details.map_or(0, |d| d.reasoning_tokens),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::model::Replay;
    use serde_json::json;

    fn input(messages: Vec<Message>, store: bool) -> Value {
        let settings = Settings { store, ..Settings::default() };
        let request = ModelRequest { messages, ..ModelRequest::default() };
        let wire = ResponsesRequest::new("m", "openai-responses", true, &settings, &request, false);
        serde_json::to_value(&wire).unwrap()
    }

    fn tool(call_id: &str, content: &str) -> Message {
        Message::Tool { call_id: call_id.into(), name: "t".into(), content: content.into(), is_error: false }
    }

    #[test]
    fn turns_without_this_providers_replay_are_built_from_text_and_calls() {
        let body = input(
            vec![
                Message::system("Be brief."),
                Message::user("hi"),
                Message::Assistant {
                    content: Some("Looking.".into()),
                    tool_calls: vec![ToolCall::new("c1", "t", "{}")],
                    // Another provider's record (Chat Completions): not ours to send.
                    replay: Some(Replay::new("openai", json!({"items": [{"type": "reasoning"}]}))),
                },
                tool("c1", "done"),
            ],
            false,
        );
        assert_eq!(body["instructions"], "Be brief.");
        assert_eq!(
            body["input"],
            json!([
                {"type": "message", "role": "user", "content": "hi"},
                {"type": "message", "role": "assistant", "content": "Looking."},
                {"type": "function_call", "call_id": "c1", "name": "t", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c1", "output": "done"},
            ])
        );
        assert!(body.get("previous_response_id").is_none());
    }

    #[test]
    fn a_stored_turn_is_continued_unless_its_calls_were_expanded() {
        let turn = |calls: Vec<ToolCall>, item_call_id: &str| Message::Assistant {
            content: None,
            tool_calls: calls,
            replay: Some(Replay::new(
                "openai-responses",
                json!({"response_id": "resp_1", "items": [
                    {"type": "reasoning", "id": "rs_1", "summary": []},
                    {"type": "function_call", "id": "fc_1", "call_id": item_call_id, "name": "t", "arguments": "{}"}
                ]}),
            )),
        };
        let own =
            vec![Message::user("hi"), turn(vec![ToolCall::new("c1", "t", "{}")], "c1"), tool("c1", "ok")];
        let body = input(own.clone(), true);
        assert_eq!(body["previous_response_id"], "resp_1");
        assert_eq!(body["input"], json!([{"type": "function_call_output", "call_id": "c1", "output": "ok"}]));
        // Not stored: the whole conversation; a reasoning item without encrypted content and
        // every id are left out.
        let body = input(own, false);
        assert_eq!(
            body["input"][1],
            json!({"type": "function_call", "call_id": "c1", "name": "t", "arguments": "{}"})
        );
        assert_eq!(body["input"].as_array().unwrap().len(), 3);

        let expanded = vec![
            Message::user("hi"),
            turn(vec![ToolCall::new("w_0", "a", "{}"), ToolCall::new("w_1", "b", "{}")], "w"),
            tool("w_0", "A"),
            tool("w_1", "B"),
        ];
        let body = input(expanded, true);
        assert!(body.get("previous_response_id").is_none());
        let kinds: Vec<&str> =
            body["input"].as_array().unwrap().iter().map(|i| i["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "message",
                "reasoning",
                "function_call",
                "function_call",
                "function_call_output",
                "function_call_output"
            ]
        );
        assert_eq!(body["input"][1]["id"], "rs_1", "stored items keep their ids");
        assert_eq!(body["input"][3]["call_id"], "w_1");
    }
}
