//! OpenAI's Responses API (`POST {base_url}/responses`), where OpenAI's reasoning models work
//! best, and which LM Studio and others serve too.
//!
//! Configured like [`OpenAIChat`] — `OPENAI_API_KEY`, `OPENAI_BASE_URL`, and the same builder
//! methods — and built from any Chat model's connection with `OpenAIResponses::from(chat)`
//! (e.g. an [`LMStudio`](super::presets::LMStudio) preset). Each call makes one request; failed
//! turns are retried by the agent's [`RetryPolicy`](crate::RetryPolicy). The API key never
//! appears in `Debug` output, logs or errors.
//!
//! **Reasoning across tool turns.** By default nothing is stored at OpenAI (`store: false`);
//! reasoning models (gpt-5*, o1/o3/o4*, or any model given a
//! [`reasoning_effort`](OpenAIResponses::reasoning_effort) or
//! [`reasoning_summary`](OpenAIResponses::reasoning_summary)) are asked for their reasoning
//! encrypted (`include: ["reasoning.encrypted_content"]`, which other models refuse), and
//! each turn's output items — reasoning with its `encrypted_content`, messages, calls — come
//! back as the turn's [`Replay`](crate::model::Replay) and are sent again, verbatim and in
//! order, as input items of later requests (without their `id`s, which name nothing stored).
//! The model keeps its reasoning across the calls of a run and the conversation stays
//! stateless: any request can go to any server or be retried.
//!
//! **Stored responses.** With [`store(true)`](OpenAIResponses::store) OpenAI keeps each
//! response and a request continues the last assistant turn by `previous_response_id`, sending
//! only the messages after it (the tool results, the next user message); the replayed items are
//! then not sent. When that turn cannot be continued — it has no response id (another model
//! wrote it), or it held a `parallel` wrapper that fanout expanded into calls the server never
//! issued — the whole conversation is sent instead, replayed items included (with their ids,
//! which the server knows).
//!
//! **The `parallel` wrapper.** Models sometimes write one call of a `parallel` tool holding
//! several tool uses; it is expanded into the real calls (ids `<call_id>_<i>`), which run at
//! once, and is sent back as those calls with their outputs: the server keeps no record of
//! the ids it issued, it only checks that each output answers a call of the same input.
//!
//! ```no_run
//! use std::time::Duration;
//! use fanout::models::openai::OpenAIResponses;
//! use fanout::prelude::*;
//!
//! # fn main() -> fanout::Result<()> {
//! let model = OpenAIResponses::new("gpt-5-mini")
//!     .reasoning_effort("low")
//!     .reasoning_summary("auto") // reasoning shown as it streams
//!     .idle_timeout(Duration::from_secs(60));
//! let agent = Agent::builder().model(model).build()?;
//! # let _ = agent;
//! # Ok(())
//! # }
//! ```

mod stream;
mod wire;

use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde::Serialize;

use super::super::http::{self};
use super::presets::{OPENAI, Preset};
use super::{Config, OpenAIChat, is_reasoning_model};
use crate::error::{Error, Result};
use crate::model::{DeltaStream, FinishReason, Model, ModelRequest, ModelResponse};
use crate::tool::ToolDefinition;
use stream::{api_error, incomplete_response};
use wire::{OutputItem, WireResponse};

