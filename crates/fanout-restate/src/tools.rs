//! The tool service `{name}-tools`: its handler `call` runs one call of the agent's tool set.

use std::sync::Arc;
use std::time::Duration;

use fanout::event::EventKind;
use fanout::exec::ToolEvent;
use fanout::tool::with_idempotency_scope;
use restate_sdk::context::Context;
use restate_sdk::discovery::{InputPayload, OutputPayload, ServiceName, ServiceType};
use restate_sdk::endpoint::{self, ContextInternal};
use restate_sdk::errors::HandlerResult;
use restate_sdk::serde::Json;
use restate_sdk::service::ServiceDefinition;
use restate_sdk::service::macro_support::{ServiceBoxFuture, service_definition};

use crate::wire::{ToolOutcome, ToolRequest};
use crate::{Error, Shared};

/// The handler's name.
pub(crate) const CALL: &str = "call";

/// The tool service, with `inactivity` and `abort` as its timeouts.
pub(crate) fn definition(
    shared: Arc<Shared>,
    inactivity: Duration,
    abort: Duration,
) -> Result<ServiceDefinition, Error> {
    let name = ServiceName::try_from(shared.tools_name.clone())
        .map_err(|_| Error::InvalidName(shared.tools_name.clone()))?;
    let handler = crate::manifest::handler(
        CALL,
        None,
        InputPayload::from_metadata::<Json<ToolRequest>>(),
        OutputPayload::from_metadata::<Json<ToolOutcome>>(),
        "Run one call of the agent's tools.",
    )?;
    let mut service = crate::manifest::service(name, ServiceType::Service, vec![handler]);
    service.documentation =
        Some(format!("The tools of the fanout agent `{}`, one call per invocation.", shared.name));
    service.inactivity_timeout = Some(millis(inactivity));
    service.abort_timeout = Some(millis(abort));
    Ok(service_definition(Tools(shared), service))
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The dispatcher.
struct Tools(Arc<Shared>);

impl restate_sdk::service::Service for Tools {
    type Future = ServiceBoxFuture;

    fn handle(&self, ctx: ContextInternal) -> Self::Future {
        let shared = Arc::clone(&self.0);
        Box::pin(async move {
            if ctx.handler_name() != CALL {
                return Err(endpoint::Error::unknown_handler(ctx.service_name(), ctx.handler_name()));
            }
            let (Json(request), metadata) = ctx.input::<Json<ToolRequest>>().await;
            let result = call(&shared, (&ctx, metadata).into(), request).await;
            ctx.handle_handler_result(result);
            ctx.end();
            Ok(())
        })
    }
}

/// Run the call with the agent's executor, under its idempotency scope.
async fn call(shared: &Shared, _ctx: Context<'_>, request: ToolRequest) -> HandlerResult<Json<ToolOutcome>> {
    let ToolRequest { call, scope, run_id, session, turn, index } = request;
    let origin = shared.origin(&run_id, &session);
    let executor = match shared.agent.tool_executor().await {
        Ok(executor) => executor,
        // The tool list could not be refreshed: the model is told, as for any failed call.
        Err(err) => return Ok(Json(ToolOutcome { content: format!("Error: {err}"), is_error: true })),
    };
    let started = tokio::time::Instant::now();
    let mut on_event = |event: ToolEvent<'_>| match event {
        ToolEvent::Started { call, at, .. } => shared.emit(
            &origin,
            EventKind::ToolCallStarted {
                turn,
                index,
                call: call.clone(),
                at: at.saturating_duration_since(started),
            },
        ),
        ToolEvent::Completed { execution, .. } => {
            tracing::debug!(
                tool = %execution.call.name,
                call_id = %execution.call.id,
                "tool call done in {:.3}s",
                execution.duration.as_secs_f64()
            );
            shared.emit(&origin, EventKind::ToolCallCompleted { turn, index, execution: execution.clone() })
        }
    };
    let executions =
        with_idempotency_scope(scope, executor.run(std::slice::from_ref(&call), &mut on_event)).await;
    let outcome = match executions.first() {
        Some(execution) => {
            ToolOutcome { content: execution.content_for_model(), is_error: execution.is_error() }
        }
        None => ToolOutcome { content: "Error: the call was not run".to_owned(), is_error: true },
    };
    Ok(Json(outcome))
}
