//! OpenAI-compatible providers by the names Agno gives them. Each is a thin configuration of
//! the same [`OpenAIChat`] — base URL, the variable holding its key, how the key is sent, known
//! quirks — so every builder method of `OpenAIChat` applies, and errors name the provider
//! (`groq API error (429) …`).
//!
//! | Preset | `provider()` | Key | Base URL (override) |
//! | --- | --- | --- | --- |
//! | [`Ollama`] | `ollama` | `OLLAMA_API_KEY` (optional) | `http://localhost:11434/v1` (`OLLAMA_HOST`) |
//! | [`LMStudio`] | `lmstudio` | `LMSTUDIO_API_KEY` (optional) | `http://127.0.0.1:1234/v1` (`LMSTUDIO_BASE_URL`) |
//! | [`VLLM`] | `vllm` | `VLLM_API_KEY` (optional) | `http://localhost:8000/v1` (`VLLM_BASE_URL`) |
//! | [`LlamaCpp`] | `llama-cpp` | `LLAMA_API_KEY` (optional) | `http://127.0.0.1:8080/v1` (`LLAMA_CPP_BASE_URL`) |
//! | [`Groq`] | `groq` | `GROQ_API_KEY` | `https://api.groq.com/openai/v1` (`GROQ_BASE_URL`) |
//! | [`DeepSeek`] | `deepseek` | `DEEPSEEK_API_KEY` | `https://api.deepseek.com` (`DEEPSEEK_BASE_URL`) |
//! | [`Mistral`] | `mistral` | `MISTRAL_API_KEY` | `https://api.mistral.ai/v1` (`MISTRAL_BASE_URL`) |
//! | [`OpenRouter`] | `openrouter` | `OPENROUTER_API_KEY` | `https://openrouter.ai/api/v1` (`OPENROUTER_BASE_URL`) |
//! | [`XAI`] | `xai` | `XAI_API_KEY` | `https://api.x.ai/v1` (`XAI_BASE_URL`) |
//! | [`Together`] | `together` | `TOGETHER_API_KEY` | `https://api.together.xyz/v1` (`TOGETHER_BASE_URL`) |
//! | [`Fireworks`] | `fireworks` | `FIREWORKS_API_KEY` | `https://api.fireworks.ai/inference/v1` (`FIREWORKS_BASE_URL`) |
//! | [`Cerebras`] | `cerebras` | `CEREBRAS_API_KEY` | `https://api.cerebras.ai/v1` (`CEREBRAS_BASE_URL`) |
//! | [`Perplexity`] | `perplexity` | `PERPLEXITY_API_KEY` | `https://api.perplexity.ai` (`PERPLEXITY_BASE_URL`) |
//! | [`Moonshot`] | `moonshot` | `MOONSHOT_API_KEY` | `https://api.moonshot.ai/v1` (`MOONSHOT_BASE_URL`) |
//! | [`DashScope`] | `dashscope` | `DASHSCOPE_API_KEY` or `QWEN_API_KEY` | `https://dashscope-intl.aliyuncs.com/compatible-mode/v1` (`DASHSCOPE_BASE_URL`) |
//! | [`AzureOpenAI`] | `azure-openai` | `AZURE_OPENAI_API_KEY` (sent as `api-key`) | `{AZURE_OPENAI_ENDPOINT}/openai/deployments/{deployment}`, `?api-version={OPENAI_API_VERSION}` |
//!
//! The local servers need no key: without one, no `Authorization` header is sent.
//!
//! ```no_run
//! use fanout::prelude::*;
//! use fanout::models::{groq::Groq, ollama::Ollama}; // or fanout::models::openai::presets::*
//!
//! # fn main() -> fanout::Result<()> {
//! let cloud = Agent::builder().model(Groq::new("llama-3.3-70b-versatile").temperature(0.2)).build()?;
//! let local = Agent::builder().model(Ollama::new("qwen3")).build()?;
//! # let _ = (cloud, local);
//! # Ok(())
//! # }
//! ```

// `Groq::new(id)` reads like Agno's `Groq(id=…)` and returns the one model type every preset is:
// no wrapper types that would each need their own copy of `OpenAIChat`'s builder methods.
#![allow(clippy::new_ret_no_self)]

