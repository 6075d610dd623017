//! An interactive chat with the seed's agent that remembers, like Agno's `agent.cli_app()`.
//!
//! ```text
//! cargo run --example chat                      # a new session; its id is printed
//! cargo run --example chat -- --session ID      # continue that conversation, across restarts
//!                                               # (and resume its run if the process died in it)
//! printf 'hello\nrun all tasks\n' | cargo run --example chat   # one message per line until EOF
//! ```
//!
//! The conversation is kept in the database named by `DATABASE_URL` (`sqlite://PATH` or
//! `postgres://…`), by default the SQLite file `fanout.db` in the working directory. The model
//! is chosen as in `async_tools`: `OPENAI_API_KEY` (and `OPENAI_BASE_URL`), `FANOUT_MODEL`, or
//! fanout's scripted model, which says so.

use std::io::{BufRead, Write};
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
    tokio::time::sleep(Duration::from_secs(delay)).await;
    format!("Task 1 completed in {:.2}s", delay as f64)
}

/// Simulate a task that takes a random amount of time to complete
///
/// # Arguments
/// * `delay` - The amount of time to delay the task
#[tool]
async fn atask2(delay: u64) -> String {
    tokio::time::sleep(Duration::from_secs(delay)).await;
    format!("Task 2 completed in {:.2}s", delay as f64)
}

/// Simulate a task that takes a random amount of time to complete
///
/// # Arguments
/// * `delay` - The amount of time to delay the task
#[tool]
async fn atask3(delay: u64) -> String {
    tokio::time::sleep(Duration::from_secs(delay)).await;
    format!("Task 3 completed in {:.2}s", delay as f64)
}

/// `--session ID`, if given.
fn session_arg() -> Result<Option<String>> {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next()) {
        (None, _) => Ok(None),
        (Some("--session"), Some(id)) if !id.trim().is_empty() => Ok(Some(id)),
        _ => Err(fanout::Error::config("usage: chat [--session ID]")),
    }
}

#[tokio::main]
async fn main() -> Result<ExitCode> {
    let session = session_arg()?;
    let store = fanout_sql::connect_from_env().await?;
    let agent = Agent::builder()
        .name("seed")
        .model(from_env_or_scripted("openai:gpt-5-mini", offline_model())?)
        .tools(tools![atask2, atask1, atask3])
        .markdown(true)
        .store(store.clone())
        // A chat killed mid-run is offered for resuming soon after: its lease lapses in 5 s.
        .run_lease(Duration::from_secs(5))
        .build()?;

    let session = match session {
        Some(id) => {
            let earlier = store.runs(&id).await?;
            let messages: usize = earlier.iter().map(|run| run.messages.len()).sum();
            println!("Continuing session {id}: {} earlier runs, {messages} messages.", earlier.len());
            offer_to_resume(&agent, &store, &id).await?;
            id
        }
        None => {
            let id = fanout::store::new_session_id();
            println!("New session {id} (continue it with: cargo run --example chat -- --session {id})");
            id
        }
    };

    let stdin = std::io::stdin();
    let mut status = ExitCode::SUCCESS;
    loop {
        print!("> ");
        std::io::stdout().flush()?;
        let mut line = String::new();
        if stdin.lock().read_line(&mut line)? == 0 {
            println!();
            break;
        }
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if matches!(line, "exit" | "quit" | "bye") {
            break;
        }
        let printed = agent.run(line).session(&session).print().stream(true).await;
        if let Err(err) = &printed {
            if err.is_cancelled() {
                return Ok(fanout::print::exit_code(&printed));
            }
            // The error was shown; the conversation goes on with the next line.
            status = fanout::print::exit_code(&printed);
        }
    }
    Ok(status)
}

/// A run of the session whose process died (killed, crashed) in it is interrupted: offer to
/// resume it. Its finished tool calls are restored, not run again; the rest run, then the model
/// answers.
async fn offer_to_resume(
    agent: &Agent,
    store: &std::sync::Arc<dyn fanout::store::SessionStore>,
    session: &str,
) -> Result<()> {
    for run_id in store.interrupted_runs(session).await? {
        let input = store.run(&run_id).await?.and_then(|run| match run.messages.first() {
            Some(fanout::models::Message::User { content }) => Some(content.clone()),
            _ => None,
        });
        print!(
            "Run {run_id} ({:?}) was interrupted: its process stopped. Resume it? [Y/n] ",
            input.unwrap_or_default()
        );
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if matches!(answer.trim(), "" | "y" | "Y" | "yes") {
            // Shown like any run (an error was shown, and the chat goes on).
            let _ = agent.resume(&run_id).print().stream(true).await;
        }
    }
    Ok(())
}

fn offline_model() -> ScriptedModel {
    ScriptedModel::call_every_tool_then_summarize(serde_json::json!({"delay": 1}))
}
