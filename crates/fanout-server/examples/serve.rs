//! Serve the seed agent (the three tasks of `async_tools`) over HTTP with AgentOS's API.
//!
//! ```text
//! cargo run --example serve
//! ```
//!
//! It listens on `FANOUT_ADDR` (default `127.0.0.1:7777`; port 0 picks a free one) and prints
//! `listening on http://ADDR` as its first line. Open that address for the chat page, or point
//! Agno's client at it:
//!
//! ```python
//! from agno.client import AgentOSClient
//! client = AgentOSClient(base_url="http://127.0.0.1:7777")
//! run = await client.run_agent("seed", "Please run all tasks with a delay of 3s")
//! ```
//!
//! The model is chosen as in `async_tools`: `FANOUT_MODEL`, or `gpt-5-mini` with
//! `OPENAI_API_KEY` (and `OPENAI_BASE_URL`), or fanout's scripted model. `FANOUT_API_KEY`
//! requires that key as a bearer token on every API route.
//!
//! Sessions are kept in the database named by `DATABASE_URL`: by default the SQLite file
//! `fanout.db` in the working directory (`sqlite://PATH` names another), or PostgreSQL
//! (`postgres://…`), where several server processes on one database serve the same sessions:
//!
//! ```text
//! DATABASE_URL=postgres://fanout@db/fanout FANOUT_ADDR=0.0.0.0:7777 cargo run --example serve
//! ```

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use fanout::models::from_env_or_scripted;
use fanout::models::scripted::ScriptedModel;
use fanout::prelude::*;
use fanout_server::Server;

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
async fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let addr = std::env::var("FANOUT_ADDR").unwrap_or_else(|_| "127.0.0.1:7777".to_owned());
    let store = fanout_sql::connect_from_env().await?;
    let offline = ScriptedModel::call_every_tool_then_summarize(serde_json::json!({"delay": 3}));
    let agent = Agent::builder()
        .name("seed")
        .model(from_env_or_scripted("openai:gpt-5-mini", offline)?)
        .tools(tools![atask2, atask1, atask3])
        .markdown(true)
        .store(Arc::clone(&store))
        .build()?;
    let mut server = Server::builder()
        .agent_described("seed", "The seed example: three async tasks run at once", agent)
        .store(store)
        .name("fanout", "fanout's seed agent, served with AgentOS's API");
    if let Ok(key) = std::env::var("FANOUT_API_KEY") {
        server = server.api_key(key);
    }
    let server = server.build()?;
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on http://{}", listener.local_addr()?)?;
    stdout.flush()?;
    server.serve(listener).await?;
    Ok(ExitCode::SUCCESS)
}
