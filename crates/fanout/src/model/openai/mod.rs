//! OpenAI Chat Completions, for api.openai.com and any compatible server; the
//! [presets] configure it for Groq, DeepSeek, Ollama, Azure and a dozen others.
//!
//! Configured like the official SDKs: `OPENAI_API_KEY`, `OPENAI_BASE_URL` (default
//! `https://api.openai.com/v1`), `OPENAI_ORG_ID`, `OPENAI_PROJECT_ID`; each can be overridden.
//! Each call makes one request; failed turns are retried by the agent's
//! [`RetryPolicy`](crate::RetryPolicy), honouring the `retry-after-ms` / `retry-after` the error
//! carries. The API key never appears in `Debug` output, logs or errors.
//!
//! ```no_run
//! use std::time::Duration;
//! use fanout::models::openai::OpenAIChat;
//!
//! let model = OpenAIChat::new("gpt-5-mini")
//!     .base_url("http://localhost:8000/v1") // any OpenAI-compatible server
//!     .api_key("sk-local")
//!     .timeout(Duration::from_secs(120))
//!     .idle_timeout(Duration::from_secs(60))
//!     .reasoning_effort("low");
//! ```

/// The builder methods of both OpenAI models ([`OpenAIChat`] and
/// [`OpenAIResponses`](responses::OpenAIResponses)): where requests go, and how they are
/// authenticated and sent. `$path` is the endpoint under the base URL. The type needs
/// `fn with(self, impl FnOnce(&mut Config)) -> Self`.
macro_rules! connection_methods {
    ($path:literal) => {
        /// Use this API key instead of the environment's (`OPENAI_API_KEY`, or the preset's
        /// variable); an empty key means none.
        pub fn api_key(self, key: impl Into<String>) -> Self {
            let key = key.into();
            self.with(|c| c.api_key = (!key.trim().is_empty()).then_some(key))
        }

        #[doc = concat!("Use this base URL (e.g. `http://localhost:8000/v1`) instead of `OPENAI_BASE_URL` (or the preset's default); requests go to `{base_url}/", $path, "`.")]
        pub fn base_url(self, url: impl Into<String>) -> Self {
            self.with(|c| c.base_url = url.into())
        }

        /// Send `OpenAI-Organization`.
        pub fn organization(self, org: impl Into<String>) -> Self {
            self.with(|c| c.organization = Some(org.into()))
        }

        /// Send `OpenAI-Project`.
        pub fn project(self, project: impl Into<String>) -> Self {
            self.with(|c| c.project = Some(project.into()))
        }

        super::http::transport_methods!();

        /// Add a query parameter to every request (Azure's `api-version`).
        pub fn query(self, name: impl Into<String>, value: impl Into<String>) -> Self {
            self.with(|c| c.query.push((name.into(), value.into())))
        }

        /// True when a key is configured (from the environment or [`api_key`](Self::api_key)).
        pub fn has_api_key(&self) -> bool {
            self.config.api_key.is_some()
        }
    };
}

pub mod presets;
pub mod responses;
mod stream;
mod text_calls;
mod wire;

use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde::Serialize;

use super::http::{self, ErrorBody, ErrorFormat, HttpSettings};
use super::{DeltaStream, FinishReason, Model, ModelRequest, ModelResponse, new_call_id, parallel};
use crate::error::{Error, Result};
use crate::tool::ToolCall;
use presets::Preset;

pub use responses::OpenAIResponses;
#[doc(hidden)]
pub use stream::parse_recorded_stream;

const PROVIDER: &str = "openai";

/// Sampling and reasoning settings, sent only when set.
#[derive(Debug, Clone, Default, Serialize)]
struct Settings {
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<String>,
}

#[derive(Clone)]
struct Config {
    id: String,
    /// Who this is (`openai`, `groq` …): name, key variables, authentication, quirks.
    preset: &'static Preset,
    api_key: Option<String>,
    base_url: String,
    /// Query parameters of every request (Azure's `api-version`).
    query: Vec<(String, String)>,
    organization: Option<String>,
    project: Option<String>,
    system_role: Option<&'static str>,
    /// Recognise tool calls written as text.
    text_tool_calls: bool,
    /// How an output schema is asked for, when not the preset's way.
    structured_mode: Option<StructuredMode>,
    settings: Settings,
    http: HttpSettings,
}

/// How [`OpenAIChat`] asks for a run's output schema (see [`OpenAIChat::structured_mode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StructuredMode {
    /// `response_format: {type: json_schema, json_schema: {name, schema, strict: true}}`, the
    /// schema rewritten for strict mode.
    JsonSchema,
    /// JSON mode, `response_format: {type: json_object}`, with the schema in the instructions.
    JsonObject,
    /// No `response_format`: the schema in the instructions only.
    Instructions,
}

