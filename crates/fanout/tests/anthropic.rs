//! Claude against the loopback server speaking the Anthropic wire: what the server receives
//! (one user message holding every tool result of a batch, thinking replayed with its signature),
//! eager start, and the faults the run loop retries or not.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use support::{fast, run_events};

use std::sync::Arc;
use std::time::Duration;

use fanout::Error;
use fanout::models::anthropic::Claude;
use fanout::models::{FinishReason, Message, Model, ModelDelta, ModelRequest, Replay, ToolChoice};
use fanout::prelude::*;
use fanout::tool::{ToolCall, ToolDefinition};
use fanout_testserver::anthropic::{self, Turn};
use fanout_testserver::{Raw, Reply, Script, Server};
use futures::StreamExt;
use serde_json::{Value, json};

/// Simulate a task
///
/// # Arguments
/// * `delay` - The delay in milliseconds
#[tool]
async fn atask1(delay: u64) -> String {
    tokio::time::sleep(Duration::from_millis(delay)).await;
    "Task 1 done".to_owned()
}

/// Simulate a task
///
/// # Arguments
/// * `delay` - The delay in milliseconds
#[tool]
async fn atask2(delay: u64) -> String {
    tokio::time::sleep(Duration::from_millis(delay)).await;
    "Task 2 done".to_owned()
}

/// Simulate a task that fails
///
/// # Arguments
/// * `delay` - The delay in milliseconds
#[tool]
async fn atask3(delay: u64) -> Result<String, String> {
    tokio::time::sleep(Duration::from_millis(delay)).await;
    Err("disk full".to_owned())
}

fn claude(server: &Server) -> Claude {
    Claude::new("claude-sonnet-4-5").api_key("sk-ant-test-key").base_url(anthropic::base_url(server))
}

fn agent(server: &Server) -> Agent {
    Agent::builder()
        .model(claude(server))
        .tools(tools![atask1, atask2, atask3])
        .retry_policy(fast())
        .build()
        .unwrap()
}

fn retries(events: &[EventKind]) -> Vec<(Duration, Arc<Error>)> {
    events
        .iter()
        .filter_map(|e| match e {
            EventKind::ModelRetry { wait, error, .. } => Some((*wait, Arc::clone(error))),
            _ => None,
        })
        .collect()
}

