//! The run loop: model turn → tool batch → model turn … until a final answer or a limit.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::Inner;
use super::decision::Decision;
use super::tree::{self, Base, Caps, Report, Scope};
use crate::error::{Error, Result};
use crate::event::{EventKind, Origin, RunEvent};
use crate::exec::{Batch, BatchEvent, Executor, ToolExecution};
use crate::model::{Message, ModelDelta, ModelRequest, Replay, Usage};
use crate::output::{MemberMetrics, Metrics, PausedMember, PausedRun, RunOutput, RunStatus, TurnMetrics};
use crate::spans;
use crate::store::{RunRecord, RunState, SessionStore, StoreFuture, StoredMessage, StoredRun, lease_owner};

use crate::tool::{ToolCall, ToolError, ToolProgress};

/// What a run carries besides its input.
#[derive(Debug, Default)]
pub(crate) struct RunOptions {
    pub(crate) run_id: Option<String>,
    pub(crate) session_id: Option<String>,
    pub(crate) user_id: Option<String>,
    pub(crate) history: Vec<Message>,
    pub(crate) cancel: Option<CancellationToken>,
    /// Where the run sits in a tree of agents (a sub-agent's run).
    pub(crate) parent: Option<Parent>,
    /// Keep the run (and its sub-agents' runs) out of every store.
    pub(crate) ephemeral: bool,
}

/// The run and call a sub-agent's run was started by, and what it shares with them.
#[derive(Debug, Clone)]
pub(crate) struct Parent {
    pub(crate) run_id: String,
    pub(crate) call_id: String,
    /// The parent run's path (never empty: a root run's is its own name).
    pub(crate) path: Vec<String>,
    /// How many levels below the root this run is (a team's member: 1).
    pub(crate) depth: usize,
    /// Where the parent run is stored: the sub-agent's run is stored in the same session.
    pub(crate) store: Option<Arc<dyn SessionStore>>,
    /// Concurrency slots of the runs above: every tool call of this run takes one of each.
    pub(crate) slots: Arc<[Arc<tokio::sync::Semaphore>]>,
    /// The limits the runs above allow.
    pub(crate) caps: Caps,
}

/// Where a run reports its events: each is stamped with the run's origin.
pub(crate) struct Sink<'a> {
    origin: Arc<Origin>,
    out: &'a mut (dyn FnMut(RunEvent) + Send),
}

impl Sink<'_> {
    fn emit(&mut self, kind: EventKind) {
        (self.out)(RunEvent { origin: Arc::clone(&self.origin), kind });
    }

    /// Pass on an event of a sub-agent's run, as it is.
    fn forward(&mut self, event: RunEvent) {
        (self.out)(event);
    }
}

/// How a run begins: from the user's input, or where a paused run stopped.
#[derive(Debug)]
pub(crate) enum Start {
    Input(String),
    Resume(Box<PausedRun>, Vec<(String, Decision)>),
    /// A stored run that was interrupted ([`Agent::resume`](crate::Agent::resume)), by id.
    Recover(String),
}

/// What the run loop carries from turn to turn.
#[derive(Debug)]
struct Progress {
    run_id: String,
    session_id: Option<String>,
    user_id: Option<String>,
    created_at: SystemTime,
    run_start: Instant,
    messages: Vec<Message>,
    /// Where this run's own messages begin in `messages`.
    new_from: usize,
    executions: Vec<ToolExecution>,
    metrics: Metrics,
    /// The limits the run keeps.
    caps: Caps,
    /// Where the run sits in a tree of agents.
    place: Place,
}

/// What a run's tool batches need of its place in a tree of agents.
#[derive(Debug, Clone, Default)]
struct Place {
    /// Slots of the runs above (for a sub-agent's run).
    inherited: Option<Arc<[Arc<tokio::sync::Semaphore>]>>,
    /// What the run lends the sub-agents its calls run (only for agents that may run some).
    base: Option<Arc<Base>>,
}

/// Where a run's rows go as it goes, when the agent has a store and the run a session.
struct Journal<'a> {
    store: Option<&'a dyn SessionStore>,
    /// The same store, shared with the writes that go on beside a batch.
    shared: Option<Arc<dyn SessionStore>>,
    run_id: String,
    /// How many of the run's own messages are stored.
    stored: usize,
    /// The first write that failed, if any; the run goes on, and its end tries again.
    failure: Option<Error>,
}

impl Journal<'_> {
    /// Store the run's messages not stored yet (a write that failed is tried again here: the
    /// store ignores a message it already has).
    async fn save(&mut self, new_messages: &[Message]) {
        let Some(store) = self.store else { return };
        let Some(unsaved) = new_messages.get(self.stored..).filter(|m| !m.is_empty()) else { return };
        let rows: Vec<StoredMessage> = unsaved
            .iter()
            .enumerate()
            .map(|(i, message)| StoredMessage { seq: (self.stored + i) as u32, message: message.clone() })
            .collect();
        match store.append_messages(&self.run_id, &rows).await {
            Ok(()) => self.stored = new_messages.len(),
            Err(err) => {
                tracing::warn!("run {}: storing its messages failed, the run goes on: {err}", self.run_id);
                self.failure.get_or_insert(err);
            }
        }
    }

    /// Before a turn's calls are waited for: store the run's messages not stored yet, the
    /// turn's assistant message (at the next seq) and the results of calls already done. True
    /// when all is stored: the turn's other results are then stored as their calls complete
    /// (a [`CallJournal`]); else they are stored with the batch.
    async fn save_turn(
        &mut self,
        new_messages: &[Message],
        assistant: Message,
        done: Vec<StoredMessage>,
    ) -> bool {
        let Some(store) = self.store else { return false };
        let unsaved = new_messages.get(self.stored..).unwrap_or_default();
        let mut rows: Vec<StoredMessage> = Vec::with_capacity(unsaved.len() + 1 + done.len());
        rows.extend(
            unsaved.iter().enumerate().map(|(i, message)| StoredMessage {
                seq: (self.stored + i) as u32,
                message: message.clone(),
            }),
        );
        rows.push(StoredMessage { seq: new_messages.len() as u32, message: assistant });
        rows.extend(done);
        match store.append_messages(&self.run_id, &rows).await {
            Ok(()) => {
                self.stored = new_messages.len();
                true
            }
            Err(err) => {
                tracing::warn!("run {}: storing its turn failed, the run goes on: {err}", self.run_id);
                self.failure.get_or_insert(err);
                false
            }
        }
    }

    /// A [`CallJournal`] for a turn whose assistant message is stored at `seq`.
    fn calls(&self, seq: usize) -> Option<Box<CallJournal>> {
        self.store?;
        Some(Box::new(CallJournal {
            store: Arc::clone(self.shared.as_ref()?),
            run_id: Arc::from(self.run_id.as_str()),
            seq: seq as u32,
            writing: None,
            queued: Vec::new(),
            failed: false,
        }))
    }

    /// After a batch whose every result its [`CallJournal`] stored: the run's messages so far
    /// (`stored` of them) are all in the store; else they are stored now.
    async fn save_batch(&mut self, new_messages: &[Message], all_stored: bool) {
        if all_stored && self.failure.is_none() {
            self.stored = new_messages.len();
        } else {
            self.save(new_messages).await;
        }
    }

    /// Record the run's new state.
    async fn set_state(&mut self, state: RunState, data: Option<serde_json::Value>) -> Result<()> {
        let Some(store) = self.store else { return Ok(()) };
        store.set_state(&self.run_id, state, data.as_ref()).await
    }
}

/// Stores each result of a turn the moment its call completes, at `seq + 1 + call index` (after
/// the turn's assistant message at `seq`). The writes go on alongside the batch: a call's
/// siblings never wait for them. One write at a time: results that complete while one is
/// under way are stored together by the next (one commit for many, not one each).
struct CallJournal {
    store: Arc<dyn SessionStore>,
    run_id: Arc<str>,
    seq: u32,
    /// The write under way.
    writing: Option<StoreFuture<'static, ()>>,
    /// Results waiting for it to end.
    queued: Vec<StoredMessage>,
    /// A write failed: the batch's results are stored again at its end.
    failed: bool,
}

