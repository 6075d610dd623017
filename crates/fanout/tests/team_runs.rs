//! Teams on tokio's paused clock: members work at the same time, their events join the leader's
//! stream with their lineage, usage rolls up, failures stay with the member that failed, limits
//! hold through the tree; route and broadcast modes; teams in teams.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::time::Duration;

use fanout::event::Origin;
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

fn sleeper(name: &str) -> FunctionTool<Secs> {
    FunctionTool::new(name, "Sleep", |args: Secs| async move {
        tokio::time::sleep(Duration::from_secs(args.secs)).await;
        Ok(format!("slept {}s", args.secs))
    })
}

/// A member with `tools` sleepers: it calls them all for `secs`, then summarizes.
fn member(name: &str, tools: &[&str], secs: u64) -> Agent {
    let mut builder = Agent::builder()
        .name(name)
        .description(format!("The {name}"))
        .model(ScriptedModel::new([Turn::call_every_tool(json!({"secs": secs})), Turn::summarize_results()]));
    for tool in tools {
        builder = builder.tool(sleeper(tool));
    }
    builder.build().unwrap()
}

/// A leader whose model calls every member with a task, then summarizes.
fn leader(name: &str) -> AgentBuilder {
    Agent::builder().name(name).model(ScriptedModel::new([
        Turn::call_every_tool(json!({"task": "do your part"})),
        Turn::summarize_results(),
    ]))
}

fn three_members(secs: u64) -> Vec<Agent> {
    (1..=3).map(|i| member(&format!("worker_{i}"), &["a", "b", "c"], secs)).collect()
}

/// Every event of a streamed run, and its output.
async fn stream_all(agent: &Agent, input: &str) -> (Vec<RunEvent>, RunOutput) {
    let mut stream = Box::pin(agent.run(input).stream());
    let mut events = Vec::new();
    while let Some(event) = stream.next().await {
        let event = event.unwrap();
        if let (EventKind::RunCompleted(output), false) = (&event.kind, event.is_nested()) {
            let output = (**output).clone();
            events.push(event);
            return (events, output);
        }
        events.push(event);
    }
    panic!("the stream ended without the team's output");
}

#[tokio::test(start_paused = true)]
async fn three_members_with_three_tools_each_take_as_long_as_one_tool() {
    let team = Team::new(leader("lead")).members(three_members(1)).build().unwrap();
    let start = Instant::now();
    let output = team.run("go").await.unwrap();
    // 3 members × 3 tools of 1 s: all nine overlap.
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert!(output.is_completed());
    assert_eq!(output.tool_executions.len(), 3);
    for execution in &output.tool_executions {
        assert!(execution.result.as_ref().unwrap().contains("slept 1s"), "{execution:?}");
        assert_eq!(execution.duration, Duration::from_secs(1));
    }

    // Streamed, the same.
    let start = Instant::now();
    let (_, output) = stream_all(&team, "go").await;
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert_eq!(output.tool_executions.len(), 3);
}

