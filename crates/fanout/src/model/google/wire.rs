//! Gemini `generateContent` wire types. Requests are built as JSON from the [`ModelRequest`]
//! (model turns with a replay are sent back verbatim); responses are read leniently: unknown
//! fields are ignored, missing or `null` optional ones default. Parts stay [`Value`]s until read,
//! so a replayed turn keeps every field Gemini sent.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value, json};

use crate::model::{Message, ModelRequest, ToolChoice, Usage};
use crate::tool::{ToolCall, ToolDefinition};

use super::{PROVIDER, Settings, is_synthetic_id};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GenerateRequest {
    contents: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system_instruction: Option<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_config: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    generation_config: Option<Value>,
}

impl GenerateRequest {
    /// `schema_with_tools`: the model takes a response schema together with function calling
    /// (Gemini 3); older ones answer 400, so with tools on offer they get the schema as
    /// instructions instead and the run checks the answer.
    pub(super) fn new(settings: &Settings, request: &ModelRequest, schema_with_tools: bool) -> Self {
        let output = request.output_schema.as_deref();
        let native = output.is_some() && (request.tools.is_empty() || schema_with_tools);
        let instructions = output.filter(|_| !native).map(|schema| schema.instructions());
        let system: Vec<&str> = request
            .messages
            .iter()
            .filter_map(|m| match m {
                Message::System { content } => Some(content.as_str()),
                _ => None,
            })
            .chain(instructions.as_deref())
            .collect();
        let system_instruction =
            (!system.is_empty()).then(|| json!({"parts": [{"text": system.join("\n\n")}]}));
        let declarations: Vec<Value> = request.tools.iter().map(|t| declaration(t)).collect();
        let tools = if declarations.is_empty() {
            Vec::new()
        } else {
            vec![json!({"functionDeclarations": declarations})]
        };
        let tool_config = request.tool_choice.as_ref().map(|choice| {
            let config = match choice {
                ToolChoice::Auto => json!({"mode": "AUTO"}),
                ToolChoice::None => json!({"mode": "NONE"}),
                ToolChoice::Required => json!({"mode": "ANY"}),
                ToolChoice::Function(name) => json!({"mode": "ANY", "allowedFunctionNames": [name]}),
            };
            json!({"functionCallingConfig": config})
        });
        Self {
            contents: contents(&request.messages),
            system_instruction,
            tools,
            tool_config,
            generation_config: match output.filter(|_| native) {
                None => settings.generation_config(),
                Some(schema) => {
                    let mut config = settings.generation_config().unwrap_or_else(|| json!({}));
                    config["responseMimeType"] = Value::from("application/json");
                    if let Some(converted) = super::schema::parameters(schema.schema()) {
                        config["responseSchema"] = converted;
                    }
                    Some(config)
                }
            },
        }
    }
}

/// The conversation as Gemini contents. All results of one batch (consecutive tool messages)
/// go into ONE `user` content, one `functionResponse` part per call in call order: Gemini
/// answers 400 when a batch's responses are split.
fn contents(messages: &[Message]) -> Vec<Value> {
    let mut contents = Vec::new();
    let mut calls: &[ToolCall] = &[];
    let mut i = 0;
    while let Some(message) = messages.get(i) {
        i += 1;
        match message {
            Message::System { .. } => {}
            Message::User { content } => {
                contents.push(json!({"role": "user", "parts": [{"text": content}]}));
            }
            Message::Assistant { content, tool_calls, replay } => {
                calls = tool_calls;
                let parts = match replay.as_ref().and_then(|r| r.data_for(PROVIDER)) {
                    Some(Value::Array(parts)) if !parts.is_empty() => parts.clone(),
                    _ => model_parts(content.as_deref(), tool_calls),
                };
                // Gemini rejects a content without parts; an empty turn says nothing anyway.
                if !parts.is_empty() {
                    contents.push(json!({"role": "model", "parts": parts}));
                }
            }
            Message::Tool { .. } => {
                let start = i - 1;
                while matches!(messages.get(i), Some(Message::Tool { .. })) {
                    i += 1;
                }
                let mut batch: Vec<&Message> = messages[start..i].iter().collect();
                // In call order; results for unknown ids keep their place after the known ones.
                batch.sort_by_key(|m| match m {
                    Message::Tool { call_id, .. } => {
                        calls.iter().position(|c| &c.id == call_id).unwrap_or(usize::MAX)
                    }
                    _ => usize::MAX,
                });
                let parts: Vec<Value> = batch.into_iter().filter_map(function_response).collect();
                contents.push(json!({"role": "user", "parts": parts}));
            }
        }
    }
    contents
}

