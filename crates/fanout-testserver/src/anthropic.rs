//! Anthropic's Messages API wire, as [`Raw`] replies: a [`Turn`] builds the exact SSE event
//! sequence (`message_start`, `content_block_start` / `_delta` / `_stop` for text, thinking with
//! its signature, and tool_use blocks, `message_delta` with the stop reason and usage,
//! `message_stop`) or the whole message; [`error`] builds an error response. Every reply
//! carries a `request-id` header, like the real API.
//!
//! ```
//! # #[tokio::main] async fn main() {
//! use fanout_testserver::anthropic::{self, Turn};
//! use fanout_testserver::{Script, Server};
//!
//! let server = Server::start(Script::sequence([
//!     Turn::new().thinking("Three lookups.", "sig-1").tool_use("toolu_1", "weather", r#"{"city":"Oslo"}"#).reply(),
//!     Turn::new().text("Sunny.").reply(),
//! ]))
//! .await
//! .unwrap();
//! println!("point ANTHROPIC_BASE_URL at {}", anthropic::base_url(&server));
//! # }
//! ```

use serde_json::{Value, json};

use crate::{Raw, Reply, Server};

/// One content block of a [`Turn`].
#[derive(Debug, Clone)]
enum Block {
    Text(String),
    Thinking {
        thinking: String,
        signature: String,
    },
    RedactedThinking(String),
    ToolUse {
        id: String,
        name: String,
        input: String,
    },
    /// Any other block, sent whole.
    Whole(Value),
}

/// One assistant message of the Messages API, streamed or whole.
#[derive(Debug, Clone)]
pub struct Turn {
    id: String,
    blocks: Vec<Block>,
    stop_reason: Option<String>,
    input_tokens: u64,
    output_tokens: u64,
    cache_read: u64,
    cache_creation: u64,
    fragment_chars: usize,
}

impl Default for Turn {
    fn default() -> Self {
        Self::new()
    }
}

impl Turn {
    /// An empty message (add blocks to it).
    pub fn new() -> Self {
        Self {
            id: "msg_test".into(),
            blocks: Vec::new(),
            stop_reason: None,
            input_tokens: 10,
            output_tokens: 5,
            cache_read: 0,
            cache_creation: 0,
            fragment_chars: 0,
        }
    }

