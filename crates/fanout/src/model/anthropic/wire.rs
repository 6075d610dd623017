//! Messages API wire types. Requests borrow from the [`ModelRequest`]; responses and stream
//! events are read leniently: unknown fields are ignored, missing or `null` optional ones default,
//! and content blocks are kept as JSON so they can be sent back verbatim.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::{PROVIDER, Settings};
use crate::model::{Message, ModelRequest, ToolChoice, Usage};
use crate::tool::ToolDefinition;

#[derive(Serialize)]
pub(super) struct MessagesRequest<'a> {
    model: &'a str,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    system: Vec<SystemBlock<'a>>,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<Thinking>,
    /// Structured output on models that have it: `{format: {type: json_schema, schema}}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    output_config: Option<Value>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(flatten)]
    settings: &'a Settings,
}

#[derive(Serialize)]
struct Thinking {
    r#type: &'static str,
    budget_tokens: u32,
}

#[derive(Serialize, Clone, Copy)]
struct CacheControl {
    r#type: &'static str,
}

const EPHEMERAL: CacheControl = CacheControl { r#type: "ephemeral" };

#[derive(Serialize)]
struct SystemBlock<'a> {
    r#type: &'static str,
    text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<CacheControl>,
}

#[derive(Serialize)]
struct WireTool<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    description: &'a str,
    input_schema: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<CacheControl>,
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    content: Vec<Content<'a>>,
}

/// A content block we build, or one of the provider's own replayed as it sent it.
#[derive(Serialize)]
#[serde(untagged)]
enum Content<'a> {
    Block(Block<'a>),
    Replayed(&'a Value),
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block<'a> {
    Text {
        text: &'a str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: Value,
    },
    ToolResult {
        tool_use_id: &'a str,
        #[serde(skip_serializing_if = "str::is_empty")]
        content: &'a str,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        is_error: bool,
    },
}

impl Content<'_> {
    fn is_tool_result(&self) -> bool {
        matches!(self, Content::Block(Block::ToolResult { .. }))
    }
}

/// What the request needs besides the conversation and the tools.
pub(super) struct Options<'a> {
    pub(super) model: &'a str,
    pub(super) max_tokens: u32,
    pub(super) thinking_budget: Option<u32>,
    pub(super) cache_prompt: bool,
    pub(super) settings: &'a Settings,
    pub(super) stream: bool,
    pub(super) output: OutputMode,
}

/// How the request asks for the output schema's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OutputMode {
    /// No schema.
    Free,
    /// `output_config.format`, on the models that support it.
    Native,
    /// A `json` tool whose input is the answer, which the model must call (or, with other tools
    /// on offer, must call some tool): older models.
    JsonTool,
}

/// The name of the tool that carries the answer in [`OutputMode::JsonTool`].
pub(super) const JSON_TOOL: &str = "json";