/// Whether `id` names one of OpenAI's reasoning models (gpt-5*, o1/o3/o4*), also behind a
/// router's `vendor/` prefix.
fn is_reasoning_model(id: &str) -> bool {
    let id = id.rsplit('/').next().unwrap_or(id);
    id.starts_with("gpt-5") || ["o1", "o3", "o4"].iter().any(|p| id.starts_with(p))
}

impl Config {
    /// The variable the key is read from, such as `OPENAI_API_KEY`.
    fn key_var(&self) -> &'static str {
        self.preset.key_vars.first().copied().unwrap_or("OPENAI_API_KEY")
    }

    /// How this provider's errors read.
    fn errors(&self) -> ErrorFormat {
        ErrorFormat {
            provider: self.preset.provider,
            request_id_header: "x-request-id",
            parse: parse_error_body,
            key_hint: self.preset.key_hint,
        }
    }

    /// Send one request to `{base_url}/{path}` (no retries: the agent's retry policy owns
    /// them) and return the 2xx response. `model` names the type in configuration errors.
    async fn send(
        &self,
        path: &str,
        model: &str,
        body: Vec<u8>,
        streamed: bool,
    ) -> Result<reqwest::Response> {
        let preset = self.preset;
        if self.api_key.is_none() && preset.key_required {
            let message = format!("no API key: set {} or call {model}::api_key", self.key_var());
            return Err(Error::config(message).with_provider(preset.provider));
        }
        if self.base_url.trim().is_empty() {
            let var = preset.base_url_var.unwrap_or("OPENAI_BASE_URL");
            let message = format!("no base URL: set {var} or call {model}::base_url");
            return Err(Error::config(message).with_provider(preset.provider));
        }
        let url = format!("{}/{path}", self.base_url.trim_end_matches('/'));
        let mut request = self.http.post(preset.provider, &url, body)?;
        if !self.query.is_empty() {
            request = request.query(&self.query);
        }
        if let Some(key) = &self.api_key {
            request = preset.auth.apply(request, key)?;
        }
        if let Some(org) = &self.organization {
            request = request.header("OpenAI-Organization", org);
        }
        if let Some(project) = &self.project {
            request = request.header("OpenAI-Project", project);
        }
        if !streamed {
            // A whole answer has the total timeout; a stream has the idle timeout instead.
            request = request.timeout(self.http.timeout);
        }
        http::send(&self.errors(), request, self.http.timeout).await
    }
}

/// An OpenAI Chat Completions model. Cheap to clone; configure it with the builder-style
/// methods.
#[derive(Clone)]
pub struct OpenAIChat {
    config: Arc<Config>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl OpenAIChat {
    /// The model `id` (such as `gpt-5-mini`), configured from the environment.
    pub fn new(id: impl Into<String>) -> Self {
        Self::from_preset(&presets::OPENAI, id)
            .with(|c| (c.organization, c.project) = (env("OPENAI_ORG_ID"), env("OPENAI_PROJECT_ID")))
    }

    /// `preset`'s defaults, with its key and base URL from the environment when set there.
    fn from_preset(preset: &'static Preset, id: impl Into<String>) -> Self {
        let config = Config {
            id: id.into(),
            preset,
            api_key: preset.key_vars.iter().find_map(|name| env(name)),
            base_url: preset.base_url_var.and_then(env).unwrap_or_else(|| preset.base_url.to_owned()),
            query: Vec::new(),
            organization: None,
            project: None,
            system_role: None,
            text_tool_calls: false,
            structured_mode: None,
            settings: Settings::default(),
            http: HttpSettings::default(),
        };
        Self { config: Arc::new(config) }
    }

    fn with(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(Arc::make_mut(&mut self.config));
        self
    }

    connection_methods!("chat/completions");

    /// Send system prompts with this role (`"system"` or `"developer"`) instead of choosing by
    /// model: `developer` for reasoning models (gpt-5*, o1/o3/o4*), `system` otherwise.
    pub fn system_role(self, role: &'static str) -> Self {
        self.with(|c| c.system_role = Some(role))
    }

    /// Turn tool calls the model writes as text into real calls (off by default): Hermes/Qwen
    /// `<tool_call>{"name": …, "arguments": {…}}</tool_call>` blocks, or an answer that is only a
    /// JSON object (or list of them) naming an offered tool. For small local models behind
    /// servers without a tool-call parser; streamed text is held back only while it may still
    /// become a call, and anything that does not is passed on unchanged.
    pub fn text_tool_calls(self, on: bool) -> Self {
        self.with(|c| c.text_tool_calls = on)
    }

    /// How to ask for a run's [output schema](crate::AgentBuilder::output_schema): by default
    /// [`StructuredMode::JsonSchema`], or [`StructuredMode::JsonObject`] for DeepSeek and
    /// Moonshot, which only have JSON mode. Set it for a server or model that refuses
    /// `response_format`. Whatever the mode, the run checks the answer against the schema.
    pub fn structured_mode(self, mode: StructuredMode) -> Self {
        self.with(|c| c.structured_mode = Some(mode))
    }

    /// Sampling temperature.
    pub fn temperature(self, temperature: f32) -> Self {
        self.with(|c| c.settings.temperature = Some(temperature))
    }

    /// Nucleus sampling.
    pub fn top_p(self, top_p: f32) -> Self {
        self.with(|c| c.settings.top_p = Some(top_p))
    }

    /// Cap on generated tokens.
    pub fn max_completion_tokens(self, tokens: u32) -> Self {
        self.with(|c| c.settings.max_completion_tokens = Some(tokens))
    }

    /// Reasoning effort for reasoning models: `minimal`, `low`, `medium`, `high`.
    pub fn reasoning_effort(self, effort: impl Into<String>) -> Self {
        self.with(|c| c.settings.reasoning_effort = Some(effort.into()))
    }

    /// Seed for (mostly) deterministic sampling.
    pub fn seed(self, seed: i64) -> Self {
        self.with(|c| c.settings.seed = Some(seed))
    }

    /// An end-user id for abuse monitoring.
    pub fn user(self, user: impl Into<String>) -> Self {
        self.with(|c| c.settings.user = Some(user.into()))
    }

    /// True when requests can be sent: a key is configured, or the server needs none (the
    /// local presets).
    pub(crate) fn is_configured(&self) -> bool {
        self.has_api_key() || !self.config.preset.key_required
    }

    /// The variable the key is read from, such as `OPENAI_API_KEY`.
    pub(crate) fn key_var(&self) -> &'static str {
        self.config.key_var()
    }

