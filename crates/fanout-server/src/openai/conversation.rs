//! The conversation a client sends — chat completion `messages`, a response's `input` items —
//! as the run's input (the last user message) and its history (the messages before it).
//!
//! Text only: content parts other than text (images, audio, files) are refused with a 400 that
//! names them. `system` and `developer` messages are skipped: the agent keeps its own system
//! prompt (its instructions are the server's to set, not the client's).

use fanout::models::Message;
use fanout::tool::ToolCall;
use serde_json::Value;

use super::error::OpenAiError;

/// What a run starts from: its input and the history before it.
#[derive(Debug, Default)]
pub(crate) struct Conversation {
    /// The last user message.
    pub(crate) input: String,
    /// The messages before it.
    pub(crate) history: Vec<Message>,
}

/// Chat completion `messages`: user, assistant (with `tool_calls`), tool messages; the last one
/// must be the user's.
pub(crate) fn chat_messages(messages: Option<&Value>) -> Result<Conversation, OpenAiError> {
    const PARAM: Option<&str> = Some("messages");
    let Some(Value::Array(messages)) = messages else {
        return Err(OpenAiError::invalid(PARAM, "`messages` must be an array of messages"));
    };
    let mut history = Vec::with_capacity(messages.len());
    for (i, message) in messages.iter().enumerate() {
        let Some(role) = message.get("role").and_then(Value::as_str) else {
            return Err(OpenAiError::invalid(PARAM, format!("messages[{i}] has no `role`")));
        };
        let content = message.get("content");
        match role {
            "system" | "developer" => {}
            "user" => history.push(Message::user(text(content, i, &["text"])?.unwrap_or_default())),
            "assistant" => {
                let calls = tool_calls(message.get("tool_calls"), i)?;
                history.push(Message::assistant(text(content, i, &["text", "refusal"])?, calls));
            }
            "tool" => {
                let Some(call_id) = message.get("tool_call_id").and_then(Value::as_str) else {
                    return Err(OpenAiError::invalid(
                        PARAM,
                        format!("messages[{i}] (tool) has no `tool_call_id`"),
                    ));
                };
                let name = call_name(&history, call_id).unwrap_or_default();
                let content = text(content, i, &["text"])?.unwrap_or_default();
                history.push(Message::tool_result(call_id, name, content, false));
            }
            other => {
                return Err(OpenAiError::invalid(
                    PARAM,
                    format!("messages[{i}] has role {}, which is not supported", crate::error::quote(other)),
                ));
            }
        }
    }
    split_last_user(history, PARAM)
}

/// A response's `input`: a string, or a list of message items (`input_text` / `output_text`
/// parts); the last one must be the user's.
pub(crate) fn response_input(input: Option<&Value>) -> Result<Conversation, OpenAiError> {
    const PARAM: Option<&str> = Some("input");
    let items = match input {
        Some(Value::String(text)) => return Ok(Conversation { input: text.clone(), history: Vec::new() }),
        Some(Value::Array(items)) => items,
        _ => return Err(OpenAiError::invalid(PARAM, "`input` must be a string or an array of input items")),
    };
    let mut history = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let kind = item.get("type").and_then(Value::as_str).unwrap_or("message");
        if kind != "message" {
            return Err(OpenAiError::invalid(
                PARAM,
                format!(
                    "input[{i}] is a {} item; only messages are supported (the agent runs its own tools on the server)",
                    crate::error::quote(kind)
                ),
            ));
        }
        let content = item.get("content");
        match item.get("role").and_then(Value::as_str) {
            Some("system" | "developer") => {}
            Some("user") => {
                history.push(Message::user(text(content, i, &["input_text", "text"])?.unwrap_or_default()))
            }
            Some("assistant") => {
                history.push(Message::assistant(
                    text(content, i, &["output_text", "input_text", "text", "refusal"])?,
                    Vec::new(),
                ));
            }
            _ => {
                return Err(OpenAiError::invalid(
                    PARAM,
                    format!("input[{i}] must have the role user, assistant, system or developer"),
                ));
            }
        }
    }
    split_last_user(history, PARAM)
}

