//! Anthropic's Messages API: Claude.
//!
//! Configured like the official SDKs: `ANTHROPIC_API_KEY`, `ANTHROPIC_BASE_URL` (default
//! `https://api.anthropic.com`; requests go to `{base}/v1/messages`), each of which can be
//! overridden; every request carries `x-api-key` and `anthropic-version: 2023-06-01`. Each call
//! makes one request; failed turns (429, 529 `overloaded_error`, 5xx, cut streams, in-stream
//! `overloaded_error` events) are retried by the agent's [`RetryPolicy`](crate::RetryPolicy),
//! honouring the `retry-after` the error carries; 4xx client errors are not. The API key never
//! appears in `Debug` output, logs or errors.
//!
//! What it gets right for parallel tool calls:
//! - all results of a batch go back in ONE user message, as `tool_result` blocks in call order
//!   (`is_error: true` for failed calls), with nothing before them; consecutive messages of one
//!   role are merged so roles alternate;
//! - earlier assistant turns are sent back exactly as the API sent them (via
//!   [`Replay`](crate::model::Replay)): thinking and redacted thinking blocks with their
//!   signatures, before the `tool_use` blocks, as extended thinking with tools requires;
//! - each `tool_use` block is emitted at its `content_block_stop`, so the agent starts it while
//!   the model is still streaming the next one;
//! - [`AgentBuilder::parallel_tool_calls(false)`](crate::AgentBuilder::parallel_tool_calls) sends
//!   `tool_choice.disable_parallel_tool_use: true`.
//!
//! Structured output ([`AgentBuilder::output_schema`](crate::AgentBuilder::output_schema)):
//! `output_config.format` (`json_schema`, strict) on Claude 4.5 and later; older models get a
//! `json` tool whose input is the answer, which they must call (`tool_choice` `tool`, or `any`
//! when other tools are on offer; `auto` with extended thinking, which allows nothing else). The
//! call comes back as answer text, and goes back to the API as text too.
//!
//! Usage: `input_tokens` is the whole prompt — Anthropic's `input_tokens` (after the last cache
//! breakpoint) plus `cache_creation_input_tokens` and `cache_read_input_tokens` — of which
//! `cached_input_tokens` were cache reads; `total_tokens` is input plus output. Stop reasons:
//! `end_turn` and `stop_sequence` → `Stop`, `tool_use` → `ToolCalls`, `max_tokens` and
//! `model_context_window_exceeded` → `Length`, `refusal` → `ContentFilter`, `pause_turn` →
//! `PauseTurn` (a long turn of server tools paused: the run sends it back as it is, and Claude
//! goes on), anything else → `Other`.
//!
//! ```no_run
//! use std::time::Duration;
//! use fanout::prelude::*;
//! use fanout::models::anthropic::Claude;
//!
//! /// Look up the weather
//! ///
//! /// # Arguments
//! /// * `city` - The city
//! #[tool]
//! async fn weather(city: String) -> String {
//!     format!("Sunny in {city}")
//! }
//!
//! # async fn run() -> fanout::Result<()> {
//! let model = Claude::new("claude-sonnet-4-5") // ANTHROPIC_API_KEY from the environment
//!     .max_tokens(16_000)
//!     .thinking(4_000) // extended thinking, with a budget of 4,000 tokens
//!     .cache_prompt(true)
//!     .idle_timeout(Duration::from_secs(60));
//! let agent = Agent::builder().model(model).tool(weather).build()?;
//! let output = agent.run("Weather in Paris, Rome and Oslo?").await?;
//! println!("{}", output.content);
//! # Ok(())
//! # }
//! ```

mod schema;
mod stream;
mod wire;

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use futures::StreamExt;
use futures::future::BoxFuture;
use serde::Serialize;

use super::http::{self, ErrorBody, ErrorFormat, HttpSettings};
use super::{DeltaStream, FinishReason, Model, ModelDelta, ModelRequest, ModelResponse};
use crate::error::{Error, Result};

