//! The agent's virtual object: one key per session, the conversation in its state, the run loop
//! in its exclusive handler `run`.

use std::sync::Arc;

use fanout::Agent;
use fanout::event::{EventKind, Origin};
use fanout::exec::Executor;
use fanout::history;
use fanout::models::{Message, ModelRequest};
use restate_sdk::context::{
    ContextClient, ContextReadState, ContextSideEffects, ContextWriteState, DurableFuturesUnordered,
    ObjectContext, RequestTarget, RunFuture, SharedObjectContext,
};
use restate_sdk::discovery::{HandlerType, InputPayload, OutputPayload, ServiceName, ServiceType};
use restate_sdk::endpoint::{self, ContextInternal};
use restate_sdk::errors::{HandlerError, HandlerResult, TerminalError};
use restate_sdk::serde::Json;
use restate_sdk::service::ServiceDefinition;
use restate_sdk::service::macro_support::{ServiceBoxFuture, service_definition};

use crate::manifest::{handler, service};
use crate::wire::{Plan, RunRequest, ToolOutcome, ToolRequest, TurnRecord};
use crate::{Error, Shared};

/// The state key of the session's conversation (without the system prompt, which is the
/// agent's and sent with every request).
const MESSAGES: &str = "messages";

/// The virtual object serving the agent's sessions.
pub(crate) fn definition(shared: Arc<Shared>) -> Result<ServiceDefinition, Error> {
    let name =
        ServiceName::try_from(shared.name.clone()).map_err(|_| Error::InvalidName(shared.name.clone()))?;
    let handlers = vec![
        handler(
            "run",
            Some(HandlerType::Exclusive),
            InputPayload::from_metadata::<Json<RunRequest>>(),
            OutputPayload::from_metadata::<String>(),
            "Run the agent on a message of this session; answers with the run's final text.",
        )?,
        handler(
            "messages",
            Some(HandlerType::Shared),
            InputPayload::empty(),
            OutputPayload::from_metadata::<Json<Vec<Message>>>(),
            "The session's conversation so far.",
        )?,
        handler(
            "reset",
            Some(HandlerType::Exclusive),
            InputPayload::empty(),
            OutputPayload::empty(),
            "Forget the session's conversation.",
        )?,
    ];
    let mut service = service(name, ServiceType::VirtualObject, handlers);
    service.documentation = Some(format!("The sessions of the fanout agent `{}`, one per key.", shared.name));
    Ok(service_definition(Sessions(shared), service))
}

/// The dispatcher.
struct Sessions(Arc<Shared>);

impl restate_sdk::service::Service for Sessions {
    type Future = ServiceBoxFuture;

    fn handle(&self, ctx: ContextInternal) -> Self::Future {
        let shared = Arc::clone(&self.0);
        Box::pin(async move {
            match ctx.handler_name() {
                "run" => {
                    let (Json(request), metadata) = ctx.input::<Json<RunRequest>>().await;
                    let result = run(&shared, (&ctx, metadata).into(), request).await;
                    ctx.handle_handler_result(result);
                }
                "messages" => {
                    let ((), metadata) = ctx.input::<()>().await;
                    let result = messages((&ctx, metadata).into()).await;
                    ctx.handle_handler_result(result);
                }
                "reset" => {
                    let ((), metadata) = ctx.input::<()>().await;
                    let ctx_object: ObjectContext<'_> = (&ctx, metadata).into();
                    ctx_object.clear(MESSAGES);
                    ctx.handle_handler_result(HandlerResult::Ok(()));
                }
                _ => return Err(endpoint::Error::unknown_handler(ctx.service_name(), ctx.handler_name())),
            }
            ctx.end();
            Ok(())
        })
    }
}

async fn messages(ctx: SharedObjectContext<'_>) -> HandlerResult<Json<Vec<Message>>> {
    Ok(ctx.get::<Json<Vec<Message>>>(MESSAGES).await?.unwrap_or_default())
}

