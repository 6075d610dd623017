//! The OpenAI-compatible presets on the wire: each sends to its URL with its kind of
//! authentication, names itself in errors, and is reachable by a `provider:model` string.
//! DeepSeek and Moonshot get a thinking turn's reasoning back; nobody else does.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use fanout::models::openai::OpenAIChat;
use fanout::models::openai::presets::{
    AzureOpenAI, Cerebras, DashScope, DeepSeek, Fireworks, Groq, LMStudio, LlamaCpp, Mistral, Moonshot,
    Ollama, OpenRouter, Perplexity, Together, VLLM, XAI,
};
use fanout::models::{Message, Model, ModelDelta, ModelRequest, Replay};
use fanout::tool::ToolCall;
use fanout_testserver::{Raw, Reply, Script, Server};
use futures::StreamExt;
use serde_json::json;

/// Every preset: its constructor, `provider()`, default base URL and the variables that would
/// override it (the default is only checked when they are unset).
#[allow(clippy::type_complexity)]
const PRESETS: &[(fn(&str) -> OpenAIChat, &str, &str, &[&str])] = &[
    (|id| OpenAIChat::new(id), "openai", "https://api.openai.com/v1", &["OPENAI_BASE_URL"]),
    (|id| Groq::new(id), "groq", "https://api.groq.com/openai/v1", &["GROQ_BASE_URL"]),
    (|id| DeepSeek::new(id), "deepseek", "https://api.deepseek.com", &["DEEPSEEK_BASE_URL"]),
    (|id| Mistral::new(id), "mistral", "https://api.mistral.ai/v1", &["MISTRAL_BASE_URL"]),
    (|id| OpenRouter::new(id), "openrouter", "https://openrouter.ai/api/v1", &["OPENROUTER_BASE_URL"]),
    (|id| XAI::new(id), "xai", "https://api.x.ai/v1", &["XAI_BASE_URL"]),
    (|id| Together::new(id), "together", "https://api.together.xyz/v1", &["TOGETHER_BASE_URL"]),
    (|id| Fireworks::new(id), "fireworks", "https://api.fireworks.ai/inference/v1", &["FIREWORKS_BASE_URL"]),
    (|id| Cerebras::new(id), "cerebras", "https://api.cerebras.ai/v1", &["CEREBRAS_BASE_URL"]),
    (|id| Perplexity::new(id), "perplexity", "https://api.perplexity.ai", &["PERPLEXITY_BASE_URL"]),
    (|id| Moonshot::new(id), "moonshot", "https://api.moonshot.ai/v1", &["MOONSHOT_BASE_URL"]),
    (
        |id| DashScope::new(id),
        "dashscope",
        "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
        &["DASHSCOPE_BASE_URL"],
    ),
    (|id| Ollama::new(id), "ollama", "http://localhost:11434/v1", &["OLLAMA_HOST", "OLLAMA_API_KEY"]),
    (|id| LMStudio::new(id), "lmstudio", "http://127.0.0.1:1234/v1", &["LMSTUDIO_BASE_URL"]),
    (|id| VLLM::new(id), "vllm", "http://localhost:8000/v1", &["VLLM_BASE_URL"]),
    (|id| LlamaCpp::new(id), "llama-cpp", "http://127.0.0.1:8080/v1", &["LLAMA_CPP_BASE_URL"]),
];

const LOCAL: &[&str] = &["ollama", "lmstudio", "vllm", "llama-cpp"];

fn request() -> ModelRequest {
    ModelRequest { messages: vec![Message::user("Hi")], ..ModelRequest::default() }
}