    /// Set the message id.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// A text block.
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.blocks.push(Block::Text(text.into()));
        self
    }

    /// A thinking block with its signature.
    pub fn thinking(mut self, thinking: impl Into<String>, signature: impl Into<String>) -> Self {
        self.blocks.push(Block::Thinking { thinking: thinking.into(), signature: signature.into() });
        self
    }

    /// A redacted thinking block.
    pub fn redacted_thinking(mut self, data: impl Into<String>) -> Self {
        self.blocks.push(Block::RedactedThinking(data.into()));
        self
    }

    /// A tool_use block; `input` is the JSON text streamed as `input_json_delta` fragments.
    pub fn tool_use(
        mut self,
        id: impl Into<String>,
        name: impl Into<String>,
        input: impl Into<String>,
    ) -> Self {
        self.blocks.push(Block::ToolUse { id: id.into(), name: name.into(), input: input.into() });
        self
    }

    /// Any other content block (a server tool's `server_tool_use` or `web_search_tool_result`
    /// …), streamed whole in its `content_block_start`.
    pub fn block(mut self, block: Value) -> Self {
        self.blocks.push(Block::Whole(block));
        self
    }

    /// The stop reason (default: `tool_use` when there is a tool_use block, else `end_turn`).
    pub fn stop_reason(mut self, reason: impl Into<String>) -> Self {
        self.stop_reason = Some(reason.into());
        self
    }

    /// Token counts: uncached input and output.
    pub fn usage(mut self, input: u64, output: u64) -> Self {
        self.input_tokens = input;
        self.output_tokens = output;
        self
    }

    /// Cache reads and writes.
    pub fn cache(mut self, read: u64, creation: u64) -> Self {
        self.cache_read = read;
        self.cache_creation = creation;
        self
    }

    /// Stream text and tool input in fragments of this many characters (0: one fragment).
    pub fn fragments(mut self, chars: usize) -> Self {
        self.fragment_chars = chars;
        self
    }

    fn stop_reason_or_default(&self) -> &str {
        match &self.stop_reason {
            Some(reason) => reason,
            None if self.blocks.iter().any(|b| matches!(b, Block::ToolUse { .. })) => "tool_use",
            None => "end_turn",
        }
    }

    fn usage_json(&self, output: u64) -> Value {
        json!({
            "input_tokens": self.input_tokens, "output_tokens": output,
            "cache_read_input_tokens": self.cache_read, "cache_creation_input_tokens": self.cache_creation
        })
    }

    /// The SSE events, in order: `(event type, data)`.
    pub fn events(&self) -> Vec<(String, Value)> {
        let mut events = vec![(
            "message_start".to_owned(),
            json!({"type": "message_start", "message": {
                "id": self.id, "type": "message", "role": "assistant", "model": "claude-test", "content": [],
                "stop_reason": null, "stop_sequence": null, "usage": self.usage_json(1)
            }}),
        )];
        let delta = |index: usize, delta: Value| {
            (
                "content_block_delta".to_owned(),
                json!({"type": "content_block_delta", "index": index, "delta": delta}),
            )
        };
        for (index, block) in self.blocks.iter().enumerate() {
            let start = match block {
                Block::Text(_) => json!({"type": "text", "text": ""}),
                Block::Thinking { .. } => json!({"type": "thinking", "thinking": "", "signature": ""}),
                Block::RedactedThinking(data) => json!({"type": "redacted_thinking", "data": data}),
                Block::ToolUse { id, name, .. } => {
                    json!({"type": "tool_use", "id": id, "name": name, "input": {}})
                }
                Block::Whole(block) => block.clone(),
            };
            events.push((
                "content_block_start".to_owned(),
                json!({"type": "content_block_start", "index": index, "content_block": start}),
            ));
            match block {
                Block::Text(text) => events.extend(
                    split(text, self.fragment_chars)
                        .map(|t| delta(index, json!({"type": "text_delta", "text": t}))),
                ),
                Block::Thinking { thinking, signature } => {
                    events.extend(
                        split(thinking, self.fragment_chars)
                            .map(|t| delta(index, json!({"type": "thinking_delta", "thinking": t}))),
                    );
                    events.push(delta(index, json!({"type": "signature_delta", "signature": signature})));
                }
                Block::RedactedThinking(_) | Block::Whole(_) => {}
                Block::ToolUse { input, .. } => events.extend(
                    split(input, self.fragment_chars)
                        .map(|p| delta(index, json!({"type": "input_json_delta", "partial_json": p}))),
                ),
            }
            events.push((
                "content_block_stop".to_owned(),
                json!({"type": "content_block_stop", "index": index}),
            ));
        }
        events.push((
            "message_delta".to_owned(),
            json!({"type": "message_delta", "delta": {"stop_reason": self.stop_reason_or_default(), "stop_sequence": null},
                "usage": self.usage_json(self.output_tokens)}),
        ));
        events.push(("message_stop".to_owned(), json!({"type": "message_stop"})));
        events
    }

    /// The streamed reply: one SSE event per chunk (`event: TYPE` then `data: …`).
    pub fn sse(&self) -> Raw {
        let events = self.events().into_iter().map(|(name, data)| (Some(name), data.to_string()));
        Raw::sse(events).header("request-id", "req_anthropic_test")
    }

    /// The whole (non-streamed) reply.
    pub fn json(&self) -> Raw {
        let content: Vec<Value> = self
            .blocks
            .iter()
            .map(|block| match block {
                Block::Text(text) => json!({"type": "text", "text": text}),
                Block::Thinking { thinking, signature } => {
                    json!({"type": "thinking", "thinking": thinking, "signature": signature})
                }
                Block::RedactedThinking(data) => json!({"type": "redacted_thinking", "data": data}),
                Block::ToolUse { id, name, input } => {
                    let input: Value = serde_json::from_str(input).unwrap_or_else(|_| json!({}));
                    json!({"type": "tool_use", "id": id, "name": name, "input": input})
                }
                Block::Whole(block) => block.clone(),
            })
            .collect();
        let body = json!({
            "id": self.id, "type": "message", "role": "assistant", "model": "claude-test", "content": content,
            "stop_reason": self.stop_reason_or_default(), "stop_sequence": null,
            "usage": self.usage_json(self.output_tokens)
        });
        Raw::json(200, body.to_string()).header("request-id", "req_anthropic_test")
    }

    /// The streamed reply as a [`Reply`].
    pub fn reply(&self) -> Reply {
        Reply::Raw(self.sse())
    }
}

fn split(text: &str, size: usize) -> impl Iterator<Item = String> {
    let chars: Vec<char> = text.chars().collect();
    let size = if size == 0 { chars.len().max(1) } else { size };
    let pieces: Vec<String> = chars.chunks(size).map(|c| c.iter().collect()).collect();
    pieces.into_iter()
}

/// An error response as the API sends it: `{"type":"error","error":{"type":…,"message":…}}`
/// with a `request-id` header. Add `retry-after` with [`Raw::header`].
pub fn error(status: u16, error_type: &str, message: &str) -> Raw {
    let body =
        json!({"type": "error", "error": {"type": error_type, "message": message}, "request_id": "req_err"});
    Raw::json(status, body.to_string()).header("request-id", "req_err")
}

/// An `error` event inside a 200 stream, as the API sends when it is overloaded mid-stream.
pub fn error_event(error_type: &str, message: &str) -> (String, Value) {
    ("error".to_owned(), json!({"type": "error", "error": {"type": error_type, "message": message}}))
}

/// The server's base URL as `ANTHROPIC_BASE_URL` takes it (without `/v1`; the client adds
/// `/v1/messages`).
pub fn base_url(server: &Server) -> String {
    let url = server.url();
    url.strip_suffix("/v1").map(str::to_owned).unwrap_or(url)
}
