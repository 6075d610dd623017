//! `fanout-testserver`: the scripted OpenAI-compatible server as a process, for benchmarks that
//! compare frameworks against the same server. It calls every tool an agent offers with the given
//! arguments, then summarizes the results; it runs until killed.

use std::io::Write;
use std::time::Duration;

use clap::Parser;
use fanout_testserver::{Script, Server, Shape};

#[derive(Parser, Debug)]
#[command(about = "A scripted OpenAI-compatible Chat Completions server on 127.0.0.1")]
struct Args {
    /// Port to listen on (0: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Arguments of every tool call, as JSON.
    #[arg(long, default_value = r#"{"delay":3}"#)]
    tool_args: String,
    /// Call tool NAME with these arguments instead: `NAME=JSON`, where JSON is an object (one
    /// call) or an array of objects (one call each). Repeatable.
    #[arg(long = "calls-for", value_name = "NAME=JSON")]
    calls_for: Vec<String>,
    /// Characters per streamed text token (0: one chunk).
    #[arg(long, default_value_t = 8)]
    token_chars: usize,
    /// Characters per streamed argument fragment (0: one fragment).
    #[arg(long, default_value_t = 0)]
    fragment_chars: usize,
    /// Delay before each streamed text token, in milliseconds.
    #[arg(long, default_value_t = 0)]
    token_delay_ms: u64,
    /// Delay before each argument fragment, in milliseconds (a slowly streaming model).
    #[arg(long, default_value_t = 0)]
    fragment_delay_ms: u64,
    /// Write one JSON line per request here when the server stops (SIGTERM/Ctrl-C) or every
    /// request: `{"ms": arrival since start, "messages": n, "last_role": ".."}`.
    #[arg(long)]
    log: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let shape = Shape {
        token_chars: args.token_chars,
        fragment_chars: args.fragment_chars,
        chunk_delay: Duration::from_millis(args.token_delay_ms),
        fragment_delay: Duration::from_millis(args.fragment_delay_ms),
        ..Shape::default()
    };
    let mut per_tool = Vec::new();
    for spec in &args.calls_for {
        let (name, json) =
            spec.split_once('=').ok_or_else(|| invalid(format!("--calls-for {spec}: expected NAME=JSON")))?;
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| invalid(format!("--calls-for {name}: {e}")))?;
        let calls = match value {
            serde_json::Value::Array(calls) => calls.iter().map(|c| c.to_string()).collect(),
            one => vec![one.to_string()],
        };
        per_tool.push((name.to_owned(), calls));
    }
    let script = Script::CallAllTools { arguments: args.tool_args, per_tool, shape };
    let server = Server::bind(script, args.port).await?;
    let start = tokio::time::Instant::now();
    println!("listening on {}", server.url());
    std::io::stdout().flush()?;
    let mut written = 0;
    loop {
        tokio::select! {
            () = server.wait_for_requests(written + 1) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
        // Only the log lines are made under the lock; the file is written after it is released.
        let (lines, count) = server.with_requests(|requests| {
            let lines: Vec<String> = requests[written..]
                .iter()
                .map(|r| {
                    let messages = r.body["messages"].as_array().map_or(0, Vec::len);
                    let last_role =
                        r.body["messages"][messages.saturating_sub(1)]["role"].as_str().unwrap_or("");
                    let ms = r.at.duration_since(start).as_secs_f64() * 1000.0;
                    format!(r#"{{"ms": {ms:.3}, "messages": {messages}, "last_role": "{last_role}"}}"#)
                })
                .collect();
            (lines, requests.len())
        });
        written = count;
        if let Some(path) = &args.log {
            let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
            for line in lines {
                writeln!(file, "{line}")?;
            }
        }
    }
}

fn invalid(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, message)
}
