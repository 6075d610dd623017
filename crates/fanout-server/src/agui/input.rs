//! AG-UI's `RunAgentInput` (a JSON body), read into what a run needs: the thread, the run id,
//! the user's message and the conversation before it, or the answers to a paused run's
//! interrupts.
//!
//! Read precisely where it matters (`threadId`, `messages`, `resume`: a 422 names what is
//! wrong) and leniently elsewhere: a `runId` fanout cannot use is replaced, unknown message
//! roles and content parts other than text are skipped, `state`, `tools` and `context` are not
//! used (fanout's agents have their own tools and no client state).

use fanout::agent::Decision;
use fanout::models::Message;
use fanout::tool::ToolCall;
use serde_json::{Map, Value};

use crate::error::{ApiError, quote};

/// The longest thread, run or user id accepted.
const MAX_ID: usize = 256;

/// A request to run an agent.
#[derive(Debug)]
pub(crate) struct RunInput {
    /// The conversation: the session the run belongs to.
    pub(crate) thread_id: String,
    /// The client's run id, when fanout can use it as the run's.
    pub(crate) run_id: Option<String>,
    /// `forwardedProps.user_id`, as AgentOS's AG-UI interface reads it.
    pub(crate) user_id: Option<String>,
    /// The text of the last user message.
    pub(crate) text: Option<String>,
    /// The messages before the last user message (the client's copy of the conversation).
    pub(crate) history: Vec<Message>,
    /// Answers to a paused run's interrupts, by interrupt id (a call's id): `resume`'s, or the
    /// tool messages the conversation ends with.
    pub(crate) resume: Vec<(String, Decision)>,
}

fn invalid(detail: impl Into<String>) -> ApiError {
    ApiError::invalid(detail)
}

/// An id fit for a run or a session: short, no control characters.
fn id_like(text: &str) -> bool {
    !text.trim().is_empty() && text.len() <= MAX_ID && !text.chars().any(char::is_control)
}

impl RunInput {
    /// Read a `RunAgentInput` body.
    pub(crate) fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|err| ApiError::bad_request(format!("The body is not valid JSON: {err}")))?;
        let Value::Object(object) = value else {
            return Err(invalid("The body must be a JSON object (AG-UI's RunAgentInput)"));
        };
        let thread_id = match object.get("threadId") {
            Some(Value::String(id)) if id_like(id) => id.clone(),
            Some(Value::String(_)) => {
                return Err(invalid(format!(
                    "threadId must be 1 to {MAX_ID} characters without control characters"
                )));
            }
            Some(_) => return Err(invalid("threadId must be a string")),
            None => return Err(invalid("threadId is required")),
        };
        // A run id fanout cannot key a run by (empty, long, odd characters) is replaced.
        let run_id =
            object.get("runId").and_then(Value::as_str).filter(|id| plain_run_id(id)).map(str::to_owned);
        let user_id = object
            .get("forwardedProps")
            .and_then(|props| props.get("user_id").or_else(|| props.get("userId")))
            .and_then(Value::as_str)
            .filter(|id| id_like(id))
            .map(str::to_owned);
        let messages = match object.get("messages") {
            Some(Value::Array(messages)) => messages.as_slice(),
            Some(_) => return Err(invalid("messages must be an array")),
            None => return Err(invalid("messages is required")),
        };
        let mut resume = resume(&object)?;
        if resume.is_empty() {
            // AgentOS's way (before interrupts): the conversation ends with the answers.
            resume = trailing_answers(messages);
        }
        let (text, history) = conversation(messages)?;
        if resume.is_empty() && text.is_none() {
            return Err(invalid("messages has no user message to answer (and there is no resume)"));
        }
        Ok(Self { thread_id, run_id, user_id, text, history, resume })
    }
}

/// A client run id that can be the run's id as it is.
fn plain_run_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
}

/// The text of a message's content: a string, or the text parts of a list of parts.
fn text_of(content: Option<&Value>) -> Option<String> {
    match content? {
        Value::String(text) => Some(text.clone()),
        Value::Array(parts) => {
            let texts: Vec<&str> = parts
                .iter()
                .filter(|part| part.get("type").and_then(Value::as_str) == Some("text"))
                .filter_map(|part| part.get("text").and_then(Value::as_str))
                .collect();
            (!texts.is_empty()).then(|| texts.join("\n"))
        }
        _ => None,
    }
}

