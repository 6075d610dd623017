//! The Gemini provider in an agent, against the loopback server speaking Gemini's wire: a
//! parallel batch goes back as one `functionResponse` content with the model turn's thought
//! signatures intact (checked on the server side), tool schemas arrive in Gemini's dialect, and
//! faults behave like the other providers' (429 with `RetryInfo`, 5xx, cut streams, 400).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use support::{fast, retries, run_events};

use std::time::Duration;

use fanout::models::google::Gemini;
use fanout::models::{Message, Model, ModelDelta, ModelRequest, ToolChoice};
use fanout::prelude::*;
use fanout::{Error, RetryPolicy};
use fanout_testserver::gemini::{self, Turn};
use fanout_testserver::{Raw, Reply, Script, Server};
use futures::StreamExt;
use serde_json::{Value, json};

/// Look up a city; the first ones take longest, so results finish out of call order.
#[tool]
async fn lookup(city: String, delay_ms: u64) -> String {
    tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    format!("{city}: sunny")
}

/// Always fails
#[tool]
fn broken(reason: String) -> Result<String, String> {
    Err(reason)
}

#[derive(Debug, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Unit {
    Celsius,
    Fahrenheit,
}

#[derive(Debug, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
struct Place {
    city: String,
    country: Option<String>,
}

/// Weather for a place
///
/// # Arguments
/// * `place` - Where
/// * `unit` - Which unit
/// * `days` - How many days
#[tool]
fn weather(place: Place, unit: Unit, days: Option<u32>, stops: Vec<Place>) -> String {
    format!("{} {unit:?} {days:?} {}", place.city, stops.len())
}

const KEY: &str = "AIza-test-secret";

fn model(server: &Server) -> Gemini {
    Gemini::new("gemini-2.5-flash").api_key(KEY).base_url(gemini::base_url(server))
}

fn agent(server: &Server, policy: RetryPolicy) -> Agent {
    Agent::builder().model(model(server)).tool(lookup).tool(broken).retry_policy(policy).build().unwrap()
}

