//! The load of `bench/server/run.sh`: `RUNS` concurrent streamed runs against one server
//! (fanout's or Agno's AgentOS) in one protocol, each read to its last event. Prints one JSON
//! line: protocol, runs, completed, lost, wall time, runs per second, latency p50/p99 (request to
//! the run's end event) and the server's peak RSS (`VmHWM` of `SERVER_PID`).
//!
//! ```text
//! bench_load URL AGENT RUNS SERVER_PID [agentos|agui|a2a]
//! ```
//!
//! The protocol (default `agentos`) decides the request and the end event ([`Protocol`]).

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};

/// What a run is asked and read in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    /// AgentOS: `POST /agents/{AGENT}/runs` (form, `stream=true`), read to `event: RunCompleted`;
    /// `event: RunError` is a lost run.
    AgentOs,
    /// AG-UI: `POST /agui` (the server's AG-UI agent; `AGENT` is not used) with a
    /// `RunAgentInput` (new thread and run ids), read to the `RUN_FINISHED` event; `RUN_ERROR`,
    /// or `RUN_FINISHED` whose outcome is not a success (`interrupt`, `cancelled`), is a lost run.
    AgUi,
    /// A2A 0.3 JSON-RPC `message/stream` at `POST /a2a/agents/{AGENT}/v1/message:stream` (the
    /// path and method Agno's A2A interface and fanout's 0.3 binding both answer), read to the
    /// status update with `final: true`; a final state other than `completed`, or a JSON-RPC
    /// error, is a lost run.
    A2a,
}

impl Protocol {
    /// The protocol named on the command line.
    fn parse(name: &str) -> Result<Self, String> {
        match name {
            "agentos" => Ok(Self::AgentOs),
            "agui" => Ok(Self::AgUi),
            "a2a" => Ok(Self::A2a),
            other => Err(format!("unknown protocol {other:?} (agentos, agui or a2a)")),
        }
    }

