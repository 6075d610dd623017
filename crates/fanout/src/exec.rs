//! The concurrent tool-batch executor: the heart of fanout.
//!
//! Advanced: an [`Agent`](crate::Agent) drives it for you. Use it directly only to run a batch
//! of tool calls without an agent or a model ([`Executor::run`]).
//!
//! Every call of a batch starts at once. Async tools run as their own tokio task (so a panic or a
//! hang stays inside that call); blocking tools run on tokio's blocking pool, one thread each.
//! Events are reported the moment each call starts and completes; results come back in call
//! order. Nothing a call does — bad arguments, an error, a panic, a timeout — affects its
//! siblings or escapes the executor: it becomes that call's [`ToolError`].
//!
//! Dropping the future returned by [`Executor::run`] aborts the batch's async calls. Threads of
//! blocking calls cannot be killed: they are detached, run to their end, and their results are
//! discarded.

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use futures::FutureExt;
use futures::future::Either;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::spans::ToolSpan;
use crate::tool::idempotency;
use crate::tool::scope::Lent;
use crate::tool::{
    CacheKey, ConcurrencyLimit, Entry, Hooks, Invocation, MemoryCache, ProgressReporter, ToolCache, ToolCall,
    ToolError, ToolProgress, ToolResult, ToolSet,
};

/// One finished tool call: what was asked, what came back, and when.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ToolExecution {
    /// The call as the model made it.
    pub call: ToolCall,
    /// The result text, or why there is none.
    pub result: ToolResult,
    /// When the call actually started (after any wait for a concurrency slot or exclusivity),
    /// by the wall clock.
    pub started_at: SystemTime,
    /// How long it waited before starting, from the moment the batch received it.
    pub waited: Duration,
    /// How long it ran.
    pub duration: Duration,
}

impl ToolExecution {
    /// The text the model receives for this call: the result, or `Error: …`.
    pub fn content_for_model(&self) -> String {
        match &self.result {
            Ok(text) => text.clone(),
            Err(err) => format!("Error: {err}"),
        }
    }

    /// True when the call did not produce a normal result.
    pub fn is_error(&self) -> bool {
        self.result.is_err()
    }

    /// A call that was never run, with the reason.
    pub(crate) fn not_run(call: ToolCall, err: ToolError) -> Self {
        Self {
            call,
            result: Err(err),
            started_at: SystemTime::now(),
            waited: Duration::ZERO,
            duration: Duration::ZERO,
        }
    }
}

/// The wall-clock time of `at` (a moment of the runtime's clock, which may be paused in tests).
fn wall_clock(at: Instant) -> SystemTime {
    let now = SystemTime::now();
    now.checked_sub(at.elapsed()).unwrap_or(now)
}

/// Limits on a batch; all off by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecLimits {
    /// At most this many calls of one run (one batch) run at the same time; the others wait
    /// for a slot. Each run has its own slots; see [`ConcurrencyLimit`] for a limit shared by
    /// several runs or agents.
    pub max_concurrency: Option<usize>,
    /// Timeout for calls of tools that have no timeout of their own.
    pub default_timeout: Option<Duration>,
    /// Calls of a batch beyond this many are not run (their result says so).
    pub max_calls_per_turn: Option<usize>,
}

/// What the executor reports while a batch runs.
#[derive(Debug)]
pub enum ToolEvent<'a> {
    /// Call `index` started running.
    Started {
        /// Position of the call in the batch.
        index: usize,
        /// The call.
        call: &'a ToolCall,
        /// When it started.
        at: Instant,
    },
    /// Call `index` finished.
    Completed {
        /// Position of the call in the batch.
        index: usize,
        /// Its result and timing.
        execution: &'a ToolExecution,
    },
}

/// Runs batches of tool calls against a [`ToolSet`].
///
/// ```
/// use fanout::exec::{ExecLimits, Executor};
/// use fanout::prelude::*;
/// use fanout::tool::{ToolCall, ToolSet};
///
/// /// Add two numbers
/// #[tool]
/// fn add(a: i64, b: i64) -> i64 { a + b }
///
/// # #[tokio::main] async fn main() -> fanout::Result<()> {
/// let executor = Executor::new(ToolSet::new(tools![add])?.into(), ExecLimits::default());
/// let calls = [ToolCall::new("c1", "add", r#"{"a": 2, "b": 3}"#), ToolCall::new("c2", "nope", "{}")];
/// let results = executor.run(&calls, &mut |_event| {}).await;
/// assert_eq!(results[0].result.as_deref(), Ok("5"));
/// assert!(results[1].content_for_model().starts_with("Error: unknown tool `nope`"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Executor {
    tools: Arc<ToolSet>,
    limits: ExecLimits,
    /// A limit shared with other agents, on top of the per-run one.
    shared: Option<ConcurrencyLimit>,
    hooks: Arc<Hooks>,
    /// Only when a tool caches its results (or the user gave one).
    cache: Option<Arc<dyn ToolCache>>,
    /// Record arguments and results on the calls' spans.
    capture_content: bool,
}

