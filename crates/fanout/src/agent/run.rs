//! The run loop: model turn → tool batch → model turn … until a final answer or a limit.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::time::Instant;

use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::Inner;
use crate::error::Result;
use crate::event::RunEvent;
use crate::exec::{Batch, BatchEvent, ToolExecution};
use crate::model::{Message, ModelDelta, ModelRequest, Usage};
use crate::output::{Metrics, RunOutput, RunStatus, TurnMetrics};
use crate::tool::{ToolCall, ToolError};

/// Where a run reports its events.
pub(super) type Sink<'a> = &'a mut (dyn FnMut(RunEvent) + Send);

/// How often a model turn whose stream broke after tool calls had started is tried again.
const TURN_RETRIES: usize = 2;

/// Run to the end. `streaming` selects streamed model turns (and with them eager tool start).
pub(super) async fn run(inner: &Inner, input: String, streaming: bool, sink: Sink<'_>) -> Result<RunOutput> {
    let run_start = Instant::now();
    let mut messages = Vec::with_capacity(8);
    if let Some(system) = &inner.system_prompt {
        messages.push(Message::system(system.clone()));
    }
    messages.push(Message::user(input.clone()));
    sink(RunEvent::RunStarted { model: inner.model.id().to_owned(), input });

    let mut metrics = Metrics::default();
    let mut executions: Vec<ToolExecution> = Vec::new();
    let settings = &inner.settings;
    let mut status = RunStatus::MaxTurnsReached { limit: settings.max_turns };
    let mut content = String::new();

    for turn in 0..settings.max_turns {
        let request = ModelRequest {
            messages: messages.clone(),
            tools: Arc::clone(inner.executor.tools().definitions()),
            tool_choice: None,
            parallel_tool_calls: settings.parallel_tool_calls,
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
        let budget = settings.tool_call_limit.map(|limit| limit.saturating_sub(executions.len()));
        let mut phase = if streaming {
            stream_turn(inner, &request, turn, run_start, budget, &mut metrics, sink).await?
        } else {
            let response = inner.model.complete(&request).await?;
            let mut phase = ToolPhase::new(inner, turn, budget, false);
            phase.content = response.content.unwrap_or_default();
            if !phase.content.is_empty() {
                sink(RunEvent::ContentDelta(phase.content.clone()));
            }
            phase.usage = response.usage;
            phase.finish_reason = response.finish_reason;
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
            metrics.usage += usage;
        }
        metrics.turns.push(TurnMetrics {
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

        if phase.calls.is_empty() {
            content = std::mem::take(&mut phase.content);
            messages.push(Message::Assistant { content: Some(content.clone()), tool_calls: Vec::new() });
            status = RunStatus::Completed;
            break;
        }

        let (calls, turn_executions, limit_hit) = phase.finish(run_start, sink).await;
        let text = std::mem::take(&mut content);
        messages.push(Message::Assistant { content: (!text.is_empty()).then_some(text), tool_calls: calls });
        let tools = inner.executor.tools();
        let mut stop = false;
        for execution in &turn_executions {
            messages.push(Message::Tool {
                call_id: execution.call.id.clone(),
                name: execution.call.name.clone(),
                content: execution.content_for_model(),
            });
            stop |= tools.options(&execution.call.name).is_some_and(|o| o.stop_after_tool_call);
        }
        executions.extend(turn_executions);
        if stop {
            status = RunStatus::StoppedAfterToolCall;
            break;
        }
        if let (true, Some(limit)) = (limit_hit, settings.tool_call_limit) {
            status = RunStatus::ToolCallLimitReached { limit };
            break;
        }
    }

    metrics.duration = run_start.elapsed();
    if status != RunStatus::Completed {
        tracing::warn!("run ended without a final answer: {status:?}");
    }
    Ok(RunOutput { content, status, messages, tool_executions: executions, metrics })
}

/// One streamed model turn, starting tool calls as they complete. A stream that breaks after
/// tool calls were started (but before any text was shown) is tried again with those calls
/// cancelled, so none runs twice.
async fn stream_turn<'a>(
    inner: &'a Inner,
    request: &ModelRequest,
    turn: usize,
    run_start: Instant,
    budget: Option<usize>,
    metrics: &mut Metrics,
    sink: Sink<'_>,
) -> Result<ToolPhase<'a>> {
    let mut attempt = 0;
    loop {
        let sent = Instant::now();
        let mut phase = ToolPhase::new(inner, turn, budget, inner.settings.eager_tool_start);
        let mut stream = inner.model.stream(request);
        let failure = loop {
            tokio::select! {
                delta = stream.next() => match delta {
                    None => break None,
                    Some(Err(err)) => break Some(err),
                    Some(Ok(delta)) => {
                        phase.first_delta.get_or_insert_with(|| sent.elapsed());
                        match delta {
                            ModelDelta::Text(text) => {
                                metrics.time_to_first_token.get_or_insert_with(|| run_start.elapsed());
                                phase.content.push_str(&text);
                                sink(RunEvent::ContentDelta(text));
                            }
                            ModelDelta::Reasoning(text) => sink(RunEvent::ReasoningDelta(text)),
                            ModelDelta::ToolCall { call, .. } => phase.add(call),
                            ModelDelta::Usage(usage) => phase.usage = Some(usage),
                            ModelDelta::Finish(reason) => phase.finish_reason = Some(reason),
                        }
                    }
                },
                Some(event) = phase.batch.next_event() => phase.report(event, run_start, sink),
            }
        };
        match failure {
            None => return Ok(phase),
            Some(err) if err.is_retryable() && phase.content.is_empty() && attempt < TURN_RETRIES => {
                attempt += 1;
                tracing::warn!(
                    "model stream failed after {} tool call(s) had started; cancelling them and retrying the turn: {err}",
                    phase.calls.len()
                );
                // Dropping the phase aborts the calls already started.
            }
            Some(err) => return Err(err),
        }
    }
}

/// The tool calls of one model turn: collected as they arrive, started at once when eager,
/// within the run's tool-call budget.
struct ToolPhase<'a> {
    inner: &'a Inner,
    turn: usize,
    eager: bool,
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
    content: String,
    usage: Option<Usage>,
    finish_reason: Option<crate::model::FinishReason>,
    first_delta: Option<std::time::Duration>,
}

