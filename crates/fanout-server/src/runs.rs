//! The runs this instance is running: started, delivered (streamed, awaited, or in the
//! background with a replay log), cancelled, finished, interrupted at shutdown.
//!
//! A run always goes on on a task of its own, driven to its end, so that its end is stored
//! whatever its client does: a client that goes away cancels the run through its token (and the
//! run loop stores it as cancelled), it never just drops it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use fanout::RunOutput;
use fanout::agent::RunRequest;
use fanout::event::RunEvent;
use fanout::store::{RunState, SessionStore};
use futures::{Stream, StreamExt};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;

use crate::Registered;
use crate::error::ApiError;

/// Who a run belongs to, as every protocol's events and outputs name it.
#[derive(Debug, Clone)]
pub(crate) struct RunContext {
    /// The id the agent is served under.
    pub(crate) agent_id: String,
    /// Its name (its id when it has none).
    pub(crate) agent_name: String,
    pub(crate) run_id: String,
    pub(crate) session_id: Option<String>,
    pub(crate) user_id: Option<String>,
    pub(crate) model: String,
    pub(crate) provider: String,
}

impl RunContext {
    /// The context of run `r1` of a scripted agent `agent_id`, for encoders' unit tests.
    #[cfg(test)]
    pub(crate) fn scripted(agent_id: &str, session_id: Option<&str>) -> Arc<Self> {
        Arc::new(RunContext {
            agent_id: agent_id.into(),
            agent_name: agent_id.into(),
            run_id: "r1".into(),
            session_id: session_id.map(str::to_owned),
            user_id: None,
            model: "scripted".into(),
            provider: "scripted".into(),
        })
    }

    /// The context of run `run_id` of `registered`.
    pub(crate) fn new(
        registered: &Registered,
        run_id: String,
        session_id: Option<String>,
        user_id: Option<String>,
    ) -> Arc<Self> {
        let model = registered.agent.model();
        Arc::new(RunContext {
            agent_id: registered.id.clone(),
            agent_name: registered.agent.name().unwrap_or(&registered.id).to_owned(),
            run_id,
            session_id,
            user_id,
            model: model.id().to_owned(),
            provider: model.provider().to_owned(),
        })
    }
}

/// One protocol's wire form of a run's events (AgentOS's SSE, OpenAI's chunks, AG-UI's events,
/// A2A's task updates): the registry drives the run and hands each event to it, in order.
pub(crate) trait Encode: std::fmt::Debug + Send + 'static {
    /// The protocol it speaks: a background run's kept events are only served in it.
    fn protocol(&self) -> Protocol;
    /// What opens the stream, before the run's first event.
    fn open(&mut self) -> Option<Frame> {
        None
    }
    /// The frame for one item of the run's stream; `None` for what the protocol does not show.
    fn event(&mut self, item: &fanout::Result<RunEvent>) -> Option<Frame>;
    /// What closes the stream, after the run's last event.
    fn close(&mut self) -> Option<Frame> {
        None
    }
}

/// The protocols a run's events are encoded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    AgentOs,
    OpenAi,
    AgUi,
    A2a,
}

/// How a run ended, once it has: its output (or error), or `None` when the server stopped it
/// first (interrupted at shutdown).
pub(crate) type Outcome = Option<Arc<fanout::Result<RunOutput>>>;

/// One encoded piece of a run's stream (one or more events of its protocol).
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    /// Its position in the stream (from 0; AgentOS's `event_index`), counted by the encoder.
    pub(crate) index: u64,
    /// The bytes on the wire.
    pub(crate) bytes: Bytes,
    /// For the run's last event: the status it ended with (`COMPLETED`, `PAUSED`, `ERROR`,
    /// `CANCELLED`).
    pub(crate) terminal: Option<&'static str>,
}

/// How many events a plain stream buffers for its client before the run waits for it.
const STREAM_BUFFER: usize = 64;
/// How long a finished background run's events stay available to `/resume`.
const KEEP_FINISHED: Duration = Duration::from_secs(600);
/// How many finished background runs are kept for `/resume` at most.
const KEEP_FINISHED_RUNS: usize = 1024;
/// A comment line sent on idle streams, so that proxies keep them open and a client that went
/// away is noticed.
const KEEPALIVE: Duration = Duration::from_secs(15);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The runs going on here, and the background runs that finished recently.
#[derive(Debug)]
pub(crate) struct Registry {
    live: Mutex<HashMap<String, Arc<LiveRun>>>,
    finished: Mutex<VecDeque<(Instant, Arc<LiveRun>)>>,
    accepting: AtomicBool,
    live_count: watch::Sender<usize>,
    stall_timeout: Duration,
    replay_bytes: usize,
}