#[doc(hidden)]
pub use stream::parse_recorded_stream;

const PROVIDER: &str = "anthropic";
const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
const API_VERSION: &str = "2023-06-01";
/// The smallest thinking budget the API accepts.
const MIN_THINKING_BUDGET: u32 = 1024;

/// How the Messages API reports errors.
const ERRORS: ErrorFormat = ErrorFormat {
    provider: PROVIDER,
    request_id_header: "request-id",
    parse: parse_error_body,
    key_hint: "check ANTHROPIC_API_KEY",
};

/// Sampling settings, sent only when set.
#[derive(Debug, Clone, Default, Serialize)]
struct Settings {
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u32>,
}

#[derive(Clone)]
struct Config {
    id: String,
    api_key: Option<String>,
    base_url: String,
    max_tokens: Option<u32>,
    thinking_budget: Option<u32>,
    cache_prompt: bool,
    settings: Settings,
    http: HttpSettings,
}

/// A Claude model on Anthropic's Messages API. Cheap to clone; configure it with the
/// builder-style methods. See the [module docs](self).
#[derive(Clone)]
pub struct Claude {
    config: Arc<Config>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Claude {
    /// The model `id` (such as `claude-sonnet-4-5`), configured from the environment
    /// (`ANTHROPIC_API_KEY`, `ANTHROPIC_BASE_URL`).
    pub fn new(id: impl Into<String>) -> Self {
        let config = Config {
            id: id.into(),
            api_key: env("ANTHROPIC_API_KEY"),
            base_url: env("ANTHROPIC_BASE_URL").unwrap_or_else(|| DEFAULT_BASE_URL.to_owned()),
            max_tokens: None,
            thinking_budget: None,
            cache_prompt: false,
            settings: Settings::default(),
            http: HttpSettings::default(),
        };
        Self { config: Arc::new(config) }
    }

    fn with(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(Arc::make_mut(&mut self.config));
        self
    }

    /// Use this API key instead of `ANTHROPIC_API_KEY` (an empty key means none).
    pub fn api_key(self, key: impl Into<String>) -> Self {
        let key = key.into();
        self.with(|c| c.api_key = (!key.trim().is_empty()).then_some(key))
    }

    /// Use this base URL (without `/v1`, e.g. `http://localhost:8080`) instead of
    /// `ANTHROPIC_BASE_URL`.
    pub fn base_url(self, url: impl Into<String>) -> Self {
        self.with(|c| c.base_url = url.into())
    }

    super::http::transport_methods!();

    /// Cap on generated tokens, thinking included. The API requires one: by default 8,192
    /// (4,096 for Claude 3 models), plus the thinking budget when thinking is on.
    pub fn max_tokens(self, tokens: u32) -> Self {
        self.with(|c| c.max_tokens = Some(tokens))
    }

    /// Extended thinking with a budget of `budget_tokens` (at least 1,024, below `max_tokens`).
    /// The thinking streams as reasoning and is sent back, signed, with later turns. For
    /// thinking between tool calls on Claude 4 models, add
    /// `.header("anthropic-beta", "interleaved-thinking-2025-05-14")`.
    pub fn thinking(self, budget_tokens: u32) -> Self {
        self.with(|c| c.thinking_budget = Some(budget_tokens))
    }

    /// Prompt caching: mark the system prompt and the last tool definition with
    /// `cache_control: {type: ephemeral}`, so later turns read them from the cache.
    pub fn cache_prompt(self, cache: bool) -> Self {
        self.with(|c| c.cache_prompt = cache)
    }

    /// Sampling temperature (0 to 1).
    pub fn temperature(self, temperature: f32) -> Self {
        self.with(|c| c.settings.temperature = Some(temperature))
    }

    /// Nucleus sampling.
    pub fn top_p(self, top_p: f32) -> Self {
        self.with(|c| c.settings.top_p = Some(top_p))
    }

    /// Sample from the `top_k` most likely tokens only.
    pub fn top_k(self, top_k: u32) -> Self {
        self.with(|c| c.settings.top_k = Some(top_k))
    }

    /// True when a key is configured (from the environment or [`api_key`](Self::api_key)).
    pub fn has_api_key(&self) -> bool {
        self.config.api_key.is_some()
    }

    /// The `max_tokens` to send: the user's, else the model's default plus the thinking budget.
    fn max_tokens_for_request(&self) -> Result<u32> {
        let config = &self.config;
        let default = if config.id.starts_with("claude-3-")
            && !config.id.starts_with("claude-3-5")
            && !config.id.starts_with("claude-3-7")
        {
            4096
        } else {
            8192
        };
        match (config.max_tokens, config.thinking_budget) {
            (_, Some(budget)) if budget < MIN_THINKING_BUDGET => Err(Error::config(format!(
                "the thinking budget ({budget} tokens) must be at least {MIN_THINKING_BUDGET} tokens"
            ))),
            (Some(max), Some(budget)) if max <= budget => Err(Error::config(format!(
                "max_tokens ({max}) must be larger than the thinking budget ({budget} tokens)"
            ))),
            (Some(max), _) => Ok(max),
            (None, Some(budget)) => Ok(budget.saturating_add(default)),
            (None, None) => Ok(default),
        }
    }

    fn body(&self, request: &ModelRequest, stream: bool) -> Result<Vec<u8>> {
        let config = &self.config;
        let options = wire::Options {
            model: &config.id,
            max_tokens: self.max_tokens_for_request()?,
            thinking_budget: config.thinking_budget,
            cache_prompt: config.cache_prompt,
            settings: &config.settings,
            stream,
            output: self.output_mode(request),
        };
        let wire = wire::MessagesRequest::new(options, request);
        serde_json::to_vec(&wire).map_err(|e| Error::config(format!("the request could not be encoded: {e}")))
    }

    /// Send one request (no retries: the agent's retry policy owns them) and return the 2xx
    /// response.
    async fn send(&self, body: Vec<u8>, streamed: bool) -> Result<reqwest::Response> {
        let config = &self.config;
        let key = config.api_key.as_deref().ok_or_else(|| {
            Error::config("no API key: set ANTHROPIC_API_KEY or call Claude::api_key").with_provider(PROVIDER)
        })?;
        let url = format!("{}/v1/messages", config.base_url.trim_end_matches('/'));
        let mut request = config
            .http
            .post(PROVIDER, &url, body)?
            .header("x-api-key", key)
            .header("anthropic-version", API_VERSION);
        if !streamed {
            // A whole answer has the total timeout; a stream has the idle timeout instead.
            request = request.timeout(config.http.timeout);
        }
        http::send(&ERRORS, request, config.http.timeout).await
    }

    /// How this request asks for the output schema: natively on the models that have
    /// structured outputs, else with the `json` tool.
    fn output_mode(&self, request: &ModelRequest) -> wire::OutputMode {
        match request.output_schema {
            None => wire::OutputMode::Free,
            Some(_) if has_structured_outputs(&self.config.id) => wire::OutputMode::Native,
            Some(_) => wire::OutputMode::JsonTool,
        }
    }

    async fn complete_inner(&self, request: &ModelRequest) -> Result<ModelResponse> {
        let json_tool = self.output_mode(request) == wire::OutputMode::JsonTool;
        let response = self.send(self.body(request, false)?, false).await?;
        let request_id = http::header(response.headers(), ERRORS.request_id_header);
        parse_response(&http::read_body(PROVIDER, response).await?, request_id, json_tool)
    }

    fn stream_inner<'a>(&'a self, request: &'a ModelRequest) -> DeltaStream<'a> {
        let json_tool = self.output_mode(request) == wire::OutputMode::JsonTool;
        let response = async move { self.send(self.body(request, true)?, true).await };
        // Errors reported inside the stream carry the request's id.
        let assemble = |response: &reqwest::Response| {
            stream::Assembler::new(http::header(response.headers(), ERRORS.request_id_header))
        };
        let deltas = http::sse_deltas(PROVIDER, self.config.http.idle_timeout, response, assemble);
        if json_tool { deltas.map(|delta| delta.map(json_tool_delta)).boxed() } else { deltas }
    }
}

/// True for the models with structured outputs (`output_config.format`): Claude 4.5 and later
/// (Sonnet, Opus, Haiku).
fn has_structured_outputs(id: &str) -> bool {
    let Some(rest) =
        ["sonnet-", "opus-", "haiku-"].iter().find_map(|family| id.split_once(family).map(|(_, r)| r))
    else {
        return false;
    };
    let mut parts = rest.split('-').map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), _) if major > 4 && major < 100 => true,
        (Some(4), Some(minor)) => (5..100).contains(&minor),
        _ => false,
    }
}

