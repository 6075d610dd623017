//! Conformance of `OpenAIChat` with what OpenAI-compatible servers really send: every recorded
//! reply of `shared/recorded-streams/openai-chat/` (OpenAI, Azure, Groq, DeepSeek, Mistral, xAI,
//! Qwen, Moonshot, Perplexity) replayed over loopback, streamed and whole, checked for text,
//! reasoning, every call, usage and finish reason; then the quirks other clients were bitten by,
//! written by hand.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::path::PathBuf;
use std::sync::Arc;

use fanout::Error;
use fanout::models::openai::OpenAIChat;
use fanout::models::{FinishReason, Message, Model, ModelDelta, ModelRequest, ModelResponse, Usage};
use fanout::tool::{ToolCall, ToolDefinition};
use fanout_testserver::{Raw, Reply, Script, Server};
use futures::StreamExt;
use serde_json::{Value, json};

fn recorded_dir() -> Option<PathBuf> {
    support::recorded_streams("openai-chat")
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
                ModelDelta::Replay(_) => {}
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
        tools: Arc::from(vec![tool("weather"), tool("cityAttractions")]),
        ..ModelRequest::default()
    }
}

fn model(server: &Server) -> OpenAIChat {
    OpenAIChat::new("gpt-test").api_key("sk-test").base_url(server.url())
}

/// SSE events as a server sends them, each `data: <json>`, then `data: [DONE]`.
fn sse<S: AsRef<str>>(events: &[S]) -> Reply {
    let data = events.iter().map(|e| (None::<String>, e.as_ref().to_owned()));
    Reply::raw(Raw::sse(data.chain([(None, "[DONE]".to_owned())])))
}

/// Stream one reply through `OpenAIChat` over loopback.
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
    Ok(Turn::from_deltas(deltas))
}

/// Get one whole reply through `OpenAIChat` over loopback.
async fn complete(body: &str) -> fanout::Result<Turn> {
    let server = Server::start(Script::sequence([Reply::raw(Raw::json(200, body))])).await.unwrap();
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
        if ok { Ok(()) } else { Err(format!("got {} chars: {:?}", actual.chars().count(), truncate(actual))) }
    }
}

fn truncate(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= 80 {
        text.to_owned()
    } else {
        format!(
            "{}…{}",
            chars[..40].iter().collect::<String>(),
            chars[chars.len() - 40..].iter().collect::<String>()
        )
    }
}

/// The expected outcome of one recorded reply. Text is compared whole when short, else by
/// length in characters and its first and last 30.
struct Case {
    file: &'static str,
    text: Option<Text>,
    reasoning: Option<Text>,
    /// `(id, name, arguments)`.
    calls: &'static [(&'static str, &'static str, &'static str)],
    /// `[input, output, total, cached input, reasoning]`.
    usage: Option<[u64; 5]>,
    finish: &'static str,
}

