//! [`ScriptedModel`]: a deterministic [`Model`] for offline demos and for testing your own agents.
//!
//! It answers from a script instead of a network, through the same [`ModelDelta`]s as a real
//! provider, so the run loop, the executor, the events and the printer behave exactly as they do
//! with OpenAI. Token counts are synthetic (about four characters a token).
//!
//! The turn it plays is chosen from the request itself — the number of assistant messages since
//! the last user message (the first one when the request has an output schema, so that
//! structured output's repair turns play the next turn) — so one scripted model can serve many
//! concurrent runs.
//!
//! ```
//! use fanout::models::scripted::{ScriptedModel, Turn};
//! use fanout::prelude::*;
//!
//! /// Look up the weather
//! #[tool]
//! fn weather(city: String) -> String { format!("Sunny in {city}") }
//!
//! # #[tokio::main] async fn main() -> fanout::Result<()> {
//! let model = ScriptedModel::new([
//!     Turn::call("weather", serde_json::json!({"city": "Paris"})),
//!     Turn::text("It is sunny in Paris."),
//! ]);
//! let agent = Agent::builder().model(model.clone()).tool(weather).build()?;
//! let output = agent.run("Weather in Paris?").await?;
//!
//! assert_eq!(output.content, "It is sunny in Paris.");
//! assert_eq!(output.tool_executions[0].call.name, "weather");
//! assert_eq!(output.tool_executions[0].result.as_deref(), Ok("Sunny in Paris"));
//! assert_eq!(model.requests().len(), 2);
//! # Ok(()) }
//! ```

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{StreamExt, stream};
use serde_json::Value;

use super::{DeltaStream, FinishReason, Message, Model, ModelDelta, ModelRequest, ModelResponse, Usage};
use crate::error::{Error, Result};
use crate::tool::ToolCall;

/// One scripted model turn.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Turn {
    /// Call these tools, in this order: `(name, arguments)`.
    ToolCalls(Vec<(String, Value)>),
    /// Call every tool the agent offers, in the order offered, with the same arguments.
    CallEveryTool(Value),
    /// Answer with this text.
    Text(String),
    /// Answer with a markdown table of the tool results received in the previous turn.
    SummarizeResults,
}

impl Turn {
    /// Call one tool.
    pub fn call(name: impl Into<String>, arguments: Value) -> Self {
        Turn::ToolCalls(vec![(name.into(), arguments)])
    }

    /// Call several tools at once.
    pub fn calls<N: Into<String>>(calls: impl IntoIterator<Item = (N, Value)>) -> Self {
        Turn::ToolCalls(calls.into_iter().map(|(n, a)| (n.into(), a)).collect())
    }

    /// Call every offered tool with `arguments`.
    pub fn call_every_tool(arguments: Value) -> Self {
        Turn::CallEveryTool(arguments)
    }

    /// Answer with `text`.
    pub fn text(text: impl Into<String>) -> Self {
        Turn::Text(text.into())
    }

    /// Answer with a markdown summary of the tool results received.
    pub fn summarize_results() -> Self {
        Turn::SummarizeResults
    }
}

/// How a scripted stream is paced, to look and behave like a real model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pacing {
    /// Characters per streamed text token (0 = the whole text in one delta).
    pub token_chars: usize,
    /// Wait before each text token.
    pub token_delay: Duration,
    /// Characters per tool-call argument fragment (0 = one fragment).
    pub fragment_chars: usize,
    /// Wait per argument fragment: a call is complete after all its fragments arrived.
    pub fragment_delay: Duration,
}

/// A deterministic model that plays a script. Cloning shares the script and the request log.
#[derive(Debug, Clone)]
pub struct ScriptedModel {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    id: String,
    turns: Vec<Turn>,
    pacing: Pacing,
    allow_unknown_tools: bool,
    requests: Mutex<Vec<ModelRequest>>,
}

impl ScriptedModel {
    /// A model playing `turns`, one per model turn of a run.
    pub fn new(turns: impl IntoIterator<Item = Turn>) -> Self {
        Self::build(turns.into_iter().collect(), Pacing::default(), false)
    }