/// In [`OutputMode::JsonTool`](wire::OutputMode::JsonTool), the answer comes as a call of the
/// `json` tool: it becomes answer text, and a block of text in the turn's replay too (a
/// `tool_use` sent back without a result is refused, as in a repair turn). Other calls of the
/// turn keep their index: the run loop orders calls by arrival, not by index.
fn json_tool_delta(delta: ModelDelta) -> ModelDelta {
    let is_json_call =
        |block: &serde_json::Value| block["type"] == "tool_use" && block["name"] == wire::JSON_TOOL;
    match delta {
        ModelDelta::ToolCall { call, .. } if call.name == wire::JSON_TOOL => ModelDelta::Text(call.arguments),
        ModelDelta::Finish(FinishReason::ToolCalls) => ModelDelta::Finish(FinishReason::Stop),
        ModelDelta::Replay(mut replay) => {
            if let Some(blocks) = replay.data.get_mut("content").and_then(serde_json::Value::as_array_mut) {
                for block in blocks.iter_mut().filter(|block| is_json_call(block)) {
                    *block = serde_json::json!({"type": "text", "text": block["input"].to_string()});
                }
            }
            ModelDelta::Replay(replay)
        }
        other => other,
    }
}

fn parse_response(bytes: &[u8], request_id: Option<String>, json_tool: bool) -> Result<ModelResponse> {
    let message: wire::WireMessageOut = serde_json::from_slice(bytes).map_err(|e| {
        let body = http::truncate(&String::from_utf8_lossy(bytes), 200);
        Error::invalid_response(PROVIDER, format!("the response is not a message ({e}): {body}"))
    })?;
    let mut deltas = VecDeque::new();
    stream::Assembler::new(request_id).on_message(message, &mut deltas)?;
    let mut response = ModelResponse::default();
    for delta in deltas {
        match if json_tool { json_tool_delta(delta) } else { delta } {
            ModelDelta::Text(text) => response.content.get_or_insert_default().push_str(&text),
            ModelDelta::Reasoning(text) => response.reasoning.get_or_insert_default().push_str(&text),
            ModelDelta::ToolCall { call, .. } => response.tool_calls.push(call),
            ModelDelta::Usage(usage) => response.usage = Some(usage),
            ModelDelta::Finish(reason) => response.finish_reason = Some(reason),
            ModelDelta::Replay(replay) => response.replay = Some(replay),
            ModelDelta::Response { id, model } => (response.id, response.model) = (id, model),
        }
    }
    Ok(response)
}

