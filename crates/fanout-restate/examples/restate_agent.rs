//! The seed agent as a durable Restate service: the virtual object `seed`, one key per session,
//! its three `atask` tools each a durable invocation of `seed-tools`.
//!
//! ```text
//! cargo run --example restate_agent          # listening on http://127.0.0.1:9080
//!
//! # with a Restate server running (npx @restatedev/restate-server):
//! curl localhost:9070/deployments --json '{"uri": "http://127.0.0.1:9080"}'
//! curl localhost:8080/seed/alice/run --json '{"message": "Please run all tasks with a delay of 3s"}'
//! ```
//!
//! Kill this process while the tasks run and start it again: Restate resumes the run by itself;
//! the tasks that had finished do not run again, nor does the model turn that asked for them.
//!
//! The model is chosen as in `async_tools`: `FANOUT_MODEL=provider:model`, else `gpt-5-mini`
//! with `OPENAI_API_KEY` (and `OPENAI_BASE_URL` for any compatible server), else fanout's
//! scripted model, which says so. `FANOUT_RESTATE_ADDR` sets the address (default
//! `127.0.0.1:9080`).

use std::process::ExitCode;
use std::time::Duration;

use fanout::models::from_env_or_scripted;
use fanout::models::scripted::ScriptedModel;
use fanout::prelude::*;
use fanout_restate::RestateAgent;

/// Simulate a task that takes a random amount of time to complete
///
/// # Arguments
/// * `delay` - The amount of time to delay the task
#[tool]
async fn atask1(delay: u64) -> String {
    info!("Task 1 has started");
    for _ in 0..delay {
        tokio::time::sleep(Duration::from_secs(1)).await;
        info!("Task 1 has slept for 1s");
    }
    info!("Task 1 has completed");
    format!("Task 1 completed in {:.2}s", delay as f64)
}

/// Simulate a task that takes a random amount of time to complete
///
/// # Arguments
/// * `delay` - The amount of time to delay the task
#[tool]
async fn atask2(delay: u64) -> String {
    info!("Task 2 has started");
    for _ in 0..delay {
        tokio::time::sleep(Duration::from_secs(1)).await;
        info!("Task 2 has slept for 1s");
    }
    info!("Task 2 has completed");
    format!("Task 2 completed in {:.2}s", delay as f64)
}

/// Simulate a task that takes a random amount of time to complete
///
/// # Arguments
/// * `delay` - The amount of time to delay the task
#[tool]
async fn atask3(delay: u64) -> String {
    info!("Task 3 has started");
    for _ in 0..delay {
        tokio::time::sleep(Duration::from_secs(1)).await;
        info!("Task 3 has slept for 1s");
    }
    info!("Task 3 has completed");
    format!("Task 3 completed in {:.2}s", delay as f64)
}

#[tokio::main]
async fn main() -> ExitCode {
    fanout::log::init();
    match serve().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            error!("{err}");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::var("FANOUT_RESTATE_ADDR").unwrap_or_else(|_| "127.0.0.1:9080".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|err| format!("cannot listen on {addr}: {err}"))?;
    println!("listening on http://{}", listener.local_addr()?);
    let agent = Agent::builder()
        .model(from_env_or_scripted("openai:gpt-5-mini", offline_model())?)
        .tools(tools![atask2, atask1, atask3])
        .markdown(true)
        .build()?;
    RestateAgent::new("seed", agent)?.on_event(log_event).serve(listener).await?;
    Ok(())
}

/// What happens, as it happens: each line once, however often Restate replays the run.
fn log_event(event: &RunEvent) {
    let session = event.origin.session_id.as_deref().unwrap_or_default();
    match &event.kind {
        EventKind::RunStarted { input, .. } => info!("[{session}] Message: {input}"),
        EventKind::ModelTurnCompleted { turn, tool_calls, duration, .. } => info!(
            "[{session}] model turn {} ({:.2}s): {tool_calls} tool call(s)",
            turn + 1,
            duration.as_secs_f64()
        ),
        EventKind::ToolCallStarted { call, .. } => info!("[{session}] • {}({})", call.name, call.arguments),
        EventKind::ToolCallCompleted { execution, .. } => info!(
            "[{session}] ✓ {} in {:.2}s: {}",
            execution.call.name,
            execution.duration.as_secs_f64(),
            execution.content_for_model()
        ),
        EventKind::ContentDelta(text) => info!("[{session}] Response:\n{text}"),
        _ => {}
    }
}

/// Without an API key: a scripted model that calls every tool with a delay of 3, then summarizes.
fn offline_model() -> ScriptedModel {
    ScriptedModel::call_every_tool_then_summarize(serde_json::json!({"delay": 3}))
}