type Done = (usize, ToolExecution);

/// One shared empty hook list: most agents have no hooks, and building one costs an allocation.
fn no_hooks() -> Arc<Hooks> {
    static NONE: std::sync::OnceLock<Arc<Hooks>> = std::sync::OnceLock::new();
    Arc::clone(NONE.get_or_init(Arc::default))
}

impl Executor {
    /// An executor for `tools` under `limits`.
    pub fn new(tools: Arc<ToolSet>, limits: ExecLimits) -> Self {
        let caches = tools.options_iter().any(|options| options.cache_ttl.is_some());
        let cache = caches.then(|| Arc::new(MemoryCache::default()) as Arc<dyn ToolCache>);
        let capture_content = crate::spans::capture_content_from_env();
        Self { tools, limits, shared: None, hooks: no_hooks(), cache, capture_content }
    }

    /// Also hold a slot of `limit` for every call (see [`ConcurrencyLimit`]).
    pub fn with_concurrency_limit(mut self, limit: ConcurrencyLimit) -> Self {
        self.shared = Some(limit);
        self
    }

    /// Run `hooks` around every call (see [`Hooks`]).
    pub fn with_hooks(mut self, hooks: Hooks) -> Self {
        if !(hooks.pre.is_empty() && hooks.post.is_empty()) {
            self.hooks = Arc::new(hooks);
        }
        self
    }

    /// Keep results of tools with a `cache_ttl` in `cache` (an in-memory one by default).
    pub fn with_cache(mut self, cache: Arc<dyn ToolCache>) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Record the calls' arguments and results on their spans (off unless the env var says so).
    pub(crate) fn with_content_capture(mut self, capture: bool) -> Self {
        self.capture_content |= capture;
        self
    }

    /// The tools this executor runs.
    pub fn tools(&self) -> &Arc<ToolSet> {
        &self.tools
    }

