//! Conformance of `OpenAIResponses` with what Responses API servers really send: every recorded
//! reply of `shared/recorded-streams/openai-responses/` (OpenAI, GitHub Copilot, LM Studio)
//! replayed over loopback, streamed (each line framed as `event: <type>` / `data: <line>`) and
//! whole, checked for text, reasoning, every call, usage and finish, or for the error; then
//! what the recordings do not show: eager start, cut streams, incomplete responses.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fanout::Error;
use fanout::models::openai::OpenAIResponses;
use fanout::models::{FinishReason, Message, Model, ModelDelta, ModelRequest, ModelResponse, Usage};
use fanout::tool::{ToolCall, ToolDefinition};
use fanout_testserver::responses::sse;
use fanout_testserver::{Raw, Reply, Script, Server};
use futures::StreamExt;
use serde_json::{Value, json};

fn recorded_dir() -> Option<PathBuf> {
    support::recorded_streams("openai-responses")
}

/// What a turn came to, streamed or whole.
#[derive(Debug, Default, PartialEq)]
struct Turn {
    text: String,
    reasoning: String,
    calls: Vec<ToolCall>,
    usage: Option<Usage>,
    /// How many usage deltas came: one at most.
    usages: usize,
    finish: Option<FinishReason>,
    /// The response's id and model, as reported.
    who: Option<(String, String)>,
    /// How many times they were reported: once at most.
    whos: usize,
    replay: Option<Value>,
}

impl Turn {
    fn from_deltas(deltas: Vec<ModelDelta>) -> Self {
        let mut turn = Turn::default();
        for delta in deltas {
            match delta {
                ModelDelta::Text(t) => turn.text.push_str(&t),
                ModelDelta::Reasoning(t) => turn.reasoning.push_str(&t),
                ModelDelta::ToolCall { index, call } => {
                    assert_eq!(index, turn.calls.len(), "calls are numbered by position");
                    turn.calls.push(call);
                }
                ModelDelta::Usage(u) => {
                    turn.usages += 1;
                    turn.usage = Some(u);
                }
                ModelDelta::Finish(f) => turn.finish = Some(f),
                ModelDelta::Response { id, model } => {
                    turn.whos += 1;
                    turn.who = Some((id.unwrap_or_default(), model.unwrap_or_default()));
                }
                ModelDelta::Replay(r) => {
                    assert!(turn.replay.is_none(), "one replay per turn");
                    turn.replay = Some(r.data);
                }
            }
        }
        turn
    }

    fn from_response(response: ModelResponse) -> Self {
        Turn {
            text: response.content.unwrap_or_default(),
            reasoning: response.reasoning.unwrap_or_default(),
            calls: response.tool_calls,
            usage: response.usage,
            usages: usize::from(response.usage.is_some()),
            finish: response.finish_reason,
            whos: usize::from(response.id.is_some() || response.model.is_some()),
            who: (response.id.is_some() || response.model.is_some())
                .then(|| (response.id.unwrap_or_default(), response.model.unwrap_or_default())),
            replay: response.replay.map(|r| r.data),
        }
    }
}

fn request() -> ModelRequest {
    let tool = |name: &str| {
        Arc::new(ToolDefinition {
            name: name.into(),
            description: "A tool".into(),
            parameters: json!({"type": "object", "properties": {}}),
            strict: false,
        })
    };
    ModelRequest {
        messages: vec![Message::user("What is the weather in San Francisco?")],
        tools: Arc::from(vec![tool("weather"), tool("cityAttractions"), tool("calculator")]),
        ..ModelRequest::default()
    }
}

fn model(server: &Server) -> OpenAIResponses {
    OpenAIResponses::new("gpt-test").api_key("sk-test").base_url(server.url())
}

/// Stream one reply through `OpenAIResponses` over loopback.
async fn stream(reply: Reply) -> Result<Turn, (Turn, Error)> {
    let server = Server::start(Script::sequence([reply])).await.unwrap();
    let model = model(&server);
    let request = request();
    let mut deltas = Vec::new();
    let mut stream = model.stream(&request);
    while let Some(item) = stream.next().await {
        match item {
            Ok(delta) => deltas.push(delta),
            Err(err) => return Err((Turn::from_deltas(deltas), err)),
        }
    }
    assert_eq!(server.requests()[0].path, "/v1/responses");
    Ok(Turn::from_deltas(deltas))
}

