//! Plain (blocking) functions as tools, run through the blocking API from a plain `fn main`.
//! The three calls still run at the same time, each on a thread of its own — Agno's
//! synchronous `print_response` would run them one after another.
//!
//! ```text
//! cargo run --example sync_tools
//! ```

use std::process::ExitCode;
use std::time::Duration;

use fanout::models::from_env_or_scripted;
use fanout::models::scripted::ScriptedModel;
use fanout::prelude::*;

/// Simulate a task that takes a random amount of time to complete
///
/// # Arguments
/// * `delay` - The amount of time to delay the task
#[tool]
fn task1(delay: u64) -> String {
    info!("Task 1 has started");
    for _ in 0..delay {
        std::thread::sleep(Duration::from_secs(1));
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
fn task2(delay: u64) -> String {
    info!("Task 2 has started");
    for _ in 0..delay {
        std::thread::sleep(Duration::from_secs(1));
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
fn task3(delay: u64) -> String {
    info!("Task 3 has started");
    for _ in 0..delay {
        std::thread::sleep(Duration::from_secs(1));
        info!("Task 3 has slept for 1s");
    }
    info!("Task 3 has completed");
    format!("Task 3 completed in {:.2}s", delay as f64)
}

fn main() -> fanout::Result<ExitCode> {
    let agent = Agent::builder()
        .model(from_env_or_scripted("openai:gpt-5-mini", offline_model())?)
        .tools(tools![task2, task1, task3])
        .markdown(true)
        .build()?;
    // The run reports its own failure, once; main only sets the exit status (130 after Ctrl-C).
    let printed = agent.print_response("Please run all tasks with a delay of 3s").stream(true).blocking();
    Ok(fanout::print::exit_code(&printed))
}

/// Without an API key: a scripted model that calls every tool with a delay of 3, then summarizes.
fn offline_model() -> ScriptedModel {
    ScriptedModel::call_every_tool_then_summarize(serde_json::json!({"delay": 3}))
}