/// The last user message's text, and the messages before it as fanout's.
fn conversation(messages: &[Value]) -> Result<(Option<String>, Vec<Message>), ApiError> {
    let mut roles = Vec::with_capacity(messages.len());
    for (i, message) in messages.iter().enumerate() {
        match message.get("role").and_then(Value::as_str) {
            Some(role) => roles.push(role),
            None => return Err(invalid(format!("messages[{i}] must be an object with a role"))),
        }
    }
    let Some(last_user) = roles.iter().rposition(|role| *role == "user") else {
        return Ok((None, Vec::new()));
    };
    let text = text_of(messages[last_user].get("content"));
    if text.is_none() {
        return Err(invalid(format!("messages[{last_user}] (the last user message) has no text content")));
    }
    let mut history = Vec::new();
    // Tool results name their tool; the call that asked for it does.
    let mut names: Vec<(String, String)> = Vec::new();
    for message in &messages[..last_user] {
        match message.get("role").and_then(Value::as_str) {
            Some("user") => {
                if let Some(text) = text_of(message.get("content")) {
                    history.push(Message::user(text));
                }
            }
            Some("assistant") => {
                let content = text_of(message.get("content")).filter(|t| !t.is_empty());
                let calls: Vec<ToolCall> = message
                    .get("toolCalls")
                    .and_then(Value::as_array)
                    .map(|calls| calls.iter().filter_map(tool_call).collect())
                    .unwrap_or_default();
                names.extend(calls.iter().map(|c| (c.id.clone(), c.name.clone())));
                if content.is_some() || !calls.is_empty() {
                    history.push(Message::assistant(content, calls));
                }
            }
            Some("tool") => {
                let Some(call_id) = message.get("toolCallId").and_then(Value::as_str) else { continue };
                let name = names.iter().find(|(id, _)| id == call_id).map_or("", |(_, name)| name.as_str());
                let error = message.get("error").and_then(Value::as_str);
                let content = text_of(message.get("content")).or_else(|| error.map(str::to_owned));
                history.push(Message::tool_result(
                    call_id,
                    name,
                    content.unwrap_or_default(),
                    error.is_some(),
                ));
            }
            // System and developer messages: the agent sends its own instructions. Reasoning
            // and activity messages are the UI's.
            _ => {}
        }
    }
    Ok((text, history))
}

/// A call of an assistant message, if it has an id and a name.
fn tool_call(call: &Value) -> Option<ToolCall> {
    let id = call.get("id")?.as_str()?;
    let function = call.get("function")?;
    let name = function.get("name")?.as_str()?;
    let arguments = function.get("arguments").and_then(Value::as_str).unwrap_or("{}");
    Some(ToolCall::new(id, name, arguments))
}

/// The tool messages that end `messages`, as AgentOS's AG-UI interface reads them: each answers
/// the call it names, approved when its content is `{"accepted": true}` (or `"approved"`),
/// rejected otherwise (with its `note` or `error`).
fn trailing_answers(messages: &[Value]) -> Vec<(String, Decision)> {
    let trailing =
        messages.iter().rev().take_while(|m| m.get("role").and_then(Value::as_str) == Some("tool"));
    let mut answers: Vec<(String, Decision)> = trailing
        .filter_map(|message| {
            let call_id = message.get("toolCallId").and_then(Value::as_str)?;
            let error = message.get("error").and_then(Value::as_str);
            let payload: Value = text_of(message.get("content"))
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or(Value::Null);
            let approved =
                ["accepted", "approved"].iter().any(|k| payload.get(k) == Some(&Value::Bool(true)));
            let decision = if approved && error.is_none() {
                Decision::Approve
            } else {
                let note = payload.get("note").and_then(Value::as_str).or(error).map(str::to_owned);
                Decision::Reject(note)
            };
            Some((call_id.to_owned(), decision))
        })
        .collect();
    answers.reverse();
    answers
}

