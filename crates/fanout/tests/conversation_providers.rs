//! A stored conversation with a parallel batch continues correctly on every provider's wire:
//! the history survives JSON, each provider gets its own replay data back (Claude's thinking
//! signatures, Gemini's thought signatures, the Responses API's encrypted reasoning), and a
//! conversation made on one provider continues on another without the first one's data.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use fanout::models::Message;
use fanout::models::anthropic::Claude;
use fanout::models::google::Gemini;
use fanout::models::openai::{OpenAIChat, OpenAIResponses};
use fanout::prelude::*;
use fanout_testserver::{Reply, Script, Server, anthropic, gemini, responses};
use futures::StreamExt;
use serde_json::Value;

/// Run a task
///
/// # Arguments
/// * `n` - Which task
#[tool]
async fn task(n: u64) -> String {
    tokio::time::sleep(Duration::from_millis(5 * (3 - n.min(3)))).await;
    format!("task {n} done")
}

fn agent(model: impl fanout::models::Model) -> Agent {
    Agent::builder().model(model).tool(task).build().unwrap()
}

/// The conversation as a store keeps it: JSON, and back.
fn stored(messages: &[Message]) -> Vec<Message> {
    serde_json::from_str(&serde_json::to_string(messages).unwrap()).unwrap()
}

/// The run streamed (each provider's scripted turns are SSE), its output.
async fn streamed(request: fanout::agent::RunRequest) -> fanout::RunOutput {
    let mut events = Box::pin(request.stream());
    while let Some(event) = events.next().await {
        if let EventKind::RunCompleted(output) = event.unwrap().kind {
            return *output;
        }
    }
    panic!("the run ended without its output")
}

async fn first_run(agent: &Agent) -> Vec<Message> {
    let output = streamed(agent.run("Run tasks 1, 2 and 3")).await;
    assert_eq!(output.tool_executions.len(), 3);
    assert_eq!(output.content, "First answer.");
    stored(output.all_messages())
}

async fn second_run(agent: &Agent, history: Vec<Message>) {
    let output = streamed(agent.run("Once more?").history(history)).await;
    assert_eq!(output.content, "Second answer.");
}

fn claude(server: &Server) -> Claude {
    Claude::new("claude-sonnet-4-5").api_key("sk-ant-test").base_url(anthropic::base_url(server))
}

