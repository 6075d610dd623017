//! Every recorded Gemini reply in `shared/recorded-streams/gemini/`, replayed over loopback HTTP
//! through the provider: `.jsonl` files streamed (`data: <line>` events, no end marker, as
//! Gemini sends them), `.json` files as whole answers. Each file has exact expectations: text,
//! reasoning, calls (name and arguments), usage, finish reason, and the thought signatures that
//! go back in the replay. A file without expectations fails the test, so new recordings get
//! checked. The Vertex partial-argument streams are included: the provider assembles them.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::path::PathBuf;
use std::time::Duration;

use fanout::models::google::{Gemini, parse_recorded_stream};
use fanout::models::{FinishReason, Message, Model, ModelDelta, ModelRequest, ModelResponse, Usage};
use fanout_testserver::{Raw, Reply, Script, Server};
use futures::StreamExt;
use serde_json::{Value, json};

fn folder() -> Option<PathBuf> {
    support::recorded_streams("gemini")
}

struct Expected {
    text: &'static str,
    reasoning: &'static str,
    calls: Vec<(&'static str, Value)>,
    /// prompt, candidates, thoughts, total (as Gemini counts them).
    usage: (u64, u64, u64, u64),
    finish: FinishReason,
}

const STRAWBERRY: &str =
    "There are **3** \"r\"s in strawberry.\n\nHere is the breakdown: st**r**awbe**rr**y.";

fn text(text: &'static str, usage: (u64, u64, u64, u64)) -> Expected {
    Expected { text, reasoning: "", calls: Vec::new(), usage, finish: FinishReason::Stop }
}

fn calls(calls: Vec<(&'static str, Value)>, usage: (u64, u64, u64, u64)) -> Expected {
    Expected { text: "", reasoning: "", calls, usage, finish: FinishReason::ToolCalls }
}

fn expected(file: &str) -> Option<Expected> {
    let weather = || vec![("weather", json!({"location": "San Francisco"}))];
    Some(match file {
        "google-text.jsonl" => {
            text("There are **3** \"r\"s in strawberry.\n\nst**r**awbe**rr**y", (9, 23, 185, 217))
        }
        "google-text.json" => text(
            "There are **3** r's in strawberry.\n\nHere is the breakdown: st**r**awbe**rr**y.",
            (9, 28, 244, 281),
        ),
        "google-reasoning.jsonl" => text(STRAWBERRY, (9, 29, 256, 294)),
        "google-reasoning.json" => text(STRAWBERRY, (9, 29, 282, 320)),
        "google-reasoning-gemini3.jsonl" => {
            text("There are **3** \"r\"s in strawberry.\n\nSt**r**awbe**rr**y", (9, 23, 302, 334))
        }
        "google-reasoning-gemini3.json" => text(STRAWBERRY, (9, 29, 258, 296)),
        "google-tool-call.jsonl" => calls(weather(), (29, 15, 45, 89)),
        "google-tool-call.json" => calls(weather(), (29, 15, 893, 937)),
        "google-tool-call-gemini3.jsonl" => calls(weather(), (29, 15, 804, 848)),
        "google-tool-call-gemini3.json" => calls(weather(), (29, 15, 1801, 1845)),
        "google-stream-no-args-tool-call.jsonl" => Expected {
            reasoning: "**Processing User Requests**\n\nI've started by understanding the user's instructions. \
                        Currently, I'm focusing on the initial steps: reading the specified theme using the \
                        appropriate tool. Next, I plan to tackle reading the screens, beginning with screen \
                        \"A,\" then proceeding with \"B\" and \"C\" in parallel as instructed.\n\n\n",
            ..calls(
                vec![
                    ("read_theme", json!({})),
                    ("read_screen", json!({"id": "A"})),
                    ("read_screen", json!({"id": "B"})),
                    ("read_screen", json!({"id": "C"})),
                ],
                (249, 58, 183, 490),
            )
        },
        "google-stream-tool-call-arguments.jsonl" => calls(
            vec![
                ("getWeather", json!({"location": "Boston"})),
                ("getWeather", json!({"location": "San Francisco"})),
            ],
            (26, 23, 132, 181),
        ),
        "google-stream-tool-call-array-arguments-missing-terminal-function-call.jsonl" => calls(
            vec![(
                "writeItems",
                json!({"operations": [
                    {"action": "add", "description": "Fresh red apple", "itemid": "apple_001", "price": 0.5},
                    {"action": "add", "description": "Ripe yellow banana", "itemid": "banana_001", "price": 0.3}
                ]}),
            )],
            (54, 74, 121, 249),
        ),
        "google-vertex-stream-tool-call-arguments-nested.1.jsonl" => calls(
            vec![(
                "cookRecipe",
                json!({"recipe": {
                    "ingredients": [
                        {"amount": "16 oz", "name": "Lasagna noodles"}, {"amount": "1 lb", "name": "Ground beef"},
                        {"amount": "15 oz", "name": "Ricotta cheese"}, {"amount": "3 cups", "name": "Mozzarella cheese"},
                        {"amount": "1/2 cup", "name": "Parmesan cheese"}, {"amount": "24 oz", "name": "Tomato sauce"},
                        {"amount": "1", "name": "Egg"}, {"amount": "2 cloves", "name": "Garlic"},
                        {"amount": "1 tsp", "name": "Salt"}, {"amount": "1/2 tsp", "name": "Pepper"}
                    ],
                    "name": "Lasagna",
                    "steps": [
                        "Preheat oven to 375°F (190°C).",
                        "Cook lasagna noodles according to package directions, drain and set aside.",
                        "Brown ground beef with minced garlic in a skillet. Drain fat and stir in tomato sauce. Simmer for 10 minutes.",
                        "In a bowl, mix ricotta cheese, egg, salt, pepper, and Parmesan cheese.",
                        "In a 9x13 baking dish, spread a thin layer of meat sauce.",
                        "Layer noodles, ricotta mixture, mozzarella, and meat sauce. Repeat.",
                        "Top with remaining mozzarella cheese.",
                        "Cover with foil and bake for 25 minutes.",
                        "Remove foil and bake for another 25 minutes until golden.",
                        "Let stand for 15 minutes before serving."
                    ]
                }}),
            )],
            (31, 684, 1026, 1741),
        ),
        _ => return None,
    })
}

/// Every `thoughtSignature` in a recorded file, in order.
fn signatures(recorded: &str) -> Vec<String> {
    let values: Vec<Value> = if recorded.trim_start().starts_with('{') && !recorded.contains('\n') {
        vec![serde_json::from_str(recorded).unwrap()]
    } else {
        serde_json::Deserializer::from_str(recorded).into_iter().map(Result::unwrap).collect()
    };
    let mut found = Vec::new();
    for value in values {
        for part in value["candidates"][0]["content"]["parts"].as_array().into_iter().flatten() {
            if let Some(signature) = part["thoughtSignature"].as_str() {
                found.push(signature.to_owned());
            }
        }
    }
    found
}

fn model(server: &Server) -> Gemini {
    Gemini::new("gemini-test").api_key("test-key").base_url(fanout_testserver::gemini::base_url(server))
}

fn request() -> ModelRequest {
    ModelRequest {
        messages: vec![Message::user("How many r's are in strawberry?")],
        ..ModelRequest::default()
    }
}

/// A streamed turn folded into a response, as the run loop sees it.
async fn streamed(model: &Gemini) -> ModelResponse {
    let mut whole = ModelResponse::default();
    let request = request();
    let mut stream = model.stream(&request);
    let mut indexes = Vec::new();
    while let Some(delta) = stream.next().await {
        match delta.unwrap() {
            ModelDelta::Text(text) => whole.content.get_or_insert_with(String::new).push_str(&text),
            ModelDelta::Reasoning(text) => whole.reasoning.get_or_insert_with(String::new).push_str(&text),
            ModelDelta::ToolCall { index, call } => {
                indexes.push(index);
                whole.tool_calls.push(call);
            }
            ModelDelta::Usage(usage) => whole.usage = Some(usage),
            ModelDelta::Finish(reason) => whole.finish_reason = Some(reason),
            ModelDelta::Replay(replay) => whole.replay = Some(replay),
            ModelDelta::Response { id, model } => {
                assert!(whole.id.is_none() && whole.model.is_none(), "reported once");
                (whole.id, whole.model) = (id, model);
            }
        }
    }
    assert_eq!(indexes, (0..whole.tool_calls.len()).collect::<Vec<_>>(), "call indexes in order");
    whole
}

fn check(file: &str, recorded: &str, response: &ModelResponse, expected: &Expected) {
    assert_eq!(response.content.as_deref().unwrap_or(""), expected.text, "{file}: text");
    assert_eq!(response.reasoning.as_deref().unwrap_or(""), expected.reasoning, "{file}: reasoning");
    let calls: Vec<(&str, Value)> = response
        .tool_calls
        .iter()
        .map(|c| (c.name.as_str(), serde_json::from_str(&c.arguments).unwrap()))
        .collect();
    assert_eq!(calls, expected.calls, "{file}: calls");
    // The response's id and model, as recorded.
    for value in [&response.id, &response.model] {
        let value = value.as_deref().unwrap_or_else(|| panic!("{file}: no response id or model"));
        assert!(recorded.contains(&format!("\"{value}\"")), "{file}: {value} is not recorded");
    }
    let mut ids: Vec<&str> = response.tool_calls.iter().map(|c| c.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), response.tool_calls.len(), "{file}: call ids are unique");
    let (prompt, candidates, thoughts, total) = expected.usage;
    let usage = Usage {
        input_tokens: prompt,
        output_tokens: candidates + thoughts,
        total_tokens: total,
        cached_input_tokens: 0,
        reasoning_tokens: thoughts,
    };
    assert_eq!(response.usage, Some(usage), "{file}: usage");
    assert_eq!(response.finish_reason.as_ref(), Some(&expected.finish), "{file}: finish");

    // The replay holds the turn's parts with every signature Gemini sent, in order, and the
    // calls as whole objects.
    let replay = response.replay.as_ref().expect("a replay");
    assert_eq!(replay.provider, "google");
    let parts = replay.data.as_array().unwrap();
    let replayed: Vec<String> =
        parts.iter().filter_map(|p| p["thoughtSignature"].as_str().map(str::to_owned)).collect();
    assert_eq!(replayed, signatures(recorded), "{file}: signatures");
    let replayed_calls: Vec<(&str, Value)> = parts
        .iter()
        .filter_map(|p| {
            // Verbatim: a call without arguments has no `args`.
            let args = match &p["functionCall"]["args"] {
                Value::Null => json!({}),
                args => args.clone(),
            };
            Some((p["functionCall"]["name"].as_str()?, args))
        })
        .collect();
    assert_eq!(replayed_calls, expected.calls, "{file}: replayed calls");
    let replayed_text: String =
        parts.iter().filter(|p| p.get("thought").is_none()).filter_map(|p| p["text"].as_str()).collect();
    assert_eq!(replayed_text, expected.text, "{file}: replayed text");
}

#[tokio::test]
async fn every_recorded_reply_is_understood_exactly() {
    let Some(dir) = folder() else { return };
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".json") || name.ends_with(".jsonl"))
        .collect();
    files.sort();
    let mut checked = 0;
    for file in &files {
        let recorded = std::fs::read_to_string(dir.join(file)).unwrap();
        if file == "google-429-retry-info.json" {
            continue; // an error body: see the test below
        }
        let expected = expected(file).unwrap_or_else(|| panic!("{file}: no expectations for this recording"));
        let reply = if file.ends_with(".jsonl") {
            let chunks =
                recorded.lines().filter(|l| !l.trim().is_empty()).map(|l| format!("data: {l}\r\n\r\n"));
            Raw {
                status: 200,
                content_type: "text/event-stream".into(),
                chunks: chunks.collect(),
                ..Raw::default()
            }
        } else {
            Raw::json(200, recorded.clone())
        };
        let server = Server::start(Script::sequence([Reply::raw(reply)])).await.unwrap();
        let model = model(&server);
        let response = if file.ends_with(".jsonl") {
            streamed(&model).await
        } else {
            model.complete(&request()).await.unwrap()
        };
        check(file, &recorded, &response, &expected);
        let path = &server.requests()[0].path;
        // (The server records no query: `?alt=sse` is checked by the provider's unit tests.)
        let method = if file.ends_with(".jsonl") { "streamGenerateContent" } else { "generateContent" };
        assert_eq!(path, &format!("/v1beta/models/gemini-test:{method}"), "{file}");
        checked += 1;
    }
    assert_eq!(checked, files.len() - 1, "every recording but the error body is a reply");
}

