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
//! Cancellation needs nothing here: a sub-run is a future inside its call's task, so whatever
//! stops the call (the run dropped or cancelled, the call's timeout) drops the sub-run and its
//! own calls at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::request::{Parent, RunOptions};
use super::run::{self, Decision, Start};
use super::{Agent, Inner};
use crate::event::{EventKind, RunEvent};
use crate::model::Message;
use crate::output::{MemberMetrics, PausedRun, RunOutput, RunStatus};
use crate::store::{RunState, SessionStore};
use crate::tool::scope::Lent;
use crate::tool::{ToolCall, ToolError, ToolResult};

/// The limits a run keeps, the smaller of its agent's and what the runs above allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Caps {
    pub(crate) max_turns: usize,
    pub(crate) tool_call_limit: Option<usize>,
    /// The deepest level a run below may be at.
    pub(crate) max_depth: usize,
}

impl Caps {
    /// The limits of a run of `inner`, under `parent`'s.
    pub(crate) fn of(inner: &Inner, parent: Option<&Parent>) -> Self {
        let settings = &inner.settings;
        let own = Caps {
            max_turns: settings.max_turns,
            tool_call_limit: settings.tool_call_limit,
            max_depth: settings.max_depth,
        };
        let Some(parent) = parent else { return own };
        let above = parent.caps;
        Caps {
            max_turns: own.max_turns.min(above.max_turns),
            tool_call_limit: match (own.tool_call_limit, above.tool_call_limit) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            // The agent's own limit counts from its own level.
            max_depth: above.max_depth.min(parent.depth.saturating_add(own.max_depth)),
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
    /// Model turns streamed (sub-runs stream theirs too).
    pub(crate) streaming: bool,
}

/// What one batch of a run lends the delegating calls it runs.
#[derive(Debug)]
pub(crate) struct Scope {
    pub(crate) base: Arc<Base>,
    /// The sub-runs' events, for the run's loop to pass on.
    events: mpsc::UnboundedSender<RunEvent>,
    /// How the sub-runs ended, by call id.
    reports: Mutex<HashMap<String, Report>>,
    /// Paused sub-runs to continue, by call id.
    resumes: Mutex<HashMap<String, (Box<PausedRun>, Vec<(String, Decision)>)>>,
}

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

    fn report(&self, call_id: &str, report: Report) {
        self.reports.lock().unwrap_or_else(|p| p.into_inner()).insert(call_id.to_owned(), report);
    }

    /// Have call `call_id` continue `paused` with `decisions` instead of starting a new run.
    pub(crate) fn resume(&self, call_id: &str, paused: Box<PausedRun>, decisions: Vec<(String, Decision)>) {
        self.resumes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(call_id.to_owned(), (paused, decisions));
    }

    fn take_resume(&self, call_id: &str) -> Option<(Box<PausedRun>, Vec<(String, Decision)>)> {
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

/// Run `agent` on `task` as the sub-agent of the call this code runs in: the body of an agent
/// used as a tool. Its answer is the call's result; a run that fails, or ends without an
/// answer, is an error result.
pub(crate) async fn delegate(agent: &Agent, task: String) -> ToolResult {
    let Some((lent, scope)) = Lent::current().and_then(|lent| {
        let scope = Arc::clone(&lent.run).downcast::<Scope>().ok()?;
        Some((lent, scope))
    }) else {
        // Called outside a run (an executor used on its own): the agent runs on its own.
        return match agent.run(task).await {
            Ok(output) if output.pending_calls().is_empty() => answer(&output),
            Ok(_) => Err(ToolError::NotRun("it needs confirmation, which only a run can ask for".into())),
            Err(err) => Err(failed(agent, &err)),
        };
    };
    let base = &scope.base;
    let depth = base.depth + 1;
    if depth > base.caps.max_depth {
        return Err(ToolError::NotRun(format!(
            "the agent tree is limited to {} level(s) of sub-agents",
            base.caps.max_depth
        )));
    }
    let inner = &agent.inner;
    let start = match scope.take_resume(&lent.call_id) {
        Some((paused, decisions)) => Start::Resume(paused, decisions),
        None => Start::Input(task),
    };
    let parent = Parent {
        run_id: base.run_id.clone(),
        call_id: lent.call_id.clone(),
        path: base.path.clone(),
        depth,
        store: base.store.clone(),
        slots: Arc::clone(&lent.slots),
        caps: base.caps,
    };
    let mut options =
        RunOptions { user_id: base.user_id.clone(), parent: Some(parent), ..RunOptions::default() };
    if base.store.is_some() {
        // Stored in the parent's session, under the parent's run.
        options.session_id.clone_from(&base.session_id);
    }
    let origin = run::identify(inner, &start, &mut options);
    let store = base.store.clone().or_else(|| agent.store().cloned());
    let mut unfinished = Unfinished { store, run_id: origin.run_id.clone() };
    let events = scope.events.clone();
    let outcome = run::run(inner, start, options, Arc::clone(&origin), base.streaming, &mut |event| {
        // The receiver lives as long as the batch this call belongs to.
        let _ = events.send(event);
    })
    .await;
    unfinished.store = None;
    let output = match outcome {
        Ok(output) => output,
        Err(err) => return Err(failed(agent, &err)),
    };
    let paused = output.take_paused();
    let completed = |output: &RunOutput| RunEvent {
        origin: Arc::clone(&origin),
        kind: EventKind::RunCompleted(Box::new(output.clone())),
    };
    let _ = events.send(completed(&output));
    if let Some(paused) = paused {
        let pending = qualify(&lent.call_id, output.pending_calls());
        scope.report(&lent.call_id, Report::Paused(Box::new(paused), pending));
        return Err(ToolError::NotRun("the sub-agent waits for confirmation".into()));
    }
    let metrics = MemberMetrics {
        agent: origin.agent.clone(),
        path: origin.path.clone(),
        run_id: origin.run_id.clone(),
        call_id: lent.call_id.clone(),
        usage: output.metrics.usage,
        duration: output.metrics.duration,
    };
    let result = answer(&output);
    scope.report(&lent.call_id, Report::Ended(metrics, output.metrics.members));
    result
}

/// The result the run above gets from a sub-agent's output.
fn answer(output: &RunOutput) -> ToolResult {
    match &output.status {
        RunStatus::Completed => Ok(output.content.clone()),
        RunStatus::StoppedAfterToolCall => {
            // The results of the batch it stopped after.
            let results: Vec<&str> = output
                .messages
                .iter()
                .rev()
                .take_while(|m| matches!(m, Message::Tool { .. }))
                .filter_map(|m| match m {
                    Message::Tool { content, .. } => Some(content.as_str()),
                    _ => None,
                })
                .collect();
            Ok(results.into_iter().rev().collect::<Vec<_>>().join("\n\n"))
        }
        RunStatus::ToolCallLimitReached { limit } => Err(ToolError::Failed(format!(
            "it stopped without an answer: it reached its limit of {limit} tool calls"
        ))),
        RunStatus::MaxTurnsReached { limit } => Err(ToolError::Failed(format!(
            "it stopped without an answer: it reached its limit of {limit} model turns"
        ))),
        RunStatus::Paused { .. } => Err(ToolError::NotRun("it waits for confirmation".into())),
    }
}

fn failed(agent: &Agent, err: &crate::Error) -> ToolError {
    let name = agent.name().unwrap_or("the agent");
    ToolError::Failed(format!("{name} failed: {err}"))
}

/// A sub-run dropped before it ended — its call timed out, its run was cancelled — is stored
/// as cancelled (when it is stored at all): nothing else would say so.
struct Unfinished {
    store: Option<Arc<dyn SessionStore>>,
    run_id: String,
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        let Some(store) = self.store.take() else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let run_id = std::mem::take(&mut self.run_id);
        runtime.spawn(async move {
            // A run that was never stored (dropped before it began) has nothing to update.
            let _ = store.set_state(&run_id, RunState::Cancelled, None).await;
        });
    }
}
