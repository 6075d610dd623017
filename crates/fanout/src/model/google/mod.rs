//! Google Gemini, natively: the Gemini API's `generateContent` / `streamGenerateContent`.
//!
//! Configured like Google's SDKs: `GEMINI_API_KEY` (or `GOOGLE_API_KEY`), sent in the
//! `x-goog-api-key` header; `GEMINI_BASE_URL` (or `GOOGLE_GEMINI_BASE_URL`, default
//! `https://generativelanguage.googleapis.com`); each can be overridden. Each call makes one
//! request; failed turns are retried by the agent's [`RetryPolicy`](crate::RetryPolicy),
//! honouring the `RetryInfo.retryDelay` of a 429. The API key never appears in `Debug` output,
//! logs or errors.
//!
//! What the wire needs and fanout does for you:
//! - all results of one batch of calls go back in ONE content, one `functionResponse` per call
//!   in call order (Gemini answers 400 otherwise); a result starting with `Error: ` is sent as
//!   `{"error": …}`, others as `{"result": …}`;
//! - model turns go back verbatim, with their thought signatures (Gemini 3 fails tool turns
//!   without them): the turn's parts travel in the assistant message's
//!   [`Replay`](crate::models::Replay);
//! - calls without an id (Gemini 2.x) get one for fanout's bookkeeping, which is never sent;
//! - tool schemas are converted to the OpenAPI subset Gemini accepts (`$ref`s inlined,
//!   `Option<T>` as `nullable`, unsupported keywords dropped);
//! - tool choice becomes `toolConfig.functionCallingConfig` (`AUTO`, `ANY`, `NONE`, `ANY` with
//!   `allowedFunctionNames`); `parallel_tool_calls` has no Gemini equivalent and is not sent;
//! - an [output schema](crate::AgentBuilder::output_schema) becomes `generationConfig`'s
//!   `responseSchema` (converted like tool schemas) with `responseMimeType: application/json`;
//!   with tools on offer only from Gemini 3 (older models refuse both together and get the
//!   schema in the system instruction instead).
//!
//! Usage: `output_tokens` includes the thoughts (`candidatesTokenCount + thoughtsTokenCount`),
//! as OpenAI's completion tokens include reasoning; `reasoning_tokens` is `thoughtsTokenCount`.
//!
//! Finish reasons: `STOP` is [`Stop`](crate::models::FinishReason::Stop) (or `ToolCalls` when the
//! turn called tools), `MAX_TOKENS` is `Length`, safety and recitation stops are
//! `ContentFilter`; `MALFORMED_FUNCTION_CALL` and its kin are a retryable invalid-response
//! error, and a prompt blocked by `promptFeedback.blockReason` is an error (code = the reason).
//!
//! ```no_run
//! use std::time::Duration;
//! use fanout::models::google::Gemini;
//!
//! let model = Gemini::new("gemini-2.5-flash")
//!     .api_key("AIza…") // else GEMINI_API_KEY / GOOGLE_API_KEY
//!     .timeout(Duration::from_secs(120))
//!     .thinking_budget(1024)
//!     .include_thoughts(true);
//! ```

mod schema;
mod stream;
mod wire;

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;

use super::http::{self, ErrorBody, ErrorFormat, HttpSettings};
use super::{DeltaStream, Model, ModelDelta, ModelRequest, ModelResponse};
use crate::error::{Error, Result};

#[doc(hidden)]
pub use stream::parse_recorded_stream;

const PROVIDER: &str = "google";
const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com";
/// The start of the ids fanout gives calls Gemini sent without one.
const SYNTHETIC_ID_PREFIX: &str = "fanout-gemini-";

/// How Gemini reports errors.
const ERRORS: ErrorFormat = ErrorFormat {
    provider: PROVIDER,
    request_id_header: "x-request-id",
    parse: parse_error_body,
    key_hint: "check GEMINI_API_KEY",
};

/// Gemini 3 and later take a response schema together with function calling.
fn is_gemini_3_or_later(id: &str) -> bool {
    let id = id.strip_prefix("models/").unwrap_or(id);
    id.strip_prefix("gemini-")
        .and_then(|rest| rest.split(['-', '.']).next())
        .and_then(|major| major.parse::<u32>().ok())
        .is_some_and(|major| major >= 3)
}

