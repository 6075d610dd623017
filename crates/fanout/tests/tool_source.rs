//! Tool lists that change between turns ([`ToolSource`]) and progress reported from inside a
//! running tool ([`report_progress`]).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use fanout::models::scripted::{ScriptedModel, Turn};
use fanout::prelude::*;
use fanout::tool::{AgentTools, FunctionTool, ToolList, ToolProgress, ToolSource, report_progress};
use futures::StreamExt;
use serde_json::json;

/// A source whose list the test replaces while the agent runs.
#[derive(Debug, Default)]
struct Switchable {
    version: AtomicU64,
    tools: Mutex<Vec<Arc<dyn Tool>>>,
}

impl Switchable {
    fn set(&self, tools: Vec<Arc<dyn Tool>>) {
        *self.tools.lock().unwrap() = tools;
        self.version.fetch_add(1, Ordering::SeqCst);
    }
}

impl ToolSource for Switchable {
    fn tools(&self) -> ToolList {
        ToolList { version: self.version.load(Ordering::SeqCst), tools: self.tools.lock().unwrap().clone() }
    }
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Nothing {}

fn constant(name: &str, answer: &'static str) -> Arc<dyn Tool> {
    Arc::new(FunctionTool::new(name, "Answer", move |_: Nothing| async move { Ok(answer.to_owned()) }))
}

#[tokio::test]
async fn a_source_changes_the_tools_of_the_next_turn() {
    let source = Arc::new(Switchable::default());
    let switch = Arc::clone(&source);
    let first: Arc<dyn Tool> = Arc::new(FunctionTool::new("first", "Replace me", move |_: Nothing| {
        switch.set(vec![constant("second", "from the second")]);
        async { Ok("replaced".to_owned()) }
    }));
    source.set(vec![first]);
    let model = ScriptedModel::new([
        Turn::call("first", json!({})),
        Turn::call("second", json!({})),
        Turn::text("ok"),
    ]);
    let agent = Agent::builder()
        .model(model.clone())
        .tools(AgentTools::Source(source))
        .tools(vec![constant("fixed", "always")])
        .build()
        .unwrap();
    let output = agent.run("go").await.unwrap();
    let results: Vec<_> = output.tool_executions.iter().map(|e| e.result.clone().unwrap()).collect();
    assert_eq!(results, ["replaced", "from the second"]);
    let offered: Vec<Vec<String>> =
        model.requests().iter().map(|r| r.tools.iter().map(|d| d.name.clone()).collect()).collect();
    assert_eq!(offered, [vec!["fixed", "first"], vec!["fixed", "second"], vec!["fixed", "second"]]);
}

#[tokio::test]
async fn a_change_that_makes_two_tools_share_a_name_fails_the_run() {
    let source = Arc::new(Switchable::default());
    let agent = Agent::builder()
        .model(ScriptedModel::new([Turn::text("never")]))
        .tools(AgentTools::Source(Arc::clone(&source) as Arc<dyn ToolSource>))
        .tools(vec![constant("fixed", "always")])
        .build()
        .unwrap();
    source.set(vec![constant("fixed", "again")]);
    let err = agent.run("go").await.unwrap_err();
    assert!(err.to_string().contains("two tools are named `fixed`"), "{err}");
}

/// Work in two reported steps
#[tool]
async fn stepper() -> String {
    report_progress(ToolProgress { progress: 1.0, total: Some(2.0), message: Some("half".into()) });
    report_progress(ToolProgress { progress: 2.0, total: Some(2.0), message: None });
    "done".to_owned()
}

#[tokio::test]
async fn progress_reported_inside_a_tool_becomes_run_events_between_start_and_end() {
    let agent = Agent::builder()
        .model(ScriptedModel::new([
            Turn::calls([("add", json!({"a": 1, "b": 1})), ("stepper", json!({}))]),
            Turn::text("ok"),
        ]))
        .tools(tools![stepper, add])
        .build()
        .unwrap();
    let mut events = agent.run("go").stream().map(|e| e.map(|e| e.kind));
    let mut seen = Vec::new();
    while let Some(event) = events.next().await {
        match event.unwrap() {
            EventKind::ToolCallStarted { index, .. } => seen.push(format!("start {index}")),
            EventKind::ToolCallProgress { index, progress, total, message, .. } => {
                seen.push(format!("progress {index} {progress}/{total:?} {message:?}"))
            }
            EventKind::ToolCallCompleted { index, .. } => seen.push(format!("end {index}")),
            _ => {}
        }
    }
    let of_stepper: Vec<&String> = seen.iter().filter(|s| s.split(' ').nth(1) == Some("1")).collect();
    assert_eq!(
        of_stepper,
        ["start 1", "progress 1 1/Some(2.0) Some(\"half\")", "progress 1 2/Some(2.0) None", "end 1"],
        "{seen:?}"
    );
    assert!(!seen.iter().any(|s| s.starts_with("progress 0")), "{seen:?}");
}

/// Add two numbers
#[tool]
fn add(a: i64, b: i64) -> i64 {
    a + b
}
