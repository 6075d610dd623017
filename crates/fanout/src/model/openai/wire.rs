//! Chat Completions wire types. Requests borrow from the [`ModelRequest`]; responses are read
//! leniently: unknown fields are ignored, missing or `null` optional ones default.

use serde::de::{self, DeserializeOwned, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::model::{Message, ModelRequest, OutputSchema, ToolChoice, Usage};
use crate::tool::ToolDefinition;

use super::{Settings, StructuredMode};

/// The key of the reasoning text in a `Replay` written by this provider.
pub(super) const REASONING_KEY: &str = "reasoning_content";

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
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<Value>,
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
    /// Reasoning sent back, only to providers that need it (see `Quirks::replay_reasoning`).
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<&'a str>,
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
    /// `provider` names the `Replay`s this provider wrote: only those are sent back.
    pub(super) fn new(
        model: &'a str,
        provider: &str,
        system_role: &'a str,
        settings: &'a Settings,
        request: &'a ModelRequest,
        stream: bool,
        output: Option<&'a OutputFormat>,
    ) -> Self {
        let mut messages: Vec<WireMessage<'a>> = request
            .messages
            .iter()
            .map(|message| match message {
                Message::System { content } => WireMessage::text(system_role, content),
                Message::User { content } => WireMessage::text("user", content),
                Message::Assistant { content, tool_calls, replay } => WireMessage {
                    role: "assistant",
                    content: content.as_deref(),
                    reasoning_content: replay
                        .as_ref()
                        .and_then(|r| r.data_for(provider))
                        .and_then(|data| data[REASONING_KEY].as_str()),
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
                    reasoning_content: None,
                    tool_calls: Vec::new(),
                    tool_call_id: Some(call_id),
                },
            })
            .collect();
        if let Some(instructions) = output.and_then(|o| o.instructions.as_deref()) {
            messages.push(WireMessage::text(system_role, instructions));
        }
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
            response_format: output.and_then(|o| o.response_format.clone()),
            stream,
            stream_options: stream.then_some(StreamOptions { include_usage: true }),
            settings,
        }
    }
}

/// How a request asks for structured output: `response_format`, and the instructions that
/// carry the schema where the format cannot.
pub(super) struct OutputFormat {
    response_format: Option<Value>,
    instructions: Option<String>,
}

impl OutputFormat {
    pub(super) fn new(schema: &OutputSchema, mode: StructuredMode) -> Self {
        let (response_format, instructions) = match mode {
            StructuredMode::JsonObject => {
                (Some(serde_json::json!({"type": "json_object"})), Some(schema.instructions()))
            }
            StructuredMode::Instructions => (None, Some(schema.instructions())),
            StructuredMode::JsonSchema => {
                let json_schema = serde_json::json!({
                    "name": schema.name(),
                    "schema": schema.strict_schema(),
                    "strict": true,
                });
                (Some(serde_json::json!({"type": "json_schema", "json_schema": json_schema})), None)
            }
        };
        Self { response_format, instructions }
    }
}

impl<'a> WireMessage<'a> {
    fn text(role: &'a str, content: &'a str) -> Self {
        Self {
            role,
            content: Some(content),
            reasoning_content: None,
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
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
pub(super) fn nullable<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A field that is read when it has the expected shape and ignored otherwise: usage is
/// bookkeeping, and a server's odd usage object must not cost the user the answer.
pub(super) fn lenient<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    Ok(serde_json::from_value(Value::deserialize(d)?).ok())
}

/// A whole (non-streamed) response.
#[derive(Deserialize)]
pub(super) struct ChatResponse {
    /// The response's id (`chatcmpl-…`).
    #[serde(default, deserialize_with = "lenient")]
    pub(super) id: Option<String>,
    /// The model that answered.
    #[serde(default, deserialize_with = "lenient")]
    pub(super) model: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) choices: Vec<Choice>,
    #[serde(default, deserialize_with = "lenient")]
    usage: Option<WireUsage>,
    #[serde(default, deserialize_with = "lenient")]
    x_groq: Option<XGroq>,
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
    /// The response's id, the same in every chunk (empty in Azure's filter-results chunk).
    #[serde(default, deserialize_with = "lenient")]
    pub(super) id: Option<String>,
    /// The model that answered.
    #[serde(default, deserialize_with = "lenient")]
    pub(super) model: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) choices: Vec<ChunkChoice>,
    #[serde(default, deserialize_with = "lenient")]
    usage: Option<WireUsage>,
    #[serde(default, deserialize_with = "lenient")]
    x_groq: Option<XGroq>,
    #[serde(default)]
    pub(super) error: Option<ApiErrorBody>,
}

/// Groq's own object, which also carries the usage.
#[derive(Deserialize)]
struct XGroq {
    #[serde(default)]
    usage: Option<WireUsage>,
}

/// The usage, from `usage` or else Groq's `x_groq.usage`.
fn usage(usage: Option<WireUsage>, x_groq: Option<XGroq>) -> Option<Usage> {
    usage.or(x_groq.and_then(|x| x.usage)).map(Usage::from)
}

impl ChatResponse {
    pub(super) fn take_usage(&mut self) -> Option<Usage> {
        usage(self.usage.take(), self.x_groq.take())
    }
}