use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};

use super::{OpenAIChat, env};
use crate::error::{Error, Result};

/// Who an [`OpenAIChat`] talks to.
#[derive(Debug)]
pub(super) struct Preset {
    /// What [`Model::provider`](crate::model::Model::provider) says, and errors name.
    pub(super) provider: &'static str,
    pub(super) base_url: &'static str,
    /// The variable that overrides `base_url`.
    pub(super) base_url_var: Option<&'static str>,
    /// The variables the key is read from, the first one set wins.
    pub(super) key_vars: &'static [&'static str],
    /// Cloud APIs need a key; local servers don't.
    pub(super) key_required: bool,
    pub(super) auth: Auth,
    /// Said after a 401.
    pub(super) key_hint: &'static str,
    pub(super) quirks: Quirks,
}

/// How the key is sent.
#[derive(Debug)]
pub(super) enum Auth {
    /// `Authorization: Bearer KEY`.
    Bearer,
    /// `NAME: KEY` (Azure's `api-key`).
    Header(&'static str),
}

impl Auth {
    pub(super) fn apply(
        &self,
        request: reqwest::RequestBuilder,
        key: &str,
    ) -> Result<reqwest::RequestBuilder> {
        let (name, value) = match self {
            Auth::Bearer => (AUTHORIZATION, format!("Bearer {key}")),
            Auth::Header(name) => (HeaderName::from_static(name), key.to_owned()),
        };
        let mut value = HeaderValue::try_from(value)
            .map_err(|_| Error::config("the API key has characters an HTTP header cannot carry"))?;
        value.set_sensitive(true);
        Ok(request.header(name, value))
    }
}

/// What a provider does differently.
#[derive(Debug, Default)]
pub(super) struct Quirks {
    /// In thinking mode, the reasoning of a turn with tool calls must be sent back with it
    /// (DeepSeek answers 400 without it, Moonshot loses the thread). Everywhere else fanout
    /// never sends reasoning back: some providers reject it.
    pub(super) replay_reasoning: bool,
    /// Structured output only as JSON mode (`response_format: {type: json_object}`, DeepSeek,
    /// Moonshot): the schema then goes into the instructions and the answer is checked by the
    /// run. Everywhere else the schema is sent as `json_schema`, strict.
    pub(super) json_object_only: bool,
}

const NONE: Quirks = Quirks { replay_reasoning: false, json_object_only: false };

/// A cloud API with a bearer key.
const fn cloud(
    provider: &'static str,
    base_url: &'static str,
    base_url_var: &'static str,
    key_vars: &'static [&'static str],
    key_hint: &'static str,
    quirks: Quirks,
) -> Preset {
    Preset {
        provider,
        base_url,
        base_url_var: Some(base_url_var),
        key_vars,
        key_required: true,
        auth: Auth::Bearer,
        key_hint,
        quirks,
    }
}

/// A local server: a key only when one is set.
const fn local(
    provider: &'static str,
    base_url: &'static str,
    base_url_var: Option<&'static str>,
    key_vars: &'static [&'static str],
    key_hint: &'static str,
) -> Preset {
    Preset {
        provider,
        base_url,
        base_url_var,
        key_vars,
        key_required: false,
        auth: Auth::Bearer,
        key_hint,
        quirks: NONE,
    }
}

pub(super) const OPENAI: Preset = cloud(
    "openai",
    "https://api.openai.com/v1",
    "OPENAI_BASE_URL",
    &["OPENAI_API_KEY"],
    "check OPENAI_API_KEY",
    NONE,
);
const OLLAMA: Preset =
    local("ollama", "http://localhost:11434/v1", None, &["OLLAMA_API_KEY"], "check OLLAMA_API_KEY");
const LMSTUDIO: Preset = local(
    "lmstudio",
    "http://127.0.0.1:1234/v1",
    Some("LMSTUDIO_BASE_URL"),
    &["LMSTUDIO_API_KEY"],
    "check LMSTUDIO_API_KEY",
);
const VLLM: Preset =
    local("vllm", "http://localhost:8000/v1", Some("VLLM_BASE_URL"), &["VLLM_API_KEY"], "check VLLM_API_KEY");
