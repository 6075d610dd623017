//! `OpenAIResponses` in whole runs against the loopback server: a three-call parallel turn with
//! reasoning round-trips (the encrypted reasoning replayed, every output matched to its call by
//! `call_id`), a `parallel` wrapper goes back in a form the API accepts, stored responses
//! continue by `previous_response_id`, and faults behave as with the Chat provider (one
//! attempt per request, retries owned by the run loop).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use support::{fast, retries, run_events};

use std::time::Duration;

use fanout::RetryPolicy;
use fanout::models::openai::OpenAIResponses;
use fanout::models::{Message, Model, ModelRequest};
use fanout::prelude::*;
use fanout_testserver::responses::{Turn, failed};
use fanout_testserver::{Reply, Script, Server};
use futures::StreamExt;
use serde_json::{Value, json};

/// Wait `ms` milliseconds
#[tool]
async fn wait_ms(ms: u64) -> String {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    format!("waited {ms}ms")
}

/// Look up the weather in a city
#[tool]
async fn weather(city: String) -> String {
    format!("sunny in {city}")
}

/// Look up what to see in a city
#[tool(name = "cityAttractions")]
async fn city_attractions(city: String) -> String {
    format!("the sights of {city}")
}

fn model(server: &Server) -> OpenAIResponses {
    OpenAIResponses::new("gpt-5-mini").api_key("sk-test").base_url(server.url())
}

fn agent(model: OpenAIResponses, policy: RetryPolicy) -> Agent {
    Agent::builder()
        .model(model)
        .instructions("Be brief.")
        .tool(wait_ms)
        .tool(weather)
        .tool(city_attractions)
        .retry_policy(policy)
        .build()
        .unwrap()
}

/// What the API checks of an input: every `function_call_output` answers exactly one earlier
/// `function_call` by `call_id`, and every `function_call` is answered.
fn assert_acceptable(input: &[Value]) {
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
    let mut sorted = calls.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), calls.len(), "call ids are unique: {calls:?}");
    let mut answered = outputs.clone();
    answered.sort_unstable();
    assert_eq!(sorted, answered, "each call answered once: {input:#?}");
    for output in &outputs {
        let call = input.iter().position(|i| i["type"] == "function_call" && i["call_id"] == *output);
        let answer =
            input.iter().position(|i| i["type"] == "function_call_output" && i["call_id"] == *output);
        assert!(call < answer, "{output} is answered after it is called");
    }
}

