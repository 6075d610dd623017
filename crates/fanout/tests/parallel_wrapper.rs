//! The `multi_tool_use.parallel` wrapper some OpenAI models write: expanded into real calls that
//! run at once (timed on the paused clock through a model replaying the wrapper as the provider
//! parses it), and sent back as ordinary calls and results the API accepts (on the wire, over
//! loopback). Calls that came without ids round-trip under the ids fanout made up.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use fanout::models::openai::{OpenAIChat, parse_recorded_stream};
use fanout::models::{DeltaStream, Message, Model, ModelDelta, ModelRequest, ModelResponse};
use fanout::prelude::*;
use fanout::tool::FunctionTool;
use fanout_testserver::{Raw, Reply, Script, Server};
use futures::StreamExt;
use futures::future::BoxFuture;
use serde_json::json;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct City {
    city: String,
}

/// `weather` and `cityAttractions`, each taking `delay`.
fn tools(delay: Duration) -> Vec<Arc<dyn Tool>> {
    let tool = |name: &'static str| -> Arc<dyn Tool> {
        Arc::new(FunctionTool::new(name, "Looks a city up", move |a: City| async move {
            tokio::time::sleep(delay).await;
            Ok(format!("{name} of {}", a.city))
        }))
    };
    vec![tool("weather"), tool("cityAttractions")]
}

const WRAPPER_ARGUMENTS: &str = r#"{"tool_uses":[{"recipient_name":"functions.weather","parameters":{"city":"Rome"}},{"recipient_name":"functions.cityAttractions","parameters":{"city":"Oslo"}}]}"#;