/// A run going on (or a background run that finished recently).
#[derive(Debug)]
pub(crate) struct LiveRun {
    pub(crate) ctx: Arc<RunContext>,
    cancel: CancellationToken,
    /// The protocol its events are encoded in.
    pub(crate) protocol: Protocol,
    /// The events, for background runs (`/resume`).
    pub(crate) log: Option<Arc<Log>>,
    task: Mutex<Option<AbortHandle>>,
    store: Option<Arc<dyn SessionStore>>,
    /// How it ended: `None` while it goes on.
    outcome: watch::Sender<Option<Outcome>>,
}

impl LiveRun {
    /// Ask the run to stop.
    pub(crate) fn cancel(&self) {
        self.cancel.cancel();
    }

    /// How the run ended, when it has (a background run's output, for its client to wait on).
    pub(crate) async fn outcome(&self) -> Outcome {
        let mut outcome = self.outcome.subscribe();
        // The sender lives in `self`: it is never dropped while waited on.
        let ended = outcome.wait_for(Option::is_some).await.ok()?;
        ended.clone().flatten()
    }

    /// Record how the run ended if `item` is its (top-level) end; whether it is.
    fn ended(&self, item: fanout::Result<RunEvent>) -> bool {
        let outcome = match item {
            Ok(RunEvent { kind: fanout::event::EventKind::RunCompleted(output), origin })
                if origin.parent_run_id.is_none() =>
            {
                Ok(*output)
            }
            Err(err) => Err(err),
            Ok(_) => return false,
        };
        self.outcome.send_replace(Some(Some(Arc::new(outcome))));
        true
    }
}

/// A run to start.
#[derive(Debug)]
pub(crate) struct Launch {
    pub(crate) ctx: Arc<RunContext>,
    pub(crate) request: RunRequest,
    pub(crate) store: Option<Arc<dyn SessionStore>>,
    /// How its events go on the wire (for streamed and background runs).
    pub(crate) encoder: Box<dyn Encode>,
}

/// An SSE body; dropping it (the client went away) cancels a plain streamed run.
pub(crate) type SseBody =
    std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, std::convert::Infallible>> + Send>>;

/// A run's output to come; dropping it (the client went away) cancels the run.
#[derive(Debug)]
pub(crate) struct JsonOutput {
    rx: oneshot::Receiver<fanout::Result<RunOutput>>,
    _guard: CancelOnDrop,
}

impl JsonOutput {
    /// How the run ended (`Err(ApiError)` when the server stopped it first).
    pub(crate) async fn output(self) -> Result<fanout::Result<RunOutput>, ApiError> {
        self.rx.await.map_err(|_| {
            ApiError::unavailable("The run stopped before it ended (the server is shutting down)")
        })
    }
}

/// Cancels a run when dropped.
#[derive(Debug)]
struct CancelOnDrop(CancellationToken);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

impl Registry {
    pub(crate) fn new(stall_timeout: Duration, replay_bytes: usize) -> Self {
        Self {
            live: Mutex::default(),
            finished: Mutex::default(),
            accepting: AtomicBool::new(true),
            live_count: watch::channel(0).0,
            stall_timeout,
            replay_bytes,
        }
    }

    /// A run going on here, or a background run that finished recently.
    pub(crate) fn get(&self, run_id: &str) -> Option<Arc<LiveRun>> {
        if let Some(run) = lock(&self.live).get(run_id) {
            return Some(Arc::clone(run));
        }
        let mut finished = lock(&self.finished);
        while finished.front().is_some_and(|(at, _)| at.elapsed() > KEEP_FINISHED) {
            finished.pop_front();
        }
        finished.iter().rev().find(|(_, run)| run.ctx.run_id == run_id).map(|(_, run)| Arc::clone(run))
    }

    /// Run `run_id` of the agent served as `agent_id`, if it is going on here.
    pub(crate) fn live_of(&self, run_id: &str, agent_id: &str) -> Option<Arc<LiveRun>> {
        lock(&self.live).get(run_id).filter(|run| run.ctx.agent_id == agent_id).map(Arc::clone)
    }

    /// Whether `run_id` is going on here.
    pub(crate) fn is_live(&self, run_id: &str) -> bool {
        lock(&self.live).contains_key(run_id)
    }

