//! The OpenAI provider against the loopback scripted server: the real wire format, streaming,
//! retries, errors.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use fanout::Error;
use fanout::models::openai::OpenAIChat;
use fanout::models::{FinishReason, Message, Model, ModelDelta, ModelRequest};
use fanout::tool::{ToolCall, ToolDefinition};
use fanout_testserver::{Reply, Script, Server};
use futures::StreamExt;
use serde_json::json;

fn model(server: &Server) -> OpenAIChat {
    OpenAIChat::new("gpt-5-mini").api_key("sk-test-key").base_url(server.url())
}

fn request() -> ModelRequest {
    let tools: Vec<Arc<ToolDefinition>> = ["atask1", "atask2", "atask3"]
        .into_iter()
        .map(|name| {
            Arc::new(ToolDefinition {
                name: name.into(),
                description: "Simulate a task".into(),
                parameters: json!({"type": "object", "properties": {"delay": {"type": "integer"}}, "required": ["delay"]}),
                strict: false,
            })
        })
        .collect();
    ModelRequest {
        messages: vec![
            Message::system("Use markdown."),
            Message::user("Please run all tasks with a delay of 3s"),
        ],
        tools: Arc::from(tools),
        ..ModelRequest::default()
    }
}

async fn collect(model: &OpenAIChat, request: &ModelRequest) -> (Vec<ModelDelta>, Option<Error>) {
    let mut deltas = Vec::new();
    let mut stream = model.stream(request);
    while let Some(item) = stream.next().await {
        match item {
            Ok(delta) => deltas.push(delta),
            Err(err) => return (deltas, Some(err)),
        }
    }
    (deltas, None)
}

/// The tool calls among `deltas`, in order.
fn tool_calls(deltas: &[ModelDelta]) -> Vec<ToolCall> {
    deltas
        .iter()
        .filter_map(|d| match d {
            ModelDelta::ToolCall { call, .. } => Some(call.clone()),
            _ => None,
        })
        .collect()
}