/// Map a `stop_reason`.
fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "tool_use" => FinishReason::ToolCalls,
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "refusal" => FinishReason::ContentFilter,
        "pause_turn" => FinishReason::PauseTurn,
        other => FinishReason::Other(other.to_owned()),
    }
}

/// `{"type": "error", "error": {type, message}}`, the shape of Anthropic's error bodies.
fn parse_error_body(text: &str) -> Option<ErrorBody> {
    let envelope: wire::ErrorEnvelope = serde_json::from_str(text).ok()?;
    let error = envelope.error;
    Some(ErrorBody { message: error.message, code: None, error_type: error.kind, ..ErrorBody::default() })
}

/// An `error` event inside a stream (`overloaded_error`, `api_error`, …). It has no status, so
/// whether a retry may help is said explicitly.
fn stream_error(error: wire::ApiError, request_id: Option<String>) -> Error {
    let retryable = error
        .kind
        .as_deref()
        .is_some_and(|t| matches!(t, "overloaded_error" | "api_error" | "rate_limit_error"));
    let body =
        ErrorBody { message: error.message, code: None, error_type: error.kind, ..ErrorBody::default() };
    let err = body.into_error(PROVIDER, None).with_retryable(retryable);
    match request_id {
        Some(id) => err.with_request_id(id),
        None => err,
    }
}