    /// The seed example's script: call every tool with `arguments`, then summarize the results.
    /// Text streams in word-sized tokens with a small delay, like a real model.
    pub fn call_every_tool_then_summarize(arguments: Value) -> Self {
        Self::new([Turn::call_every_tool(arguments), Turn::summarize_results()]).with_pacing(Pacing {
            token_chars: 6,
            token_delay: Duration::from_millis(15),
            fragment_chars: 0,
            fragment_delay: Duration::ZERO,
        })
    }

    /// Pace the stream (see [`Pacing`]).
    pub fn with_pacing(self, pacing: Pacing) -> Self {
        Self::build(self.inner.turns.clone(), pacing, self.inner.allow_unknown_tools)
    }

    /// Let the script call tools the agent does not offer (to test how your agent copes).
    /// Otherwise such a turn is an error of kind [`ErrorKind::Other`](crate::error::ErrorKind::Other).
    pub fn allow_unknown_tools(self) -> Self {
        Self::build(self.inner.turns.clone(), self.inner.pacing.clone(), true)
    }

    fn build(turns: Vec<Turn>, pacing: Pacing, allow_unknown_tools: bool) -> Self {
        let inner =
            Inner { id: "scripted".into(), turns, pacing, allow_unknown_tools, requests: Mutex::default() };
        Self { inner: Arc::new(inner) }
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<ModelRequest> {
        self.inner.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Work out the response to `request` from the script.
    fn respond(&self, request: &ModelRequest) -> Result<ModelResponse> {
        if let Ok(mut log) = self.inner.requests.lock() {
            log.push(request.clone());
        }
        let is_user = |m: &&Message| matches!(m, Message::User { .. });
        let turn_index = if request.output_schema.is_some() {
            // The repair turns of structured output (a user message saying what was wrong)
            // continue the script: count from the run's first user message.
            let from_first = request.messages.iter().skip_while(|m| !is_user(m));
            from_first.filter(|m| matches!(m, Message::Assistant { .. })).count()
        } else {
            let since_user = request.messages.iter().rev().take_while(|m| !is_user(m));
            since_user.filter(|m| matches!(m, Message::Assistant { .. })).count()
        };
        let turn = self.inner.turns.get(turn_index).ok_or_else(|| {
            script_error(format!(
                "the script has {} turn(s) but the run asked for turn {}",
                self.inner.turns.len(),
                turn_index + 1
            ))
        })?;
        let offered: Vec<&str> = request.tools.iter().map(|t| t.name.as_str()).collect();
        let calls: Vec<(String, String)> = match turn {
            Turn::ToolCalls(calls) => calls.iter().map(|(n, a)| (n.clone(), a.to_string())).collect(),
            Turn::CallEveryTool(args) => {
                offered.iter().map(|n| ((*n).to_owned(), args.to_string())).collect()
            }
            Turn::Text(text) => return Ok(self.answered(turn_index, text_response(text.clone(), request))),
            Turn::SummarizeResults => {
                return Ok(self.answered(turn_index, text_response(summarize(&request.messages), request)));
            }
        };
        if let Some((name, _)) = calls.iter().find(|(n, _)| !offered.contains(&n.as_str()))
            && !self.inner.allow_unknown_tools
        {
            return Err(script_error(format!(
                "turn {} calls `{name}`, which the agent does not offer (tools: {})",
                turn_index + 1,
                if offered.is_empty() { "none".to_owned() } else { offered.join(", ") }
            )));
        }
        let tool_calls: Vec<ToolCall> = calls
            .into_iter()
            .enumerate()
            .map(|(i, (name, arguments))| {
                ToolCall::new(format!("call_{}_{}", turn_index + 1, i + 1), name, arguments)
            })
            .collect();
        let output_chars: usize = tool_calls.iter().map(|c| c.name.len() + c.arguments.len()).sum();
        let response = ModelResponse {
            tool_calls,
            usage: Some(usage(request, output_chars)),
            finish_reason: Some(FinishReason::ToolCalls),
            ..ModelResponse::default()
        };
        Ok(self.answered(turn_index, response))
    }

    /// `response`, saying who answered: this model, with an id naming the script's turn.
    fn answered(&self, turn_index: usize, response: ModelResponse) -> ModelResponse {
        let id = Some(format!("{}-turn-{}", self.inner.id, turn_index + 1));
        ModelResponse { id, model: Some(self.inner.id.clone()), ..response }
    }
}

fn text_response(text: String, request: &ModelRequest) -> ModelResponse {
    let usage = usage(request, text.len());
    ModelResponse {
        content: Some(text),
        usage: Some(usage),
        finish_reason: Some(FinishReason::Stop),
        ..ModelResponse::default()
    }
}

/// Synthetic token counts: about four characters a token.
fn usage(request: &ModelRequest, output_chars: usize) -> Usage {
    let input_chars: usize = request
        .messages
        .iter()
        .map(|m| match m {
            Message::System { content } | Message::User { content } | Message::Tool { content, .. } => {
                content.len()
            }
            Message::Assistant { content, tool_calls, .. } => {
                content.as_deref().map_or(0, str::len)
                    + tool_calls.iter().map(|c| c.arguments.len()).sum::<usize>()
            }
        })
        .sum();
    let input_tokens = input_chars.div_ceil(4) as u64;
    let output_tokens = output_chars.div_ceil(4) as u64;
    Usage { input_tokens, output_tokens, total_tokens: input_tokens + output_tokens, ..Usage::default() }
}

/// A markdown table of the tool results after the last assistant message, sorted by tool name.
fn summarize(messages: &[Message]) -> String {
    let mut results: Vec<(&str, &str)> = messages
        .iter()
        .rev()
        .take_while(|m| matches!(m, Message::Tool { .. }))
        .filter_map(|m| match m {
            Message::Tool { name, content, .. } => Some((name.as_str(), content.as_str())),
            _ => None,
        })
        .collect();
    if results.is_empty() {
        return "There were no tool results to summarize.".to_owned();
    }
    results.sort_by_key(|(name, _)| *name);
    let mut text = String::from("All tasks have finished.\n\n| # | result |\n|---|---|\n");
    for (i, (_, content)) in results.iter().enumerate() {
        let cell = content.replace('|', "\\|").replace('\n', " ");
        let _ = writeln!(text, "| {} | {cell} |", i + 1);
    }
    text.push_str("\nDone.");
    text
}

/// Split `text` into pieces of about `size` characters (whole text when `size` is 0).
fn pieces(text: &str, size: usize) -> Vec<String> {
    if size == 0 || text.is_empty() {
        return vec![text.to_owned()];
    }
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

impl Model for ScriptedModel {
    fn id(&self) -> &str {
        &self.inner.id
    }

    fn provider(&self) -> &'static str {
        "scripted"
    }

    fn complete<'a>(&'a self, request: &'a ModelRequest) -> BoxFuture<'a, Result<ModelResponse>> {
        Box::pin(std::future::ready(self.respond(request)))
    }

    fn stream<'a>(&'a self, request: &'a ModelRequest) -> DeltaStream<'a> {
        let response = match self.respond(request) {
            Ok(response) => response,
            Err(err) => return stream::once(std::future::ready(Err(err))).boxed(),
        };
        let pacing = &self.inner.pacing;
        let mut deltas: Vec<(Duration, ModelDelta)> = Vec::new();
        let (id, model) = (response.id, response.model);
        deltas.push((Duration::ZERO, ModelDelta::Response { id, model }));
        if let Some(text) = &response.content {
            deltas.extend(
                pieces(text, pacing.token_chars)
                    .into_iter()
                    .map(|p| (pacing.token_delay, ModelDelta::Text(p))),
            );
        }
        for (index, call) in response.tool_calls.into_iter().enumerate() {
            let fragments = pieces(&call.arguments, pacing.fragment_chars).len() as u32;
            deltas.push((pacing.fragment_delay * fragments, ModelDelta::ToolCall { index, call }));
        }
        if let Some(usage) = response.usage {
            deltas.push((Duration::ZERO, ModelDelta::Usage(usage)));
        }
        if let Some(reason) = response.finish_reason {
            deltas.push((Duration::ZERO, ModelDelta::Finish(reason)));
        }
        stream::iter(deltas)
            .then(|(delay, delta)| async move {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                Ok(delta)
            })
            .boxed()
    }
}

/// A script that cannot be played: a mistake in the test, never worth retrying.
fn script_error(message: String) -> Error {
    Error::new(crate::error::ErrorKind::Other, message).with_provider("scripted model")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::tool::ToolDefinition;

    fn request(messages: Vec<Message>, tools: &[&str]) -> ModelRequest {
        let tools: Vec<Arc<ToolDefinition>> = tools
            .iter()
            .map(|n| {
                Arc::new(ToolDefinition {
                    name: (*n).into(),
                    description: String::new(),
                    parameters: serde_json::json!({}),
                    strict: false,
                })
            })
            .collect();
        ModelRequest { messages, tools: tools.into(), ..ModelRequest::default() }
    }

    #[test]
    fn turn_is_chosen_from_the_conversation() {
        let model = ScriptedModel::new([
            Turn::call_every_tool(serde_json::json!({"delay": 3})),
            Turn::summarize_results(),
        ]);
        let first = model.respond(&request(vec![Message::user("go")], &["b", "a"])).unwrap();
        let names: Vec<_> = first.tool_calls.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["b", "a"]);
        assert_eq!(first.tool_calls[0].arguments, r#"{"delay":3}"#);

        let mut messages = vec![
            Message::user("go"),
            Message::Assistant { content: None, tool_calls: first.tool_calls.clone(), replay: None },
        ];
        messages.push(Message::Tool {
            call_id: "1".into(),
            name: "b".into(),
            content: "B done".into(),
            is_error: false,
        });
        messages.push(Message::Tool {
            call_id: "2".into(),
            name: "a".into(),
            content: "A done".into(),
            is_error: false,
        });
        let second = model.respond(&request(messages, &["b", "a"])).unwrap();
        assert_eq!(
            second.content.as_deref(),
            Some(
                "All tasks have finished.\n\n| # | result |\n|---|---|\n| 1 | A done |\n| 2 | B done |\n\nDone."
            )
        );
    }

    #[test]
    fn running_out_of_turns_and_unknown_tools_are_errors() {
        let model = ScriptedModel::new([Turn::call("missing", serde_json::json!({}))]);
        let err = model.respond(&request(vec![Message::user("go")], &["present"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "scripted model: turn 1 calls `missing`, which the agent does not offer (tools: present)"
        );
        let done = vec![
            Message::user("go"),
            Message::Assistant { content: Some("x".into()), tool_calls: vec![], replay: None },
        ];
        let err = model.respond(&request(done, &[])).unwrap_err();
        assert_eq!(err.to_string(), "scripted model: the script has 1 turn(s) but the run asked for turn 2");
    }

    #[tokio::test(start_paused = true)]
    async fn stream_is_paced_and_complete() {
        let model = ScriptedModel::new([Turn::text("hello world")]).with_pacing(Pacing {
            token_chars: 5,
            token_delay: Duration::from_millis(10),
            ..Pacing::default()
        });
        let req = request(vec![Message::user("hi")], &[]);
        let start = tokio::time::Instant::now();
        let deltas: Vec<_> = model.stream(&req).map(|d| d.unwrap()).collect().await;
        assert_eq!(start.elapsed(), Duration::from_millis(30));
        let who = ModelDelta::Response { id: Some("scripted-turn-1".into()), model: Some("scripted".into()) };
        assert_eq!(deltas[0], who, "who answered comes first");
        assert_eq!(deltas[1], ModelDelta::Text("hello".into()));
        assert_eq!(deltas[3], ModelDelta::Text("d".into()));
        assert!(matches!(deltas[4], ModelDelta::Usage(_)));
        assert_eq!(deltas[5], ModelDelta::Finish(FinishReason::Stop));
    }
}
