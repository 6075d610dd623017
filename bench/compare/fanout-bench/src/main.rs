//! fanout's side of the cross-framework comparison. Talks to the scripted server through
//! OPENAI_BASE_URL like any OpenAI-compatible endpoint.
//!
//! Usage: fanout-bench <seed | fanout N DELAY | sync64 | sync16_blocking | instantiate | throughput K>

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fanout::models::openai::OpenAIChat;
use fanout::prelude::*;
use fanout::tool::FunctionTool;

/// Counts heap bytes, for the instantiation scenario.
struct Counting;
static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Delay {
    /// Seconds to wait
    delay: f64,
}

fn sleeper(name: String) -> FunctionTool<Delay> {
    FunctionTool::new(name, "Simulate a task that takes some time", |a: Delay| async move {
        tokio::time::sleep(Duration::from_secs_f64(a.delay)).await;
        Ok(format!("completed in {:.2}s", a.delay))
    })
}

fn blocking_sleeper(name: String) -> FunctionTool<Delay> {
    FunctionTool::blocking(name, "Simulate a blocking task", |a: Delay| {
        std::thread::sleep(Duration::from_secs_f64(a.delay));
        Ok(format!("completed in {:.2}s", a.delay))
    })
}

/// Simulate a task that takes a random amount of time to complete
///
/// # Arguments
/// * `delay` - The amount of time to delay the task
#[tool]
async fn atask1(delay: u64) -> String {
    info!("Task 1 has started");
    tokio::time::sleep(Duration::from_secs(delay)).await;
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
    tokio::time::sleep(Duration::from_secs(delay)).await;
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
    tokio::time::sleep(Duration::from_secs(delay)).await;
    info!("Task 3 has completed");
    format!("Task 3 completed in {:.2}s", delay as f64)
}

fn agent(tools: Vec<Arc<dyn Tool>>) -> fanout::Result<Agent> {
    Agent::builder().model(OpenAIChat::new("gpt-5-mini")).tools(tools).max_turns(5).build()
}

fn main() -> fanout::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_owned());
    let prompt = "Please run all tasks";
    match arg(0, "seed").as_str() {
        "seed" => {
            let agent = Agent::builder()
                .model(OpenAIChat::new("gpt-5-mini"))
                .tools(tools![atask2, atask1, atask3])
                .markdown(true)
                .build()?;
            agent.print_response("Please run all tasks with a delay of 3s").stream(true).blocking()?;
        }
        "fanout" => {
            let n: usize = arg(1, "1000").parse().unwrap_or(1000);
            let tools = (0..n).map(|i| Arc::new(sleeper(format!("t{i}"))) as Arc<dyn Tool>).collect();
            let output = agent(tools)?.run_blocking(prompt)?;
            assert_eq!(output.tool_executions.len(), n);
            println!("{} calls", output.tool_executions.len());
        }
        "sync64" => {
            let tools =
                (0..64).map(|i| Arc::new(blocking_sleeper(format!("t{i}"))) as Arc<dyn Tool>).collect();
            let agent = agent(tools)?;
            let runtime = tokio::runtime::Runtime::new()?;
            let output = runtime.block_on(agent.run(prompt))?;
            println!("{} calls", output.tool_executions.len());
        }
        "sync16_blocking" => {
            let tools =
                (0..16).map(|i| Arc::new(blocking_sleeper(format!("t{i}"))) as Arc<dyn Tool>).collect();
            let output = agent(tools)?.run_blocking(prompt)?;
            println!("{} calls", output.tool_executions.len());
        }
        "eager" => {
            // Three 1 s tools; the server streams each call's arguments slowly.
            let eager = arg(1, "on") == "on";
            let tools: Vec<Arc<dyn Tool>> =
                (0..3).map(|i| Arc::new(sleeper(format!("t{i}"))) as Arc<dyn Tool>).collect();
            let agent = Agent::builder()
                .model(OpenAIChat::new("gpt-5-mini"))
                .tools(tools)
                .eager_tool_start(eager)
                .build()?;
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(async {
                use futures::StreamExt as _;
                let mut events = Box::pin(agent.run_stream(prompt));
                while let Some(event) = events.next().await {
                    event?;
                }
                Ok::<_, fanout::Error>(())
            })?;
        }
        "instantiate" => {
            let model = OpenAIChat::new("gpt-5-mini");
            let n = 100_000;
            let before = ALLOCATED.load(Ordering::Relaxed);
            let start = Instant::now();
            for _ in 0..n {
                let agent = Agent::builder().model(model.clone()).tool(atask1).build()?;
                std::hint::black_box(&agent);
            }
            let elapsed = start.elapsed();
            let bytes = ALLOCATED.load(Ordering::Relaxed) - before;
            println!(
                "{{\"us_per_agent\": {:.3}, \"bytes_per_agent\": {}}}",
                elapsed.as_secs_f64() * 1e6 / n as f64,
                bytes / n
            );
        }
        "throughput" => {
            let k: usize = arg(1, "500").parse().unwrap_or(500);
            let runtime = tokio::runtime::Runtime::new()?;
            let agent = agent(tools![atask1, atask2, atask3])?;
            let latencies = runtime.block_on(async {
                let start = Instant::now();
                let runs = (0..k).map(|_| {
                    let agent = agent.clone();
                    tokio::spawn(async move {
                        let t = Instant::now();
                        agent.run(prompt).await.map(|_| t.elapsed())
                    })
                });
                let mut latencies = Vec::new();
                for run in runs.collect::<Vec<_>>() {
                    if let Ok(Ok(latency)) = run.await {
                        latencies.push(latency);
                    }
                }
                (latencies, start.elapsed())
            });
            let (mut lat, total) = latencies;
            lat.sort();
            let pct = |p: f64| {
                lat.get(((lat.len() as f64 - 1.0) * p) as usize).map_or(0.0, |d| d.as_secs_f64() * 1e3)
            };
            println!(
                "{{\"runs\": {}, \"ok\": {}, \"runs_per_s\": {:.1}, \"p50_ms\": {:.2}, \"p99_ms\": {:.2}}}",
                k,
                lat.len(),
                lat.len() as f64 / total.as_secs_f64(),
                pct(0.5),
                pct(0.99)
            );
        }
        other => eprintln!("unknown scenario {other}"),
    }
    Ok(())
}
