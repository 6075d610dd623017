//! The model providers, by the names Agno users know (`fanout::models::openai::OpenAIChat`), and
//! models named by a `"provider:model-id"` string, as in Agno: `"openai:gpt-5-mini"`,
//! `"groq:llama-3.3-70b-versatile"`, `"ollama:qwen3"`.
//!
//! ```
//! let model = fanout::models::from_str("groq:llama-3.3-70b-versatile")?;
//! assert_eq!((model.provider(), model.id()), ("groq", "llama-3.3-70b-versatile"));
//! # Ok::<(), fanout::Error>(())
//! ```

use std::sync::Arc;

pub use crate::model::{
    DeltaStream, FinishReason, Message, Model, ModelDelta, ModelRequest, ModelResponse, OutputSchema, Replay,
    ToolChoice, Usage, anthropic, google, openai, scripted,
};

use crate::error::{Error, Result};
use openai::presets::{
    AzureOpenAI, Cerebras, DashScope, DeepSeek, Fireworks, Groq, LMStudio, LlamaCpp, Mistral, Moonshot,
    Ollama, OpenRouter, Perplexity, Together, VLLM, XAI,
};
use openai::{OpenAIChat, OpenAIResponses};

/// The OpenAI-compatible presets at Agno's paths: `fanout::models::groq::Groq` is
/// `agno.models.groq.Groq`.
macro_rules! agno_paths {
    ($($module:ident => $preset:ident),* $(,)?) => {$(
        #[doc = concat!("[`", stringify!($preset), "`](openai::presets::", stringify!($preset), "), at Agno's path.")]
        pub mod $module {
            pub use crate::model::openai::presets::$preset;
        }
    )*};
}

agno_paths! {
    azure => AzureOpenAI,
    cerebras => Cerebras,
    dashscope => DashScope,
    deepseek => DeepSeek,
    fireworks => Fireworks,
    groq => Groq,
    llama_cpp => LlamaCpp,
    lmstudio => LMStudio,
    mistral => Mistral,
    moonshot => Moonshot,
    ollama => Ollama,
    openrouter => OpenRouter,
    perplexity => Perplexity,
    together => Together,
    vllm => VLLM,
    xai => XAI,
}

/// The variable the examples read a model string from.
pub const MODEL_VAR: &str = "FANOUT_MODEL";

/// A model as a provider name builds it: the model, and whether the environment has what it
/// needs to send requests (a key, when the provider requires one).
struct Built {
    model: Arc<dyn Model>,
    /// `None` when ready; else the variable to set.
    missing_key: Option<&'static str>,
}

impl From<anthropic::Claude> for Built {
    fn from(model: anthropic::Claude) -> Self {
        let missing_key = (!model.has_api_key()).then_some("ANTHROPIC_API_KEY");
        Built { model: Arc::new(model), missing_key }
    }
}

impl From<google::Gemini> for Built {
    fn from(model: google::Gemini) -> Self {
        let missing_key = (!model.has_api_key()).then_some("GEMINI_API_KEY");
        Built { model: Arc::new(model), missing_key }
    }
}

impl From<OpenAIChat> for Built {
    fn from(model: OpenAIChat) -> Self {
        let missing_key = (!model.is_configured()).then(|| model.key_var());
        Built { model: Arc::new(model), missing_key }
    }
}

impl From<OpenAIResponses> for Built {
    fn from(model: OpenAIResponses) -> Self {
        let missing_key = (!model.is_configured()).then(|| model.key_var());
        Built { model: Arc::new(model), missing_key }
    }
}

/// The provider names [`from_str`] knows, for its error message.
pub const PROVIDERS: &[&str] = &[
    "openai",
    "openai-responses",
    "anthropic",
    "google",
    "azure-openai",
    "groq",
    "deepseek",
    "mistral",
    "openrouter",
    "xai",
    "together",
    "fireworks",
    "cerebras",
    "perplexity",
    "moonshot",
    "dashscope",
    "ollama",
    "lmstudio",
    "vllm",
    "llama-cpp",
];