impl<'a> MessagesRequest<'a> {
    pub(super) fn new(options: Options<'a>, request: &'a ModelRequest) -> Self {
        let mut system = Vec::new();
        let mut messages: Vec<WireMessage<'a>> = Vec::new();
        for message in &request.messages {
            match message {
                // The Messages API has no system role: every system message goes to `system`.
                Message::System { content } if !content.is_empty() => {
                    system.push(SystemBlock { r#type: "text", text: content, cache_control: None })
                }
                Message::System { .. } => {}
                Message::User { content } => push(&mut messages, "user", text(content)),
                Message::Assistant { content, tool_calls, replay } => {
                    let replayed = replay
                        .as_ref()
                        .and_then(|r| r.data_for(PROVIDER))
                        .and_then(|data| data.get("content"))
                        .and_then(Value::as_array);
                    match replayed {
                        // Thinking blocks and their signatures go back exactly as they came.
                        Some(blocks) => {
                            push(&mut messages, "assistant", blocks.iter().map(Content::Replayed))
                        }
                        None => {
                            let text = content.as_deref().map(text).into_iter().flatten();
                            let calls = tool_calls.iter().map(|call| {
                                Content::Block(Block::ToolUse {
                                    id: &call.id,
                                    name: &call.name,
                                    input: input_object(&call.arguments),
                                })
                            });
                            push(&mut messages, "assistant", text.chain(calls))
                        }
                    }
                }
                Message::Tool { call_id, content, is_error, .. } => push(
                    &mut messages,
                    "user",
                    [Content::Block(Block::ToolResult {
                        tool_use_id: call_id,
                        content,
                        is_error: *is_error,
                    })],
                ),
            }
        }
        for message in &mut messages {
            // Tool results must open their user message; any text comes after them.
            message.content.sort_by_key(|c| !c.is_tool_result());
        }
        let mut tools: Vec<WireTool<'a>> = request.tools.iter().map(|tool| WireTool::from(&**tool)).collect();
        if options.cache_prompt {
            if let Some(last) = system.last_mut() {
                last.cache_control = Some(EPHEMERAL);
            }
            if let Some(last) = tools.last_mut() {
                last.cache_control = Some(EPHEMERAL);
            }
        }
        let schema = request.output_schema.as_deref();
        let mut tool_choice = if tools.is_empty() {
            None
        } else {
            tool_choice(request.tool_choice.as_ref(), request.parallel_tool_calls == Some(false))
        };
        if let (OutputMode::JsonTool, Some(schema)) = (options.output, schema) {
            // Extended thinking allows only `auto`: the tool's description then asks for it.
            if options.thinking_budget.is_none() {
                let mut forced = if tools.is_empty() {
                    serde_json::json!({"type": "tool", "name": JSON_TOOL})
                } else {
                    serde_json::json!({"type": "any"})
                };
                if request.parallel_tool_calls == Some(false) {
                    forced["disable_parallel_tool_use"] = Value::Bool(true);
                }
                tool_choice = Some(forced);
            }
            tools.push(WireTool {
                name: JSON_TOOL,
                description: "Give the final answer: call this tool with it as the input, once all \
                              other work is done.",
                input_schema: schema.schema(),
                cache_control: None,
            });
        }
        let output_config = match (options.output, schema) {
            (OutputMode::Native, Some(schema)) => Some(serde_json::json!({"format": {
                "type": "json_schema",
                "schema": super::schema::output_schema(schema.strict_schema()),
            }})),
            _ => None,
        };
        Self {
            model: options.model,
            max_tokens: options.max_tokens,
            system,
            messages,
            tools,
            tool_choice,
            thinking: options
                .thinking_budget
                .map(|budget_tokens| Thinking { r#type: "enabled", budget_tokens }),
            output_config,
            stream: options.stream,
            settings: options.settings,
        }
    }
}

/// Add `content` as a message of `role`, merged into the previous one when it has the same role
/// (the API wants roles to alternate, and all tool results of a batch in one user message).
fn push<'a>(
    messages: &mut Vec<WireMessage<'a>>,
    role: &'static str,
    content: impl IntoIterator<Item = Content<'a>>,
) {
    let mut content = content.into_iter().peekable();
    if content.peek().is_none() {
        return;
    }
    match messages.last_mut() {
        Some(last) if last.role == role => last.content.extend(content),
        _ => messages.push(WireMessage { role, content: content.collect() }),
    }
}

/// A text block, none for empty text (the API rejects empty text blocks).
fn text(text: &str) -> Option<Content<'_>> {
    (!text.is_empty()).then_some(Content::Block(Block::Text { text }))
}

/// A call's arguments as the JSON object `tool_use.input` must be: empty text is `{}`, and so
/// is text that is not an object (the call's result already told the model it was invalid).
pub(super) fn input_object(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(object @ Value::Object(_)) => object,
        _ => Value::Object(serde_json::Map::new()),
    }
}

fn tool_choice(choice: Option<&ToolChoice>, sequential: bool) -> Option<Value> {
    let mut value = match choice {
        None if !sequential => return None,
        None | Some(ToolChoice::Auto) => serde_json::json!({"type": "auto"}),
        Some(ToolChoice::None) => return Some(serde_json::json!({"type": "none"})),
        Some(ToolChoice::Required) => serde_json::json!({"type": "any"}),
        Some(ToolChoice::Function(name)) => serde_json::json!({"type": "tool", "name": name}),
    };
    if sequential {
        value["disable_parallel_tool_use"] = Value::Bool(true);
    }
    Some(value)
}

impl<'a> From<&'a ToolDefinition> for WireTool<'a> {
    fn from(tool: &'a ToolDefinition) -> Self {
        Self {
            name: &tool.name,
            description: &tool.description,
            input_schema: &tool.parameters,
            cache_control: None,
        }
    }
}