/// The run loop, durably: model turn (journaled) → every call of the turn as its own invocation,
/// all in flight at once → model turn … until a final answer or a limit.
async fn run(shared: &Shared, ctx: ObjectContext<'_>, request: RunRequest) -> HandlerResult<String> {
    let agent = &shared.agent;
    let session = ctx.key().to_owned();
    let invocation = ctx.invocation_id().to_owned();
    let origin = shared.origin(&invocation, &session);
    let mut conversation =
        ctx.get::<Json<Vec<Message>>>(MESSAGES).await?.map(Json::into_inner).unwrap_or_default();
    {
        // Journaled, so that a replay does not report the start again.
        let (model, events, origin, input) = (
            agent.model().id().to_owned(),
            shared.events.clone(),
            Arc::clone(&origin),
            request.message.clone(),
        );
        ctx.run(move || async move {
            crate::emit(events.as_ref(), &origin, EventKind::RunStarted { model, input });
            Ok(())
        })
        .name("run started")
        .await?;
    }
    // What the requests send: the history repaired and trimmed by the agent's limits, as a
    // plain run sends it; the state keeps the whole conversation.
    let kept = history::trim(history::repair(conversation.clone()), &agent.history_limits());
    let earlier = conversation.len();
    conversation.push(Message::user(request.message));
    let mut calls_made = 0usize;
    for turn in 0..agent.max_turns() {
        let executor = agent.tool_executor().await.map_err(terminal)?;
        let mut messages = Vec::with_capacity(conversation.len() + 1);
        if let Some(system) = agent.system_prompt() {
            messages.push(Message::system(system));
        }
        messages.extend(kept.iter().chain(&conversation[earlier..]).cloned());
        let model_request = agent.model_request(messages, &executor);
        let budget = agent.tool_call_limit().map(|limit| limit.saturating_sub(calls_made));
        let Json(record) = {
            let (agent, events, origin) = (agent.clone(), shared.events.clone(), Arc::clone(&origin));
            // Awaited at once: a `ctx.run` not awaited before the next context call cannot be
            // replayed.
            ctx.run(move || model_turn(agent, executor, model_request, turn, budget, events, origin))
                .name(format!("model turn {}", turn + 1))
                .await?
        };
        let TurnRecord { content, tool_calls, replay, plans, stop, .. } = record;
        if tool_calls.is_empty() {
            let text = content.unwrap_or_default();
            conversation.push(Message::Assistant {
                content: Some(text.clone()),
                tool_calls: Vec::new(),
                replay,
            });
            ctx.set(MESSAGES, Json(conversation));
            tracing::debug!(%session, "run done after {} model turn(s)", turn + 1);
            return Ok(text);
        }
        let outcomes = run_batch(shared, &ctx, &invocation, &session, turn, &tool_calls, &plans).await?;
        calls_made += plans.iter().filter(|plan| !matches!(plan, Plan::Refused(_))).count();
        let limit_hit = budget.is_some_and(|left| tool_calls.len() > left);
        conversation.push(Message::Assistant { content, tool_calls: tool_calls.clone(), replay });
        for (call, outcome) in tool_calls.into_iter().zip(outcomes) {
            conversation.push(Message::Tool {
                call_id: call.id,
                name: call.name,
                content: outcome.content,
                is_error: outcome.is_error,
            });
        }
        if stop {
            ctx.set(MESSAGES, Json(conversation));
            return Ok(String::new());
        }
        if limit_hit {
            ctx.set(MESSAGES, Json(conversation));
            let limit = agent.tool_call_limit().unwrap_or_default();
            return Err(TerminalError::new(format!(
                "the run ended without a final answer: its limit of {limit} tool calls was reached"
            ))
            .into());
        }
    }
    ctx.set(MESSAGES, Json(conversation));
    Err(TerminalError::new(format!(
        "the run ended without a final answer: it reached its limit of {} model turns",
        agent.max_turns()
    ))
    .into())
}