impl CallJournal {
    fn completed(&mut self, index: usize, execution: &ToolExecution) {
        self.queued
            .push(StoredMessage { seq: self.seq + 1 + index as u32, message: tool_message(execution) });
        if self.writing.is_none() {
            self.write_queued();
        }
    }

    fn write_queued(&mut self) {
        if self.queued.is_empty() {
            return;
        }
        let rows = std::mem::take(&mut self.queued);
        let (store, run_id) = (Arc::clone(&self.store), Arc::clone(&self.run_id));
        self.writing = Some(Box::pin(async move { store.append_messages(&run_id, &rows).await }));
    }

    /// Whether a write is under way.
    fn busy(&self) -> bool {
        self.writing.is_some()
    }

    /// Wait for the write under way to end (pending when there is none), then start the next.
    async fn next_written(&mut self) {
        let result = match &mut self.writing {
            Some(writing) => writing.await,
            None => std::future::pending().await,
        };
        self.writing = None;
        if let Err(err) = result {
            tracing::warn!(
                "run {}: storing tool results failed; the batch's end tries again: {err}",
                self.run_id
            );
            self.failed = true;
        }
        self.write_queued();
    }
}

/// The message that gives the model a call's result.
fn tool_message(execution: &ToolExecution) -> Message {
    Message::Tool {
        call_id: execution.call.id.clone(),
        name: execution.call.name.clone(),
        content: execution.content_for_model(),
        is_error: execution.is_error(),
    }
}