fn three_calls() -> Turn {
    Turn::new()
        .thinking("All three tasks are independent: run them at once.", "sig-EqQBCkgIARAB")
        .tool_use("toolu_01", "atask1", r#"{"delay": 10}"#)
        .tool_use("toolu_02", "atask2", r#"{"delay": 5}"#)
        .tool_use("toolu_03", "atask3", r#"{"delay": 1}"#)
        .fragments(4)
}

#[tokio::test]
async fn a_three_call_turn_sends_back_one_user_message_with_three_tool_results_in_call_order() {
    let server =
        Server::start(Script::sequence([three_calls().reply(), Turn::new().text("All done.").reply()]))
            .await
            .unwrap();
    let output = run_events(&agent(&server), "Run all tasks").await.1.unwrap();
    assert_eq!(output.content, "All done.");

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let messages = requests[1].body["messages"].as_array().unwrap().clone();
    let roles: Vec<&str> = messages.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "assistant", "user"], "one user message after the tool turn");
    let results = messages[2]["content"].as_array().unwrap();
    assert_eq!(
        *results,
        [
            json!({"type": "tool_result", "tool_use_id": "toolu_01", "content": "Task 1 done"}),
            json!({"type": "tool_result", "tool_use_id": "toolu_02", "content": "Task 2 done"}),
            json!({"type": "tool_result", "tool_use_id": "toolu_03", "content": "Error: disk full", "is_error": true}),
        ],
        "three tool_result blocks in call order, nothing else"
    );
    // The ids answer the tool_use blocks the server sent, which come back as sent.
    let sent: Vec<&str> = messages[1]["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "tool_use")
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(sent, ["toolu_01", "toolu_02", "toolu_03"]);
    assert_eq!(messages[1]["content"][1]["input"], json!({"delay": 10}), "input is an object");
}

#[tokio::test]
async fn thinking_and_its_signature_survive_a_tool_turn() {
    let first = three_calls().redacted_thinking("EmwKAhgBEgy3va3pzix/LafPsn4a");
    let server =
        Server::start(Script::sequence([first.reply(), Turn::new().text("Done.").reply()])).await.unwrap();
    let model = claude(&server).thinking(2048);
    let agent = Agent::builder().model(model).tools(tools![atask1, atask2, atask3]).build().unwrap();
    let (events, outcome) = run_events(&agent, "Run all tasks").await;
    assert_eq!(outcome.unwrap().content, "Done.");
    let reasoning: String = events
        .iter()
        .filter_map(|e| match e {
            EventKind::ReasoningDelta(text) => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(reasoning, "All three tasks are independent: run them at once.");

    let requests = server.requests();
    assert_eq!(requests[0].body["thinking"], json!({"type": "enabled", "budget_tokens": 2048}));
    assert_eq!(requests[0].body["max_tokens"], 2048 + 8192, "room for the answer beyond the budget");
    let assistant = &requests[1].body["messages"][1];
    assert_eq!(assistant["role"], "assistant");
    let blocks = assistant["content"].as_array().unwrap();
    assert_eq!(
        blocks[0],
        json!({"type": "thinking", "thinking": "All three tasks are independent: run them at once.",
            "signature": "sig-EqQBCkgIARAB"}),
        "the thinking block first, with the same signature"
    );
    let kinds: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["thinking", "tool_use", "tool_use", "tool_use", "redacted_thinking"]);
    assert_eq!(blocks[4], json!({"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"}));
}

#[tokio::test]
async fn thinking_survives_a_tool_turn_without_streaming_too() {
    let server = Server::start(Script::sequence([
        Reply::raw(three_calls().json()),
        Reply::raw(Turn::new().text("Done.").json()),
    ]))
    .await
    .unwrap();
    let agent =
        Agent::builder().model(claude(&server).thinking(2048)).tools(tools![atask1, atask2, atask3]).build();
    assert_eq!(agent.unwrap().run("Run all tasks").await.unwrap().content, "Done.");
    let requests = server.requests();
    assert_eq!(requests[0].body["stream"], Value::Null);
    let messages = &requests[1].body["messages"];
    assert_eq!(messages[1]["content"][0]["signature"], "sig-EqQBCkgIARAB");
    assert_eq!(messages[2]["content"].as_array().unwrap().len(), 3, "three results in one message");
}

#[tokio::test]
async fn calls_start_while_the_model_still_streams() {
    // 20 ms between events: the first call is complete long before the turn is.
    let paced = three_calls().sse().with(|raw| raw.delay = Duration::from_millis(20));
    let server =
        Server::start(Script::sequence([Reply::raw(paced), Turn::new().text("ok").reply()])).await.unwrap();
    let (events, outcome) = run_events(&agent(&server), "go").await;
    outcome.unwrap();
    let position = |wanted: &dyn Fn(&EventKind) -> bool| events.iter().position(wanted).unwrap();
    let first_started = position(&|e| matches!(e, EventKind::ToolCallStarted { turn: 0, index: 0, .. }));
    let third_started = position(&|e| matches!(e, EventKind::ToolCallStarted { turn: 0, index: 2, .. }));
    let turn_done = position(&|e| matches!(e, EventKind::ModelTurnCompleted { turn: 0, .. }));
    assert!(first_started < turn_done, "the first call started before the stream ended");
    assert!(first_started < third_started);
}

#[tokio::test]
async fn sequential_tool_use_and_tool_choice_go_on_the_wire() {
    let server = Server::start(Script::sequence([Turn::new().text("fine").reply()])).await.unwrap();
    let agent = Agent::builder()
        .model(claude(&server).cache_prompt(true))
        .system_message("Be brief.")
        .tools(tools![atask1, atask2])
        .parallel_tool_calls(false)
        .build()
        .unwrap();
    run_events(&agent, "hi").await.1.unwrap();
    let request = &server.requests()[0];
    assert_eq!(request.path, "/v1/messages");
    assert_eq!(request.header("x-api-key"), Some("sk-ant-test-key"));
    assert_eq!(request.header("anthropic-version"), Some("2023-06-01"));
    let body = &request.body;
    assert_eq!(body["tool_choice"], json!({"type": "auto", "disable_parallel_tool_use": true}));
    assert_eq!(body["stream"], true);
    assert_eq!(body["max_tokens"], 8192);
    assert_eq!(body["model"], "claude-sonnet-4-5");
    assert_eq!(
        body["system"],
        json!([{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}])
    );
    let tools = body["tools"].as_array().unwrap();
    assert_eq!(tools[0]["name"], "atask1");
    assert_eq!(tools[0]["input_schema"]["properties"]["delay"]["type"], "integer");
    assert!(tools[0].get("cache_control").is_none());
    assert_eq!(tools[1]["cache_control"], json!({"type": "ephemeral"}), "the last tool is cached");
}

fn tool(name: &str) -> Arc<ToolDefinition> {
    Arc::new(ToolDefinition {
        name: name.into(),
        description: "A tool".into(),
        parameters: json!({"type": "object", "properties": {}}),
        strict: false,
    })
}

#[tokio::test]
async fn histories_from_other_providers_are_rebuilt_to_alternate_roles() {
    let server = Server::start(Script::sequence((0..5).map(|_| Reply::raw(Turn::new().text("ok").json()))))
        .await
        .unwrap();
    let model = claude(&server).temperature(0.25).max_tokens(512);
    let messages = vec![
        Message::system("Rules."),
        Message::user("go"),
        // An assistant turn without an Anthropic replay (another provider's, or scripted).
        Message::Assistant {
            content: Some("Calling.".into()),
            tool_calls: vec![ToolCall::new("c1", "a", ""), ToolCall::new("c2", "b", "not json")],
            replay: Some(Replay::new("openai", json!({"ignored": true}))),
        },
        Message::Tool { call_id: "c1".into(), name: "a".into(), content: "A".into(), is_error: false },
        Message::Tool { call_id: "c2".into(), name: "b".into(), content: "".into(), is_error: true },
        Message::user("and now?"),
        Message::user("quickly"),
    ];
    let mut request =
        ModelRequest { messages, tools: Arc::from([tool("a"), tool("b")]), ..ModelRequest::default() };
    model.complete(&request).await.unwrap();
    let body = &server.requests()[0].body;
    assert_eq!(body["stream"], Value::Null, "not streamed");
    assert_eq!(body["max_tokens"], 512);
    assert_eq!(body["temperature"], 0.25);
    assert_eq!(body["system"], json!([{"type": "text", "text": "Rules."}]));
    assert_eq!(body["tool_choice"], Value::Null, "the API's default");
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": [{"type": "text", "text": "go"}]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Calling."},
                {"type": "tool_use", "id": "c1", "name": "a", "input": {}},
                {"type": "tool_use", "id": "c2", "name": "b", "input": {}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "c1", "content": "A"},
                {"type": "tool_result", "tool_use_id": "c2", "is_error": true},
                {"type": "text", "text": "and now?"},
                {"type": "text", "text": "quickly"},
            ]},
        ])
    );

    for (choice, wire) in [
        (ToolChoice::Auto, json!({"type": "auto"})),
        (ToolChoice::Required, json!({"type": "any"})),
        (ToolChoice::None, json!({"type": "none"})),
        (ToolChoice::Function("b".into()), json!({"type": "tool", "name": "b"})),
    ] {
        request.tool_choice = Some(choice);
        model.complete(&request).await.unwrap();
        assert_eq!(server.requests().last().unwrap().body["tool_choice"], wire);
    }
}

