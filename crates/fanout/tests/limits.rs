//! Concurrency limits mean what they say: `max_concurrency` is per run, a `ConcurrencyLimit` is
//! shared by whoever holds it. Two concurrent runs on tokio's paused clock, so the durations are
//! exact and nothing depends on the machine's speed.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use futures::StreamExt;
use std::time::Duration;

use fanout::ConcurrencyLimit;
use fanout::models::scripted::{ScriptedModel, Turn};
use fanout::prelude::*;
use fanout::tool::FunctionTool;
use serde_json::json;
use tokio::time::Instant;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Secs {
    secs: u64,
}

fn sleeper(name: &str) -> FunctionTool<Secs> {
    FunctionTool::new(name, "Sleep", |args: Secs| async move {
        tokio::time::sleep(Duration::from_secs(args.secs)).await;
        Ok(format!("slept {}s", args.secs))
    })
}

/// Each run calls `sleep` twice for one second, then answers.
fn two_calls() -> ScriptedModel {
    ScriptedModel::new([
        Turn::calls([("sleep", json!({"secs": 1})), ("sleep", json!({"secs": 1}))]),
        Turn::text("done"),
    ])
}

/// Run `a` and `b` at the same time; how long both took on the logical clock.
async fn together(a: &Agent, b: &Agent) -> Duration {
    let start = Instant::now();
    let (x, y) = tokio::join!(a.run("go"), b.run("go"));
    assert_eq!(x.unwrap().content, "done");
    assert_eq!(y.unwrap().content, "done");
    start.elapsed()
}

#[tokio::test(start_paused = true)]
async fn max_concurrency_is_per_run() {
    let agent =
        Agent::builder().model(two_calls()).tool(sleeper("sleep")).max_concurrency(2).build().unwrap();
    // Two runs of one agent, each with its own two slots: 1 s, not 2 s.
    assert_eq!(together(&agent, &agent).await, Duration::from_secs(1));

    let one = Agent::builder().model(two_calls()).tool(sleeper("sleep")).max_concurrency(1).build().unwrap();
    // A cap of 1 per run: each run takes 2 s, the two still overlap.
    assert_eq!(together(&one, &one).await, Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn a_shared_limit_caps_runs_of_several_agents_together() {
    let limit = ConcurrencyLimit::new(2);
    let build = || {
        Agent::builder()
            .model(two_calls())
            .tool(sleeper("sleep"))
            .concurrency_limit(limit.clone())
            .build()
            .unwrap()
    };
    let (a, b) = (build(), build());
    // Four 1 s calls, two slots in all: 2 s.
    assert_eq!(together(&a, &b).await, Duration::from_secs(2));
    assert_eq!(limit.available(), 2, "every slot came back");
}

#[tokio::test(start_paused = true)]
async fn a_tool_level_limit_applies_to_that_tool_only() {
    let limit = ConcurrencyLimit::new(1);
    let model = ScriptedModel::new([
        Turn::calls([
            ("sleep", json!({"secs": 1})),
            ("sleep", json!({"secs": 1})),
            ("free", json!({"secs": 1})),
            ("free", json!({"secs": 1})),
        ]),
        Turn::text("done"),
    ]);
    let agent = Agent::builder()
        .model(model)
        .tool(sleeper("sleep").concurrency_limit(limit.clone()))
        .tool(sleeper("free"))
        .build()
        .unwrap();
    let mut events = Box::pin(agent.run("go").stream().map(|e| e.map(|e| e.kind)));
    let start = Instant::now();
    let mut ends = Vec::new();
    while let Some(event) = futures::StreamExt::next(&mut events).await {
        if let EventKind::ToolCallCompleted { execution, .. } = event.unwrap() {
            ends.push((execution.call.name.clone(), start.elapsed()));
        }
    }
    ends.sort_by_key(|(_, at)| *at);
    // Both `free` calls and the first `sleep` end at 1 s; the second `sleep` waited for the slot.
    assert_eq!(ends.iter().filter(|(_, at)| *at == Duration::from_secs(1)).count(), 3, "{ends:?}");
    assert_eq!(ends[3], ("sleep".to_owned(), Duration::from_secs(2)));
}