/// One model turn, inside `ctx.run`: runs only when the journal does not have it yet, so what it
/// reports is reported once. The agent's retry policy applies first; a retryable error left
/// after it is handed to Restate, which retries the turn under the invocation's retry policy.
async fn model_turn(
    agent: Agent,
    executor: Executor,
    request: ModelRequest,
    turn: usize,
    budget: Option<usize>,
    events: Option<crate::EventSink>,
    origin: Arc<Origin>,
) -> HandlerResult<Json<TurnRecord>> {
    let emit = |kind: EventKind| crate::emit(events.as_ref(), &origin, kind);
    let started = tokio::time::Instant::now();
    let mut retry = 0;
    let response = loop {
        let err = match agent.model().complete(&request).await {
            Ok(response) => break response,
            Err(err) => err,
        };
        retry += 1;
        if let Some(wait) = agent.retry_policy().wait_before(retry, &err) {
            let max_retries = agent.retry_policy().retries();
            tracing::warn!("{err}; retrying in {:.2}s (retry {retry} of {max_retries})", wait.as_secs_f64());
            emit(EventKind::ModelRetry { turn, retry, max_retries, wait, error: Arc::new(err) });
            tokio::time::sleep(wait).await;
            continue;
        }
        if err.is_retryable() {
            tracing::warn!("model turn {} failed: {err}; Restate retries it", turn + 1);
            return Err(HandlerError::from(err));
        }
        return Err(TerminalError::new(format!("model turn {} failed: {err}", turn + 1)).into());
    };
    let duration = started.elapsed();
    if let Some(text) = response.content.as_ref().filter(|text| !text.is_empty()) {
        emit(EventKind::ContentDelta(text.clone()));
    }
    emit(EventKind::ModelTurnCompleted {
        turn,
        tool_calls: response.tool_calls.len(),
        usage: response.usage,
        finish_reason: response.finish_reason.clone(),
        duration,
    });
    let tools = executor.tools();
    let mut left = budget;
    let mut stop = false;
    let plans = response
        .tool_calls
        .iter()
        .map(|call| {
            let options = tools.options(&call.name);
            if let Some(left) = &mut left {
                if *left == 0 {
                    let limit = agent.tool_call_limit().unwrap_or_default();
                    return Plan::Refused(format!("Error: not run: the run's limit of {limit} tool calls was reached"));
                }
                *left -= 1;
            }
            stop |= options.is_some_and(|o| o.stop_after_tool_call);
            match options {
                Some(o) if o.requires_confirmation => Plan::Refused(
                    "Error: not run: this tool requires the user's confirmation, which runs on Restate do not \
                     support yet"
                        .to_owned(),
                ),
                Some(o) if o.exclusive => Plan::Exclusive,
                _ => Plan::Run,
            }
        })
        .collect();
    Ok(Json(TurnRecord {
        content: response.content,
        tool_calls: response.tool_calls,
        usage: response.usage,
        finish_reason: response.finish_reason,
        replay: response.replay,
        plans,
        stop,
    }))
}

/// Send every call of the batch as its own invocation of the tool service — all at once, then
/// the exclusive ones one by one — and collect the outcomes in call order.
async fn run_batch(
    shared: &Shared,
    ctx: &ObjectContext<'_>,
    invocation: &str,
    session: &str,
    turn: usize,
    calls: &[fanout::tool::ToolCall],
    plans: &[Plan],
) -> HandlerResult<Vec<ToolOutcome>> {
    let mut outcomes: Vec<Option<ToolOutcome>> = vec![None; calls.len()];
    // The turn is part of the scope: some servers number their calls per turn (`call_0` …), so
    // a call id alone can repeat within a run.
    let scope = format!("{invocation}/{}", turn + 1);
    let send = |index: usize| {
        let call = &calls[index];
        let request = ToolRequest {
            call: call.clone(),
            scope: scope.clone(),
            run_id: invocation.to_owned(),
            session: session.to_owned(),
            turn,
            index,
        };
        ctx.request::<Json<ToolRequest>, Json<ToolOutcome>>(
            RequestTarget::service(shared.tools_name.clone(), crate::tools::CALL),
            Json(request),
        )
        .idempotency_key(format!("{scope}/{}", call.id))
        .call()
    };
    // `DurableFuturesUnordered`, not `join_all`: the SDK's own select wakes the handler for each
    // completion (`join_all` over call futures can miss wake-ups and stall until the inactivity
    // timeout).
    let mut batch = DurableFuturesUnordered::new();
    let mut index_of = Vec::new();
    for (index, plan) in plans.iter().enumerate() {
        match plan {
            Plan::Run => {
                batch.push(send(index));
                index_of.push(index);
            }
            Plan::Refused(text) => {
                outcomes[index] = Some(ToolOutcome { content: text.clone(), is_error: true })
            }
            Plan::Exclusive => {}
        }
    }
    while let Some((slot, result)) = batch.next().await? {
        outcomes[index_of[slot]] = Some(outcome(result));
    }
    for (index, plan) in plans.iter().enumerate() {
        if *plan == Plan::Exclusive {
            outcomes[index] = Some(outcome(send(index).await));
        }
    }
    Ok(outcomes
        .into_iter()
        .map(|outcome| {
            outcome.unwrap_or_else(|| ToolOutcome { content: "Error: not run".to_owned(), is_error: true })
        })
        .collect())
}

/// A call's outcome; a failed invocation (killed, say) is that call's error, not the run's.
fn outcome(result: Result<Json<ToolOutcome>, TerminalError>) -> ToolOutcome {
    match result {
        Ok(Json(outcome)) => outcome,
        Err(err) => {
            ToolOutcome { content: format!("Error: the call failed: {}", err.message()), is_error: true }
        }
    }
}

fn terminal(err: fanout::Error) -> HandlerError {
    TerminalError::new(err.to_string()).into()
}