/// The registry: one line per provider name (Agno's names, and a few aliases). A provider whose
/// model is not an `OpenAIChat` adds `impl From<ItsModel> for Built` (saying which variable is
/// missing when its key is), and its name to [`PROVIDERS`].
fn build(provider: &str, id: &str) -> Option<Built> {
    Some(match provider {
        "openai" | "openai-chat" => OpenAIChat::new(id).into(),
        "openai-responses" => OpenAIResponses::new(id).into(),
        "anthropic" | "claude" => anthropic::Claude::new(id).into(),
        "google" | "gemini" => google::Gemini::new(id).into(),
        "azure-openai" | "azure" => AzureOpenAI::new(id).into(),
        "groq" => Groq::new(id).into(),
        "deepseek" => DeepSeek::new(id).into(),
        "mistral" => Mistral::new(id).into(),
        "openrouter" => OpenRouter::new(id).into(),
        "xai" => XAI::new(id).into(),
        "together" => Together::new(id).into(),
        "fireworks" => Fireworks::new(id).into(),
        "cerebras" => Cerebras::new(id).into(),
        "perplexity" => Perplexity::new(id).into(),
        "moonshot" => Moonshot::new(id).into(),
        "dashscope" | "qwen" => DashScope::new(id).into(),
        "ollama" => Ollama::new(id).into(),
        "lmstudio" => LMStudio::new(id).into(),
        "vllm" => VLLM::new(id).into(),
        "llama-cpp" | "llamacpp" => LlamaCpp::new(id).into(),
        _ => return None,
    })
}

fn parse(spec: &str) -> Result<Built> {
    let usage = || {
        format!(
            "expected `provider:model-id`, such as `openai:gpt-5-mini`; known providers: {}",
            PROVIDERS.join(", ")
        )
    };
    let (provider, id) = spec
        .split_once(':')
        .ok_or_else(|| Error::config(format!("`{spec}` is not a model string: {}", usage())))?;
    let (provider, id) = (provider.trim().to_ascii_lowercase(), id.trim());
    if provider.is_empty() || id.is_empty() {
        return Err(Error::config(format!("`{spec}` is not a model string: {}", usage())));
    }
    build(&provider, id).ok_or_else(|| {
        Error::config(format!(
            "unknown model provider `{provider}` in `{spec}`: known providers: {}",
            PROVIDERS.join(", ")
        ))
    })
}

/// The model a `"provider:model-id"` string names, configured from the environment's keys
/// (`openai:gpt-5-mini`, `groq:llama-3.3-70b-versatile`, `ollama:qwen3`; the id may contain
/// `:` itself, as in `ollama:qwen3:8b`). The error lists the known providers ([`PROVIDERS`]).
///
/// ```
/// let model = fanout::models::from_str("ollama:qwen3:8b")?;
/// assert_eq!((model.provider(), model.id()), ("ollama", "qwen3:8b"));
///
/// let err = fanout::models::from_str("acme:model-1").unwrap_err();
/// assert!(err.to_string().contains("known providers: openai, openai-responses, anthropic, google, azure-openai, groq"), "{err}");
/// # Ok::<(), fanout::Error>(())
/// ```
pub fn from_str(spec: &str) -> Result<Arc<dyn Model>> {
    parse(spec).map(|built| built.model)
}

/// The examples' model: the one named by `FANOUT_MODEL` (`provider:model-id`) when it is set;
/// otherwise `default` (a model string) when the environment has its key; otherwise `offline`
/// — a [`ScriptedModel`](scripted::ScriptedModel) — after saying so on stderr, with how to
/// switch.
///
/// A key that is set but wrong is never silently replaced: the run fails with the provider's
/// error. So does a `FANOUT_MODEL` whose key is missing.
///
/// ```
/// use fanout::models::{from_env_or_scripted, scripted::ScriptedModel};
///
/// let offline = ScriptedModel::call_every_tool_then_summarize(serde_json::json!({"delay": 3}));
/// let model = from_env_or_scripted("openai:gpt-5-mini", offline)?;
/// # let _ = model;
/// # Ok::<(), fanout::Error>(())
/// ```
pub fn from_env_or_scripted(default: &str, offline: scripted::ScriptedModel) -> Result<Arc<dyn Model>> {
    if let Some(spec) = std::env::var(MODEL_VAR).ok().filter(|s| !s.trim().is_empty()) {
        return from_str(&spec);
    }
    let built = parse(default)?;
    let Some(key) = built.missing_key else { return Ok(built.model) };
    eprintln!(
        "{key} is not set: using fanout's built-in scripted model instead of {} (the tools and their timing are \
         real). Set {key} to use the real model, or {MODEL_VAR}=provider:model (e.g. groq:llama-3.3-70b-versatile, \
         ollama:qwen3) for another one.",
        built.model.id()
    );
    Ok(Arc::new(offline))
}