impl<'a> ToolPhase<'a> {
    fn new(inner: &'a Inner, turn: usize, budget: Option<usize>, eager: bool) -> Self {
        Self {
            inner,
            turn,
            eager,
            budget,
            limit_hit: false,
            batch: inner.executor.batch(),
            calls: Vec::new(),
            call_of_entry: Vec::new(),
            deferred: Vec::new(),
            content: String::new(),
            usage: None,
            finish_reason: None,
            first_delta: None,
        }
    }

    /// A call arrived: start it now if eager start applies to it, else at the end of the turn.
    fn add(&mut self, call: ToolCall) {
        let index = self.calls.len();
        let eager = self.eager && self.inner.executor.tools().options(&call.name).is_none_or(|o| o.eager);
        self.calls.push(call);
        if eager { self.start(index) } else { self.deferred.push(index) }
    }

    fn start(&mut self, index: usize) {
        let call = self.calls[index].clone();
        self.call_of_entry.push(index);
        match &mut self.budget {
            Some(0) => {
                self.limit_hit = true;
                let limit = self.inner.settings.tool_call_limit.unwrap_or_default();
                self.batch.push_settled(
                    call,
                    Err(ToolError::NotRun(format!("the run's limit of {limit} tool calls was reached"))),
                );
            }
            Some(left) => {
                *left -= 1;
                self.batch.push(call);
            }
            None => self.batch.push(call),
        }
    }

    fn report(&self, event: BatchEvent, run_start: Instant, sink: Sink<'_>) {
        match event {
            BatchEvent::Started { index, at } => sink(RunEvent::ToolCallStarted {
                turn: self.turn,
                index: self.call_of_entry[index],
                call: self.batch.call(index).clone(),
                at: at.saturating_duration_since(run_start),
            }),
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

    /// Start the deferred calls, wait for all, and return the calls, their executions in call
    /// order, and whether the tool-call limit cut the batch short.
    async fn finish(
        mut self,
        run_start: Instant,
        sink: Sink<'_>,
    ) -> (Vec<ToolCall>, Vec<ToolExecution>, bool) {
        for index in std::mem::take(&mut self.deferred) {
            self.start(index);
        }
        self.batch.close();
        while let Some(event) = self.batch.next_event().await {
            self.report(event, run_start, sink);
        }
        let mut ordered: Vec<(usize, ToolExecution)> =
            self.call_of_entry.iter().copied().zip(self.batch.into_executions()).collect();
        ordered.sort_by_key(|(index, _)| *index);
        (self.calls, ordered.into_iter().map(|(_, e)| e).collect(), self.limit_hit)
    }
}

/// Start a streamed run on its own task, on first poll; dropping the stream aborts it.
pub(super) fn spawn_stream(inner: Arc<Inner>, input: String, streaming: bool) -> EventStream {
    EventStream { pending: Some((inner, input)), streaming, rx: None, task: None }
}

/// The stream behind [`Agent::run_stream`](super::Agent::run_stream).
pub(super) struct EventStream {
    pending: Option<(Arc<Inner>, String)>,
    streaming: bool,
    rx: Option<mpsc::UnboundedReceiver<Result<RunEvent>>>,
    task: Option<JoinHandle<()>>,
}

impl Stream for EventStream {
    type Item = Result<RunEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some((inner, input)) = self.pending.take() {
            let (tx, rx) = mpsc::unbounded_channel();
            let streaming = self.streaming;
            self.task = Some(tokio::spawn(async move {
                let events = tx.clone();
                let outcome = run(&inner, input, streaming, &mut |event| {
                    // A closed receiver means the caller stopped listening; the task is aborted.
                    let _ = events.send(Ok(event));
                })
                .await;
                let _ = tx.send(outcome.map(|output| RunEvent::RunCompleted(Box::new(output))));
            }));
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
