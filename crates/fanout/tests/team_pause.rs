//! Confirmation inside members that run at the same time, on tokio's paused clock: the team's
//! run pauses with every pending call of every member — no member waits for another — and one
//! `continue_run` resumes them all, each where it stopped; on every API, blocking included.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use fanout::PausedRun;
use fanout::agent::Decision;
use fanout::models::scripted::{ScriptedModel, Turn};
use fanout::prelude::*;
use fanout::tool::FunctionTool;
use futures::StreamExt;
use serde_json::json;
use tokio::time::Instant;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Secs {
    secs: u64,
}

fn sleeper(name: &str, runs: Arc<AtomicUsize>) -> FunctionTool<Secs> {
    FunctionTool::new(name, "Sleep", move |args: Secs| {
        runs.fetch_add(1, Ordering::SeqCst);
        async move {
            tokio::time::sleep(Duration::from_secs(args.secs)).await;
            Ok(format!("slept {}s", args.secs))
        }
    })
}

/// Counts of tool runs, to see that nothing runs twice.
#[derive(Default, Clone)]
struct Runs {
    work: Arc<AtomicUsize>,
    delete: Arc<AtomicUsize>,
}

/// A member that works for 1 s and, in the same turn, deletes something — which needs
/// confirmation — then summarizes.
fn careful(name: &str, runs: &Runs) -> Agent {
    Agent::builder()
        .name(name)
        .model(ScriptedModel::new([Turn::call_every_tool(json!({"secs": 1})), Turn::summarize_results()]))
        .tool(sleeper("work", runs.work.clone()))
        .tool(sleeper("delete", runs.delete.clone()).requires_confirmation())
        .build()
        .unwrap()
}

/// A member that only works for `secs`.
fn plain(name: &str, secs: u64, runs: &Runs) -> Agent {
    Agent::builder()
        .name(name)
        .model(ScriptedModel::new([Turn::call("work", json!({"secs": secs})), Turn::summarize_results()]))
        .tool(sleeper("work", runs.work.clone()))
        .build()
        .unwrap()
}

fn leader() -> AgentBuilder {
    Agent::builder().name("lead").model(ScriptedModel::new([
        Turn::call_every_tool(json!({"task": "clean up"})),
        Turn::summarize_results(),
    ]))
}

fn approve_all(paused: &PausedRun) -> Vec<(String, Decision)> {
    paused.pending_calls().map(|call| (call.id.clone(), Decision::Approve)).collect()
}

#[tokio::test(start_paused = true)]
async fn parallel_members_pause_together_and_one_continue_resumes_them_all() {
    let runs = Runs::default();
    let team =
        Team::new(leader()).members((1..=3).map(|i| careful(&format!("m{i}"), &runs))).build().unwrap();

    let start = Instant::now();
    let output = team.run("clean up").await.unwrap();
    // Each member worked its 1 s and paused; they waited for nobody: 1 s in all.
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert_eq!(runs.work.load(Ordering::SeqCst), 3);
    assert_eq!(runs.delete.load(Ordering::SeqCst), 0);
    let pending = output.pending_calls();
    assert_eq!(pending.len(), 3, "{pending:?}");
    for call in pending {
        assert_eq!(call.name, "delete");
        let (leader_call, member_call) = call.id.split_once('/').unwrap();
        assert!(leader_call.starts_with("call_1_"), "the leader's call: {leader_call}");
        assert!(!member_call.contains('/'));
    }
    let paused = output.take_paused().unwrap();
    assert_eq!(paused.pending_calls().count(), 3);

    // One continue_run, every member resumed at once: the deletes overlap.
    let decisions = approve_all(&paused);
    let start = Instant::now();
    let output = team.continue_run(paused, decisions).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert!(output.is_completed(), "{:?}", output.status);
    assert_eq!(runs.work.load(Ordering::SeqCst), 3, "work done before the pause is not redone");
    assert_eq!(runs.delete.load(Ordering::SeqCst), 3);
    assert_eq!(output.tool_executions.len(), 3);
    for execution in &output.tool_executions {
        let result = execution.result.as_ref().unwrap();
        assert_eq!(result.matches("slept 1s").count(), 2, "{result}");
    }
    assert_eq!(output.metrics.members.len(), 3);
}

