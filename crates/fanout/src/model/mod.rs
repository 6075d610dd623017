//! The model side of a run: the [`Model`] trait, the messages of a conversation and the deltas a
//! streaming model produces. Providers live in their own modules and know nothing about tools'
//! Rust types: they see [`ToolDefinition`]s and produce [`ToolCall`]s.

pub mod anthropic;
pub mod google;
pub(crate) mod http;
pub mod openai;
pub(crate) mod parallel;
pub mod scripted;
pub(crate) mod sse;

use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

use crate::error::Result;
pub use crate::structured::OutputSchema;
use crate::tool::{ToolCall, ToolDefinition};

/// One message of a conversation. Plain data: stored as JSON (tagged by `role`), read back
/// by any later version of fanout. New kinds of messages and new content (images, files) may be
/// added, so match with a `_` arm and build messages with the constructors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Message {
    /// Instructions for the model. Providers pick the wire role (`system` or `developer`).
    System {
        /// The text.
        content: String,
    },
    /// What the user said.
    User {
        /// The text.
        content: String,
    },
    /// What the model answered: text, tool calls, or both.
    Assistant {
        /// The text, if any.
        content: Option<String>,
        /// The tool calls, in the model's order.
        tool_calls: Vec<ToolCall>,
        /// The provider's own record of this turn, sent back to it verbatim (see [`Replay`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replay: Option<Replay>,
    },
    /// The result of one tool call.
    Tool {
        /// The id of the call this answers.
        call_id: String,
        /// The tool's name.
        name: String,
        /// The result text (an error text when the call failed).
        content: String,
        /// True when the call failed (`content` then says why); providers that can mark a result
        /// as an error (Anthropic's `is_error`) do.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        is_error: bool,
    },
}

/// A provider's own record of an assistant turn, which it needs back verbatim in later
/// requests: Anthropic's thinking blocks with their signatures, Gemini's parts with their thought
/// signatures, the Responses API's encrypted reasoning items. Opaque to everything but the
/// provider named in it; other providers ignore it (a conversation may change models).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Replay {
    /// The provider that wrote it, as [`Model::provider`] names it.
    pub provider: String,
    /// Whatever that provider needs, in its own shape.
    pub data: serde_json::Value,
}

impl Replay {
    /// A record of `provider`'s.
    pub fn new(provider: &str, data: serde_json::Value) -> Self {
        Self { provider: provider.to_owned(), data }
    }

    /// The data, if `provider` wrote it.
    pub fn data_for(&self, provider: &str) -> Option<&serde_json::Value> {
        (self.provider == provider).then_some(&self.data)
    }
}

/// A new tool-call id, for providers whose calls come without one (Gemini's compatible
/// endpoint, NVIDIA NIM, llama.cpp's server …): unique within the process and, by a random
/// part, across processes, so a conversation stored and resumed elsewhere never reuses one.
pub(crate) fn new_call_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static PROCESS: OnceLock<u64> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let process =
        *PROCESS.get_or_init(|| std::collections::hash_map::RandomState::new().build_hasher().finish());
    format!("call_{process:016x}{:06x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

impl Message {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Message::System { content: content.into() }
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Message::User { content: content.into() }
    }

    /// An assistant turn: its text (if any) and the tool calls it made, in order.
    pub fn assistant(content: Option<String>, tool_calls: Vec<ToolCall>) -> Self {
        Message::Assistant { content, tool_calls, replay: None }
    }

    /// The result of tool call `call_id`, an error text when `is_error`.
    pub fn tool_result(
        call_id: impl Into<String>,
        name: impl Into<String>,
        content: impl Into<String>,
        is_error: bool,
    ) -> Self {
        Message::Tool { call_id: call_id.into(), name: name.into(), content: content.into(), is_error }
    }
}

/// Whether and how the model may call tools.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ToolChoice {
    /// The model decides (the API's default).
    Auto,
    /// The model must not call tools.
    None,
    /// The model must call at least one tool.
    Required,
    /// The model must call this tool.
    Function(String),
}

/// Everything a provider needs for one model turn.
#[derive(Debug, Clone, Default)]
pub struct ModelRequest {
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// The tools on offer.
    pub tools: Arc<[Arc<ToolDefinition>]>,
    /// `None` leaves the provider's default.
    pub tool_choice: Option<ToolChoice>,
    /// `None` leaves the provider's default (on for OpenAI); only sent when set.
    pub parallel_tool_calls: Option<bool>,
    /// The schema the final answer must follow, sent with the provider's native mechanism (see
    /// [`structured`](crate::structured)); `None` for free text.
    pub output_schema: Option<Arc<OutputSchema>>,
}

/// Token counts of one model turn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Their sum, as the provider reports it.
    pub total_tokens: u64,
    /// Prompt tokens served from the provider's cache.
    pub cached_input_tokens: u64,
    /// Completion tokens spent on hidden reasoning.
    pub reasoning_tokens: u64,
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, other: Self) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.total_tokens += other.total_tokens;
        self.cached_input_tokens += other.cached_input_tokens;
        self.reasoning_tokens += other.reasoning_tokens;
    }
}

