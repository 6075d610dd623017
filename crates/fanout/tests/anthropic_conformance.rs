//! Every recorded Anthropic reply in `shared/recorded-streams/anthropic/` replayed through
//! `Claude` against the loopback server: streams (`.jsonl`, one event per line, framed as
//! `event: TYPE` + `data: LINE`) through `stream`, whole bodies (`.json`) through `complete`.
//! A recording of several responses (one per `message_stop`) is replayed as that many requests.
//! Text, thinking, tool calls (id, name, arguments), usage and stop reason are checked exactly;
//! a recording that must fail (a spliced stream) is checked for its error and for what was
//! streamed before it.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::path::PathBuf;

use fanout::Error;
use fanout::models::anthropic::Claude;
use fanout::models::{FinishReason, Model, ModelDelta, ModelRequest, ModelResponse, Replay, Usage};
use fanout::tool::ToolCall;
use fanout_testserver::{Raw, Reply, Script, Server, anthropic};
use futures::StreamExt;
use serde_json::Value;

/// The answer text: whole, or for long ones its length in characters and both ends.
enum Text {
    Exact(&'static str),
    Long { chars: usize, starts: &'static str, ends: &'static str },
}

/// What one response must produce.
struct Expect {
    text: Text,
    reasoning: &'static str,
    /// `(id, name, arguments as JSON)`.
    calls: Vec<(&'static str, &'static str, &'static str)>,
    /// `(input, output, cached input)`; input counts cache reads and writes.
    usage: (u64, u64, u64),
    finish: FinishReason,
    /// The turn must fail with a retryable invalid-response error whose message has this text
    /// (after streaming `text` and `reasoning`; no calls, usage or stop reason then).
    error: Option<&'static str>,
}

fn text(text: &'static str, usage: (u64, u64, u64)) -> Expect {
    Expect {
        text: Text::Exact(text),
        reasoning: "",
        calls: Vec::new(),
        usage,
        finish: FinishReason::Stop,
        error: None,
    }
}

fn call(
    text: &'static str,
    calls: Vec<(&'static str, &'static str, &'static str)>,
    usage: (u64, u64, u64),
) -> Expect {
    Expect { calls, finish: FinishReason::ToolCalls, ..self::text(text, usage) }
}

fn long(chars: usize, starts: &'static str, ends: &'static str) -> Text {
    Text::Long { chars, starts, ends }
}

/// The expected outcome of every recorded file, response by response.
fn expectations() -> Vec<(&'static str, Vec<Expect>)> {
    const NOTE: &str = r#"{"noteId": "d10aa585-982b-4bd9-984e-420f9b3717f7"}"#;
    const EDIT: &str = r#"{"noteId": "d10aa585-982b-4bd9-984e-420f9b3717f7", "operations": [{"op": "insert_node",
        "type": "bulletedListItem", "text": "bye", "at": {"type": "path", "path": [1]}}]}"#;
    const WEATHER: &str = r#"{"location": "San Francisco"}"#;
    const SF_SUNNY: &str =
        r#"{"elements": [{"location": "San Francisco", "temperature": 58, "condition": "sunny"}]}"#;
    // Programmatic tool calling: after the first response, each one is a message_start that
    // carries one whole tool_use block (called from the code execution), then message_stop.
    let rolls = [
        ("toolu_015dGLMbwBKv1ZRQr6KdJzeH", r#"{"player": "player2"}"#),
        ("toolu_01YYqBNq5mk1wMtv3PAqY44m", r#"{"player": "player1"}"#),
        ("toolu_018WxjDkQG8h7i63poySGT2x", r#"{"player": "player2"}"#),
        ("toolu_014ch4D3vbx928ddwxMvMvF1", r#"{"player": "player1"}"#),
        ("toolu_01QtZ46GWS93Z5ZaSifgGNnq", r#"{"player": "player2"}"#),
        ("toolu_012Zvp8FdgvjVGkmbHSU4EZk", r#"{"player": "player1"}"#),
        ("toolu_01CMz8Jhv6EfnzHQzEMdpHut", r#"{"player": "player2"}"#),
        ("toolu_01PfH6ADzq8Yct5jeRY9QkS2", r#"{"player": "player1"}"#),
        ("toolu_013DE3qaKvBMheZXUhwkvpdF", r#"{"player": "player2"}"#),
        ("toolu_01MTRMy9BEvFHWR7hpCWc4nJ", r#"{"player": "player1"}"#),
        ("toolu_01CXqv27ozPihE5nj6eA3Joc", r#"{"player": "player2"}"#),
        ("toolu_01K6ST6orjmPHHwM8rwLj1n9", r#"{"player": "player1"}"#),
        ("toolu_01QcWWQcQ1pd7nx9xohX4zAr", r#"{"player": "player2"}"#),
    ];
    let mut programmatic = vec![call(
        "I'll help you simulate this game between two players where one is using a loaded die. Let me play out \
         the game round by round until one player wins 3 rounds.",
        vec![("toolu_019jKkXz4jAdwHweHBw92CVY", "rollDie", r#"{"player": "player1"}"#)],
        (3369, 725, 0),
    )];
    programmatic.extend(rolls.into_iter().map(|(id, args)| call("", vec![(id, "rollDie", args)], (0, 0, 0))));
    programmatic.push(Expect {
        text: long(
            675,
            "## Game Results\n\n**Player 2 wins the gam",
            "d with a roll of 3 against Player 1's 2.",
        ),
        ..text("", (4551, 197, 0))
    });

    vec![
        (
            "anthropic-clear-thinking.1.json",
            vec![Expect { reasoning: "925 divided by 5 = 185", ..text("925 ÷ 5 = 185", (69, 33, 0)) }],
        ),
        (
            "anthropic-clear-thinking.1.jsonl",
            vec![Expect {
                reasoning: "The previous result was 925. Now I need to divide that by 5.\n\n925 ÷ 5 = 185",
                ..text("925 ÷ 5 = 185", (69, 53, 0))
            }],
        ),
        (
            "anthropic-fallback.json",
            vec![text("The printing press was invented by Johannes Gutenberg around 1440.", (412, 264, 0))],
        ),
        (
            "anthropic-fallback.jsonl",
            vec![text("The printing press was invented by Johannes Gutenberg around 1440.", (412, 264, 0))],
        ),
        (
            "anthropic-json-other-tool.1.json",
            vec![call("", vec![("toolu_01PQjhxo3eirCdKNvCJrKc8f", "weather", WEATHER)], (843, 28, 0))],
        ),
        (
            "anthropic-json-other-tool.1.jsonl",
            vec![call("", vec![("toolu_019Zvehfe1XQWweT1pm7okyt", "weather", WEATHER)], (843, 28, 0))],
        ),
        (
            "anthropic-json-output-format.1.json",
            vec![Expect {
                text: long(
                    2005,
                    r#"{"recipe":{"name":"Classic Lasagna","ing"#,
                    r#" stand for 15 minutes before serving"]}}"#,
                ),
                ..text("", (371, 629, 0))
            }],
        ),
        (
            "anthropic-json-output-format.1.jsonl",
            vec![Expect {
                text: long(
                    1267,
                    r#"{"characters":[{"name":"Theron Ironheart"#,
                    r#"ode about who deserves to be robbed."}]}"#,
                ),
                ..text("", (313, 305, 0))
            }],
        ),
        (
            "anthropic-json-tool.1.json",
            vec![call(
                "",
                vec![(
                    "toolu_01Q9ExVZnzZj7E2QQYHYtNUa",
                    "json",
                    r#"{"elements": [{"location": "San Francisco", "temperature": -5, "condition": "snowy"},
                        {"location": "London", "temperature": 0, "condition": "snowy"},
                        {"location": "Paris", "temperature": 23, "condition": "cloudy"},
                        {"location": "Berlin", "temperature": -9, "condition": "snowy"}]}"#,
                )],
                (1151, 87, 0),
            )],
        ),
        (
            "anthropic-json-tool.1.jsonl",
            vec![call("", vec![("toolu_01KFbKqPYSuAKujiL6mTfzYA", "json", SF_SUNNY)], (849, 47, 0))],
        ),
        (
            "anthropic-json-tool.2.jsonl",
            vec![call(
                "I'll invoke the JSON response tool.",
                vec![("toolu_01KFbKqPYSuAKujiL6mTfzYA", "json", SF_SUNNY)],
                (849, 47, 0),
            )],
        ),
        // The input tokens of message_delta (61) replace those of message_start (43).
        ("anthropic-message-delta-input-tokens.jsonl", vec![text("pong", (61, 2, 0))]),
        (
            "anthropic-programmatic-tool-calling.1.json",
            // The server_tool_use block (code_execution) and its result are not fanout's calls.
            vec![Expect {
                text: long(
                    857,
                    "I'll help you simulate this dice game be",
                    "without Player 2 scoring a single round!",
                ),
                calls: vec![
                    ("toolu_01PMcE1JBKCeLjn83cgUCvR5", "rollDie", r#"{"player": "player2"}"#),
                    ("toolu_01MZf5QJ1EQyd2yGyeLzBxAS", "rollDie", r#"{"player": "player1"}"#),
                    ("toolu_01T7Upuuv8C71nq7DZ9ZPNQW", "rollDie", r#"{"player": "player1"}"#),
                    ("toolu_016Da1tDet9Bf7dAdYTkF5Ar", "rollDie", r#"{"player": "player2"}"#),
                ],
                ..text("", (4243, 229, 0))
            }],
        ),
        ("anthropic-programmatic-tool-calling.1.jsonl", programmatic),
        (
            "anthropic-refusal.json",
            vec![Expect { finish: FinishReason::ContentFilter, ..text("", (18, 5, 0)) }],
        ),
        (
            "anthropic-refusal.jsonl",
            vec![Expect { finish: FinishReason::ContentFilter, ..text("", (18, 5, 0)) }],
        ),
        (
            "anthropic-text.json",
            vec![text(
                "Hello! I'm doing well, thanks for asking. How are you doing today? Is there anything I can help you \
                 with?",
                (12, 29, 0),
            )],
        ),
        (
            "anthropic-text.jsonl",
            vec![text(
                "Hello! I'm doing well, thank you for asking. How are you doing today? Is there anything I can help \
                 you with?",
                (12, 30, 0),
            )],
        ),
        (
            "anthropic-tool-no-args.json",
            vec![Expect {
                text: long(
                    255,
                    "<thinking>\nThe updateIssueList tool was ",
                    "y, I will update the current issue list:",
                ),
                calls: vec![("toolu_01LRmxn9vGM1d2DZSDBowdZ1", "updateIssueList", "{}")],
                ..call("", vec![], (602, 93, 0))
            }],
        ),
        (
            "anthropic-tool-no-args.jsonl",
            vec![call(
                "I'll update the issue list for you.",
                vec![("toolu_01QE1WLsSVp5hy5Q3GmGTmjP", "updateIssueList", "{}")],
                (565, 48, 0),
            )],
        ),
        (
            "anthropic-tool-search-deferred-bm25.jsonl",
            vec![
                // The tool_search server tool's block is skipped; only the client tool is a call.
                call(
                    "I'll help you with this task. Let me start by reading the note tree to see the current structure, \
                     and then search for the right tools to add a bullet point.",
                    vec![("toolu_01U8pzAHj2vNdPCA2Kf8JjeN", "readNoteTree", NOTE)],
                    (879, 177, 0),
                ),
                Expect {
                    text: long(
                        225,
                        "Perfect! I can see the current note stru",
                        "tool to insert a new bulleted list item.",
                    ),
                    calls: vec![("toolu_01QoRrvXNv6w4vZSyo9cnxP2", "executeEditorOperation", EDIT)],
                    ..call("", vec![], (1398, 213, 0))
                },
                Expect {
                    text: long(
                        353,
                        "Great! I've successfully completed the t",
                        " hi\n- bye\n\nThe operation was successful!",
                    ),
                    ..text("", (1639, 95, 0))
                },
            ],
        ),
        // The repeated message_start of the same message is ignored.
        ("duplicate-message-start.jsonl", vec![text("Hello, World!", (17, 227, 0))]),
        // A new message inside the open one fails the turn (retryably): going on would pair the
        // first message's thinking with the second one's calls. Only the first thinking was
        // streamed; its tool call was never complete, so no call was emitted.
        (
            "spliced-message-start.jsonl",
            vec![Expect {
                reasoning: "I will call the tool.",
                error: Some("a new message (msg_second) started inside message msg_first"),
                ..text("", (0, 0, 0))
            }],
        ),
    ]
}

fn recordings() -> Option<PathBuf> {
    support::recorded_streams("anthropic")
}

/// A streamed recording as its responses, each ending with its `message_stop`.
fn responses(recording: &str) -> Vec<Raw> {
    let mut responses = Vec::new();
    let mut events = Vec::new();
    for line in recording.lines().filter(|l| !l.trim().is_empty()) {
        let kind = serde_json::from_str::<Value>(line).unwrap()["type"].as_str().unwrap().to_owned();
        let end = kind == "message_stop";
        events.push((Some(kind), line.to_owned()));
        if end {
            responses.push(Raw::sse(std::mem::take(&mut events)));
        }
    }
    if !events.is_empty() {
        responses.push(Raw::sse(events));
    }
    responses
}

/// A streamed turn folded into a whole response, as the agent sees it, and the error that
/// ended it early, if one did.
async fn streamed_or_failed(model: &Claude, request: &ModelRequest) -> (ModelResponse, Option<Error>) {
    let mut response = ModelResponse::default();
    let mut stream = model.stream(request);
    let mut indices = Vec::new();
    while let Some(delta) = stream.next().await {
        let delta = match delta {
            Ok(delta) => delta,
            Err(err) => return (response, Some(err)),
        };
        match delta {
            ModelDelta::Text(text) => response.content.get_or_insert_default().push_str(&text),
            ModelDelta::Reasoning(text) => response.reasoning.get_or_insert_default().push_str(&text),
            ModelDelta::ToolCall { index, call } => {
                indices.push(index);
                response.tool_calls.push(call);
            }
            ModelDelta::Usage(usage) => response.usage = Some(usage),
            ModelDelta::Finish(reason) => response.finish_reason = Some(reason),
            ModelDelta::Replay(replay) => response.replay = Some(replay),
            ModelDelta::Response { id, model } => {
                assert!(response.id.is_none() && response.model.is_none(), "reported once");
                (response.id, response.model) = (id, model);
            }
        }
    }
    assert_eq!(indices, (0..indices.len()).collect::<Vec<_>>(), "call indices count up from 0");
    (response, None)
}

/// A streamed turn that must succeed.
async fn streamed(model: &Claude, request: &ModelRequest) -> ModelResponse {
    match streamed_or_failed(model, request).await {
        (response, None) => response,
        (_, Some(err)) => panic!("{err}"),
    }
}

fn check(
    (file, recording): (&str, &str),
    step: usize,
    (response, err): &(ModelResponse, Option<Error>),
    expect: &Expect,
) {
    let at = format!("{file} response {step}");
    // The message's id and model, as recorded (a failed one reported its first message's).
    for value in [&response.id, &response.model] {
        let value = value.as_deref().unwrap_or_else(|| panic!("{at}: no message id or model"));
        assert!(recording.contains(&format!("\"{value}\"")), "{at}: {value} is not recorded");
    }
    match (err, expect.error) {
        (None, None) => {}
        (Some(err), Some(message)) => {
            assert!(err.is_invalid_response() && err.is_retryable(), "{at}: {err}");
            assert!(err.to_string().contains(message), "{at}: {err}");
            assert!(response.tool_calls.is_empty() && response.replay.is_none(), "{at}: {response:?}");
            assert!(response.usage.is_none() && response.finish_reason.is_none(), "{at}: {response:?}");
        }
        (Some(err), None) => panic!("{at}: {err}"),
        (None, Some(message)) => panic!("{at}: no error, expected one saying {message:?}"),
    }
    let content = response.content.as_deref().unwrap_or_default();
    match expect.text {
        Text::Exact(text) => assert_eq!(content, text, "{at}: text"),
        Text::Long { chars, starts, ends } => {
            assert_eq!(content.chars().count(), chars, "{at}: text length");
            assert!(content.starts_with(starts) && content.ends_with(ends), "{at}: text {content:?}");
        }
    }
    assert_eq!(response.reasoning.as_deref().unwrap_or_default(), expect.reasoning, "{at}: reasoning");
    let calls: Vec<(&str, &str, Value)> = response
        .tool_calls
        .iter()
        .map(|ToolCall { id, name, arguments }| {
            (
                id.as_str(),
                name.as_str(),
                serde_json::from_str(arguments).unwrap_or_else(|e| panic!("{at}: {e}")),
            )
        })
        .collect();
    let expected: Vec<(&str, &str, Value)> = expect
        .calls
        .iter()
        .map(|(id, name, args)| (*id, *name, serde_json::from_str(args).unwrap()))
        .collect();
    assert_eq!(calls, expected, "{at}: calls");
    if err.is_some() {
        return;
    }
    let (input, output, cached) = expect.usage;
    let usage = Usage {
        input_tokens: input,
        output_tokens: output,
        total_tokens: input + output,
        cached_input_tokens: cached,
        reasoning_tokens: 0,
    };
    assert_eq!(response.usage, Some(usage), "{at}: usage");
    assert_eq!(response.finish_reason.as_ref(), Some(&expect.finish), "{at}: finish reason");
    // Every response that has content keeps it for the next request; only fanout's own.
    let replay = response.replay.as_ref().map(|r: &Replay| r.data_for("anthropic").unwrap());
    let has_content = !content.is_empty() || !response.tool_calls.is_empty() || !expect.reasoning.is_empty();
    assert!(!has_content || replay.is_some(), "{at}: no replay");
}

#[tokio::test]
async fn every_recorded_reply_replays_exactly() {
    let Some(dir) = recordings() else { return };
    let expectations = expectations();
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".json") || name.ends_with(".jsonl"))
        .collect();
    files.sort();
    let mut covered: Vec<String> = expectations.iter().map(|(f, _)| (*f).to_owned()).collect();
    covered.sort();
    assert_eq!(files, covered, "every recording has its expectations, and only recordings do");

    for (file, expected) in &expectations {
        let recording = std::fs::read_to_string(dir.join(file)).unwrap();
        let replies: Vec<Raw> = if file.ends_with(".jsonl") {
            responses(&recording)
        } else {
            vec![Raw::json(200, recording.clone())]
        };
        assert_eq!(replies.len(), expected.len(), "{file}: responses");
        let server = Server::start(Script::sequence(replies.into_iter().map(Reply::raw))).await.unwrap();
        let model =
            Claude::new("claude-sonnet-4-5").api_key("sk-ant-test").base_url(anthropic::base_url(&server));
        let request =
            ModelRequest { messages: vec![fanout::models::Message::user("hi")], ..ModelRequest::default() };
        for (step, expect) in expected.iter().enumerate() {
            let response = if file.ends_with(".jsonl") {
                streamed_or_failed(&model, &request).await
            } else {
                match model.complete(&request).await {
                    Ok(response) => (response, None),
                    Err(err) => (ModelResponse::default(), Some(err)),
                }
            };
            check((file, &recording), step, &response, expect);
        }
        assert_eq!(server.requests().len(), expected.len(), "{file}: one request per response");
    }
}

/// The thinking blocks go back with their signatures; the whole message's blocks go back as
/// they came, but for the fallback notice and empty text.
#[tokio::test]
async fn replays_keep_signatures_and_blocks_verbatim() {
    let Some(dir) = recordings() else { return };
    let replay_of = |response: &ModelResponse| response.replay.as_ref().unwrap().data["content"].clone();

    let stream = std::fs::read_to_string(dir.join("anthropic-clear-thinking.1.jsonl")).unwrap();
    let server =
        Server::start(Script::sequence(responses(&stream).into_iter().map(Reply::raw))).await.unwrap();
    let model = Claude::new("m").api_key("k").base_url(anthropic::base_url(&server));
    let content = replay_of(&streamed(&model, &ModelRequest::default()).await);
    assert_eq!(content[0]["type"], "thinking");
    assert_eq!(
        content[0]["thinking"],
        "The previous result was 925. Now I need to divide that by 5.\n\n925 ÷ 5 = 185"
    );
    assert!(content[0]["signature"].as_str().unwrap().starts_with("EvQBCkYICxgCKkAxhD4N"));
    assert!(content[0]["signature"].as_str().unwrap().ends_with("Ca17BgB"));
    assert_eq!(content[1], serde_json::json!({"type": "text", "text": "925 ÷ 5 = 185"}));

    for file in ["anthropic-programmatic-tool-calling.1.json", "anthropic-fallback.json"] {
        let body = std::fs::read_to_string(dir.join(file)).unwrap();
        let server =
            Server::start(Script::sequence([Reply::raw(Raw::json(200, body.clone()))])).await.unwrap();
        let model = Claude::new("m").api_key("k").base_url(anthropic::base_url(&server));
        let response = model.complete(&ModelRequest::default()).await.unwrap();
        let sent: Value = serde_json::from_str(&body).unwrap();
        let kept: Vec<Value> =
            sent["content"].as_array().unwrap().iter().filter(|b| b["type"] != "fallback").cloned().collect();
        assert_eq!(replay_of(&response), Value::Array(kept), "{file}");
    }
}