/// The last message as the input (it must be the user's), the rest as history.
fn split_last_user(
    mut history: Vec<Message>,
    param: Option<&'static str>,
) -> Result<Conversation, OpenAiError> {
    match history.pop() {
        Some(Message::User { content }) => Ok(Conversation { input: content, history }),
        _ => Err(OpenAiError::invalid(
            param,
            "The last message must be the user's (the agent's tools run on the server, so tool results are not sent by the client)",
        )),
    }
}

/// A message's text: a string, or parts of the `allowed` types (their text joined by newlines);
/// `None` for no content.
fn text(content: Option<&Value>, i: usize, allowed: &[&str]) -> Result<Option<String>, OpenAiError> {
    match content {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(Value::Array(parts)) => {
            let mut texts = Vec::with_capacity(parts.len());
            for part in parts {
                let kind = part.get("type").and_then(Value::as_str).unwrap_or("");
                if !allowed.contains(&kind) {
                    return Err(OpenAiError::invalid(
                        None,
                        format!(
                            "Message {i} has a content part of type {}: only text is supported",
                            crate::error::quote(kind)
                        ),
                    ));
                }
                let field = if kind == "refusal" { "refusal" } else { "text" };
                let Some(text) = part.get(field).and_then(Value::as_str) else {
                    return Err(OpenAiError::invalid(
                        None,
                        format!("Message {i} has a {kind} part without `{field}`"),
                    ));
                };
                texts.push(text);
            }
            Ok(Some(texts.join("\n")))
        }
        Some(_) => Err(OpenAiError::invalid(
            None,
            format!("Message {i}: `content` must be a string or an array of parts"),
        )),
    }
}

/// An assistant message's `tool_calls` (functions only).
fn tool_calls(calls: Option<&Value>, i: usize) -> Result<Vec<ToolCall>, OpenAiError> {
    let calls = match calls {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(calls)) => calls,
        Some(_) => {
            return Err(OpenAiError::invalid(
                Some("messages"),
                format!("messages[{i}].tool_calls must be an array"),
            ));
        }
    };
    calls
        .iter()
        .map(|call| {
            let id = call.get("id").and_then(Value::as_str);
            let function = call.get("function");
            let name = function.and_then(|f| f.get("name")).and_then(Value::as_str);
            let arguments = function.and_then(|f| f.get("arguments")).and_then(Value::as_str).unwrap_or("{}");
            match (id, name) {
                (Some(id), Some(name)) => Ok(ToolCall::new(id, name, arguments)),
                _ => Err(OpenAiError::invalid(
                    Some("messages"),
                    format!("messages[{i}].tool_calls: each call needs an `id` and a `function.name`"),
                )),
            }
        })
        .collect()
}

/// The name of the call `call_id` made earlier in the conversation.
fn call_name(history: &[Message], call_id: &str) -> Option<String> {
    history.iter().rev().find_map(|message| match message {
        Message::Assistant { tool_calls, .. } => {
            tool_calls.iter().find(|c| c.id == call_id).map(|c| c.name.clone())
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn chat_messages_split_into_history_and_input() {
        let messages = json!([
            {"role": "system", "content": "ignored"},
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "done"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "next"},
        ]);
        let conversation = chat_messages(Some(&messages)).unwrap();
        assert_eq!(conversation.input, "next");
        assert_eq!(conversation.history.len(), 4);
        assert_eq!(conversation.history[0], Message::user("a\nb"));
        assert_eq!(conversation.history[2], Message::tool_result("c1", "f", "done", false));
    }

    #[test]
    fn images_and_a_last_non_user_message_are_refused() {
        let image = json!([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]);
        assert!(chat_messages(Some(&image)).is_err());
        let last = json!([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]);
        assert!(chat_messages(Some(&last)).is_err());
        assert!(chat_messages(Some(&json!("a"))).is_err());
    }

    #[test]
    fn response_input_as_text_or_items() {
        assert_eq!(response_input(Some(&json!("hi"))).unwrap().input, "hi");
        let items = json!([
            {"role": "user", "content": [{"type": "input_text", "text": "a"}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "b"}]},
            {"role": "user", "content": "c"},
        ]);
        let conversation = response_input(Some(&items)).unwrap();
        assert_eq!(conversation.input, "c");
        assert_eq!(conversation.history.len(), 2);
        let call = json!([{"type": "function_call_output", "call_id": "x", "output": "y"}]);
        assert!(response_input(Some(&call)).is_err());
    }
}
