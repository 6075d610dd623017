//! Structured output: the same typed struct back from every provider over loopback (streamed
//! and whole), with each provider's native request shape; recorded Claude replies (native JSON
//! output, the `json` tool, another tool first); a tool turn before the typed answer; the repair
//! turn and the error after it.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;

use fanout::error::ErrorKind;
use fanout::models::anthropic::Claude;
use fanout::models::deepseek::DeepSeek;
use fanout::models::google::Gemini;
use fanout::models::openai::{OpenAIChat, OpenAIResponses, StructuredMode};
use fanout::models::scripted::{ScriptedModel, Turn};
use fanout::models::{Message, Model};
use fanout::prelude::*;
use fanout_testserver::{Raw, Reply, Script, Server, anthropic, gemini, responses};
use futures::StreamExt;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, PartialEq, Deserialize, JsonSchema)]
struct Trip {
    city: String,
    days: u32,
    transport: Transport,
    budget: Option<f64>,
    stops: Vec<Stop>,
}

#[derive(Debug, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Transport {
    Train,
    Plane,
}

#[derive(Debug, PartialEq, Deserialize, JsonSchema)]
struct Stop {
    name: String,
    nights: u8,
    note: Option<String>,
}

const TRIP: &str = r#"{"city": "Lyon", "days": 3, "transport": "train", "budget": null,
    "stops": [{"name": "Vieux Lyon", "nights": 2, "note": "traboules"}, {"name": "Fourvière", "nights": 1, "note": null}]}"#;

fn trip() -> Trip {
    Trip {
        city: "Lyon".into(),
        days: 3,
        transport: Transport::Train,
        budget: None,
        stops: vec![
            Stop { name: "Vieux Lyon".into(), nights: 2, note: Some("traboules".into()) },
            Stop { name: "Fourvière".into(), nights: 1, note: None },
        ],
    }
}

/// Look up the weather
///
/// # Arguments
/// * `location` - The city
#[tool]
fn weather(location: String) -> String {
    format!("Sunny in {location}")
}

fn agent(model: impl Model) -> Agent {
    Agent::builder().model(model).output_schema::<Trip>().build().unwrap()
}

fn agent_with_tool(model: impl Model) -> Agent {
    Agent::builder().model(model).tool(weather).output_schema::<Trip>().build().unwrap()
}

/// A streamed run's output, checking that text deltas streamed.
async fn streamed(agent: &Agent) -> fanout::Result<RunOutput> {
    let mut events = agent.run("Plan a trip to Lyon").stream().map(|e| e.map(|e| e.kind));
    let mut text = String::new();
    while let Some(event) = events.next().await {
        match event? {
            EventKind::ContentDelta(delta) => text.push_str(&delta),
            EventKind::RunCompleted(output) => {
                assert!(text.ends_with(&output.content), "the answer streamed as text deltas");
                return Ok(*output);
            }
            _ => {}
        }
    }
    panic!("no RunCompleted")
}

/// Both ways of running against `replies(n)` (a fresh server each), typed.
async fn both_ways(
    make: impl Fn(&Server) -> Agent,
    replies: impl Fn() -> Vec<Reply>,
    whole: impl Fn() -> Vec<Reply>,
) -> Vec<Value> {
    let mut bodies = Vec::new();
    for (streaming, replies) in [(true, replies()), (false, whole())] {
        let server = Server::start(Script::sequence(replies)).await.unwrap();
        let agent = make(&server);
        let output = if streaming { streamed(&agent).await } else { agent.run("Plan a trip to Lyon").await };
        let output = output.unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(output.parse::<Trip>().unwrap(), trip(), "streaming: {streaming}");
        assert_eq!(output.structured.as_ref().unwrap()["city"], "Lyon");
        bodies.extend(server.requests().into_iter().map(|r| r.body));
    }
    bodies
}