impl Chunk {
    pub(super) fn take_usage(&mut self) -> Option<Usage> {
        usage(self.usage.take(), self.x_groq.take())
    }
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
    pub(super) content: Content,
    /// DeepSeek, Qwen, xAI, Moonshot, vLLM.
    #[serde(default)]
    reasoning_content: Option<String>,
    /// Groq, OpenRouter, Ollama, newer vLLM (some send both, with the same text).
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) tool_calls: Vec<DeltaToolCall>,
    /// OpenAI's refusal to give a structured answer: passed on as the answer text, which the
    /// run then reports as not fitting the schema (with the refusal as the raw answer).
    #[serde(default, deserialize_with = "lenient")]
    pub(super) refusal: Option<String>,
}

impl Delta {
    /// The answer text of this piece: its content, else its refusal.
    pub(super) fn take_text(&mut self) -> Option<String> {
        self.content.text.take().or_else(|| self.refusal.take()).filter(|t| !t.is_empty())
    }

    /// The reasoning text, from whichever field carries it, and from Mistral's `thinking`
    /// parts.
    pub(super) fn take_reasoning(&mut self) -> Option<String> {
        let field = [self.reasoning_content.take(), self.reasoning.take()]
            .into_iter()
            .flatten()
            .find(|r| !r.is_empty());
        match (field, self.content.thinking.take()) {
            (Some(mut field), Some(thinking)) => {
                field.push_str(&thinking);
                Some(field)
            }
            (field, thinking) => field.or(thinking),
        }
    }
}

/// `content`: a string, or (Mistral) a list of parts, `{"type": "text", "text": …}` and
/// `{"type": "thinking", "thinking": [{"type": "text", "text": …}]}`; other parts are ignored.
#[derive(Default)]
pub(super) struct Content {
    pub(super) text: Option<String>,
    pub(super) thinking: Option<String>,
}

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ContentVisitor;
        impl<'de> Visitor<'de> for ContentVisitor {
            type Value = Content;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or a list of content parts")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Content, E> {
                Ok(Content { text: Some(text.to_owned()), thinking: None })
            }
            fn visit_string<E: de::Error>(self, text: String) -> Result<Content, E> {
                Ok(Content { text: Some(text), thinking: None })
            }
            fn visit_unit<E: de::Error>(self) -> Result<Content, E> {
                Ok(Content::default())
            }
            fn visit_none<E: de::Error>(self) -> Result<Content, E> {
                Ok(Content::default())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut parts: A) -> Result<Content, A::Error> {
                let mut content = Content::default();
                while let Some(part) = parts.next_element::<Part>()? {
                    let (slot, text) = match part.kind.as_deref() {
                        Some("thinking") => (&mut content.thinking, part.thinking.as_ref().map(text_of)),
                        Some("text") | None => (&mut content.text, part.text),
                        Some(_) => continue,
                    };
                    if let Some(text) = text {
                        slot.get_or_insert_with(String::new).push_str(&text);
                    }
                }
                Ok(content)
            }
        }
        d.deserialize_any(ContentVisitor)
    }
}

#[derive(Deserialize)]
struct Part {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    text: Option<String>,
    /// A string or a list of text parts.
    #[serde(default)]
    thinking: Option<Value>,
}

/// The text of a string, or of a list of `{"text": …}` parts.
fn text_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
        _ => String::new(),
    }
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
    /// A string; some servers send the arguments as a JSON object instead.
    #[serde(default)]
    pub(super) arguments: Option<Arguments>,
}

/// Argument text, also when a server sends an object where the API has a string.
pub(super) struct Arguments(pub(super) String);

impl<'de> Deserialize<'de> for Arguments {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Arguments(match Value::deserialize(d)? {
            Value::String(text) => text,
            Value::Null => String::new(),
            other => other.to_string(),
        }))
    }
}

/// A token count: any non-negative number (some servers send `12.0`), else 0.
pub(super) fn count<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite() && *f >= 0.0).map(|f| f as u64))
            .unwrap_or(0),
        _ => 0,
    })
}

#[derive(Deserialize, Default)]
pub(super) struct WireUsage {
    #[serde(default, deserialize_with = "count")]
    prompt_tokens: u64,
    #[serde(default, deserialize_with = "count")]
    completion_tokens: u64,
    #[serde(default, deserialize_with = "count")]
    total_tokens: u64,
    #[serde(default, deserialize_with = "lenient")]
    prompt_tokens_details: Option<TokenDetails>,
    #[serde(default, deserialize_with = "lenient")]
    completion_tokens_details: Option<TokenDetails>,
    /// Moonshot puts it here.
    #[serde(default, deserialize_with = "count")]
    cached_tokens: u64,
    /// DeepSeek's name for it.
    #[serde(default, deserialize_with = "count")]
    prompt_cache_hit_tokens: u64,
    /// Azure's DeepSeek puts it here.
    #[serde(default, deserialize_with = "count")]
    reasoning_tokens: u64,
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
        let details = |d: &Option<TokenDetails>, f: fn(&TokenDetails) -> u64| d.as_ref().map_or(0, f);
        let first = |values: [u64; 3]| values.into_iter().find(|v| *v > 0).unwrap_or(0);
        Usage {
            input_tokens: u.prompt_tokens,
            output_tokens: u.completion_tokens,
            total_tokens: if u.total_tokens > 0 {
                u.total_tokens
            } else {
                u.prompt_tokens + u.completion_tokens
            },
            cached_input_tokens: first([
                details(&u.prompt_tokens_details, |d| d.cached_tokens),
                u.cached_tokens,
                u.prompt_cache_hit_tokens,
            ]),
            reasoning_tokens: first([
                details(&u.completion_tokens_details, |d| d.reasoning_tokens),
                u.reasoning_tokens,
                0,
            ]),
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
