//! Rig's side of the cross-framework comparison (rig-core / rig-agent 0.44.0), against the same
//! scripted OpenAI-compatible server as fanout and Agno (OPENAI_BASE_URL, Chat Completions wire).
//!
//! Usage: rig-bench <seed | fanout N | sync64 | sync16_blocking | instantiate | throughput K | team | team_stock>
//!
//! Written the way a Rig user would: typed tools for the seed, `DynamicTool`s where the tool
//! count is a runtime value, and `tool_concurrency(n)` on every run because Rig runs tool calls
//! one at a time by default. Rig has no plain-function tools and no blocking API, so the sync
//! scenarios wrap `std::thread::sleep` in `spawn_blocking` and drive the run with `block_on`.

use std::time::Duration;

use rig_agent::agent::stream_to_stdout;
use rig_agent::{Agent, AgentBuilder};
use rig_core::message::{Message, ToolName, UserContent};
use rig_core::providers::openai::OpenAI;
use rig_core::tool::PortableTool;
use rig_core::tool::{DynamicTool, ToolErrorKind, ToolExecutionError, ToolOutput};
use serde::Deserialize;
use serde_json::json;

#[path = "../../shared/measure.rs"]
mod measure;

const PROMPT: &str = "Please run all tasks";

#[derive(Deserialize)]
struct TaskArgs {
    delay: u64,
}

/// The seed's three tools, as typed Rig tools.
macro_rules! seed_task {
    ($ty:ident, $name:literal, $n:literal) => {
        #[derive(Clone)]
        struct $ty;

        impl PortableTool for $ty {
            const NAME: &'static str = $name;
            type Args = TaskArgs;
            type Output = String;
            type Error = ToolExecutionError;

            fn description(&self) -> String {
                "Simulate a task that takes a random amount of time to complete".to_owned()
            }

            fn parameters(&self) -> serde_json::Value {
                json!({
                    "type": "object",
                    "properties": {"delay": {"type": "integer", "description": "The amount of time to delay the task"}},
                    "required": ["delay"]
                })
            }

            async fn call(&self, args: TaskArgs) -> Result<String, ToolExecutionError> {
                tracing::info!(concat!("Task ", $n, " has started"));
                tokio::time::sleep(Duration::from_secs(args.delay)).await;
                tracing::info!(concat!("Task ", $n, " has completed"));
                Ok(format!(concat!("Task ", $n, " completed in {:.2}s"), args.delay as f64))
            }
        }
    };
}

seed_task!(Atask1, "atask1", "1");
seed_task!(Atask2, "atask2", "2");
seed_task!(Atask3, "atask3", "3");

fn delay_schema() -> serde_json::Value {
    json!({
        "type": "object",
        "properties": {"delay": {"type": "number", "description": "Seconds to wait"}},
        "required": ["delay"]
    })
}

fn delay_of(args: &serde_json::Value) -> f64 {
    args.get("delay").and_then(serde_json::Value::as_f64).unwrap_or(0.0)
}

fn tool_name(name: String) -> ToolName {
    ToolName::new(name).expect("bench tool names are valid")
}

fn sleeper(i: usize) -> DynamicTool {
    DynamicTool::new(
        tool_name(format!("t{i}")),
        "Simulate a task that takes some time",
        delay_schema(),
        |args| {
            Box::pin(async move {
                let delay = delay_of(&args);
                tokio::time::sleep(Duration::from_secs_f64(delay)).await;
                Ok(ToolOutput::text(format!("completed in {delay:.2}s")))
            })
        },
    )
}

fn blocking_sleeper(i: usize) -> DynamicTool {
    DynamicTool::new(tool_name(format!("t{i}")), "Simulate a blocking task", delay_schema(), |args| {
        Box::pin(async move {
            let delay = delay_of(&args);
            tokio::task::spawn_blocking(move || std::thread::sleep(Duration::from_secs_f64(delay)))
                .await
                .map_err(|e| ToolExecutionError::new(ToolErrorKind::Other, e.to_string()))?;
            Ok(ToolOutput::text(format!("completed in {delay:.2}s")))
        })
    })
}

/// Member `i` as the leader's tool, its own run allowed three tool calls at once.
fn member_tool(i: usize, agent: Agent) -> DynamicTool {
    let agent = std::sync::Arc::new(agent);
    let schema = json!({
        "type": "object",
        "properties": {"prompt": {"type": "string", "description": "The task"}},
        "required": ["prompt"]
    });
    DynamicTool::new(tool_name(format!("worker-{i}")), "Runs its three tasks", schema, move |args| {
        let agent = std::sync::Arc::clone(&agent);
        Box::pin(async move {
            let prompt = args.get("prompt").and_then(serde_json::Value::as_str).unwrap_or_default().to_owned();
            agent
                .prompt(prompt)
                .max_turns(5)
                .tool_concurrency(3)
                .run()
                .await
                .map(|response| ToolOutput::text(response.output()))
                .map_err(ToolExecutionError::from_error)
        })
    })
}