#[tokio::test]
async fn each_preset_sends_to_its_url_with_a_bearer_key() {
    for (new, provider, default_url, vars) in PRESETS {
        let model = new("model-x");
        assert_eq!(model.provider(), *provider);
        if vars.iter().all(|v| std::env::var_os(v).is_none()) {
            let debug = format!("{model:?}");
            assert!(debug.contains(&format!("base_url: \"{default_url}\"")), "{provider}: {debug}");
        }
        let server = Server::start(Script::sequence([Reply::text("hello")])).await.unwrap();
        let model = model.base_url(server.url()).api_key("key-123");
        let answer = model.complete(&request()).await.unwrap();
        assert_eq!(answer.content.as_deref(), Some("hello"));
        let received = &server.requests()[0];
        assert_eq!(received.path, "/v1/chat/completions", "{provider}");
        assert_eq!(received.header("authorization"), Some("Bearer key-123"), "{provider}");
        assert_eq!(received.body["model"], "model-x");
    }
}

#[tokio::test]
async fn local_presets_need_no_key_and_send_none() {
    for (new, provider, _, _) in PRESETS.iter().filter(|p| LOCAL.contains(&p.1)) {
        let server = Server::start(Script::sequence([Reply::text("hello")])).await.unwrap();
        let model = new("qwen3").base_url(server.url()).api_key("");
        model.complete(&request()).await.unwrap();
        assert_eq!(server.requests()[0].header("authorization"), None, "{provider}");
    }
    // A cloud preset without a key says which variable to set, before sending anything.
    let err = Groq::new("llama-3.3-70b-versatile").api_key("").complete(&request()).await.unwrap_err();
    assert_eq!(err.to_string(), "configuration: no API key: set GROQ_API_KEY or call OpenAIChat::api_key");
}

#[tokio::test]
async fn azure_uses_the_deployment_url_and_an_api_key_header() {
    let server = Server::start(Script::sequence([Reply::text("hello")])).await.unwrap();
    let endpoint = server.url().trim_end_matches("/v1").to_owned();
    let model = AzureOpenAI::deployment(&format!("{endpoint}/"), "my-gpt", "gpt-4o").api_key("az-key");
    assert_eq!(model.provider(), "azure-openai");
    model.complete(&request()).await.unwrap();
    let received = &server.requests()[0];
    assert_eq!(received.path, "/openai/deployments/my-gpt/chat/completions");
    let version = std::env::var("OPENAI_API_VERSION").unwrap_or_else(|_| "2024-10-21".into());
    assert_eq!(received.query.as_deref(), Some(format!("api-version={version}").as_str()));
    assert_eq!(received.header("api-key"), Some("az-key"));
    assert_eq!(received.header("authorization"), None);

    if std::env::var_os("AZURE_OPENAI_ENDPOINT").is_none() {
        let err = AzureOpenAI::new("gpt-4o").api_key("k").complete(&request()).await.unwrap_err();
        assert!(err.to_string().contains("no base URL: set AZURE_OPENAI_ENDPOINT"), "{err}");
    }
}

#[tokio::test]
async fn errors_name_the_preset_and_its_key_variable_but_never_the_key() {
    let server = Server::start(Script::sequence([Reply::error(401, "Invalid API Key")])).await.unwrap();
    let model = Groq::new("llama-3.3-70b-versatile").base_url(server.url()).api_key("gsk-secret-42");
    let err = model.complete(&request()).await.unwrap_err();
    let text = format!("{err} {err:?} {model:?}");
    assert!(text.starts_with("groq API error 401"), "{text}");
    assert!(text.contains("check GROQ_API_KEY"), "{text}");
    assert!(!text.contains("gsk-secret"), "{text}");
}

