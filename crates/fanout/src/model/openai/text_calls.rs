//! Tool calls that a model wrote as text, for servers that run small local models without a
//! tool-call parser (llama.cpp without `--jinja`, a bare vLLM …): Hermes/Qwen-style
//! `<tool_call>{"name": …, "arguments": {…}}</tool_call>` anywhere in the answer, or an answer
//! that is nothing but a JSON object (or a list of them) naming an offered tool. Off unless
//! [`OpenAIChat::text_tool_calls`](super::OpenAIChat::text_tool_calls) turns it on.
//!
//! Streamed text is held back only while it may still become a call: from a `<` that may open
//! `<tool_call>`, inside a block, and while an answer that began with `{` or `[` is incomplete.
//! Anything that turns out not to be a call is passed on as the text it was, unchanged.

use serde_json::Value;

const OPEN: &str = "<tool_call>";
const CLOSE: &str = "</tool_call>";

/// What the text turned into.
#[derive(Debug, PartialEq)]
pub(super) enum Piece {
    Text(String),
    Call { name: String, arguments: String },
}

#[derive(Debug, Default, PartialEq)]
enum State {
    /// Nothing but whitespace yet: the answer may be a bare JSON call.
    #[default]
    Start,
    Text,
    /// Inside `<tool_call>`.
    Block,
    /// An answer that began with `{` or `[`.
    Json,
}

/// Splits streamed text into text and calls.
#[derive(Debug, Default)]
pub(super) struct TextCalls {
    pending: String,
    state: State,
}

impl TextCalls {
    /// Take the next piece of text; `offered` tells whether a tool of that name is offered.
    pub(super) fn feed(&mut self, text: &str, offered: &dyn Fn(&str) -> bool, out: &mut Vec<Piece>) {
        self.pending.push_str(text);
        loop {
            match self.state {
                State::Start => {
                    let trimmed = self.pending.trim_start();
                    if trimmed.is_empty() {
                        return;
                    }
                    self.state = if trimmed.starts_with(['{', '[']) { State::Json } else { State::Text };
                }
                State::Text => match self.pending.find(OPEN) {
                    Some(at) => {
                        let rest = self.pending.split_off(at);
                        self.text(out);
                        self.pending = rest[OPEN.len()..].to_owned();
                        self.state = State::Block;
                    }
                    None => {
                        // Hold back a tail that may be the start of `<tool_call>`.
                        let keep = (1..OPEN.len().min(self.pending.len() + 1))
                            .rev()
                            .find(|&n| {
                                self.pending.is_char_boundary(self.pending.len() - n)
                                    && self.pending.ends_with(&OPEN[..n])
                            })
                            .unwrap_or(0);
                        let tail = self.pending.split_off(self.pending.len() - keep);
                        self.text(out);
                        self.pending = tail;
                        return;
                    }
                },
                State::Block => {
                    let Some(at) = self.pending.find(CLOSE) else { return };
                    let rest = self.pending.split_off(at);
                    let body = std::mem::replace(&mut self.pending, rest[CLOSE.len()..].to_owned());
                    match parse_calls(&body, &|_| true) {
                        Some(calls) => out.extend(calls),
                        None => out.push(Piece::Text(format!("{OPEN}{body}{CLOSE}"))),
                    }
                    self.state = State::Text;
                }
                State::Json => {
                    let mut values = serde_json::Deserializer::from_str(&self.pending).into_iter::<Value>();
                    match values.next() {
                        Some(Err(e)) if e.is_eof() => return,
                        Some(Ok(value)) => {
                            let end = values.byte_offset();
                            match calls_in(value, offered) {
                                Some(calls) => {
                                    out.extend(calls);
                                    self.pending.drain(..end);
                                }
                                None => {
                                    let rest = self.pending.split_off(end);
                                    self.text(out);
                                    self.pending = rest;
                                }
                            }
                        }
                        _ => {}
                    }
                    self.state = State::Text;
                }
            }
        }
    }

    /// The turn ended: whatever is held back is text.
    pub(super) fn finish(&mut self, out: &mut Vec<Piece>) {
        if self.state == State::Block {
            self.pending.insert_str(0, OPEN);
        }
        self.state = State::Text;
        self.text(out);
    }

    fn text(&mut self, out: &mut Vec<Piece>) {
        if !self.pending.is_empty() {
            out.push(Piece::Text(std::mem::take(&mut self.pending)));
        }
    }
}