#[tokio::test]
async fn openai_chat_sends_a_strict_json_schema_and_types_the_answer() {
    let bodies = both_ways(
        |server| agent(OpenAIChat::new("gpt-5-mini").api_key("sk-test").base_url(server.url())),
        || vec![Reply::text(TRIP)],
        || vec![Reply::text(TRIP)],
    )
    .await;
    for body in bodies {
        let format = &body["response_format"];
        assert_eq!(format["type"], "json_schema");
        assert_eq!(format["json_schema"]["name"], "Trip");
        assert_eq!(format["json_schema"]["strict"], true);
        let schema = &format["json_schema"]["schema"];
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(schema["required"], json!(["budget", "city", "days", "stops", "transport"]));
        assert_eq!(schema["properties"]["budget"]["type"], json!(["number", "null"]));
        assert_eq!(schema["properties"]["stops"]["items"]["additionalProperties"], false);
    }
}

#[tokio::test]
async fn openai_chat_tool_turn_then_typed_answer() {
    let server = Server::start(Script::sequence([
        Reply::tool_calls([("weather", r#"{"location": "Lyon"}"#)]),
        Reply::text(TRIP),
    ]))
    .await
    .unwrap();
    let agent = agent_with_tool(OpenAIChat::new("gpt-5-mini").api_key("sk-test").base_url(server.url()));
    let output = streamed(&agent).await.unwrap();
    assert_eq!(output.tool_executions[0].result.as_deref(), Ok("Sunny in Lyon"));
    assert_eq!(output.parse::<Trip>().unwrap(), trip());
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert_eq!(request.body["tools"][0]["function"]["name"], "weather");
        assert_eq!(request.body["response_format"]["type"], "json_schema");
    }
}

#[tokio::test]
async fn an_openai_refusal_is_the_raw_answer_of_the_error() {
    const NO: &str = "I'm sorry, I cannot help with that.";
    let whole = || {
        let message = json!({"role": "assistant", "content": null, "refusal": NO});
        let body =
            json!({"id": "c1", "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]});
        Reply::raw(Raw::json(200, body.to_string()))
    };
    let streamed_reply = || {
        let chunk = |delta: Value, finish: Value| {
            json!({"id": "c1", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
                .to_string()
        };
        Reply::raw(Raw::sse([
            (
                None::<String>,
                chunk(json!({"role": "assistant", "content": null, "refusal": ""}), Value::Null),
            ),
            (None, chunk(json!({"refusal": NO}), Value::Null)),
            (None, chunk(json!({}), json!("stop"))),
            (None, "[DONE]".to_owned()),
        ]))
    };
    for streaming in [false, true] {
        let replies = if streaming { [streamed_reply(), streamed_reply()] } else { [whole(), whole()] };
        let server = Server::start(Script::sequence(replies)).await.unwrap();
        let agent = agent(OpenAIChat::new("gpt-5-mini").api_key("sk-test").base_url(server.url()));
        let err =
            if streaming { streamed(&agent).await } else { agent.run("Plan a trip").await }.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidOutput, "{err}");
        assert_eq!(err.raw_output(), Some(NO));
        assert_eq!(server.requests().len(), 2, "one repair turn");
    }
}

#[tokio::test]
async fn json_mode_presets_get_the_schema_as_instructions_and_fenced_answers_parse() {
    let fenced = format!("Here is your trip:\n```json\n{TRIP}\n```\nEnjoy!");
    let bodies = both_ways(
        |server| agent(DeepSeek::new("deepseek-chat").api_key("sk-test").base_url(server.url())),
        || vec![Reply::text(fenced.clone())],
        || vec![Reply::text(fenced.clone())],
    )
    .await;
    for body in bodies {
        assert_eq!(body["response_format"], json!({"type": "json_object"}));
        let last = body["messages"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["role"], "system");
        assert!(last["content"].as_str().unwrap().contains("\"stops\""), "{last}");
    }
}

#[tokio::test]
async fn a_server_without_response_format_gets_the_schema_as_instructions_only() {
    let server = Server::start(Script::sequence([Reply::text(format!("{TRIP} Have fun!"))])).await.unwrap();
    let model = OpenAIChat::new("local-model")
        .base_url(server.url())
        .api_key("none")
        .structured_mode(StructuredMode::Instructions);
    let output = agent(model).run("Plan a trip").await.unwrap();
    assert_eq!(output.parse::<Trip>().unwrap(), trip());
    let body = &server.requests()[0].body;
    assert!(body.get("response_format").is_none(), "{body}");
    let last = body["messages"].as_array().unwrap().last().unwrap().clone();
    assert!(last["content"].as_str().unwrap().starts_with("Your final answer must be only a JSON object"));
}

#[tokio::test]
async fn responses_sends_text_format_and_types_the_answer() {
    let bodies = both_ways(
        |server| agent(OpenAIResponses::new("gpt-5-mini").api_key("sk-test").base_url(server.url())),
        || vec![responses::Turn::new("resp_1").text(TRIP).reply()],
        || vec![responses::Turn::new("resp_1").text(TRIP).whole()],
    )
    .await;
    for body in bodies {
        let format = &body["text"]["format"];
        assert_eq!(format["type"], "json_schema");
        assert_eq!(format["name"], "Trip");
        assert_eq!(format["strict"], true);
        assert_eq!(format["schema"]["additionalProperties"], false);
    }
}

fn claude(server: &Server, id: &str) -> Claude {
    Claude::new(id).api_key("sk-ant-test").base_url(anthropic::base_url(server))
}

#[tokio::test]
async fn claude_4_5_uses_native_json_output() {
    let bodies = both_ways(
        |server| agent(claude(server, "claude-sonnet-4-5")),
        || vec![anthropic::Turn::new().text(TRIP).fragments(7).reply()],
        || vec![Reply::raw(anthropic::Turn::new().text(TRIP).json())],
    )
    .await;
    for body in bodies {
        assert_eq!(body["output_config"]["format"]["type"], "json_schema");
        let schema = &body["output_config"]["format"]["schema"];
        assert_eq!(schema["additionalProperties"], false);
        // Bounds Claude refuses are described instead; nullable types are `anyOf`.
        assert_eq!(schema["properties"]["days"], json!({"type": "integer", "description": "(minimum: 0)"}));
        assert_eq!(schema["properties"]["budget"]["anyOf"][1], json!({"type": "null"}));
        assert!(body.get("tools").is_none(), "{body}");
    }
}

#[tokio::test]
async fn older_claude_answers_through_a_forced_json_tool() {
    let answer = || anthropic::Turn::new().tool_use("toolu_1", "json", TRIP);
    let bodies = both_ways(
        |server| agent(claude(server, "claude-sonnet-4-0")),
        || vec![answer().fragments(5).reply()],
        || vec![Reply::raw(answer().json())],
    )
    .await;
    for body in bodies {
        assert!(body.get("output_config").is_none());
        assert_eq!(body["tools"][0]["name"], "json");
        assert_eq!(body["tools"][0]["input_schema"]["properties"]["stops"]["type"], "array");
        assert_eq!(body["tool_choice"], json!({"type": "tool", "name": "json"}));
    }
}

#[tokio::test]
async fn a_json_tool_answer_is_sent_back_as_text_in_the_repair_turn() {
    let wrong = r#"{"city": "Lyon"}"#;
    let server = Server::start(Script::sequence([
        anthropic::Turn::new().text("Calling the tool.").tool_use("toolu_1", "json", wrong).reply(),
        anthropic::Turn::new().tool_use("toolu_2", "json", TRIP).reply(),
    ]))
    .await
    .unwrap();
    let output = streamed(&agent(claude(&server, "claude-3-7-sonnet-latest"))).await.unwrap();
    assert_eq!(output.parse::<Trip>().unwrap(), trip());
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let messages = &requests[1].body["messages"];
    assert_eq!(
        messages[1]["content"],
        json!([{"type": "text", "text": "Calling the tool."}, {"type": "text", "text": r#"{"city":"Lyon"}"#}])
    );
    let repair = messages[2]["content"][0]["text"].as_str().unwrap();
    assert!(repair.contains("missing field `days`"), "{repair}");
}

fn recordings() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/recorded-streams/anthropic");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "the recorded streams are missing: {}",
        dir.display()
    );
    eprintln!("notice: {} is missing; the recorded structured-output replies are skipped", dir.display());
    None
}

/// A recorded stream (`.jsonl`) as its SSE reply, or a recorded whole body (`.json`).
fn recorded(dir: &std::path::Path, file: &str) -> Reply {
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    if file.ends_with(".json") {
        return Reply::raw(Raw::json(200, text));
    }
    let events = text.lines().filter(|l| !l.trim().is_empty()).map(|line| {
        let kind = serde_json::from_str::<Value>(line).unwrap()["type"].as_str().unwrap().to_owned();
        (Some(kind), line.to_owned())
    });
    Reply::raw(Raw::sse(events))
}

#[derive(Debug, Deserialize, JsonSchema)]
struct Party {
    characters: Vec<Character>,
}

#[derive(Debug, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Class {
    Warrior,
    Mage,
    Thief,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct Character {
    name: String,
    class: Class,
    description: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct Forecast {
    elements: Vec<Weather>,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct Weather {
    location: String,
    temperature: i32,
    condition: String,
}

#[tokio::test]
async fn recorded_native_json_output_is_typed() {
    let Some(dir) = recordings() else { return };
    let server = Server::start(Script::sequence([recorded(&dir, "anthropic-json-output-format.1.jsonl")]))
        .await
        .unwrap();
    let agent = Agent::builder()
        .model(claude(&server, "claude-sonnet-4-5"))
        .output_schema::<Party>()
        .build()
        .unwrap();
    let party: Party = agent
        .run("Three characters")
        .stream()
        .map(|e| e.map(|e| e.kind))
        .fold(None, |last, event| async move {
            match event.unwrap() {
                EventKind::RunCompleted(output) => Some(output),
                _ => last,
            }
        })
        .await
        .unwrap()
        .parse()
        .unwrap();
    let classes: Vec<&Class> = party.characters.iter().map(|c| &c.class).collect();
    assert_eq!(classes, [&Class::Warrior, &Class::Mage, &Class::Thief]);
    assert_eq!(party.characters[0].name, "Theron Ironheart");
    assert!(party.characters[2].description.ends_with("who deserves to be robbed."));
}

#[tokio::test]
async fn recorded_json_tool_answers_are_typed_with_or_without_prose_or_a_tool_turn() {
    let Some(dir) = recordings() else { return };
    let cases: [(&[&str], bool); 4] = [
        (&["anthropic-json-tool.1.jsonl"], false),
        (&["anthropic-json-tool.1.json"], false),
        // Prose before the tool call: the object is found after it.
        (&["anthropic-json-tool.2.jsonl"], false),
        // A weather call first, then the answer.
        (&["anthropic-json-other-tool.1.jsonl", "anthropic-json-tool.1.jsonl"], true),
    ];
    for (files, tool_turn) in cases {
        let whole = files[0].ends_with(".json");
        let server = Server::start(Script::sequence(files.iter().map(|f| recorded(&dir, f)))).await.unwrap();
        let agent = Agent::builder()
            .model(claude(&server, "claude-haiku-4-0"))
            .tool(weather)
            .output_schema::<Forecast>()
            .build()
            .unwrap();
        let output = if whole { agent.run("Weather?").await } else { streamed(&agent).await }.unwrap();
        let forecast: Forecast = output.parse().unwrap_or_else(|err| panic!("{files:?}: {err}"));
        assert_eq!(forecast.elements[0].location, "San Francisco", "{files:?}");
        assert!(forecast.elements.iter().all(|w| !w.condition.is_empty() && w.temperature > -50));
        assert_eq!(output.tool_executions.len(), usize::from(tool_turn), "{files:?}");
        let first = &server.requests()[0].body;
        assert_eq!(first["tools"][1]["name"], "json");
        // With another tool on offer, any tool may be called.
        assert_eq!(first["tool_choice"], json!({"type": "any"}));
    }
}

fn gemini_agent(server: &Server, id: &str, with_tool: bool) -> Agent {
    let model = Gemini::new(id).api_key("test-key").base_url(gemini::base_url(server));
    if with_tool { agent_with_tool(model) } else { agent(model) }
}

#[tokio::test]
async fn gemini_sends_a_response_schema_and_types_the_answer() {
    let bodies = both_ways(
        |server| gemini_agent(server, "gemini-2.5-flash", false),
        || vec![gemini::Turn::new().text(TRIP).fragments(9).reply()],
        || vec![gemini::Turn::new().text(TRIP).whole()],
    )
    .await;
    for body in bodies {
        let config = &body["generationConfig"];
        assert_eq!(config["responseMimeType"], "application/json");
        let schema = &config["responseSchema"];
        assert_eq!(schema["properties"]["budget"]["nullable"], true);
        assert_eq!(schema["properties"]["transport"]["enum"], json!(["train", "plane"]));
        assert!(schema.get("additionalProperties").is_none());
    }
}

#[tokio::test]
async fn gemini_with_tools_uses_the_schema_natively_only_from_gemini_3() {
    for (id, native) in [("gemini-2.5-flash", false), ("gemini-3-pro-preview", true)] {
        let server = Server::start(Script::sequence([
            gemini::Turn::new().call("weather", r#"{"location": "Lyon"}"#).reply(),
            gemini::Turn::new().text(TRIP).reply(),
        ]))
        .await
        .unwrap();
        let output = streamed(&gemini_agent(&server, id, true)).await.unwrap();
        assert_eq!(output.tool_executions.len(), 1);
        assert_eq!(output.parse::<Trip>().unwrap(), trip());
        for request in server.requests() {
            let body = request.body;
            assert_eq!(body["generationConfig"].get("responseSchema").is_some(), native, "{id}");
            let system = body["systemInstruction"]["parts"][0]["text"].as_str().unwrap_or_default();
            assert_eq!(system.contains("JSON Schema"), !native, "{id}");
        }
    }
}

#[tokio::test]
async fn an_invalid_answer_gets_exactly_one_repair_turn_then_a_clear_error() {
    let wrong = r#"{"city": "Lyon", "days": 3, "transport": "bus", "budget": null, "stops": []}"#;
    let still_wrong =
        r#"Sure: {"city": "Lyon", "days": "three", "transport": "train", "budget": null, "stops": []}"#;
    let model = ScriptedModel::new([Turn::text(wrong), Turn::text(still_wrong), Turn::text(TRIP)]);
    let err = agent(model.clone()).run("Plan a trip").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidOutput);
    assert!(err.to_string().contains("days: invalid type: string \"three\""), "{err}");
    assert_eq!(err.raw_output(), Some(still_wrong));

    let requests = model.requests();
    assert_eq!(requests.len(), 2, "one answer, one repair turn, no third");
    let Some(Message::User { content }) = requests[1].messages.last() else { panic!("no repair message") };
    assert!(content.contains("transport: unknown variant `bus`"), "{content}");
    assert!(requests.iter().all(|r| r.output_schema.as_ref().is_some_and(|s| s.name() == "Trip")));
}

#[tokio::test]
async fn a_repaired_answer_is_typed_and_repairs_are_configurable() {
    let wrong = "I cannot answer in JSON.";
    let model = ScriptedModel::new([Turn::text(wrong), Turn::text(TRIP)]);
    let output = agent(model.clone()).run("Plan a trip").await.unwrap();
    assert_eq!(output.parse::<Trip>().unwrap(), trip());
    assert_eq!(model.requests().len(), 2);

    let model = ScriptedModel::new([Turn::text(wrong), Turn::text(TRIP)]);
    let strict =
        Agent::builder().model(model.clone()).output_schema::<Trip>().output_repairs(0).build().unwrap();
    let err = strict.run("Plan a trip").await.unwrap_err();
    assert!(err.to_string().contains("not a JSON object"), "{err}");
    assert_eq!(err.raw_output(), Some(wrong));
    assert_eq!(model.requests().len(), 1);
}

#[tokio::test]
async fn a_scripted_tool_turn_then_a_typed_answer() {
    let model = ScriptedModel::new([Turn::call("weather", json!({"location": "Lyon"})), Turn::text(TRIP)]);
    let output = agent_with_tool(model).run("Plan a trip").await.unwrap();
    assert_eq!(output.tool_executions[0].result.as_deref(), Ok("Sunny in Lyon"));
    assert_eq!(output.parse::<Trip>().unwrap(), trip());
}