/// Why the model stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum FinishReason {
    /// A final answer.
    Stop,
    /// It wants tool results.
    ToolCalls,
    /// It hit the token limit.
    Length,
    /// The provider filtered the content.
    ContentFilter,
    /// The provider paused a long turn before it was over (Anthropic's `pause_turn`, while its
    /// server tools work): the run sends the conversation back with this turn's content as it
    /// is, and the model goes on where it stopped (see [`continues`](Self::continues)).
    PauseTurn,
    /// Something else the provider said.
    Other(String),
}

impl FinishReason {
    /// Map a provider's finish reason string.
    pub fn from_wire(reason: &str) -> Self {
        match reason {
            "stop" | "end_turn" => FinishReason::Stop,
            "tool_calls" | "function_call" | "tool_use" => FinishReason::ToolCalls,
            "length" | "max_tokens" => FinishReason::Length,
            "content_filter" => FinishReason::ContentFilter,
            "pause_turn" => FinishReason::PauseTurn,
            other => FinishReason::Other(other.to_owned()),
        }
    }

    /// True when the model has not finished its turn and only needs it sent back to go on
    /// ([`PauseTurn`](Self::PauseTurn)): the run then makes another request instead of ending
    /// with this turn's text as the answer.
    pub fn continues(&self) -> bool {
        matches!(self, FinishReason::PauseTurn)
    }
}

/// A whole (non-streamed) model turn.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelResponse {
    /// The answer text, if any.
    pub content: Option<String>,
    /// Reasoning text, for providers that return it.
    pub reasoning: Option<String>,
    /// Tool calls, in order.
    pub tool_calls: Vec<ToolCall>,
    /// Token counts, when reported.
    pub usage: Option<Usage>,
    /// Why the model stopped, when reported.
    pub finish_reason: Option<FinishReason>,
    /// The provider's record of the turn, to send back with it (see [`Replay`]).
    pub replay: Option<Replay>,
    /// The provider's id for this response (`chatcmpl-…`, `msg_…`, `resp_…`), when reported.
    pub id: Option<String>,
    /// The model that answered, when reported: it may differ from the one asked for (a dated
    /// version, an alias resolved, a router's choice).
    pub model: Option<String>,
}

/// One piece of a streamed model turn.
///
/// Tool calls arrive whole: a provider emits a [`ModelDelta::ToolCall`] as soon as that call's
/// arguments are complete (which lets the agent start it before the turn ends), and all of them
/// by the end of the turn at the latest.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelDelta {
    /// A piece of the answer text.
    Text(String),
    /// A piece of reasoning text.
    Reasoning(String),
    /// A complete tool call. `index` is its position in the turn.
    ToolCall {
        /// Position of the call in the turn (0-based).
        index: usize,
        /// The call.
        call: ToolCall,
    },
    /// Token counts for the turn.
    Usage(Usage),
    /// The model finished the turn.
    Finish(FinishReason),
    /// The provider's record of the turn, to send back with it (see [`Replay`]); at most one
    /// per turn, usually at its end.
    Replay(Replay),
    /// Who answered: at most one per turn, as soon as the provider says (usually first).
    /// Traces record it as `gen_ai.response.id` and `gen_ai.response.model`.
    Response {
        /// The provider's id for this response (`chatcmpl-…`, `msg_…`, `resp_…`).
        id: Option<String>,
        /// The model that answered (it may differ from the one asked for).
        model: Option<String>,
    },
}

impl ModelDelta {
    /// A [`ModelDelta::Response`] from what a provider reported, empty values left out; `None`
    /// when it reported neither.
    pub(crate) fn response(id: Option<&str>, model: Option<&str>) -> Option<Self> {
        let known = |value: Option<&str>| value.filter(|v| !v.is_empty()).map(str::to_owned);
        let (id, model) = (known(id), known(model));
        (id.is_some() || model.is_some()).then_some(ModelDelta::Response { id, model })
    }
}

/// A stream of deltas for one model turn. It ends after the turn is complete; an error item
/// ends it early.
pub type DeltaStream<'a> = BoxStream<'a, Result<ModelDelta>>;

/// A chat model: one request in, a whole response or a stream of deltas out.
///
/// Implement it to add a provider; [`openai::OpenAIChat`], [`anthropic::Claude`],
/// [`google::Gemini`] and [`scripted::ScriptedModel`] are the built-in ones.
pub trait Model: Send + Sync + fmt::Debug + 'static {
    /// The model's id, such as `gpt-5-mini`.
    fn id(&self) -> &str;

    /// The provider's short name, such as `openai`.
    fn provider(&self) -> &'static str;

    /// Run one turn and return it whole.
    fn complete<'a>(&'a self, request: &'a ModelRequest) -> BoxFuture<'a, Result<ModelResponse>>;

    /// Run one turn as a stream of deltas.
    ///
    /// A provider retries on its own only while nothing has been yielded; after that, an error
    /// ends the stream.
    fn stream<'a>(&'a self, request: &'a ModelRequest) -> DeltaStream<'a>;
}

impl<M: Model + ?Sized> Model for Arc<M> {
    fn id(&self) -> &str {
        (**self).id()
    }
    fn provider(&self) -> &'static str {
        (**self).provider()
    }
    fn complete<'a>(&'a self, request: &'a ModelRequest) -> BoxFuture<'a, Result<ModelResponse>> {
        (**self).complete(request)
    }
    fn stream<'a>(&'a self, request: &'a ModelRequest) -> DeltaStream<'a> {
        (**self).stream(request)
    }
}
