//! fanout's data in AgentOS's JSON shapes: run outputs (`agno.run.agent.RunOutput`), tool
//! executions (`agno.models.response.ToolExecution`), messages (`agno.models.message.Message`),
//! stored runs (`RunSchema`) and sessions (`SessionSchema`, `AgentSessionDetailSchema`).
//!
//! Fields Agno does not know ride along under `fanout`; Agno's `from_dict`s drop them.

use std::time::{Duration, SystemTime};

use fanout::models::{Message, Usage};
use fanout::output::PausedRun;
use fanout::store::{RunState, SessionInfo, StoredRun};
use fanout::tool::ToolCall;
use fanout::{Metrics, RunOutput, RunStatus, ToolExecution};
use serde_json::{Map, Value, json};

use crate::runs::RunContext;
use crate::time::{secs, secs_f64};

/// A call's arguments as Agno's `tool_args` (an object); text that is not a JSON object is
/// kept under `fanout.raw_arguments` by the callers.
pub(crate) fn tool_args(call: &ToolCall) -> Value {
    match serde_json::from_str::<Value>(&call.arguments) {
        Ok(Value::Object(args)) => Value::Object(args),
        _ => Value::Object(Map::new()),
    }
}

/// A call that has started, not finished.
pub(crate) fn started_call(call: &ToolCall, at: SystemTime) -> Value {
    json!({
        "tool_call_id": call.id,
        "tool_name": call.name,
        "tool_args": tool_args(call),
        "created_at": secs(at),
        "stop_after_tool_call": false,
    })
}

/// A finished call.
pub(crate) fn tool_execution(execution: &ToolExecution) -> Value {
    let start = secs_f64(execution.started_at);
    let duration = execution.duration.as_secs_f64();
    json!({
        "tool_call_id": execution.call.id,
        "tool_name": execution.call.name,
        "tool_args": tool_args(&execution.call),
        "tool_call_error": execution.is_error(),
        "result": execution.content_for_model(),
        "metrics": {"start_time": start, "end_time": start + duration, "duration": duration},
        "created_at": secs(execution.started_at),
        "stop_after_tool_call": false,
        "fanout": {"waited": execution.waited.as_secs_f64()},
    })
}

/// A call waiting for the user's confirmation.
pub(crate) fn pending_call(call: &ToolCall, at: SystemTime) -> Value {
    json!({
        "tool_call_id": call.id,
        "tool_name": call.name,
        "tool_args": tool_args(call),
        "created_at": secs(at),
        "stop_after_tool_call": false,
        "requires_confirmation": true,
    })
}

/// Agno's `RunRequirement` for a call waiting for confirmation.
pub(crate) fn requirement(call: &ToolCall, at: SystemTime) -> Value {
    json!({
        "id": call.id,
        "created_at": crate::time::rfc3339(at),
        "tool_execution": pending_call(call, at),
    })
}

/// One message.
pub(crate) fn message(message: &Message, at: SystemTime) -> Value {
    let created_at = secs(at);
    match message {
        Message::System { content } => {
            json!({"role": "system", "content": content, "created_at": created_at})
        }
        Message::User { content } => json!({"role": "user", "content": content, "created_at": created_at}),
        Message::Assistant { content, tool_calls, .. } => {
            let mut value = json!({"role": "assistant", "content": content, "created_at": created_at});
            if !tool_calls.is_empty() {
                value["tool_calls"] = tool_calls
                    .iter()
                    .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}))
                    .collect();
            }
            value
        }
        Message::Tool { call_id, name, content, is_error } => json!({
            "role": "tool",
            "content": content,
            "tool_call_id": call_id,
            "tool_name": name,
            "tool_call_error": is_error,
            "created_at": created_at,
        }),
        _ => json!({"role": "unknown", "created_at": created_at}),
    }
}

/// Token counts and timings as Agno's `RunMetrics`.
pub(crate) fn metrics(metrics: &Metrics) -> Value {
    let mut value = usage(&metrics.usage);
    value["duration"] = json!(metrics.duration.as_secs_f64());
    if let Some(ttft) = metrics.time_to_first_token {
        value["time_to_first_token"] = json!(ttft.as_secs_f64());
    }
    value
}

pub(crate) fn usage(usage: &Usage) -> Value {
    json!({
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "cache_read_tokens": usage.cached_input_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
    })
}