#[tokio::test]
async fn the_recorded_rate_limit_carries_its_retry_delay() {
    let Some(dir) = folder() else { return };
    let body = std::fs::read_to_string(dir.join("google-429-retry-info.json")).unwrap();
    let server = Server::start(Script::sequence([Reply::raw(Raw::json(429, body))])).await.unwrap();
    let err = model(&server).complete(&request()).await.unwrap_err();
    assert_eq!(err.status(), Some(429));
    assert_eq!(err.code(), Some("RESOURCE_EXHAUSTED"));
    assert_eq!(err.retry_after(), Some(Duration::from_secs_f64(34.4)));
    assert!(err.is_retryable());
    assert!(err.to_string().contains("You exceeded your current quota"), "{err}");
}

#[test]
fn any_split_of_a_recorded_stream_gives_the_same_deltas() {
    let Some(dir) = folder() else { return };
    for file in ["google-text.jsonl", "google-stream-tool-call-arguments.jsonl"] {
        let recorded = std::fs::read_to_string(dir.join(file)).unwrap();
        let body: String = recorded.lines().map(|l| format!("data: {l}\r\n\r\n")).collect();
        let body = body.as_bytes();
        let whole = parse_recorded_stream(&[body]).unwrap();
        for cut in 1..body.len() {
            let (a, b) = body.split_at(cut);
            assert_eq!(parse_recorded_stream(&[a, b]).unwrap(), whole, "{file} split at {cut}");
        }
    }
}
