//! OpenAI Chat Completions, for api.openai.com and any compatible server (vLLM, Ollama,
//! llama.cpp, LM Studio, OpenRouter, Groq …).
//!
//! Configured like the official SDKs: `OPENAI_API_KEY`, `OPENAI_BASE_URL` (default
//! `https://api.openai.com/v1`), `OPENAI_ORG_ID`, `OPENAI_PROJECT_ID`; each can be overridden.
//! Failed requests are retried like the SDKs do (connection errors, 408, 409, 429, 5xx, and
//! streams cut before any output), with exponential backoff and jitter, honouring
//! `retry-after-ms` / `retry-after`. The API key never appears in `Debug` output, logs or errors.
//!
//! ```no_run
//! use std::time::Duration;
//! use fanout::models::openai::OpenAIChat;
//!
//! let model = OpenAIChat::new("gpt-5-mini")
//!     .base_url("http://localhost:8000/v1") // any OpenAI-compatible server
//!     .api_key("sk-local")
//!     .timeout(Duration::from_secs(120))
//!     .max_retries(4)
//!     .reasoning_effort("low");
//! ```

mod stream;
mod wire;

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;

use super::{DeltaStream, FinishReason, Model, ModelDelta, ModelRequest, ModelResponse, Usage};
use crate::error::{Error, Result};
use crate::tool::ToolCall;

#[doc(hidden)]
pub use stream::parse_recorded_stream;

const PROVIDER: &str = "openai";
const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
const DEFAULT_MAX_RETRIES: u32 = 2;
/// A `retry-after` longer than this is not waited for; the default backoff applies instead.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

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
    api_key: Option<String>,
    base_url: String,
    organization: Option<String>,
    project: Option<String>,
    timeout: Duration,
    max_retries: u32,
    system_role: Option<&'static str>,
    headers: Vec<(String, String)>,
    settings: Settings,
    client: std::result::Result<reqwest::Client, String>,
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
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("the HTTP client could not be created: {e}"));
        let config = Config {
            id: id.into(),
            api_key: env("OPENAI_API_KEY"),
            base_url: env("OPENAI_BASE_URL").unwrap_or_else(|| DEFAULT_BASE_URL.to_owned()),
            organization: env("OPENAI_ORG_ID"),
            project: env("OPENAI_PROJECT_ID"),
            timeout: DEFAULT_TIMEOUT,
            max_retries: DEFAULT_MAX_RETRIES,
            system_role: None,
            headers: Vec::new(),
            settings: Settings::default(),
            client,
        };
        Self { config: Arc::new(config) }
    }

    fn with(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(Arc::make_mut(&mut self.config));
        self
    }

    /// Use this API key instead of `OPENAI_API_KEY` (an empty key means none).
    pub fn api_key(self, key: impl Into<String>) -> Self {
        let key = key.into();
        self.with(|c| c.api_key = (!key.trim().is_empty()).then_some(key))
    }

    /// Use this base URL (e.g. `http://localhost:8000/v1`) instead of `OPENAI_BASE_URL`.
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

    /// Give up on a request after `timeout` (10 minutes by default, like the SDKs).
    pub fn timeout(self, timeout: Duration) -> Self {
        self.with(|c| c.timeout = timeout)
    }

    /// Retry failed requests up to `retries` times (2 by default).
    pub fn max_retries(self, retries: u32) -> Self {
        self.with(|c| c.max_retries = retries)
    }

    /// Send system prompts with this role (`"system"` or `"developer"`) instead of choosing by
    /// model: `developer` for reasoning models (gpt-5*, o1/o3/o4*), `system` otherwise.
    pub fn system_role(self, role: &'static str) -> Self {
        self.with(|c| c.system_role = Some(role))
    }

    /// Add a header to every request.
    pub fn header(self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.with(|c| c.headers.push((name.into(), value.into())))
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

    /// True when a key is configured (from the environment or [`api_key`](Self::api_key)).
    pub fn has_api_key(&self) -> bool {
        self.config.api_key.is_some()
    }

    fn system_role_for_model(&self) -> &'static str {
        if let Some(role) = self.config.system_role {
            return role;
        }
        let id = self.config.id.rsplit('/').next().unwrap_or(&self.config.id);
        let reasoning = id.starts_with("gpt-5") || ["o1", "o3", "o4"].iter().any(|p| id.starts_with(p));
        if reasoning { "developer" } else { "system" }
    }

    fn body(&self, request: &ModelRequest, stream: bool) -> Result<Vec<u8>> {
        let config = &self.config;
        let wire = wire::ChatRequest::new(
            &config.id,
            self.system_role_for_model(),
            &config.settings,
            request,
            stream,
        );
        serde_json::to_vec(&wire).map_err(|e| Error::Config(format!("the request could not be encoded: {e}")))
    }

    /// Send `body`, retrying on retryable failures, until a 2xx response.
    async fn send(&self, body: &[u8], attempt: &mut u32) -> Result<reqwest::Response> {
        loop {
            match self.send_once(body).await {
                Ok(response) => return Ok(response),
                Err((err, retry_after)) => self.pause_before_retry(err, retry_after, attempt).await?,
            }
        }
    }

    /// Wait before the next attempt, or give `err` back when it is not worth retrying.
    async fn pause_before_retry(
        &self,
        err: Error,
        retry_after: Option<Duration>,
        attempt: &mut u32,
    ) -> Result<()> {
        if !err.is_retryable() || *attempt >= self.config.max_retries {
            return Err(err);
        }
        let delay = retry_after.filter(|d| *d <= MAX_RETRY_AFTER).unwrap_or_else(|| backoff(*attempt));
        *attempt += 1;
        tracing::warn!(
            "{err}; retrying in {:.2}s (retry {} of {})",
            delay.as_secs_f64(),
            attempt,
            self.config.max_retries
        );
        tokio::time::sleep(delay).await;
        Ok(())
    }

    async fn send_once(
        &self,
        body: &[u8],
    ) -> std::result::Result<reqwest::Response, (Error, Option<Duration>)> {
        let config = &self.config;
        let client = config.client.as_ref().map_err(|e| (Error::Config(e.clone()), None))?;
        let key = config.api_key.as_deref().ok_or_else(|| {
            let message = "no API key: set OPENAI_API_KEY or call OpenAIChat::api_key".to_owned();
            (Error::Config(message), None)
        })?;
        let url = format!("{}/chat/completions", config.base_url.trim_end_matches('/'));
        let mut request = client
            .post(url)
            .timeout(config.timeout)
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(org) = &config.organization {
            request = request.header("OpenAI-Organization", org);
        }
        if let Some(project) = &config.project {
            request = request.header("OpenAI-Project", project);
        }
        for (name, value) in &config.headers {
            if let (Ok(name), Ok(value)) =
                (HeaderName::try_from(name.as_str()), HeaderValue::try_from(value.as_str()))
            {
                request = request.header(name, value);
            }
        }
        let response = request.send().await.map_err(|e| (transport_error(&e, config.timeout), None))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let headers = response.headers().clone();
        let retry_after = retry_after(&headers);
        let request_id = header(&headers, "x-request-id");
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str::<wire::ErrorEnvelope>(&text).map(|e| e.error).unwrap_or_else(|_| {
            wire::ApiErrorBody { message: Some(stream::truncate(text.trim(), 500)), ..Default::default() }
        });
        Err((api_error(status.as_u16(), body, request_id), retry_after))
    }

    async fn complete_inner(&self, request: &ModelRequest) -> Result<ModelResponse> {
        let body = self.body(request, false)?;
        let mut attempt = 0;
        loop {
            let response = self.send(&body, &mut attempt).await?;
            let bytes = match response.bytes().await {
                Ok(bytes) => bytes,
                Err(e) => {
                    self.pause_before_retry(transport_error(&e, self.config.timeout), None, &mut attempt)
                        .await?;
                    continue;
                }
            };
            return parse_response(&bytes);
        }
    }

    fn stream_inner<'a>(&'a self, request: &'a ModelRequest) -> DeltaStream<'a> {
        let state = StreamState {
            model: self,
            body: self.body(request, true).map_err(Some),
            attempt: 0,
            bytes: None,
            parser: crate::model::sse::SseParser::default(),
            assembler: stream::Assembler::default(),
            events: Vec::new(),
            queue: VecDeque::new(),
            yielded: false,
            finished: false,
            pending_error: None,
        };
        futures::stream::unfold(state, |mut state| async move {
            let item = state.next().await?;
            Some((item, state))
        })
        .boxed()
    }
}

