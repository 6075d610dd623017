//! The run loop: model turn → tool batch → model turn … until a final answer or a limit.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;

use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::Inner;
use crate::error::{Error, Result};
use crate::event::RunEvent;
use crate::exec::{Batch, BatchEvent, Executor};
use crate::model::{Message, ModelDelta, ModelRequest, Replay, Usage};
use crate::output::ToolExecution;
use crate::output::{Metrics, RunOutput, RunStatus, TurnMetrics};
use crate::spans;

use crate::tool::{ToolCall, ToolError, ToolProgress};

/// Where a run reports its events.
pub(super) type Sink<'a> = &'a mut (dyn FnMut(RunEvent) + Send);

/// How a run begins: from the user's input, or where a paused run stopped.
pub(super) enum Start {
    Input(String),
    Resume(Box<PausedRun>, Vec<(String, Decision)>),
}

/// What the run loop carries from turn to turn.
#[derive(Debug, Clone)]
struct RunState {
    run_start: Instant,
    messages: Vec<Message>,
    executions: Vec<ToolExecution>,
    metrics: Metrics,
}

/// Run to the end, or to a pause. `streaming` selects streamed model turns (and with them eager
/// tool start).
pub(super) async fn run(inner: &Inner, start: Start, streaming: bool, sink: Sink<'_>) -> Result<RunOutput> {
    let span = spans::agent(inner.name.as_deref(), &*inner.model);
    let outcome = run_in_span(inner, start, streaming, sink).instrument(span.clone()).await;
    spans::agent_done(&span, outcome.as_ref().map(|output| (&output.metrics.usage, &output.status)));
    outcome
}

