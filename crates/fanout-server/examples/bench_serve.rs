//! The fanout side of `bench/server/run.sh`: a seed-like agent (three async tools that sleep
//! `delay` ms) on OpenAI Chat Completions at `OPENAI_BASE_URL` (the loopback scripted server),
//! sessions in memory, served on `FANOUT_ADDR` (default `127.0.0.1:0`). Prints
//! `listening on http://ADDR` first.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use fanout::models::openai::OpenAIChat;
use fanout::prelude::*;
use fanout::store::MemoryStore;
use fanout_server::Server;

/// Simulate a task
///
/// # Arguments
/// * `delay` - Milliseconds to wait
#[tool]
async fn atask1(delay: u64) -> String {
    tokio::time::sleep(Duration::from_millis(delay)).await;
    format!("Task 1 completed in {delay}ms")
}

/// Simulate a task
///
/// # Arguments
/// * `delay` - Milliseconds to wait
#[tool]
async fn atask2(delay: u64) -> String {
    tokio::time::sleep(Duration::from_millis(delay)).await;
    format!("Task 2 completed in {delay}ms")
}

/// Simulate a task
///
/// # Arguments
/// * `delay` - Milliseconds to wait
#[tool]
async fn atask3(delay: u64) -> String {
    tokio::time::sleep(Duration::from_millis(delay)).await;
    format!("Task 3 completed in {delay}ms")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::var("FANOUT_ADDR").unwrap_or_else(|_| "127.0.0.1:0".to_owned());
    let store = Arc::new(MemoryStore::new());
    let agent = Agent::builder()
        .name("seed")
        .model(OpenAIChat::new("gpt-5-mini"))
        .tools(tools![atask2, atask1, atask3])
        .store(Arc::clone(&store))
        .build()?;
    let server = Server::builder().agent("seed", agent).store(store).build()?;
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on http://{}", listener.local_addr()?)?;
    stdout.flush()?;
    server.serve(listener).await?;
    Ok(())
}