#[tokio::test(start_paused = true)]
async fn siblings_that_need_no_confirmation_finish_and_are_not_run_again() {
    let runs = Runs::default();
    let team = Team::new(leader())
        .members([careful("careful", &runs), plain("quick", 1, &runs), plain("slow", 3, &runs)])
        .build()
        .unwrap();
    let mut stream = Box::pin(team.run("clean up").stream());
    let mut paused_calls = Vec::new();
    let mut nested_paused = 0;
    let output = loop {
        let event = stream.next().await.unwrap().unwrap();
        let nested = event.is_nested();
        match event.kind {
            EventKind::ToolCallPaused { call, .. } => {
                assert!(!nested);
                paused_calls.push(call.name);
            }
            EventKind::RunCompleted(output) if nested => {
                nested_paused += usize::from(!output.pending_calls().is_empty());
            }
            EventKind::RunCompleted(output) => break *output,
            _ => {}
        }
    };
    // The team paused once the slow sibling was done, 3 s in.
    assert_eq!(paused_calls, ["careful"]);
    assert_eq!(nested_paused, 1);
    assert_eq!(output.pending_calls().len(), 1);
    assert_eq!(runs.work.load(Ordering::SeqCst), 3);

    let paused = output.take_paused().unwrap();
    let id = paused.pending_calls().next().unwrap().id.clone();
    let output = team.continue_run(paused, [(id, Decision::Reject(Some("keep it".into())))]).await.unwrap();
    assert!(output.is_completed());
    assert_eq!(runs.work.load(Ordering::SeqCst), 3, "the siblings' results were kept");
    assert_eq!(runs.delete.load(Ordering::SeqCst), 0);
    let careful = output.tool_executions.iter().find(|e| e.call.name == "careful").unwrap();
    assert!(careful.result.as_ref().unwrap().contains("rejected this call: keep it"), "{careful:?}");
    assert_eq!(output.tool_executions.len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_paused_team_continues_from_json_in_a_team_in_a_team() {
    let runs = Runs::default();
    let inner = Team::new(leader().name("inner")).members([careful("deep", &runs)]).build().unwrap();
    let team = Team::new(leader()).members([inner, careful("shallow", &runs)]).build().unwrap();
    let output = team.run("clean up").await.unwrap();
    let ids: Vec<&str> = output.pending_calls().iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids.len(), 2);
    assert_eq!(ids.iter().filter(|id| id.matches('/').count() == 2).count(), 1, "{ids:?}");

    // Another process would read it from the store or a request: JSON.
    let json = serde_json::to_string(&output.take_paused().unwrap()).unwrap();
    let paused: PausedRun = serde_json::from_str(&json).unwrap();
    let decisions = approve_all(&paused);
    let output = team.continue_run(paused, decisions).await.unwrap();
    assert!(output.is_completed(), "{:?}", output.status);
    assert_eq!(runs.delete.load(Ordering::SeqCst), 2);
    assert!(output.content.contains("slept 1s"), "{}", output.content);
}

#[test]
fn the_blocking_api_pauses_and_continues_a_team_too() {
    let runs = Runs::default();
    let team =
        Team::new(leader()).members((1..=3).map(|i| careful(&format!("m{i}"), &runs))).build().unwrap();
    let output = team.run("clean up").blocking().unwrap();
    assert_eq!(output.pending_calls().len(), 3);
    let paused = output.take_paused().unwrap();
    let decisions = approve_all(&paused);
    let output = team.continue_run(paused, decisions).blocking().unwrap();
    assert!(output.is_completed());
    assert_eq!(runs.delete.load(Ordering::SeqCst), 3);
}