    fn system_role_for_model(&self) -> &'static str {
        if let Some(role) = self.config.system_role {
            return role;
        }
        if is_reasoning_model(&self.config.id) { "developer" } else { "system" }
    }

    fn body(&self, request: &ModelRequest, stream: bool) -> Result<Vec<u8>> {
        let config = &self.config;
        let mode = config.structured_mode.unwrap_or(if config.preset.quirks.json_object_only {
            StructuredMode::JsonObject
        } else {
            StructuredMode::JsonSchema
        });
        let output = request.output_schema.as_deref().map(|schema| wire::OutputFormat::new(schema, mode));
        let wire = wire::ChatRequest::new(
            &config.id,
            config.preset.provider,
            self.system_role_for_model(),
            &config.settings,
            request,
            stream,
            output.as_ref(),
        );
        serde_json::to_vec(&wire).map_err(|e| Error::config(format!("the request could not be encoded: {e}")))
    }

    /// Send one request (no retries: the agent's retry policy owns them).
    async fn send(&self, body: Vec<u8>, streamed: bool) -> Result<reqwest::Response> {
        self.config.send("chat/completions", "OpenAIChat", body, streamed).await
    }

    async fn complete_inner(&self, request: &ModelRequest) -> Result<ModelResponse> {
        let response = self.send(self.body(request, false)?, false).await?;
        let provider = self.config.preset.provider;
        let body = http::read_body(provider, response).await?;
        parse_response(self.config.preset, self.config.text_tool_calls, &request.tools, &body)
    }

    fn stream_inner<'a>(&'a self, request: &'a ModelRequest) -> DeltaStream<'a> {
        let config = &self.config;
        let assembler = stream::Assembler::new(
            config.preset.provider,
            request.tools.clone(),
            config.preset.quirks.replay_reasoning,
        )
        .with_text_calls(config.text_tool_calls);
        let response = async move { self.send(self.body(request, true)?, true).await };
        http::sse_deltas(config.preset.provider, config.http.idle_timeout, response, |_| assembler)
    }
}

