//! Chat Completions wire types. Requests borrow from the [`ModelRequest`]; responses are read
//! leniently: unknown fields are ignored, missing or `null` optional ones default.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::model::{Message, ModelRequest, ToolChoice, Usage};
use crate::tool::ToolDefinition;

use super::Settings;

#[derive(Serialize)]
pub(super) struct ChatRequest<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
    #[serde(flatten)]
    settings: &'a Settings,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<WireToolCall<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<&'a str>,
}

#[derive(Serialize)]
struct WireToolCall<'a> {
    id: &'a str,
    r#type: &'static str,
    function: WireFunctionCall<'a>,
}

#[derive(Serialize)]
struct WireFunctionCall<'a> {
    name: &'a str,
    arguments: &'a str,
}

#[derive(Serialize)]
struct WireTool<'a> {
    r#type: &'static str,
    function: WireFunction<'a>,
}

#[derive(Serialize)]
struct WireFunction<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    description: &'a str,
    parameters: &'a Value,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    strict: bool,
}

impl<'a> ChatRequest<'a> {
    pub(super) fn new(
        model: &'a str,
        system_role: &'a str,
        settings: &'a Settings,
        request: &'a ModelRequest,
        stream: bool,
    ) -> Self {
        let messages = request
            .messages
            .iter()
            .map(|message| match message {
                Message::System { content } => WireMessage::text(system_role, content),
                Message::User { content } => WireMessage::text("user", content),
                Message::Assistant { content, tool_calls, .. } => WireMessage {
                    role: "assistant",
                    content: content.as_deref(),
                    tool_calls: tool_calls
                        .iter()
                        .map(|c| WireToolCall {
                            id: &c.id,
                            r#type: "function",
                            function: WireFunctionCall { name: &c.name, arguments: &c.arguments },
                        })
                        .collect(),
                    tool_call_id: None,
                },
                Message::Tool { call_id, content, .. } => WireMessage {
                    role: "tool",
                    content: Some(content),
                    tool_calls: Vec::new(),
                    tool_call_id: Some(call_id),
                },
            })
            .collect();
        let tools = request.tools.iter().map(|tool| WireTool::from(&**tool)).collect();
        let tool_choice = request.tool_choice.as_ref().map(|choice| match choice {
            ToolChoice::Auto => Value::from("auto"),
            ToolChoice::None => Value::from("none"),
            ToolChoice::Required => Value::from("required"),
            ToolChoice::Function(name) => serde_json::json!({"type": "function", "function": {"name": name}}),
        });
        Self {
            model,
            messages,
            tools,
            tool_choice,
            parallel_tool_calls: request.parallel_tool_calls,
            stream,
            stream_options: stream.then_some(StreamOptions { include_usage: true }),
            settings,
        }
    }
}

impl<'a> WireMessage<'a> {
    fn text(role: &'a str, content: &'a str) -> Self {
        Self { role, content: Some(content), tool_calls: Vec::new(), tool_call_id: None }
    }
}

impl<'a> From<&'a ToolDefinition> for WireTool<'a> {
    fn from(tool: &'a ToolDefinition) -> Self {
        Self {
            r#type: "function",
            function: WireFunction {
                name: &tool.name,
                description: &tool.description,
                parameters: &tool.parameters,
                strict: tool.strict,
            },
        }
    }
}

/// `null` reads as the default, like a missing field.
fn nullable<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A whole (non-streamed) response.
#[derive(Deserialize)]
pub(super) struct ChatResponse {
    #[serde(default, deserialize_with = "nullable")]
    pub(super) choices: Vec<Choice>,
    #[serde(default)]
    pub(super) usage: Option<WireUsage>,
}

#[derive(Deserialize)]
pub(super) struct Choice {
    /// A whole message has the fields of a streamed delta, complete.
    #[serde(default, deserialize_with = "nullable")]
    pub(super) message: Delta,
    #[serde(default)]
    pub(super) finish_reason: Option<String>,
}

/// One streamed chunk.
#[derive(Deserialize)]
pub(super) struct Chunk {
    #[serde(default, deserialize_with = "nullable")]
    pub(super) choices: Vec<ChunkChoice>,
    #[serde(default)]
    pub(super) usage: Option<WireUsage>,
    #[serde(default)]
    pub(super) error: Option<ApiErrorBody>,
}

#[derive(Deserialize)]
pub(super) struct ChunkChoice {
    #[serde(default, deserialize_with = "nullable")]
    pub(super) delta: Delta,
    #[serde(default)]
    pub(super) finish_reason: Option<String>,
}

/// A message, whole (`choices[].message`) or in pieces (`choices[].delta`).
#[derive(Deserialize, Default)]
pub(super) struct Delta {
    #[serde(default)]
    pub(super) content: Option<String>,
    #[serde(default, alias = "reasoning")]
    pub(super) reasoning_content: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) tool_calls: Vec<DeltaToolCall>,
}

/// A tool call, whole or as a streamed fragment.
#[derive(Deserialize, Default)]
pub(super) struct DeltaToolCall {
    #[serde(default)]
    pub(super) index: Option<usize>,
    #[serde(default)]
    pub(super) id: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) function: DeltaFunction,
}

#[derive(Deserialize, Default)]
pub(super) struct DeltaFunction {
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) arguments: Option<String>,
}

#[derive(Deserialize, Default)]
pub(super) struct WireUsage {
    #[serde(default, deserialize_with = "nullable")]
    prompt_tokens: u64,
    #[serde(default, deserialize_with = "nullable")]
    completion_tokens: u64,
    #[serde(default, deserialize_with = "nullable")]
    total_tokens: u64,
    #[serde(default, deserialize_with = "nullable")]
    prompt_tokens_details: TokenDetails,
    #[serde(default, deserialize_with = "nullable")]
    completion_tokens_details: TokenDetails,
}

#[derive(Deserialize, Default)]
struct TokenDetails {
    #[serde(default, deserialize_with = "nullable")]
    cached_tokens: u64,
    #[serde(default, deserialize_with = "nullable")]
    reasoning_tokens: u64,
}

impl From<WireUsage> for Usage {
    fn from(u: WireUsage) -> Self {
        Usage {
            input_tokens: u.prompt_tokens,
            output_tokens: u.completion_tokens,
            total_tokens: if u.total_tokens > 0 {
                u.total_tokens
            } else {
                u.prompt_tokens + u.completion_tokens
            },
            cached_input_tokens: u.prompt_tokens_details.cached_tokens,
            reasoning_tokens: u.completion_tokens_details.reasoning_tokens,
        }
    }
}

/// `{"error": {...}}`, as an error response body or inside a stream.
#[derive(Deserialize)]
pub(super) struct ErrorEnvelope {
    pub(super) error: ApiErrorBody,
}

#[derive(Deserialize, Default)]
pub(super) struct ApiErrorBody {
    #[serde(default)]
    pub(super) message: Option<String>,
    #[serde(default, rename = "type")]
    pub(super) kind: Option<String>,
    /// A string for OpenAI, a number for some compatible servers.
    #[serde(default)]
    pub(super) code: Option<Value>,
}

impl ApiErrorBody {
    pub(super) fn code_text(&self) -> Option<String> {
        match &self.code {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Null) | None => None,
            Some(other) => Some(other.to_string()),
        }
    }
}