    /// Start a run whose output its client awaits; the client going away cancels it.
    pub(crate) fn json(self: &Arc<Self>, launch: Launch) -> Result<JsonOutput, ApiError> {
        let Admitted { run, request, finisher, .. } = self.admit(launch, false)?;
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(async move {
            let output = request.await;
            // Not live any more before its client hears of the end (and continues it).
            drop(finisher);
            let _ = tx.send(output);
        });
        *lock(&run.task) = Some(task.abort_handle());
        Ok(JsonOutput { rx, _guard: CancelOnDrop(run.cancel.clone()) })
    }

    /// Start a run whose events stream to its client; the client going away, or not reading for
    /// the stall timeout, cancels it.
    pub(crate) fn stream(self: &Arc<Self>, launch: Launch) -> Result<SseBody, ApiError> {
        let Admitted { run, request, encoder, finisher } = self.admit(launch, false)?;
        let (tx, rx) = mpsc::channel::<Bytes>(STREAM_BUFFER);
        let stall = self.stall_timeout;
        let task = tokio::spawn({
            let run = Arc::clone(&run);
            async move {
                let mut frames = std::pin::pin!(frames(Arc::clone(&run), request, encoder));
                let mut client = Some(tx);
                while let Some(frame) = frames.next().await {
                    let Some(tx) = &client else { continue };
                    match tokio::time::timeout(stall, tx.send(frame.bytes)).await {
                        Ok(Ok(())) => {}
                        // The client went away: the run stops (and is stored as cancelled).
                        Ok(Err(_)) => {
                            run.cancel.cancel();
                            client = None;
                        }
                        Err(_) => {
                            tracing::warn!("run {}: the client stopped reading; cancelling", run.ctx.run_id);
                            run.cancel.cancel();
                            client = None;
                        }
                    }
                }
                drop(finisher);
            }
        });
        *lock(&run.task) = Some(task.abort_handle());
        Ok(live_body(rx, CancelOnDrop(run.cancel.clone())))
    }

    /// Start a run that goes on whatever its client does, its events kept in its log.
    pub(crate) fn background(self: &Arc<Self>, launch: Launch) -> Result<Arc<LiveRun>, ApiError> {
        let Admitted { run, request, encoder, finisher } = self.admit(launch, true)?;
        let task = tokio::spawn({
            let run = Arc::clone(&run);
            async move {
                let mut frames = std::pin::pin!(frames(Arc::clone(&run), request, encoder));
                while let Some(frame) = frames.next().await {
                    if let Some(log) = &run.log {
                        log.push(frame);
                    }
                }
                drop(finisher);
            }
        });
        *lock(&run.task) = Some(task.abort_handle());
        Ok(run)
    }

    /// Register a run as going on here (one run of an id at a time), with a log if it is kept.
    fn admit(self: &Arc<Self>, launch: Launch, keep_log: bool) -> Result<Admitted, ApiError> {
        if !self.accepting.load(Ordering::SeqCst) {
            return Err(ApiError::unavailable("The server is shutting down"));
        }
        let Launch { ctx, request, store, encoder } = launch;
        let cancel = CancellationToken::new();
        let run = Arc::new(LiveRun {
            ctx: Arc::clone(&ctx),
            cancel: cancel.clone(),
            protocol: encoder.protocol(),
            log: keep_log.then(|| Arc::new(Log::new(self.replay_bytes))),
            task: Mutex::default(),
            store,
            outcome: watch::channel(None).0,
        });
        {
            let mut live = lock(&self.live);
            if live.contains_key(&ctx.run_id) {
                return Err(ApiError::conflict(format!("Run {} is already going on", ctx.run_id)));
            }
            live.insert(ctx.run_id.clone(), Arc::clone(&run));
            self.live_count.send_replace(live.len());
        }
        let finisher = Finisher { registry: Arc::clone(self), run: Arc::clone(&run) };
        Ok(Admitted { run, request: request.cancel_on(cancel), encoder, finisher })
    }

    /// A run ended: it is no longer live; a background run of AgentOS's stays available to
    /// `/resume` for a while (other protocols read a run's events only while it goes on).
    fn finish(&self, run: &Arc<LiveRun>) {
        {
            let mut live = lock(&self.live);
            if live.get(&run.ctx.run_id).is_some_and(|r| Arc::ptr_eq(r, run)) {
                live.remove(&run.ctx.run_id);
            }
            self.live_count.send_replace(live.len());
        }
        if let Some(log) = &run.log {
            log.close(None);
            if run.protocol != Protocol::AgentOs {
                return;
            }
            let mut finished = lock(&self.finished);
            finished.push_back((Instant::now(), Arc::clone(run)));
            while finished.len() > KEEP_FINISHED_RUNS {
                finished.pop_front();
            }
        }
    }