fn parse_response(
    preset: &Preset,
    text_tool_calls: bool,
    tools: &[Arc<super::ToolDefinition>],
    bytes: &[u8],
) -> Result<ModelResponse> {
    let provider = preset.provider;
    let mut response: wire::ChatResponse = serde_json::from_slice(bytes).map_err(|e| {
        let body = http::truncate(&String::from_utf8_lossy(bytes), 200);
        Error::invalid_response(provider, format!("the response is not a chat completion ({e}): {body}"))
    })?;
    let usage = response.take_usage();
    let (id, model) = (response.id.take(), response.model.take());
    let Some(choice) = response.choices.into_iter().next() else {
        return Err(Error::invalid_response(provider, "the response has no choices"));
    };
    let mut message = choice.message;
    let reasoning = message.take_reasoning().filter(|r| !r.is_empty());
    let mut content = message.take_text();
    let mut tool_calls = Vec::with_capacity(message.tool_calls.len());
    for (index, call) in message.tool_calls.into_iter().enumerate() {
        let name = call.function.name.filter(|n| !n.is_empty()).ok_or_else(|| {
            Error::invalid_response(provider, format!("tool call at index {index} has no function name"))
        })?;
        let call = ToolCall {
            id: call.id.filter(|id| !id.is_empty()).unwrap_or_else(new_call_id),
            name,
            arguments: stream::no_arguments_as_object(
                call.function.arguments.map(|a| a.0).unwrap_or_default(),
            ),
        };
        tool_calls.extend(parallel::expand(call, tools.iter().map(|t| &**t)));
    }
    let mut finish_reason =
        choice.finish_reason.filter(|r| !r.is_empty()).map(|r| FinishReason::from_wire(&r));
    if let Some(text) = content.take_if(|_| text_tool_calls) {
        let offered = |name: &str| tools.iter().any(|t| t.name == name);
        let mut rest = String::new();
        for piece in text_calls::split(&text, &offered) {
            match piece {
                text_calls::Piece::Text(text) => rest.push_str(&text),
                text_calls::Piece::Call { name, arguments } => {
                    tool_calls.push(ToolCall { id: new_call_id(), name, arguments });
                    if finish_reason == Some(FinishReason::Stop) {
                        finish_reason = Some(FinishReason::ToolCalls);
                    }
                }
            }
        }
        content = Some(rest).filter(|r| !r.is_empty());
    }
    let replay = stream::reasoning_replay(
        provider,
        preset.quirks.replay_reasoning,
        tool_calls.len(),
        reasoning.as_deref().unwrap_or_default(),
    );
    let known = |value: Option<String>| value.filter(|v| !v.is_empty());
    Ok(ModelResponse {
        content,
        reasoning,
        tool_calls,
        usage,
        finish_reason,
        replay,
        id: known(id),
        model: known(model),
    })
}

/// `{"error": {message, type, code}}`, the shape of OpenAI's error bodies.
fn parse_error_body(text: &str) -> Option<ErrorBody> {
    let envelope: wire::ErrorEnvelope = serde_json::from_str(text).ok()?;
    Some(error_body(envelope.error))
}

fn error_body(body: wire::ApiErrorBody) -> ErrorBody {
    let code = body.code_text();
    ErrorBody { message: body.message, code, error_type: body.kind, ..ErrorBody::default() }
}

/// An error reported inside a stream (`{"error": …}` in place of a chunk).
fn stream_error(provider: &'static str, body: wire::ApiErrorBody) -> Error {
    let body = error_body(body);
    let retryable =
        body.error_type.as_deref().is_some_and(|t| t == "server_error" || t.contains("overloaded"));
    body.into_error(provider, None).with_retryable(retryable)
}

impl Model for OpenAIChat {
    fn id(&self) -> &str {
        &self.config.id
    }

    fn provider(&self) -> &'static str {
        self.config.preset.provider
    }

    fn complete<'a>(&'a self, request: &'a ModelRequest) -> BoxFuture<'a, Result<ModelResponse>> {
        Box::pin(self.complete_inner(request))
    }

    fn stream<'a>(&'a self, request: &'a ModelRequest) -> DeltaStream<'a> {
        self.stream_inner(request)
    }
}

impl fmt::Debug for OpenAIChat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        f.debug_struct("OpenAIChat")
            .field("provider", &c.preset.provider)
            .field("id", &c.id)
            .field("base_url", &c.base_url)
            .field("api_key", &c.api_key.as_ref().map(|_| "<redacted>"))
            .field("organization", &c.organization)
            .field("project", &c.project)
            .field("timeout", &c.http.timeout)
            .field("idle_timeout", &c.http.idle_timeout)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_key() {
        let model = OpenAIChat::new("gpt-5-mini").api_key("sk-secret-123");
        let debug = format!("{model:?}");
        assert!(!debug.contains("sk-secret"), "{debug}");
        assert!(debug.contains("<redacted>"));
    }

    #[test]
    fn system_role_follows_the_model() {
        assert_eq!(OpenAIChat::new("gpt-5-mini").system_role_for_model(), "developer");
        assert_eq!(OpenAIChat::new("o3").system_role_for_model(), "developer");
        assert_eq!(OpenAIChat::new("openai/o4-mini").system_role_for_model(), "developer");
        assert_eq!(OpenAIChat::new("gpt-4.1").system_role_for_model(), "system");
        assert_eq!(OpenAIChat::new("gpt-5-mini").system_role("system").system_role_for_model(), "system");
    }
}
