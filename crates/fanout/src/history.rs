//! The history a run continues, made valid for every provider and trimmed to size — in one place,
//! before the run's first request.
//!
//! Providers refuse a conversation in which a tool call has no result, or a result has no
//! call (Claude, Gemini and Chat Completions alike). Histories get that way when a process dies
//! mid-batch, when a client sends a cut conversation, or when a trim falls between a call and
//! its result. [`repair`] fixes the first two; [`trim`] cuts only where a run begins (at a user
//! message), so it can never separate a call from its result.
//!
//! ```
//! use fanout::history::{HistoryLimits, repair, trim};
//! use fanout::models::Message;
//! use fanout::tool::ToolCall;
//!
//! let history = vec![
//!     Message::user("Run both"),
//!     Message::assistant(None, vec![ToolCall::new("a", "t", "{}"), ToolCall::new("b", "t", "{}")]),
//!     Message::tool_result("a", "t", "done", false),
//!     // `b` never answered (the process died), and a stray result of an unknown call:
//!     Message::tool_result("zzz", "t", "?", false),
//!     Message::user("And now?"),
//! ];
//! let repaired = repair(history);
//! assert_eq!(repaired.len(), 5);
//! assert!(matches!(&repaired[3], Message::Tool { call_id, is_error: true, .. } if call_id == "b"));
//!
//! // Keep the last run only: the cut falls at a user message.
//! let trimmed = trim(repaired, &HistoryLimits { runs: Some(1), ..HistoryLimits::default() });
//! assert_eq!(trimmed, vec![Message::user("And now?")]);
//! ```

use crate::model::Message;

/// The text a call without a result gets as its (error) result.
pub const INTERRUPTED: &str = "Error: this call was interrupted before it returned a result";

/// How much history a run sends; each limit that is set applies. `None` everywhere (the
/// default): all of it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistoryLimits {
    /// At most this many earlier runs (a run begins with a user message).
    pub runs: Option<usize>,
    /// At most about this many messages: the cut moves forward to the next run's start, so
    /// fewer may be kept, and the last run is kept whole even when it alone is longer.
    pub messages: Option<usize>,
    /// At most about this many tokens, estimated at four characters a token; cut like
    /// `messages`.
    pub tokens: Option<usize>,
}

