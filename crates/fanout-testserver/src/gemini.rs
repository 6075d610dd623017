//! Google Gemini's wire, as [`Raw`] replies: a [`Turn`] builds the `GenerateContentResponse`s of
//! a streamed answer (`data: {…}` events, no `[DONE]`: the body just ends, the last event
//! carrying `finishReason` and `usageMetadata`) or the whole answer; [`error`] builds Google's
//! error body. Point the provider at [`base_url`].
//!
//! ```
//! # #[tokio::main] async fn main() {
//! use fanout_testserver::gemini::{self, Turn};
//! use fanout_testserver::{Script, Server};
//!
//! let server = Server::start(Script::sequence([
//!     Turn::new().thought("Two lookups.").call("weather", r#"{"city":"Oslo"}"#).signature("sig-1").reply(),
//!     Turn::new().text("Sunny.").reply(),
//! ]))
//! .await
//! .unwrap();
//! println!("point GEMINI_BASE_URL at {}", gemini::base_url(&server));
//! # }
//! ```

use serde_json::{Value, json};

use crate::{Raw, Reply, Server};

/// One model turn of `generateContent`, streamed or whole.
#[derive(Debug, Clone)]
pub struct Turn {
    parts: Vec<Value>,
    finish_reason: String,
    prompt_tokens: u64,
    candidates_tokens: u64,
    thoughts_tokens: u64,
    fragment_chars: usize,
    response_id: Option<String>,
}

impl Default for Turn {
    fn default() -> Self {
        Self::new()
    }
}

impl Turn {
    /// An empty turn (add parts to it); it finishes with `STOP`.
    pub fn new() -> Self {
        Self {
            parts: Vec::new(),
            finish_reason: "STOP".into(),
            prompt_tokens: 10,
            candidates_tokens: 5,
            thoughts_tokens: 0,
            fragment_chars: 0,
            response_id: None,
        }
    }

    /// A text part.
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.parts.push(json!({"text": text.into()}));
        self
    }

    /// A thought summary part (`thought: true`).
    pub fn thought(mut self, text: impl Into<String>) -> Self {
        self.parts.push(json!({"text": text.into(), "thought": true}));
        self
    }

    /// A `functionCall` part without an id (as Gemini 2.x sends them); `args` is JSON text.
    pub fn call(mut self, name: &str, args: &str) -> Self {
        let args: Value = serde_json::from_str(args).unwrap_or(Value::Null);
        self.parts.push(json!({"functionCall": {"name": name, "args": args}}));
        self
    }

    /// A `functionCall` part with an id.
    pub fn call_with_id(mut self, id: &str, name: &str, args: &str) -> Self {
        let args: Value = serde_json::from_str(args).unwrap_or(Value::Null);
        self.parts.push(json!({"functionCall": {"id": id, "name": name, "args": args}}));
        self
    }

    /// Any part, as given.
    pub fn part(mut self, part: Value) -> Self {
        self.parts.push(part);
        self
    }

    /// Put a `thoughtSignature` on the last part.
    pub fn signature(mut self, signature: &str) -> Self {
        if let Some(part) = self.parts.last_mut() {
            part["thoughtSignature"] = Value::from(signature);
        }
        self
    }

    /// The finish reason (default `STOP`, which Gemini also sends after function calls).
    pub fn finish_reason(mut self, reason: impl Into<String>) -> Self {
        self.finish_reason = reason.into();
        self
    }

    /// Token counts: prompt, candidates (without thoughts), thoughts.
    pub fn usage(mut self, prompt: u64, candidates: u64, thoughts: u64) -> Self {
        (self.prompt_tokens, self.candidates_tokens, self.thoughts_tokens) = (prompt, candidates, thoughts);
        self
    }

    /// Stream text in pieces of this many characters, one event each (0: one piece).
    pub fn fragments(mut self, chars: usize) -> Self {
        self.fragment_chars = chars;
        self
    }

    /// Send `responseId` in every event.
    pub fn response_id(mut self, id: impl Into<String>) -> Self {
        self.response_id = Some(id.into());
        self
    }

    fn usage_json(&self) -> Value {
        let mut usage = json!({
            "promptTokenCount": self.prompt_tokens,
            "candidatesTokenCount": self.candidates_tokens,
            "totalTokenCount": self.prompt_tokens + self.candidates_tokens + self.thoughts_tokens,
        });
        if self.thoughts_tokens > 0 {
            usage["thoughtsTokenCount"] = Value::from(self.thoughts_tokens);
        }
        usage
    }

    fn response(&self, parts: Vec<Value>, finish: bool) -> Value {
        let mut candidate = json!({"content": {"role": "model", "parts": parts}, "index": 0});
        if finish {
            candidate["finishReason"] = Value::from(self.finish_reason.as_str());
        }
        let mut response = json!({"candidates": [candidate], "usageMetadata": self.usage_json(), "modelVersion": "gemini-test"});
        if let Some(id) = &self.response_id {
            response["responseId"] = Value::from(id.as_str());
        }
        response
    }

    /// The streamed events, in order: one per part (text split into fragments), then an empty
    /// text part with the finish reason, as Gemini ends its streams.
    pub fn events(&self) -> Vec<Value> {
        let mut events = Vec::new();
        for part in &self.parts {
            let text = part.get("text").and_then(Value::as_str).filter(|_| self.fragment_chars > 0);
            match text {
                Some(text) => {
                    let chars: Vec<char> = text.chars().collect();
                    let pieces: Vec<String> =
                        chars.chunks(self.fragment_chars).map(|c| c.iter().collect()).collect();
                    let last = pieces.len().saturating_sub(1);
                    for (n, piece) in pieces.into_iter().enumerate() {
                        let mut fragment = part.clone();
                        fragment["text"] = Value::from(piece);
                        if n != last
                            && let Some(f) = fragment.as_object_mut()
                        {
                            f.remove("thoughtSignature");
                        }
                        events.push(self.response(vec![fragment], false));
                    }
                }
                None => events.push(self.response(vec![part.clone()], false)),
            }
        }
        events.push(self.response(vec![json!({"text": ""})], true));
        events
    }

    /// The whole answer (`generateContent`).
    pub fn body(&self) -> Value {
        self.response(self.parts.clone(), true)
    }

    /// The streamed reply.
    pub fn reply(&self) -> Reply {
        Reply::raw(self.raw())
    }

    /// The streamed reply, as [`Raw`] to add faults to.
    pub fn raw(&self) -> Raw {
        Raw::sse(self.events().into_iter().map(|e| (None::<String>, e.to_string())))
    }

    /// The whole reply.
    pub fn whole(&self) -> Reply {
        Reply::raw(Raw::json(200, self.body().to_string()))
    }
}

/// An error response: `{"error": {code, message, status}}` with HTTP `code`.
pub fn error(code: u16, status: &str, message: &str) -> Raw {
    Raw::json(code, json!({"error": {"code": code, "message": message, "status": status}}).to_string())
}

/// A 429 asking for a wait of `delay` (a protobuf duration such as `"1.5s"`) in `RetryInfo`.
pub fn rate_limited(delay: &str) -> Raw {
    let body = json!({"error": {
        "code": 429,
        "message": "You exceeded your current quota, please check your plan.",
        "status": "RESOURCE_EXHAUSTED",
        "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}]
    }});
    Raw::json(429, body.to_string())
}

/// The base URL for the Gemini provider (the server's URL without `/v1`).
pub fn base_url(server: &Server) -> String {
    server.url().trim_end_matches("/v1").to_owned()
}
