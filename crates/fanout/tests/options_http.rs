//! Tool options through full runs against the loopback OpenAI-compatible server.
#![allow(clippy::unwrap_used, missing_docs)]

use fanout::agent::Decision;
use fanout::models::openai::OpenAIChat;
use fanout::prelude::*;
use fanout::tool::FunctionTool;
use fanout_testserver::{Reply, Script, Server};

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Args {
    /// Seconds to wait
    delay: u64,
    /// An optional label
    label: Option<String>,
}

fn tool(name: &str) -> FunctionTool<Args> {
    FunctionTool::new(name, "Waits", |a: Args| async move {
        Ok(format!("waited {}{}", a.delay, a.label.unwrap_or_default()))
    })
}

fn model(server: &Server) -> OpenAIChat {
    OpenAIChat::new("gpt-5-mini").api_key("sk-test").base_url(server.url())
}

#[tokio::test]
async fn strict_schemas_and_tool_instructions_reach_the_wire() {
    let server = Server::start(Script::sequence([
        Reply::tool_calls([("wait", r#"{"delay": 0, "label": null}"#)]),
        Reply::text("ok"),
    ]))
    .await
    .unwrap();
    let agent = Agent::builder()
        .model(model(&server))
        .tool(tool("wait").strict().instructions("Prefer short delays."))
        .build()
        .unwrap();
    let output = agent.run("go").await.unwrap();
    assert_eq!(output.tool_executions[0].result.as_deref(), Ok("waited 0"));
    let body = &server.requests()[0].body;
    let function = &body["tools"][0]["function"];
    assert_eq!(function["strict"], true);
    assert_eq!(function["parameters"]["additionalProperties"], false);
    assert_eq!(function["parameters"]["required"], serde_json::json!(["delay", "label"]));
    assert_eq!(body["messages"][0]["role"], "developer");
    assert_eq!(body["messages"][0]["content"], "Prefer short delays.");
}

#[tokio::test]
async fn confirmation_pauses_and_continues_over_http() {
    let server = Server::start(Script::sequence([
        Reply::tool_calls([("safe", r#"{"delay": 0}"#), ("risky", r#"{"delay": 1}"#)]),
        Reply::text("done"),
    ]))
    .await
    .unwrap();
    let agent = Agent::builder()
        .model(model(&server))
        .tool(tool("safe"))
        .tool(tool("risky").requires_confirmation())
        .build()
        .unwrap();
    let paused = agent.run("go").await.unwrap();
    assert_eq!(paused.pending_calls().len(), 1);
    assert_eq!(server.requests().len(), 1);
    let id = paused.pending_calls()[0].id.clone();
    let state = paused.take_paused().unwrap();
    assert_eq!(state.pending_calls().next().map(|c| c.id.as_str()), Some(id.as_str()));
    let output = agent.continue_run(state, [(id, Decision::Reject(Some("not now".into())))]).await.unwrap();
    assert_eq!(output.content, "done");
    let second = &server.requests()[1].body["messages"];
    let results: Vec<&str> = second
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["waited 0", "Error: the user rejected this call: not now"]);
}

#[tokio::test]
async fn stop_after_tool_call_and_limits_end_the_run_without_another_request() {
    let server = Server::start(Script::call_all_tools(r#"{"delay": 0}"#)).await.unwrap();
    let agent = Agent::builder()
        .model(model(&server))
        .tool(tool("a"))
        .tool(tool("b").stop_after_tool_call())
        .build()
        .unwrap();
    let output = agent.run("go").await.unwrap();
    assert_eq!(output.status, RunStatus::StoppedAfterToolCall);
    assert_eq!(server.requests().len(), 1);

    let server = Server::start(Script::call_all_tools(r#"{"delay": 0}"#)).await.unwrap();
    let agent = Agent::builder()
        .model(model(&server))
        .tool(tool("a"))
        .tool(tool("b"))
        .tool_call_limit(1)
        .build()
        .unwrap();
    let output = agent.run("go").await.unwrap();
    assert_eq!(output.status, RunStatus::ToolCallLimitReached { limit: 1 });
    assert_eq!(server.requests().len(), 1);
    assert_eq!(output.tool_executions.len(), 2, "the call over the limit is reported, not dropped");
}