impl Case {
    fn check(&self, turn: &Turn) -> Result<(), String> {
        Text::check(&self.text, &turn.text).map_err(|e| format!("text: {e}"))?;
        Text::check(&self.reasoning, &turn.reasoning).map_err(|e| format!("reasoning: {e}"))?;
        let calls: Vec<(&str, &str, &str)> =
            turn.calls.iter().map(|c| (c.id.as_str(), c.name.as_str(), c.arguments.as_str())).collect();
        if calls != self.calls {
            return Err(format!("calls: {calls:?}"));
        }
        let usage = turn.usage.map(|u| {
            [u.input_tokens, u.output_tokens, u.total_tokens, u.cached_input_tokens, u.reasoning_tokens]
        });
        if usage != self.usage || turn.usages > 1 {
            return Err(format!("usage: {usage:?} in {} deltas", turn.usages));
        }
        if turn.finish != Some(FinishReason::from_wire(self.finish)) {
            return Err(format!("finish: {:?}", turn.finish));
        }
        Ok(())
    }
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
async fn every_recorded_reply_reads_as_the_provider_meant_it() {
    let Some(dir) = recorded_dir() else { return };
    let mut files: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    files.retain(|f| f.ends_with(".json") || f.ends_with(".jsonl"));
    files.sort();
    let listed: Vec<&str> = CASES.iter().map(|c| c.file).collect();
    assert_eq!(files, listed, "every recorded reply has exactly one case");
    let mut failures = Vec::new();
    for case in CASES {
        let text = std::fs::read_to_string(dir.join(case.file)).unwrap();
        let turn = if case.file.ends_with(".jsonl") {
            let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            stream(sse(&lines)).await.map_err(|(_, err)| err.to_string())
        } else {
            complete(&text).await.map_err(|err| err.to_string())
        };
        if let Err(problem) = turn.and_then(|turn| case.check(&turn).and_then(|()| reported(&turn, &text))) {
            failures.push(format!("{}: {problem}", case.file));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} recorded replies misread:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

const CASES: &[Case] = &[
    Case {
        file: "alibaba--alibaba-reasoning.json",
        text: Some(Text::Long {
            chars: 950,
            starts: "The word **\"strawberry\"** cont",
            ends: "rns 3\n  ```  \n\n**Answer: 3** 🍓",
        }),
        reasoning: Some(Text::Long {
            chars: 4213,
            starts: "We are asked: \"How many 'r's a",
            ends: " 3.\n\nYes.\n\nSo final answer: 3.",
        }),
        calls: &[],
        usage: Some([24, 1668, 1692, 0, 1353]),
        finish: "stop",
    },
    Case {
        file: "alibaba--alibaba-reasoning.jsonl",
        text: Some(Text::Long {
            chars: 816,
            starts: "The word **\"strawberry\"** cont",
            ends: "returns `3`).  \n\n**Answer: 3**",
        }),
        reasoning: Some(Text::Long {
            chars: 3301,
            starts: "We are asked: \"How many 'r's a",
            ends: " 3.\n\nYes.\n\nSo final answer: 3.",
        }),
        calls: &[],
        usage: Some([24, 1355, 1379, 0, 1084]),
        finish: "stop",
    },
    Case {
        file: "alibaba--alibaba-text.json",
        text: Some(Text::Long {
            chars: 4892,
            starts: "## The Festival of Forgotten T",
            ends: "space for what is yet to come.",
        }),
        reasoning: None,
        calls: &[],
        usage: Some([18, 1064, 1082, 0, 0]),
        finish: "stop",
    },
    Case {
        file: "alibaba--alibaba-text.jsonl",
        text: Some(Text::Long {
            chars: 3771,
            starts: "## The Festival of Shared Stor",
            ends: "ters. We are woven together.\"*",
        }),
        reasoning: None,
        calls: &[],
        usage: Some([18, 779, 797, 0, 0]),
        finish: "stop",
    },
    Case {
        file: "alibaba--alibaba-tool-call.json",
        text: None,
        reasoning: None,
        calls: &[("call_962bfd2ab8f54b89a1161356", "weather", "{\"location\": \"San Francisco\"}")],
        usage: Some([295, 22, 317, 0, 0]),
        finish: "tool_calls",
    },
    Case {
        file: "alibaba--alibaba-tool-call.jsonl",
        text: None,
        reasoning: None,
        calls: &[("call_eee11723464a4b9eb8cee71d", "weather", "{\"location\": \"San Francisco\"}")],
        usage: Some([295, 22, 317, 0, 0]),
        finish: "tool_calls",
    },
    Case {
        file: "azure--azure-deepseek-reasoning.1.json",
        text: Some(Text::Long {
            chars: 4097,
            starts: "Absolutely! Based on the most ",
            ends: "ed — until he let it fly. 🏙️🧡💙",
        }),
        reasoning: Some(Text::Long {
            chars: 3389,
            starts: "We need to invent a new holida",
            ends: "answer should be entertaining.",
        }),
        calls: &[],
        usage: Some([19, 1969, 1988, 0, 0]),
        finish: "stop",
    },
    Case {
        file: "azure--azure-deepseek-reasoning.1.jsonl",
        text: Some(Text::Long {
            chars: 2661,
            starts: "Exciting news, Knicks fans—the",
            ends: "ext April 4—from the logo! 🎯🧡💙",
        }),
        reasoning: Some(Text::Long {
            chars: 3832,
            starts: "We need to invent a new holida",
            ends: "ms fun. I'll craft a response.",
        }),
        calls: &[],
        usage: Some([19, 1720, 1739, 0, 0]),
        finish: "stop",
    },
    Case {
        file: "deepseek--deepseek-json.json",
        text: Some(Text::Exact(
            "{\n  \"location\": \"San Francisco\",\n  \"condition\": \"cloudy\",\n  \"temperature\": 7\n}",
        )),
        reasoning: Some(Text::Long {
            chars: 558,
            starts: "I have the result from the wea",
            ends: "Let me output the JSON object.",
        }),
        calls: &[],
        usage: Some([495, 144, 639, 320, 118]),
        finish: "stop",
    },
    Case {
        file: "deepseek--deepseek-reasoning.json",
        text: Some(Text::Long {
            chars: 107,
            starts: "The word \"strawberry\" contains",
            ends: "he \"t\" and two before the \"y\".",
        }),
        reasoning: Some(Text::Long {
            chars: 935,
            starts: "We are asked: \"How many 'r's a",
            ends: "'strawberry'?\" So answer is 3.",
        }),
        calls: &[],
        usage: Some([18, 345, 363, 0, 315]),
        finish: "stop",
    },
    Case {
        file: "deepseek--deepseek-reasoning.jsonl",
        text: Some(Text::Exact("The word \"strawberry\" contains three \"r\"s.")),
        reasoning: Some(Text::Long {
            chars: 606,
            starts: "We need to count the number of",
            ends: "es, 3.\n\nThus, the answer is 3.",
        }),
        calls: &[],
        usage: Some([18, 219, 237, 0, 205]),
        finish: "stop",
    },
    Case {
        file: "deepseek--deepseek-text.json",
        text: Some(Text::Long {
            chars: 1375,
            starts: "## **Holiday Name: Gratitude o",
            ends: "vish presents, people exchange",
        }),
        reasoning: None,
        calls: &[],
        usage: Some([13, 300, 313, 0, 0]),
        finish: "length",
    },
    Case {
        file: "deepseek--deepseek-text.jsonl",
        text: Some(Text::Long {
            chars: 1855,
            starts: "## **Holiday Name:** Starlight",
            ends: "5 minutes of silent looking at",
        }),
        reasoning: None,
        calls: &[],
        usage: Some([13, 400, 413, 0, 0]),
        finish: "length",
    },
    Case {
        file: "deepseek--deepseek-tool-call.json",
        text: None,
        reasoning: Some(Text::Long {
            chars: 242,
            starts: "The user is asking for the wea",
            ends: " me call the weather function.",
        }),
        calls: &[("call_00_9V0vrf86Pc9aelHCJMZqnJBo", "weather", "{\"location\": \"San Francisco\"}")],
        usage: Some([339, 92, 431, 320, 48]),
        finish: "tool_calls",
    },
    Case {
        file: "deepseek--deepseek-tool-call.jsonl",
        text: None,
        reasoning: Some(Text::Long {
            chars: 191,
            starts: "The user is asking for the wea",
            ends: "ameter set to \"San Francisco\".",
        }),
        calls: &[("call_00_ioIn7yN9p1ZOMNpDLwd4MgAF", "weather", "{\"location\": \"San Francisco\"}")],
        usage: Some([339, 83, 422, 320, 39]),
        finish: "tool_calls",
    },
    Case {
        file: "groq--groq-reasoning.json",
        text: Some(Text::Long {
            chars: 206,
            starts: "The word \"strawberry\" contains",
            ends: "th positions. \n\n**Answer:** 3.",
        }),
        reasoning: Some(Text::Long {
            chars: 1724,
            starts: "Okay, so the user is asking ho",
            ends: "s. So the answer should be 3.\n",
        }),
        calls: &[],
        usage: Some([17, 649, 666, 0, 570]),
        finish: "stop",
    },
    Case {
        file: "groq--groq-reasoning.jsonl",
        text: Some(Text::Long {
            chars: 347,
            starts: "The word **\"strawberry\"** is s",
            ends: "\n**Final Answer**: $\\boxed{3}$",
        }),
        reasoning: Some(Text::Long {
            chars: 2952,
            starts: "Okay, let me try to figure out",
            ends: "R's in \"strawberry\" is three.\n",
        }),
        calls: &[],
        usage: Some([17, 1107, 1124, 0, 963]),
        finish: "stop",
    },
    Case {
        file: "groq--groq-text.json",
        text: Some(Text::Long {
            chars: 2953,
            starts: "I'd like to introduce \"Luminar",
            ends: " brighter, more radiant world.",
        }),
        reasoning: None,
        calls: &[],
        usage: Some([45, 607, 652, 0, 0]),
        finish: "stop",
    },
    Case {
        file: "groq--groq-text.jsonl",
        text: Some(Text::Long {
            chars: 3189,
            starts: "Introducing \"Luminaria\" - a ne",
            ends: "iation for the magic of light.",
        }),
        reasoning: None,
        calls: &[],
        usage: Some([45, 662, 707, 0, 0]),
        finish: "stop",
    },
    Case {
        file: "groq--groq-tool-call.json",
        text: None,
        reasoning: None,
        calls: &[("ax9fskhev", "weather", "{}")],
        usage: Some([218, 15, 233, 0, 0]),
        finish: "tool_calls",
    },
    Case {
        file: "groq--groq-tool-call.jsonl",
        text: None,
        reasoning: None,
        calls: &[("tk85n1k4m", "weather", "{}")],
        usage: Some([210, 15, 225, 0, 0]),
        finish: "tool_calls",
    },
    Case {
        file: "mistral--mistral-incremental-tool-call.jsonl",
        text: None,
        reasoning: None,
        calls: &[(
            "chatcmpl-tool-9f149c74c42f265b",
            "webSearchTool",
            "{\"query\": \"current Berlin weather\"}",
        )],
        usage: Some([171, 14, 185, 128, 0]),
        finish: "tool_calls",
    },
    Case {
        file: "mistral--mistral-reasoning.json",
        text: Some(Text::Exact("2 + 2 = 4")),
        reasoning: Some(Text::Exact("The user is asking for 2+2. This is basic arithmetic. 2+2=4.")),
        calls: &[],
        usage: Some([10, 46, 56, 0, 0]),
        finish: "stop",
    },
    Case {
        file: "mistral--mistral-reasoning.jsonl",
        text: Some(Text::Exact("2 + 2 = 4")),
        reasoning: Some(Text::Exact("The user is asking for 2+2. This is basic arithmetic. 2+2=4.")),
        calls: &[],
        usage: Some([10, 46, 56, 0, 0]),
        finish: "stop",
    },
    Case {
        file: "mistral--mistral-text.json",
        text: Some(Text::Long {
            chars: 1925,
            starts: "**Holiday Name: \"World Kindnes",
            ends: "te it? What would you share? 😊",
        }),
        reasoning: None,
        calls: &[],
        usage: Some([13, 434, 447, 0, 0]),
        finish: "stop",
    },
    Case {
        file: "mistral--mistral-text.jsonl",
        text: Some(Text::Exact("Hello, world! This is a test response.")),
        reasoning: None,
        calls: &[],
        usage: Some([13, 8, 21, 0, 0]),
        finish: "stop",
    },
    Case {
        file: "mistral--mistral-tool-call.json",
        text: None,
        reasoning: None,
        calls: &[("gSIMJiOkT", "weather", "{\"location\": \"San Francisco\"}")],
        usage: Some([124, 22, 146, 0, 0]),
        finish: "tool_calls",
    },
    Case {
        file: "mistral--mistral-tool-call.jsonl",
        text: None,
        reasoning: None,
        calls: &[("gSIMJiOkT", "weather", "{\"location\": \"San Francisco\"}")],
        usage: Some([124, 22, 146, 0, 0]),
        finish: "tool_calls",
    },
    Case {
        file: "moonshotai--moonshotai-reasoning.json",
        text: Some(Text::Exact("There are three.")),
        reasoning: Some(Text::Exact("Let me count the letters carefully.")),
        calls: &[],
        usage: Some([20, 30, 50, 10, 22]),
        finish: "stop",
    },
    Case {
        file: "moonshotai--moonshotai-stream.jsonl",
        text: Some(Text::Exact("Hello!")),
        reasoning: Some(Text::Exact("Thinking aloud. ")),
        calls: &[],
        usage: Some([9, 12, 21, 0, 7]),
        finish: "stop",
    },
    Case {
        file: "moonshotai--moonshotai-text.json",
        text: Some(Text::Exact("Hello, world!")),
        reasoning: None,
        calls: &[],
        usage: Some([9, 5, 14, 0, 0]),
        finish: "stop",
    },
    Case {
        file: "moonshotai--moonshotai-tool-call.json",
        text: None,
        reasoning: None,
        calls: &[("call_abc123", "get_weather", "{\"city\":\"Paris\"}")],
        usage: Some([30, 12, 42, 0, 0]),
        finish: "tool_calls",
    },
    Case {
        file: "openai--azure-model-router.1.jsonl",
        text: Some(Text::Exact("Capital of Denmark.")),
        reasoning: None,
        calls: &[],
        usage: Some([15, 78, 93, 0, 64]),
        finish: "stop",
    },
    Case {
        file: "openai--openai-text.json",
        text: Some(Text::Long {
            chars: 1842,
            starts: "**Holiday Name:** Galaxy Day  ",
            ends: "up and dream beyond our world.",
        }),
        reasoning: None,
        calls: &[],
        usage: Some([16, 363, 379, 0, 0]),
        finish: "stop",
    },
    Case {
        file: "openai--openai-text.jsonl",
        text: Some(Text::Long {
            chars: 1724,
            starts: "**Holiday Name:** Harmony Day\n",
            ends: "xperiences and mutual respect.",
        }),
        reasoning: None,
        calls: &[],
        usage: Some([16, 300, 316, 0, 0]),
        finish: "stop",
    },
    Case {
        file: "openai-compatible--xai-text.json",
        text: Some(Text::Exact("Grok")),
        reasoning: Some(Text::Long {
            chars: 1367,
            starts: "First, the user said: \"Say a s",
            ends: "\nSo, my response will be: Grok",
        }),
        calls: &[],
        usage: Some([12, 2, 334, 2, 320]),
        finish: "stop",
    },
    Case {
        file: "openai-compatible--xai-text.jsonl",
        text: Some(Text::Exact("Grok")),
        reasoning: Some(Text::Long {
            chars: 1455,
            starts: "First, the user said: \"Say a s",
            ends: "just the word.\n\nResponse: Grok",
        }),
        calls: &[],
        usage: Some([12, 2, 354, 11, 340]),
        finish: "stop",
    },
    Case {
        file: "openai-compatible--xai-tool-call.json",
        text: None,
        reasoning: Some(Text::Long {
            chars: 1194,
            starts: "First, the user is asking abou",
            ends: "n Francisco\"}}</function_call>",
        }),
        calls: &[("call_46427107", "weather", "{\"location\":\"San Francisco\"}")],
        usage: Some([307, 26, 588, 244, 255]),
        finish: "tool_calls",
    },
    Case {
        file: "openai-compatible--xai-tool-call.jsonl",
        text: None,
        reasoning: Some(Text::Long {
            chars: 1069,
            starts: "First, the user is asking abou",
            ends: "this is the logical next step.",
        }),
        calls: &[("call_79382389", "weather", "{\"location\":\"San Francisco\"}")],
        usage: Some([307, 26, 560, 306, 227]),
        finish: "tool_calls",
    },
    Case {
        file: "perplexity--perplexity-citations.json",
        text: Some(Text::Long {
            chars: 952,
            starts: "The most recent estimates for ",
            ends: "us Bureau updates beyond 2024.",
        }),
        reasoning: None,
        calls: &[],
        usage: Some([10, 251, 261, 0, 0]),
        finish: "stop",
    },
    Case {
        file: "perplexity--perplexity-citations.jsonl",
        text: Some(Text::Exact("The current population of **[2][3]")),
        reasoning: None,
        calls: &[],
        usage: Some([10, 336, 346, 0, 0]),
        finish: "stop",
    },
    Case {
        file: "perplexity--perplexity-text.json",
        text: Some(Text::Long {
            chars: 1970,
            starts: "**EcoVista Day** is a new annu",
            ends: "sible and forward-thinking.[5]",
        }),
        reasoning: None,
        calls: &[],
        usage: Some([11, 392, 403, 0, 0]),
        finish: "stop",
    },
    Case {
        file: "perplexity--perplexity-text.jsonl",
        text: Some(Text::Exact("**EcoVista Day**[1][5]")),
        reasoning: None,
        calls: &[],
        usage: Some([11, 434, 445, 0, 0]),
        finish: "stop",
    },
    Case {
        file: "xai--xai-text.jsonl",
        text: Some(Text::Exact("Hello")),
        reasoning: Some(Text::Exact("First, the user said")),
        calls: &[],
        usage: Some([12, 1, 303, 11, 290]),
        finish: "stop",
    },
    Case {
        file: "xai--xai-tool-call.jsonl",
        text: None,
        reasoning: Some(Text::Exact("First, the user is")),
        calls: &[("call_55117580", "weather", "{\"location\":\"San Francisco\"}")],
        usage: Some([291, 26, 513, 290, 196]),
        finish: "tool_calls",
    },
];

// ---------------------------------------------------------------------------------------------
// Quirks, written by hand.

/// A chunk with one choice whose delta is `delta`.
fn chunk(delta: Value) -> String {
    json!({"choices": [{"index": 0, "delta": delta, "finish_reason": null}]}).to_string()
}

/// A chunk carrying tool-call fragments.
fn calls(fragments: Value) -> String {
    chunk(json!({"tool_calls": fragments}))
}

/// The closing chunk: finish reason (and usage).
fn finish(reason: &str) -> String {
    json!({"choices": [{"index": 0, "delta": {}, "finish_reason": reason}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}})
    .to_string()
}

fn call(id: &str, name: &str, arguments: &str) -> ToolCall {
    ToolCall::new(id, name, arguments)
}

/// The deltas of one streamed reply, in order.
async fn deltas(events: &[String]) -> Vec<ModelDelta> {
    let server = Server::start(Script::sequence([sse(events)])).await.unwrap();
    let model = model(&server);
    let request = request();
    model.stream(&request).map(|d| d.unwrap()).collect().await
}

#[tokio::test]
async fn qwen_empty_fragments_after_a_complete_call_change_nothing() {
    let turn = stream(sse(&[
        calls(json!([{"index": 0, "id": "call_a", "type": "function", "function": {"name": "weather", "arguments": ""}}])),
        calls(json!([{"index": 0, "id": "", "type": "function", "function": {"arguments": "{\"city\": \"Rome\"}"}}])),
        calls(json!([{"index": 0, "id": "", "type": "function", "function": {"arguments": ""}}])),
        calls(json!([{"index": 1, "id": "call_b", "type": "function", "function": {"name": "weather", "arguments": "{}"}}])),
        calls(json!([{"index": 1, "id": "call_b", "function": {"name": "weather", "arguments": " "}}])),
        calls(json!([{"index": 0, "id": "", "type": "function", "function": {"arguments": ""}}])),
        finish("tool_calls"),
    ]))
    .await
    .unwrap();
    assert_eq!(
        turn.calls,
        [call("call_a", "weather", r#"{"city": "Rome"}"#), call("call_b", "weather", "{}")]
    );

    // Anything more than whitespace after a call is complete is a broken stream, said precisely.
    let (_, err) = stream(sse(&[
        calls(json!([{"index": 0, "id": "call_a", "function": {"name": "weather", "arguments": "{}"}}])),
        calls(json!([{"index": 0, "function": {"arguments": "{\"x\": 1}"}}])),
        finish("tool_calls"),
    ]))
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "openai sent an invalid response: a fragment for tool call 0 arrived after that call was complete"
    );
}

#[tokio::test]
async fn content_as_a_list_of_parts_streamed_and_whole() {
    let turn = stream(sse(&[
        chunk(json!({"content": [{"type": "thinking", "thinking": [{"type": "text", "text": "Two and "}]}]})),
        chunk(json!({"content": [{"type": "thinking", "thinking": "two."}, {"type": "reference", "reference_ids": [1]}]})),
        chunk(json!({"content": [{"type": "text", "text": "4"}, {"type": "image_url", "image_url": "x"}]})),
        chunk(json!({"content": []})),
        finish("stop"),
    ]))
    .await
    .unwrap();
    assert_eq!((turn.reasoning.as_str(), turn.text.as_str()), ("Two and two.", "4"));

    let whole = json!({"choices": [{"message": {"role": "assistant", "content": [
        {"type": "thinking", "thinking": [{"type": "text", "text": "Sum."}]}, {"type": "text", "text": "4"}]},
        "finish_reason": "stop"}]});
    let turn = complete(&whole.to_string()).await.unwrap();
    assert_eq!((turn.reasoning.as_str(), turn.text.as_str()), ("Sum.", "4"));
}

#[tokio::test]
async fn reasoning_from_either_field_never_twice() {
    let turn = stream(sse(&[
        chunk(json!({"reasoning": "a"})),
        chunk(json!({"reasoning_content": "b"})),
        // Some servers send both fields with the same text.
        chunk(json!({"reasoning_content": "c", "reasoning": "c"})),
        chunk(json!({"content": "ok"})),
        finish("stop"),
    ]))
    .await
    .unwrap();
    assert_eq!((turn.reasoning.as_str(), turn.text.as_str()), ("abc", "ok"));
}

#[tokio::test]
async fn interleaved_calls_each_start_when_their_own_arguments_are_complete() {
    let deltas = deltas(&[
        calls(json!([{"index": 0, "id": "c0", "function": {"name": "weather", "arguments": ""}}])),
        calls(json!([{"index": 1, "id": "c1", "function": {"name": "cityAttractions", "arguments": ""}}])),
        calls(json!([{"index": 0, "function": {"arguments": "{\"city\":"}}])),
        calls(json!([{"index": 1, "function": {"arguments": "{\"city\":"}}])),
        calls(json!([{"index": 0, "function": {"arguments": "\"Rome\"}"}}])),
        chunk(json!({"reasoning_content": "(marker)"})),
        calls(json!([{"index": 1, "function": {"arguments": "\"Oslo\"}"}}])),
        finish("tool_calls"),
    ])
    .await;
    assert_eq!(
        deltas[..4],
        [
            // Call 0 is out as soon as its object closes: before the marker and call 1's end.
            ModelDelta::ToolCall { index: 0, call: call("c0", "weather", r#"{"city":"Rome"}"#) },
            ModelDelta::Reasoning("(marker)".into()),
            ModelDelta::ToolCall { index: 1, call: call("c1", "cityAttractions", r#"{"city":"Oslo"}"#) },
            ModelDelta::Finish(FinishReason::ToolCalls),
        ]
    );
}

#[tokio::test]
async fn a_call_is_not_complete_because_the_next_one_began() {
    // A no-argument call streamed as "" and then "{}" after the next call began.
    let turn = stream(sse(&[
        calls(json!([{"index": 0, "id": "c0", "function": {"name": "weather", "arguments": ""}}])),
        calls(json!([{"index": 1, "id": "c1", "function": {"name": "weather", "arguments": ""}}])),
        calls(json!([{"index": 0, "function": {"arguments": "{}"}}])),
        calls(json!([{"index": 1, "function": {"arguments": "{\"city\":\"Oslo\"}"}}])),
        finish("tool_calls"),
    ]))
    .await
    .unwrap();
    assert_eq!(turn.calls, [call("c0", "weather", "{}"), call("c1", "weather", r#"{"city":"Oslo"}"#)]);
}

#[tokio::test]
async fn sparse_indices_are_numbered_by_position() {
    let turn = stream(sse(&[
        calls(json!([{"index": 3, "id": "c3", "function": {"name": "weather", "arguments": "{\"a\":"}}])),
        calls(json!([{"index": 7, "id": "c7", "function": {"name": "weather", "arguments": "{\"b\":2}"}}])),
        calls(json!([{"index": 3, "function": {"arguments": "1}"}}])),
        finish("tool_calls"),
    ]))
    .await
    .unwrap();
    assert_eq!(turn.calls, [call("c3", "weather", r#"{"a":1}"#), call("c7", "weather", r#"{"b":2}"#)]);
}

#[tokio::test]
async fn several_calls_in_one_chunk_with_and_without_index() {
    for indexed in [true, false] {
        let mut fragments = json!([
            {"index": 0, "id": "c0", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Rome\"}"}},
            {"index": 1, "id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Oslo\"}"}},
            {"index": 2, "id": "c2", "type": "function", "function": {"name": "cityAttractions", "arguments": "{}"}}
        ]);
        if !indexed {
            for fragment in fragments.as_array_mut().unwrap() {
                fragment.as_object_mut().unwrap().remove("index");
            }
        }
        let turn = stream(sse(&[calls(fragments), finish("tool_calls")])).await.unwrap();
        assert_eq!(
            turn.calls,
            [
                call("c0", "weather", r#"{"city":"Rome"}"#),
                call("c1", "weather", r#"{"city":"Oslo"}"#),
                call("c2", "cityAttractions", "{}")
            ],
            "indexed = {indexed}"
        );
    }
}

#[tokio::test]
async fn calls_without_index_in_pieces_and_whole() {
    // Pieces without index continue the call of the last id.
    let turn = stream(sse(&[
        calls(json!([{"id": "c0", "function": {"name": "weather", "arguments": "{\"ci"}}])),
        calls(json!([{"function": {"arguments": "ty\":\"Rome\"}"}}])),
        calls(json!([{"id": "c1", "function": {"name": "weather", "arguments": ""}}])),
        calls(json!([{"function": {"arguments": "{}"}}])),
        finish("tool_calls"),
    ]))
    .await
    .unwrap();
    assert_eq!(turn.calls, [call("c0", "weather", r#"{"city":"Rome"}"#), call("c1", "weather", "{}")]);

    // Neither index nor id, each call whole in its chunk: a name after a complete call starts
    // the next one.
    let turn = stream(sse(&[
        calls(json!([{"function": {"name": "weather", "arguments": "{\"city\":\"Rome\"}"}}])),
        calls(json!([{"function": {"name": "weather", "arguments": "{\"city\":\"Oslo\"}"}}])),
        finish("tool_calls"),
    ]))
    .await
    .unwrap();
    assert_eq!(turn.calls.len(), 2);
    assert_eq!(turn.calls[1].arguments, r#"{"city":"Oslo"}"#);

    // Every call numbered 0, told apart by their ids.
    let turn = stream(sse(&[
        calls(json!([{"index": 0, "id": "c0", "function": {"name": "weather", "arguments": "{}"}}])),
        calls(json!([{"index": 0, "id": "c1", "function": {"name": "cityAttractions", "arguments": "{}"}}])),
        finish("tool_calls"),
    ]))
    .await
    .unwrap();
    assert_eq!(turn.calls, [call("c0", "weather", "{}"), call("c1", "cityAttractions", "{}")]);
}

#[tokio::test]
async fn calls_without_ids_get_unique_ones() {
    let turn = stream(sse(&[
        calls(json!([{"index": 0, "function": {"name": "weather", "arguments": "{}"}}])),
        calls(json!([{"index": 1, "id": null, "function": {"name": "weather", "arguments": "{}"}}])),
        calls(json!([{"index": 2, "id": "", "function": {"name": "weather", "arguments": "{}"}}])),
        finish("tool_calls"),
    ]))
    .await
    .unwrap();
    let whole = json!({"choices": [{"message": {"tool_calls": [{"function": {"name": "weather", "arguments": "{}"}}]},
        "finish_reason": "tool_calls"}]});
    let whole = complete(&whole.to_string()).await.unwrap();
    let mut ids: Vec<&str> = turn.calls.iter().chain(&whole.calls).map(|c| c.id.as_str()).collect();
    assert!(ids.iter().all(|id| id.starts_with("call_") && id.len() >= 20), "{ids:?}");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "unique");
}

#[tokio::test]
async fn empty_arguments_of_a_tool_without_parameters_are_an_empty_object() {
    let turn = stream(sse(&[
        calls(json!([{"index": 0, "id": "c0", "function": {"name": "weather", "arguments": ""}}])),
        calls(json!([{"index": 1, "id": "c1", "function": {"name": "weather", "arguments": null}}])),
        finish("tool_calls"),
    ]))
    .await
    .unwrap();
    assert_eq!(turn.calls, [call("c0", "weather", "{}"), call("c1", "weather", "{}")]);

    let whole = json!({"choices": [{"message": {"tool_calls": [
        {"id": "c0", "type": "function", "function": {"name": "weather", "arguments": ""}},
        {"id": "c1", "type": "function", "function": {"name": "weather"}},
        // Some servers send the arguments as an object.
        {"id": "c2", "type": "function", "function": {"name": "weather", "arguments": {"city": "Rome"}}}]},
        "finish_reason": "tool_calls"}]});
    let turn = complete(&whole.to_string()).await.unwrap();
    assert_eq!(
        turn.calls,
        [
            call("c0", "weather", "{}"),
            call("c1", "weather", "{}"),
            call("c2", "weather", r#"{"city":"Rome"}"#)
        ]
    );
}

#[tokio::test]
async fn null_in_every_optional_field() {
    let turn = stream(sse(&[
        json!({"id": null, "object": null, "created": null, "model": null, "choices": null, "usage": null, "error": null})
            .to_string(),
        json!({"choices": [{"index": null, "delta": null, "finish_reason": null, "logprobs": null}]}).to_string(),
        json!({"choices": [{"index": 0, "delta": {"role": null, "content": null, "reasoning_content": null,
            "reasoning": null, "refusal": null, "tool_calls": null}, "finish_reason": null}], "x_groq": null})
        .to_string(),
        calls(json!([{"index": 0, "id": "c0", "type": null, "function": {"name": "weather", "arguments": null}}])),
        calls(json!([{"index": 0, "id": null, "type": null, "function": {"name": null, "arguments": "{}"}}])),
        calls(json!([{"index": 0, "id": null, "type": null, "function": null}])),
        chunk(json!({"content": "done"})),
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": null, "total_tokens": null,
                "prompt_tokens_details": null, "completion_tokens_details": {"reasoning_tokens": null}}})
        .to_string(),
    ]))
    .await
    .unwrap();
    assert_eq!(turn.calls, [call("c0", "weather", "{}")]);
    assert_eq!(turn.text, "done");
    assert_eq!(turn.usage, Some(Usage { input_tokens: 5, total_tokens: 5, ..Usage::default() }));

    let whole = json!({"id": null, "choices": [{"index": null, "message": {"role": "assistant", "content": null,
        "reasoning_content": null, "tool_calls": null, "refusal": null}, "finish_reason": null, "logprobs": null}],
        "usage": {"prompt_tokens": null, "completion_tokens": 2, "total_tokens": null,
            "prompt_tokens_details": null, "completion_tokens_details": null}});
    let turn = complete(&whole.to_string()).await.unwrap();
    assert_eq!(
        turn,
        Turn {
            usage: Some(Usage { output_tokens: 2, total_tokens: 2, ..Usage::default() }),
            usages: 1,
            ..Turn::default()
        }
    );
}

#[tokio::test]
async fn usage_wherever_servers_put_it() {
    // Groq's x_groq only; a count sent as a float; an odd usage object costs nothing else.
    let turn = stream(sse(&[
        chunk(json!({"content": "hi"})),
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            "x_groq": {"id": "req_1", "usage": {"prompt_tokens": 12.0, "completion_tokens": 3, "total_tokens": 15}}})
        .to_string(),
    ]))
    .await
    .unwrap();
    assert_eq!(
        turn.usage,
        Some(Usage { input_tokens: 12, output_tokens: 3, total_tokens: 15, ..Usage::default() })
    );
    let turn = stream(sse(&[
        chunk(json!({"content": "hi"})),
        json!({"choices": [{"delta": {}, "finish_reason": "stop"}], "usage": "n/a"}).to_string(),
    ]))
    .await
    .unwrap();
    assert_eq!((turn.text.as_str(), turn.usage), ("hi", None));
}

const WRAPPER_ARGUMENTS: &str = r#"{"tool_uses":[{"recipient_name":"functions.weather","parameters":{"city":"Rome"}},{"recipient_name":"functions.cityAttractions","parameters":{"city":"Oslo"}}]}"#;

#[tokio::test]
async fn a_parallel_wrapper_becomes_its_calls_streamed_and_whole() {
    let (head, tail) = WRAPPER_ARGUMENTS.split_at(40);
    let turn = stream(sse(&[
        calls(json!([{"index": 0, "id": "call_w", "type": "function", "function": {"name": "multi_tool_use.parallel", "arguments": ""}}])),
        calls(json!([{"index": 0, "function": {"arguments": head}}])),
        calls(json!([{"index": 0, "function": {"arguments": tail}}])),
        calls(json!([{"index": 1, "id": "call_x", "type": "function", "function": {"name": "weather", "arguments": "{}"}}])),
        finish("tool_calls"),
    ]))
    .await
    .unwrap();
    let expected = [
        call("call_w_0", "weather", r#"{"city":"Rome"}"#),
        call("call_w_1", "cityAttractions", r#"{"city":"Oslo"}"#),
        call("call_x", "weather", "{}"),
    ];
    assert_eq!(turn.calls, expected);

    let whole = json!({"choices": [{"message": {"tool_calls": [
        {"id": "call_w", "type": "function", "function": {"name": "multi_tool_use.parallel", "arguments": WRAPPER_ARGUMENTS}},
        {"id": "call_x", "type": "function", "function": {"name": "weather", "arguments": "{}"}}]},
        "finish_reason": "tool_calls"}]});
    assert_eq!(complete(&whole.to_string()).await.unwrap().calls, expected);
}

#[tokio::test]
async fn calls_written_as_text_only_when_asked() {
    let answer =
        "Checking. <tool_call>\n{\"name\": \"weather\", \"arguments\": {\"city\": \"Rome\"}}\n</tool_call>";
    let pieces: Vec<String> =
        answer.as_bytes().chunks(7).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
    let mut events: Vec<String> = pieces.iter().map(|p| chunk(json!({"content": p}))).collect();
    events.push(finish("stop"));
    for on in [false, true] {
        let server = Server::start(Script::sequence([sse(&events)])).await.unwrap();
        let model = model(&server).text_tool_calls(on);
        let request = request();
        let deltas: Vec<ModelDelta> = model.stream(&request).map(|d| d.unwrap()).collect().await;
        let turn = Turn::from_deltas(deltas);
        if on {
            assert_eq!(turn.text, "Checking. ");
            assert_eq!(turn.calls.len(), 1);
            assert_eq!(
                (turn.calls[0].name.as_str(), turn.calls[0].arguments.as_str()),
                ("weather", r#"{"city":"Rome"}"#)
            );
            assert!(turn.calls[0].id.starts_with("call_"));
            assert_eq!(turn.finish, Some(FinishReason::ToolCalls));
        } else {
            assert_eq!((turn.text.as_str(), turn.calls.len()), (answer, 0));
        }
    }

    // Whole: an answer that is only a JSON object naming an offered tool.
    let whole = json!({"choices": [{"message": {"content": "{\"name\": \"cityAttractions\", \"parameters\": {\"city\": \"Oslo\"}}"},
        "finish_reason": "stop"}]});
    let server =
        Server::start(Script::sequence([Reply::raw(Raw::json(200, whole.to_string()))])).await.unwrap();
    let turn = Turn::from_response(model(&server).text_tool_calls(true).complete(&request()).await.unwrap());
    assert_eq!(turn.text, "");
    assert_eq!(
        (turn.calls[0].name.as_str(), turn.calls[0].arguments.as_str()),
        ("cityAttractions", r#"{"city":"Oslo"}"#)
    );
    assert_eq!(turn.finish, Some(FinishReason::ToolCalls));
}

#[tokio::test]
async fn done_without_a_finish_reason_ends_a_turn_that_said_something() {
    let turn =
        stream(sse(&[chunk(json!({"content": "Hel"})), chunk(json!({"content": "lo"}))])).await.unwrap();
    assert_eq!((turn.text.as_str(), turn.finish), ("Hello", None));
    // Nothing at all before `[DONE]` is a broken turn.
    let (_, err) = stream(sse(&[chunk(json!({"role": "assistant"}))])).await.unwrap_err();
    assert!(err.is_incomplete_stream(), "{err}");
}