#[tokio::test(start_paused = true)]
async fn every_event_carries_its_lineage_and_members_nest_under_their_call() {
    let team = Team::new(leader("lead")).members(three_members(1)).build().unwrap();
    let (events, output) = stream_all(&team, "go").await;

    let root = &events[0].origin;
    assert_eq!(root.run_id, output.run_id);
    assert_eq!(root.agent.as_deref(), Some("lead"));
    assert!(root.parent_run_id.is_none() && root.parent_call_id.is_none() && root.path.is_empty());

    // The leader's calls, by id, and the member each delegated to.
    let calls: HashMap<String, String> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ToolCallStarted { call, .. } if !e.is_nested() => {
                Some((call.id.clone(), call.name.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(calls.len(), 3);

    let mut members: HashMap<String, Origin> = HashMap::new();
    for (position, event) in events.iter().enumerate() {
        if !event.is_nested() {
            assert_eq!(event.origin, *root, "the leader's own events carry its origin");
            continue;
        }
        let origin = &event.origin;
        assert_eq!(origin.parent_run_id.as_deref(), Some(root.run_id.as_str()));
        let call_id = origin.parent_call_id.as_deref().unwrap();
        let member = &calls[call_id];
        assert_eq!(origin.agent.as_deref(), Some(member.as_str()));
        assert_eq!(origin.path, ["lead", member.as_str()]);
        assert_ne!(origin.run_id, root.run_id);
        // One run per member, the same origin on all of its events.
        assert_eq!(members.entry(call_id.to_owned()).or_insert_with(|| (**origin).clone()), &**origin);
        // A member's events come after the start of the call that delegated to it and before
        // that call's completion.
        let started = events.iter().position(|e| {
            matches!(&e.kind, EventKind::ToolCallStarted { call, .. } if call.id == call_id && !e.is_nested())
        });
        let completed = events.iter().position(|e| {
            matches!(&e.kind, EventKind::ToolCallCompleted { execution, .. }
                if execution.call.id == call_id && !e.is_nested())
        });
        assert!(started.unwrap() < position && position < completed.unwrap(), "{event:?}");
    }
    assert_eq!(members.len(), 3);

    // Each member's run: started, its three tools, its answer, completed.
    for origin in members.values() {
        let own: Vec<&EventKind> = events.iter().filter(|e| *e.origin == *origin).map(|e| &e.kind).collect();
        assert!(matches!(own[0], EventKind::RunStarted { input, .. } if input == "do your part"));
        let started = own.iter().filter(|k| matches!(k, EventKind::ToolCallStarted { .. })).count();
        let completed = own.iter().filter(|k| matches!(k, EventKind::ToolCallCompleted { .. })).count();
        assert_eq!((started, completed), (3, 3));
        match own.last().unwrap() {
            EventKind::RunCompleted(member) => {
                assert_eq!(member.run_id, origin.run_id);
                assert!(member.content.contains("slept 1s"));
            }
            other => panic!("a member's run ends with its output, not {other:?}"),
        }
    }

    // Events are data: the lineage survives JSON.
    let nested = events.iter().find(|e| e.is_nested()).unwrap();
    let back: RunEvent = serde_json::from_str(&serde_json::to_string(nested).unwrap()).unwrap();
    assert_eq!(back.origin, nested.origin);
}

#[tokio::test(start_paused = true)]
async fn usage_rolls_up_into_the_leaders_metrics_and_is_reported_per_member() {
    let team = Team::new(leader("lead")).members(three_members(1)).build().unwrap();
    let output = team.run("go").await.unwrap();
    let metrics = &output.metrics;
    assert_eq!(metrics.members.len(), 3);
    let own = metrics.own_usage();
    assert!(own.total_tokens > 0);
    let members: u64 = metrics.members.iter().map(|m| m.usage.total_tokens).sum();
    assert!(members > 0);
    assert_eq!(metrics.usage.total_tokens, own.total_tokens + members);
    for member in &metrics.members {
        assert_eq!(member.path[0], "lead");
        assert_eq!(member.duration, Duration::from_secs(1));
        assert!(output.tool_executions.iter().any(|e| e.call.id == member.call_id));
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_or_timed_out_member_is_an_error_result_while_its_siblings_go_on() {
    let broken = Agent::builder()
        .name("broken")
        // Its script calls a tool it does not have: its run fails.
        .model(ScriptedModel::new([Turn::call("missing", json!({}))]))
        .build()
        .unwrap();
    let slow = member("slow", &["a"], 10);
    let fine = member("fine", &["a"], 1);
    let lead = Agent::builder()
        .name("lead")
        .model(ScriptedModel::new([Turn::call_every_tool(json!({"task": "go"})), Turn::summarize_results()]))
        .tool(broken.as_tool())
        .tool(slow.as_tool().timeout(Duration::from_secs(2)))
        .tool(fine.as_tool())
        .build()
        .unwrap();
    let start = Instant::now();
    let output = lead.run("go").await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(2), "the timeout cut the slow member");
    assert!(output.is_completed());
    let result = |name: &str| output.tool_executions.iter().find(|e| e.call.name == name).unwrap();
    let err = result("broken").result.clone().unwrap_err().to_string();
    assert!(err.contains("broken failed") && err.contains("does not offer"), "{err}");
    assert!(matches!(result("slow").result, Err(ToolError::TimedOut(_))));
    assert!(result("fine").result.as_ref().unwrap().contains("slept 1s"));
    // Only the member that finished is counted.
    assert_eq!(output.metrics.members.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn max_concurrency_of_the_leader_holds_for_the_whole_tree() {
    // Two slots for the tree: the members all start (their calls take no slot), and their
    // nine 1 s tools run two at a time: 5 s.
    let team = Team::new(leader("lead").max_concurrency(2)).members(three_members(1)).build().unwrap();
    let start = Instant::now();
    let output = team.run("go").await.unwrap();
    assert!(output.is_completed());
    assert_eq!(start.elapsed(), Duration::from_secs(5));

    // A shared limit of the leader is shared down too.
    let limit = fanout::ConcurrencyLimit::new(3);
    let team =
        Team::new(leader("lead").concurrency_limit(limit.clone())).members(three_members(1)).build().unwrap();
    let start = Instant::now();
    team.run("go").await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    assert_eq!(limit.available(), 3);
}

#[tokio::test(start_paused = true)]
async fn turn_and_call_limits_of_the_leader_hold_for_its_members() {
    // The leader allows 2 tool calls per run: its one call fits, the member's three do not —
    // the member ends without an answer, an error result for the leader, which goes on.
    let team = Team::new(leader("lead").tool_call_limit(2))
        .members([member("worker", &["a", "b", "c"], 1)])
        .build()
        .unwrap();
    let output = team.run("go").await.unwrap();
    assert!(output.is_completed());
    let err = output.tool_executions[0].result.clone().unwrap_err().to_string();
    assert!(err.contains("its limit of 2 tool calls"), "{err}");

    // One model turn: the leader stops after its batch, and so did every member.
    let team = Team::new(leader("lead").max_turns(1)).members(three_members(1)).build().unwrap();
    let output = team.run("go").await.unwrap();
    assert_eq!(output.status, RunStatus::MaxTurnsReached { limit: 1 });
    for execution in &output.tool_executions {
        let err = execution.result.clone().unwrap_err().to_string();
        assert!(err.contains("limit of 1 model turns"), "{err}");
    }
}

#[tokio::test(start_paused = true)]
async fn the_depth_limit_stops_agents_that_call_agents_forever() {
    // A team in a team in a team: depth 3 below the root.
    let inner = Team::new(leader("inner")).members([member("worker", &["a"], 1)]).build().unwrap();
    let middle = Team::new(leader("middle")).members([inner]).build().unwrap();
    let outer = Team::new(leader("outer").max_depth(2)).members([middle.clone()]).build().unwrap();
    let (events, output) = stream_all(&outer, "go").await;
    assert!(output.is_completed());
    // `worker` would be at depth 3: not run; `inner` is told so and answers anyway.
    let worker_runs = events.iter().filter(|e| e.origin.agent.as_deref() == Some("worker")).count();
    assert_eq!(worker_runs, 0);
    let inner_calls: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ToolCallCompleted { execution, .. } if e.origin.agent.as_deref() == Some("inner") => {
                Some(execution.content_for_model())
            }
            _ => None,
        })
        .collect();
    assert_eq!(inner_calls.len(), 1);
    assert!(inner_calls[0].contains("limited to 2 level(s)"), "{inner_calls:?}");

    // Unlimited enough, the whole tree runs and nests its paths.
    let outer = Team::new(leader("outer")).members([middle]).build().unwrap();
    let (events, output) = stream_all(&outer, "go").await;
    assert!(output.is_completed());
    let worker = events.iter().find(|e| e.origin.agent.as_deref() == Some("worker")).unwrap();
    assert_eq!(worker.origin.path, ["outer", "middle", "inner", "worker"]);
    // Usage of every level rolls up, each member listed with its path.
    let paths: Vec<String> = output.metrics.members.iter().map(|m| m.path.join("/")).collect();
    // A member is listed before its own members.
    assert_eq!(paths, ["outer/middle", "outer/middle/inner", "outer/middle/inner/worker"]);
}

#[tokio::test(start_paused = true)]
async fn route_answers_with_the_chosen_member_and_broadcast_hands_everyone_the_message() {
    let answer = |name: &str, text: &str| {
        Agent::builder().name(name).model(ScriptedModel::new([Turn::text(text)])).build().unwrap()
    };
    let router = ScriptedModel::new([Turn::call("tech", json!({"task": "The printer is on fire"}))]);
    let team = Team::new(Agent::builder().name("support").model(router.clone()))
        .members([answer("billing", "Refunded."), answer("tech", "Unplug it.")])
        .mode(TeamMode::Route)
        .build()
        .unwrap();
    let (events, output) = stream_all(&team, "My printer is on fire").await;
    assert_eq!(output.content, "Unplug it.");
    assert!(output.is_completed());
    assert_eq!(router.requests().len(), 1, "no second turn of the leader");
    // The answer is the leader's own content too, for its stream's consumers.
    let text: String = events
        .iter()
        .filter(|e| !e.is_nested())
        .filter_map(|e| match &e.kind {
            EventKind::ContentDelta(text) => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, "Unplug it.");

    // The script's first turn is the one the team plays itself (the broadcast).
    let writer = ScriptedModel::new([Turn::text("never asked"), Turn::summarize_results()]);
    let team = Team::new(Agent::builder().name("panel").model(writer.clone()))
        .members([answer("optimist", "It will work."), answer("pessimist", "It will fail.")])
        .mode(TeamMode::Broadcast)
        .build()
        .unwrap();
    let (events, output) = stream_all(&team, "Will it work?").await;
    assert!(output.content.contains("It will work.") && output.content.contains("It will fail."));
    // The members got the user's message itself, without a model turn of the leader.
    let inputs: Vec<&str> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::RunStarted { input, .. } if e.is_nested() => Some(input.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(inputs, ["Will it work?", "Will it work?"]);
    assert_eq!(writer.requests().len(), 1, "only the answer was asked of the model");
}

#[test]
fn the_blocking_api_runs_members_at_the_same_time() {
    // No paused clock here (the blocking API has a runtime of its own): members meet inside
    // their tools, which they could not do one after another.
    let meeting = std::sync::Arc::new(tokio::sync::Barrier::new(3));
    let members: Vec<Agent> = (1..=3)
        .map(|i| {
            let meeting = meeting.clone();
            let meet = FunctionTool::new("meet", "Meet the others", move |_: serde_json::Value| {
                let meeting = meeting.clone();
                async move {
                    tokio::time::timeout(Duration::from_secs(20), meeting.wait())
                        .await
                        .map_err(|_| ToolError::failed("the others never came"))?;
                    Ok("met".to_owned())
                }
            });
            Agent::builder()
                .name(format!("m{i}"))
                .model(ScriptedModel::new([Turn::call("meet", json!({})), Turn::summarize_results()]))
                .tool(meet)
                .build()
                .unwrap()
        })
        .collect();
    let team = Team::new(leader("lead")).members(members).build().unwrap();
    let output = team.run("go").blocking().unwrap();
    for execution in &output.tool_executions {
        assert!(execution.result.as_ref().unwrap().contains("met"), "{execution:?}");
    }
}

#[test]
fn a_team_needs_named_members() {
    let unnamed = Agent::builder().model(ScriptedModel::new([])).build().unwrap();
    let err = Team::new(leader("lead")).member(unnamed).build().unwrap_err();
    assert!(err.to_string().contains("team member 1 has no name"), "{err}");
    let err = Team::new(leader("lead")).build().unwrap_err();
    assert!(err.to_string().contains("no members"), "{err}");
}
