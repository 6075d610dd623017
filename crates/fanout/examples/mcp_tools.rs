//! An agent using the tools of a real MCP server, `@modelcontextprotocol/server-everything`:
//! three 2-second operations in one turn run at once (about 2 s, not 6), with their progress.
//!
//! ```text
//! eval "$(.ci/install-mcp-servers)"     # or set FANOUT_MCP_SERVER to any stdio server command
//! cargo run --example mcp_tools --features mcp
//! ```
//!
//! The server is started with `node $FANOUT_MCP_EVERYTHING/dist/index.js stdio`, or with
//! `npx -y @modelcontextprotocol/server-everything` when that variable is not set. With
//! `OPENAI_API_KEY` set it talks to `gpt-5-mini` (any provider with `FANOUT_MODEL=provider:id`);
//! without a key, a scripted model makes the calls.

use std::time::{Duration, Instant};

use fanout::mcp::McpServer;
use fanout::models::from_env_or_scripted;
use fanout::models::scripted::{ScriptedModel, Turn};
use fanout::prelude::*;
use fanout::terminal::inert;
use futures::StreamExt;

#[tokio::main]
async fn main() -> fanout::Result<()> {
    let server = match std::env::var_os("FANOUT_MCP_EVERYTHING") {
        Some(dir) => {
            let script = std::path::Path::new(&dir).join("dist/index.js");
            McpServer::stdio("node", [script.into_os_string(), "stdio".into()])
        }
        None => McpServer::stdio("npx", ["-y", "@modelcontextprotocol/server-everything", "stdio"]),
    };
    let everything = server
        .name("everything")
        .include(["trigger-long-running-operation", "echo", "get-sum"])
        .connect()
        .await?;
    println!("tools: {:?}", everything.definitions().iter().map(|d| d.name.as_str()).collect::<Vec<_>>());

    let long = serde_json::json!({"duration": 2, "steps": 4});
    let offline = ScriptedModel::new([
        Turn::calls((0..3).map(|_| ("trigger-long-running-operation", long.clone()))),
        Turn::summarize_results(),
    ]);
    let agent = Agent::builder()
        .model(from_env_or_scripted("openai:gpt-5-mini", offline)?)
        .tools(everything)
        .tool_timeout(Duration::from_secs(30))
        .build()?;

    let started = Instant::now();
    let mut events = agent
        .run("Run three long operations of 2 seconds with 4 steps each, at once.")
        .stream()
        .map(|e| e.map(|e| e.kind));
    while let Some(event) = events.next().await {
        match event? {
            EventKind::ToolCallStarted { index, call, .. } => {
                println!("[{index}] started {}", inert(&call.name))
            }
            EventKind::ToolCallProgress { index, progress, total, .. } => {
                println!("[{index}] progress {progress}/{}", total.map_or("?".into(), |t| t.to_string()))
            }
            EventKind::ToolCallCompleted { index, execution, .. } => {
                println!(
                    "[{index}] done in {:.2}s: {}",
                    execution.duration.as_secs_f64(),
                    inert(&execution.content_for_model())
                )
            }
            EventKind::ContentDelta(text) => print!("{}", inert(&text)),
            EventKind::RunCompleted(_) => {
                println!("\n(the run took {:.2}s)", started.elapsed().as_secs_f64())
            }
            _ => {}
        }
    }
    Ok(())
}