fn three_calls() -> Reply {
    Reply::tool_calls([
        ("atask1", r#"{"delay": 3}"#),
        ("atask2", r#"{"delay": 3}"#),
        ("atask3", r#"{"delay": 3}"#),
    ])
}

#[tokio::test]
async fn streamed_turn_with_three_parallel_tool_calls() {
    let server =
        Server::start(Script::sequence([three_calls().shaped(|s| s.fragment_chars = 4)])).await.unwrap();
    let (deltas, err) = collect(&model(&server), &request()).await;
    assert!(err.is_none(), "{err:?}");
    let calls = tool_calls(&deltas);
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[1], ToolCall::new("call_1", "atask2", r#"{"delay": 3}"#));
    assert!(deltas.contains(&ModelDelta::Finish(FinishReason::ToolCalls)));
    assert!(deltas.iter().any(|d| matches!(d, ModelDelta::Usage(u) if u.total_tokens > 0)));

    // What went over the wire.
    let sent = &server.requests()[0];
    assert_eq!(sent.authorization.as_deref(), Some("Bearer sk-test-key"));
    let body = &sent.body;
    assert_eq!(body["model"], "gpt-5-mini");
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(body["messages"][0], json!({"role": "developer", "content": "Use markdown."}));
    assert_eq!(body["tools"][0]["type"], "function");
    assert_eq!(body["tools"][0]["function"]["name"], "atask1");
    assert!(body["tools"][0]["function"].get("strict").is_none());
    assert!(body.get("parallel_tool_calls").is_none(), "only sent when set");
    assert!(body.get("temperature").is_none());
}

#[tokio::test]
async fn non_streamed_turn_and_request_options() {
    let server = Server::start(Script::sequence([three_calls()])).await.unwrap();
    let mut req = request();
    req.parallel_tool_calls = Some(false);
    req.messages.push(Message::Assistant {
        content: None,
        tool_calls: vec![ToolCall::new("c", "atask1", "{}")],
        replay: None,
    });
    req.messages.push(Message::Tool { call_id: "c".into(), name: "atask1".into(), content: "done".into() });
    let response = model(&server).temperature(0.5).system_role("system").complete(&req).await.unwrap();
    assert_eq!(response.tool_calls.len(), 3);
    assert_eq!(response.tool_calls[2].name, "atask3");
    assert_eq!(response.finish_reason, Some(FinishReason::ToolCalls));
    assert!(response.usage.unwrap().input_tokens > 0);
    let body = &server.requests()[0].body;
    assert_eq!(body["parallel_tool_calls"], false);
    assert_eq!(body["temperature"], 0.5);
    assert!(body.get("stream").is_none());
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(
        body["messages"][2],
        json!({"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "atask1", "arguments": "{}"}}]})
    );
    assert_eq!(body["messages"][3], json!({"role": "tool", "content": "done", "tool_call_id": "c"}));
}

#[tokio::test]
async fn text_streams_token_by_token() {
    let reply = Reply::text("Hello, streaming world").shaped(|s| {
        s.token_chars = 5;
        s.keep_alive = true;
        s.crlf = true;
    });
    let server = Server::start(Script::sequence([reply])).await.unwrap();
    let (deltas, err) = collect(&model(&server), &request()).await;
    assert!(err.is_none(), "{err:?}");
    let texts: Vec<&str> = deltas
        .iter()
        .filter_map(|d| match d {
            ModelDelta::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(texts, ["Hello", ", str", "eamin", "g wor", "ld"]);
    assert!(deltas.contains(&ModelDelta::Finish(FinishReason::Stop)));
}

/// Providers make one attempt; the run loop retries (tests/retry.rs). The error carries what
/// the retry needs.
#[tokio::test]
async fn rate_limit_error_carries_the_wait_the_server_asks_for() {
    let server = Server::start(Script::sequence([
        Reply::error(429, "slow down").code("rate_limit_exceeded").retry_after_ms("300"),
        Reply::text("never"),
    ]))
    .await
    .unwrap();
    let (deltas, err) = collect(&model(&server), &request()).await;
    assert!(deltas.is_empty());
    let err = err.expect("an error");
    assert!(err.is_rate_limited() && err.is_retryable() && err.is_status(), "{err}");
    assert_eq!(err.status(), Some(429));
    assert_eq!(err.retry_after(), Some(Duration::from_millis(300)));
    assert_eq!(err.request_id(), Some("req_0"));
    assert_eq!(err.code(), Some("rate_limit_exceeded"));
    assert_eq!(err.provider(), Some("openai"));
    assert_eq!(server.requests().len(), 1, "providers never retry on their own");
}

#[tokio::test]
async fn server_error_is_reported_with_the_request_id() {
    let server = Server::start(Script::sequence([Reply::error(503, "still down")
        .code("overloaded")
        .retry_after("0")]))
    .await
    .unwrap();
    let err = model(&server).complete(&request()).await.unwrap_err();
    assert_eq!(server.requests().len(), 1);
    assert!(err.is_retryable());
    assert_eq!(
        err.to_string(),
        "openai API error 503 (overloaded): still down (the provider failed: try again later) [request id req_0]"
    );
}

#[tokio::test]
async fn rejected_key_is_not_retried_and_says_what_to_check() {
    let server = Server::start(Script::sequence([
        Reply::error(401, "Incorrect API key provided").code("invalid_api_key")
    ]))
    .await
    .unwrap();
    let err = model(&server).complete(&request()).await.unwrap_err();
    assert_eq!(server.requests().len(), 1);
    let text = err.to_string();
    assert!(text.contains("the API key was rejected (check OPENAI_API_KEY)"), "{text}");
    assert!(!text.contains("sk-test-key"));
    assert_eq!(err.status(), Some(401));
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn missing_key_fails_before_any_request() {
    let server = Server::start(Script::sequence([Reply::text("never")])).await.unwrap();
    let model = OpenAIChat::new("gpt-5-mini").api_key("").base_url(server.url());
    let err = model.complete(&request()).await.unwrap_err();
    assert!(err.to_string().contains("OPENAI_API_KEY"), "{err}");
    let (_, err) = collect(&model, &request()).await;
    assert!(err.is_some_and(|e| e.is_config()));
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn stream_cut_in_a_tool_call_is_a_retryable_error() {
    let server = Server::start(Script::sequence([
        three_calls().shaped(|s| {
            s.fragment_chars = 3;
            s.chunk_delay = Duration::from_millis(20);
            s.cut_after = Some(2);
        }),
        three_calls(),
    ]))
    .await
    .unwrap();
    let (deltas, err) = collect(&model(&server), &request()).await;
    let err = err.expect("an error, not a short turn");
    assert!(err.is_retryable() && (err.is_incomplete_stream() || err.is_connect()), "{err}");
    assert!(tool_calls(&deltas).len() < 3, "{deltas:?}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn stream_cut_after_text_was_delivered_is_an_error() {
    let reply = Reply::text("The answer is forty").shaped(|s| {
        s.token_chars = 4;
        // Paced so the first tokens are on the wire before the connection is cut.
        s.chunk_delay = Duration::from_millis(30);
        s.cut_after = Some(3);
    });
    let server = Server::start(Script::sequence([reply, Reply::text("never")])).await.unwrap();
    let (deltas, err) = collect(&model(&server), &request()).await;
    assert!(!deltas.is_empty(), "the text before the cut reached the caller");
    let err = err.unwrap_or_else(|| panic!("an error, not a short answer: {deltas:?}"));
    assert!(err.is_incomplete_stream() || err.is_connect(), "{err}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn malformed_chunk_is_a_clear_error() {
    let reply = Reply::text("hello there").shaped(|s| {
        s.token_chars = 3;
        s.malformed_after = Some(2);
    });
    let server = Server::start(Script::sequence([reply])).await.unwrap();
    let (_, err) = collect(&model(&server), &request()).await;
    let err = err.expect("an error");
    assert!(err.to_string().contains("a stream chunk is not valid JSON"), "{err}");
}

#[tokio::test]
async fn connection_refused_is_a_connection_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let model = OpenAIChat::new("gpt-5-mini").api_key("k").base_url(format!("http://127.0.0.1:{port}/v1"));
    let err = model.complete(&request()).await.unwrap_err();
    assert!(err.is_connect() && err.is_retryable(), "{err}");
    assert!(std::error::Error::source(&err).is_some(), "the reqwest error is kept as the source");
}

/// A stream far larger than one of the server's writes (it coalesces chunks that are due
/// together): every one of 2,000 calls arrives whole, in order, with its own id.
#[tokio::test]
async fn two_thousand_tool_calls_in_one_streamed_turn() {
    let n = 2_000;
    let server = Server::start(Script::sequence([Reply::tool_calls(
        (0..n).map(|i| (format!("t{i}"), format!(r#"{{"i": {i}}}"#))).collect::<Vec<_>>(),
    )]))
    .await
    .unwrap();
    let (deltas, err) = collect(&model(&server), &request()).await;
    assert!(err.is_none(), "{err:?}");
    let calls = tool_calls(&deltas);
    assert_eq!(calls.len(), n);
    for (i, call) in calls.iter().enumerate() {
        assert_eq!(*call, ToolCall::new(format!("call_{i}"), format!("t{i}"), format!(r#"{{"i": {i}}}"#)));
    }
    assert!(deltas.contains(&ModelDelta::Finish(FinishReason::ToolCalls)));
}