async fn run_in_span(inner: &Inner, start: Start, streaming: bool, sink: Sink<'_>) -> Result<RunOutput> {
    let (mut state, first_turn) = match start {
        Start::Input(input) => {
            let mut messages = Vec::with_capacity(8);
            if let Some(system) = &inner.system_prompt {
                messages.push(Message::system(system.clone()));
            }
            messages.push(Message::user(input.clone()));
            sink(RunEvent::RunStarted { model: inner.model.id().to_owned(), input });
            let state = RunState {
                run_start: Instant::now(),
                messages,
                executions: Vec::new(),
                metrics: Metrics::default(),
            };
            (state, 0)
        }
        Start::Resume(paused, decisions) => {
            let PausedRun { mut state, turn, calls, text, replay, mut done, pending } = *paused;
            // The time spent waiting for the user does not count as run time.
            state.metrics.duration += state.run_start.elapsed();
            state.run_start = Instant::now();
            let budget = budget(inner, &state, done.len());
            let executor = inner.turn_executor().await?;
            let mut phase = ToolPhase::new(inner, &executor, turn, budget, true);
            phase.calls = calls;
            for index in pending {
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
            let batch = phase.finish(state.run_start, sink).await;
            done.extend(batch.executions);
            done.sort_by_key(|(index, _)| *index);
            let executions = done.into_iter().map(|(_, e)| e).collect();
            if let Some(status) = record_batch(
                inner,
                &executor,
                &mut state,
                batch.calls,
                (text, replay),
                executions,
                batch.limit_hit,
            ) {
                return Ok(finish(state, status, String::new(), None));
            }
            (state, turn + 1)
        }
    };

    let settings = &inner.settings;
    let mut repairs = 0;
    for turn in first_turn..settings.max_turns {
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
        let budget = budget(inner, &state, 0);
        let mut phase = if streaming {
            stream_turn(inner, &executor, &request, turn, state.run_start, budget, &mut state.metrics, sink)
                .await?
        } else {
            let response = complete_turn(inner, &request, turn, sink).await?;
            let mut phase = ToolPhase::new(inner, &executor, turn, budget, false);
            phase.content = response.content.unwrap_or_default();
            if !phase.content.is_empty() {
                sink(RunEvent::ContentDelta(phase.content.clone()));
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
        sink(RunEvent::ModelTurnCompleted {
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
        let batch = phase.finish(state.run_start, sink).await;
        if !batch.held.is_empty() {
            let pending_calls = batch.held.iter().map(|&i| batch.calls[i].clone()).collect();
            let paused = PausedRun {
                state: state.clone(),
                turn,
                calls: batch.calls,
                text,
                replay,
                done: batch.executions,
                pending: batch.held,
            };
            let content = String::new();
            return Ok(finish(state, RunStatus::Paused { pending: pending_calls }, content, Some(paused)));
        }
        let executions = batch.executions.into_iter().map(|(_, e)| e).collect();
        if let Some(status) = record_batch(
            inner,
            &executor,
            &mut state,
            batch.calls,
            (text, replay),
            executions,
            batch.limit_hit,
        ) {
            return Ok(finish(state, status, String::new(), None));
        }
    }
    Ok(finish(state, RunStatus::MaxTurnsReached { limit: settings.max_turns }, String::new(), None))
}

/// How many more tool calls the run may make, when limited; `extra` counts calls already run in
/// the current turn.
fn budget(inner: &Inner, state: &RunState, extra: usize) -> Option<usize> {
    inner.settings.tool_call_limit.map(|limit| limit.saturating_sub(state.executions.len() + extra))
}

/// Append a finished batch to the conversation; returns the status if the run must end here.
fn record_batch(
    inner: &Inner,
    executor: &Executor,
    state: &mut RunState,
    calls: Vec<ToolCall>,
    (text, replay): (Option<String>, Option<Replay>),
    executions: Vec<ToolExecution>,
    limit_hit: bool,
) -> Option<RunStatus> {
    state.messages.push(Message::Assistant { content: text, tool_calls: calls, replay });
    let tools = executor.tools();
    let mut stop = false;
    for execution in &executions {
        state.messages.push(Message::Tool {
            call_id: execution.call.id.clone(),
            name: execution.call.name.clone(),
            content: execution.content_for_model(),
            is_error: execution.is_error(),
        });
        stop |= tools.options(&execution.call.name).is_some_and(|o| o.stop_after_tool_call);
    }
    state.executions.extend(executions);
    match (stop, limit_hit, inner.settings.tool_call_limit) {
        (true, _, _) => Some(RunStatus::StoppedAfterToolCall),
        (false, true, Some(limit)) => Some(RunStatus::ToolCallLimitReached { limit }),
        _ => None,
    }
}

fn finish(mut state: RunState, status: RunStatus, content: String, paused: Option<PausedRun>) -> RunOutput {
    state.metrics.duration += state.run_start.elapsed();
    if !matches!(status, RunStatus::Completed | RunStatus::Paused { .. }) {
        tracing::warn!("the run ended without a final answer: {status:?}");
    }
    RunOutput {
        content,
        status,
        messages: state.messages,
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

/// A run waiting for the user to approve or reject calls of tools that require confirmation.
/// Take it out of the output with [`RunOutput::take_paused`] and continue it with
/// [`Agent::continue_run`](super::Agent::continue_run), which consumes it: it cannot be cloned
/// or continued twice, so an approved call runs once.
#[derive(Debug)]
pub struct PausedRun {
    state: RunState,
    turn: usize,
    /// All calls of the paused turn.
    calls: Vec<ToolCall>,
    text: Option<String>,
    replay: Option<Replay>,
    /// Executions of the turn's calls that needed no confirmation, by call index.
    done: Vec<(usize, ToolExecution)>,
    /// Indices of the calls waiting for a decision.
    pending: Vec<usize>,
}

impl PausedRun {
    /// The calls waiting for a decision, in the model's order.
    pub fn pending_calls(&self) -> impl ExactSizeIterator<Item = &ToolCall> {
        self.pending.iter().map(|&index| &self.calls[index])
    }
}

/// The user's answer for a call that requires confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Run the call.
    Approve,
    /// Do not run it; the model is told, with the optional note.
    Reject(Option<String>),
}

/// One whole (non-streamed) model turn, retried under the agent's [`RetryPolicy`].
///
/// [`RetryPolicy`]: crate::RetryPolicy
async fn complete_turn(
    inner: &Inner,
    request: &ModelRequest,
    turn: usize,
    sink: Sink<'_>,
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

fn announce_retry(inner: &Inner, turn: usize, retry: u32, wait: Duration, err: Error, sink: Sink<'_>) {
    let max_retries = inner.settings.retry.retries();
    tracing::warn!("{err}; retrying in {:.2}s (retry {retry} of {max_retries})", wait.as_secs_f64());
    sink(RunEvent::ModelRetry { turn, retry, max_retries, wait, error: Arc::new(err) });
}

/// One streamed model turn, starting tool calls as they complete, retried under the agent's
/// [`RetryPolicy`](crate::RetryPolicy) as long as no text has reached the caller. Calls started
/// eagerly in a failed attempt are cancelled (and reported so) before the retry, so none runs
/// twice at once and every reported start has an end.
#[allow(clippy::too_many_arguments)] // one call site; a struct would only rename them
async fn stream_turn<'a>(
    inner: &'a Inner,
    executor: &Executor,
    request: &ModelRequest,
    turn: usize,
    run_start: Instant,
    budget: Option<usize>,
    metrics: &mut Metrics,
    sink: Sink<'_>,
) -> Result<ToolPhase<'a>> {
    let mut retry = 0;
    loop {
        let sent = Instant::now();
        // Created outside the chat span: the calls' spans are its siblings, not its children.
        let mut phase = ToolPhase::new(inner, executor, turn, budget, inner.settings.eager_start);
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
                                sink(RunEvent::ContentDelta(text));
                            }
                            ModelDelta::Reasoning(text) => {
                                output_shown = true;
                                sink(RunEvent::ReasoningDelta(text));
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
                Some(event) = phase.batch.next_event() => phase.report(event, run_start, sink),
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
struct ToolPhase<'a> {
    inner: &'a Inner,
    turn: usize,
    eager: bool,
    /// The turn's tools (see [`Inner::turn_executor`]).
    executor: Executor,
    /// Calls the run may still make, when limited.
    budget: Option<usize>,
    limit_hit: bool,
    batch: Batch,
    /// The calls in the model's order.
    calls: Vec<ToolCall>,
    /// For each batch entry, the position of its call in `calls`.
    call_of_entry: Vec<usize>,
    /// Calls that wait for the end of the turn.
    deferred: Vec<usize>,
    /// Calls that wait for the user's confirmation.
    held: Vec<usize>,
    /// For each batch entry: reported started and not yet reported completed.
    running: Vec<bool>,
    content: String,
    usage: Option<Usage>,
    finish_reason: Option<crate::model::FinishReason>,
    replay: Option<Replay>,
    first_delta: Option<std::time::Duration>,
}

impl<'a> ToolPhase<'a> {
    fn new(inner: &'a Inner, executor: &Executor, turn: usize, budget: Option<usize>, eager: bool) -> Self {
        Self {
            inner,
            turn,
            eager,
            executor: executor.clone(),
            budget,
            limit_hit: false,
            batch: executor.batch(),
            calls: Vec::new(),
            call_of_entry: Vec::new(),
            deferred: Vec::new(),
            held: Vec::new(),
            running: Vec::new(),
            content: String::new(),
            usage: None,
            finish_reason: None,
            replay: None,
            first_delta: None,
        }
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
        match &mut self.budget {
            Some(0) => {
                self.limit_hit = true;
                let limit = self.inner.settings.tool_call_limit.unwrap_or_default();
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

    fn report(&mut self, event: BatchEvent, run_start: Instant, sink: Sink<'_>) {
        let entry = match event {
            BatchEvent::Started { index, .. } | BatchEvent::Completed { index } => index,
            BatchEvent::Progress { index, progress } => {
                let ToolProgress { progress, total, message } = progress;
                let index = self.call_of_entry[index];
                return sink(RunEvent::ToolCallProgress { turn: self.turn, index, progress, total, message });
            }
        };
        if self.running.len() <= entry {
            self.running.resize(entry + 1, false);
        }
        self.running[entry] = matches!(event, BatchEvent::Started { .. });
        match event {
            BatchEvent::Started { index, at } => sink(RunEvent::ToolCallStarted {
                turn: self.turn,
                index: self.call_of_entry[index],
                call: self.batch.call(index).clone(),
                at: at.saturating_duration_since(run_start),
            }),
            BatchEvent::Progress { .. } => {}
            BatchEvent::Completed { index } => {
                if let Some(execution) = self.batch.execution(index) {
                    sink(RunEvent::ToolCallCompleted {
                        turn: self.turn,
                        index: self.call_of_entry[index],
                        execution: execution.clone(),
                    });
                }
            }
        }
    }

    /// Abort the calls still running (dropping the phase aborts their tasks) and report each
    /// of them as cancelled, because the turn they belong to failed with `err`.
    fn cancel_running(&self, err: &Error, sink: Sink<'_>) {
        let reason = format!("the model turn failed and is retried: {err}");
        for (entry, _) in self.running.iter().enumerate().filter(|(_, running)| **running) {
            sink(RunEvent::ToolCallCancelled {
                turn: self.turn,
                index: self.call_of_entry[entry],
                call: self.batch.call(entry).clone(),
                reason: reason.clone(),
            });
        }
    }

    /// Start the deferred calls and wait for every started one. Held calls stay unrun.
    async fn finish(mut self, run_start: Instant, sink: Sink<'_>) -> FinishedBatch {
        for index in std::mem::take(&mut self.deferred) {
            self.start(index);
        }
        self.batch.close();
        while let Some(event) = self.batch.next_event().await {
            self.report(event, run_start, sink);
        }
        let mut executions: Vec<(usize, ToolExecution)> =
            self.call_of_entry.iter().copied().zip(self.batch.into_executions()).collect();
        executions.sort_by_key(|(index, _)| *index);
        FinishedBatch { calls: self.calls, executions, held: self.held, limit_hit: self.limit_hit }
    }
}

/// A turn's calls after its batch: executions by call index, calls held for confirmation.
struct FinishedBatch {
    calls: Vec<ToolCall>,
    executions: Vec<(usize, ToolExecution)>,
    held: Vec<usize>,
    limit_hit: bool,
}

/// Start a streamed run on its own task, on first poll; dropping the stream aborts it.
pub(super) fn spawn_stream(inner: Arc<Inner>, start: Start, streaming: bool) -> EventStream {
    // The run's span is a child of the caller's, though it runs on a task of its own.
    let span = tracing::Span::current();
    EventStream { pending: Some((inner, start)), streaming, span, rx: None, task: None }
}

/// The stream behind [`Agent::run_stream`](super::Agent::run_stream).
pub(super) struct EventStream {
    pending: Option<(Arc<Inner>, Start)>,
    streaming: bool,
    span: tracing::Span,
    rx: Option<mpsc::UnboundedReceiver<Result<RunEvent>>>,
    task: Option<JoinHandle<()>>,
}

impl Stream for EventStream {
    type Item = Result<RunEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some((inner, start)) = self.pending.take() {
            let (tx, rx) = mpsc::unbounded_channel();
            let streaming = self.streaming;
            self.task = Some(tokio::spawn(
                async move {
                    let events = tx.clone();
                    let outcome = run(&inner, start, streaming, &mut |event| {
                        // A closed receiver means the caller stopped listening; the task is aborted.
                        let _ = events.send(Ok(event));
                    })
                    .await;
                    let _ = tx.send(outcome.map(|output| RunEvent::RunCompleted(Box::new(output))));
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

impl Drop for EventStream {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream").finish_non_exhaustive()
    }
}
