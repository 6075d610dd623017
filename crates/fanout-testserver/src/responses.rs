//! OpenAI Responses API replies, event by event as OpenAI streams them (`event: <type>` then
//! `data: <json>`): a [`Turn`] of reasoning, text and function calls, ended by
//! `response.completed` with its usage.
//!
//! ```
//! use fanout_testserver::responses::Turn;
//!
//! let reply = Turn::new("resp_1")
//!     .reasoning("Check both cities.", "enc-1")
//!     .call("call_a", "weather", r#"{"city":"Rome"}"#)
//!     .reply();
//! # let _ = reply;
//! ```

use serde_json::{Value, json};

use crate::{Raw, Reply};

/// The model every response says answered.
pub const MODEL: &str = "gpt-test";

/// One output item of a turn.
#[derive(Debug, Clone)]
enum Item {
    Reasoning { summary: String, encrypted: String },
    Text(String),
    Call { call_id: String, name: String, arguments: String },
}

/// A streamed Responses API turn.
#[derive(Debug, Clone)]
pub struct Turn {
    id: String,
    items: Vec<Item>,
    /// `[input, output, cached input, reasoning]`.
    usage: [u64; 4],
}

impl Turn {
    /// An empty turn with the response id `id`.
    pub fn new(id: &str) -> Self {
        Self { id: id.to_owned(), items: Vec::new(), usage: [10, 5, 0, 0] }
    }

    /// A reasoning item: its summary streamed in two deltas, its `encrypted_content`.
    pub fn reasoning(mut self, summary: &str, encrypted: &str) -> Self {
        self.items.push(Item::Reasoning { summary: summary.to_owned(), encrypted: encrypted.to_owned() });
        self
    }

    /// A message item, its text streamed in two deltas.
    pub fn text(mut self, text: &str) -> Self {
        self.items.push(Item::Text(text.to_owned()));
        self
    }

    /// A function call item, its arguments streamed in two deltas.
    pub fn call(mut self, call_id: &str, name: &str, arguments: &str) -> Self {
        self.items.push(Item::Call {
            call_id: call_id.to_owned(),
            name: name.to_owned(),
            arguments: arguments.to_owned(),
        });
        self
    }

    /// The usage `response.completed` reports: `[input, output, cached input, reasoning]`.
    pub fn usage(mut self, usage: [u64; 4]) -> Self {
        self.usage = usage;
        self
    }

    /// The output items as `response.output_item.done` carries them.
    pub fn output(&self) -> Vec<Value> {
        self.items.iter().enumerate().map(|(i, item)| done_item(i, item)).collect()
    }

    /// The turn as a whole (non-streamed) response body.
    pub fn whole(&self) -> Reply {
        let body = json!({"id": self.id, "object": "response", "model": MODEL, "status": "completed",
            "output": self.output(), "usage": self.usage_json()});
        Reply::raw(Raw::json(200, body.to_string()))
    }

    fn usage_json(&self) -> Value {
        let [input, output, cached, reasoning] = self.usage;
        json!({"input_tokens": input, "input_tokens_details": {"cached_tokens": cached},
            "output_tokens": output, "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": input + output})
    }

    /// Every event of the turn, in order.
    pub fn events(&self) -> Vec<Value> {
        let response = |status: &str, output: Vec<Value>, usage: Value| {
            json!({"id": self.id, "object": "response",
            "model": MODEL, "status": status, "output": output, "usage": usage})
        };
        let mut events = vec![
            json!({"type": "response.created", "response": response("in_progress", vec![], Value::Null)}),
        ];
        for (i, item) in self.items.iter().enumerate() {
            let item_id = item_id(i, item);
            let mut added = done_item(i, item);
            match item {
                Item::Reasoning { .. } => added["summary"] = json!([]),
                Item::Text(_) => added["content"] = json!([]),
                Item::Call { .. } => added["arguments"] = json!(""),
            }
            added["status"] = json!("in_progress");
            events.push(json!({"type": "response.output_item.added", "output_index": i, "item": added}));
            let (kind, text) = match item {
                Item::Reasoning { summary, .. } => ("response.reasoning_summary_text.delta", summary),
                Item::Text(text) => ("response.output_text.delta", text),
                Item::Call { arguments, .. } => ("response.function_call_arguments.delta", arguments),
            };
            let cut = text.char_indices().nth(text.chars().count() / 2).map_or(0, |(at, _)| at);
            for piece in [&text[..cut], &text[cut..]] {
                events.push(json!({"type": kind, "item_id": item_id, "output_index": i, "content_index": 0,
                    "summary_index": 0, "delta": piece}));
            }
            if let Item::Call { arguments, .. } = item {
                events.push(json!({"type": "response.function_call_arguments.done", "item_id": item_id,
                    "output_index": i, "arguments": arguments}));
            }
            events.push(
                json!({"type": "response.output_item.done", "output_index": i, "item": done_item(i, item)}),
            );
        }
        let completed = response("completed", self.output(), self.usage_json());
        events.push(json!({"type": "response.completed", "response": completed}));
        events
    }

    /// The turn as a streamed reply.
    pub fn reply(&self) -> Reply {
        Reply::raw(sse(self.events()))
    }
}

/// `events` as an SSE body, each `event: <its type>` then `data: <json>`.
pub fn sse(events: impl IntoIterator<Item = Value>) -> Raw {
    Raw::sse(events.into_iter().map(|event| {
        let kind = event["type"].as_str().unwrap_or_default().to_owned();
        (Some(kind), event.to_string())
    }))
}

/// A stream that fails: `response.created`, then `response.failed` with `code` and `message`.
pub fn failed(code: &str, message: &str) -> Reply {
    let response = |status: &str, error: Value| json!({"id": "resp_failed", "status": status, "output": [], "error": error});
    Reply::raw(sse([
        json!({"type": "response.created", "response": response("in_progress", Value::Null)}),
        json!({"type": "response.failed", "response": response("failed", json!({"code": code, "message": message}))}),
    ]))
}

fn item_id(i: usize, item: &Item) -> String {
    let prefix = match item {
        Item::Reasoning { .. } => "rs",
        Item::Text(_) => "msg",
        Item::Call { .. } => "fc",
    };
    format!("{prefix}_{i}")
}

fn done_item(i: usize, item: &Item) -> Value {
    let id = item_id(i, item);
    match item {
        Item::Reasoning { summary, encrypted } => json!({"type": "reasoning", "id": id,
            "summary": [{"type": "summary_text", "text": summary}], "encrypted_content": encrypted}),
        Item::Text(text) => json!({"type": "message", "id": id, "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}),
        Item::Call { call_id, name, arguments } => {
            json!({"type": "function_call", "id": id, "call_id": call_id,
            "name": name, "arguments": arguments, "status": "completed"})
        }
    }
}