/// Get one whole reply through `OpenAIResponses` over loopback.
async fn complete(raw: Raw) -> fanout::Result<Turn> {
    let server = Server::start(Script::sequence([Reply::raw(raw)])).await.unwrap();
    model(&server).complete(&request()).await.map(Turn::from_response)
}

enum Text {
    Exact(&'static str),
    Long { chars: usize, starts: &'static str, ends: &'static str },
}

impl Text {
    fn check(expected: &Option<Text>, actual: &str) -> Result<(), String> {
        let ok = match expected {
            None => actual.is_empty(),
            Some(Text::Exact(text)) => actual == *text,
            Some(Text::Long { chars, starts, ends }) => {
                actual.chars().count() == *chars && actual.starts_with(starts) && actual.ends_with(ends)
            }
        };
        if ok { Ok(()) } else { Err(format!("got {} chars: {actual:?}", actual.chars().count())) }
    }
}

enum Outcome {
    Turn {
        text: Option<Text>,
        reasoning: Option<Text>,
        /// `(call_id, name, arguments)`.
        calls: &'static [(&'static str, &'static str, &'static str)],
        /// `[input, output, total, cached input, reasoning]`.
        usage: Option<[u64; 5]>,
        finish: &'static str,
    },
    /// The error's message; its code is `insufficient_quota`.
    Error(&'static str),
}

/// The expected outcome of one recorded reply: `part` is the response's place in a file that
/// holds several (one per `response.created`), each replayed as its own request.
struct Case {
    file: &'static str,
    part: usize,
    outcome: Outcome,
}

impl Case {
    fn check(&self, turn: Result<Turn, Error>) -> Result<(), String> {
        match (&self.outcome, turn) {
            (Outcome::Error(message), Err(err)) => {
                // An account out of quota: never retried, though OpenAI says 429 for it too.
                let quota = err.is_quota_exceeded() && !err.is_retryable() && !err.is_rate_limited();
                if err.message() != *message || err.code() != Some("insufficient_quota") || !quota {
                    return Err(format!("error: {err} (code {:?})", err.code()));
                }
                Ok(())
            }
            (Outcome::Error(_), Ok(turn)) => Err(format!("no error: {turn:?}")),
            (_, Err(err)) => Err(format!("error: {err}")),
            (Outcome::Turn { text, reasoning, calls, usage, finish }, Ok(turn)) => {
                Text::check(text, &turn.text).map_err(|e| format!("text: {e}"))?;
                Text::check(reasoning, &turn.reasoning).map_err(|e| format!("reasoning: {e}"))?;
                let got: Vec<(&str, &str, &str)> = turn
                    .calls
                    .iter()
                    .map(|c| (c.id.as_str(), c.name.as_str(), c.arguments.as_str()))
                    .collect();
                if got != *calls {
                    return Err(format!("calls: {got:?}"));
                }
                let got = turn.usage.map(|u| {
                    [
                        u.input_tokens,
                        u.output_tokens,
                        u.total_tokens,
                        u.cached_input_tokens,
                        u.reasoning_tokens,
                    ]
                });
                if got != *usage || turn.usages > 1 {
                    return Err(format!("usage: {got:?} in {} deltas", turn.usages));
                }
                if turn.finish != Some(FinishReason::from_wire(finish)) {
                    return Err(format!("finish: {:?}", turn.finish));
                }
                // The replay holds the turn's output items, for the next request.
                let items = turn.replay.as_ref().and_then(|r| r["items"].as_array()).map_or(0, Vec::len);
                if items == 0 {
                    return Err(format!("replay: {:?}", turn.replay));
                }
                Ok(())
            }
        }
    }
}

/// The responses of a recorded stream, each as SSE events `event: <type>` / `data: <line as
/// recorded>`: the lines, split at each `response.created`.
fn responses(text: &str) -> Vec<Raw> {
    let mut parts: Vec<Vec<(Option<String>, String)>> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let event: Value = serde_json::from_str(line).unwrap();
        if event["type"] == "response.created" || parts.is_empty() {
            parts.push(Vec::new());
        }
        let kind = event["type"].as_str().unwrap().to_owned();
        parts.last_mut().unwrap().push((Some(kind), line.to_owned()));
    }
    parts.into_iter().map(Raw::sse).collect()
}