    /// The name printed in the result line.
    fn name(self) -> &'static str {
        match self {
            Self::AgentOs => "agentos",
            Self::AgUi => "agui",
            Self::A2a => "a2a",
        }
    }

    /// Run `i`'s request.
    fn request(self, client: &reqwest::Client, url: &str, agent: &str, i: usize) -> reqwest::RequestBuilder {
        let text = format!("Please run all tasks ({i})");
        let new_id = || uuid::Uuid::new_v4().to_string();
        match self {
            Self::AgentOs => client
                .post(format!("{url}/agents/{agent}/runs"))
                .form(&[("message", text.as_str()), ("stream", "true")]),
            Self::AgUi => {
                client.post(format!("{url}/agui")).header("accept", "text/event-stream").json(&json!({
                    "threadId": new_id(),
                    "runId": new_id(),
                    "messages": [{"id": new_id(), "role": "user", "content": text}],
                    "state": {},
                    "tools": [],
                    "context": [],
                    "forwardedProps": {},
                }))
            }
            Self::A2a => client
                .post(format!("{url}/a2a/agents/{agent}/v1/message:stream"))
                .header("accept", "text/event-stream")
                .json(&json!({
                    "jsonrpc": "2.0",
                    "id": i,
                    "method": "message/stream",
                    "params": {"message": {
                        "kind": "message",
                        "messageId": new_id(),
                        "role": "user",
                        "parts": [{"kind": "text", "text": text}],
                    }},
                })),
        }
    }

    /// What one Server-Sent Event (its `event:` name and `data:`) says of the run: `None` while
    /// it goes on, `Some(Ok(()))` at its successful end, `Some(Err(_))` when it is lost.
    fn judge(self, event: &str, data: &str) -> Option<Result<(), String>> {
        let short = || data.chars().take(300).collect::<String>();
        match self {
            Self::AgentOs => match event {
                "RunCompleted" => Some(Ok(())),
                "RunError" => Some(Err(short())),
                _ => None,
            },
            Self::AgUi => {
                let data: Value = serde_json::from_str(data).ok()?;
                match data["type"].as_str()? {
                    "RUN_FINISHED" => match data.pointer("/outcome/type").and_then(Value::as_str) {
                        None | Some("success") => Some(Ok(())),
                        Some(_) => Some(Err(short())),
                    },
                    "RUN_ERROR" => Some(Err(short())),
                    _ => None,
                }
            }
            Self::A2a => {
                let data: Value = serde_json::from_str(data).ok()?;
                if data.get("error").is_some() {
                    return Some(Err(short()));
                }
                let result = data.get("result")?;
                if result["final"] != json!(true) {
                    return None;
                }
                match result.pointer("/status/state").and_then(Value::as_str) {
                    Some("completed") => Some(Ok(())),
                    _ => Some(Err(short())),
                }
            }
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (url, agent, runs, pid, protocol) = match args.as_slice() {
        [_, url, agent, runs, pid] => (url, agent, runs, pid, Protocol::AgentOs),
        [_, url, agent, runs, pid, protocol] => (url, agent, runs, pid, Protocol::parse(protocol)?),
        _ => return Err("usage: bench_load URL AGENT RUNS SERVER_PID [agentos|agui|a2a]".into()),
    };
    let runs: usize = runs.parse()?;
    let client =
        reqwest::Client::builder().pool_max_idle_per_host(runs).timeout(Duration::from_secs(300)).build()?;
    // Warm up: one run.
    let _ = one(protocol, protocol.request(&client, url, agent, 0)).await;
    let start = Instant::now();
    let tasks: Vec<_> = (0..runs)
        .map(|i| {
            let request = protocol.request(&client, url, agent, i + 1);
            tokio::spawn(one(protocol, request))
        })
        .collect();
    let mut latencies = Vec::with_capacity(runs);
    let mut errors = Vec::new();
    for task in tasks {
        match task.await? {
            Ok(latency) => latencies.push(latency),
            Err(err) => errors.push(err),
        }
    }
    let wall = start.elapsed();
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    };
    let peak_kib = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0);
    println!(
        "{}",
        json!({
            "protocol": protocol.name(),
            "runs": runs,
            "completed": latencies.len(),
            "lost": runs - latencies.len(),
            "wall_s": wall.as_secs_f64(),
            "runs_per_s": latencies.len() as f64 / wall.as_secs_f64(),
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "peak_rss_mib": peak_kib as f64 / 1024.0,
            "first_errors": errors.iter().take(3).collect::<Vec<_>>(),
        })
    );
    Ok(())
}

/// One streamed run: the time from the request to its end event ([`Protocol::judge`]), reading
/// the body as Server-Sent Events (blocks split by a blank line).
async fn one(protocol: Protocol, request: reqwest::RequestBuilder) -> Result<Duration, String> {
    let start = Instant::now();
    let response = request.send().await.map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        return Err(format!("status {status}: {}", body.chars().take(300).collect::<String>()));
    }
    let mut body = response.bytes_stream();
    let mut pending: Vec<u8> = Vec::new();
    while let Some(chunk) = body.next().await {
        pending.extend_from_slice(&chunk.map_err(|e| e.to_string())?);
        while let Some((block, rest)) = split_block(&pending) {
            let (event, data) = parse_block(&String::from_utf8_lossy(block));
            if let Some(end) = protocol.judge(&event, &data) {
                return end.map(|()| start.elapsed());
            }
            pending.drain(..rest);
        }
    }
    Err(format!("the {} stream ended without its end event", protocol.name()))
}

/// The first complete event block of `buf` and where the next one starts, if there is one.
fn split_block(buf: &[u8]) -> Option<(&[u8], usize)> {
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|at| (at, at + 2));
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|at| (at, at + 4));
    let (end, next) = match (lf, crlf) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b)?,
    };
    Some((&buf[..end], next))
}

/// An event block's `event:` name (empty when none) and its `data:` lines joined by newlines.
fn parse_block(block: &str) -> (String, String) {
    let mut event = String::new();
    let mut data = Vec::new();
    for line in block.lines() {
        if let Some(name) = line.strip_prefix("event:") {
            event = name.trim().to_owned();
        } else if let Some(value) = line.strip_prefix("data:") {
            data.push(value.strip_prefix(' ').unwrap_or(value));
        }
    }
    (event, data.join("\n"))
}