/// Whether fanout made this call id up (it is then kept out of the wire).
fn is_synthetic_id(id: &str) -> bool {
    id.starts_with(SYNTHETIC_ID_PREFIX)
}

/// Sampling and thinking settings, sent only when set.
#[derive(Debug, Clone, Default)]
struct Settings {
    temperature: Option<f32>,
    top_p: Option<f32>,
    top_k: Option<u32>,
    max_output_tokens: Option<u32>,
    seed: Option<i64>,
    thinking_budget: Option<i32>,
    thinking_level: Option<String>,
    include_thoughts: Option<bool>,
}

impl Settings {
    /// `generationConfig`, or `None` when nothing is set.
    fn generation_config(&self) -> Option<Value> {
        let mut config = serde_json::Map::new();
        let mut set = |key: &str, value: Option<Value>| {
            if let Some(value) = value {
                config.insert(key.to_owned(), value);
            }
        };
        set("temperature", self.temperature.map(Value::from));
        set("topP", self.top_p.map(Value::from));
        set("topK", self.top_k.map(Value::from));
        set("maxOutputTokens", self.max_output_tokens.map(Value::from));
        set("seed", self.seed.map(Value::from));
        let mut thinking = serde_json::Map::new();
        if let Some(budget) = self.thinking_budget {
            thinking.insert("thinkingBudget".into(), Value::from(budget));
        }
        if let Some(level) = &self.thinking_level {
            thinking.insert("thinkingLevel".into(), Value::from(level.as_str()));
        }
        if let Some(include) = self.include_thoughts {
            thinking.insert("includeThoughts".into(), Value::from(include));
        }
        if !thinking.is_empty() {
            config.insert("thinkingConfig".into(), Value::Object(thinking));
        }
        (!config.is_empty()).then_some(Value::Object(config))
    }
}

#[derive(Clone)]
struct Config {
    id: String,
    api_key: Option<String>,
    base_url: String,
    settings: Settings,
    http: HttpSettings,
}

/// A Google Gemini model. Cheap to clone; configure it with the builder-style methods.
#[derive(Clone)]
pub struct Gemini {
    config: Arc<Config>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Gemini {
    /// The model `id` (such as `gemini-2.5-flash`), configured from the environment.
    pub fn new(id: impl Into<String>) -> Self {
        let config = Config {
            id: id.into(),
            api_key: env("GEMINI_API_KEY").or_else(|| env("GOOGLE_API_KEY")),
            base_url: env("GEMINI_BASE_URL")
                .or_else(|| env("GOOGLE_GEMINI_BASE_URL"))
                .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned()),
            settings: Settings::default(),
            http: HttpSettings::default(),
        };
        Self { config: Arc::new(config) }
    }

    fn with(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(Arc::make_mut(&mut self.config));
        self
    }

    /// Use this API key instead of `GEMINI_API_KEY` / `GOOGLE_API_KEY` (an empty key means none).
    pub fn api_key(self, key: impl Into<String>) -> Self {
        let key = key.into();
        self.with(|c| c.api_key = (!key.trim().is_empty()).then_some(key))
    }

    /// Use this base URL (the part before `/v1beta`) instead of `GEMINI_BASE_URL`.
    pub fn base_url(self, url: impl Into<String>) -> Self {
        self.with(|c| c.base_url = url.into())
    }

    super::http::transport_methods!();

    /// Sampling temperature.
    pub fn temperature(self, temperature: f32) -> Self {
        self.with(|c| c.settings.temperature = Some(temperature))
    }

    /// Nucleus sampling.
    pub fn top_p(self, top_p: f32) -> Self {
        self.with(|c| c.settings.top_p = Some(top_p))
    }

    /// Top-k sampling.
    pub fn top_k(self, top_k: u32) -> Self {
        self.with(|c| c.settings.top_k = Some(top_k))
    }

    /// Cap on generated tokens (`maxOutputTokens`; thoughts count against it).
    pub fn max_output_tokens(self, tokens: u32) -> Self {
        self.with(|c| c.settings.max_output_tokens = Some(tokens))
    }

    /// Seed for (mostly) deterministic sampling.
    pub fn seed(self, seed: i64) -> Self {
        self.with(|c| c.settings.seed = Some(seed))
    }

    /// Thinking tokens for Gemini 2.5 models: `0` turns thinking off (Flash), `-1` lets the
    /// model decide.
    pub fn thinking_budget(self, tokens: i32) -> Self {
        self.with(|c| c.settings.thinking_budget = Some(tokens))
    }