/// The response's id and model the turn reported must be the recording's own, once per turn.
fn reported(turn: &Turn, recording: &str) -> Result<(), String> {
    let Some((id, model)) = &turn.who else { return Err("no response id or model".to_owned()) };
    let recorded = |value: &str| !value.is_empty() && recording.contains(&format!("\"{value}\""));
    if !recorded(id) || !recorded(model) || turn.whos > 1 {
        return Err(format!("response id {id:?} and model {model:?}, reported {} times", turn.whos));
    }
    Ok(())
}

#[tokio::test]
async fn every_recorded_reply_reads_as_the_server_meant_it() {
    let Some(dir) = recorded_dir() else { return };
    let mut files: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    files.retain(|f| f.ends_with(".json") || f.ends_with(".jsonl"));
    files.sort();
    let mut listed: Vec<&str> = CASES.iter().map(|c| c.file).collect();
    listed.dedup();
    assert_eq!(files, listed, "every recorded reply has its cases");
    let mut failures = Vec::new();
    let mut checked = 0;
    for file in files {
        let text = std::fs::read_to_string(dir.join(&file)).unwrap();
        let turns: Vec<Result<Turn, Error>> = if file.ends_with(".jsonl") {
            let mut turns = Vec::new();
            for raw in responses(&text) {
                turns.push(stream(Reply::raw(raw)).await.map_err(|(_, err)| err));
            }
            turns
        } else {
            // OpenAI sent its error body with a 429.
            let status =
                if serde_json::from_str::<Value>(&text).unwrap()["error"].is_object() { 429 } else { 200 };
            vec![complete(Raw::json(status, text.clone())).await]
        };
        let cases: Vec<&Case> = CASES.iter().filter(|c| c.file == file).collect();
        assert_eq!(cases.len(), turns.len(), "{file}: one case per response");
        for (part, (case, turn)) in cases.into_iter().zip(turns).enumerate() {
            assert_eq!(case.part, part, "{file}: cases in order");
            if let Ok(turn) = &turn
                && let Err(problem) = reported(turn, &text)
            {
                failures.push(format!("{}#{}: {problem}", case.file, case.part));
            }
            if let Err(problem) = case.check(turn) {
                failures.push(format!("{}#{}: {problem}", case.file, case.part));
            }
            checked += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} recorded replies misread:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

const CASES: &[Case] = &[
    Case {
        file: "github-copilot-id-rotation.1.jsonl",
        part: 0,
        outcome: Outcome::Turn {
            text: Some(Text::Long {
                chars: 138,
                starts: "There are **3** letter **“r”**",
                ends: " at positions **3, 8, and 9**.",
            }),
            reasoning: Some(Text::Exact("**Counting character occurrences**")),
            calls: &[],
            usage: Some([19, 105, 124, 0, 44]),
            finish: "stop",
        },
    },
    Case {
        file: "lmstudio-basic.1.json",
        part: 0,
        outcome: Outcome::Turn {
            text: Some(Text::Exact("text content")),
            reasoning: Some(Text::Exact("reasoning content")),
            calls: &[],
            usage: Some([136, 3677, 3813, 0, 2456]),
            finish: "stop",
        },
    },
    Case {
        file: "lmstudio-basic.1.jsonl",
        part: 0,
        outcome: Outcome::Turn {
            text: Some(Text::Long {
                chars: 1384,
                starts: "## The Festival of Whispering ",
                ends: "rough storytelling around fire",
            }),
            reasoning: None,
            calls: &[],
            usage: Some([31, 282, 313, 30, 0]),
            finish: "stop",
        },
    },
    Case {
        file: "lmstudio-tool-call.1.json",
        part: 0,
        outcome: Outcome::Turn {
            text: None,
            reasoning: None,
            calls: &[("call_2866856768160095", "weather", "{\"location\":\"San Francisco\"}")],
            usage: Some([1189, 11, 1200, 891, 0]),
            finish: "tool_calls",
        },
    },
    Case {
        file: "lmstudio-tool-call.1.jsonl",
        part: 0,
        outcome: Outcome::Turn {
            text: Some(Text::Exact("I'll get the current weather information for San Francisco for you.")),
            reasoning: Some(Text::Long {
                chars: 242,
                starts: "The user is asking for the wea",
                ends: "ion to make the function call.",
            }),
            calls: &[("call_2025306790300011", "weather", "{\"location\":\"San Francisco\"}")],
            usage: Some([182, 61, 243, 2, 48]),
            finish: "tool_calls",
        },
    },
    Case {
        file: "lmstudio-tool-call.2.jsonl",
        part: 0,
        outcome: Outcome::Turn {
            text: Some(Text::Exact("I'll get the current weather information for San Francisco for you.")),
            reasoning: Some(Text::Long {
                chars: 241,
                starts: "The user is asking for the wea",
                ends: "ers to make the function call.",
            }),
            calls: &[("call_3466696471230001", "weather", "{\"location\":\"San Francisco\"}")],
            usage: Some([182, 60, 242, 52, 47]),
            finish: "tool_calls",
        },
    },
    Case {
        file: "openai-error.1.json",
        part: 0,
        outcome: Outcome::Error(
            "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
        ),
    },
    Case {
        file: "openai-error.1.jsonl",
        part: 0,
        outcome: Outcome::Error(
            "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
        ),
    },
    Case {
        file: "openai-phase.1.json",
        part: 0,
        outcome: Outcome::Turn {
            text: Some(Text::Long {
                chars: 1368,
                starts: "I’ll quickly check reliable, u",
                ends: "ame-day / last-48-hours items.",
            }),
            reasoning: None,
            calls: &[],
            usage: Some([7243, 423, 7666, 3072, 58]),
            finish: "stop",
        },
    },
    Case {
        file: "openai-phase.1.jsonl",
        part: 0,
        outcome: Outcome::Turn {
            text: Some(Text::Exact("Got it\n\nHere are a few **AI")),
            reasoning: None,
            calls: &[],
            usage: Some([7112, 463, 7575, 3072, 64]),
            finish: "stop",
        },
    },
    Case {
        file: "openai-reasoning-encrypted-content.1.json",
        part: 0,
        outcome: Outcome::Turn {
            text: Some(Text::Exact("12 + 7 = 19\n19 × 3 = 57\n57 × 10 = 570\n\nFinal result: 570")),
            reasoning: Some(Text::Long {
                chars: 399,
                starts: "**Reporting final result**\n\nTh",
                ends: "rmatting. Let's finalize that!",
            }),
            calls: &[],
            usage: Some([865, 163, 1028, 0, 128]),
            finish: "stop",
        },
    },
    Case {
        file: "openai-reasoning-encrypted-content.1.jsonl",
        part: 0,
        outcome: Outcome::Turn {
            text: None,
            reasoning: Some(Text::Long {
                chars: 163,
                starts: "**Calculating step-by-step usi",
                ends: ", reporting the final product.",
            }),
            calls: &[("call_AB6AaRZ1FYZB2RwS6A5vbdqn", "calculator", "{\"a\":12,\"b\":7,\"op\":\"add\"}")],
            usage: Some([134, 28, 162, 0, 0]),
            finish: "tool_calls",
        },
    },
    Case {
        file: "openai-reasoning-encrypted-content.1.jsonl",
        part: 1,
        outcome: Outcome::Turn {
            text: None,
            reasoning: None,
            calls: &[(
                "call_Q6pW65MUgW9vF59BmItYGos3",
                "calculator",
                "{\"a\":19,\"b\":3,\"op\":\"multiply\"}",
            )],
            usage: Some([221, 26, 247, 0, 0]),
            finish: "tool_calls",
        },
    },
    Case {
        file: "openai-reasoning-encrypted-content.1.jsonl",
        part: 2,
        outcome: Outcome::Turn {
            text: None,
            reasoning: None,
            calls: &[(
                "call_Zl5vIMnD7dVAjgU6FkhmiCZh",
                "calculator",
                "{\"a\":57,\"b\":10,\"op\":\"multiply\"}",
            )],
            usage: Some([260, 26, 286, 0, 0]),
            finish: "tool_calls",
        },
    },
    Case {
        file: "openai-reasoning-encrypted-content.1.jsonl",
        part: 3,
        outcome: Outcome::Turn {
            text: Some(Text::Exact("The final result is **570**.")),
            reasoning: None,
            calls: &[],
            usage: Some([299, 12, 311, 0, 0]),
            finish: "stop",
        },
    },
    Case {
        file: "openai-tool-search.1.json",
        part: 0,
        outcome: Outcome::Turn {
            text: None,
            reasoning: None,
            calls: &[(
                "call_ytqozXvUXG8NN1b0IODxzUaE",
                "get_weather",
                "{\"location\":\"San Francisco, CA\",\"unit\":\"fahrenheit\"}",
            )],
            usage: Some([640, 46, 686, 0, 20]),
            finish: "tool_calls",
        },
    },
    Case {
        file: "openai-tool-search.1.jsonl",
        part: 0,
        outcome: Outcome::Turn {
            text: None,
            reasoning: None,
            calls: &[(
                "call_pddfxhfOx4gY56zn4vIIEbFp",
                "get_weather",
                "{\"location\":\"San Francisco, CA\",\"unit\":\"fahrenheit\"}",
            )],
            usage: Some([640, 46, 686, 0, 20]),
            finish: "tool_calls",
        },
    },
    Case {
        file: "parallel-tool-call-wrapper.1.json",
        part: 0,
        outcome: Outcome::Turn {
            text: None,
            reasoning: None,
            calls: &[
                ("call_parallel_0", "weather", "{\"location\":\"San Francisco\"}"),
                ("call_parallel_1", "cityAttractions", "{\"city\":\"Rome\"}"),
            ],
            usage: Some([34, 28, 62, 0, 0]),
            finish: "tool_calls",
        },
    },
    Case {
        file: "parallel-tool-call-wrapper.1.jsonl",
        part: 0,
        outcome: Outcome::Turn {
            text: None,
            reasoning: None,
            calls: &[
                ("call_parallel_0", "weather", "{\"location\":\"San Francisco\"}"),
                ("call_parallel_1", "cityAttractions", "{\"city\":\"Rome\"}"),
            ],
            usage: Some([34, 28, 62, 0, 0]),
            finish: "tool_calls",
        },
    },
];

fn event(kind: &str, fields: Value) -> Value {
    let mut event = json!({"type": kind});
    event.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
    event
}

fn created() -> Value {
    event("response.created", json!({"response": {"id": "resp_x", "status": "in_progress", "output": []}}))
}

fn completed(output: Value) -> Value {
    event(
        "response.completed",
        json!({"response": {"id": "resp_x", "status": "completed", "output": output,
            "usage": {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5}}}),
    )
}

fn call_item(id: &str, call_id: &str, name: &str, arguments: &str) -> Value {
    json!({"type": "function_call", "id": id, "call_id": call_id, "name": name, "arguments": arguments})
}

fn call(id: &str, name: &str, arguments: &str) -> ToolCall {
    ToolCall::new(id, name, arguments)
}

#[tokio::test]
async fn a_call_starts_when_its_arguments_are_done_before_the_turn_ends() {
    let events = [
        created(),
        event(
            "response.output_item.added",
            json!({"output_index": 0, "item": call_item("fc_1", "call_1", "weather", "")}),
        ),
        event(
            "response.function_call_arguments.delta",
            json!({"item_id": "fc_1", "output_index": 0, "delta": "{}"}),
        ),
        event(
            "response.function_call_arguments.done",
            json!({"item_id": "fc_1", "output_index": 0, "arguments": "{}"}),
        ),
        event(
            "response.output_item.done",
            json!({"output_index": 0, "item": call_item("fc_1", "call_1", "weather", "{}")}),
        ),
        completed(json!([])),
    ];
    // The server goes silent after `arguments.done`: the call must already be out.
    let server = Server::start(Script::sequence([Reply::raw(sse(events).with(|r| r.stall_after = Some(4)))]))
        .await
        .unwrap();
    let model = model(&server).idle_timeout(Duration::from_secs(30));
    let request = request();
    let mut stream = model.stream(&request);
    let mut first = stream.next().await.unwrap().unwrap();
    if matches!(first, ModelDelta::Response { .. }) {
        first = stream.next().await.unwrap().unwrap();
    }
    assert_eq!(first, ModelDelta::ToolCall { index: 0, call: call("call_1", "weather", "{}") });
}

#[tokio::test]
async fn calls_however_they_arrive_each_exactly_once() {
    let events = [
        created(),
        // Only `output_item.done`, no argument events.
        event(
            "response.output_item.done",
            json!({"output_index": 0, "item": call_item("fc_1", "call_1", "weather", r#"{"a":1}"#)}),
        ),
        // Fresh ids on every event (GitHub Copilot): keyed by output_index.
        event(
            "response.output_item.added",
            json!({"output_index": 1, "item": call_item("id-1", "call_2", "calculator", "")}),
        ),
        event(
            "response.function_call_arguments.delta",
            json!({"item_id": "id-2", "output_index": 1, "delta": "{\"b\":"}),
        ),
        event(
            "response.function_call_arguments.delta",
            json!({"item_id": "id-3", "output_index": 1, "delta": "2}"}),
        ),
        event(
            "response.output_item.done",
            json!({"output_index": 1, "item": call_item("id-4", "call_2", "calculator", "")}),
        ),
        // Empty arguments of a tool without parameters are `{}`.
        event(
            "response.output_item.added",
            json!({"output_index": 2, "item": call_item("fc_3", "call_3", "cityAttractions", "")}),
        ),
        event(
            "response.function_call_arguments.done",
            json!({"item_id": "fc_3", "output_index": 2, "arguments": ""}),
        ),
        event(
            "response.output_item.done",
            json!({"output_index": 2, "item": call_item("fc_3", "call_3", "cityAttractions", "")}),
        ),
        // Only in the completed response's output, after one streamed (under another item id).
        completed(json!([
            call_item("id-9", "call_2", "calculator", r#"{"b":2}"#),
            call_item("fc_4", "call_4", "weather", r#"{"c":3}"#)
        ])),
    ];
    let turn = stream(Reply::raw(sse(events))).await.unwrap();
    assert_eq!(
        turn.calls,
        [
            call("call_1", "weather", r#"{"a":1}"#),
            call("call_2", "calculator", r#"{"b":2}"#),
            call("call_3", "cityAttractions", "{}"),
            call("call_4", "weather", r#"{"c":3}"#),
        ]
    );
    assert_eq!(turn.finish, Some(FinishReason::ToolCalls));
}

#[tokio::test]
async fn incomplete_responses_and_error_events_are_typed_errors() {
    let incomplete = event(
        "response.incomplete",
        json!({"response": {"id": "resp_x", "status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}}}),
    );
    let text =
        event("response.output_text.delta", json!({"item_id": "m", "output_index": 0, "delta": "Half"}));
    let (turn, err) = stream(Reply::raw(sse([created(), text, incomplete]))).await.unwrap_err();
    assert_eq!(turn.text, "Half", "what came before is delivered");
    assert_eq!(err.code(), Some("max_output_tokens"));
    assert!(err.to_string().contains("incomplete: max_output_tokens"), "{err}");
    assert!(!err.is_retryable());

    // An `error` event with its fields at the top level; a server error is worth a retry.
    let error = json!({"type": "error", "code": "server_error", "message": "The server had an error"});
    let (_, err) = stream(Reply::raw(sse([created(), error]))).await.unwrap_err();
    assert_eq!(err.message(), "The server had an error");
    assert!(err.is_retryable());
    let error = json!({"type": "error", "error": {"type": "tokens", "code": "rate_limit_exceeded", "message": "Slow down"}});
    let (_, err) = stream(Reply::raw(sse([created(), error]))).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");

    // A whole response that stopped early.
    let body = json!({"id": "r", "status": "incomplete", "incomplete_details": {"reason": "content_filter"}, "output": []});
    let err = complete(Raw::json(200, body.to_string())).await.unwrap_err();
    assert_eq!(err.code(), Some("content_filter"));
    // Not JSON at all.
    let err = stream(Reply::raw(Raw::sse([(Some("response.created"), "{not json")]))).await.unwrap_err().1;
    assert!(err.is_invalid_response(), "{err}");
}