const LLAMA_CPP: Preset = local(
    "llama-cpp",
    "http://127.0.0.1:8080/v1",
    Some("LLAMA_CPP_BASE_URL"),
    &["LLAMA_API_KEY"],
    "check LLAMA_API_KEY",
);
const GROQ: Preset = cloud(
    "groq",
    "https://api.groq.com/openai/v1",
    "GROQ_BASE_URL",
    &["GROQ_API_KEY"],
    "check GROQ_API_KEY",
    NONE,
);
const DEEPSEEK: Preset = cloud(
    "deepseek",
    "https://api.deepseek.com",
    "DEEPSEEK_BASE_URL",
    &["DEEPSEEK_API_KEY"],
    "check DEEPSEEK_API_KEY",
    Quirks { replay_reasoning: true, json_object_only: true },
);
const MISTRAL: Preset = cloud(
    "mistral",
    "https://api.mistral.ai/v1",
    "MISTRAL_BASE_URL",
    &["MISTRAL_API_KEY"],
    "check MISTRAL_API_KEY",
    NONE,
);
const OPENROUTER: Preset = cloud(
    "openrouter",
    "https://openrouter.ai/api/v1",
    "OPENROUTER_BASE_URL",
    &["OPENROUTER_API_KEY"],
    "check OPENROUTER_API_KEY",
    NONE,
);
const XAI: Preset =
    cloud("xai", "https://api.x.ai/v1", "XAI_BASE_URL", &["XAI_API_KEY"], "check XAI_API_KEY", NONE);
const TOGETHER: Preset = cloud(
    "together",
    "https://api.together.xyz/v1",
    "TOGETHER_BASE_URL",
    &["TOGETHER_API_KEY"],
    "check TOGETHER_API_KEY",
    NONE,
);
const FIREWORKS: Preset = cloud(
    "fireworks",
    "https://api.fireworks.ai/inference/v1",
    "FIREWORKS_BASE_URL",
    &["FIREWORKS_API_KEY"],
    "check FIREWORKS_API_KEY",
    NONE,
);
const CEREBRAS: Preset = cloud(
    "cerebras",
    "https://api.cerebras.ai/v1",
    "CEREBRAS_BASE_URL",
    &["CEREBRAS_API_KEY"],
    "check CEREBRAS_API_KEY",
    NONE,
);
const PERPLEXITY: Preset = cloud(
    "perplexity",
    "https://api.perplexity.ai",
    "PERPLEXITY_BASE_URL",
    &["PERPLEXITY_API_KEY"],
    "check PERPLEXITY_API_KEY",
    NONE,
);
const MOONSHOT: Preset = cloud(
    "moonshot",
    "https://api.moonshot.ai/v1",
    "MOONSHOT_BASE_URL",
    &["MOONSHOT_API_KEY"],
    "check MOONSHOT_API_KEY",
    Quirks { replay_reasoning: true, json_object_only: true },
);
const DASHSCOPE: Preset = cloud(
    "dashscope",
    "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
    "DASHSCOPE_BASE_URL",
    &["DASHSCOPE_API_KEY", "QWEN_API_KEY"],
    "check DASHSCOPE_API_KEY",
    NONE,
);
const AZURE: Preset = Preset {
    provider: "azure-openai",
    base_url: "",
    base_url_var: Some("AZURE_OPENAI_ENDPOINT"),
    key_vars: &["AZURE_OPENAI_API_KEY"],
    key_required: true,
    auth: Auth::Header("api-key"),
    key_hint: "check AZURE_OPENAI_API_KEY",
    quirks: NONE,
};

