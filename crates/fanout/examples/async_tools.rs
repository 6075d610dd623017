//! The seed example: three async tools that the model calls at once; they run concurrently.
//!
//! ```text
//! cargo run --example async_tools
//! ```
//!
//! With `OPENAI_API_KEY` set (and optionally `OPENAI_BASE_URL` for any OpenAI-compatible server)
//! it talks to `gpt-5-mini`; `FANOUT_MODEL=provider:model` picks any other provider
//! (`groq:llama-3.3-70b-versatile`, `ollama:qwen3` …); without a key it runs on fanout's
//! built-in scripted model and says so.
//!
//! To see the concurrency in a trace viewer (Jaeger, an OpenTelemetry Collector, …):
//!
//! ```text
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 cargo run --example async_tools --features otel
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
    let agent = Agent::builder()
        .model(from_env_or_scripted("openai:gpt-5-mini", offline_model())?)
        .tools(tools![atask2, atask1, atask3])
        .markdown(true)
        .build()?;
    // The run reports its own failure, once; main only sets the exit status (130 after Ctrl-C).
    let printed = agent.print_response("Please run all tasks with a delay of 3s").stream(true).await;
    Ok(fanout::print::exit_code(&printed))
}

/// Without an API key: a scripted model that calls every tool with a delay of 3, then summarizes.
fn offline_model() -> ScriptedModel {
    ScriptedModel::call_every_tool_then_summarize(serde_json::json!({"delay": 3}))
}
