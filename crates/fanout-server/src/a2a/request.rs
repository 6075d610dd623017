//! What a client sends, read: a `SendMessageRequest` (its message's text and data parts, ids
//! and configuration), and the decisions on a paused run's calls that a message carries.
//!
//! Optional fields are read leniently (unknown ones ignored, a missing `messageId` made up);
//! what decides what runs is read precisely: the parts, the ids, the decisions.

use fanout::agent::Decision;
use fanout::tool::ToolCall;
use serde_json::{Map, Value, json};

use super::error::{A2aError, Kind};
use crate::error::quote;

/// A `SendMessageRequest`, read.
#[derive(Debug)]
pub(crate) struct SendMessage {
    /// The client's message id (made up when it sent none).
    pub(crate) message_id: String,
    /// The context to run in (a session).
    pub(crate) context_id: Option<String>,
    /// The task the message answers (a paused run).
    pub(crate) task_id: Option<String>,
    /// The text parts, one after the other.
    pub(crate) text: String,
    /// The data parts.
    pub(crate) data: Vec<Value>,
    /// The parts as they go into the task's history.
    pub(crate) parts: Vec<Value>,
    /// `configuration.returnImmediately` (or 0.3's `blocking: false`).
    pub(crate) return_immediately: bool,
    /// `configuration.historyLength`.
    pub(crate) history_length: Option<usize>,
}

impl SendMessage {
    /// The input of a new run: the text, then the data parts as JSON; `None` when empty.
    pub(crate) fn input(&self) -> Option<String> {
        let data = self.data.iter().map(Value::to_string);
        let input: Vec<String> =
            std::iter::once(self.text.clone()).chain(data).filter(|s| !s.trim().is_empty()).collect();
        (!input.is_empty()).then(|| input.join("\n"))
    }
}

fn invalid(message: impl Into<String>) -> A2aError {
    A2aError::new(Kind::InvalidParams, message)
}

/// An id a client sends: a non-empty string of at most 256 characters, no control characters.
pub(crate) fn id(value: Option<&Value>, name: &str) -> Result<Option<String>, A2aError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) if id.is_empty() => Ok(None),
        Some(Value::String(id)) if id.chars().count() <= 256 && !id.chars().any(char::is_control) => {
            Ok(Some(id.clone()))
        }
        Some(_) => Err(invalid(format!("`{name}` must be a string of at most 256 characters"))),
    }
}

/// A count a client sends (`historyLength`): a non-negative integer, as a number or a string
/// (ProtoJSON allows both).
pub(crate) fn count(value: Option<&Value>, name: &str) -> Result<Option<usize>, A2aError> {
    let parsed = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
        Some(_) => None,
    };
    parsed
        .map(|n| Some(usize::try_from(n).unwrap_or(usize::MAX)))
        .ok_or_else(|| invalid(format!("`{name}` must be a non-negative integer")))
}

fn flag(config: &Map<String, Value>, name: &str) -> Result<Option<bool>, A2aError> {
    match config.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(invalid(format!("`configuration.{name}` must be true or false"))),
    }
}

/// Read a `SendMessageRequest` (the params of JSON-RPC's `SendMessage`).
pub(crate) fn send_message(body: &Value) -> Result<SendMessage, A2aError> {
    let Some(body) = body.as_object() else {
        return Err(invalid("The request must be a JSON object (a SendMessageRequest)"));
    };
    let Some(message) = body.get("message").and_then(Value::as_object) else {
        return Err(invalid("`message` is required: an object with `role` and `parts`"));
    };
    match message.get("role").and_then(Value::as_str) {
        None | Some("ROLE_USER" | "user" | "ROLE_UNSPECIFIED") => {}
        Some(role) => return Err(invalid(format!("`message.role` must be ROLE_USER, not {}", quote(role)))),
    }
    let Some(parts) = message.get("parts").and_then(Value::as_array).filter(|p| !p.is_empty()) else {
        return Err(invalid("`message.parts` must be a non-empty array"));
    };
    let mut text = String::new();
    let mut data = Vec::new();
    let mut kept = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let Some(part) = part.as_object() else {
            return Err(invalid(format!("`message.parts[{i}]` must be an object")));
        };
        if let Some(t) = part.get("text") {
            let Some(t) = t.as_str() else {
                return Err(invalid(format!("`message.parts[{i}].text` must be a string")));
            };
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(t);
            kept.push(json!({"text": t}));
        } else if let Some(d) = part.get("data") {
            data.push(d.clone());
            kept.push(json!({"data": d, "mediaType": "application/json"}));
        } else if part.contains_key("url") || part.contains_key("raw") || part.contains_key("file") {
            return Err(A2aError::new(
                Kind::ContentTypeNotSupported,
                "Files are not supported: send text or data parts",
            ));
        } else {
            return Err(invalid(format!("`message.parts[{i}]` has no text or data")));
        }
    }
    let empty = Map::new();
    let config = match body.get("configuration") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(config)) => config,
        Some(_) => return Err(invalid("`configuration` must be an object")),
    };
    let return_immediately = match (flag(config, "returnImmediately")?, flag(config, "blocking")?) {
        (Some(immediately), _) => immediately,
        (None, Some(blocking)) => !blocking,
        (None, None) => false,
    };
    Ok(SendMessage {
        message_id: id(message.get("messageId"), "message.messageId")?
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        context_id: id(message.get("contextId"), "message.contextId")?,
        task_id: id(message.get("taskId"), "message.taskId")?,
        text,
        data,
        parts: kept,
        return_immediately,
        history_length: count(config.get("historyLength"), "configuration.historyLength")?,
    })
}