/// The lease owner of one execution of a run: this process and a number of its own, so that
/// two executions of one run never share a lease, in one process or several.
fn lease_holder() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!("{}/{}", lease_owner(), NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

/// Take run `run_id`'s lease for `owner`, or fail when another holds it.
async fn claim(store: &dyn SessionStore, run_id: &str, owner: &str, ttl: Duration) -> Result<()> {
    if store.claim_run(run_id, owner, ttl).await? {
        Ok(())
    } else {
        Err(Error::storage(format!(
            "run {run_id:?} is going on elsewhere (another process, or another task, holds its lease); it is not taken over"
        )))
    }
}

/// Renew the run's lease every third of `ttl` for as long as the run goes on; returns (an
/// error) only when another process took the lease over, and the run must stop.
async fn renew_lease(store: &dyn SessionStore, run_id: String, owner: &str, ttl: Duration) -> Error {
    loop {
        tokio::time::sleep(ttl / 3).await;
        match store.claim_run(&run_id, owner, ttl).await {
            Ok(true) => {}
            Ok(false) => {
                return Error::storage(format!(
                    "run {run_id:?} was taken over by another process (its lease lapsed); it stops here"
                ));
            }
            Err(err) => tracing::warn!("run {run_id}: renewing its lease failed, trying again: {err}"),
        }
    }
}

/// Run to the end, or to a pause. `streaming` selects streamed model turns (and with them eager
/// tool start).
pub(crate) async fn run(
    inner: &Inner,
    start: Start,
    options: RunOptions,
    origin: Arc<Origin>,
    streaming: bool,
    out: &mut (dyn FnMut(RunEvent) + Send),
) -> Result<RunOutput> {
    // A sub-agent's run is stored where its parent's is.
    let parent_store = options.parent.as_ref().and_then(|p| p.store.clone());
    let store_arc = match options.ephemeral {
        true => None,
        false => parent_store.or_else(|| inner.conversation.as_ref()?.store.clone()),
    };
    let store = store_arc.as_deref();
    let ttl = inner.settings.lease;
    // Without a store: no lease, and no allocation for one.
    let owner = if store.is_some() { lease_holder() } else { String::new() };
    if let (Some(store), Start::Recover(run_id)) = (store, &start) {
        // Owned before it is read: nobody else resumes it at the same time.
        claim(store, run_id, &owner, ttl).await?;
    }
    let caps = Caps::of(
        inner,
        options.parent.as_ref().map_or(0, |p| p.depth),
        options.parent.as_ref().map(|p| p.caps),
    );
    let (mut state, first, prepared) = prepare(inner, start, &options, store, caps).await?;
    // A resumed run's session is known once it is loaded.
    let origin = if origin.session_id == state.session_id {
        origin
    } else {
        Arc::new(Origin { session_id: state.session_id.clone(), ..(*origin).clone() })
    };
    state.place = Place {
        inherited: options.parent.as_ref().map(|p| Arc::clone(&p.slots)).filter(|s| !s.is_empty()),
        base: may_delegate(inner).then(|| {
            let path = match origin.path.is_empty() {
                true => vec![origin.agent.clone().unwrap_or_else(|| "agent".to_owned())],
                false => origin.path.clone(),
            };
            Arc::new(Base {
                run_id: state.run_id.clone(),
                session_id: state.session_id.clone(),
                user_id: state.user_id.clone(),
                path,
                depth: options.parent.as_ref().map_or(0, |p| p.depth),
                caps,
                store: store_arc.clone().filter(|_| state.session_id.is_some()),
                ephemeral: options.ephemeral,
                streaming,
            })
        }),
    };
    let mut sink = Sink { origin, out };
    let mut journal = Journal {
        store: store.filter(|_| state.session_id.is_some()),
        shared: store_arc.clone().filter(|_| state.session_id.is_some()),
        run_id: state.run_id.clone(),
        stored: prepared,
        failure: None,
    };
    if let (Some(store), Entry::New) = (journal.store, &first) {
        let record = RunRecord {
            run_id: state.run_id.clone(),
            session_id: state.session_id.clone().unwrap_or_default(),
            user_id: state.user_id.clone(),
            agent_id: inner.name.clone(),
            parent_run_id: options.parent.as_ref().map(|p| p.run_id.clone()),
            created_at: state.created_at,
        };
        // Nothing has happened yet: a store that cannot take the run fails it before the model
        // is asked anything. Claimed first, so it is never seen running without a lease.
        claim(store, &record.run_id, &owner, ttl).await?;
        store.begin_run(&record).await?;
    } else if let Some(store) = journal.store {
        if matches!(first, Entry::Resume(..)) {
            claim(store, &journal.run_id, &owner, ttl).await?;
            // Two continuations of one pause (two clients, two server instances): the one that
            // claims the run second finds it no longer paused, and stops before repeating a call.
            if let Some(run) = store.run(&journal.run_id).await?
                && run.state != RunState::Paused
            {
                if let Err(err) = store.release_run(&journal.run_id, &owner).await {
                    tracing::warn!("run {}: releasing its lease failed: {err}", journal.run_id);
                }
                return Err(Error::config(format!(
                    "run {:?} is {}, not paused: it was continued already",
                    journal.run_id, run.state
                )));
            }
        }
        journal.set_state(RunState::Running, None).await.unwrap_or_else(|err| {
            tracing::warn!("run {}: storing its new state failed: {err}", journal.run_id);
        });
    }
    journal.save(state.messages.get(state.new_from..).unwrap_or_default()).await;

    let span = spans::agent(inner.name.as_deref(), &*inner.model);
    // A stored run renews its lease as it goes, and gives its calls idempotency keys
    // (`{run id}/{call id}`) unless the caller set a scope of its own.
    let durable = journal.store.map(|store| (store, state.run_id.clone()));
    let (outcome, lost) = {
        // The loop on the heap, in a scope of its own: this future stays small while it runs,
        // and its space is free again for storing the end.
        let mut looping: Pin<Box<dyn Future<Output = Result<RunOutput>> + Send + '_>> = Box::pin(
            run_in_span(inner, state, first, streaming, &mut sink, &mut journal).instrument(span.clone()),
        );
        let mut renewing = None;
        if let Some((store, run_id)) = durable {
            if !crate::tool::idempotency::has_scope() {
                looping = Box::pin(crate::tool::with_idempotency_scope(run_id.clone(), looping));
            }
            renewing = Some(Box::pin(renew_lease(store, run_id, &owner, ttl)));
        }
        let cancelled = async {
            match &options.cancel {
                Some(token) => token.cancelled().await,
                None => std::future::pending().await,
            }
        };
        let lost = async {
            match renewing.as_mut() {
                Some(renewing) => renewing.await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = cancelled => (Err(Error::cancelled()), false),
            outcome = looping => (outcome, false),
            err = lost => (Err(err), true),
        }
    };
    spans::agent_done(
        &span,
        outcome.as_ref().map(|output| (&output.metrics.usage, &output.status as &dyn std::fmt::Debug)),
    );
    if lost {
        // Another process runs it now: this one stores nothing more of it.
        return outcome;
    }
    let ended = record_end(&mut journal, outcome, &mut sink).await;
    if let Some(store) = journal.store
        && let Err(err) = store.release_run(&journal.run_id, &owner).await
    {
        tracing::warn!("run {}: releasing its lease failed (it expires): {err}", journal.run_id);
    }
    ended
}

/// True when the agent has tools that run agents, or may get some (from a tool source).
fn may_delegate(inner: &Inner) -> bool {
    inner.executor.tools().delegates() || inner.sources.is_some()
}

/// Store how the run ended. A run whose rows could not all be stored fails with the storage
/// error — after its output has been reported (as the last event of a stream, and as the
/// error's [`raw_output`](Error::raw_output)), so its answer still reaches the caller.
async fn record_end(
    journal: &mut Journal<'_>,
    outcome: Result<RunOutput>,
    sink: &mut Sink<'_>,
) -> Result<RunOutput> {
    if journal.store.is_none() {
        return outcome;
    }
    let output = match outcome {
        Ok(output) => output,
        Err(err) => {
            let state = if err.is_cancelled() { RunState::Cancelled } else { RunState::Failed };
            let data = serde_json::to_value(&err).ok();
            if let Err(store_err) = journal.set_state(state, data).await {
                tracing::warn!("run {}: storing that it {state} failed: {store_err}", journal.run_id);
            }
            return Err(err);
        }
    };
    journal.save(output.new_messages()).await;
    let (state, data) = match output.paused.as_ref().and_then(|_| output_paused_json(&output)) {
        Some(paused) => (RunState::Paused, Some(paused)),
        None => (RunState::Completed, Some(summary(&output))),
    };
    let ended = match journal.failure.take() {
        // The messages are still not all stored: the run is not recorded as completed.
        Some(err) if journal.stored < output.new_messages().len() => Err(err),
        _ => journal.set_state(state, data).await,
    };
    match ended {
        Ok(()) => Ok(output),
        Err(err) => {
            tracing::warn!(
                "run {}: the session store failed; its answer was not stored: {err}",
                journal.run_id
            );
            sink.emit(EventKind::RunCompleted(Box::new(output.clone())));
            Err(Error::storage(format!("the run's answer was not stored: {}", err.message()))
                .with_source(err)
                .with_raw_output(output.content))
        }
    }
}

/// What a completed run stores with its state: everything of its output but the messages,
/// which are rows of their own.
fn summary(output: &RunOutput) -> serde_json::Value {
    serde_json::json!({
        "content": output.content,
        "status": output.status,
        "metrics": output.metrics,
        "structured": output.structured,
    })
}

fn output_paused_json(output: &RunOutput) -> Option<serde_json::Value> {
    serde_json::to_value(output.paused.as_ref()?).ok().filter(|v| !v.is_null())
}

/// Settle the run's ids — its own (new, or the paused run's), its session's (new when the
/// agent has a store and none was given) — and return the origin its events carry.
pub(crate) fn identify(inner: &Inner, start: &Start, options: &mut RunOptions) -> Arc<Origin> {
    match start {
        Start::Resume(paused, _) => {
            options.run_id = Some(paused.run_id.clone());
            options.session_id.clone_from(&paused.session_id);
            options.user_id.clone_from(&paused.user_id);
        }
        // Its session is the stored run's (known once it is loaded).
        Start::Recover(run_id) => options.run_id = Some(run_id.clone()),
        Start::Input(_) => {}
    }
    let run_id = options.run_id.get_or_insert_with(crate::store::new_session_id).clone();
    let stored = inner.store().is_some() && !options.ephemeral;
    if options.session_id.is_none() && stored && !matches!(start, Start::Recover(_)) {
        options.session_id = Some(crate::store::new_session_id());
    }
    let agent = inner.name.clone();
    let (parent_run_id, parent_call_id, path) = match &options.parent {
        Some(parent) => {
            let mut path = parent.path.clone();
            path.push(agent.clone().unwrap_or_else(|| "agent".to_owned()));
            (Some(parent.run_id.clone()), Some(parent.call_id.clone()), path)
        }
        None => (None, None, Vec::new()),
    };
    Arc::new(Origin {
        run_id,
        session_id: options.session_id.clone(),
        agent,
        parent_run_id,
        parent_call_id,
        path,
    })
}

/// Whether the run begins here, continues a paused one or resumes an interrupted one.
enum Entry {
    New,
    Resume(Box<PausedRun>, Vec<(String, Decision)>),
    Recover(Box<Recovered>),
}

/// Where an interrupted run stopped, from its stored messages.
struct Recovered {
    /// The model turn to go on with.
    turn: usize,
    /// Its final answer, when it was stored (the run ended, its state was not stored).
    answer: Option<String>,
    /// The batch it stopped in: the turn's calls, text and replay, and the calls whose results
    /// are stored, by call index.
    batch: Option<StoppedBatch>,
}

/// A turn's calls, text and replay, and the calls whose results are stored, by call index.
type StoppedBatch = (Vec<ToolCall>, Option<String>, Option<Replay>, Vec<(usize, ToolExecution)>);

/// A call's execution rebuilt from its stored result (its timing is not stored).
fn restored(call: &ToolCall, content: &str, is_error: bool, at: SystemTime) -> ToolExecution {
    let result = if is_error {
        Err(ToolError::Failed(content.strip_prefix("Error: ").unwrap_or(content).to_owned()))
    } else {
        Ok(content.to_owned())
    };
    ToolExecution {
        call: call.clone(),
        result,
        started_at: at,
        waited: Duration::ZERO,
        duration: Duration::ZERO,
    }
}

/// Load an interrupted run: the history it continued (the session's completed runs that began
/// before it), its own messages up to the batch it stopped in, and where it goes on.
async fn recover(
    inner: &Inner,
    store: Option<&dyn SessionStore>,
    run_id: &str,
    caps: Caps,
) -> Result<(Progress, Entry, usize)> {
    let Some(store) = store else {
        return Err(Error::config("resuming a run needs a store on the agent (AgentBuilder::store)"));
    };
    let Some(run) = store.run(run_id).await? else {
        return Err(Error::config(format!("no run with id {run_id:?} is stored")));
    };
    match run.state {
        RunState::Running | RunState::Interrupted => {}
        RunState::Paused => {
            return Err(Error::config(format!(
                "run {run_id:?} is paused for confirmation: continue it with Agent::continue_run and the \
                 PausedRun stored with its state"
            )));
        }
        state => {
            return Err(Error::config(format!(
                "run {run_id:?} has ended ({state}); there is nothing to resume"
            )));
        }
    }
    let StoredRun { record, messages: own, .. } = run;
    let mut earlier: Vec<StoredRun> = store
        .runs(&record.session_id)
        .await?
        .into_iter()
        .take_while(|r| r.record.run_id != record.run_id)
        .filter(|r| r.state == RunState::Completed)
        .collect();
    if let Some(n) = inner.history_limits().runs {
        earlier.drain(..earlier.len().saturating_sub(n));
    }
    let history = earlier.into_iter().flat_map(|run| run.messages).collect();
    let history = crate::history::trim(crate::history::repair(history), &inner.history_limits());
    let mut messages = Vec::with_capacity(history.len() + own.len() + 1);
    if let Some(system) = &inner.system_prompt {
        messages.push(Message::system(system.clone()));
    }
    messages.extend(history);
    let new_from = messages.len();

    // The results of earlier batches, as executions.
    let mut executions = Vec::new();
    let mut calls: &[ToolCall] = &[];
    for message in &own {
        match message {
            Message::Assistant { tool_calls, .. } => calls = tool_calls,
            Message::Tool { call_id, content, is_error, .. } => {
                if let Some(call) = calls.iter().find(|c| &c.id == call_id) {
                    executions.push(restored(call, content, *is_error, record.created_at));
                }
            }
            _ => {}
        }
    }
    let last_turn = own.iter().rposition(|m| matches!(m, Message::Assistant { .. }));
    let mut recovered = Recovered { turn: 0, answer: None, batch: None };
    let mut own = own;
    match last_turn.map(|k| (k, &own[k])) {
        Some((k, Message::Assistant { tool_calls, .. })) if !tool_calls.is_empty() => {
            // Stopped in (or right after) this turn's batch: its stored results are restored.
            let results: Vec<(usize, ToolExecution)> = own[k + 1..]
                .iter()
                .filter_map(|m| match m {
                    Message::Tool { call_id, content, is_error, .. } => {
                        let index = tool_calls.iter().position(|c| &c.id == call_id)?;
                        Some((index, restored(&tool_calls[index], content, *is_error, record.created_at)))
                    }
                    _ => None,
                })
                .collect();
            executions.truncate(executions.len().saturating_sub(results.len()));
            let tail = own.split_off(k);
            let Some(Message::Assistant { content, tool_calls, replay }) = tail.into_iter().next() else {
                return Err(Error::storage(format!("run {run_id:?}: its stored turn could not be read")));
            };
            recovered.batch = Some((tool_calls, content, replay, results));
        }
        Some((k, Message::Assistant { content, .. })) if k + 1 == own.len() => {
            recovered.answer = Some(content.clone().unwrap_or_default());
        }
        _ => {}
    }
    recovered.turn = own.iter().filter(|m| matches!(m, Message::Assistant { .. })).count();
    let stored = own.len();
    messages.extend(own);
    let state = Progress {
        run_id: record.run_id,
        session_id: Some(record.session_id),
        user_id: record.user_id,
        created_at: record.created_at,
        run_start: Instant::now(),
        messages,
        new_from,
        executions,
        metrics: Metrics::default(),
        caps,
        place: Place::default(),
    };
    Ok((state, Entry::Recover(Box::new(recovered)), stored))
}

/// The run's first state: ids, the history it continues (repaired and trimmed), its system
/// prompt and input; and how many of its own messages the store already has.
async fn prepare(
    inner: &Inner,
    start: Start,
    options: &RunOptions,
    store: Option<&dyn SessionStore>,
    caps: Caps,
) -> Result<(Progress, Entry, usize)> {
    match start {
        Start::Recover(run_id) => recover(inner, store, &run_id, caps).await,
        Start::Input(input) => {
            let session_id = options.session_id.clone();
            let mut history = options.history.clone();
            if let (Some(store), Some(session)) = (store, &session_id) {
                let stored = own_history(inner, store, session, options.parent.is_some()).await?;
                history.extend(stored.into_iter().flat_map(|run| run.messages));
            }
            let history = crate::history::trim(crate::history::repair(history), &inner.history_limits());
            let mut messages = Vec::with_capacity(history.len() + 8);
            if let Some(system) = &inner.system_prompt {
                messages.push(Message::system(system.clone()));
            }
            messages.extend(history);
            let new_from = messages.len();
            messages.push(Message::user(input));
            let state = Progress {
                run_id: options.run_id.clone().unwrap_or_else(crate::store::new_session_id),
                session_id,
                user_id: options.user_id.clone(),
                created_at: SystemTime::now(),
                run_start: Instant::now(),
                messages,
                new_from,
                executions: Vec::new(),
                metrics: Metrics::default(),
                caps,
                place: Place::default(),
            };
            Ok((state, Entry::New, 0))
        }
        Start::Resume(mut paused, decisions) => {
            let state = Progress {
                run_id: paused.run_id.clone(),
                session_id: paused.session_id.clone(),
                user_id: paused.user_id.clone(),
                created_at: paused.created_at,
                run_start: Instant::now(),
                messages: std::mem::take(&mut paused.messages),
                new_from: paused.new_messages_from,
                executions: std::mem::take(&mut paused.executions),
                metrics: std::mem::take(&mut paused.metrics),
                caps,
                place: Place::default(),
            };
            // Everything the paused run had was stored when it paused.
            let stored = state.messages.len().saturating_sub(state.new_from);
            Ok((state, Entry::Resume(paused, decisions), stored))
        }
    }
}

/// The session's completed runs that are this run's history: a top-level run continues the
/// session's top-level runs; a sub-agent's run continues its own agent's earlier sub-runs in
/// the session (a team's session holds its members' runs too, each member keeps its own
/// history). The history limit counts the runs kept.
async fn own_history(
    inner: &Inner,
    store: &dyn SessionStore,
    session: &str,
    nested: bool,
) -> Result<Vec<StoredRun>> {
    let limit = inner.history_limits().runs;
    let own = |run: &StoredRun| match nested {
        false => run.record.parent_run_id.is_none(),
        true => run.record.parent_run_id.is_some() && run.record.agent_id == inner.name,
    };
    let mut runs = store.history(session, limit).await?;
    let fetched = runs.len();
    runs.retain(own);
    if let Some(limit) = limit
        && runs.len() < limit
        && fetched == limit
    {
        // Others' runs took places in the page: read the whole session and keep the last ones.
        runs = store.history(session, None).await?;
        runs.retain(own);
        let skip = runs.len().saturating_sub(limit);
        runs.drain(..skip);
    }
    Ok(runs)
}

async fn run_in_span(
    inner: &Inner,
    mut state: Progress,
    start: Entry,
    streaming: bool,
    sink: &mut Sink<'_>,
    journal: &mut Journal<'_>,
) -> Result<RunOutput> {
    let first_turn = match start {
        Entry::New => {
            let input = match state.messages.last() {
                Some(Message::User { content }) => content.clone(),
                _ => String::new(),
            };
            sink.emit(EventKind::RunStarted { model: inner.model.id().to_owned(), input });
            0
        }
        Entry::Resume(paused, decisions) => {
            let PausedRun { turn, calls, text, replay, mut done, pending, members, .. } = *paused;
            let budget = budget(&state, done.len());
            let executor = inner.turn_executor().await?;
            let mut phase = Box::new(ToolPhase::new(&executor, turn, budget, true, &state.place));
            phase.calls = calls;
            // A paused run may come from JSON: indices outside its calls are ignored.
            let count = phase.calls.len();
            for index in pending.into_iter().filter(|&i| i < count) {
                let id = &phase.calls[index].id;
                match decisions.iter().find(|(d, _)| d == id).map(|(_, decision)| decision) {
                    Some(Decision::Approve) => phase.start(index),
                    Some(Decision::Reject(note)) => {
                        phase.settle(index, Err(ToolError::Rejected(note.clone())))
                    }
                    None => {
                        phase.settle(index, Err(ToolError::Rejected(Some("no decision was given".into()))))
                    }
                }
            }
            // Sub-agents that paused: their calls start again and continue them.
            for member in members.into_iter().filter(|m| m.index < count) {
                let id = phase.calls[member.index].id.clone();
                match &phase.scope {
                    Some(scope) => {
                        scope.resume(&id, Box::new(member.paused), tree::decisions_for(&id, &decisions));
                        phase.start(member.index);
                    }
                    None => phase.settle(
                        member.index,
                        Err(ToolError::NotRun("the agent has no tool that runs sub-agents any more".into())),
                    ),
                }
            }
            if journal.store.is_some() {
                let assistant = Message::Assistant {
                    content: text.clone(),
                    tool_calls: phase.calls.clone(),
                    replay: replay.clone(),
                };
                let rows = done.iter().map(|(i, e)| (*i, e)).collect::<Vec<_>>();
                let seq = state.messages.len() - state.new_from;
                let rows = result_rows(seq, rows);
                if journal.save_turn(&state.messages[state.new_from..], assistant, rows).await {
                    phase.journal = journal.calls(seq);
                }
            }
            let batch = phase.finish(state.run_start, sink).await;
            let all_stored = batch.all_stored;
            state.add_members(batch.members);
            done.extend(batch.executions);
            done.sort_by_key(|(index, _)| *index);
            if !batch.suspended.is_empty() {
                // A sub-agent paused again.
                let calls = batch.calls;
                return Ok(pause(state, turn, calls, (text, replay), done, Vec::new(), batch.suspended));
            }
            let executions = done.into_iter().map(|(_, e)| e).collect();
            if let Some((status, content)) =
                record_batch(&executor, &mut state, batch.calls, (text, replay), executions, batch.limit_hit)
            {
                if !content.is_empty() {
                    sink.emit(EventKind::ContentDelta(content.clone()));
                }
                return Ok(finish(state, status, content, None));
            }
            journal.save_batch(&state.messages[state.new_from..], all_stored).await;
            turn + 1
        }
        Entry::Recover(recovered) => {
            let Recovered { turn, answer, batch } = *recovered;
            if let Some(text) = answer {
                // It had answered; only its end was not stored.
                let mut repairs = inner.settings.output_repairs;
                let structured = match check_answer(inner, &text, &mut repairs, &mut state.messages) {
                    Ok(Answer::Fits(value)) => Some(value),
                    _ => None,
                };
                let mut output = finish(state, RunStatus::Completed, text, None);
                output.structured = structured;
                return Ok(output);
            }
            match batch {
                None => turn,
                Some((calls, text, replay, restored)) => {
                    let executor = inner.turn_executor().await?;
                    let budget = budget(&state, restored.len());
                    let mut phase = Box::new(ToolPhase::new(&executor, turn, budget, true, &state.place));
                    phase.calls = calls;
                    for (index, execution) in &restored {
                        sink.emit(EventKind::ToolCallRestored {
                            turn,
                            index: *index,
                            execution: execution.clone(),
                        });
                    }
                    for index in 0..phase.calls.len() {
                        if restored.iter().any(|(i, _)| *i == index) {
                            continue;
                        }
                        let options = executor.tools().options(&phase.calls[index].name);
                        if options.is_some_and(|o| o.requires_confirmation) {
                            // Whether it was approved is not stored: it is asked again.
                            phase.held.push(index);
                        } else {
                            phase.start(index);
                        }
                    }
                    // The turn's assistant message is stored: results are stored as they come.
                    phase.journal = journal.calls(state.messages.len() - state.new_from);
                    let batch = phase.finish(state.run_start, sink).await;
                    let all_stored = batch.all_stored;
                    state.add_members(batch.members);
                    let mut done = batch.executions;
                    done.extend(restored);
                    done.sort_by_key(|(index, _)| *index);
                    if !batch.held.is_empty() || !batch.suspended.is_empty() {
                        let (calls, held) = (batch.calls, batch.held);
                        return Ok(pause(state, turn, calls, (text, replay), done, held, batch.suspended));
                    }
                    let executions = done.into_iter().map(|(_, e)| e).collect();
                    if let Some((status, content)) = record_batch(
                        &executor,
                        &mut state,
                        batch.calls,
                        (text, replay),
                        executions,
                        batch.limit_hit,
                    ) {
                        if !content.is_empty() {
                            sink.emit(EventKind::ContentDelta(content.clone()));
                        }
                        return Ok(finish(state, status, content, None));
                    }
                    journal.save_batch(&state.messages[state.new_from..], all_stored).await;
                    turn + 1
                }
            }
        }
    };

    let settings = &inner.settings;
    let mut repairs = 0;
    for turn in first_turn..state.caps.max_turns {
        // The same executor every turn, unless a tool source changed its list.
        let executor = inner.turn_executor().await?;
        let request = ModelRequest {
            messages: state.messages.clone(),
            tools: Arc::clone(executor.tools().definitions()),
            tool_choice: None,
            parallel_tool_calls: settings.parallel_tool_calls,
            output_schema: settings.output_schema.clone(),
        };
        if settings.debug_mode {
            tracing::debug!(
                "model turn {}: {} messages, {} tools, sent to {}",
                turn + 1,
                request.messages.len(),
                request.tools.len(),
                inner.model.id()
            );
        }
        let turn_start = Instant::now();
        let budget = budget(&state, 0);
        let mut phase = if streaming {
            let place = &state.place;
            // Boxed, like the batch below: the run's own future stays small while it waits.
            Box::pin(stream_turn(
                inner,
                &executor,
                &request,
                turn,
                state.run_start,
                budget,
                place,
                &mut state.metrics,
                sink,
            ))
            .await?
        } else {
            let response = Box::pin(complete_turn(inner, &request, turn, sink)).await?;
            let mut phase = Box::new(ToolPhase::new(&executor, turn, budget, false, &state.place));
            phase.content = response.content.unwrap_or_default();
            if !phase.content.is_empty() {
                sink.emit(EventKind::ContentDelta(phase.content.clone()));
            }
            phase.usage = response.usage;
            phase.finish_reason = response.finish_reason;
            phase.replay = response.replay;
            response.tool_calls.into_iter().for_each(|call| phase.add(call));
            phase
        };
        let duration = turn_start.elapsed();
        if settings.debug_mode {
            tracing::debug!(
                "model turn {} done in {:.3}s: {} chars of text, {} tool calls, usage {:?}",
                turn + 1,
                duration.as_secs_f64(),
                phase.content.len(),
                phase.calls.len(),
                phase.usage
            );
        }
        if let Some(usage) = phase.usage {
            state.metrics.usage += usage;
        }
        state.metrics.turns.push(TurnMetrics {
            duration,
            time_to_first_token: phase.first_delta,
            usage: phase.usage,
        });
        sink.emit(EventKind::ModelTurnCompleted {
            turn,
            tool_calls: phase.calls.len(),
            usage: phase.usage,
            finish_reason: phase.finish_reason.clone(),
            duration,
        });

        let text = std::mem::take(&mut phase.content);
        if phase.calls.is_empty() {
            let replay = phase.replay.take();
            state.messages.push(Message::Assistant {
                content: Some(text.clone()),
                tool_calls: Vec::new(),
                replay,
            });
            // A paused turn goes back as it is, for the model to go on.
            if phase.finish_reason.as_ref().is_some_and(crate::model::FinishReason::continues) {
                continue;
            }
            let structured = match check_answer(inner, &text, &mut repairs, &mut state.messages)? {
                Answer::Free => None,
                Answer::Fits(value) => Some(value),
                Answer::Repair => continue,
            };
            let mut output = finish(state, RunStatus::Completed, text, None);
            output.structured = structured;
            return Ok(output);
        }
        let text = (!text.is_empty()).then_some(text);
        let replay = phase.replay.take();
        // No call waits for the store: the deferred ones start before the turn is stored.
        phase.start_deferred();
        if journal.store.is_some() {
            let assistant = Message::Assistant {
                content: text.clone(),
                tool_calls: phase.calls.clone(),
                replay: replay.clone(),
            };
            let seq = state.messages.len() - state.new_from;
            let rows = result_rows(seq, phase.completed());
            if journal.save_turn(&state.messages[state.new_from..], assistant, rows).await {
                phase.journal = journal.calls(seq);
            }
        }
        let batch = phase.finish(state.run_start, sink).await;
        let all_stored = batch.all_stored;
        state.add_members(batch.members);
        if !batch.held.is_empty() || !batch.suspended.is_empty() {
            let (calls, done, held) = (batch.calls, batch.executions, batch.held);
            return Ok(pause(state, turn, calls, (text, replay), done, held, batch.suspended));
        }
        let executions = batch.executions.into_iter().map(|(_, e)| e).collect();
        if let Some((status, content)) =
            record_batch(&executor, &mut state, batch.calls, (text, replay), executions, batch.limit_hit)
        {
            if !content.is_empty() {
                sink.emit(EventKind::ContentDelta(content.clone()));
            }
            return Ok(finish(state, status, content, None));
        }
        journal.save_batch(&state.messages[state.new_from..], all_stored).await;
    }
    let limit = state.caps.max_turns;
    Ok(finish(state, RunStatus::MaxTurnsReached { limit }, String::new(), None))
}

impl Progress {
    /// Count the usage of sub-agent runs that ended.
    fn add_members(&mut self, members: Vec<(MemberMetrics, Vec<MemberMetrics>)>) {
        for (member, below) in members {
            self.metrics.usage += member.usage;
            self.metrics.members.push(member);
            self.metrics.members.extend(below);
        }
    }
}

/// End the run paused: `held` calls wait for the user's decision, `suspended` ones for the
/// decisions their sub-agents wait for; `done` are the turn's calls that ran.
fn pause(
    state: Progress,
    turn: usize,
    calls: Vec<ToolCall>,
    (text, replay): (Option<String>, Option<Replay>),
    done: Vec<(usize, ToolExecution)>,
    held: Vec<usize>,
    suspended: Vec<Suspended>,
) -> RunOutput {
    let members: Vec<PausedMember> = suspended
        .into_iter()
        .map(|s| PausedMember { index: s.index, pending: s.pending, paused: *s.paused })
        .collect();
    let mut pending_calls: Vec<ToolCall> = held.iter().map(|&i| calls[i].clone()).collect();
    pending_calls.extend(members.iter().flat_map(|m| m.pending.iter().cloned()));
    // The wait for the user does not count as run time: the duration so far is kept.
    let mut metrics = state.metrics.clone();
    metrics.duration += state.run_start.elapsed();
    let paused = PausedRun {
        run_id: state.run_id.clone(),
        session_id: state.session_id.clone(),
        user_id: state.user_id.clone(),
        created_at: state.created_at,
        messages: state.messages.clone(),
        new_messages_from: state.new_from,
        executions: state.executions.clone(),
        metrics,
        turn,
        calls,
        text,
        replay,
        done,
        pending: held,
        members,
    };
    finish(state, RunStatus::Paused { pending: pending_calls }, String::new(), Some(paused))
}

/// How many tool calls a run may make: its limit, and how many more it may make.
#[derive(Debug, Clone, Copy)]
struct Budget {
    limit: Option<usize>,
    left: Option<usize>,
}

/// The stored rows of results of a turn whose assistant message is at `seq`.
fn result_rows<'e>(
    seq: usize,
    done: impl IntoIterator<Item = (usize, &'e ToolExecution)>,
) -> Vec<StoredMessage> {
    done.into_iter()
        .map(|(index, execution)| StoredMessage {
            seq: (seq + 1 + index) as u32,
            message: tool_message(execution),
        })
        .collect()
}

/// How many more tool calls the run may make, when limited; `extra` counts calls already run in
/// the current turn.
fn budget(state: &Progress, extra: usize) -> Budget {
    let limit = state.caps.tool_call_limit;
    Budget { limit, left: limit.map(|limit| limit.saturating_sub(state.executions.len() + extra)) }
}

/// Append a finished batch to the conversation; returns the status (and answer) if the run must
/// end here.
fn record_batch(
    executor: &Executor,
    state: &mut Progress,
    calls: Vec<ToolCall>,
    (text, replay): (Option<String>, Option<Replay>),
    executions: Vec<ToolExecution>,
    limit_hit: bool,
) -> Option<(RunStatus, String)> {
    state.messages.push(Message::Assistant { content: text, tool_calls: calls, replay });
    let tools = executor.tools();
    let mut stop = false;
    let mut direct: Vec<&str> = Vec::new();
    for execution in &executions {
        state.messages.push(tool_message(execution));
        let options = tools.options(&execution.call.name);
        stop |= options.is_some_and(|o| o.stop_after_tool_call);
        if let (Some(true), Ok(result)) = (options.map(|o| o.respond_directly), &execution.result) {
            direct.push(result);
        }
    }
    if !direct.is_empty() {
        // The results are the answer: the conversation ends with it, as with the model's own.
        let answer = direct.join("\n\n");
        state.messages.push(Message::Assistant {
            content: Some(answer.clone()),
            tool_calls: Vec::new(),
            replay: None,
        });
        state.executions.extend(executions);
        return Some((RunStatus::Completed, answer));
    }
    state.executions.extend(executions);
    match (stop, limit_hit, state.caps.tool_call_limit) {
        (true, _, _) => Some((RunStatus::StoppedAfterToolCall, String::new())),
        (false, true, Some(limit)) => Some((RunStatus::ToolCallLimitReached { limit }, String::new())),
        _ => None,
    }
}

fn finish(mut state: Progress, status: RunStatus, content: String, paused: Option<PausedRun>) -> RunOutput {
    state.metrics.duration += state.run_start.elapsed();
    if !matches!(status, RunStatus::Completed | RunStatus::Paused { .. }) {
        tracing::warn!("the run ended without a final answer: {status:?}");
    }
    RunOutput {
        run_id: state.run_id,
        session_id: state.session_id,
        user_id: state.user_id,
        created_at: state.created_at,
        content,
        status,
        messages: state.messages,
        new_messages_from: state.new_from,
        tool_executions: state.executions,
        metrics: state.metrics,
        structured: None,
        paused: paused.map(crate::output::PausedSlot::new),
    }
}

/// A final answer, checked against the output schema.
enum Answer {
    /// No schema: free text.
    Free,
    /// It fits; the JSON value.
    Fits(serde_json::Value),
    /// It does not fit, and the model was asked (in a new user message) to answer again.
    Repair,
}

/// Check a final answer against the agent's output schema. One that does not fit gets up to
/// `output_repairs` repair turns, then fails the run with the raw answer in the error.
fn check_answer(
    inner: &Inner,
    text: &str,
    repairs: &mut usize,
    messages: &mut Vec<Message>,
) -> Result<Answer> {
    let Some(schema) = &inner.settings.output_schema else { return Ok(Answer::Free) };
    let problem = match schema.check(text) {
        Ok(value) => return Ok(Answer::Fits(value)),
        Err(problem) => problem,
    };
    if *repairs >= inner.settings.output_repairs {
        return Err(crate::structured::invalid(text, problem));
    }
    *repairs += 1;
    tracing::warn!("the answer does not fit the output schema ({problem}); asking the model to repair it");
    messages.push(Message::user(format!(
        "Your answer does not fit the required JSON Schema: {problem}. Answer again with only the \
         corrected JSON object."
    )));
    Ok(Answer::Repair)
}

/// One whole (non-streamed) model turn, retried under the agent's [`RetryPolicy`].
///
/// [`RetryPolicy`]: crate::RetryPolicy
async fn complete_turn(
    inner: &Inner,
    request: &ModelRequest,
    turn: usize,
    sink: &mut Sink<'_>,
) -> Result<crate::model::ModelResponse> {
    let mut retry = 0;
    loop {
        let span = spans::chat(&*inner.model, turn, retry, false);
        let err = match inner.model.complete(request).instrument(span.clone()).await {
            Ok(response) => {
                spans::chat_response(&span, response.id.as_deref(), response.model.as_deref());
                let (usage, finish) = (response.usage.as_ref(), response.finish_reason.as_ref());
                spans::chat_done(&span, usage, finish, response.tool_calls.len());
                return Ok(response);
            }
            Err(err) => err,
        };
        spans::chat_failed(&span, &err);
        retry += 1;
        let Some(wait) = inner.settings.retry.wait_before(retry, &err) else { return Err(err) };
        // The warning is an event of the failed attempt's span, which ends before the wait.
        span.in_scope(|| announce_retry(inner, turn, retry, wait, err, sink));
        drop(span);
        tokio::time::sleep(wait).await;
    }
}

fn announce_retry(inner: &Inner, turn: usize, retry: u32, wait: Duration, err: Error, sink: &mut Sink<'_>) {
    let max_retries = inner.settings.retry.retries();
    tracing::warn!("{err}; retrying in {:.2}s (retry {retry} of {max_retries})", wait.as_secs_f64());
    sink.emit(EventKind::ModelRetry { turn, retry, max_retries, wait, error: Arc::new(err) });
}

/// One streamed model turn, starting tool calls as they complete, retried under the agent's
/// [`RetryPolicy`](crate::RetryPolicy) as long as no text has reached the caller. Calls started
/// eagerly in a failed attempt are cancelled (and reported so) before the retry, so none runs
/// twice at once and every reported start has an end.
#[allow(clippy::too_many_arguments)] // one call site; a struct would only rename them
async fn stream_turn(
    inner: &Inner,
    executor: &Executor,
    request: &ModelRequest,
    turn: usize,
    run_start: Instant,
    budget: Budget,
    place: &Place,
    metrics: &mut Metrics,
    sink: &mut Sink<'_>,
) -> Result<Box<ToolPhase>> {
    let mut retry = 0;
    loop {
        let sent = Instant::now();
        // Created outside the chat span: the calls' spans are its siblings, not its children.
        let mut phase = Box::new(ToolPhase::new(executor, turn, budget, inner.settings.eager_start, place));
        let span = spans::chat(&*inner.model, turn, retry, true);
        let mut output_shown = false;
        let mut stream = span.in_scope(|| inner.model.stream(request));
        let failure = loop {
            tokio::select! {
                delta = stream.next().instrument(span.clone()) => match delta {
                    None => break None,
                    Some(Err(err)) => break Some(err),
                    Some(Ok(delta)) => {
                        if !matches!(delta, ModelDelta::Response { .. }) {
                            phase.first_delta.get_or_insert_with(|| sent.elapsed());
                        }
                        match delta {
                            ModelDelta::Text(text) => {
                                metrics.time_to_first_token.get_or_insert_with(|| run_start.elapsed());
                                output_shown = true;
                                phase.content.push_str(&text);
                                sink.emit(EventKind::ContentDelta(text));
                            }
                            ModelDelta::Reasoning(text) => {
                                output_shown = true;
                                sink.emit(EventKind::ReasoningDelta(text));
                            }
                            ModelDelta::ToolCall { call, .. } => phase.add(call),
                            ModelDelta::Usage(usage) => phase.usage = Some(usage),
                            ModelDelta::Finish(reason) => phase.finish_reason = Some(reason),
                            ModelDelta::Replay(replay) => phase.replay = Some(replay),
                            ModelDelta::Response { id, model } => {
                                spans::chat_response(&span, id.as_deref(), model.as_deref())
                            }
                        }
                    }
                },
                Some(event) = phase.next_event() => phase.report(event, run_start, sink),
            }
        };
        drop(stream);
        let Some(err) = failure else {
            let (usage, finish) = (phase.usage.as_ref(), phase.finish_reason.as_ref());
            spans::chat_done(&span, usage, finish, phase.calls.len());
            return Ok(phase);
        };
        spans::chat_failed(&span, &err);
        retry += 1;
        // Text already shown cannot be taken back: the turn fails rather than repeat it.
        let wait = if output_shown { None } else { inner.settings.retry.wait_before(retry, &err) };
        let Some(wait) = wait else { return Err(err) };
        phase.cancel_running(&err, sink);
        // Abort the cancelled calls now, not after the wait.
        drop(phase);
        span.in_scope(|| announce_retry(inner, turn, retry, wait, err, sink));
        drop(span);
        tokio::time::sleep(wait).await;
    }
}

/// The tool calls of one model turn: collected as they arrive, started at once when eager,
/// within the run's tool-call budget.
struct ToolPhase {
    turn: usize,
    eager: bool,
    /// The turn's tools (see [`Inner::turn_executor`]).
    executor: Executor,
    /// Calls the run may still make, when limited.
    budget: Budget,
    limit_hit: bool,
    batch: Batch,
    /// What the batch lends the calls that run sub-agents, and the sub-runs' events.
    scope: Option<Arc<Scope>>,
    nested: Option<mpsc::UnboundedReceiver<RunEvent>>,
    /// The calls in the model's order.
    calls: Vec<ToolCall>,
    /// For each batch entry, the position of its call in `calls`.
    call_of_entry: Vec<usize>,
    /// Calls that wait for the end of the turn.
    deferred: Vec<usize>,
    /// Calls that wait for the user's confirmation.
    held: Vec<usize>,
    /// Calls whose sub-agent paused, waiting for decisions on its own calls.
    suspended: Vec<Suspended>,
    /// Sub-agent runs that ended: each one's metrics, and those of the runs below it.
    members: Vec<(MemberMetrics, Vec<MemberMetrics>)>,
    /// For each batch entry: reported started and not yet reported completed.
    running: Vec<bool>,
    content: String,
    usage: Option<Usage>,
    finish_reason: Option<crate::model::FinishReason>,
    replay: Option<Replay>,
    first_delta: Option<std::time::Duration>,
    /// Stores each result as its call completes (a stored run, once its turn is stored).
    journal: Option<Box<CallJournal>>,
}

/// A call whose sub-agent paused.
struct Suspended {
    /// The call's position in its turn.
    index: usize,
    paused: Box<PausedRun>,
    /// The sub-agent's pending calls, ids qualified by the call's.
    pending: Vec<ToolCall>,
}

/// What a tool phase waits for: its batch, or a sub-agent's run.
enum PhaseEvent {
    Batch(BatchEvent),
    Nested(RunEvent),
}

impl ToolPhase {
    fn new(executor: &Executor, turn: usize, budget: Budget, eager: bool, place: &Place) -> Self {
        let mut batch = executor.batch();
        if let Some(slots) = &place.inherited {
            batch.inherit(Arc::clone(slots));
        }
        let (scope, nested) = match &place.base {
            Some(base) if executor.tools().delegates() => {
                let (scope, nested) = Scope::new(Arc::clone(base));
                batch.lend(Arc::clone(&scope) as _);
                (Some(scope), Some(nested))
            }
            _ => (None, None),
        };
        Self {
            turn,
            eager,
            executor: executor.clone(),
            budget,
            limit_hit: false,
            batch,
            scope,
            nested,
            calls: Vec::new(),
            call_of_entry: Vec::new(),
            deferred: Vec::new(),
            held: Vec::new(),
            suspended: Vec::new(),
            members: Vec::new(),
            running: Vec::new(),
            content: String::new(),
            usage: None,
            finish_reason: None,
            replay: None,
            first_delta: None,
            journal: None,
        }
    }

    /// Start the calls that wait for the end of the turn.
    fn start_deferred(&mut self) {
        for index in std::mem::take(&mut self.deferred) {
            self.start(index);
        }
    }

    /// The calls completed so far, by call index.
    fn completed(&self) -> Vec<(usize, &ToolExecution)> {
        self.call_of_entry
            .iter()
            .enumerate()
            .filter(|(_, index)| !self.suspended.iter().any(|s| s.index == **index))
            .filter_map(|(entry, &index)| Some((index, self.batch.execution(entry)?)))
            .collect()
    }

    /// A call arrived: start it now if eager start applies to it, else at the end of the turn.
    fn add(&mut self, call: ToolCall) {
        let index = self.calls.len();
        let options = self.executor.tools().options(&call.name);
        self.calls.push(call);
        if options.is_some_and(|o| o.requires_confirmation) {
            self.held.push(index);
        } else if self.eager && options.is_none_or(|o| o.eager_start) {
            self.start(index);
        } else {
            self.deferred.push(index);
        }
    }

    fn start(&mut self, index: usize) {
        let call = self.calls[index].clone();
        match &mut self.budget.left {
            Some(0) => {
                self.limit_hit = true;
                let limit = self.budget.limit.unwrap_or_default();
                let err = ToolError::NotRun(format!("the run's limit of {limit} tool calls was reached"));
                self.settle(index, Err(err));
                return;
            }
            Some(left) => {
                *left -= 1;
                self.batch.push(call);
            }
            None => self.batch.push(call),
        }
        self.call_of_entry.push(index);
    }

    /// Report call `index` as done with `result`, without running it.
    fn settle(&mut self, index: usize, result: crate::tool::ToolResult) {
        self.batch.push_settled(self.calls[index].clone(), result);
        self.call_of_entry.push(index);
    }

    /// The batch's next event, or a sub-agent's; `None` once the batch is closed and done.
    /// The batch goes first, so a call's start is reported before its sub-agent's first event.
    async fn next_event(&mut self) -> Option<PhaseEvent> {
        match &mut self.nested {
            None => self.batch.next_event().await.map(PhaseEvent::Batch),
            Some(nested) => tokio::select! {
                biased;
                event = self.batch.next_event() => event.map(PhaseEvent::Batch),
                Some(event) = nested.recv() => Some(PhaseEvent::Nested(event)),
            },
        }
    }

    /// Pass on the sub-agents' events received so far.
    fn forward_nested(&mut self, sink: &mut Sink<'_>) {
        if let Some(nested) = &mut self.nested {
            while let Ok(event) = nested.try_recv() {
                sink.forward(event);
            }
        }
    }

    fn report(&mut self, event: PhaseEvent, run_start: Instant, sink: &mut Sink<'_>) {
        let event = match event {
            PhaseEvent::Batch(event) => event,
            PhaseEvent::Nested(event) => return sink.forward(event),
        };
        let entry = match event {
            BatchEvent::Started { index, .. } | BatchEvent::Completed { index } => index,
            BatchEvent::Progress { index, progress } => {
                let ToolProgress { progress, total, message } = progress;
                let index = self.call_of_entry[index];
                return sink.emit(EventKind::ToolCallProgress {
                    turn: self.turn,
                    index,
                    progress,
                    total,
                    message,
                });
            }
        };
        if self.running.len() <= entry {
            self.running.resize(entry + 1, false);
        }
        self.running[entry] = matches!(event, BatchEvent::Started { .. });
        match event {
            BatchEvent::Started { index, at } => sink.emit(EventKind::ToolCallStarted {
                turn: self.turn,
                index: self.call_of_entry[index],
                call: self.batch.call(index).clone(),
                at: at.saturating_duration_since(run_start),
            }),
            BatchEvent::Progress { .. } => {}
            BatchEvent::Completed { index } => {
                // A sub-agent's events were all sent before its call ended: they come first.
                self.forward_nested(sink);
                let call_index = self.call_of_entry[index];
                let report =
                    self.scope.as_ref().and_then(|scope| scope.take_report(&self.batch.call(index).id));
                match report {
                    Some(Report::Paused(paused, pending)) => {
                        let call = self.batch.call(index).clone();
                        sink.emit(EventKind::ToolCallPaused { turn: self.turn, index: call_index, call });
                        self.suspended.push(Suspended { index: call_index, paused, pending });
                        return;
                    }
                    Some(Report::Ended(member, below)) => self.members.push((member, below)),
                    None => {}
                }
                if let Some(execution) = self.batch.execution(index) {
                    sink.emit(EventKind::ToolCallCompleted {
                        turn: self.turn,
                        index: call_index,
                        execution: execution.clone(),
                    });
                }
            }
        }
    }

    /// Abort the calls still running (dropping the phase aborts their tasks) and report each
    /// of them as cancelled, because the turn they belong to failed with `err`.
    fn cancel_running(&self, err: &Error, sink: &mut Sink<'_>) {
        let reason = format!("the model turn failed and is retried: {err}");
        for (entry, _) in self.running.iter().enumerate().filter(|(_, running)| **running) {
            sink.emit(EventKind::ToolCallCancelled {
                turn: self.turn,
                index: self.call_of_entry[entry],
                call: self.batch.call(entry).clone(),
                reason: reason.clone(),
            });
        }
    }

    /// Start the deferred calls and wait for every started one. Held calls stay unrun.
    async fn finish(mut self: Box<Self>, run_start: Instant, sink: &mut Sink<'_>) -> FinishedBatch {
        self.start_deferred();
        self.batch.close();
        // The results' writes go on while the batch does.
        let mut journal = self.journal.take();
        loop {
            let event = match &mut journal {
                Some(journal) if journal.busy() => tokio::select! {
                    event = self.next_event() => event,
                    () = journal.next_written() => continue,
                },
                _ => self.next_event().await,
            };
            let Some(event) = event else { break };
            let completed = match &event {
                PhaseEvent::Batch(BatchEvent::Completed { index }) => Some(*index),
                _ => None,
            };
            self.report(event, run_start, sink);
            // A sub-agent that paused has no result yet.
            if let (Some(journal), Some(entry)) = (&mut journal, completed)
                && let Some(execution) = self.batch.execution(entry)
                && !self.suspended.iter().any(|s| s.index == self.call_of_entry[entry])
            {
                journal.completed(self.call_of_entry[entry], execution);
            }
        }
        let mut all_stored = false;
        if let Some(journal) = &mut journal {
            while journal.busy() {
                journal.next_written().await;
            }
            all_stored = !journal.failed;
        }
        let suspended = self.suspended;
        let mut executions: Vec<(usize, ToolExecution)> = self
            .call_of_entry
            .iter()
            .copied()
            .zip(self.batch.into_executions())
            // A suspended call has no result yet: it runs again when the run continues.
            .filter(|(index, _)| !suspended.iter().any(|s| s.index == *index))
            .collect();
        executions.sort_by_key(|(index, _)| *index);
        FinishedBatch {
            calls: self.calls,
            executions,
            held: self.held,
            suspended,
            members: self.members,
            limit_hit: self.limit_hit,
            all_stored,
        }
    }
}

/// A turn's calls after its batch: executions by call index, calls held for confirmation or
/// suspended, and the sub-agent runs that ended.
struct FinishedBatch {
    calls: Vec<ToolCall>,
    executions: Vec<(usize, ToolExecution)>,
    held: Vec<usize>,
    suspended: Vec<Suspended>,
    members: Vec<(MemberMetrics, Vec<MemberMetrics>)>,
    limit_hit: bool,
    /// Every result was stored as its call completed.
    all_stored: bool,
}

/// Start a run on its own task, on first poll; dropping the stream aborts it.
pub(crate) fn spawn_stream(
    inner: Arc<Inner>,
    start: Start,
    options: RunOptions,
    streaming: bool,
) -> RunStream {
    // The run's span is a child of the caller's, though it runs on a task of its own.
    let span = tracing::Span::current();
    RunStream { pending: Some((inner, start, options)), streaming, span, rx: None, task: None }
}

/// The stream of a run's events ([`RunRequest::stream`](super::RunRequest::stream)).
pub(crate) struct RunStream {
    pending: Option<(Arc<Inner>, Start, RunOptions)>,
    streaming: bool,
    span: tracing::Span,
    rx: Option<mpsc::UnboundedReceiver<Result<RunEvent>>>,
    task: Option<JoinHandle<()>>,
}

impl Stream for RunStream {
    type Item = Result<RunEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some((inner, start, mut options)) = self.pending.take() {
            let (tx, rx) = mpsc::unbounded_channel();
            let streaming = self.streaming;
            self.task = Some(tokio::spawn(
                async move {
                    let events = tx.clone();
                    let origin = identify(&inner, &start, &mut options);
                    let outcome = run(&inner, start, options, Arc::clone(&origin), streaming, &mut |event| {
                        // A closed receiver means the caller stopped listening; the task is aborted.
                        let _ = events.send(Ok(event));
                    })
                    .await;
                    let completed = |output: RunOutput| {
                        // A resumed run's session is known only once it is loaded.
                        let origin = if output.session_id == origin.session_id {
                            origin
                        } else {
                            Arc::new(Origin { session_id: output.session_id.clone(), ..(*origin).clone() })
                        };
                        RunEvent { origin, kind: EventKind::RunCompleted(Box::new(output)) }
                    };
                    let _ = tx.send(outcome.map(completed));
                }
                .instrument(self.span.clone()),
            ));
            self.rx = Some(rx);
        }
        match &mut self.rx {
            Some(rx) => rx.poll_recv(cx),
            None => Poll::Ready(None),
        }
    }
}

impl Drop for RunStream {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl std::fmt::Debug for RunStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunStream").finish_non_exhaustive()
    }
}