/// How a fanout run ended, as Agno's `RunStatus`.
pub(crate) fn status(status: &RunStatus) -> &'static str {
    match status {
        RunStatus::Paused { .. } => "PAUSED",
        _ => "COMPLETED",
    }
}

/// fanout's own name for how a run ended (`completed`, `max_turns_reached` …).
fn fanout_status(status: &RunStatus) -> Value {
    serde_json::to_value(status).map(|v| v["status"].clone()).unwrap_or(Value::Null)
}

/// The first user message of `messages`: the run's input.
fn input_of(messages: &[Message]) -> Option<&str> {
    messages.iter().find_map(|m| match m {
        Message::User { content } => Some(content.as_str()),
        _ => None,
    })
}

/// A finished (or paused) run, as Agno's `RunOutput.to_dict()`.
pub(crate) fn run_output(ctx: &RunContext, output: &RunOutput) -> Value {
    let mut tools: Vec<Value> = output.tool_executions.iter().map(tool_execution).collect();
    let pending = output.pending_calls();
    tools.extend(pending.iter().map(|c| pending_call(c, output.created_at)));
    let mut value = json!({
        "run_id": output.run_id,
        "agent_id": ctx.agent_id,
        "agent_name": ctx.agent_name,
        "session_id": output.session_id,
        "user_id": output.user_id,
        "input": {"input_content": input_of(output.new_messages()).unwrap_or_default()},
        "content": output.content,
        "content_type": "str",
        "model": ctx.model,
        "model_provider": ctx.provider,
        "messages": output.all_messages().iter().map(|m| message(m, output.created_at)).collect::<Vec<_>>(),
        "metrics": metrics(&output.metrics),
        "tools": tools,
        "status": status(&output.status),
        "created_at": secs(output.created_at),
        "fanout": {"status": fanout_status(&output.status)},
    });
    if let Some(structured) = &output.structured {
        value["fanout"]["structured"] = structured.clone();
    }
    if !pending.is_empty() {
        value["requirements"] = pending.iter().map(|c| requirement(c, output.created_at)).collect();
    }
    value
}

/// A run that ended with an error (or was cancelled), as Agno reports one: status `ERROR` (or
/// `CANCELLED`) and the message as its content.
pub(crate) fn failed_output(ctx: &RunContext, err: &fanout::Error, created_at: SystemTime) -> Value {
    let cancelled = err.is_cancelled();
    json!({
        "run_id": ctx.run_id,
        "agent_id": ctx.agent_id,
        "agent_name": ctx.agent_name,
        "session_id": ctx.session_id,
        "user_id": ctx.user_id,
        "content": err.message(),
        "content_type": "str",
        "model": ctx.model,
        "model_provider": ctx.provider,
        "status": if cancelled { "CANCELLED" } else { "ERROR" },
        "created_at": secs(created_at),
        "fanout": {"error": err},
    })
}

/// A stored run's state as Agno's `RunStatus`.
pub(crate) fn state(state: RunState) -> &'static str {
    match state {
        RunState::Running => "RUNNING",
        RunState::Paused => "PAUSED",
        RunState::Completed => "COMPLETED",
        RunState::Cancelled => "CANCELLED",
        // Agno has no "interrupted": the run stopped without an answer.
        _ => "ERROR",
    }
}

/// Tool executions rebuilt from a stored run's messages (calls and their results; no timings).
fn stored_tools(run: &StoredRun) -> Vec<Value> {
    let at = run.record.created_at;
    let mut tools = Vec::new();
    for message in &run.messages {
        if let Message::Assistant { tool_calls, .. } = message {
            for call in tool_calls {
                let result = run.messages.iter().find_map(|m| match m {
                    Message::Tool { call_id, content, is_error, .. } if call_id == &call.id => {
                        Some((content, *is_error))
                    }
                    _ => None,
                });
                let mut tool = started_call(call, at);
                if let Some((content, is_error)) = result {
                    tool["result"] = json!(content);
                    tool["tool_call_error"] = json!(is_error);
                }
                tools.push(tool);
            }
        }
    }
    tools
}