#[test]
fn model_strings_build_every_preset() {
    for (spec, provider, id) in [
        ("openai:gpt-5-mini", "openai", "gpt-5-mini"),
        ("openai-responses:gpt-5-mini", "openai-responses", "gpt-5-mini"),
        ("groq:llama-3.3-70b-versatile", "groq", "llama-3.3-70b-versatile"),
        ("ollama:qwen3:8b", "ollama", "qwen3:8b"),
        ("OpenRouter:anthropic/claude-sonnet-4", "openrouter", "anthropic/claude-sonnet-4"),
        ("azure:gpt-4o", "azure-openai", "gpt-4o"),
        ("anthropic:claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5"),
        ("google:gemini-2.5-flash", "google", "gemini-2.5-flash"),
        ("llama-cpp:ggml-org/gpt-oss-20b-GGUF", "llama-cpp", "ggml-org/gpt-oss-20b-GGUF"),
    ] {
        let model = fanout::models::from_str(spec).unwrap();
        assert_eq!((model.provider(), model.id()), (provider, id), "{spec}");
    }
    for provider in fanout::models::PROVIDERS {
        let model = fanout::models::from_str(&format!("{provider}:m")).unwrap();
        assert_eq!(model.provider(), *provider);
    }
    for bad in ["gpt-5-mini", "openai:", ":gpt-5", "acme:x"] {
        let err = fanout::models::from_str(bad).err().unwrap().to_string();
        assert!(
            err.contains("known providers: openai, openai-responses, anthropic, google, azure-openai, groq"),
            "{bad}: {err}"
        );
    }
}

/// A thinking turn that calls a tool, then the next request: the reasoning goes back to the
/// providers that need it, and to no other.
async fn second_request_after_a_thinking_call(model: fn(&str) -> OpenAIChat) -> serde_json::Value {
    let events = [
        json!({"choices": [{"index": 0, "delta": {"reasoning_content": "Need the weather."}}]}),
        json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "c0", "type": "function",
            "function": {"name": "weather", "arguments": "{}"}}]}}]}),
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
    ];
    let events = events.iter().map(|e| (None::<String>, e.to_string())).chain([(None, "[DONE]".to_owned())]);
    let server =
        Server::start(Script::sequence([Reply::raw(Raw::sse(events)), Reply::text("Sunny.")])).await.unwrap();
    let model = model("m").base_url(server.url()).api_key("k");
    let request = request();
    let deltas: Vec<ModelDelta> = model.stream(&request).map(|d| d.unwrap()).collect().await;
    let replay = deltas.iter().find_map(|d| match d {
        ModelDelta::Replay(r) => Some(r.clone()),
        _ => None,
    });
    let mut request = request;
    request.messages.push(Message::Assistant {
        content: None,
        tool_calls: vec![ToolCall::new("c0", "weather", "{}")],
        replay,
    });
    request.messages.push(Message::Tool {
        call_id: "c0".into(),
        name: "weather".into(),
        content: "sunny".into(),
        is_error: false,
    });
    model.complete(&request).await.unwrap();
    server.requests()[1].body["messages"][1].clone()
}

#[tokio::test]
async fn reasoning_goes_back_only_where_it_is_required() {
    for (model, provider) in [
        ((|id| DeepSeek::new(id)) as fn(&str) -> OpenAIChat, "deepseek"),
        (|id| Moonshot::new(id), "moonshot"),
    ] {
        let assistant = second_request_after_a_thinking_call(model).await;
        assert_eq!(assistant["reasoning_content"], "Need the weather.", "{provider}: {assistant}");
    }
    for model in [(|id| OpenAIChat::new(id)) as fn(&str) -> OpenAIChat, |id| Groq::new(id), |id| XAI::new(id)]
    {
        let assistant = second_request_after_a_thinking_call(model).await;
        assert!(assistant.get("reasoning_content").is_none(), "{assistant}");
        assert_eq!(assistant["tool_calls"][0]["id"], "c0");
    }
    // Another provider's record is not sent to DeepSeek.
    let server = Server::start(Script::sequence([Reply::text("ok")])).await.unwrap();
    let mut request = request();
    request.messages.push(Message::Assistant {
        content: Some("x".into()),
        tool_calls: Vec::new(),
        replay: Some(Replay::new("moonshot", json!({"reasoning_content": "theirs"}))),
    });
    DeepSeek::new("m").base_url(server.url()).api_key("k").complete(&request).await.unwrap();
    assert!(server.requests()[0].body["messages"][1].get("reasoning_content").is_none());
}