    /// Run one batch: start every call at once, report each start and completion to `on_event`
    /// as it happens, and return the executions in call order.
    pub async fn run(
        &self,
        calls: &[ToolCall],
        on_event: &mut (dyn FnMut(ToolEvent<'_>) + Send),
    ) -> Vec<ToolExecution> {
        let mut batch = self.batch();
        for call in calls {
            batch.push(call.clone());
        }
        batch.close();
        while let Some(event) = batch.next_event().await {
            match event {
                BatchEvent::Started { index, at } => {
                    on_event(ToolEvent::Started { index, call: batch.call(index), at })
                }
                BatchEvent::Completed { index } => {
                    if let Some(execution) = batch.execution(index) {
                        on_event(ToolEvent::Completed { index, execution });
                    }
                }
                // Progress is for runs' events; a plain batch reports starts and ends.
                BatchEvent::Progress { .. } => {}
            }
        }
        batch.into_executions()
    }

    /// An open batch: calls can be added while earlier ones already run (eager start). The
    /// calls' spans are children of the span current now.
    pub(crate) fn batch(&self) -> Batch {
        let (started_tx, started_rx) = mpsc::unbounded_channel();
        let (progress_tx, progress_rx) = mpsc::unbounded_channel();
        Batch {
            executor: self.clone(),
            slots: self.limits.max_concurrency.map(|n| Arc::new(Semaphore::new(n.max(1)))),
            span: tracing::Span::current(),
            calls: Vec::new(),
            pushed_at: Vec::new(),
            done: Vec::new(),
            running: JoinSet::new(),
            exclusive: VecDeque::new(),
            settled: VecDeque::new(),
            in_flight: HashMap::new(),
            followers: Vec::new(),
            closed: false,
            started: VecDeque::new(),
            started_tx,
            started_rx,
            progress_tx,
            progress_rx,
            inherited: None,
            lend: None,
            lent_slots: None,
        }
    }

    /// The same executor (limits, slots, hooks, cache) over another tool set: a run's tools for
    /// one turn, when a [`ToolSource`](crate::tool::ToolSource) changed them.
    pub fn with_tools(&self, tools: Arc<ToolSet>) -> Self {
        let caches = tools.options_iter().any(|options| options.cache_ttl.is_some());
        let cache = self.cache.clone().or_else(|| caches.then(|| Arc::new(MemoryCache::default()) as _));
        Self { tools, cache, ..self.clone() }
    }

    /// How long a call of tool `name` may run: its own timeout, else the default of the limits.
    pub fn timeout_for(&self, name: &str) -> Option<Duration> {
        self.tools.options(name).and_then(|o| o.timeout).or(self.limits.default_timeout)
    }
}

/// Progress of a [`Batch`], by call index; look the call up with [`Batch::call`] and the result
/// with [`Batch::execution`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum BatchEvent {
    /// Call `index` started running: its task was spawned, or, under a concurrency limit, it
    /// got its slot.
    Started {
        /// Position of the call in the batch.
        index: usize,
        /// When it started.
        at: Instant,
    },
    /// Call `index` finished; its execution is available.
    Completed {
        /// Position of the call in the batch.
        index: usize,
    },
    /// Running call `index` reported progress.
    Progress {
        /// Position of the call in the batch.
        index: usize,
        /// How far it got.
        progress: ToolProgress,
    },
}

/// A batch in progress. [`push`](Batch::push) starts a call at once (exclusive calls wait until
/// the batch is [closed](Batch::close) and everything else is done); [`next_event`](Batch::next_event)
/// reports progress. Dropping a batch aborts its async calls.
#[derive(Debug)]
pub(crate) struct Batch {
    executor: Executor,
    /// This run's concurrency slots.
    slots: Option<Arc<Semaphore>>,
    /// The parent of the calls' spans.
    span: tracing::Span,
    calls: Vec<ToolCall>,
    /// When each call was pushed: its wait counts from there.
    pushed_at: Vec<Instant>,
    done: Vec<Option<ToolExecution>>,
    running: JoinSet<Done>,
    exclusive: VecDeque<usize>,
    /// Calls settled without running (over the batch limit, cached, …), not yet reported.
    settled: VecDeque<usize>,
    /// Cacheable calls running in this batch, by key: identical calls wait for the first.
    in_flight: HashMap<CacheKey, usize>,
    /// `(leader, follower)`: the follower gets the leader's result.
    followers: Vec<(usize, usize)>,
    closed: bool,
    /// Starts not yet reported of calls that needed no slot: they start when spawned, so the
    /// batch records them itself instead of having each task wake it through the channel.
    started: VecDeque<(usize, Instant)>,
    /// Starts of calls that waited for a concurrency slot, sent by their tasks.
    started_tx: mpsc::UnboundedSender<(usize, Instant)>,
    started_rx: mpsc::UnboundedReceiver<(usize, Instant)>,
    /// Progress reported by running calls (see [`ProgressReporter`]).
    progress_tx: mpsc::UnboundedSender<(usize, ToolProgress)>,
    progress_rx: mpsc::UnboundedReceiver<(usize, ToolProgress)>,
    /// Slots of the runs above this one (a sub-agent's run): every call takes one, after its
    /// run's own.
    inherited: Option<Arc<[Arc<Semaphore>]>>,
    /// The run's scope, lent to calls of tools that run agents.
    lend: Option<Arc<dyn Any + Send + Sync>>,
    /// What those calls' own tool calls take: made on the first such call.
    lent_slots: Option<Arc<[Arc<Semaphore>]>>,
}

impl Batch {
    /// Every call of the batch also takes a slot of each of `slots` (the concurrency limits of
    /// the runs above this one), after its own run's.
    pub(crate) fn inherit(&mut self, slots: Arc<[Arc<Semaphore>]>) {
        if !slots.is_empty() {
            self.inherited = Some(slots);
        }
    }

    /// Lend `run` to the calls of tools that run agents (see [`Lent`]).
    pub(crate) fn lend(&mut self, run: Arc<dyn Any + Send + Sync>) {
        self.lend = Some(run);
    }

    /// The slots the tool calls below a delegating call take: this run's, the inherited ones,
    /// the agent's shared limit.
    fn slots_below(&mut self) -> Arc<[Arc<Semaphore>]> {
        if let Some(slots) = &self.lent_slots {
            return Arc::clone(slots);
        }
        let slots: Arc<[Arc<Semaphore>]> = self
            .slots
            .iter()
            .cloned()
            .chain(self.inherited.iter().flat_map(|s| s.iter().cloned()))
            .chain(self.executor.shared.as_ref().map(|l| Arc::clone(l.slots())))
            .collect();
        self.lent_slots = Some(Arc::clone(&slots));
        slots
    }