/// The answers in `resume`: `resolved` approves the call unless the payload is `false` or
/// `{"approved": false}` (Agno's `{"accepted": false}` too; a `note` is passed on to the model);
/// `cancelled` rejects it.
fn resume(object: &Map<String, Value>) -> Result<Vec<(String, Decision)>, ApiError> {
    let entries = match object.get("resume") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(entries)) => entries,
        Some(_) => return Err(invalid("resume must be an array of resume entries")),
    };
    let mut decisions = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let Some(id) = entry.get("interruptId").and_then(Value::as_str) else {
            return Err(invalid(format!("resume[{i}] has no interruptId")));
        };
        let payload = entry.get("payload").unwrap_or(&Value::Null);
        let note = payload.get("note").and_then(Value::as_str).map(str::to_owned);
        let decision = match entry.get("status").and_then(Value::as_str) {
            Some("cancelled") => Decision::Reject(note.or_else(|| Some("cancelled by the user".to_owned()))),
            Some("resolved") => {
                let approved = match payload {
                    Value::Bool(approved) => *approved,
                    Value::Object(fields) => fields
                        .get("approved")
                        .or_else(|| fields.get("accepted"))
                        .and_then(Value::as_bool)
                        .unwrap_or(true),
                    _ => true,
                };
                if approved { Decision::Approve } else { Decision::Reject(note) }
            }
            Some(other) => {
                return Err(invalid(format!(
                    "resume[{i}].status must be \"resolved\" or \"cancelled\", not {}",
                    quote(other)
                )));
            }
            None => return Err(invalid(format!("resume[{i}] has no status"))),
        };
        decisions.push((id.to_owned(), decision));
    }
    Ok(decisions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<RunInput, ApiError> {
        RunInput::parse(value.to_string().as_bytes())
    }

    #[test]
    fn the_last_user_message_is_the_input_and_the_rest_history() {
        let input = parse(json!({
            "threadId": "t1", "runId": "r1",
            "messages": [
                {"id": "1", "role": "user", "content": "Hi"},
                {"id": "2", "role": "assistant", "content": "", "toolCalls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                {"id": "3", "role": "tool", "toolCallId": "c1", "content": "ok"},
                {"id": "4", "role": "assistant", "content": "Hello"},
                {"id": "5", "role": "user", "content": [{"type": "text", "text": "Again"}]},
            ],
        }))
        .unwrap();
        assert_eq!(input.text.as_deref(), Some("Again"));
        assert_eq!(input.run_id.as_deref(), Some("r1"));
        assert_eq!(input.history.len(), 4);
        assert_eq!(input.history[2], Message::tool_result("c1", "f", "ok", false));
    }

    #[test]
    fn malformed_inputs_are_refused_with_what_is_wrong() {
        let no_thread = parse(json!({"runId": "r", "messages": []})).unwrap_err();
        assert!(no_thread.detail().contains("threadId"), "{no_thread}");
        let no_user = parse(json!({"threadId": "t", "runId": "r", "messages": []})).unwrap_err();
        assert!(no_user.detail().contains("no user message"), "{no_user}");
        let bad_status = parse(json!({"threadId": "t", "runId": "r", "messages": [],
            "resume": [{"interruptId": "c", "status": "maybe"}]}))
        .unwrap_err();
        assert!(bad_status.detail().contains("status"), "{bad_status}");
        assert_eq!(RunInput::parse(b"{").unwrap_err().status(), 400);
    }

    #[test]
    fn trailing_tool_messages_answer_calls_as_agentos_reads_them() {
        let input = parse(json!({"threadId": "t", "runId": "r", "messages": [
            {"id": "1", "role": "user", "content": "Delete both"},
            {"id": "2", "role": "assistant", "toolCalls": []},
            {"id": "3", "role": "tool", "toolCallId": "a", "content": "{\"accepted\": true}"},
            {"id": "4", "role": "tool", "toolCallId": "b", "content": "{\"accepted\": false, \"note\": \"no\"}"},
        ]}))
        .unwrap();
        assert_eq!(
            input.resume,
            [("a".to_owned(), Decision::Approve), ("b".to_owned(), Decision::Reject(Some("no".to_owned())))]
        );
    }

    #[test]
    fn resume_entries_are_decisions() {
        let input = parse(json!({"threadId": "t", "runId": "bad id!", "messages": [], "resume": [
            {"interruptId": "a", "status": "resolved"},
            {"interruptId": "b", "status": "resolved", "payload": {"approved": false, "note": "no"}},
            {"interruptId": "c", "status": "cancelled"},
        ]}))
        .unwrap();
        assert_eq!(input.run_id, None);
        assert_eq!(input.resume[0], ("a".to_owned(), Decision::Approve));
        assert_eq!(input.resume[1], ("b".to_owned(), Decision::Reject(Some("no".to_owned()))));
        assert!(matches!(input.resume[2].1, Decision::Reject(_)));
    }
}