#[tokio::test]
async fn a_three_call_parallel_turn_with_reasoning_round_trips() {
    let calls = Turn::new("resp_1")
        .reasoning("Three waits, at once.", "enc-reasoning-1")
        .call("call_a", "wait_ms", r#"{"ms":300}"#)
        .call("call_b", "wait_ms", r#"{"ms":200}"#)
        .call("call_c", "wait_ms", r#"{"ms":100}"#)
        .usage([50, 30, 10, 20]);
    let server =
        Server::start(Script::sequence([calls.reply(), Turn::new("resp_2").text("All three done.").reply()]))
            .await
            .unwrap();
    let (events, outcome) = run_events(&agent(model(&server), fast()), "Wait three times").await;
    let output = outcome.unwrap();
    assert_eq!(output.content, "All three done.");
    assert!(
        events.iter().any(|e| matches!(e, EventKind::ReasoningDelta(r) if r.contains("at once"))),
        "{events:#?}"
    );

    // The three calls ran at once: every one started before any ended.
    let first_end = events.iter().position(|e| matches!(e, EventKind::ToolCallCompleted { .. })).unwrap();
    let starts: Vec<usize> = events
        .iter()
        .enumerate()
        .filter_map(|(at, e)| matches!(e, EventKind::ToolCallStarted { .. }).then_some(at))
        .collect();
    assert_eq!(starts.len(), 3);
    assert!(starts.iter().all(|s| *s < first_end), "{events:#?}");

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|r| r.path == "/v1/responses"));
    assert_eq!(requests[0].header("authorization"), Some("Bearer sk-test"));
    let first = &requests[0].body;
    assert_eq!(first["model"], "gpt-5-mini");
    assert_eq!(first["instructions"], "Be brief.");
    assert_eq!(first["store"], false);
    assert_eq!(first["include"], json!(["reasoning.encrypted_content"]));
    assert_eq!(first["stream"], true);
    assert_eq!(first["input"], json!([{"type": "message", "role": "user", "content": "Wait three times"}]));
    let tool = first["tools"].as_array().unwrap().iter().find(|t| t["name"] == "wait_ms").unwrap();
    assert_eq!(tool["type"], "function");
    assert_eq!(tool["strict"], false, "always sent: the API's default is strict");
    assert_eq!(tool["parameters"]["properties"]["ms"]["type"], "integer");

    // The second request: the turn's own items, then one output per call.
    let input = requests[1].body["input"].as_array().unwrap().clone();
    assert_eq!(input.len(), 1 + 1 + 3 + 3, "{input:#?}");
    assert_eq!(input[0]["role"], "user");
    assert_eq!(input[1]["type"], "reasoning");
    assert_eq!(input[1]["encrypted_content"], "enc-reasoning-1");
    assert_eq!(input[1]["summary"][0]["text"], "Three waits, at once.");
    assert!(input[1].get("id").is_none(), "nothing is stored: no ids");
    for (item, (id, ms)) in input[2..5].iter().zip([("call_a", 300), ("call_b", 200), ("call_c", 100)]) {
        assert_eq!(item["type"], "function_call");
        assert_eq!((item["call_id"].as_str(), item["name"].as_str()), (Some(id), Some("wait_ms")));
        assert_eq!(item["arguments"], format!(r#"{{"ms":{ms}}}"#));
    }
    for (item, (id, ms)) in input[5..].iter().zip([("call_a", 300), ("call_b", 200), ("call_c", 100)]) {
        assert_eq!(item["type"], "function_call_output");
        assert_eq!(item["call_id"], id);
        assert_eq!(item["output"], format!("waited {ms}ms"));
    }
    assert_acceptable(&input);
    let usage = output.metrics.usage;
    assert_eq!((usage.input_tokens, usage.cached_input_tokens, usage.reasoning_tokens), (60, 10, 20));
}

#[tokio::test]
async fn whole_responses_round_trip_the_same_way() {
    let calls = Turn::new("resp_1")
        .reasoning("Two lookups.", "enc-whole")
        .call("call_a", "weather", r#"{"city":"Rome"}"#)
        .call("call_b", "cityAttractions", r#"{"city":"Oslo"}"#);
    let server =
        Server::start(Script::sequence([calls.whole(), Turn::new("resp_2").text("Both found.").whole()]))
            .await
            .unwrap();
    let output = agent(model(&server), fast()).run("Rome and Oslo").await.unwrap();
    assert_eq!(output.content, "Both found.");
    let requests = server.requests();
    assert!(requests[0].body.get("stream").is_none());
    let input = requests[1].body["input"].as_array().unwrap();
    let kinds: Vec<&str> = input.iter().map(|i| i["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "message",
            "reasoning",
            "function_call",
            "function_call",
            "function_call_output",
            "function_call_output"
        ]
    );
    assert_eq!(input[1]["encrypted_content"], "enc-whole");
    assert_eq!(
        input[4],
        json!({"type": "function_call_output", "call_id": "call_a", "output": "sunny in Rome"})
    );
    assert_acceptable(input);
}

#[tokio::test]
async fn a_parallel_wrapper_runs_its_calls_and_goes_back_as_calls_the_api_accepts() {
    let wrapper = r#"{"tool_uses":[{"recipient_name":"functions.weather","parameters":{"city":"Rome"}},{"recipient_name":"functions.cityAttractions","parameters":{"city":"Oslo"}}]}"#;
    for store in [false, true] {
        let turn = Turn::new("resp_w").reasoning("Both.", "enc-w").call("call_parallel", "parallel", wrapper);
        let server =
            Server::start(Script::sequence([turn.reply(), Turn::new("resp_2").text("Done.").reply()]))
                .await
                .unwrap();
        let (events, outcome) =
            run_events(&agent(model(&server).store(store), fast()), "Rome and Oslo").await;
        assert_eq!(outcome.unwrap().content, "Done.");
        let ran: Vec<(String, String)> = events
            .iter()
            .filter_map(|e| match e {
                EventKind::ToolCallStarted { call, .. } => Some((call.id.clone(), call.name.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(
            ran,
            [
                ("call_parallel_0".into(), "weather".into()),
                ("call_parallel_1".into(), "cityAttractions".into())
            ]
        );

        let second = &server.requests()[1].body;
        // The server issued `call_parallel`, never answered here: a stored response cannot be
        // continued, so the whole conversation goes (its items with their ids).
        assert!(second.get("previous_response_id").is_none(), "store {store}: {second:#}");
        let input = second["input"].as_array().unwrap();
        assert!(input.iter().all(|i| i["name"] != "parallel"), "{input:#?}");
        let kinds: Vec<&str> = input.iter().map(|i| i["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "message",
                "reasoning",
                "function_call",
                "function_call",
                "function_call_output",
                "function_call_output"
            ]
        );
        assert_eq!(input[1]["encrypted_content"], "enc-w");
        assert_eq!(input[1].get("id").is_some(), store, "ids only for stored items");
        assert_eq!(
            input[2],
            json!({"type": "function_call", "call_id": "call_parallel_0", "name": "weather",
            "arguments": r#"{"city":"Rome"}"#})
        );
        assert_eq!(input[5]["output"], "the sights of Oslo");
        assert_acceptable(input);
    }
}

#[tokio::test]
async fn stored_responses_continue_by_previous_response_id() {
    let turn =
        Turn::new("resp_1").reasoning("Look it up.", "enc-1").call("call_a", "weather", r#"{"city":"Rome"}"#);
    let server = Server::start(Script::sequence([
        turn.reply(),
        Turn::new("resp_2").text("Sunny.").reply(),
        Turn::new("resp_3").text("You are welcome.").reply(),
    ]))
    .await
    .unwrap();
    let agent = agent(model(&server).store(true), fast());
    let (_, outcome) = run_events(&agent, "Weather in Rome?").await;
    assert_eq!(outcome.unwrap().content, "Sunny.");

    let requests = server.requests();
    let first = &requests[0].body;
    assert_eq!(first["store"], true);
    assert!(first.get("include").is_none(), "stored reasoning needs no encrypted copy");
    assert!(first.get("previous_response_id").is_none());
    let second = &requests[1].body;
    assert_eq!(second["previous_response_id"], "resp_1");
    assert_eq!(second["instructions"], "Be brief.", "instructions are not carried over by the API");
    assert_eq!(
        second["input"],
        json!([{"type": "function_call_output", "call_id": "call_a", "output": "sunny in Rome"}])
    );
}

#[tokio::test]
async fn encrypted_reasoning_is_asked_only_of_reasoning_models() {
    for (model_id, effort, asked) in
        [("gpt-4.1", None, false), ("o4-mini", None, true), ("qwen3", Some("low"), true)]
    {
        let server = Server::start(Script::sequence([Turn::new("r").text("ok").whole()])).await.unwrap();
        let mut model = OpenAIResponses::new(model_id).api_key("k").base_url(server.url());
        if let Some(effort) = effort {
            model = model.reasoning_effort(effort).reasoning_summary("auto");
        }
        agent(model, fast()).run("hi").await.unwrap_or_else(|e| panic!("{model_id}: {e}"));
        let body = &server.requests()[0].body;
        assert_eq!(body.get("include").is_some(), asked, "{model_id}: {body:#}");
        if effort.is_some() {
            assert_eq!(body["reasoning"], json!({"effort": "low", "summary": "auto"}));
        } else {
            assert!(body.get("reasoning").is_none());
        }
    }
}

#[tokio::test]
async fn a_rate_limit_waits_as_long_as_the_server_asks_then_succeeds() {
    let server = Server::start(Script::sequence([
        Reply::error(429, "slow down").code("rate_limit_exceeded").retry_after_ms("150"),
        Turn::new("resp_1").text("ok").reply(),
    ]))
    .await
    .unwrap();
    let (events, outcome) = run_events(&agent(model(&server), RetryPolicy::default()), "hi").await;
    assert_eq!(outcome.unwrap().content, "ok");
    let retries = retries(&events);
    assert_eq!(retries.len(), 1);
    assert_eq!(retries[0].1, Duration::from_millis(150), "the server's wait, not the backoff");
    assert!(retries[0].2.contains("openai-responses API error 429"), "{}", retries[0].2);
}

#[tokio::test]
async fn an_account_out_of_quota_is_not_retried_though_it_is_a_429() {
    let server = Server::start(Script::sequence([
        Reply::error(429, "You exceeded your current quota, please check your plan and billing details.")
            .code("insufficient_quota")
            .retry_after("1"),
        Turn::new("resp_1").text("never").reply(),
    ]))
    .await
    .unwrap();
    let (events, outcome) = run_events(&agent(model(&server), RetryPolicy::default()), "hi").await;
    let err = outcome.expect_err("the run fails");
    assert!(err.is_quota_exceeded() && !err.is_retryable(), "{err:?}");
    assert!(err.to_string().contains("check the plan and billing"), "{err}");
    assert!(retries(&events).is_empty());
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_server_that_always_fails_gets_three_requests_per_turn() {
    let server = Server::start(Script::sequence((0..9).map(|_| Reply::error(500, "boom")))).await.unwrap();
    let (events, outcome) = run_events(&agent(model(&server), fast()), "hi").await;
    assert_eq!(outcome.expect_err("the run fails").status(), Some(500));
    assert_eq!(server.requests().len(), 3, "1 + max_retries (2)");
    assert_eq!(retries(&events).iter().map(|r| r.0).collect::<Vec<_>>(), [1, 2]);

    // The same through the non-streamed `run`.
    let server =
        Server::start(Script::sequence((0..9).map(|_| Reply::error(502, "bad gateway")))).await.unwrap();
    let err = agent(model(&server), fast()).run("hi").await.expect_err("the run fails");
    assert_eq!(err.status(), Some(502));
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn a_stream_cut_before_response_completed_is_incomplete_and_retried() {
    let turn = Turn::new("resp_1").call("call_a", "wait_ms", r#"{"ms":1}"#);
    let events = turn.events();
    let cut =
        || Reply::raw(fanout_testserver::responses::sse(events.clone()).with(|r| r.cut_after = Some(3)));
    let server = Server::start(Script::sequence((0..9).map(|_| cut()))).await.unwrap();
    let (events, outcome) = run_events(&agent(model(&server), fast()), "hi").await;
    let err = outcome.expect_err("the run fails");
    assert!(err.is_incomplete_stream() || err.is_connect(), "{err}");
    assert_eq!(server.requests().len(), 3);
    assert_eq!(retries(&events).len(), 2);

    // A body that simply ends without `response.completed`: incomplete, not a short answer.
    let mut events = Turn::new("resp_1").text("half an answer").events();
    events.pop();
    let server = Server::start(Script::sequence([Reply::raw(fanout_testserver::responses::sse(events))]))
        .await
        .unwrap();
    let request = ModelRequest { messages: vec![Message::user("hi")], ..Default::default() };
    let model = model(&server);
    let last = model.stream(&request).collect::<Vec<_>>().await.pop().unwrap();
    let err = last.expect_err("incomplete");
    assert!(err.is_incomplete_stream(), "{err}");
    assert!(err.to_string().contains("before response.completed"), "{err}");
}

#[tokio::test]
async fn a_failed_response_is_retried_when_the_api_says_so() {
    let server = Server::start(Script::sequence([
        failed("server_error", "The server had an error"),
        Turn::new("resp_2").text("recovered").reply(),
    ]))
    .await
    .unwrap();
    let (events, outcome) = run_events(&agent(model(&server), fast()), "hi").await;
    assert_eq!(outcome.unwrap().content, "recovered");
    let retried = retries(&events);
    assert_eq!(retried.len(), 1);
    assert!(retried[0].2.contains("The server had an error"), "{}", retried[0].2);

    let server = Server::start(Script::sequence([
        failed("invalid_prompt", "Invalid prompt"),
        Turn::new("resp_2").text("never").reply(),
    ]))
    .await
    .unwrap();
    let (events, outcome) = run_events(&agent(model(&server), fast()), "hi").await;
    let err = outcome.expect_err("not retried");
    assert_eq!(err.code(), Some("invalid_prompt"));
    assert!(!err.is_retryable());
    assert!(retries(&events).is_empty());
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let server = Server::start(Script::sequence([
        Reply::error(400, "bad schema"),
        Turn::new("r").text("never").reply(),
    ]))
    .await
    .unwrap();
    let (events, outcome) = run_events(&agent(model(&server), fast()), "hi").await;
    let err = outcome.expect_err("fails");
    assert_eq!(err.status(), Some(400));
    assert!(!err.is_retryable());
    assert_eq!(server.requests().len(), 1);
    assert!(retries(&events).is_empty());
}

#[tokio::test]
async fn the_key_never_shows_in_errors_and_the_users_client_is_used() {
    let server =
        Server::start(Script::sequence([Reply::error(401, "Incorrect API key provided")])).await.unwrap();
    let client = reqwest::Client::builder().user_agent("my-app/1.0").build().unwrap();
    let model = model(&server).api_key("sk-secret-777").http_client(client).header("x-team", "blue");
    let err = agent(model.clone(), fast()).run("hi").await.expect_err("rejected");
    assert!(!format!("{err} {err:?} {model:?}").contains("sk-secret"), "{err:?}");
    assert!(err.to_string().contains("OPENAI_API_KEY"), "{err}");
    let request = &server.requests()[0];
    assert_eq!(request.header("authorization"), Some("Bearer sk-secret-777"));
    assert_eq!(request.header("user-agent"), Some("my-app/1.0"));
    assert_eq!(request.header("x-team"), Some("blue"));
}