    /// Add a call and start it now (exclusive calls wait, see [`Batch`]).
    pub(crate) fn push(&mut self, call: ToolCall) {
        let index = self.calls.len();
        self.calls.push(call);
        self.pushed_at.push(Instant::now());
        self.done.push(None);
        if let Some(limit) = self.executor.limits.max_calls_per_turn
            && index >= limit
        {
            let err = ToolError::NotRun(format!("at most {limit} tool calls are run per turn"));
            return self.settle(index, Err(err));
        }
        if let Some((_, key, _)) = self.cache_slot(&self.calls[index]) {
            // An identical call of this batch is running: share its result. The cache itself
            // is asked inside the call's task (it may be remote).
            if let Some(&leader) = self.in_flight.get(&key) {
                return self.followers.push((leader, index));
            }
            self.in_flight.insert(key, index);
        }
        if self.executor.tools.options(&self.calls[index].name).is_some_and(|o| o.exclusive) {
            self.exclusive.push_back(index);
        } else {
            self.spawn(index);
        }
    }

    fn settle(&mut self, index: usize, result: ToolResult) {
        let now = Instant::now();
        let call = self.calls[index].clone();
        self.done[index] = Some(ToolExecution {
            call,
            result,
            started_at: wall_clock(now),
            waited: Duration::ZERO,
            duration: Duration::ZERO,
        });
        self.settled.push_back(index);
    }

    /// Where and under which key to cache the result of `call`, if its tool caches results.
    fn cache_slot(&self, call: &ToolCall) -> Option<(Arc<dyn ToolCache>, CacheKey, Duration)> {
        let ttl = self.executor.tools.options(&call.name)?.cache_ttl?;
        let args = crate::tool::parse_json(&call.arguments).ok()?;
        let cache = self.executor.cache.as_ref()?;
        Some((Arc::clone(cache), CacheKey::new(&call.name, &args), ttl))
    }

    /// Add a call that is already settled (for example from a cache, or rejected by the user):
    /// it is reported as completed without running.
    pub(crate) fn push_settled(&mut self, call: ToolCall, result: ToolResult) {
        let index = self.calls.len();
        self.calls.push(call);
        self.pushed_at.push(Instant::now());
        self.done.push(None);
        self.settle(index, result);
    }

    /// No more calls will be added: exclusive calls may run once the others are done, and
    /// [`next_event`](Batch::next_event) returns `None` when everything is done.
    pub(crate) fn close(&mut self) {
        self.closed = true;
    }

    /// The call at `index`.
    pub(crate) fn call(&self, index: usize) -> &ToolCall {
        &self.calls[index]
    }

    /// The execution of call `index`, once it completed.
    pub(crate) fn execution(&self, index: usize) -> Option<&ToolExecution> {
        self.done.get(index).and_then(Option::as_ref)
    }