/// Make a history valid for every provider: each tool call is followed by a result (one saying
/// it was interrupted where there was none), results follow their call in call order, and a
/// result without a call is dropped, as is a second result for the same call. System messages
/// are dropped too: each run sends its own agent's system prompt.
pub fn repair(messages: Vec<Message>) -> Vec<Message> {
    let mut out = Vec::with_capacity(messages.len());
    let mut iter = messages.into_iter().peekable();
    while let Some(message) = iter.next() {
        match message {
            Message::System { .. } => {}
            // A result that does not follow its call's turn.
            Message::Tool { .. } => {}
            Message::Assistant { ref tool_calls, .. } if !tool_calls.is_empty() => {
                let calls = tool_calls.clone();
                out.push(message);
                // The results that follow this turn, in the order of its calls.
                let mut results: Vec<Option<Message>> = vec![None; calls.len()];
                while let Some(Message::Tool { .. }) = iter.peek() {
                    let Some(Message::Tool { call_id, name, content, is_error }) = iter.next() else { break };
                    if let Some(slot) =
                        calls.iter().position(|c| c.id == call_id).and_then(|i| results.get_mut(i))
                        && slot.is_none()
                    {
                        *slot = Some(Message::Tool { call_id, name, content, is_error });
                    }
                }
                for (call, result) in calls.iter().zip(results) {
                    out.push(result.unwrap_or_else(|| {
                        Message::tool_result(call.id.clone(), call.name.clone(), INTERRUPTED, true)
                    }));
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// Keep the end of a history within `limits`, cutting only where a run begins (a user
/// message), so a call and its result are never separated.
pub fn trim(messages: Vec<Message>, limits: &HistoryLimits) -> Vec<Message> {
    let starts: Vec<usize> = messages
        .iter()
        .enumerate()
        .filter(|(_, m)| matches!(m, Message::User { .. }))
        .map(|(i, _)| i)
        .collect();
    let Some(&last_start) = starts.last() else {
        // No run starts here (no user message at all): nothing can be cut safely but everything.
        return if limits == &HistoryLimits::default() { messages } else { Vec::new() };
    };
    let mut cut = starts.first().copied().unwrap_or(0);
    if let Some(runs) = limits.runs {
        cut = cut.max(if runs == 0 { messages.len() } else { starts[starts.len().saturating_sub(runs)] });
    }
    if let Some(max) = limits.messages {
        let want = messages.len().saturating_sub(max);
        cut = cut.max(first_start_at_or_after(&starts, want).unwrap_or(last_start));
    }
    if let Some(budget) = limits.tokens {
        let mut total = 0;
        let mut want = messages.len();
        for (i, message) in messages.iter().enumerate().rev() {
            total += estimate_tokens(message);
            if total > budget {
                break;
            }
            want = i;
        }
        cut = cut.max(first_start_at_or_after(&starts, want).unwrap_or(last_start));
    }
    let mut messages = messages;
    messages.drain(..cut.min(messages.len()));
    messages
}

fn first_start_at_or_after(starts: &[usize], at: usize) -> Option<usize> {
    starts.iter().copied().find(|&s| s >= at)
}

/// About how many tokens a message costs: four characters a token.
pub fn estimate_tokens(message: &Message) -> usize {
    let chars = match message {
        Message::System { content } | Message::User { content } => content.len(),
        Message::Assistant { content, tool_calls, .. } => {
            content.as_ref().map_or(0, String::len)
                + tool_calls.iter().map(|c| c.name.len() + c.arguments.len()).sum::<usize>()
        }
        Message::Tool { content, .. } => content.len(),
    };
    chars.div_ceil(4) + 4
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tool::ToolCall;

    fn run(n: usize, calls: usize) -> Vec<Message> {
        let ids: Vec<String> = (0..calls).map(|c| format!("r{n}c{c}")).collect();
        let mut m = vec![
            Message::user(format!("question {n}")),
            Message::assistant(None, ids.iter().map(|id| ToolCall::new(id, "t", "{}")).collect()),
        ];
        m.extend(ids.iter().map(|id| Message::tool_result(id, "t", "ok", false)));
        m.push(Message::assistant(Some(format!("answer {n}")), Vec::new()));
        m
    }

    fn valid(messages: &[Message]) -> bool {
        repair(messages.to_vec()) == messages
    }

    #[test]
    fn repair_keeps_a_valid_history() {
        let history: Vec<Message> = (0..3).flat_map(|n| run(n, 3)).collect();
        assert_eq!(repair(history.clone()), history);
    }

    #[test]
    fn results_are_put_in_call_order_and_duplicates_dropped() {
        let mut history = run(0, 3);
        history.swap(2, 4);
        history.insert(5, Message::tool_result("r0c0", "t", "second", false));
        let repaired = repair(history);
        assert_eq!(repaired, run(0, 3));
    }

    #[test]
    fn a_system_prompt_in_history_is_dropped() {
        let mut history = vec![Message::system("old prompt")];
        history.extend(run(0, 1));
        assert_eq!(repair(history), run(0, 1));
    }

    #[test]
    fn trimming_never_separates_a_call_from_its_result() {
        let history: Vec<Message> = (0..5).flat_map(|n| run(n, 3)).collect();
        for max in 0..history.len() + 2 {
            let trimmed = trim(history.clone(), &HistoryLimits { messages: Some(max), ..Default::default() });
            assert!(valid(&trimmed), "messages {max}");
            assert!(matches!(trimmed.first(), Some(Message::User { .. })));
            // The last run is always kept.
            assert!(trimmed.len() >= 6 && trimmed.len() <= max.max(6), "messages {max}: {}", trimmed.len());
        }
        for budget in [0, 10, 50, 100, 1000] {
            let trimmed =
                trim(history.clone(), &HistoryLimits { tokens: Some(budget), ..Default::default() });
            assert!(valid(&trimmed) && matches!(trimmed.first(), Some(Message::User { .. })));
        }
        for runs in 0..7 {
            let trimmed = trim(history.clone(), &HistoryLimits { runs: Some(runs), ..Default::default() });
            assert_eq!(trimmed.len(), 6 * runs.min(5), "runs {runs}");
        }
    }
}