macro_rules! presets {
    ($($(#[$doc:meta])* $name:ident = $preset:ident;)*) => {$(
        $(#[$doc])*
        ///
        /// A preset: `new` returns an [`OpenAIChat`], so all of its builder methods apply (see
        /// the [table](self) for every preset).
        #[derive(Debug)]
        pub enum $name {}

        impl $name {
            /// The model `id` on this provider, configured from the environment.
            pub fn new(id: impl Into<String>) -> OpenAIChat {
                OpenAIChat::from_preset(&$preset, id)
            }
        }
    )*};
}

presets! {
    /// [LM Studio](https://lmstudio.ai)'s local server: `http://127.0.0.1:1234/v1`
    /// (`LMSTUDIO_BASE_URL`), no key needed (`LMSTUDIO_API_KEY` when it asks for one).
    LMStudio = LMSTUDIO;
    /// [vLLM](https://docs.vllm.ai)'s OpenAI-compatible server: `http://localhost:8000/v1`
    /// (`VLLM_BASE_URL`), no key needed (`VLLM_API_KEY` for `--api-key`).
    VLLM = VLLM;
    /// [llama.cpp](https://github.com/ggml-org/llama.cpp)'s `llama-server`:
    /// `http://127.0.0.1:8080/v1` (`LLAMA_CPP_BASE_URL`), no key needed (`LLAMA_API_KEY` for
    /// `--api-key`). Its calls may come without ids; fanout makes them up.
    LlamaCpp = LLAMA_CPP;
    /// [Groq](https://console.groq.com): `GROQ_API_KEY`, `https://api.groq.com/openai/v1`
    /// (`GROQ_BASE_URL`).
    Groq = GROQ;
    /// [DeepSeek](https://api-docs.deepseek.com): `DEEPSEEK_API_KEY`, `https://api.deepseek.com`
    /// (`DEEPSEEK_BASE_URL`). In thinking mode the reasoning of a turn with tool calls is sent
    /// back with it, as the API requires.
    DeepSeek = DEEPSEEK;
    /// [Mistral](https://docs.mistral.ai): `MISTRAL_API_KEY`, `https://api.mistral.ai/v1`
    /// (`MISTRAL_BASE_URL`). Magistral's content parts (`text`, `thinking`) become text and
    /// reasoning.
    Mistral = MISTRAL;
    /// [OpenRouter](https://openrouter.ai): `OPENROUTER_API_KEY`, `https://openrouter.ai/api/v1`
    /// (`OPENROUTER_BASE_URL`).
    OpenRouter = OPENROUTER;
    /// [xAI](https://docs.x.ai) (Grok): `XAI_API_KEY`, `https://api.x.ai/v1` (`XAI_BASE_URL`).
    XAI = XAI;
    /// [Together AI](https://docs.together.ai): `TOGETHER_API_KEY`,
    /// `https://api.together.xyz/v1` (`TOGETHER_BASE_URL`).
    Together = TOGETHER;
    /// [Fireworks AI](https://docs.fireworks.ai): `FIREWORKS_API_KEY`,
    /// `https://api.fireworks.ai/inference/v1` (`FIREWORKS_BASE_URL`).
    Fireworks = FIREWORKS;
    /// [Cerebras](https://inference-docs.cerebras.ai): `CEREBRAS_API_KEY`,
    /// `https://api.cerebras.ai/v1` (`CEREBRAS_BASE_URL`).
    Cerebras = CEREBRAS;
    /// [Perplexity](https://docs.perplexity.ai) (Sonar): `PERPLEXITY_API_KEY`,
    /// `https://api.perplexity.ai` (`PERPLEXITY_BASE_URL`).
    Perplexity = PERPLEXITY;
    /// [Moonshot AI](https://platform.moonshot.ai) (Kimi): `MOONSHOT_API_KEY`,
    /// `https://api.moonshot.ai/v1` (`MOONSHOT_BASE_URL`). The reasoning of a turn with tool
    /// calls is sent back with it, as thinking models need.
    Moonshot = MOONSHOT;
    /// [Alibaba Cloud Model Studio](https://www.alibabacloud.com/help/en/model-studio) (Qwen):
    /// `DASHSCOPE_API_KEY` (or `QWEN_API_KEY`),
    /// `https://dashscope-intl.aliyuncs.com/compatible-mode/v1` (`DASHSCOPE_BASE_URL`; use
    /// `https://dashscope.aliyuncs.com/compatible-mode/v1` in mainland China).
    DashScope = DASHSCOPE;
}

/// [Ollama](https://ollama.com): `http://localhost:11434/v1`, or the server in `OLLAMA_HOST`
/// (`host:port` or a URL, as the `ollama` command reads it); no key needed. With
/// `OLLAMA_API_KEY` and no `OLLAMA_HOST`, Ollama's cloud at `https://ollama.com/v1`.
///
/// A preset: `new` returns an [`OpenAIChat`], so all of its builder methods apply.
#[derive(Debug)]
pub enum Ollama {}

impl Ollama {
    /// The model `id` (such as `qwen3`), configured from the environment.
    pub fn new(id: impl Into<String>) -> OpenAIChat {
        let model = OpenAIChat::from_preset(&OLLAMA, id);
        match env("OLLAMA_HOST") {
            Some(host) => model.base_url(ollama_base_url(&host)),
            None if model.has_api_key() => model.base_url("https://ollama.com/v1"),
            None => model,
        }
    }
}

/// `OLLAMA_HOST` (`0.0.0.0`, `host:11434`, `http://host:11434`) as a base URL, with the
/// `ollama` command's default port.
fn ollama_base_url(host: &str) -> String {
    let host = host.trim().trim_end_matches('/');
    match host.split_once("://") {
        // A URL keeps its scheme's port.
        Some(_) => format!("{host}/v1"),
        None if host.contains(':') => format!("http://{host}/v1"),
        None => format!("http://{host}:11434/v1"),
    }
}

/// [Azure OpenAI](https://learn.microsoft.com/azure/ai-services/openai/): requests go to
/// `{endpoint}/openai/deployments/{deployment}/chat/completions?api-version={version}` with the
/// key in an `api-key` header.
///
/// From the environment: `AZURE_OPENAI_API_KEY`, `AZURE_OPENAI_ENDPOINT`
/// (`https://NAME.openai.azure.com`), `AZURE_OPENAI_DEPLOYMENT` (default: the model id) and
/// `OPENAI_API_VERSION` (default `2024-10-21`).
///
/// A preset: its constructors return an [`OpenAIChat`], so all of its builder methods apply.
///
/// ```no_run
/// use fanout::models::azure::AzureOpenAI;
///
/// let model = AzureOpenAI::deployment("https://my-resource.openai.azure.com", "my-gpt-4o", "gpt-4o")
///     .api_key("…");
/// ```
#[derive(Debug)]
pub enum AzureOpenAI {}

/// Azure's current generally available API version.
const AZURE_API_VERSION: &str = "2024-10-21";

impl AzureOpenAI {
    /// The model `id`, configured from the environment (see the type's documentation).
    pub fn new(id: impl Into<String>) -> OpenAIChat {
        let id = id.into();
        let deployment = env("AZURE_OPENAI_DEPLOYMENT").unwrap_or_else(|| id.clone());
        match env("AZURE_OPENAI_ENDPOINT") {
            Some(endpoint) => Self::deployment(&endpoint, &deployment, id),
            // Sending then fails with a clear error, asking for the endpoint.
            None => OpenAIChat::from_preset(&AZURE, id),
        }
    }

    /// Deployment `deployment` of the resource at `endpoint` (`https://NAME.openai.azure.com`),
    /// serving model `id`; key and API version from the environment.
    pub fn deployment(endpoint: &str, deployment: &str, id: impl Into<String>) -> OpenAIChat {
        let base_url =
            format!("{}/openai/deployments/{}", endpoint.trim().trim_end_matches('/'), deployment.trim());
        let version = env("OPENAI_API_VERSION").unwrap_or_else(|| AZURE_API_VERSION.to_owned());
        OpenAIChat::from_preset(&AZURE, id).base_url(base_url).query("api-version", version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ollama_host_as_the_cli_reads_it() {
        assert_eq!(ollama_base_url("0.0.0.0"), "http://0.0.0.0:11434/v1");
        assert_eq!(ollama_base_url("gpu-box:8000"), "http://gpu-box:8000/v1");
        assert_eq!(ollama_base_url("https://ollama.example.com/"), "https://ollama.example.com/v1");
        assert_eq!(ollama_base_url("http://127.0.0.1:11434"), "http://127.0.0.1:11434/v1");
    }
}
