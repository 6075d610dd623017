//! OpenAI's objects as the server answers them: chat completions and their chunks, responses and
//! their output items, token usage, the models list; and what a run's end says in them (its
//! text, finish reason, status).

use fanout::RunOutput;
use fanout::models::Usage;
use fanout::output::RunStatus;
use serde_json::{Value, json};

use crate::runs::RunContext;

/// A chat completion's id, derived from its run's.
pub(crate) fn completion_id(run_id: &str) -> String {
    format!("chatcmpl-{run_id}")
}

/// A response's id, derived from its run's, so that a stored run is found again by it.
pub(crate) fn response_id(run_id: &str) -> String {
    format!("resp_{run_id}")
}

/// The run id in a response id (`None` for ids this server did not make).
pub(crate) fn run_id_of(response_id: &str) -> Option<&str> {
    response_id.strip_prefix("resp_").filter(|id| !id.is_empty())
}

/// The id of a response's one message item.
pub(crate) fn message_id(run_id: &str) -> String {
    format!("msg_{run_id}")
}

/// How a run that ended with an output reads in OpenAI's terms.
#[derive(Debug)]
pub(crate) struct Ending {
    /// Text to add to the answer (the note of a paused run), if any.
    pub(crate) note: Option<String>,
    /// Chat completions' `finish_reason`.
    pub(crate) finish_reason: &'static str,
    /// Whether a response is complete (`completed`) or not (`incomplete`: a limit was reached).
    pub(crate) complete: bool,
    /// The frame's terminal status for the registry.
    pub(crate) terminal: &'static str,
}

/// How `output` ended. A run paused for confirmation is a complete answer whose text says so,
/// with its run id, so that it can be continued over AgentOS's `/continue` route (when it is
/// stored: it has a session); a run that hit
/// a turn or tool-call limit is cut short (`length`, `incomplete`).
pub(crate) fn ending(ctx: &RunContext, output: &RunOutput) -> Ending {
    let pending = output.pending_calls();
    if !pending.is_empty() {
        let names: Vec<&str> = pending.iter().map(|c| c.name.as_str()).collect();
        // A run kept nowhere (no session) cannot be continued: the note says so.
        let note = match &ctx.session_id {
            Some(_) => paused_note(&ctx.agent_id, &ctx.run_id, &names),
            None => format!(
                "The run is paused: {} needs the user's confirmation, which cannot be given here; the run \
                 was not stored, so it cannot be continued (send `store: true` to keep it).",
                names.join(", ")
            ),
        };
        return Ending { note: Some(note), finish_reason: "stop", complete: true, terminal: "PAUSED" };
    }
    let complete = matches!(output.status, RunStatus::Completed | RunStatus::StoppedAfterToolCall);
    Ending {
        note: None,
        finish_reason: if complete { "stop" } else { "length" },
        complete,
        terminal: "COMPLETED",
    }
}

/// What a paused run answers: which calls (by tool name) wait, and where the run is continued.
pub(crate) fn paused_note(agent_id: &str, run_id: &str, names: &[&str]) -> String {
    format!(
        "The run is paused: {} needs the user's confirmation. Continue run {run_id} with AgentOS's \
         POST /agents/{agent_id}/runs/{run_id}/continue.",
        names.join(", "),
    )
}

/// The answer's text: the output's content, then the note of a paused run.
pub(crate) fn answer_text(content: &str, ending: &Ending) -> String {
    match &ending.note {
        Some(note) if content.is_empty() => note.clone(),
        Some(note) => format!("{content}\n\n{note}"),
        None => content.to_owned(),
    }
}

/// Chat completions' `usage`.
pub(crate) fn chat_usage(usage: &Usage) -> Value {
    json!({
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_input_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    })
}

/// Responses' `usage`.
pub(crate) fn response_usage(usage: &Usage) -> Value {
    json!({
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_input_tokens, "cache_write_tokens": 0},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens,
    })
}

/// A whole `chat.completion` for a run that ended with `output`.
pub(crate) fn chat_completion(ctx: &RunContext, created: u64, output: &RunOutput) -> Value {
    let ending = ending(ctx, output);
    json!({
        "id": completion_id(&ctx.run_id),
        "object": "chat.completion",
        "created": created,
        "model": ctx.agent_id,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": answer_text(&output.content, &ending), "refusal": null},
            "finish_reason": ending.finish_reason,
            "logprobs": null,
        }],
        "usage": chat_usage(&output.metrics.usage),
    })
}

/// A `chat.completion.chunk` with one choice.
pub(crate) fn chunk(ctx: &RunContext, created: u64, delta: Value, finish_reason: Option<&str>) -> Value {
    json!({
        "id": completion_id(&ctx.run_id),
        "object": "chat.completion.chunk",
        "created": created,
        "model": ctx.agent_id,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": null}],
    })
}

/// A response's message item.
pub(crate) fn message_item(run_id: &str, text: Option<&str>, status: &str) -> Value {
    let content: Vec<Value> = text.map(output_text).into_iter().collect();
    json!({
        "id": message_id(run_id),
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": content,
    })
}

/// An `output_text` content part.
pub(crate) fn output_text(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

/// What every response object of one run shares.
#[derive(Debug, Clone)]
pub(crate) struct ResponseHead {
    /// The run's id.
    pub(crate) run_id: String,
    /// The agent it ran (the model the client named).
    pub(crate) model: String,
    /// When it was created, in Unix seconds.
    pub(crate) created_at: u64,
    /// The response it continued.
    pub(crate) previous_response_id: Option<String>,
    /// Whether it is stored (it can be retrieved and continued).
    pub(crate) store: bool,
    /// The session it is stored in (AgentOS's `/sessions/{id}`).
    pub(crate) session_id: Option<String>,
    /// The user it ran for.
    pub(crate) user: Option<String>,
}

/// A `response` object. `status` is `in_progress`, `completed`, `incomplete`, `failed` or
/// `cancelled`; `error` is the message of a failed one.
pub(crate) fn response(
    head: &ResponseHead,
    status: &str,
    output: Vec<Value>,
    usage: Option<&Usage>,
    error: Option<&str>,
) -> Value {
    json!({
        "id": response_id(&head.run_id),
        "object": "response",
        "created_at": head.created_at,
        "status": status,
        "model": head.model,
        "output": output,
        "usage": usage.map(response_usage),
        "error": error.map(|message| json!({"code": "server_error", "message": message})),
        "incomplete_details": (status == "incomplete").then(|| json!({"reason": null})),
        "previous_response_id": head.previous_response_id,
        "store": head.store,
        "user": head.user,
        "instructions": null,
        "metadata": {},
        "parallel_tool_calls": true,
        "tool_choice": "auto",
        "tools": [],
        "text": {"format": {"type": "text"}},
        "fanout": {"run_id": head.run_id, "session_id": head.session_id},
    })
}

/// A whole `response` for a run that ended with `output`.
pub(crate) fn response_of(ctx: &RunContext, head: &ResponseHead, output: &RunOutput) -> Value {
    let ending = ending(ctx, output);
    let text = answer_text(&output.content, &ending);
    let status = if ending.complete { "completed" } else { "incomplete" };
    let item = message_item(&head.run_id, Some(&text), "completed");
    response(head, status, vec![item], Some(&output.metrics.usage), None)
}

/// A `model`: an agent served here.
pub(crate) fn model(id: &str, created: u64) -> Value {
    json!({"id": id, "object": "model", "created": created, "owned_by": "fanout"})
}