    /// Thinking level for Gemini 3 models: `low` or `high`.
    pub fn thinking_level(self, level: impl Into<String>) -> Self {
        self.with(|c| c.settings.thinking_level = Some(level.into()))
    }

    /// Ask for thought summaries, streamed as reasoning.
    pub fn include_thoughts(self, include: bool) -> Self {
        self.with(|c| c.settings.include_thoughts = Some(include))
    }

    /// True when a key is configured (from the environment or [`api_key`](Self::api_key)).
    pub fn has_api_key(&self) -> bool {
        self.config.api_key.is_some()
    }

    fn body(&self, request: &ModelRequest) -> Result<Vec<u8>> {
        let wire =
            wire::GenerateRequest::new(&self.config.settings, request, is_gemini_3_or_later(&self.config.id));
        serde_json::to_vec(&wire).map_err(|e| Error::config(format!("the request could not be encoded: {e}")))
    }

    /// `{base}/v1beta/models/{model}:streamGenerateContent?alt=sse` (SSE, not a JSON array) or
    /// `…:generateContent`.
    fn url(&self, streamed: bool) -> String {
        let config = &self.config;
        let model = config.id.strip_prefix("models/").unwrap_or(&config.id);
        let method = if streamed { "streamGenerateContent?alt=sse" } else { "generateContent" };
        format!("{}/v1beta/models/{model}:{method}", config.base_url.trim_end_matches('/'))
    }

    /// Send one request (no retries: the agent's retry policy owns them) and return the 2xx
    /// response.
    async fn send(&self, body: Vec<u8>, streamed: bool) -> Result<reqwest::Response> {
        let config = &self.config;
        let key = config.api_key.as_deref().ok_or_else(|| {
            Error::config("no API key: set GEMINI_API_KEY (or GOOGLE_API_KEY) or call Gemini::api_key")
                .with_provider(PROVIDER)
        })?;
        let mut request =
            config.http.post(PROVIDER, &self.url(streamed), body)?.header("x-goog-api-key", key);
        if !streamed {
            // A whole answer has the total timeout; a stream has the idle timeout instead.
            request = request.timeout(config.http.timeout);
        }
        http::send(&ERRORS, request, config.http.timeout).await
    }

    async fn complete_inner(&self, request: &ModelRequest) -> Result<ModelResponse> {
        let response = self.send(self.body(request)?, false).await?;
        parse_response(&http::read_body(PROVIDER, response).await?)
    }

    fn stream_inner<'a>(&'a self, request: &'a ModelRequest) -> DeltaStream<'a> {
        let response = async move { self.send(self.body(request)?, true).await };
        let idle = self.config.http.idle_timeout;
        http::sse_deltas(PROVIDER, idle, response, |_| stream::Assembler::default())
    }
}

fn parse_response(bytes: &[u8]) -> Result<ModelResponse> {
    let response: wire::GenerateResponse = serde_json::from_slice(bytes).map_err(|e| {
        let body = http::truncate(&String::from_utf8_lossy(bytes), 200);
        Error::invalid_response(
            PROVIDER,
            format!("the response is not a GenerateContentResponse ({e}): {body}"),
        )
    })?;
    let mut assembler = stream::Assembler::default();
    let mut deltas = VecDeque::new();
    assembler.on_response(response, &mut deltas)?;
    if !assembler.has_finished() {
        return Err(Error::invalid_response(PROVIDER, "the response has no candidate with a finish reason"));
    }
    assembler.on_end(&mut deltas)?;
    let mut whole = ModelResponse::default();
    for delta in deltas {
        match delta {
            ModelDelta::Text(text) => whole.content.get_or_insert_with(String::new).push_str(&text),
            ModelDelta::Reasoning(text) => whole.reasoning.get_or_insert_with(String::new).push_str(&text),
            ModelDelta::ToolCall { call, .. } => whole.tool_calls.push(call),
            ModelDelta::Usage(usage) => whole.usage = Some(usage),
            ModelDelta::Finish(reason) => whole.finish_reason = Some(reason),
            ModelDelta::Replay(replay) => whole.replay = Some(replay),
            ModelDelta::Response { id, model } => (whole.id, whole.model) = (id, model),
        }
    }
    Ok(whole)
}