/// A model turn without Gemini's own record (another provider's, or built by hand).
fn model_parts(content: Option<&str>, calls: &[ToolCall]) -> Vec<Value> {
    let mut parts = Vec::new();
    if let Some(text) = content.filter(|t| !t.is_empty()) {
        parts.push(json!({"text": text}));
    }
    for call in calls {
        // Gemini wants an object; argument text that is not one (only possible from another
        // provider) is sent as `{}` rather than failing the whole request.
        let args = match serde_json::from_str::<Value>(&call.arguments) {
            Ok(Value::Object(args)) => Value::Object(args),
            _ => Value::Object(Map::new()),
        };
        let mut function_call = json!({"name": call.name, "args": args});
        if !is_synthetic_id(&call.id) {
            function_call["id"] = Value::from(call.id.as_str());
        }
        parts.push(json!({"functionCall": function_call}));
    }
    parts
}

/// A failed call's text goes back as `error`, a result as `result`.
fn function_response(message: &Message) -> Option<Value> {
    let Message::Tool { call_id, name, content, is_error } = message else { return None };
    let response = match (is_error, content.strip_prefix("Error: ")) {
        (true, Some(error)) => json!({"error": error}),
        (true, None) => json!({"error": content}),
        (false, _) => json!({"result": content}),
    };
    let mut part = json!({"name": name, "response": response});
    if !is_synthetic_id(call_id) {
        part["id"] = Value::from(call_id.as_str());
    }
    Some(json!({"functionResponse": part}))
}

fn declaration(tool: &ToolDefinition) -> Value {
    let mut declaration = json!({"name": tool.name});
    if !tool.description.is_empty() {
        declaration["description"] = Value::from(tool.description.as_str());
    }
    if let Some(parameters) = super::schema::parameters(&tool.parameters) {
        declaration["parameters"] = parameters;
    }
    declaration
}

/// `null` reads as the default, like a missing field.
fn nullable<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// One `GenerateContentResponse`: a whole answer, or one streamed chunk of it.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct GenerateResponse {
    #[serde(default, deserialize_with = "nullable")]
    pub(super) candidates: Vec<Candidate>,
    #[serde(default)]
    pub(super) usage_metadata: Option<UsageMetadata>,
    #[serde(default)]
    pub(super) prompt_feedback: Option<PromptFeedback>,
    #[serde(default)]
    pub(super) response_id: Option<String>,
    /// The model that answered, such as `gemini-2.5-flash`.
    #[serde(default)]
    pub(super) model_version: Option<String>,
    /// An error reported inside a stream.
    #[serde(default)]
    pub(super) error: Option<ApiError>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct Candidate {
    #[serde(default, deserialize_with = "nullable")]
    pub(super) content: Content,
    #[serde(default)]
    pub(super) finish_reason: Option<String>,
    #[serde(default)]
    pub(super) finish_message: Option<String>,
}

#[derive(Deserialize, Default)]
pub(super) struct Content {
    /// Kept as sent, for the replay.
    #[serde(default, deserialize_with = "nullable")]
    pub(super) parts: Vec<Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct PromptFeedback {
    #[serde(default)]
    pub(super) block_reason: Option<String>,
    #[serde(default)]
    pub(super) block_reason_message: Option<String>,
}

/// The fields of a part fanout reads.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct Part {
    #[serde(default)]
    pub(super) text: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) thought: bool,
    #[serde(default)]
    pub(super) thought_signature: Option<String>,
    #[serde(default)]
    pub(super) function_call: Option<FunctionCall>,
}

