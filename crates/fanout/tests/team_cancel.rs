//! Cancelling a team's run stops every member and every member's tool at once, on tokio's
//! paused clock: a cancelled token, a dropped stream, a member's timeout.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use fanout::models::scripted::{ScriptedModel, Turn};
use fanout::prelude::*;
use fanout::tool::FunctionTool;
use futures::StreamExt;
use serde_json::json;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Secs {
    secs: u64,
}

/// When each tool call was dropped, and how many finished.
#[derive(Default, Clone)]
struct Ledger {
    dropped: Arc<Mutex<Vec<Instant>>>,
    finished: Arc<Mutex<usize>>,
}

/// Records its drop unless disarmed.
struct Guard {
    ledger: Ledger,
    armed: bool,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.armed {
            self.ledger.dropped.lock().unwrap().push(Instant::now());
        }
    }
}

fn sleeper(name: &str, ledger: &Ledger) -> FunctionTool<Secs> {
    let ledger = ledger.clone();
    FunctionTool::new(name, "Sleep", move |args: Secs| {
        let mut guard = Guard { ledger: ledger.clone(), armed: true };
        async move {
            tokio::time::sleep(Duration::from_secs(args.secs)).await;
            guard.armed = false;
            *guard.ledger.finished.lock().unwrap() += 1;
            Ok("done".to_owned())
        }
    })
}

/// A team of three members with three 10 s tools each.
fn team(ledger: &Ledger) -> Agent {
    let members = (1..=3).map(|i| {
        Agent::builder()
            .name(format!("m{i}"))
            .model(ScriptedModel::new([
                Turn::call_every_tool(json!({"secs": 10})),
                Turn::summarize_results(),
            ]))
            .tools(fanout::tools![sleeper("a", ledger), sleeper("b", ledger), sleeper("c", ledger)])
            .build()
            .unwrap()
    });
    let leader = Agent::builder().name("lead").model(ScriptedModel::new([
        Turn::call_every_tool(json!({"task": "work"})),
        Turn::summarize_results(),
    ]));
    Team::new(leader).members(members).build().unwrap()
}

/// Let aborted tasks drop their futures (the clock does not move while tasks are ready).
async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_token_stops_every_member_and_their_tools_at_once() {
    let ledger = Ledger::default();
    let team = team(&ledger);
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        cancel.cancel();
    });
    let start = Instant::now();
    let err = team.run("go").cancel_on(token).await.unwrap_err();
    assert!(err.is_cancelled());
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    settle().await;
    let dropped = ledger.dropped.lock().unwrap().clone();
    assert_eq!(dropped.len(), 9, "every tool of every member was stopped");
    assert!(dropped.iter().all(|at| *at == start + Duration::from_secs(1)), "at once: {dropped:?}");
    assert_eq!(*ledger.finished.lock().unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_stream_stops_the_whole_tree() {
    let ledger = Ledger::default();
    let team = team(&ledger);
    let mut stream = Box::pin(team.run("go").stream());
    // Read until every member's tools have started.
    let mut started = 0;
    while started < 9 {
        let event = stream.next().await.unwrap().unwrap();
        started += usize::from(event.is_nested() && matches!(event.kind, EventKind::ToolCallStarted { .. }));
    }
    let start = Instant::now();
    drop(stream);
    settle().await;
    let dropped = ledger.dropped.lock().unwrap().clone();
    assert_eq!(dropped.len(), 9);
    assert!(dropped.iter().all(|at| *at == start), "{dropped:?}");
}

#[tokio::test(start_paused = true)]
async fn a_member_that_times_out_is_stopped_with_its_tools_while_the_others_finish() {
    let ledger = Ledger::default();
    let slow = Agent::builder()
        .name("slow")
        .model(ScriptedModel::new([Turn::call_every_tool(json!({"secs": 10})), Turn::summarize_results()]))
        .tools(fanout::tools![sleeper("a", &ledger), sleeper("b", &ledger)])
        .build()
        .unwrap();
    let quick = Agent::builder()
        .name("quick")
        .model(ScriptedModel::new([Turn::call_every_tool(json!({"secs": 1})), Turn::summarize_results()]))
        .tools(fanout::tools![sleeper("a", &ledger)])
        .build()
        .unwrap();
    let leader = Agent::builder()
        .name("lead")
        .model(ScriptedModel::new([
            Turn::call_every_tool(json!({"task": "work"})),
            Turn::summarize_results(),
        ]))
        .tool(slow.as_tool())
        .tool(quick.as_tool())
        .tool_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let start = Instant::now();
    let output = leader.run("go").await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    settle().await;
    assert_eq!(*ledger.finished.lock().unwrap(), 1, "the quick member's tool finished");
    let dropped = ledger.dropped.lock().unwrap().clone();
    assert_eq!(dropped, [start + Duration::from_secs(2); 2], "the slow member's tools, at its timeout");
    assert!(matches!(output.tool_executions[0].result, Err(ToolError::TimedOut(_))));
    assert!(output.tool_executions[1].result.is_ok());
}