/// The words that approve or reject every pending call, when a message has no decision parts.
fn word(text: &str) -> Option<bool> {
    match text.trim().trim_end_matches(['.', '!']).to_lowercase().as_str() {
        "yes" | "y" | "approve" | "approved" | "ok" | "confirm" | "confirmed" => Some(true),
        "no" | "n" | "reject" | "rejected" | "deny" | "denied" => Some(false),
        _ => None,
    }
}

/// The decisions a message carries on the `pending` calls of a paused task: data parts
/// `{"approved": bool, "note"?: string, "toolCallId"?: string}` (without `toolCallId`, for
/// every call not decided by a part of its own), or the text yes / no. Every call needs one.
pub(crate) fn decisions(
    message: &SendMessage,
    pending: &[ToolCall],
) -> Result<Vec<(String, Decision)>, A2aError> {
    let how = "send a data part {\"approved\": true|false, \"note\": \"…\", \"toolCallId\": \"…\"} \
               (without toolCallId for every call) or the text yes or no";
    let mut each: Vec<(String, Decision)> = Vec::new();
    let mut all: Option<Decision> = None;
    for data in &message.data {
        let Some(approved) = data.get("approved") else {
            return Err(invalid(format!("A data part without `approved`: {how}")));
        };
        let Some(approved) = approved.as_bool() else {
            return Err(invalid("`approved` must be true or false"));
        };
        let note = match data.get("note") {
            None | Some(Value::Null) => None,
            Some(Value::String(note)) => Some(note.clone()),
            Some(_) => return Err(invalid("`note` must be a string")),
        };
        let decision = if approved { Decision::Approve } else { Decision::Reject(note) };
        match id(data.get("toolCallId").or_else(|| data.get("tool_call_id")), "toolCallId")? {
            Some(call) if pending.iter().any(|c| c.id == call) => each.push((call, decision)),
            Some(call) => {
                return Err(invalid(format!("No pending call {} in this task", quote(&call))));
            }
            None => all = Some(decision),
        }
    }
    if message.data.is_empty() {
        match word(&message.text) {
            Some(true) => all = Some(Decision::Approve),
            Some(false) => all = Some(Decision::Reject(None)),
            None => {
                let names: Vec<String> = pending.iter().map(|c| format!("{} ({})", c.name, c.id)).collect();
                return Err(invalid(format!("This task waits for decisions on {}: {how}", names.join(", "))));
            }
        }
    }
    let mut decisions = Vec::new();
    for call in pending {
        let own = each.iter().find(|(id, _)| *id == call.id).map(|(_, d)| d.clone());
        match own.or_else(|| all.clone()) {
            Some(decision) => decisions.push((call.id.clone(), decision)),
            None => {
                return Err(invalid(format!(
                    "No decision on call {} ({}): {how}",
                    call.name,
                    quote(&call.id)
                )));
            }
        }
    }
    Ok(decisions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(parts: Value) -> Result<SendMessage, A2aError> {
        send_message(&json!({"message": {"messageId": "m", "role": "ROLE_USER", "parts": parts}}))
    }

    #[test]
    fn reads_text_and_refuses_files_and_empty_messages() {
        let m = message(json!([{"text": "a"}, {"text": "b"}])).map(|m| m.text).unwrap_or_default();
        assert_eq!(m, "a\nb");
        let file = message(json!([{"url": "http://x"}])).map(|_| ()).unwrap_err();
        assert_eq!(file.kind(), Kind::ContentTypeNotSupported);
        assert_eq!(message(json!([])).map(|_| ()).unwrap_err().kind(), Kind::InvalidParams);
        assert!(send_message(&json!([1])).is_err());
    }

    #[test]
    fn decisions_by_call_for_all_or_by_word() {
        let pending = vec![ToolCall::new("c1", "delete", "{}"), ToolCall::new("c2", "delete", "{}")];
        let parts = json!([{"data": {"approved": false, "toolCallId": "c2", "note": "keep"}}, {"data": {"approved": true}}]);
        let m = message(parts).unwrap_or_else(|e| panic!("{e}"));
        let d = decisions(&m, &pending).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(d[0], (ref id, Decision::Approve) if id == "c1"));
        assert!(matches!(&d[1].1, Decision::Reject(Some(n)) if n == "keep"));
        let yes = message(json!([{"text": " Yes. "}])).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(decisions(&yes, &pending).map(|d| d.len()).unwrap_or_default(), 2);
        let other = message(json!([{"text": "maybe"}])).unwrap_or_else(|e| panic!("{e}"));
        assert!(decisions(&other, &pending).is_err());
        let unknown = message(json!([{"data": {"approved": true, "toolCallId": "zz"}}]))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(decisions(&unknown, &pending).is_err());
    }
}
