//! Runs inside runs: a tool call that runs an agent (a team's member, an
//! [`AgentTool`](crate::team::AgentTool)) starts a sub-agent's run under the call's run.
//!
//! The run lends each such call its [`Scope`] through the executor (see
//! [`Lent`](crate::tool::scope::Lent)): who the run is (its id, path, session, store, limits),
//! where the sub-run's events go (a channel the run's loop drains into its own stream, between
//! its own events), and where the sub-run reports how it ended — with its usage, or paused with
//! calls waiting for confirmation. A paused sub-run is resumed by the same call when the run is
//! continued: the run puts the paused state and the decisions for it into the scope before the
//! call starts again.
//!
//! The sub-run itself is started by [`delegate`](super::delegate::delegate).
//!
//! Cancellation needs nothing here: a sub-run is a future inside its call's task, so whatever
//! stops the call (the run dropped or cancelled, the call's timeout) drops the sub-run and its
//! own calls at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::Inner;
use super::decision::Decision;
use crate::event::RunEvent;
use crate::output::{MemberMetrics, PausedRun};
use crate::store::SessionStore;
use crate::tool::ToolCall;

/// The limits a run keeps, the smaller of its agent's and what the runs above allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Caps {
    pub(crate) max_turns: usize,
    pub(crate) tool_call_limit: Option<usize>,
    /// The deepest level a run below may be at.
    pub(crate) max_depth: usize,
}

impl Caps {
    /// The limits of a run of `inner`, at `depth`, under `above` (the limits of the run above,
    /// for a sub-agent's run).
    pub(crate) fn of(inner: &Inner, depth: usize, above: Option<Caps>) -> Self {
        let settings = &inner.settings;
        let own = Caps {
            max_turns: settings.max_turns,
            tool_call_limit: settings.tool_call_limit,
            max_depth: settings.max_depth,
        };
        let Some(above) = above else { return own };
        Caps {
            max_turns: own.max_turns.min(above.max_turns),
            tool_call_limit: match (own.tool_call_limit, above.tool_call_limit) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            // The agent's own limit counts from its own level.
            max_depth: above.max_depth.min(depth.saturating_add(own.max_depth)),
        }
    }
}

/// What a run lends the sub-agents its calls start: fixed for the run.
#[derive(Debug)]
pub(crate) struct Base {
    pub(crate) run_id: String,
    pub(crate) session_id: Option<String>,
    pub(crate) user_id: Option<String>,
    /// The run's path (its own name last; never empty).
    pub(crate) path: Vec<String>,
    pub(crate) depth: usize,
    pub(crate) caps: Caps,
    /// Where the run is stored, when it is.
    pub(crate) store: Option<Arc<dyn SessionStore>>,
    /// The run is kept out of every store, and so are its sub-runs.
    pub(crate) ephemeral: bool,
    /// Model turns streamed (sub-runs stream theirs too).
    pub(crate) streaming: bool,
}

/// What one batch of a run lends the delegating calls it runs.
#[derive(Debug)]
pub(crate) struct Scope {
    pub(crate) base: Arc<Base>,
    /// The sub-runs' events, for the run's loop to pass on.
    pub(crate) events: mpsc::UnboundedSender<RunEvent>,
    /// How the sub-runs ended, by call id.
    reports: Mutex<HashMap<String, Report>>,
    /// Paused sub-runs to continue, by call id.
    resumes: Mutex<HashMap<String, Resume>>,
}

/// A paused sub-run and the decisions to continue it with.
pub(crate) type Resume = (Box<PausedRun>, Vec<(String, Decision)>);

/// How a sub-run ended, for the run above.
#[derive(Debug)]
pub(crate) enum Report {
    /// It has an output: what it used.
    Ended(MemberMetrics, Vec<MemberMetrics>),
    /// It waits for confirmation: its state, and its pending calls (ids already qualified by
    /// the call that ran it).
    Paused(Box<PausedRun>, Vec<ToolCall>),
}

impl Scope {
    /// A scope for one batch, and the receiver of its sub-runs' events.
    pub(crate) fn new(base: Arc<Base>) -> (Arc<Self>, mpsc::UnboundedReceiver<RunEvent>) {
        let (events, rx) = mpsc::unbounded_channel();
        let scope = Scope { base, events, reports: Mutex::default(), resumes: Mutex::default() };
        (Arc::new(scope), rx)
    }

    /// The report of the sub-run of call `call_id`, once.
    pub(crate) fn take_report(&self, call_id: &str) -> Option<Report> {
        self.reports.lock().unwrap_or_else(|p| p.into_inner()).remove(call_id)
    }

    /// How the sub-run of call `call_id` ended.
    pub(crate) fn report(&self, call_id: &str, report: Report) {
        self.reports.lock().unwrap_or_else(|p| p.into_inner()).insert(call_id.to_owned(), report);
    }

    /// Have call `call_id` continue `paused` with `decisions` instead of starting a new run.
    pub(crate) fn resume(&self, call_id: &str, paused: Box<PausedRun>, decisions: Vec<(String, Decision)>) {
        self.resumes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(call_id.to_owned(), (paused, decisions));
    }

    /// The paused sub-run call `call_id` continues, if any (once).
    pub(crate) fn take_resume(&self, call_id: &str) -> Option<Resume> {
        self.resumes.lock().unwrap_or_else(|p| p.into_inner()).remove(call_id)
    }
}

/// The id a sub-agent's pending call is listed under in the run above: prefixed with the id of
/// the call that ran the sub-agent.
pub(crate) fn qualify(call_id: &str, pending: &[ToolCall]) -> Vec<ToolCall> {
    pending.iter().map(|call| ToolCall { id: format!("{call_id}/{}", call.id), ..call.clone() }).collect()
}

/// The decisions meant for the sub-agent run by call `call_id`, with the prefix taken off.
pub(crate) fn decisions_for(call_id: &str, decisions: &[(String, Decision)]) -> Vec<(String, Decision)> {
    let prefix = format!("{call_id}/");
    decisions
        .iter()
        .filter_map(|(id, decision)| Some((id.strip_prefix(&prefix)?.to_owned(), decision.clone())))
        .collect()
}
