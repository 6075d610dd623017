//! Consume a run as a stream of `RunEvent`s: build your own UI, logging or metrics on top.
//!
//! ```text
//! cargo run --example stream_events
//! ```

use std::time::Duration;

use fanout::models::from_env_or_scripted;
use fanout::models::scripted::{ScriptedModel, Turn};
use fanout::prelude::*;
use fanout::terminal::inert;
use futures::StreamExt;

/// Fetch a value from a slow service
///
/// # Arguments
/// * `key` - Which value to fetch
/// * `millis` - How long the service takes, in milliseconds
#[tool]
async fn fetch(key: String, millis: u64) -> String {
    tokio::time::sleep(Duration::from_millis(millis)).await;
    format!("value of {key}")
}

#[tokio::main]
async fn main() -> fanout::Result<()> {
    let agent = Agent::builder()
        .model(from_env_or_scripted("openai:gpt-5-mini", offline_model())?)
        .tool(fetch)
        .build()?;
    let mut events =
        agent.run("Fetch the value of `alpha`, taking 500 ms").stream().map(|e| e.map(|e| e.kind));
    while let Some(event) = events.next().await {
        match event? {
            EventKind::RunStarted { model, .. } => println!("run started on {model}"),
            // Model text is untrusted: `inert` shows control characters instead of obeying them.
            EventKind::ContentDelta(text) => print!("{}", inert(&text)),
            EventKind::ToolCallStarted { call, at, .. } => {
                println!(
                    "[{:>6.3}s] started   {}({})",
                    at.as_secs_f64(),
                    inert(&call.name),
                    inert(&call.arguments)
                )
            }
            EventKind::ToolCallCompleted { execution, .. } => println!(
                "          completed {} in {:.3}s: {}",
                execution.call.name,
                execution.duration.as_secs_f64(),
                inert(&execution.content_for_model())
            ),
            EventKind::ModelTurnCompleted { turn, usage, duration, .. } => {
                println!("model turn {turn} took {:.3}s, usage {usage:?}", duration.as_secs_f64())
            }
            EventKind::RunCompleted(output) => {
                println!(
                    "\nrun completed in {:.3}s: {:?}",
                    output.metrics.duration.as_secs_f64(),
                    output.status
                )
            }
            _ => {}
        }
    }
    Ok(())
}

/// Without an API key: a scripted model that makes the call, then answers from its result.
fn offline_model() -> ScriptedModel {
    ScriptedModel::new([
        Turn::call("fetch", serde_json::json!({"key": "alpha", "millis": 500})),
        Turn::summarize_results(),
    ])
}