/// The calls in a whole answer.
pub(super) fn split(text: &str, offered: &dyn Fn(&str) -> bool) -> Vec<Piece> {
    let mut calls = TextCalls::default();
    let mut out = Vec::new();
    calls.feed(text, offered, &mut out);
    calls.finish(&mut out);
    out
}

/// The calls a block holds: one call object or a list of them.
fn parse_calls(body: &str, offered: &dyn Fn(&str) -> bool) -> Option<Vec<Piece>> {
    calls_in(serde_json::from_str(body.trim()).ok()?, offered)
}

/// `{"name": …, "arguments" | "parameters": {…} | "…"}`, or a list of them, all naming
/// offered tools.
fn calls_in(value: Value, offered: &dyn Fn(&str) -> bool) -> Option<Vec<Piece>> {
    let items = match value {
        Value::Array(items) if !items.is_empty() => items,
        object @ Value::Object(_) => vec![object],
        _ => return None,
    };
    items
        .into_iter()
        .map(|item| {
            let Value::Object(mut call) = item else { return None };
            let name = call.get("name")?.as_str().filter(|n| offered(n))?.to_owned();
            let arguments = match call.remove("arguments").or_else(|| call.remove("parameters")) {
                None | Some(Value::Null) => "{}".to_owned(),
                Some(Value::String(text)) => text,
                Some(object @ Value::Object(_)) => object.to_string(),
                Some(_) => return None,
            };
            Some(Piece::Call { name, arguments })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weather(name: &str) -> bool {
        name == "weather"
    }

    fn call(arguments: &str) -> Piece {
        Piece::Call { name: "weather".into(), arguments: arguments.into() }
    }

    fn text(text: &str) -> Piece {
        Piece::Text(text.into())
    }

    /// Feed `text` in pieces of `n` bytes (on character boundaries).
    fn streamed(text: &str, n: usize) -> Vec<Piece> {
        let mut calls = TextCalls::default();
        let mut out = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let mut at = n.min(rest.len());
            while !rest.is_char_boundary(at) {
                at += 1;
            }
            calls.feed(&rest[..at], &weather, &mut out);
            rest = &rest[at..];
        }
        calls.finish(&mut out);
        // Merge neighbouring text, which streaming splits arbitrarily.
        let mut merged: Vec<Piece> = Vec::new();
        for piece in out {
            match (merged.last_mut(), piece) {
                (Some(Piece::Text(last)), Piece::Text(t)) => last.push_str(&t),
                (_, piece) => merged.push(piece),
            }
        }
        merged
    }

    #[test]
    fn blocks_become_calls_in_any_split() {
        let answer = "Let me check. <tool_call>\n{\"name\": \"weather\", \"arguments\": {\"city\": \"Rome\"}}\n</tool_call>\n<tool_call>{\"name\": \"clock\", \"arguments\": \"{}\"}</tool_call> é";
        for n in [1, 2, 3, 7, 500] {
            assert_eq!(
                streamed(answer, n),
                [
                    text("Let me check. "),
                    call(r#"{"city":"Rome"}"#),
                    text("\n"),
                    Piece::Call { name: "clock".into(), arguments: "{}".into() },
                    text(" é")
                ],
                "pieces of {n}"
            );
        }
    }

    #[test]
    fn a_bare_json_answer_naming_an_offered_tool_is_a_call() {
        for n in [1, 4, 500] {
            assert_eq!(
                streamed(" {\"name\": \"weather\", \"parameters\": {\"city\": \"Oslo\"}}", n),
                [call(r#"{"city":"Oslo"}"#)]
            );
            assert_eq!(
                streamed("[{\"name\": \"weather\"}, {\"name\": \"weather\", \"arguments\": {}}]", n),
                [call("{}"), call("{}")]
            );
        }
    }

    #[test]
    fn anything_else_stays_text_unchanged() {
        for answer in [
            "{\"name\": \"unknown\", \"arguments\": {}}",
            "{\"city\": \"Rome\"}",
            "[1, 2]",
            "{ not json",
            "a < b and <tool_ is not a tag",
            "<tool_call>not json</tool_call> after",
            "cut <tool_call>{\"name\": \"weather\"",
        ] {
            for n in [1, 3, 500] {
                assert_eq!(streamed(answer, n), [text(answer)], "{answer:?} in pieces of {n}");
            }
        }
        assert_eq!(split("", &weather), []);
    }
}