/// Sampling, reasoning and storage settings, sent only when set (`store` always).
#[derive(Debug, Clone, Default, Serialize)]
struct Settings {
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_output_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning: Option<Reasoning>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    #[serde(skip)]
    store: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
struct Reasoning {
    #[serde(skip_serializing_if = "Option::is_none")]
    effort: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<String>,
}

/// OpenAI, by its own name: errors read `openai-responses API error …`, and the turns' replays
/// are told from Chat Completions ones.
static OPENAI_RESPONSES: Preset = Preset { provider: "openai-responses", ..OPENAI };

/// An OpenAI Responses API model. Cheap to clone; configure it with the builder-style methods.
#[derive(Clone)]
pub struct OpenAIResponses {
    /// The connection, shared in shape with [`OpenAIChat`].
    config: Arc<Config>,
    settings: Arc<Settings>,
}

impl From<OpenAIChat> for OpenAIResponses {
    /// The Responses API on `chat`'s server, with its key, base URL, headers and client (its
    /// Chat-only settings are not carried over).
    fn from(chat: OpenAIChat) -> Self {
        Self { config: chat.config, settings: Arc::default() }
    }
}

impl OpenAIResponses {
    /// The model `id` (such as `gpt-5-mini`), configured from the environment.
    pub fn new(id: impl Into<String>) -> Self {
        Self::from(OpenAIChat::new(id)).with(|c| c.preset = &OPENAI_RESPONSES)
    }

    fn with(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(Arc::make_mut(&mut self.config));
        self
    }

    fn with_settings(mut self, f: impl FnOnce(&mut Settings)) -> Self {
        f(Arc::make_mut(&mut self.settings));
        self
    }

    connection_methods!("responses");

    /// Sampling temperature.
    pub fn temperature(self, temperature: f32) -> Self {
        self.with_settings(|s| s.temperature = Some(temperature))
    }

    /// Nucleus sampling.
    pub fn top_p(self, top_p: f32) -> Self {
        self.with_settings(|s| s.top_p = Some(top_p))
    }

    /// Cap on generated tokens, reasoning included.
    pub fn max_output_tokens(self, tokens: u32) -> Self {
        self.with_settings(|s| s.max_output_tokens = Some(tokens))
    }

    /// Reasoning effort for reasoning models: `minimal`, `low`, `medium`, `high`.
    pub fn reasoning_effort(self, effort: impl Into<String>) -> Self {
        self.with_settings(|s| {
            s.reasoning.get_or_insert_with(Reasoning::default).effort = Some(effort.into())
        })
    }

    /// Ask for a summary of the reasoning (`auto`, `concise`, `detailed`), streamed as
    /// reasoning deltas.
    pub fn reasoning_summary(self, summary: impl Into<String>) -> Self {
        self.with_settings(|s| {
            s.reasoning.get_or_insert_with(Reasoning::default).summary = Some(summary.into())
        })
    }

    /// An end-user id for abuse monitoring.
    pub fn user(self, user: impl Into<String>) -> Self {
        self.with_settings(|s| s.user = Some(user.into()))
    }

    /// Let OpenAI store the responses and continue each turn by `previous_response_id` (off by
    /// default: reasoning is replayed from its encrypted content instead). See the
    /// [module documentation](self) for how the two interact.
    pub fn store(self, store: bool) -> Self {
        self.with_settings(|s| s.store = store)
    }

    /// True when requests can be sent (see [`OpenAIChat`]'s).
    pub(crate) fn is_configured(&self) -> bool {
        self.has_api_key() || !self.config.preset.key_required
    }

    /// The variable the key is read from, such as `OPENAI_API_KEY`.
    pub(crate) fn key_var(&self) -> &'static str {
        self.config.key_var()
    }

    fn body(&self, request: &ModelRequest, stream: bool) -> Result<Vec<u8>> {
        let reasoning = self.settings.reasoning.is_some() || is_reasoning_model(&self.config.id);
        let wire = wire::ResponsesRequest::new(
            &self.config.id,
            self.config.preset.provider,
            reasoning,
            &self.settings,
            request,
            stream,
        );
        serde_json::to_vec(&wire).map_err(|e| Error::config(format!("the request could not be encoded: {e}")))
    }

    async fn send(&self, body: Vec<u8>, streamed: bool) -> Result<reqwest::Response> {
        self.config.send("responses", "OpenAIResponses", body, streamed).await
    }

    async fn complete_inner(&self, request: &ModelRequest) -> Result<ModelResponse> {
        let response = self.send(self.body(request, false)?, false).await?;
        let provider = self.config.preset.provider;
        let body = http::read_body(provider, response).await?;
        parse_response(provider, &request.tools, &body)
    }