/// The state of one streamed turn, across retries.
struct StreamState<'a> {
    model: &'a OpenAIChat,
    /// The encoded request, or the error to report if it could not be encoded.
    body: std::result::Result<Vec<u8>, Option<Error>>,
    attempt: u32,
    bytes: Option<BoxStream<'static, reqwest::Result<bytes::Bytes>>>,
    parser: crate::model::sse::SseParser,
    assembler: stream::Assembler,
    events: Vec<String>,
    queue: VecDeque<ModelDelta>,
    /// Something reached the caller: from now on a failure is an error, not a retry.
    yielded: bool,
    finished: bool,
    pending_error: Option<Error>,
}

impl StreamState<'_> {
    async fn next(&mut self) -> Option<Result<ModelDelta>> {
        loop {
            if let Some(delta) = self.queue.pop_front() {
                self.yielded = true;
                return Some(Ok(delta));
            }
            if let Some(err) = self.pending_error.take() {
                return Some(Err(err));
            }
            if self.finished {
                return None;
            }
            let body = match &mut self.body {
                Ok(body) => body,
                Err(err) => {
                    self.finished = true;
                    return err.take().map(Err);
                }
            };
            if self.bytes.is_none() {
                match self.model.send(body, &mut self.attempt).await {
                    Ok(response) => self.bytes = Some(response.bytes_stream().boxed()),
                    Err(err) => return self.fail(err),
                }
            }
            let Some(bytes) = self.bytes.as_mut() else { continue };
            let outcome = match bytes.try_next().await {
                Ok(Some(chunk)) => self.on_bytes(&chunk),
                Ok(None) => self.assembler.on_end().map(|()| true),
                Err(e) => Err(transport_error(&e, self.model.config.timeout)),
            };
            match outcome {
                Ok(true) => self.finished = true,
                Ok(false) => {}
                Err(err) if !self.yielded && self.queue.is_empty() && err.is_retryable() => {
                    // Nothing reached the caller yet: start the request over.
                    if let Err(err) = self.model.pause_before_retry(err, None, &mut self.attempt).await {
                        return self.fail(err);
                    }
                    self.bytes = None;
                    self.parser = crate::model::sse::SseParser::default();
                    self.assembler = stream::Assembler::default();
                }
                Err(err) => {
                    // Deliver what was parsed before the failure, then the error.
                    self.finished = true;
                    self.pending_error = Some(err);
                }
            }
        }
    }

    fn fail(&mut self, err: Error) -> Option<Result<ModelDelta>> {
        self.finished = true;
        Some(Err(err))
    }

    /// Feed bytes; `Ok(true)` when `[DONE]` was seen.
    fn on_bytes(&mut self, chunk: &[u8]) -> Result<bool> {
        self.parser.feed(chunk, &mut self.events);
        for data in self.events.drain(..) {
            if self.assembler.on_event(&data, &mut self.queue)? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

fn parse_response(bytes: &[u8]) -> Result<ModelResponse> {
    let response: wire::ChatResponse = serde_json::from_slice(bytes).map_err(|e| Error::InvalidResponse {
        provider: PROVIDER,
        message: format!(
            "the response is not a chat completion ({e}): {}",
            stream::truncate(&String::from_utf8_lossy(bytes), 200)
        ),
    })?;
    let usage = response.usage.map(Usage::from);
    let Some(choice) = response.choices.into_iter().next() else {
        return Err(Error::InvalidResponse {
            provider: PROVIDER,
            message: "the response has no choices".into(),
        });
    };
    let message = choice.message;
    let tool_calls = message
        .tool_calls
        .into_iter()
        .enumerate()
        .map(|(index, call)| {
            let missing = |what: &str| Error::InvalidResponse {
                provider: PROVIDER,
                message: format!("tool call at index {index} has no {what}"),
            };
            Ok(ToolCall {
                id: call.id.filter(|id| !id.is_empty()).ok_or_else(|| missing("id"))?,
                name: call.function.name.filter(|n| !n.is_empty()).ok_or_else(|| missing("function name"))?,
                arguments: call.function.arguments.unwrap_or_default(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(ModelResponse {
        content: message.content.filter(|c| !c.is_empty()),
        reasoning: message.reasoning_content.filter(|r| !r.is_empty()),
        tool_calls,
        usage,
        finish_reason: choice.finish_reason.filter(|r| !r.is_empty()).map(|r| FinishReason::from_wire(&r)),
    })
}

/// A typed error from a provider error body; a rejected key says how to fix it.
fn api_error(status: u16, body: wire::ApiErrorBody, request_id: Option<String>) -> Error {
    let mut message = body.message.clone().unwrap_or_else(|| "(no message)".into());
    if status == 401 {
        message = format!("the API key was rejected (check OPENAI_API_KEY): {message}");
    }
    Error::Api { provider: PROVIDER, status, message, code: body.code_text(), kind: body.kind, request_id }
}

fn transport_error(err: &reqwest::Error, timeout: Duration) -> Error {
    if err.is_timeout() {
        return Error::Timeout { provider: PROVIDER, after: timeout };
    }
    let mut message = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    Error::Connection { provider: PROVIDER, message }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// `retry-after-ms` (milliseconds), else `retry-after` (seconds).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds = |name: &str, scale: f64| {
        header(headers, name)?
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(|v| v / scale)
    };
    seconds("retry-after-ms", 1000.0).or_else(|| seconds("retry-after", 1.0)).map(Duration::from_secs_f64)
}

/// The SDKs' backoff: 0.5 s doubling to at most 8 s, minus up to 25 % jitter.
fn backoff(attempt: u32) -> Duration {
    let base = (0.5 * 2f64.powi(attempt.min(16) as i32)).min(8.0);
    // A fresh RandomState is randomly seeded: enough randomness for jitter, without a dependency.
    let random = std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), attempt);
    let jitter = 1.0 - 0.25 * (random as f64 / u64::MAX as f64);
    Duration::from_secs_f64(base * jitter)
}

impl Model for OpenAIChat {
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

impl fmt::Debug for OpenAIChat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        f.debug_struct("OpenAIChat")
            .field("id", &c.id)
            .field("base_url", &c.base_url)
            .field("api_key", &c.api_key.as_ref().map(|_| "<redacted>"))
            .field("organization", &c.organization)
            .field("project", &c.project)
            .field("timeout", &c.timeout)
            .field("max_retries", &c.max_retries)
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

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(0) <= Duration::from_millis(500) && backoff(0) >= Duration::from_millis(375));
        assert!(backoff(10) <= Duration::from_secs(8) && backoff(10) >= Duration::from_secs(6));
    }
}
