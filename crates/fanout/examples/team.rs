//! A team: a leader hands three members their work in one turn; each member holds one of the seed
//! example's three tasks. The members work at the same time — the run takes about as long as the
//! slowest of them, not the sum — and `print_response` draws each member's tool calls under the
//! call that delegated to it, live.
//!
//! ```text
//! cargo run --example team
//! ```
//!
//! The model is chosen as in `async_tools`: with `OPENAI_API_KEY` set (and optionally
//! `OPENAI_BASE_URL` for any OpenAI-compatible server) every agent of the team talks to
//! `gpt-5-mini`; `FANOUT_MODEL=provider:model` picks another provider; without a key the team runs
//! on fanout's built-in scripted model and says so.
//!
//! To see the tree in a trace viewer — each member's `invoke_agent` span under the leader's
//! `execute_tool` span that ran it:
//!
//! ```text
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 cargo run --example team --features otel
//! ```

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use fanout::models::Model;
use fanout::models::from_env_or_scripted;
use fanout::models::scripted::{ScriptedModel, Turn};
use fanout::prelude::*;

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
async fn main() -> fanout::Result<ExitCode> {
    // Built with `--features otel` and OTEL_EXPORTER_OTLP_ENDPOINT set: the run is exported as a trace.
    #[cfg(feature = "otel")]
    let _telemetry = fanout::telemetry::init_if_configured()?;
    let model = from_env_or_scripted("openai:gpt-5-mini", offline_leader())?;
    // Offline, each member plays a script of its own; otherwise the whole team shares the model.
    let offline = model.provider() == "scripted";
    // A member's answer is its task's result as it is (no second model turn).
    let member = |n: usize, task: Arc<dyn Tool>| {
        let model: Arc<dyn Model> = if offline { Arc::new(offline_member()) } else { Arc::clone(&model) };
        Agent::builder()
            .name(format!("worker_{n}"))
            .description(format!("Runs task {n}; tell it the delay in seconds."))
            .model(model)
            .tools(vec![task])
            .build()
    };
    let team = Team::new(Agent::builder().name("lead").model(Arc::clone(&model)).markdown(true))
        .members([
            member(1, Arc::new(atask1.respond_directly()))?,
            member(2, Arc::new(atask2.respond_directly()))?,
            member(3, Arc::new(atask3.respond_directly()))?,
        ])
        .build()?;
    // The run reports its own failure, once; main only sets the exit status (130 after Ctrl-C).
    let printed = team
        .print_response("Please have every team member run their task with a delay of 3s")
        .stream(true)
        .await;
    Ok(fanout::print::exit_code(&printed))
}

/// Without an API key, the leader's script: hand every member its task at once, then summarize.
fn offline_leader() -> ScriptedModel {
    ScriptedModel::call_every_tool_then_summarize(
        serde_json::json!({"task": "Run your task with a delay of 3s"}),
    )
}

/// A member's script: run its task with a delay of 3 (the result is its answer).
fn offline_member() -> ScriptedModel {
    ScriptedModel::new([Turn::call_every_tool(serde_json::json!({"delay": 3}))])
}