/// A stored run: Agno's `RunSchema`, which doubles as a `RunOutput` dict (`run_input` and
/// `input` both given).
pub(crate) fn stored_run(run: &StoredRun, agent_id: Option<&str>) -> Value {
    let at = run.record.created_at;
    let input = input_of(&run.messages).unwrap_or_default();
    let mut value = json!({
        "run_id": run.record.run_id,
        "parent_run_id": run.record.parent_run_id,
        "agent_id": agent_id,
        "agent_name": run.record.agent_id,
        "user_id": run.record.user_id,
        "session_id": run.record.session_id,
        "status": state(run.state),
        "run_input": input,
        "input": {"input_content": input},
        "content_type": "str",
        "messages": run.messages.iter().map(|m| message(m, at)).collect::<Vec<_>>(),
        "tools": stored_tools(run),
        "created_at": secs(at),
        "updated_at": secs(run.updated_at),
        "fanout": {"state": run.state.as_str()},
    });
    let data = run.data.as_ref();
    match run.state {
        RunState::Completed => {
            if let Some(data) = data {
                value["content"] = data.get("content").cloned().unwrap_or(Value::Null);
                if let Some(m) =
                    data.get("metrics").and_then(|m| serde_json::from_value::<Metrics>(m.clone()).ok())
                {
                    value["metrics"] = metrics(&m);
                }
                value["fanout"]["status"] =
                    data.get("status").and_then(|s| s.get("status")).cloned().unwrap_or(Value::Null);
            }
        }
        RunState::Paused => {
            if let Some(paused) = data.and_then(|d| serde_json::from_value::<PausedRun>(d.clone()).ok()) {
                let pending: Vec<&ToolCall> = paused.pending_calls().collect();
                if let Some(tools) = value["tools"].as_array_mut() {
                    // The pending calls are in the stored assistant message without results;
                    // mark them as waiting for confirmation.
                    for tool in tools.iter_mut() {
                        if pending.iter().any(|c| tool["tool_call_id"] == c.id.as_str()) {
                            tool["requires_confirmation"] = json!(true);
                        }
                    }
                }
                value["requirements"] = pending.iter().map(|c| requirement(c, at)).collect();
            }
        }
        _ => {
            if let Some(message) = data.and_then(|d| d.get("message")).and_then(Value::as_str) {
                value["content"] = json!(message);
            }
            if let Some(data) = data {
                value["fanout"]["error"] = data.clone();
            }
        }
    }
    value
}

/// A session's name: the one it was given, or its first message (as Agno names sessions).
pub(crate) fn session_name(info: &SessionInfo, first_input: Option<&str>) -> String {
    if let Some(name) = &info.name {
        return name.clone();
    }
    first_input.map(|text| text.chars().take(100).collect()).unwrap_or_default()
}

/// A session in a listing: Agno's `SessionSchema`.
pub(crate) fn session(info: &SessionInfo, name: String, agent_id: Option<String>) -> Value {
    json!({
        "session_id": info.session_id,
        "session_name": name,
        "session_type": "agent",
        "user_id": info.user_id,
        "agent_id": agent_id.unwrap_or_else(|| "agent".to_owned()),
        "created_at": secs(info.created_at),
        "updated_at": secs(info.updated_at),
        "session_state": {},
        "fanout": {"runs": info.runs},
    })
}

/// One session with its conversation: Agno's `AgentSessionDetailSchema`.
pub(crate) fn session_detail(info: &SessionInfo, runs: &[StoredRun], agent_id: Option<String>) -> Value {
    let first_input = runs.first().and_then(|r| input_of(&r.messages));
    let chat_history: Vec<Value> = runs
        .iter()
        .filter(|r| r.state == RunState::Completed)
        .flat_map(|r| r.messages.iter().map(|m| message(m, r.record.created_at)))
        .collect();
    let mut total = Usage::default();
    for run in runs {
        if let Some(m) = run
            .data
            .as_ref()
            .and_then(|d| d.get("metrics"))
            .and_then(|m| serde_json::from_value::<Metrics>(m.clone()).ok())
        {
            total += m.usage;
        }
    }
    let agent_id = agent_id.unwrap_or_else(|| "agent".to_owned());
    json!({
        "user_id": info.user_id,
        "agent_session_id": info.session_id,
        "session_id": info.session_id,
        "session_name": session_name(info, first_input),
        "session_state": {},
        "agent_id": agent_id,
        "total_tokens": total.total_tokens,
        "metrics": usage(&total),
        "agent_data": {"agent_id": agent_id, "name": info.agent_id},
        "chat_history": chat_history,
        "created_at": secs(info.created_at),
        "updated_at": secs(info.updated_at),
        "fanout": {"runs": info.runs},
    })
}

/// Seconds, for durations in events.
pub(crate) fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}