    /// Refuse new runs (shutdown).
    pub(crate) fn stop_accepting(&self) {
        self.accepting.store(false, Ordering::SeqCst);
    }

    /// Completes when no run is going on.
    pub(crate) async fn idle(&self) {
        let mut count = self.live_count.subscribe();
        let _ = count.wait_for(|n| *n == 0).await;
    }

    /// Stop every run still going on and store it as interrupted, so it can be resumed.
    pub(crate) async fn interrupt_all(&self) {
        let runs: Vec<Arc<LiveRun>> = lock(&self.live).drain().map(|(_, run)| run).collect();
        self.live_count.send_replace(0);
        for run in runs {
            if let Some(task) = lock(&run.task).take() {
                task.abort();
            }
            if let Some(log) = &run.log {
                log.close(Some("INTERRUPTED"));
            }
            let (Some(store), Some(_)) = (&run.store, &run.ctx.session_id) else { continue };
            // Its end may be stored already while its last events still wait for a slow client:
            // only a run still going on is interrupted (a finished one is never overwritten).
            match store.run(&run.ctx.run_id).await {
                Ok(Some(stored)) if stored.state == RunState::Running => {}
                Ok(_) => continue,
                Err(err) => {
                    tracing::error!("run {}: reading it at shutdown failed: {err}", run.ctx.run_id);
                    continue;
                }
            }
            tracing::warn!(
                "run {} did not finish before shutdown; recording it as interrupted",
                run.ctx.run_id
            );
            if let Err(err) = store.set_state(&run.ctx.run_id, RunState::Interrupted, None).await {
                tracing::error!("run {}: storing that it was interrupted failed: {err}", run.ctx.run_id);
            }
        }
    }
}

/// A run registered as going on, to be started on a task of its own.
struct Admitted {
    run: Arc<LiveRun>,
    /// Its request, cancelled with the run.
    request: RunRequest,
    encoder: Box<dyn Encode>,
    /// Finishes it when its task ends.
    finisher: Finisher,
}

/// Finishes a run when its task ends, however it ends: at its end, or dropped by a panic or by
/// the abort at shutdown (whoever waits for its outcome then learns that it has none).
struct Finisher {
    registry: Arc<Registry>,
    run: Arc<LiveRun>,
}

impl Drop for Finisher {
    fn drop(&mut self) {
        self.run.outcome.send_if_modified(|outcome| {
            let unset = outcome.is_none();
            if unset {
                *outcome = Some(None);
            }
            unset
        });
        self.registry.finish(&self.run);
    }
}

/// A run's events, encoded: started on first poll, driven to the end by the caller.
fn frames(
    run: Arc<LiveRun>,
    request: RunRequest,
    encoder: Box<dyn Encode>,
) -> impl Stream<Item = Frame> + Send + 'static {
    enum Phase {
        Open,
        Events,
        /// After the run's end the stream says nothing more to the client (one end per run: a
        /// store failing after `RunCompleted` reports an error after it); the run is still
        /// driven to its last item.
        Ended,
        Close,
        Done,
    }
    let state = (request.stream(), encoder, Phase::Open, run);
    futures::stream::unfold(state, |(mut events, mut encoder, mut phase, run)| async move {
        loop {
            let frame = match phase {
                Phase::Open => {
                    phase = Phase::Events;
                    encoder.open()
                }
                Phase::Events => match events.next().await {
                    Some(item) => {
                        let frame = encoder.event(&item);
                        if run.ended(item) {
                            phase = Phase::Ended;
                        }
                        frame
                    }
                    None => {
                        phase = Phase::Close;
                        None
                    }
                },
                Phase::Ended => {
                    if events.next().await.is_none() {
                        phase = Phase::Close;
                    }
                    None
                }
                Phase::Close => {
                    phase = Phase::Done;
                    encoder.close()
                }
                Phase::Done => return None,
            };
            if let Some(frame) = frame {
                return Some((frame, (events, encoder, phase, run)));
            }
        }
    })
}

/// A streamed body as an HTTP response: `text/event-stream`, not cached, not buffered by proxies.
pub(crate) fn sse_response(body: SseBody) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    use axum::response::IntoResponse;
    let mut response = axum::body::Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// The body of a plain streamed run: its events as they come, a keep-alive comment when idle.
