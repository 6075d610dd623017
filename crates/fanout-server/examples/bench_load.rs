//! The load of `bench/server/run.sh`: `RUNS` concurrent streamed runs against an AgentOS API
//! (fanout's or Agno's), each read to its last event. Prints one JSON line: runs, completed,
//! lost, wall time, runs per second, latency p50/p99 (request to `RunCompleted`) and the
//! server's peak RSS (`VmHWM` of `--pid`).
//!
//! ```text
//! bench_load URL AGENT RUNS SERVER_PID
//! ```

use std::time::{Duration, Instant};

use futures::StreamExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, agent, runs, pid] = args.as_slice() else {
        return Err("usage: bench_load URL AGENT RUNS SERVER_PID".into());
    };
    let runs: usize = runs.parse()?;
    let client =
        reqwest::Client::builder().pool_max_idle_per_host(runs).timeout(Duration::from_secs(300)).build()?;
    let endpoint = format!("{url}/agents/{agent}/runs");
    // Warm up: one run.
    let _ = one(&client, &endpoint, 0).await;
    let start = Instant::now();
    let tasks: Vec<_> = (0..runs)
        .map(|i| {
            let client = client.clone();
            let endpoint = endpoint.clone();
            tokio::spawn(async move { one(&client, &endpoint, i + 1).await })
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
        serde_json::json!({
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

/// One streamed run: the time from the request to its `RunCompleted` event.
async fn one(client: &reqwest::Client, endpoint: &str, i: usize) -> Result<Duration, String> {
    let start = Instant::now();
    let message = format!("Please run all tasks ({i})");
    let response = client
        .post(endpoint)
        .form(&[("message", message.as_str()), ("stream", "true")])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("status {}", response.status()));
    }
    let mut body = response.bytes_stream();
    let mut tail = String::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        tail.push_str(&String::from_utf8_lossy(&chunk));
        if tail.contains("event: RunCompleted") {
            return Ok(start.elapsed());
        }
        if tail.contains("event: RunError") {
            return Err(tail.chars().rev().take(300).collect::<String>().chars().rev().collect());
        }
        // Keep only the end: an event name may straddle chunks.
        if tail.len() > 4096 {
            tail = tail.split_off(tail.len() - 64);
        }
    }
    Err("the stream ended without RunCompleted".to_owned())
}