    fn stream_inner<'a>(&'a self, request: &'a ModelRequest) -> DeltaStream<'a> {
        let config = &self.config;
        let assembler = stream::Assembler::new(config.preset.provider, request.tools.clone());
        let response = async move { self.send(self.body(request, true)?, true).await };
        http::sse_deltas(config.preset.provider, config.http.idle_timeout, response, |_| assembler)
    }
}

/// A whole response: its output items read in order, the same way as streamed ones.
fn parse_response(
    provider: &'static str,
    tools: &[Arc<ToolDefinition>],
    bytes: &[u8],
) -> Result<ModelResponse> {
    let mut response: WireResponse = serde_json::from_slice(bytes).map_err(|e| {
        let body = http::truncate(&String::from_utf8_lossy(bytes), 200);
        Error::invalid_response(
            provider,
            format!("the response is not a Responses API response ({e}): {body}"),
        )
    })?;
    if let Some(error) = response.error.take() {
        return Err(api_error(provider, Some(error), "the response failed"));
    }
    match response.status.as_deref() {
        Some("incomplete") => return Err(incomplete_response(provider, &response)),
        Some("failed") => return Err(api_error(provider, None, "the response failed")),
        _ => {}
    }
    let (mut text, mut reasoning) = (Vec::new(), Vec::new());
    let mut tool_calls = Vec::new();
    for item in &response.output {
        let item = OutputItem::read(item);
        match item.kind.as_deref() {
            Some("message") => {
                text.extend(item.content.into_iter().filter_map(|p| match p.kind.as_deref() {
                    Some("refusal") => p.refusal,
                    _ => p.text,
                }))
            }
            Some("reasoning") => {
                reasoning.extend(item.summary.into_iter().chain(item.content).filter_map(|p| p.text))
            }
            Some("function_call") => {
                let arguments = item.arguments.map(|a| a.0).unwrap_or_default();
                tool_calls.extend(stream::tool_calls(provider, item.call_id, item.name, arguments, tools)?);
            }
            _ => {}
        }
    }
    let joined = |parts: Vec<String>| {
        let parts: Vec<String> = parts.into_iter().filter(|p| !p.is_empty()).collect();
        (!parts.is_empty()).then(|| parts.join("\n\n"))
    };
    let usage = response.take_usage();
    let finish = if tool_calls.is_empty() { FinishReason::Stop } else { FinishReason::ToolCalls };
    let known = |value: &Option<String>| value.clone().filter(|v| !v.is_empty());
    let (id, model) = (known(&response.id), known(&response.model));
    Ok(ModelResponse {
        content: joined(text),
        reasoning: joined(reasoning),
        tool_calls,
        usage,
        finish_reason: Some(finish),
        replay: stream::replay(provider, response.id.take(), std::mem::take(&mut response.output)),
        id,
        model,
    })
}

impl Model for OpenAIResponses {
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

impl fmt::Debug for OpenAIResponses {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        f.debug_struct("OpenAIResponses")
            .field("provider", &c.preset.provider)
            .field("id", &c.id)
            .field("base_url", &c.base_url)
            .field("api_key", &c.api_key.as_ref().map(|_| "<redacted>"))
            .field("store", &self.settings.store)
            .field("timeout", &c.http.timeout)
            .field("idle_timeout", &c.http.idle_timeout)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::openai::presets;

    #[test]
    fn debug_never_shows_the_key() {
        let model = OpenAIResponses::new("gpt-5-mini").api_key("sk-secret-123");
        let debug = format!("{model:?}");
        assert!(!debug.contains("sk-secret"), "{debug}");
        assert!(debug.contains("<redacted>"));
    }

    #[test]
    fn a_presets_connection_carries_over() {
        let model = OpenAIResponses::from(presets::LMStudio::new("qwen3"));
        assert_eq!((model.provider(), model.id()), ("lmstudio", "qwen3"));
        assert!(format!("{model:?}").contains("127.0.0.1:1234"));
    }
}