fn live_body(rx: mpsc::Receiver<Bytes>, guard: CancelOnDrop) -> SseBody {
    let stream = futures::stream::unfold((rx, guard), |(mut rx, guard)| async move {
        match tokio::time::timeout(KEEPALIVE, rx.recv()).await {
            Ok(Some(bytes)) => Some((Ok(bytes), (rx, guard))),
            Ok(None) => None,
            Err(_) => Some((Ok(Bytes::from_static(b": keep-alive\n\n")), (rx, guard))),
        }
    });
    Box::pin(stream)
}

/// A background run's events, kept for `/resume` (at most `limit` bytes: the oldest go first).
#[derive(Debug)]
pub(crate) struct Log {
    state: Mutex<LogState>,
    changed: watch::Sender<u64>,
    limit: usize,
}

#[derive(Debug, Default)]
struct LogState {
    frames: VecDeque<Frame>,
    bytes: usize,
    /// How many events were pushed.
    total: u64,
    /// Set when the run ended: how (`COMPLETED` … or `INTERRUPTED`).
    ended: Option<&'static str>,
    closed: bool,
}

/// What a reader of a log does about events it had not read when they were dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gaps {
    /// Go on after them (AgentOS's `/resume` tells how many were dropped).
    Skip,
    /// End the stream there.
    End,
}

/// What a reader of the log gets: events after the index it asked from.
#[derive(Debug)]
pub(crate) struct Slice {
    pub(crate) frames: Vec<Bytes>,
    /// The index of the last event in `frames` (or the one asked from).
    pub(crate) last: Option<u64>,
    /// Events the reader missed that are no longer kept.
    pub(crate) dropped: u64,
    pub(crate) total: u64,
    /// The run ended and every event is in.
    pub(crate) closed: bool,
    pub(crate) ended: Option<&'static str>,
}

impl Log {
    fn new(limit: usize) -> Self {
        Self { state: Mutex::default(), changed: watch::channel(0).0, limit }
    }

    fn push(&self, frame: Frame) {
        let mut state = lock(&self.state);
        state.bytes += frame.bytes.len();
        state.total = frame.index + 1;
        if let Some(status) = frame.terminal {
            state.ended = Some(status);
        }
        state.frames.push_back(frame);
        while state.bytes > self.limit && state.frames.len() > 1 {
            if let Some(old) = state.frames.pop_front() {
                state.bytes -= old.bytes.len();
            }
        }
        let total = state.total;
        drop(state);
        self.changed.send_replace(total);
    }

    fn close(&self, ended: Option<&'static str>) {
        let mut state = lock(&self.state);
        state.closed = true;
        if state.ended.is_none() {
            state.ended = ended.or(Some("ERROR"));
        }
        drop(state);
        self.changed.send_modify(|_| {});
    }

    /// The events after `after` (all for `None`).
    pub(crate) fn since(&self, after: Option<u64>) -> Slice {
        let state = lock(&self.state);
        let from = after.map_or(0, |a| a + 1);
        let first_kept = state.frames.front().map_or(state.total, |f| f.index);
        let frames: Vec<&Frame> = state.frames.iter().filter(|f| f.index >= from).collect();
        Slice {
            last: frames.last().map(|f| f.index).or(after),
            frames: frames.into_iter().map(|f| f.bytes.clone()).collect(),
            dropped: first_kept.saturating_sub(from),
            total: state.total,
            closed: state.closed,
            ended: state.ended,
        }
    }

    /// The events after `after`, then the live rest until the run ends. A reader that falls
    /// more than the log's limit behind either skips what was dropped or, with [`Gaps::End`],
    /// is ended there (for streams that are wrong with a hole in them).
    pub(crate) fn tail(self: &Arc<Self>, after: Option<u64>, gaps: Gaps) -> SseBody {
        let log = Arc::clone(self);
        let changed = self.changed.subscribe();
        let stream = futures::stream::unfold(
            (log, changed, after, false),
            move |(log, mut changed, after, done)| async move {
                if done {
                    return None;
                }
                loop {
                    changed.borrow_and_update();
                    let slice = log.since(after);
                    if gaps == Gaps::End && slice.dropped > 0 {
                        return None;
                    }
                    if !slice.frames.is_empty() {
                        let bytes: Vec<u8> = slice.frames.concat();
                        return Some((Ok(Bytes::from(bytes)), (log, changed, slice.last, false)));
                    }
                    if slice.closed {
                        return None;
                    }
                    match tokio::time::timeout(KEEPALIVE, changed.changed()).await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => return None,
                        Err(_) => {
                            return Some((
                                Ok(Bytes::from_static(b": keep-alive\n\n")),
                                (log, changed, after, false),
                            ));
                        }
                    }
                }
            },
        );
        Box::pin(stream)
    }
}