/// A Gemini 3 parallel turn: a thought summary, then three calls without ids; the first call
/// carries the turn's thought signature, as Gemini 3 sends it.
fn three_calls() -> Turn {
    Turn::new()
        .thought("Three cities, one lookup each.")
        .signature("sig-thought")
        .call("lookup", r#"{"city":"Oslo","delay_ms":60}"#)
        .signature("sig-call-1")
        .call("lookup", r#"{"city":"Lima","delay_ms":30}"#)
        .call("lookup", r#"{"city":"Pune","delay_ms":0}"#)
        .fragments(4)
        .usage(20, 30, 12)
}

#[tokio::test]
async fn a_parallel_turn_round_trips_as_one_content_with_signatures_intact() {
    let first = three_calls();
    let server = Server::start(Script::sequence([first.reply(), Turn::new().text("All sunny.").reply()]))
        .await
        .unwrap();
    let (_, outcome) = run_events(&agent(&server, fast()), "Weather in Oslo, Lima and Pune?").await;
    let output = outcome.unwrap();
    assert_eq!(output.content, "All sunny.");
    assert_eq!(output.tool_executions.len(), 3);

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].header("x-goog-api-key"), Some(KEY));
    assert!(!requests[0].path.contains(KEY), "the key travels in a header, never in the URL");
    let contents = requests[1].body["contents"].as_array().unwrap().clone();
    assert_eq!(contents.len(), 3, "user, model, ONE content with every result: {contents:#?}");
    assert_eq!(contents[0], json!({"role": "user", "parts": [{"text": "Weather in Oslo, Lima and Pune?"}]}));
    // The model turn goes back exactly as Gemini sent it: the streamed thought pieces joined,
    // each signature on its part, no made-up call ids.
    assert_eq!(contents[1]["role"], "model");
    assert_eq!(contents[1]["parts"], first.body()["candidates"][0]["content"]["parts"]);
    assert_eq!(
        contents[2],
        json!({"role": "user", "parts": [
            {"functionResponse": {"name": "lookup", "response": {"result": "Oslo: sunny"}}},
            {"functionResponse": {"name": "lookup", "response": {"result": "Lima: sunny"}}},
            {"functionResponse": {"name": "lookup", "response": {"result": "Pune: sunny"}}}
        ]}),
        "one part per call, in call order although Pune finished first"
    );
}

#[tokio::test]
async fn ids_gemini_sends_are_kept_and_failed_calls_are_errors() {
    let server = Server::start(Script::sequence([
        Turn::new()
            .call_with_id("c-1", "broken", r#"{"reason":"disk full"}"#)
            .call_with_id("c-2", "lookup", r#"{"city":"Oslo","delay_ms":0}"#)
            .whole(),
        Turn::new().text("One failed.").whole(),
    ]))
    .await
    .unwrap();
    // `run` asks for whole answers (`generateContent`).
    let output = agent(&server, fast()).run("Try both").await.unwrap();
    assert_eq!(output.tool_executions[0].call.id, "c-1");
    let contents = server.requests()[1].body["contents"].clone();
    assert_eq!(contents[1]["parts"][0]["functionCall"]["id"], "c-1");
    assert_eq!(
        contents[2]["parts"],
        json!([
            {"functionResponse": {"id": "c-1", "name": "broken", "response": {"error": "disk full"}}},
            {"functionResponse": {"id": "c-2", "name": "lookup", "response": {"result": "Oslo: sunny"}}}
        ])
    );
}

#[tokio::test]
async fn requests_speak_gemini() {
    let server = Server::start(Script::sequence([Turn::new().text("ok").whole()])).await.unwrap();
    let definitions = [weather.definition()];
    let request = ModelRequest {
        messages: vec![
            Message::system("Be brief."),
            Message::user("hi"),
            // A turn from another provider: built from its content and calls, ids kept.
            Message::Assistant {
                content: Some("Checking.".into()),
                tool_calls: vec![fanout::tool::ToolCall::new(
                    "call_9",
                    "weather",
                    r#"{"place":{"city":"Oslo"}}"#,
                )],
                replay: None,
            },
            Message::Tool {
                call_id: "call_9".into(),
                name: "weather".into(),
                content: "cold".into(),
                is_error: false,
            },
        ],
        tools: std::sync::Arc::from(definitions),
        tool_choice: Some(ToolChoice::Function("weather".into())),
        ..ModelRequest::default()
    };
    let response = model(&server).temperature(0.25).thinking_budget(0).complete(&request).await.unwrap();
    assert_eq!(response.content.as_deref(), Some("ok"));

    let body = &server.requests()[0].body;
    assert_eq!(body["systemInstruction"], json!({"parts": [{"text": "Be brief."}]}));
    assert_eq!(
        body["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["weather"]}})
    );
    assert_eq!(
        body["generationConfig"],
        json!({"temperature": 0.25, "thinkingConfig": {"thinkingBudget": 0}})
    );
    assert_eq!(
        body["contents"][1],
        json!({"role": "model", "parts": [
            {"text": "Checking."},
            {"functionCall": {"id": "call_9", "name": "weather", "args": {"place": {"city": "Oslo"}}}}
        ]})
    );
    assert_eq!(
        body["contents"][2],
        json!({"role": "user", "parts": [
            {"functionResponse": {"id": "call_9", "name": "weather", "response": {"result": "cold"}}}
        ]})
    );
    // Nested structs inlined, enums as string enums, `Option`s nullable, no JSON Schema extras.
    let place = |description: Option<&str>, nullable: bool| {
        let mut place = json!({
            "type": "object",
            "properties": {"city": {"type": "string"}, "country": {"type": "string", "nullable": true}},
            "required": ["city"]
        });
        if let Some(description) = description {
            place["description"] = description.into();
        }
        if nullable {
            place["nullable"] = true.into();
        }
        place
    };
    let declaration = &body["tools"][0]["functionDeclarations"][0];
    assert_eq!(declaration["name"], "weather");
    assert_eq!(declaration["description"], "Weather for a place");
    assert_eq!(
        declaration["parameters"],
        json!({
            "type": "object",
            "properties": {
                "place": place(Some("Where"), false),
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Which unit"},
                "days": {"type": "integer", "minimum": 0, "description": "How many days", "nullable": true},
                "stops": {"type": "array", "items": place(None, false)}
            },
            "required": ["place", "unit", "stops"]
        })
    );
}

#[tokio::test]
async fn each_call_is_emitted_the_moment_it_arrives() {
    // The server sends one call, then goes silent with the connection open: the call must
    // come out before the turn ends.
    let turn = Turn::new().call("lookup", r#"{"city":"Oslo","delay_ms":0}"#).call("lookup", "{}");
    let server = Server::start(Script::sequence([Reply::raw(turn.raw().with(|r| r.stall_after = Some(1)))]))
        .await
        .unwrap();
    let model = model(&server);
    let request = ModelRequest { messages: vec![Message::user("hi")], ..ModelRequest::default() };
    let mut stream = model.stream(&request);
    let who = ModelDelta::Response { id: None, model: Some("gemini-test".into()) };
    assert_eq!(stream.next().await.unwrap().unwrap(), who, "who answered comes first");
    match stream.next().await {
        Some(Ok(ModelDelta::ToolCall { index: 0, call })) => {
            assert_eq!(call.name, "lookup");
            assert_eq!(
                serde_json::from_str::<Value>(&call.arguments).unwrap(),
                json!({"city": "Oslo", "delay_ms": 0})
            );
            assert!(call.id.starts_with("fanout-gemini-"), "{}", call.id);
        }
        other => panic!("expected the first call at once, got {other:?}"),
    }
}

#[tokio::test]
async fn a_rate_limit_waits_as_long_as_retry_info_asks() {
    let server = Server::start(Script::sequence([
        Reply::raw(gemini::rate_limited("0.15s")),
        Turn::new().text("ok").reply(),
    ]))
    .await
    .unwrap();
    let (events, outcome) = run_events(&agent(&server, RetryPolicy::default()), "hi").await;
    assert_eq!(outcome.unwrap().content, "ok");
    let retries = retries(&events);
    assert_eq!(retries.len(), 1);
    assert_eq!(retries[0].1, Duration::from_millis(150), "RetryInfo's wait, not the backoff");
    assert!(retries[0].2.contains("429"), "{}", retries[0].2);
}

/// Gemini's 429 for an exhausted quota: `QuotaFailure` names it, `RetryInfo` asks for a wait.
fn quota_exhausted(quota_id: &str, message: &str) -> Reply {
    let body = json!({"error": {"code": 429, "message": message, "status": "RESOURCE_EXHAUSTED", "details": [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
            "quotaId": quota_id, "quotaDimensions": {"location": "global", "model": "gemini-test"}}]},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.05s"}]}});
    Reply::raw(Raw::json(429, body.to_string()))
}

#[tokio::test]
async fn a_daily_or_zero_quota_ends_the_run_at_once_but_a_per_minute_one_waits() {
    let minute = "GenerateRequestsPerMinutePerProjectPerModel-FreeTier";
    let server = Server::start(Script::sequence([
        quota_exhausted(
            minute,
            "You exceeded your current quota, please check your plan and billing details.",
        ),
        Turn::new().text("ok").reply(),
    ]))
    .await
    .unwrap();
    let (events, outcome) = run_events(&agent(&server, RetryPolicy::default()), "hi").await;
    assert_eq!(outcome.unwrap().content, "ok");
    assert_eq!(retries(&events).len(), 1, "a rate limit: RetryInfo's wait, then the answer");

    for (quota_id, message) in [
        (
            "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
            "You exceeded your current quota, please check your plan and billing details.\n* Quota exceeded for \
             metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 50",
        ),
        (
            minute,
            "You exceeded your current quota.\n* Quota exceeded for metric: \
             generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 0, model: gemini-test",
        ),
    ] {
        let server =
            Server::start(Script::sequence([quota_exhausted(quota_id, message), Turn::new().reply()]))
                .await
                .unwrap();
        let (events, outcome) = run_events(&agent(&server, RetryPolicy::default()), "hi").await;
        let err = outcome.expect_err("the run fails");
        assert_eq!((err.status(), err.code()), (Some(429), Some("RESOURCE_EXHAUSTED")));
        assert!(err.is_quota_exceeded() && !err.is_retryable() && !err.is_rate_limited(), "{err:?}");
        assert!(err.to_string().contains("check the plan and billing; retrying cannot help"), "{err}");
        assert!(retries(&events).is_empty(), "{quota_id}: not retried");
        assert_eq!(server.requests().len(), 1);
    }

    let denied =
        gemini::error(403, "PERMISSION_DENIED", "Your API key doesn't have the required permissions.");
    let server = Server::start(Script::sequence([Reply::raw(denied), Turn::new().reply()])).await.unwrap();
    let (events, outcome) = run_events(&agent(&server, RetryPolicy::default()), "hi").await;
    let err = outcome.expect_err("the run fails");
    assert!(
        !err.is_retryable() && err.to_string().contains("(check the API key and its permissions)"),
        "{err}"
    );
    assert!(retries(&events).is_empty());
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_server_that_always_fails_gets_three_requests() {
    let fail = || Reply::raw(gemini::error(500, "INTERNAL", "An internal error has occurred."));
    let server = Server::start(Script::sequence((0..9).map(|_| fail()))).await.unwrap();
    let (events, outcome) = run_events(&agent(&server, fast()), "hi").await;
    let err = outcome.expect_err("the run fails");
    assert_eq!(err.status(), Some(500));
    assert_eq!(err.code(), Some("INTERNAL"));
    assert_eq!(server.requests().len(), 3, "1 + max_retries (2)");
    assert_eq!(retries(&events).len(), 2);
}

#[tokio::test]
async fn cut_and_unfinished_streams_are_incomplete_and_retried() {
    // Cut before anything was shown, then streams that end cleanly but without a finish reason.
    let cut = Reply::raw(Turn::new().text("never finished").raw().with(|r| r.cut_after = Some(0)));
    let silent = json!({"candidates": [{"content": {"role": "model", "parts": [{"text": ""}]}}]});
    let unfinished = Reply::raw(Raw::sse([(None::<String>, silent.to_string())]));
    let server = Server::start(Script::sequence([cut, unfinished.clone(), unfinished])).await.unwrap();
    let (events, outcome) = run_events(&agent(&server, fast()), "hi").await;
    let err = outcome.expect_err("the run fails");
    assert!(err.is_incomplete_stream(), "{err}");
    assert!(err.to_string().contains("finish reason"), "{err}");
    assert_eq!(server.requests().len(), 3);
    let retries = retries(&events);
    assert_eq!(retries.len(), 2);
    assert!(retries[0].2.contains("google"), "{}", retries[0].2);
}

#[tokio::test]
async fn text_then_no_finish_reason_is_an_error_after_the_text() {
    let mut events = Turn::new().text("half an ans").events();
    events.pop();
    let server = Server::start(Script::sequence([Reply::raw(Raw::sse(
        events.into_iter().map(|e| (None::<String>, e.to_string())),
    ))]))
    .await
    .unwrap();
    let request = ModelRequest { messages: vec![Message::user("hi")], ..ModelRequest::default() };
    let model = model(&server);
    let items: Vec<Result<ModelDelta, Error>> = model.stream(&request).collect().await;
    assert!(matches!(&items[0], Ok(ModelDelta::Response { .. })), "{items:?}");
    assert!(matches!(&items[1], Ok(ModelDelta::Text(t)) if t == "half an ans"), "{items:?}");
    assert!(matches!(&items[2], Err(e) if e.is_incomplete_stream()), "{items:?}");
    assert_eq!(items.len(), 3, "never a short answer: no usage, no finish");
}

#[tokio::test]
async fn client_errors_are_not_retried_and_never_show_the_key() {
    let body = json!({"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
        "status": "INVALID_ARGUMENT",
        "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}});
    let server =
        Server::start(Script::sequence([Reply::raw(Raw::json(400, body.to_string())), Turn::new().reply()]))
            .await
            .unwrap();
    let (events, outcome) = run_events(&agent(&server, fast()), "hi").await;
    let err = outcome.expect_err("fails");
    assert_eq!(err.status(), Some(400));
    assert!(!err.is_retryable());
    assert_eq!(server.requests().len(), 1);
    assert!(retries(&events).is_empty());
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("check GEMINI_API_KEY"), "{shown}");
    assert!(!shown.contains(KEY), "{shown}");
}

#[tokio::test]
async fn stream_errors_blocked_prompts_and_malformed_calls() {
    // An error in place of a chunk carries its status: 503 is retried.
    let in_stream =
        json!({"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}});
    let blocked = json!({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": {"promptTokenCount": 4}});
    let malformed = Turn::new().finish_reason("MALFORMED_FUNCTION_CALL");
    let server = Server::start(Script::sequence([
        Reply::raw(Raw::sse([(None::<String>, in_stream.to_string())])),
        malformed.reply(),
        Reply::raw(Raw::sse([(None::<String>, blocked.to_string())])),
    ]))
    .await
    .unwrap();
    let (events, outcome) = run_events(&agent(&server, fast()), "hi").await;
    let err = outcome.expect_err("blocked");
    let retries = retries(&events);
    assert_eq!(retries.len(), 2, "overload and malformed call retried: {retries:?}");
    assert!(retries[0].2.contains("overloaded"), "{}", retries[0].2);
    assert!(retries[1].2.contains("MALFORMED_FUNCTION_CALL"), "{}", retries[1].2);
    assert_eq!(err.code(), Some("PROHIBITED_CONTENT"));
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("blocked the prompt"), "{err}");
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn finish_reasons_and_usage_over_a_whole_answer() {
    let server = Server::start(Script::sequence([
        Turn::new().thought("Hmm.").text("Cut sh").finish_reason("MAX_TOKENS").usage(7, 3, 2).whole(),
        Turn::new().finish_reason("SAFETY").reply(),
        Reply::raw(Raw::json(
            200,
            json!({"candidates": [{"content": {"parts": [{"text": "x"}]}}]}).to_string(),
        )),
    ]))
    .await
    .unwrap();
    let model = model(&server);
    let request = ModelRequest { messages: vec![Message::user("hi")], ..ModelRequest::default() };
    let response = model.complete(&request).await.unwrap();
    assert_eq!(response.content.as_deref(), Some("Cut sh"));
    assert_eq!(response.reasoning.as_deref(), Some("Hmm."));
    assert_eq!(response.finish_reason, Some(fanout::models::FinishReason::Length));
    let usage = response.usage.unwrap();
    assert_eq!(
        (usage.input_tokens, usage.output_tokens, usage.reasoning_tokens, usage.total_tokens),
        (7, 5, 2, 12)
    );
    let deltas: Vec<ModelDelta> = model.stream(&request).map(Result::unwrap).collect().await;
    assert_eq!(deltas.last(), Some(&ModelDelta::Finish(fanout::models::FinishReason::ContentFilter)));
    let err = model.complete(&request).await.unwrap_err();
    assert!(err.is_invalid_response(), "a whole answer without a finish reason: {err}");
}
