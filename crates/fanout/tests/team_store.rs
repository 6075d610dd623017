//! A team's session holds its members' runs, under the leader's run; the team continues its own
//! conversation, each member its own.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use fanout::models::Message;
use fanout::models::scripted::{ScriptedModel, Turn};
use fanout::prelude::*;
use fanout::store::{MemoryStore, RunState, SessionStore};
use fanout::tool::FunctionTool;
use serde_json::json;
use tokio_util::sync::CancellationToken;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Secs {
    secs: u64,
}

fn sleeper() -> FunctionTool<Secs> {
    FunctionTool::new("work", "Work", |args: Secs| async move {
        tokio::time::sleep(Duration::from_secs(args.secs)).await;
        Ok(format!("worked {}s", args.secs))
    })
}

/// A member that works, then summarizes — over and over (the script restarts with each task).
fn member(name: &str, secs: u64) -> (Agent, ScriptedModel) {
    let model = ScriptedModel::new([Turn::call("work", json!({"secs": secs})), Turn::summarize_results()]);
    let agent = Agent::builder().name(name).model(model.clone()).tool(sleeper()).build().unwrap();
    (agent, model)
}

fn team(store: &Arc<MemoryStore>, secs: u64) -> (Agent, ScriptedModel, Vec<ScriptedModel>) {
    let leader =
        ScriptedModel::new([Turn::call_every_tool(json!({"task": "work"})), Turn::summarize_results()]);
    let (a, model_a) = member("a", secs);
    let (b, model_b) = member("b", secs);
    let team = Team::new(Agent::builder().name("lead").model(leader.clone()).store(Arc::clone(store)))
        .members([a, b])
        .build()
        .unwrap();
    (team, leader, vec![model_a, model_b])
}

#[tokio::test(start_paused = true)]
async fn members_runs_are_stored_in_the_teams_session_under_the_leaders_run() {
    let store = Arc::new(MemoryStore::new());
    let (team, leader, members) = team(&store, 1);
    let first = team.run("first").session("s1").await.unwrap();
    let runs = store.runs("s1").await.unwrap();
    assert_eq!(runs.len(), 3);
    let lead = runs.iter().find(|r| r.record.run_id == first.run_id).unwrap();
    assert_eq!(lead.record.parent_run_id, None);
    assert_eq!(lead.record.agent_id.as_deref(), Some("lead"));
    let mut names = Vec::new();
    for run in runs.iter().filter(|r| r.record.run_id != first.run_id) {
        assert_eq!(run.record.parent_run_id.as_deref(), Some(first.run_id.as_str()));
        assert_eq!(run.state, RunState::Completed);
        // Its whole conversation: the task, the call, the result, the answer.
        assert_eq!(run.messages.len(), 4, "{:?}", run.messages);
        assert!(matches!(&run.messages[0], Message::User { content } if content == "work"));
        names.push(run.record.agent_id.clone().unwrap());
    }
    names.sort();
    assert_eq!(names, ["a", "b"]);

    // The next run: the team continues its own conversation, each member its own.
    team.run("second").session("s1").await.unwrap();
    let lead_history = &leader.requests()[2].messages;
    let texts: Vec<&str> = lead_history
        .iter()
        .filter_map(|m| match m {
            Message::User { content } => Some(content.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(texts, ["first", "second"], "the members' tasks are not in the team's history");
    for model in &members {
        let requests = model.requests();
        assert_eq!(requests.len(), 4);
        let history = &requests[2].messages;
        // Its first run (task, call, result, answer), then the new task.
        assert_eq!(history.len(), 5, "{history:?}");
        assert!(
            history.iter().all(|m| !matches!(m, Message::User { content } if content.starts_with("first")))
        );
    }
    assert_eq!(store.runs("s1").await.unwrap().len(), 6);
}

#[tokio::test(start_paused = true)]
async fn members_of_a_cancelled_team_are_stored_as_cancelled() {
    let store = Arc::new(MemoryStore::new());
    let (team, _, _) = team(&store, 10);
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        cancel.cancel();
    });
    let err = team.run("go").session("s2").cancel_on(token).await.unwrap_err();
    assert!(err.is_cancelled());
    tokio::time::sleep(Duration::from_millis(1)).await;
    let runs = store.runs("s2").await.unwrap();
    assert_eq!(runs.len(), 3);
    assert!(runs.iter().all(|r| r.state == RunState::Cancelled), "{runs:?}");
}