fn provider() -> OpenAI {
    OpenAI::from_env().expect("OPENAI_API_KEY and OPENAI_BASE_URL are set by run.py")
}

fn agent_with(tools: Vec<DynamicTool>) -> Agent {
    AgentBuilder::new(provider().chat("gpt-5-mini")).dynamic_tools(tools).build()
}

/// One run to its final answer, every call of a turn allowed to overlap.
async fn run(agent: &Agent, concurrency: usize) -> usize {
    let response = agent
        .prompt(PROMPT)
        .max_turns(5)
        .tool_concurrency(concurrency)
        .run()
        .await
        .expect("run succeeds against the scripted server");
    tool_results(&response.messages)
}

/// How many tool results the run committed to its history: proves every call ran.
fn tool_results(messages: &[Message]) -> usize {
    messages
        .iter()
        .map(|message| match message {
            Message::User { content } => {
                content.iter().filter(|item| matches!(item, UserContent::ToolResult(_))).count()
            }
            _ => 0,
        })
        .sum()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("tokio runtime")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_owned());
    match arg(0, "seed").as_str() {
        "seed" => {
            tracing_subscriber::fmt().with_target(false).init();
            let agent = AgentBuilder::new(provider().chat("gpt-5-mini"))
                .tool(Atask2)
                .tool(Atask1)
                .tool(Atask3)
                .build();
            runtime().block_on(async {
                let mut stream = agent
                    .prompt("Please run all tasks with a delay of 3s")
                    .max_turns(5)
                    .tool_concurrency(3)
                    .stream();
                stream_to_stdout(&mut stream).await.expect("streamed run succeeds");
                println!();
            });
        }
        "fanout" => {
            let n: usize = arg(1, "1000").parse().unwrap_or(1000);
            let agent = agent_with((0..n).map(sleeper).collect());
            let calls = runtime().block_on(run(&agent, n));
            assert_eq!(calls, n, "every call ran");
            println!("{calls} calls");
        }
        "sync64" => {
            let agent = agent_with((0..64).map(blocking_sleeper).collect());
            let calls = runtime().block_on(run(&agent, 64));
            println!("{calls} calls");
        }
        "sync16_blocking" => {
            let agent = agent_with((0..16).map(blocking_sleeper).collect());
            let calls = runtime().block_on(run(&agent, 16));
            println!("{calls} calls");
        }
        "instantiate" => {
            let model = provider().chat("gpt-5-mini");
            measure::instantiation(100_000, || {
                let agent = AgentBuilder::new(model.clone()).tool(Atask1).build();
                std::hint::black_box(&agent);
            });
        }
        "throughput" => {
            let k: usize = arg(1, "500").parse().unwrap_or(500);
            let agent = AgentBuilder::new(provider().chat("gpt-5-mini"))
                .tool(Atask1)
                .tool(Atask2)
                .tool(Atask3)
                .build();
            runtime().block_on(measure::throughput(k, || {
                let agent = agent.clone();
                async move { agent.prompt(PROMPT).max_turns(5).tool_concurrency(3).run().await }
            }));
        }
        "team" | "team_stock" => {
            // A leader and three member agents with three 1 s tools each, the members as the
            // leader's tools. `team_stock` uses Rig's own `Agent::into_tool`, whose member runs
            // keep Rig's default of one tool call at a time; `team` wraps each member by hand so
            // its run allows all three at once (`tool_concurrency(3)`): Rig at its best.
            let member = |i: usize| {
                AgentBuilder::new(provider().chat("gpt-5-mini"))
                    .name(format!("worker-{i}"))
                    .description("Runs its three tasks")
                    .dynamic_tools((0..3).map(sleeper).collect())
                    .default_max_turns(5)
                    .build()
            };
            let stock = arg(0, "") == "team_stock";
            let tools: Vec<DynamicTool> = (1..=3)
                .map(|i| if stock { member(i).into_tool().expect("named") } else { member_tool(i, member(i)) })
                .collect();
            let leader = AgentBuilder::new(provider().chat("gpt-5-mini")).name("lead").dynamic_tools(tools).build();
            let calls = runtime().block_on(run(&leader, 3));
            assert_eq!(calls, 3, "every member ran");
            println!("{calls} member runs");
        }
        other => eprintln!("unknown scenario {other}"),
    }
}