impl Part {
    /// A part this version does not know (inline data, code execution …) reads as empty.
    pub(super) fn read(part: &Value) -> Self {
        Part::deserialize(part).unwrap_or_default()
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct FunctionCall {
    #[serde(default)]
    pub(super) id: Option<String>,
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) args: Option<Value>,
    /// Vertex's argument streaming: pieces of the arguments, by JSON path.
    #[serde(default, deserialize_with = "nullable")]
    pub(super) partial_args: Vec<PartialArg>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) will_continue: bool,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct PartialArg {
    #[serde(default)]
    pub(super) json_path: String,
    #[serde(default)]
    pub(super) string_value: Option<String>,
    #[serde(default)]
    pub(super) number_value: Option<serde_json::Number>,
    #[serde(default)]
    pub(super) bool_value: Option<bool>,
    #[serde(default)]
    pub(super) null_value: Option<Value>,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "camelCase")]
pub(super) struct UsageMetadata {
    #[serde(default, deserialize_with = "nullable")]
    prompt_token_count: u64,
    #[serde(default, deserialize_with = "nullable")]
    candidates_token_count: u64,
    #[serde(default, deserialize_with = "nullable")]
    total_token_count: u64,
    #[serde(default, deserialize_with = "nullable")]
    cached_content_token_count: u64,
    #[serde(default, deserialize_with = "nullable")]
    thoughts_token_count: u64,
}

impl UsageMetadata {
    /// Whether it holds counts (Vertex sends `{"trafficType": …}` alone in early chunks).
    pub(super) fn is_counted(&self) -> bool {
        self.total_token_count > 0 || self.prompt_token_count > 0 || self.candidates_token_count > 0
    }
}

/// Output tokens include the thoughts, as OpenAI's completion tokens include reasoning: Gemini
/// counts them apart (`candidatesTokenCount` excludes `thoughtsTokenCount`).
impl From<UsageMetadata> for Usage {
    fn from(u: UsageMetadata) -> Self {
        let output = u.candidates_token_count + u.thoughts_token_count;
        Usage {
            input_tokens: u.prompt_token_count,
            output_tokens: output,
            total_tokens: if u.total_token_count > 0 {
                u.total_token_count
            } else {
                u.prompt_token_count + output
            },
            cached_input_tokens: u.cached_content_token_count,
            reasoning_tokens: u.thoughts_token_count,
        }
    }
}

/// `{"error": {...}}`, as an error response body or inside a stream.
#[derive(Deserialize)]
pub(super) struct ErrorEnvelope {
    pub(super) error: ApiError,
}

#[derive(Deserialize, Default)]
pub(super) struct ApiError {
    #[serde(default)]
    pub(super) code: Option<u16>,
    #[serde(default)]
    pub(super) message: Option<String>,
    /// The gRPC status name: `RESOURCE_EXHAUSTED`, `INVALID_ARGUMENT` …
    #[serde(default)]
    pub(super) status: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) details: Vec<Value>,
}

impl ApiError {
    /// The detail of type `google.rpc.{name}`.
    fn detail(&self, name: &str) -> Option<&Value> {
        self.details.iter().find(|d| {
            d.get("@type").and_then(Value::as_str).is_some_and(|t| t.rsplit('.').next() == Some(name))
        })
    }

    /// `RetryInfo.retryDelay`, a protobuf duration such as `"34.4s"`.
    pub(super) fn retry_delay(&self) -> Option<std::time::Duration> {
        let delay = self.detail("RetryInfo")?.get("retryDelay")?.as_str()?;
        let seconds: f64 = delay.trim().strip_suffix('s')?.parse().ok()?;
        (seconds.is_finite() && (0.0..1e9).contains(&seconds))
            .then(|| std::time::Duration::from_secs_f64(seconds))
    }

    /// The `quotaId` of each violation of a `QuotaFailure`, such as
    /// `GenerateRequestsPerDayPerProjectPerModel-FreeTier`.
    pub(super) fn quota_ids(&self) -> Vec<String> {
        let violations =
            self.detail("QuotaFailure").and_then(|d| d.get("violations")).and_then(Value::as_array);
        violations
            .into_iter()
            .flatten()
            .filter_map(|v| v.get("quotaId").and_then(Value::as_str).map(str::to_owned))
            .collect()
    }

    /// `ErrorInfo.reason`, such as `API_KEY_INVALID`.
    pub(super) fn reason(&self) -> Option<&str> {
        self.detail("ErrorInfo")?.get("reason")?.as_str()
    }
}
