//! The `parallel` wrapper some OpenAI models write instead of several tool calls: ONE call of a
//! tool that was never offered — `multi_tool_use.parallel` on Chat Completions, `parallel` on
//! the Responses API — whose arguments hold the real calls:
//!
//! ```json
//! {"tool_uses": [{"recipient_name": "functions.weather", "parameters": {"city": "Rome"}}, …]}
//! ```
//!
//! A provider expands it while assembling the turn, so everything after it (eager start, the
//! executor, events, history) sees ordinary calls that run at once.
//!
//! Why expand rather than keep the wrapper: the call ids only have to match between an
//! assistant message's calls and the tool results that answer them — the API keeps no record
//! of the ids it issued. Sending the turn back as N ordinary calls with derived ids
//! (`<id>_0`, `<id>_1`, …) and N tool results is therefore a conversation the API accepts
//! (the loopback tests check the round trip), and it is exactly what the model would have
//! produced with native parallel calls. Keeping the wrapper instead would need a combined
//! result for one id, and a mapping carried through the run loop for every provider; expansion
//! needs neither.
//!
//! The expansion is conservative: a wrapper name that is also the name of an offered tool is a
//! real call, and a wrapper whose arguments are not of the shape above stays one call (so the
//! model hears that the tool does not exist instead of its request vanishing).

use serde::Deserialize;
use serde_json::Value;

use crate::tool::{ToolCall, ToolDefinition};

/// The wrapper's names: Chat Completions, then the Responses API.
const WRAPPER_NAMES: [&str; 2] = ["multi_tool_use.parallel", "parallel"];

#[derive(Deserialize)]
struct Wrapper {
    tool_uses: Vec<ToolUse>,
}

#[derive(Deserialize)]
struct ToolUse {
    recipient_name: String,
    #[serde(default)]
    parameters: Option<Value>,
}

/// Whether `name` is the wrapper rather than one of the offered tools.
pub(crate) fn is_wrapper<'a>(name: &str, mut offered: impl Iterator<Item = &'a ToolDefinition>) -> bool {
    WRAPPER_NAMES.contains(&name) && !offered.any(|tool| tool.name == name)
}

/// The calls `call` stands for: its inner calls when it is a wrapper (see [`is_wrapper`]) with
/// well-formed arguments, else `call` itself. Inner call `i` gets the id `<id>_<i>`; the
/// `functions.` prefix of a recipient is dropped.
pub(crate) fn expand<'a>(call: ToolCall, offered: impl Iterator<Item = &'a ToolDefinition>) -> Vec<ToolCall> {
    if !is_wrapper(&call.name, offered) {
        return vec![call];
    }
    let Ok(wrapper) = serde_json::from_str::<Wrapper>(&call.arguments) else { return vec![call] };
    if wrapper.tool_uses.is_empty()
        || wrapper.tool_uses.iter().any(|u| tool_name(&u.recipient_name).is_empty())
    {
        return vec![call];
    }
    wrapper
        .tool_uses
        .into_iter()
        .enumerate()
        .map(|(i, tool_use)| {
            let arguments = match tool_use.parameters {
                None | Some(Value::Null) => "{}".to_owned(),
                Some(parameters) => parameters.to_string(),
            };
            ToolCall {
                id: format!("{}_{i}", call.id),
                name: tool_name(&tool_use.recipient_name).to_owned(),
                arguments,
            }
        })
        .collect()
}

/// `functions.weather` → `weather`.
fn tool_name(recipient: &str) -> &str {
    let recipient = recipient.trim();
    recipient.strip_prefix("functions.").unwrap_or(recipient)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrapper(arguments: &str) -> ToolCall {
        ToolCall::new("call_9", "multi_tool_use.parallel", arguments)
    }

    #[test]
    fn a_wrapper_becomes_its_calls() {
        let calls = expand(
            wrapper(
                r#"{"tool_uses":[{"recipient_name":"functions.weather","parameters":{"city":"Rome"}},
                    {"recipient_name":"clock","parameters":{}},{"recipient_name":"functions.ping"}]}"#,
            ),
            std::iter::empty(),
        );
        assert_eq!(
            calls,
            [
                ToolCall::new("call_9_0", "weather", r#"{"city":"Rome"}"#),
                ToolCall::new("call_9_1", "clock", "{}"),
                ToolCall::new("call_9_2", "ping", "{}"),
            ]
        );
    }

    #[test]
    fn anything_else_stays_one_call() {
        for arguments in ["{}", r#"{"tool_uses":[]}"#, r#"{"tool_uses":[{"parameters":{}}]}"#, "not json"] {
            assert_eq!(expand(wrapper(arguments), std::iter::empty()), [wrapper(arguments)]);
        }
        let ordinary = ToolCall::new("c", "weather", r#"{"tool_uses":[]}"#);
        assert_eq!(expand(ordinary.clone(), std::iter::empty()), [ordinary]);
        // A tool the user really named `parallel` is called, not expanded.
        let offered = ToolDefinition {
            name: "parallel".into(),
            description: String::new(),
            parameters: serde_json::json!({"type": "object"}),
            strict: false,
        };
        let call =
            ToolCall::new("c", "parallel", r#"{"tool_uses":[{"recipient_name":"a","parameters":{}}]}"#);
        assert_eq!(expand(call.clone(), [&offered].into_iter()), [call]);
    }
}