impl Model for Claude {
    fn id(&self) -> &str {
        &self.config.id
    }

    fn provider(&self) -> &'static str {
        PROVIDER
    }

    fn complete<'a>(&'a self, request: &'a ModelRequest) -> BoxFuture<'a, Result<ModelResponse>> {
        Box::pin(self.complete_inner(request))
    }

    fn stream<'a>(&'a self, request: &'a ModelRequest) -> DeltaStream<'a> {
        self.stream_inner(request)
    }
}

impl fmt::Debug for Claude {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        f.debug_struct("Claude")
            .field("id", &c.id)
            .field("base_url", &c.base_url)
            .field("api_key", &c.api_key.as_ref().map(|_| "<redacted>"))
            .field("max_tokens", &c.max_tokens)
            .field("thinking_budget", &c.thinking_budget)
            .field("cache_prompt", &c.cache_prompt)
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
        let model = Claude::new("claude-sonnet-4-5").api_key("sk-ant-secret-123");
        let debug = format!("{model:?}");
        assert!(!debug.contains("sk-ant-secret"), "{debug}");
        assert!(debug.contains("<redacted>"));
    }

    #[test]
    fn max_tokens_follow_the_model_and_the_thinking_budget() {
        let max = |model: Claude| model.max_tokens_for_request().ok();
        assert_eq!(max(Claude::new("claude-sonnet-4-5")), Some(8192));
        assert_eq!(max(Claude::new("claude-3-haiku-20240307")), Some(4096));
        assert_eq!(max(Claude::new("claude-3-5-haiku-latest")), Some(8192));
        assert_eq!(max(Claude::new("claude-sonnet-4-5").thinking(2000)), Some(10_192));
        assert_eq!(max(Claude::new("claude-sonnet-4-5").max_tokens(3000).thinking(2000)), Some(3000));
        assert_eq!(max(Claude::new("claude-sonnet-4-5").max_tokens(2000).thinking(2000)), None);
    }

    #[test]
    fn structured_outputs_from_claude_4_5() {
        for id in [
            "claude-sonnet-4-5",
            "claude-sonnet-4-5-20250929",
            "claude-haiku-4-5",
            "claude-opus-4-6",
            "claude-sonnet-5",
        ] {
            assert!(has_structured_outputs(id), "{id}");
        }
        for id in [
            "claude-sonnet-4-0",
            "claude-opus-4-1",
            "claude-3-7-sonnet-latest",
            "claude-sonnet-4-20250514",
            "other",
        ] {
            assert!(!has_structured_outputs(id), "{id}");
        }
    }

    #[test]
    fn stop_reasons() {
        assert_eq!(finish_reason("end_turn"), FinishReason::Stop);
        assert_eq!(finish_reason("stop_sequence"), FinishReason::Stop);
        assert_eq!(finish_reason("tool_use"), FinishReason::ToolCalls);
        assert_eq!(finish_reason("max_tokens"), FinishReason::Length);
        assert_eq!(finish_reason("model_context_window_exceeded"), FinishReason::Length);
        assert_eq!(finish_reason("refusal"), FinishReason::ContentFilter);
        assert_eq!(finish_reason("pause_turn"), FinishReason::PauseTurn);
        assert_eq!(finish_reason("something_new"), FinishReason::Other("something_new".into()));
    }
}
