//! The body of an agent used as a tool: its run, as the sub-agent of the call it runs in.

use std::sync::Arc;

use super::Agent;
use super::run::{self, Parent, RunOptions, Start};
use super::tree::{Report, Scope, qualify};
use crate::event::{EventKind, RunEvent};
use crate::model::Message;
use crate::output::{MemberMetrics, RunOutput, RunStatus};
use crate::store::{RunState, SessionStore};
use crate::tool::scope::Lent;
use crate::tool::{ToolError, ToolResult};

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
    let mut options = RunOptions {
        user_id: base.user_id.clone(),
        parent: Some(parent),
        ephemeral: base.ephemeral,
        ..RunOptions::default()
    };
    if base.store.is_some() {
        // Stored in the parent's session, under the parent's run.
        options.session_id.clone_from(&base.session_id);
    }
    let origin = run::identify(inner, &start, &mut options);
    let store = base.store.clone().or_else(|| agent.store().cloned()).filter(|_| !base.ephemeral);
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