/// `null` reads as the default, like a missing field.
fn nullable<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A message: a whole (non-streamed) response, or the one a stream's `message_start` opens
/// (usually empty; programmatic tool calling sends complete blocks in it).
#[derive(Deserialize, Default)]
pub(super) struct WireMessageOut {
    #[serde(default)]
    pub(super) id: Option<String>,
    /// The model that answered.
    #[serde(default)]
    pub(super) model: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) content: Vec<Value>,
    #[serde(default)]
    pub(super) stop_reason: Option<String>,
    #[serde(default)]
    pub(super) usage: Option<WireUsage>,
}

/// One stream event; which fields are set depends on `type`.
#[derive(Deserialize)]
pub(super) struct Event {
    #[serde(default, rename = "type")]
    pub(super) kind: String,
    #[serde(default)]
    pub(super) index: Option<usize>,
    #[serde(default)]
    pub(super) message: Option<WireMessageOut>,
    #[serde(default)]
    pub(super) content_block: Option<Value>,
    #[serde(default)]
    pub(super) delta: Option<Delta>,
    #[serde(default)]
    pub(super) usage: Option<WireUsage>,
    #[serde(default)]
    pub(super) error: Option<ApiError>,
    #[serde(default)]
    pub(super) request_id: Option<String>,
}

/// A `content_block_delta`'s or a `message_delta`'s `delta`.
#[derive(Deserialize, Default)]
pub(super) struct Delta {
    #[serde(default, rename = "type")]
    pub(super) kind: Option<String>,
    #[serde(default)]
    pub(super) text: Option<String>,
    #[serde(default)]
    pub(super) partial_json: Option<String>,
    #[serde(default)]
    pub(super) thinking: Option<String>,
    #[serde(default)]
    pub(super) signature: Option<String>,
    #[serde(default)]
    pub(super) citation: Option<Value>,
    #[serde(default)]
    pub(super) stop_reason: Option<String>,
}

/// Token counts; `message_delta` repeats them cumulatively, so a later value replaces an earlier.
#[derive(Deserialize, Default, Debug, Clone, Copy)]
pub(super) struct WireUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

impl WireUsage {
    pub(super) fn update(&mut self, later: WireUsage) {
        self.input_tokens = later.input_tokens.or(self.input_tokens);
        self.output_tokens = later.output_tokens.or(self.output_tokens);
        self.cache_creation_input_tokens =
            later.cache_creation_input_tokens.or(self.cache_creation_input_tokens);
        self.cache_read_input_tokens = later.cache_read_input_tokens.or(self.cache_read_input_tokens);
    }
}

impl From<WireUsage> for Usage {
    /// Anthropic's `input_tokens` counts only the tokens after the last cache breakpoint;
    /// fanout's `input_tokens` is the whole prompt (as OpenAI counts it): uncached + cache
    /// writes + cache reads, of which `cached_input_tokens` were cache reads.
    fn from(u: WireUsage) -> Self {
        let cached = u.cache_read_input_tokens.unwrap_or(0);
        let input = u.input_tokens.unwrap_or(0) + u.cache_creation_input_tokens.unwrap_or(0) + cached;
        let output = u.output_tokens.unwrap_or(0);
        Usage {
            input_tokens: input,
            output_tokens: output,
            total_tokens: input + output,
            cached_input_tokens: cached,
            reasoning_tokens: 0,
        }
    }
}

/// `{"type": "error", "error": {type, message}}`, an error response body.
#[derive(Deserialize)]
pub(super) struct ErrorEnvelope {
    pub(super) error: ApiError,
}

#[derive(Deserialize, Default)]
pub(super) struct ApiError {
    #[serde(default, rename = "type")]
    pub(super) kind: Option<String>,
    #[serde(default)]
    pub(super) message: Option<String>,
}
