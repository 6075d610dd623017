//! fanout's side of the cross-framework comparison. Talks to the scripted server through
//! OPENAI_BASE_URL like any OpenAI-compatible endpoint.
//!
//! Usage: fanout-bench <seed | fanout N DELAY | sync64 | sync16_blocking | instantiate | throughput K | runs K
//!                      | team | team_blocking>

use std::sync::Arc;
use std::time::Duration;

use fanout::models::openai::OpenAIChat;
use fanout::prelude::*;
use fanout::tool::FunctionTool;

#[path = "../../shared/measure.rs"]
mod measure;

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
            let output = agent(tools)?.run(prompt).blocking()?;
            assert_eq!(output.tool_executions.len(), n);
            println!("{} calls", output.tool_executions.len());
        }
        "sync64" => {
            let tools =
                (0..64).map(|i| Arc::new(blocking_sleeper(format!("t{i}"))) as Arc<dyn Tool>).collect();
            let agent = agent(tools)?;
            let runtime = tokio::runtime::Runtime::new()?;
            let output = runtime.block_on(agent.run(prompt).into_future())?;
            println!("{} calls", output.tool_executions.len());
        }
        "sync16_blocking" => {
            let tools =
                (0..16).map(|i| Arc::new(blocking_sleeper(format!("t{i}"))) as Arc<dyn Tool>).collect();
            let output = agent(tools)?.run(prompt).blocking()?;
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
                .eager_start(eager)
                .build()?;
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(async {
                use futures::StreamExt as _;
                let mut events = Box::pin(agent.run(prompt).stream().map(|e| e.map(|e| e.kind)));
                while let Some(event) = events.next().await {
                    event?;
                }
                Ok::<_, fanout::Error>(())
            })?;
        }
        "instantiate" => {
            let model = OpenAIChat::new("gpt-5-mini");
            measure::instantiation(100_000, || {
                let agent = Agent::builder().model(model.clone()).tool(atask1).build().expect("agent builds");
                std::hint::black_box(&agent);
            });
        }
        "throughput" => {
            let k: usize = arg(1, "500").parse().unwrap_or(500);
            let runtime = tokio::runtime::Runtime::new()?;
            let agent = agent(tools![atask1, atask2, atask3])?;
            runtime.block_on(measure::throughput(k, || {
                let agent = agent.clone();
                async move { agent.run(prompt).await }
            }));
        }
        "runs" => {
            // K concurrent runs of one agent: scripted model, one batch of 3 calls of 10 ms.
            use fanout::models::scripted::{ScriptedModel, Turn};
            let k: usize = arg(1, "10000").parse().unwrap_or(10_000);
            let model = ScriptedModel::new([
                Turn::call_every_tool(serde_json::json!({"delay": 0.01})),
                Turn::summarize_results(),
            ]);
            let tools: Vec<Arc<dyn Tool>> =
                (1..=3).map(|i| Arc::new(sleeper(format!("atask{i}"))) as Arc<dyn Tool>).collect();
            let agent = Agent::builder().model(model).tools(tools).build()?;
            let runtime = tokio::runtime::Runtime::new()?;
            let started = std::time::Instant::now();
            // All runs at once; each output is checked and dropped as it arrives, as a server would.
            let done = runtime.block_on(async {
                use futures::StreamExt as _;
                futures::stream::iter(0..k)
                    .map(|_| {
                        let agent = agent.clone();
                        async move { agent.run(prompt).await }
                    })
                    .buffer_unordered(k)
                    .filter(|o| std::future::ready(o.as_ref().is_ok_and(|o| o.tool_executions.len() == 3)))
                    .count()
                    .await
            });
            let peak = std::fs::read_to_string("/proc/self/status")
                .ok()
                .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM")).map(str::to_owned))
                .unwrap_or_default();
            println!("{done} of {k} runs in {:.3}s; {peak}", started.elapsed().as_secs_f64());
        }
        "team" | "team_blocking" => {
            // A leader and three members with three 1 s tools each — async tools, or plain
            // functions through the blocking API (as Agno's `run()` needs them); the server's
            // leader turn hands every member its task at once (`--calls-for worker-N={"task": ..}`).
            let blocking = arg(0, "") == "team_blocking";
            let member = |i: usize| {
                let tool = |j: usize| -> Arc<dyn Tool> {
                    match blocking {
                        true => Arc::new(blocking_sleeper(format!("t{j}"))),
                        false => Arc::new(sleeper(format!("t{j}"))),
                    }
                };
                let tools: Vec<Arc<dyn Tool>> = (0..3).map(tool).collect();
                Agent::builder()
                    .name(format!("worker-{i}"))
                    .description("Runs its three tasks")
                    .model(OpenAIChat::new("gpt-5-mini"))
                    .tools(tools)
                    .max_turns(5)
                    .build()
            };
            let members = (1..=3).map(member).collect::<fanout::Result<Vec<Agent>>>()?;
            let leader = Agent::builder().name("lead").model(OpenAIChat::new("gpt-5-mini")).max_turns(5);
            let team = Team::new(leader).members(members).build()?;
            let output = if blocking {
                team.run(prompt).blocking()?
            } else {
                tokio::runtime::Runtime::new()?.block_on(team.run(prompt).into_future())?
            };
            let tools: usize = output.tool_executions.iter().map(|e| e.result.as_deref().map_or(0, |r| r.matches("completed").count())).sum();
            assert_eq!(output.metrics.members.len(), 3, "every member ran");
            println!("{} members, {tools} tool results", output.metrics.members.len());
        }
        other => eprintln!("unknown scenario {other}"),
    }
    Ok(())
}