    fn spawn(&mut self, index: usize) {
        let queued_at = self.pushed_at[index];
        let call = self.calls[index].clone();
        let tools = Arc::clone(&self.executor.tools);
        let options = self.executor.tools.options(&call.name);
        let own_limit = options.and_then(|o| o.concurrency_limit.as_ref()).map(|l| Arc::clone(l.slots()));
        let (limits, lent): (Vec<Arc<Semaphore>>, Option<Lent>) = if options.is_some_and(|o| o.delegates) {
            // A call that runs an agent takes no slot of its run: the agent's own tool calls
            // take them (holding one here while they wait for theirs could deadlock).
            let lent = self.lend.clone().map(|run| Lent {
                call_id: call.id.clone(),
                slots: self.slots_below(),
                run,
            });
            (own_limit.into_iter().collect(), lent)
        } else {
            // Per-run slots first, so a call never holds a shared slot while waiting for its
            // run's; then those of the runs above, the tool's own, the agent's shared one.
            let limits = self
                .slots
                .iter()
                .cloned()
                .chain(self.inherited.iter().flat_map(|s| s.iter().cloned()))
                .chain(own_limit)
                .chain(self.executor.shared.as_ref().map(|l| Arc::clone(l.slots())))
                .collect();
            (limits, None)
        };
        let timeout = self.executor.timeout_for(&call.name);
        let started_tx = self.started_tx.clone();
        let hooks = Arc::clone(&self.executor.hooks);
        let cache = self.cache_slot(&call);
        let progress = ProgressReporter::new(index, self.progress_tx.clone());
        let key = idempotency::key_for(&call.id);
        let (parent, capture) = (self.span.clone(), self.executor.capture_content);
        let spawned_at = Instant::now();
        let unlimited = limits.is_empty();
        if unlimited {
            self.started.push_back((index, spawned_at));
        }
        self.running.spawn(async move {
            if let Some((cache, key, _)) = &cache
                && let Some(hit) = cache.get(key).await
            {
                // A cached result takes no concurrency slot.
                let at = Instant::now();
                if !unlimited {
                    let _ = started_tx.send((index, at));
                }
                let waited = at.saturating_duration_since(queued_at);
                let result = Ok(hit);
                ToolSpan::start(&parent, &tools, &call, capture).cached().finish(&result);
                return (
                    index,
                    ToolExecution {
                        call,
                        result,
                        started_at: wall_clock(at),
                        waited,
                        duration: Duration::ZERO,
                    },
                );
            }
            let mut permits = Vec::with_capacity(limits.len());
            let started_at = if unlimited {
                spawned_at
            } else {
                for slots in limits {
                    // The semaphores are never closed, so this only fails if one were; run anyway.
                    permits.push(slots.acquire_owned().await.ok());
                }
                let at = Instant::now();
                // The receiver lives as long as the batch; a send error means nobody listens.
                let _ = started_tx.send((index, at));
                at
            };
            let span = ToolSpan::start(&parent, &tools, &call, capture);
            // The call itself on the heap: the task's own future stays small (a copy of the
            // call's state per wrapper would otherwise be laid out in it).
            let running =
                progress.scope(idempotency::scope(key, Box::pin(run_call(&tools, &hooks, &call, timeout))));
            let running = match lent {
                Some(lent) => Either::Left(lent.scope(running)),
                None => Either::Right(running),
            };
            let result = running.instrument(span.span().clone()).await;
            span.finish(&result);
            if let (Some((cache, key, ttl)), Ok(text)) = (cache, &result) {
                cache.put(key, text.clone(), ttl).await;
            }
            let execution = ToolExecution {
                call,
                result,
                started_at: wall_clock(started_at),
                waited: started_at.saturating_duration_since(queued_at),
                duration: started_at.elapsed(),
            };
            (index, execution)
        });
    }

    /// The next start or completion. Pending while the batch is open and idle; `None` once it
    /// is closed and every call is done.
    pub(crate) async fn next_event(&mut self) -> Option<BatchEvent> {
        loop {
            if let Some((index, at)) = self.started.pop_front() {
                return Some(BatchEvent::Started { index, at });
            }
            if let Some(index) = self.settled.pop_front() {
                return Some(BatchEvent::Completed { index });
            }
            if let Ok((index, at)) = self.started_rx.try_recv() {
                return Some(BatchEvent::Started { index, at });
            }
            if self.running.is_empty() {
                if !self.closed {
                    std::future::pending::<()>().await;
                }
                let index = self.exclusive.pop_front()?;
                self.spawn(index);
                // Report its start (recorded by `spawn`) before anything else.
                continue;
            }
            tokio::select! {
                biased;
                Some((index, at)) = self.started_rx.recv() => return Some(BatchEvent::Started { index, at }),
                Some((index, progress)) = self.progress_rx.recv() => {
                    // A report that lost the race with its call's completion is stale.
                    if matches!(self.done.get(index), Some(None)) {
                        return Some(BatchEvent::Progress { index, progress });
                    }
                }
                Some(joined) = self.running.join_next() => match joined {
                    Ok((index, execution)) => {
                        let followers: Vec<usize> =
                            self.followers.iter().filter(|(leader, _)| *leader == index).map(|(_, f)| *f).collect();
                        for follower in followers {
                            self.settle(follower, execution.result.clone());
                        }
                        self.done[index] = Some(execution);
                        // Deliver a start still queued before its completion.
                        if let Ok((started, at)) = self.started_rx.try_recv() {
                            self.settled.push_front(index);
                            return Some(BatchEvent::Started { index: started, at });
                        }
                        return Some(BatchEvent::Completed { index });
                    }
                    // Calls catch their own panics: this is an abort from outside. The call is
                    // reported as aborted by `into_executions`.
                    Err(err) => tracing::warn!("a tool task ended abnormally: {err}"),
                },
            }
        }
    }