fn claude_script() -> Script {
    Script::sequence([
        anthropic::Turn::new()
            .thinking("Three independent tasks.", "sig-claude-1")
            .tool_use("toolu_1", "task", r#"{"n": 1}"#)
            .tool_use("toolu_2", "task", r#"{"n": 2}"#)
            .tool_use("toolu_3", "task", r#"{"n": 3}"#)
            .reply(),
        anthropic::Turn::new().text("First answer.").reply(),
        anthropic::Turn::new().text("Second answer.").reply(),
    ])
}

fn gemini_model(server: &Server) -> Gemini {
    Gemini::new("gemini-3-pro-preview").api_key("AIza-test").base_url(gemini::base_url(server))
}

fn gemini_script() -> Script {
    Script::sequence([
        gemini::Turn::new()
            .thought("Three tasks at once.")
            .signature("sig-gemini-thought")
            .call("task", r#"{"n": 1}"#)
            .signature("sig-gemini-call")
            .call("task", r#"{"n": 2}"#)
            .call("task", r#"{"n": 3}"#)
            .reply(),
        gemini::Turn::new().text("First answer.").reply(),
        gemini::Turn::new().text("Second answer.").reply(),
    ])
}

fn responses_model(server: &Server) -> OpenAIResponses {
    OpenAIResponses::new("gpt-5-mini").api_key("sk-test").base_url(server.url())
}

fn responses_script() -> Script {
    Script::sequence([
        responses::Turn::new("resp_1")
            .reasoning("Three tasks.", "enc-reasoning-1")
            .call("call_1", "task", r#"{"n": 1}"#)
            .call("call_2", "task", r#"{"n": 2}"#)
            .call("call_3", "task", r#"{"n": 3}"#)
            .reply(),
        responses::Turn::new("resp_2").text("First answer.").reply(),
        responses::Turn::new("resp_3").text("Second answer.").reply(),
    ])
}

fn chat_model(server: &Server) -> OpenAIChat {
    OpenAIChat::new("gpt-4.1-mini").api_key("sk-test").base_url(server.url())
}

fn chat_script() -> Script {
    Script::sequence([
        Reply::tool_calls([("task", r#"{"n": 1}"#), ("task", r#"{"n": 2}"#), ("task", r#"{"n": 3}"#)]),
        Reply::text("First answer."),
        Reply::text("Second answer."),
    ])
}

/// The last request's body.
fn last_body(server: &Server) -> Value {
    server.requests().last().unwrap().body.clone()
}

/// Chat Completions: three calls, each answered by a `tool` message with its id, in order.
fn assert_chat_history(body: &Value) {
    let messages = body["messages"].as_array().unwrap();
    let roles: Vec<&str> = messages.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "assistant", "tool", "tool", "tool", "assistant", "user"], "{body:#}");
    let ids: Vec<&str> =
        messages[1]["tool_calls"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    let answered: Vec<&str> = messages[2..5].iter().map(|m| m["tool_call_id"].as_str().unwrap()).collect();
    assert_eq!(ids, answered);
    let results: Vec<&str> = messages[2..5].iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert_eq!(results, ["task 1 done", "task 2 done", "task 3 done"]);
    assert_eq!(messages[5]["content"], "First answer.");
    assert_eq!(messages[6]["content"], "Once more?");
}

/// Claude: the assistant turn's tool_use blocks, ONE user message with every result.
fn assert_claude_history(body: &Value, thinking: Option<&str>) {
    let messages = body["messages"].as_array().unwrap();
    let roles: Vec<&str> = messages.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "assistant", "user", "assistant", "user"], "{body:#}");
    let blocks = messages[1]["content"].as_array().unwrap();
    let thinking_blocks: Vec<&Value> = blocks.iter().filter(|b| b["type"] == "thinking").collect();
    match thinking {
        Some(signature) => {
            assert_eq!(thinking_blocks.len(), 1, "{blocks:#?}");
            assert_eq!(thinking_blocks[0]["signature"], signature);
            assert_eq!(blocks[0]["type"], "thinking", "thinking comes first");
        }
        None => assert!(thinking_blocks.is_empty(), "no thinking from another provider: {blocks:#?}"),
    }
    let ids: Vec<&str> =
        blocks.iter().filter(|b| b["type"] == "tool_use").map(|b| b["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 3);
    let results = messages[2]["content"].as_array().unwrap();
    let answered: Vec<&str> = results.iter().map(|r| r["tool_use_id"].as_str().unwrap()).collect();
    assert_eq!(ids, answered);
    assert!(results.iter().all(|r| r["type"] == "tool_result"));
}

/// Gemini: a model content with the calls, ONE user content with every functionResponse.
fn assert_gemini_history(body: &Value, own: bool) {
    let contents = body["contents"].as_array().unwrap();
    let roles: Vec<&str> = contents.iter().map(|c| c["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "model", "user", "model", "user"], "{body:#}");
    let parts = contents[1]["parts"].as_array().unwrap();
    let calls: Vec<&Value> = parts.iter().filter(|p| p.get("functionCall").is_some()).collect();
    assert_eq!(calls.len(), 3);
    let signatures: Vec<&str> = parts.iter().filter_map(|p| p["thoughtSignature"].as_str()).collect();
    if own {
        assert_eq!(signatures, ["sig-gemini-thought", "sig-gemini-call"], "replayed as sent");
    } else {
        assert!(
            !signatures.iter().any(|s| s.starts_with("sig-")),
            "no other provider's signatures: {parts:#?}"
        );
    }
    let responses = contents[2]["parts"].as_array().unwrap();
    assert_eq!(responses.len(), 3);
    let names: Vec<&str> =
        responses.iter().map(|r| r["functionResponse"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["task", "task", "task"]);
    let results: Vec<&Value> = responses.iter().map(|r| &r["functionResponse"]["response"]).collect();
    assert!(results[0].to_string().contains("task 1 done"), "{results:?}");
    assert!(results[2].to_string().contains("task 3 done"), "{results:?}");
}

/// Responses: function_call items each answered by a function_call_output with its call_id.
fn assert_responses_history(body: &Value, own: bool) {
    let input = body["input"].as_array().unwrap();
    let calls: Vec<&str> = input
        .iter()
        .filter(|i| i["type"] == "function_call")
        .map(|i| i["call_id"].as_str().unwrap())
        .collect();
    let outputs: Vec<&str> = input
        .iter()
        .filter(|i| i["type"] == "function_call_output")
        .map(|i| i["call_id"].as_str().unwrap())
        .collect();
    assert_eq!(calls.len(), 3, "{body:#}");
    assert_eq!(calls, outputs);
    let reasoning: Vec<&Value> = input.iter().filter(|i| i["type"] == "reasoning").collect();
    if own {
        assert_eq!(reasoning.len(), 1);
        assert_eq!(reasoning[0]["encrypted_content"], "enc-reasoning-1");
    } else {
        assert!(reasoning.is_empty(), "no other provider's reasoning: {input:#?}");
    }
    let last = input.last().unwrap();
    assert_eq!(last["role"], "user");
    assert!(last.to_string().contains("Once more?"));
}

#[tokio::test]
async fn openai_chat_continues_a_stored_conversation_with_a_parallel_batch() {
    let server = Server::start(chat_script()).await.unwrap();
    let agent = agent(chat_model(&server));
    let history = first_run(&agent).await;
    second_run(&agent, history).await;
    assert_chat_history(&last_body(&server));
}

#[tokio::test]
async fn claude_continues_a_stored_conversation_with_its_thinking_signatures() {
    let server = Server::start(claude_script()).await.unwrap();
    let agent = agent(claude(&server));
    let history = first_run(&agent).await;
    second_run(&agent, history).await;
    assert_claude_history(&last_body(&server), Some("sig-claude-1"));
}

#[tokio::test]
async fn gemini_continues_a_stored_conversation_with_its_thought_signatures() {
    let server = Server::start(gemini_script()).await.unwrap();
    let agent = agent(gemini_model(&server));
    let history = first_run(&agent).await;
    second_run(&agent, history).await;
    assert_gemini_history(&last_body(&server), true);
}

#[tokio::test]
async fn responses_continues_a_stored_conversation_with_its_encrypted_reasoning() {
    let server = Server::start(responses_script()).await.unwrap();
    let agent = agent(responses_model(&server));
    let history = first_run(&agent).await;
    second_run(&agent, history).await;
    assert_responses_history(&last_body(&server), true);
}

/// A conversation made on Claude (thinking with signatures) continues on each other provider,
/// and one made on Gemini continues on Claude: each gets the calls and results, none gets the
/// first provider's replay data.
#[tokio::test]
async fn a_conversation_continues_on_another_provider_without_the_first_ones_replay_data() {
    let claude_server = Server::start(claude_script()).await.unwrap();
    let from_claude = first_run(&agent(claude(&claude_server))).await;
    assert!(serde_json::to_string(&from_claude).unwrap().contains("sig-claude-1"), "kept in the history");

    let chat = Server::start(Script::sequence([Reply::text("Second answer.")])).await.unwrap();
    second_run(&agent(chat_model(&chat)), from_claude.clone()).await;
    let body = last_body(&chat);
    assert_chat_history(&body);
    assert!(!body.to_string().contains("sig-claude-1"));

    let gemini_server =
        Server::start(Script::sequence([gemini::Turn::new().text("Second answer.").reply()])).await.unwrap();
    second_run(&agent(gemini_model(&gemini_server)), from_claude.clone()).await;
    let body = last_body(&gemini_server);
    assert_gemini_history(&body, false);
    assert!(!body.to_string().contains("sig-claude-1"));

    let responses_server =
        Server::start(Script::sequence([responses::Turn::new("resp_9").text("Second answer.").reply()]))
            .await
            .unwrap();
    second_run(&agent(responses_model(&responses_server)), from_claude).await;
    let body = last_body(&responses_server);
    assert_responses_history(&body, false);
    assert!(!body.to_string().contains("sig-claude-1"));

    let gemini_server = Server::start(gemini_script()).await.unwrap();
    let from_gemini = first_run(&agent(gemini_model(&gemini_server))).await;
    let claude_server =
        Server::start(Script::sequence([anthropic::Turn::new().text("Second answer.").reply()]))
            .await
            .unwrap();
    second_run(&agent(claude(&claude_server)), from_gemini).await;
    let body = last_body(&claude_server);
    assert_claude_history(&body, None);
    assert!(!body.to_string().contains("sig-gemini"), "{body:#}");
}