/// `{"error": {code, message, status, details}}`, the shape of Google's error bodies: the
/// status name is the code, `ErrorInfo.reason` the type, `RetryInfo.retryDelay` the wait.
fn parse_error_body(text: &str) -> Option<ErrorBody> {
    // Without `alt=sse` Google wraps it in an array; accept both.
    let envelope: wire::ErrorEnvelope = if text.trim_start().starts_with('[') {
        serde_json::from_str::<Vec<wire::ErrorEnvelope>>(text).ok()?.into_iter().next()?
    } else {
        serde_json::from_str(text).ok()?
    };
    Some(error_body(&envelope.error))
}

fn error_body(error: &wire::ApiError) -> ErrorBody {
    let mut message = error.message.clone();
    // Gemini answers a wrong key with 400, not 401: say what to check.
    if error.reason() == Some("API_KEY_INVALID")
        && let Some(message) = &mut message
    {
        message.push_str(" (check GEMINI_API_KEY)");
    }
    ErrorBody {
        message,
        code: error.status.clone(),
        error_type: error.reason().map(str::to_owned),
        retry_after: error.retry_delay(),
        quota_ids: error.quota_ids(),
    }
}

/// An error reported inside a stream (`{"error": …}` in place of a chunk): its `code` is an
/// HTTP status, which decides whether the turn is retried.
fn stream_error(error: wire::ApiError) -> Error {
    let status = error.code.filter(|c| (400..600).contains(c));
    error_body(&error).into_error(PROVIDER, status)
}

impl Model for Gemini {
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

impl fmt::Debug for Gemini {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        f.debug_struct("Gemini")
            .field("id", &c.id)
            .field("base_url", &c.base_url)
            .field("api_key", &c.api_key.as_ref().map(|_| "<redacted>"))
            .field("settings", &c.settings)
            .field("timeout", &c.http.timeout)
            .field("idle_timeout", &c.http.idle_timeout)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn response_schema_with_tools_from_gemini_3() {
        for (id, yes) in [
            ("gemini-3-pro-preview", true),
            ("models/gemini-3.5-flash", true),
            ("gemini-2.5-flash", false),
            ("gemini-flash-latest", false),
        ] {
            assert_eq!(is_gemini_3_or_later(id), yes, "{id}");
        }
    }

    #[test]
    fn debug_never_shows_the_key() {
        let model = Gemini::new("gemini-2.5-flash").api_key("AIza-secret-key");
        let debug = format!("{model:?}");
        assert!(!debug.contains("secret"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
    }

    #[test]
    fn urls_name_the_model_and_ask_for_sse() {
        let model = Gemini::new("models/gemini-2.5-flash").base_url("https://example.test/");
        assert_eq!(
            model.url(true),
            "https://example.test/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
        assert_eq!(model.url(false), "https://example.test/v1beta/models/gemini-2.5-flash:generateContent");
    }

    #[test]
    fn generation_config_only_holds_what_is_set() {
        assert_eq!(Settings::default().generation_config(), None);
        let model = Gemini::new("m")
            .temperature(0.5)
            .max_output_tokens(100)
            .thinking_budget(0)
            .include_thoughts(true);
        assert_eq!(
            model.config.settings.generation_config(),
            Some(
                json!({"temperature": 0.5, "maxOutputTokens": 100, "thinkingConfig": {"thinkingBudget": 0, "includeThoughts": true}})
            )
        );
    }

    #[test]
    fn error_bodies_give_status_reason_and_retry_delay() {
        let body = parse_error_body(
            r#"{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":[
                {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1.5s"}]}}"#,
        )
        .unwrap();
        assert_eq!(body.code.as_deref(), Some("RESOURCE_EXHAUSTED"));
        assert_eq!(body.retry_after, Some(std::time::Duration::from_millis(1500)));
        let body = parse_error_body(
            r#"{"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT","details":[
                {"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}"#,
        )
        .unwrap();
        assert_eq!(body.message.as_deref(), Some("API key not valid. (check GEMINI_API_KEY)"));
        assert_eq!(body.error_type.as_deref(), Some("API_KEY_INVALID"));
        assert_eq!(parse_error_body("<html>"), None);
        let wrapped =
            parse_error_body(r#"[{"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}]"#);
        assert_eq!(wrapped.unwrap().code.as_deref(), Some("UNAVAILABLE"));
    }
}