    /// The executions in call order. Calls that never completed (the batch was not driven to
    /// its end) are reported as not run.
    pub(crate) fn into_executions(mut self) -> Vec<ToolExecution> {
        let calls = std::mem::take(&mut self.calls);
        std::mem::take(&mut self.done)
            .into_iter()
            .zip(calls)
            .map(|(done, call)| {
                done.unwrap_or_else(|| {
                    ToolExecution::not_run(
                        call,
                        ToolError::NotRun("the batch was abandoned before this call finished".into()),
                    )
                })
            })
            .collect()
    }
}

/// Parse, invoke and await one call, turning every failure into a [`ToolError`].
async fn run_call(tools: &ToolSet, hooks: &Hooks, call: &ToolCall, timeout: Option<Duration>) -> ToolResult {
    let Some(entry) = tools.get(&call.name) else {
        return Err(ToolError::UnknownTool { name: call.name.clone(), available: tools.names() });
    };
    let mut args = crate::tool::parse_json(&call.arguments)?;
    for hook in hooks.pre.iter().chain(&entry.options.pre_hook) {
        args = AssertUnwindSafe(hook.run(call, args)).catch_unwind().await.map_err(panic_error)??;
    }
    let mut result = invoke(entry, args, timeout).await;
    for hook in entry.options.post_hook.iter().chain(&hooks.post) {
        result = AssertUnwindSafe(hook.run(call, result))
            .catch_unwind()
            .await
            .unwrap_or_else(|p| Err(panic_error(p)));
    }
    result
}

/// Run the tool itself, within its timeout.
async fn invoke(entry: &Entry, args: serde_json::Value, timeout: Option<Duration>) -> ToolResult {
    let tool = Arc::clone(&entry.tool);
    let invocation = std::panic::catch_unwind(AssertUnwindSafe(|| tool.invoke(args))).map_err(panic_error)?;
    let running = async move {
        match invocation {
            Invocation::Async(fut) => {
                AssertUnwindSafe(fut).catch_unwind().await.unwrap_or_else(|p| Err(panic_error(p)))
            }
            Invocation::Blocking(f) => {
                // The tool's own events belong to the call's span, on its thread too.
                let (span, key) = (tracing::Span::current(), idempotency::current());
                let on_thread = move || {
                    idempotency::on_thread(key, || {
                        span.in_scope(|| std::panic::catch_unwind(AssertUnwindSafe(f)))
                    })
                };
                match tokio::task::spawn_blocking(on_thread).await {
                    Ok(Ok(result)) => result,
                    Ok(Err(panic)) => Err(panic_error(panic)),
                    Err(err) => Err(ToolError::Failed(format!("the tool's thread failed: {err}"))),
                }
            }
        }
    };
    match timeout {
        Some(limit) => tokio::time::timeout(limit, running).await.unwrap_or(Err(ToolError::TimedOut(limit))),
        None => running.await,
    }
}

fn panic_error(payload: Box<dyn std::any::Any + Send>) -> ToolError {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned());
    ToolError::Panicked(message)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::tool::{FunctionTool, Tool};

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct Sleep {
        ms: u64,
    }

    fn call(i: usize) -> ToolCall {
        ToolCall::new(format!("call_{i}"), "sleep", r#"{"ms": 100}"#)
    }

    #[tokio::test(start_paused = true)]
    async fn an_open_batch_takes_calls_while_earlier_ones_run() {
        let sleep = FunctionTool::new("sleep", "Sleep", |a: Sleep| async move {
            tokio::time::sleep(Duration::from_millis(a.ms)).await;
            Ok(format!("slept {}", a.ms))
        });
        let tools = ToolSet::new(vec![Arc::new(sleep) as Arc<dyn Tool>]).unwrap();
        let exec = Executor::new(Arc::new(tools), ExecLimits::default());
        let mut batch = exec.batch();
        batch.push(call(0));
        // Open and busy: the first event is the start, then its completion at 100 ms.
        assert!(matches!(batch.next_event().await, Some(BatchEvent::Started { index: 0, .. })));
        assert!(matches!(batch.next_event().await, Some(BatchEvent::Completed { index: 0 })));
        // Open and idle: pending until a call is pushed.
        assert!(tokio::time::timeout(Duration::from_secs(1), batch.next_event()).await.is_err());
        batch.push(call(1));
        batch.close();
        let mut events = Vec::new();
        while let Some(event) = batch.next_event().await {
            events.push(event);
        }
        assert_eq!(events.len(), 2);
        let results = batch.into_executions();
        assert_eq!(
            results.iter().map(|r| r.result.as_deref().unwrap()).collect::<Vec<_>>(),
            ["slept 100", "slept 100"]
        );
    }
}