#[tokio::test]
async fn whole_answers_and_streams_report_cache_usage_and_the_same_calls() {
    let turn = three_calls().usage(100, 40).cache(300, 50);
    let server = Server::start(Script::sequence([Reply::raw(turn.json()), turn.reply()])).await.unwrap();
    let model = claude(&server);
    let request = ModelRequest { messages: vec![Message::user("go")], ..ModelRequest::default() };
    let whole = model.complete(&request).await.unwrap();
    let usage = whole.usage.unwrap();
    assert_eq!((usage.input_tokens, usage.cached_input_tokens, usage.output_tokens), (450, 300, 40));
    assert_eq!(usage.total_tokens, 490);
    assert_eq!(whole.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(whole.reasoning.as_deref(), Some("All three tasks are independent: run them at once."));

    let mut deltas = Vec::new();
    let mut stream = model.stream(&request);
    while let Some(delta) = stream.next().await {
        deltas.push(delta.unwrap());
    }
    let calls: Vec<ToolCall> = deltas
        .iter()
        .filter_map(|d| match d {
            ModelDelta::ToolCall { call, .. } => Some(call.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(calls[1], ToolCall::new("toolu_02", "atask2", r#"{"delay": 5}"#), "arguments as streamed");
    assert_eq!(whole.tool_calls[1], ToolCall::new("toolu_02", "atask2", r#"{"delay":5}"#), "input as JSON");
    let parsed = |calls: &[ToolCall]| -> Vec<(String, String, Value)> {
        calls
            .iter()
            .map(|c| (c.id.clone(), c.name.clone(), serde_json::from_str(&c.arguments).unwrap()))
            .collect()
    };
    assert_eq!(parsed(&calls), parsed(&whole.tool_calls));
    assert!(deltas.contains(&ModelDelta::Usage(usage)));
}

#[tokio::test]
async fn a_rate_limit_and_an_overload_wait_as_long_as_the_server_asks() {
    for (status, kind) in [(429, "rate_limit_error"), (529, "overloaded_error")] {
        let refused = anthropic::error(status, kind, "slow down").header("retry-after", "1");
        let server = Server::start(Script::sequence([Reply::raw(refused), Turn::new().text("ok").reply()]))
            .await
            .unwrap();
        let (events, outcome) = run_events(&agent(&server), "hi").await;
        assert_eq!(outcome.unwrap().content, "ok");
        let retries = retries(&events);
        assert_eq!(retries.len(), 1);
        assert_eq!(retries[0].0, Duration::from_secs(1), "the server's wait, not the backoff");
        let err = &retries[0].1;
        assert_eq!((err.status(), err.error_type()), (Some(status), Some(kind)));
        assert_eq!(err.request_id(), Some("req_err"));
        assert!(
            err.to_string().contains(&format!("anthropic API error {status} ({kind}): slow down")),
            "{err}"
        );
        let requests = server.requests();
        assert!(requests[1].at.duration_since(requests[0].at) >= Duration::from_secs(1));
    }
}

#[tokio::test]
async fn an_overloaded_server_gets_exactly_three_requests() {
    let overloaded = || Reply::raw(anthropic::error(529, "overloaded_error", "Overloaded"));
    let server = Server::start(Script::sequence((0..9).map(|_| overloaded()))).await.unwrap();
    let (events, outcome) = run_events(&agent(&server), "hi").await;
    let err = outcome.expect_err("the run fails");
    assert_eq!(err.status(), Some(529));
    assert_eq!(server.requests().len(), 3, "1 + max_retries (2), never 9");
    assert_eq!(retries(&events).len(), 2);
}

#[tokio::test]
async fn the_server_can_say_whether_to_retry() {
    let never = anthropic::error(529, "overloaded_error", "Overloaded").header("x-should-retry", "false");
    let server =
        Server::start(Script::sequence([Reply::raw(never), Turn::new().text("no").reply()])).await.unwrap();
    let (events, outcome) = run_events(&agent(&server), "hi").await;
    assert!(!outcome.expect_err("not retried").is_retryable());
    assert!(retries(&events).is_empty());

    let again = anthropic::error(400, "invalid_request_error", "try again").header("x-should-retry", "true");
    let server =
        Server::start(Script::sequence([Reply::raw(again), Turn::new().text("ok").reply()])).await.unwrap();
    let (events, outcome) = run_events(&agent(&server), "hi").await;
    assert_eq!(outcome.unwrap().content, "ok");
    assert_eq!(retries(&events).len(), 1);
}

#[tokio::test]
async fn client_errors_are_not_retried_and_never_show_the_key() {
    let bad =
        anthropic::error(400, "invalid_request_error", "messages: text content blocks must be non-empty");
    let server =
        Server::start(Script::sequence([Reply::raw(bad), Turn::new().text("never").reply()])).await.unwrap();
    let (events, outcome) = run_events(&agent(&server), "hi").await;
    let err = outcome.expect_err("fails");
    assert_eq!(err.status(), Some(400));
    assert_eq!(err.error_type(), Some("invalid_request_error"));
    assert!(!err.is_retryable());
    assert!(retries(&events).is_empty());
    assert_eq!(server.requests().len(), 1);
    for text in [err.to_string(), format!("{err:?}"), format!("{:?}", claude(&server))] {
        assert!(!text.contains("sk-ant-test-key"), "{text}");
    }

    let unauthorized = anthropic::error(401, "authentication_error", "invalid x-api-key");
    let server = Server::start(Script::sequence([Reply::raw(unauthorized)])).await.unwrap();
    let err = agent(&server).run("hi").await.expect_err("fails");
    assert!(err.to_string().contains("check ANTHROPIC_API_KEY"), "{err}");
    assert!(!err.to_string().contains("sk-ant-test-key"));
}

#[tokio::test]
async fn an_account_without_credit_or_permission_ends_the_run_at_once() {
    let low = "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to \
               upgrade or purchase credits.";
    let denied = "Your API key does not have permission to use the specified resource.";
    for (status, kind, message, hint) in [
        (
            400,
            "invalid_request_error",
            low,
            "(out of quota or credit: check the plan and billing; retrying cannot help)",
        ),
        (402, "billing_error", "There's an issue with your billing.", "check the plan and billing"),
        (403, "permission_error", denied, "(check the API key and its permissions)"),
    ] {
        let refused = anthropic::error(status, kind, message).header("retry-after", "1");
        let server =
            Server::start(Script::sequence([Reply::raw(refused), Turn::new().text("never").reply()]))
                .await
                .unwrap();
        let (events, outcome) = run_events(&agent(&server), "hi").await;
        let err = outcome.expect_err("the run fails");
        assert_eq!(err.status(), Some(status));
        assert!(!err.is_retryable() && !err.is_rate_limited(), "{err}");
        assert_eq!(err.is_quota_exceeded(), status != 403, "{err}");
        assert!(err.to_string().contains(hint), "{err}");
        assert!(retries(&events).is_empty(), "{kind}: not retried");
        assert_eq!(server.requests().len(), 1);
    }
}

#[tokio::test]
async fn a_cut_stream_is_retried() {
    // Cut after message_start and the start of the first block: nothing was shown yet.
    let cut = three_calls().sse().with(|raw| raw.cut_after = Some(2));
    let server = Server::start(Script::sequence([
        Reply::raw(cut),
        three_calls().reply(),
        Turn::new().text("ok").reply(),
    ]))
    .await
    .unwrap();
    let (events, outcome) = run_events(&agent(&server), "go").await;
    assert_eq!(outcome.unwrap().content, "ok");
    let retries = retries(&events);
    assert_eq!(retries.len(), 1);
    assert!(retries[0].1.is_incomplete_stream() || retries[0].1.is_connect(), "{}", retries[0].1);
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn an_error_event_in_the_stream_is_typed_and_retried_when_overloaded() {
    let with_error = |kind: &str| {
        let mut events: Vec<(String, Value)> = Turn::new().events().into_iter().take(1).collect();
        events.push(anthropic::error_event(kind, "Overloaded"));
        Raw::sse(events.into_iter().map(|(name, data)| (Some(name), data.to_string())))
            .header("request-id", "req_stream_1")
    };
    let server = Server::start(Script::sequence([
        Reply::raw(with_error("overloaded_error")),
        Turn::new().text("recovered").reply(),
    ]))
    .await
    .unwrap();
    let (events, outcome) = run_events(&agent(&server), "hi").await;
    assert_eq!(outcome.unwrap().content, "recovered");
    let retried = retries(&events);
    assert_eq!(retried.len(), 1);
    let err = &retried[0].1;
    assert_eq!(err.error_type(), Some("overloaded_error"));
    assert_eq!(err.request_id(), Some("req_stream_1"), "the stream's request id");
    assert_eq!(
        err.to_string(),
        "anthropic API error (overloaded_error): Overloaded [request id req_stream_1]"
    );

    let server =
        Server::start(Script::sequence([Reply::raw(with_error("invalid_request_error"))])).await.unwrap();
    let (events, outcome) = run_events(&agent(&server), "hi").await;
    let err = outcome.expect_err("not retried");
    assert_eq!(err.error_type(), Some("invalid_request_error"));
    assert!(retries(&events).is_empty());
}

#[tokio::test]
async fn a_new_message_after_calls_started_cancels_them_and_retries_the_turn() {
    // The first call is complete (and started), then a proxy splices in a new message.
    let mut events: Vec<(String, Value)> =
        Turn::new().id("msg_first").tool_use("toolu_a", "atask1", r#"{"delay": 5000}"#).events();
    events.truncate(4); // message_start, the block's start, delta, stop
    events.extend(Turn::new().id("msg_second").tool_use("toolu_b", "atask2", r#"{"delay": 1}"#).events());
    let paced = Raw::sse(events.into_iter().map(|(name, data)| (Some(name), data.to_string())))
        .with(|raw| raw.delay = Duration::from_millis(100));
    let server = Server::start(Script::sequence([
        Reply::raw(paced),
        Turn::new().tool_use("toolu_c", "atask2", r#"{"delay": 1}"#).reply(),
        Turn::new().text("done").reply(),
    ]))
    .await
    .unwrap();
    let (events, outcome) = run_events(&agent(&server), "go").await;
    assert_eq!(outcome.unwrap().content, "done");
    let retries = retries(&events);
    assert_eq!(retries.len(), 1);
    assert!(retries[0].1.is_invalid_response() && retries[0].1.is_retryable(), "{}", retries[0].1);
    assert!(retries[0].1.to_string().contains("a new message (msg_second) started"), "{}", retries[0].1);
    let cancelled: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            EventKind::ToolCallCancelled { call, .. } => Some(call.id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(cancelled, ["toolu_a"], "the call of the abandoned message was stopped");
    // The conversation has the retried turn's call only.
    let second = &server.requests()[2].body["messages"];
    assert_eq!(second[1]["content"][0]["id"], "toolu_c");
    assert_eq!(second[2]["content"][0]["tool_use_id"], "toolu_c");
}

/// The SSE events of `first` up to (not including) event `cut`, then all of `second`'s: a proxy
/// splicing another upstream response into an open one.
fn spliced(first: Turn, cut: usize, second: Turn) -> Raw {
    let mut events: Vec<(String, Value)> = first.events();
    events.truncate(cut);
    events.extend(second.events());
    Raw::sse(events.into_iter().map(|(name, data)| (Some(name), data.to_string())))
}

#[tokio::test]
async fn a_spliced_stream_is_retried_while_nothing_was_shown_and_fails_the_run_after() {
    // A call still streaming when another message starts: nothing was shown, nothing started.
    let first = Turn::new().id("msg_first").tool_use("toolu_a", "atask1", r#"{"delay": 1}"#);
    let second = Turn::new().id("msg_second").tool_use("toolu_b", "atask2", r#"{"delay": 1}"#);
    let server = Server::start(Script::sequence([
        Reply::raw(spliced(first, 3, second)),
        Turn::new().text("done").reply(),
    ]))
    .await
    .unwrap();
    let (events, outcome) = run_events(&agent(&server), "go").await;
    assert_eq!(outcome.unwrap().content, "done");
    let retries = retries(&events);
    assert_eq!(retries.len(), 1);
    let err = &retries[0].1;
    assert!(err.is_invalid_response() && err.is_retryable(), "{err}");
    assert_eq!(
        err.to_string(),
        "anthropic sent an invalid response: a new message (msg_second) started inside message msg_first \
         (a spliced stream)"
    );
    assert!(
        !events.iter().any(|e| matches!(e, EventKind::ToolCallStarted { .. })),
        "no call of either message ran"
    );
    assert_eq!(server.requests().len(), 2);

    // Thinking already shown cannot be taken back: the run fails, and never goes on with the
    // first message's thinking and the second message's call.
    let first = Turn::new().id("msg_first").thinking("I will call the tool.", "sig-first").tool_use(
        "toolu_a",
        "atask1",
        r#"{"delay": 1}"#,
    );
    let second = Turn::new().id("msg_second").thinking("Let me call the tool.", "sig-second").tool_use(
        "toolu_b",
        "atask2",
        r#"{"delay": 1}"#,
    );
    let server = Server::start(Script::sequence([
        Reply::raw(spliced(first, 6, second)),
        Turn::new().text("never").reply(),
    ]))
    .await
    .unwrap();
    let (events, outcome) = run_events(&agent(&server), "go").await;
    let err = outcome.expect_err("the run fails");
    assert!(err.is_invalid_response() && err.to_string().contains("msg_second"), "{err}");
    let reasoning: String = events
        .iter()
        .filter_map(|e| match e {
            EventKind::ReasoningDelta(text) => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(reasoning, "I will call the tool.", "the second message's thinking is never shown");
    assert!(!events.iter().any(|e| matches!(e, EventKind::ToolCallStarted { .. })));
    assert_eq!(server.requests().len(), 1);

    // The same message's start repeated before its content is only a duplicate.
    let mut events = Turn::new().id("msg_dup").text("Hello").events();
    events.insert(1, events[0].clone());
    let duplicated = Raw::sse(events.into_iter().map(|(name, data)| (Some(name), data.to_string())));
    let server = Server::start(Script::sequence([Reply::raw(duplicated)])).await.unwrap();
    let (events, outcome) = run_events(&agent(&server), "hi").await;
    assert_eq!(outcome.unwrap().content, "Hello");
    assert!(self::retries(&events).is_empty());
}

#[tokio::test]
async fn a_paused_turn_is_sent_back_as_it_is_for_claude_to_go_on() {
    let search = json!({"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search",
        "input": {"query": "weather in Oslo"}});
    let paused =
        Turn::new().id("msg_1").text("Let me search.").block(search.clone()).stop_reason("pause_turn");
    let done = Turn::new().id("msg_2").text("Sunny in Oslo.");
    for streamed in [true, false] {
        let replies = if streamed {
            [paused.reply(), done.reply()]
        } else {
            [Reply::raw(paused.json()), Reply::raw(done.json())]
        };
        let server = Server::start(Script::sequence(replies)).await.unwrap();
        let agent = agent(&server);
        let output = if streamed {
            let (events, outcome) = run_events(&agent, "Weather in Oslo?").await;
            let finishes: Vec<Option<FinishReason>> = events
                .iter()
                .filter_map(|e| match e {
                    EventKind::ModelTurnCompleted { finish_reason, .. } => Some(finish_reason.clone()),
                    _ => None,
                })
                .collect();
            assert_eq!(finishes, [Some(FinishReason::PauseTurn), Some(FinishReason::Stop)]);
            assert!(retries(&events).is_empty());
            outcome.unwrap()
        } else {
            agent.run("Weather in Oslo?").await.unwrap()
        };
        assert_eq!(output.status, RunStatus::Completed);
        assert_eq!(output.content, "Sunny in Oslo.", "streamed: {streamed}");
        // The second request ends with the paused turn, as it came: Claude goes on from there.
        let requests = server.requests();
        assert_eq!(requests.len(), 2);
        let messages = requests[1].body["messages"].as_array().unwrap().clone();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert_eq!(messages[1]["role"], "assistant");
        assert_eq!(messages[1]["content"], json!([{"type": "text", "text": "Let me search."}, search]));
        assert_eq!(output.messages.len(), 3, "the user's message and both parts of the turn");
    }
}

#[tokio::test]
async fn config_errors_are_clear() {
    let server = Server::start(Script::sequence([])).await.unwrap();
    let request = ModelRequest { messages: vec![Message::user("hi")], ..ModelRequest::default() };
    let err = claude(&server).thinking(500).complete(&request).await.unwrap_err();
    assert!(err.is_config() && err.to_string().contains("at least 1024"), "{err}");
    let err = claude(&server).thinking(4000).max_tokens(4000).complete(&request).await.unwrap_err();
    assert!(err.to_string().contains("must be larger than the thinking budget"), "{err}");
    let err = Claude::new("m").api_key("").base_url(anthropic::base_url(&server)).complete(&request).await;
    assert!(err.unwrap_err().to_string().contains("ANTHROPIC_API_KEY"));
    assert!(server.requests().is_empty());
    assert!(!Claude::new("m").api_key(" ").has_api_key());
    assert!(Claude::new("m").api_key("k").has_api_key());
}