/// A Chat Completions stream whose one call is the wrapper, in fragments.
fn wrapper_events() -> Vec<String> {
    let (head, tail) = WRAPPER_ARGUMENTS.split_at(50);
    let fragment = |call: serde_json::Value| {
        json!({"choices": [{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": null}]}).to_string()
    };
    vec![
        fragment(json!({"index": 0, "id": "call_w", "type": "function",
            "function": {"name": "multi_tool_use.parallel", "arguments": ""}})),
        fragment(json!({"index": 0, "function": {"arguments": head}})),
        fragment(json!({"index": 0, "function": {"arguments": tail}})),
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}).to_string(),
        "[DONE]".to_owned(),
    ]
}

/// Replays the wrapper stream through the provider's own parser, then answers in text: the
/// provider's behaviour without a socket, so the paused clock measures only the tools.
#[derive(Debug)]
struct ReplayedWrapper;

impl Model for ReplayedWrapper {
    fn id(&self) -> &str {
        "replayed"
    }
    fn provider(&self) -> &'static str {
        "openai"
    }
    fn complete<'a>(&'a self, _: &'a ModelRequest) -> BoxFuture<'a, fanout::Result<ModelResponse>> {
        unimplemented!("streamed only")
    }
    fn stream<'a>(&'a self, request: &'a ModelRequest) -> DeltaStream<'a> {
        let deltas = if matches!(request.messages.last(), Some(Message::Tool { .. })) {
            vec![ModelDelta::Text("done".into()), ModelDelta::Finish(fanout::models::FinishReason::Stop)]
        } else {
            let body: String = wrapper_events().iter().map(|e| format!("data: {e}\n\n")).collect();
            parse_recorded_stream(&[body.as_bytes()]).unwrap()
        };
        futures::stream::iter(deltas.into_iter().map(Ok)).boxed()
    }
}

#[tokio::test(start_paused = true)]
async fn a_wrappers_calls_run_at_the_same_time() {
    let agent = Agent::builder().model(ReplayedWrapper).tools(tools(Duration::from_secs(3))).build().unwrap();
    let start = tokio::time::Instant::now();
    let events: Vec<EventKind> = agent
        .run("Weather in Rome, sights in Oslo")
        .stream()
        .map(|e| e.map(|e| e.kind))
        .map(|e| e.unwrap())
        .collect()
        .await;
    let elapsed = start.elapsed();

    let started: Vec<(usize, &str, Duration)> = events
        .iter()
        .filter_map(|e| match e {
            EventKind::ToolCallStarted { index, call, at, .. } => Some((*index, call.name.as_str(), *at)),
            _ => None,
        })
        .collect();
    assert_eq!(
        started.iter().map(|s| (s.0, s.1)).collect::<Vec<_>>(),
        [(0, "weather"), (1, "cityAttractions")]
    );
    let first_done = events.iter().position(|e| matches!(e, EventKind::ToolCallCompleted { .. })).unwrap();
    let last_start = events.iter().rposition(|e| matches!(e, EventKind::ToolCallStarted { .. })).unwrap();
    assert!(last_start < first_done, "both calls start before either ends: {events:#?}");
    assert!(started.iter().all(|s| s.2 < Duration::from_millis(1)), "{started:?}");
    // Two 3 s calls overlapped: 3 s of (virtual) time, not 6.
    assert!(elapsed >= Duration::from_secs(3) && elapsed < Duration::from_secs(4), "{elapsed:?}");
}

#[tokio::test]
async fn a_wrapper_goes_back_as_ordinary_calls_and_results() {
    let wrapper = Reply::raw(Raw::sse(wrapper_events().into_iter().map(|e| (None::<String>, e))));
    let server =
        Server::start(Script::sequence([wrapper, Reply::text("Sunny in Rome; the fjords in Oslo.")]))
            .await
            .unwrap();
    let agent = Agent::builder()
        .model(OpenAIChat::new("gpt-4.1").api_key("sk-test").base_url(server.url()))
        .tools(tools(Duration::ZERO))
        .build()
        .unwrap();
    let text: String = agent
        .run("Weather in Rome, sights in Oslo")
        .stream()
        .map(|e| e.map(|e| e.kind))
        .filter_map(|e| async move {
            match e.unwrap() {
                EventKind::ContentDelta(text) => Some(text),
                _ => None,
            }
        })
        .collect()
        .await;
    assert_eq!(text, "Sunny in Rome; the fjords in Oslo.");

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let messages = requests[1].body["messages"].as_array().unwrap();
    let n = messages.len();
    assert_eq!(
        messages[n - 3],
        json!({"role": "assistant", "tool_calls": [
            {"id": "call_w_0", "type": "function", "function": {"name": "weather", "arguments": r#"{"city":"Rome"}"#}},
            {"id": "call_w_1", "type": "function", "function": {"name": "cityAttractions", "arguments": r#"{"city":"Oslo"}"#}}
        ]})
    );
    assert_eq!(
        messages[n - 2],
        json!({"role": "tool", "content": "weather of Rome", "tool_call_id": "call_w_0"})
    );
    assert_eq!(
        messages[n - 1],
        json!({"role": "tool", "content": "cityAttractions of Oslo", "tool_call_id": "call_w_1"})
    );
    assert!(!requests[1].body.to_string().contains("multi_tool_use"));
}

#[tokio::test]
async fn calls_without_ids_go_back_under_the_ids_fanout_made_up() {
    let call = |index: usize, name: &str, city: &str| {
        json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": index, "type": "function",
            "function": {"name": name, "arguments": json!({"city": city}).to_string()}}]}, "finish_reason": null}]})
        .to_string()
    };
    let events = [
        call(0, "weather", "Rome"),
        call(1, "weather", "Oslo"),
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}).to_string(),
        "[DONE]".to_owned(),
    ];
    let first = Reply::raw(Raw::sse(events.into_iter().map(|e| (None::<String>, e))));
    let server = Server::start(Script::sequence([first, Reply::text("ok")])).await.unwrap();
    let agent = Agent::builder()
        .model(OpenAIChat::new("gemini-2.5-flash").api_key("sk-test").base_url(server.url()))
        .tools(tools(Duration::ZERO))
        .build()
        .unwrap();
    let events: Vec<_> =
        agent.run("Weather in Rome and Oslo").stream().map(|e| e.map(|e| e.kind)).collect().await;
    assert!(events.iter().all(Result::is_ok));
    let requests = server.requests();
    let messages = requests[1].body["messages"].as_array().unwrap();
    let n = messages.len();
    let ids: Vec<&str> =
        messages[n - 3]["tool_calls"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    assert!(ids.iter().all(|id| id.starts_with("call_")), "{ids:?}");
    assert_eq!(messages[n - 2]["tool_call_id"], ids[0]);
    assert_eq!(messages[n - 1]["tool_call_id"], ids[1]);
    assert_eq!(messages[n - 1]["content"], "weather of Oslo");
}
