//! The run loop end to end on the scripted model: concurrency, ordering, events, limits, the
//! blocking API.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

mod support;

use fanout::RunStatus;
use fanout::models::Message;
use fanout::models::scripted::{Pacing, ScriptedModel, Turn};
use fanout::prelude::*;
use fanout::tool::FunctionTool;
use futures::StreamExt;
use serde_json::json;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Delay {
    delay: u64,
}

/// An async task sleeping `delay` seconds on tokio's clock, like the seed's `atask*`.
fn atask(n: u32) -> FunctionTool<Delay> {
    FunctionTool::new(format!("atask{n}"), "Simulate a task", move |args: Delay| async move {
        tokio::time::sleep(Duration::from_secs(args.delay)).await;
        Ok(format!("Task {n} completed in {:.2}s", args.delay as f64))
    })
}

fn seed_agent(model: ScriptedModel) -> Agent {
    Agent::builder().model(model).tool(atask(2)).tool(atask(1)).tool(atask(3)).markdown(true).build().unwrap()
}

#[tokio::test(start_paused = true)]
async fn seed_flow_runs_the_three_tools_at_once() {
    let model = ScriptedModel::new([Turn::call_every_tool(json!({"delay": 3})), Turn::summarize_results()]);
    let agent = seed_agent(model.clone());
    let start = tokio::time::Instant::now();
    let output = agent.run("Please run all tasks with a delay of 3s").await.unwrap();

    // Three 3 s tools overlapped: the run took 3 s on the logical clock, not 9 s.
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    assert_eq!(output.status, RunStatus::Completed);
    assert_eq!(
        output.content,
        "All tasks have finished.\n\n| # | result |\n|---|---|\n| 1 | Task 1 completed in 3.00s |\n\
         | 2 | Task 2 completed in 3.00s |\n| 3 | Task 3 completed in 3.00s |\n\nDone."
    );
    let names: Vec<_> = output.tool_executions.iter().map(|e| e.call.name.as_str()).collect();
    assert_eq!(names, ["atask2", "atask1", "atask3"]);

    // The second request carries the assistant's calls and the results in call order.
    let requests = model.requests();
    assert_eq!(requests.len(), 2);
    let second = &requests[1].messages;
    assert!(matches!(&second[0], Message::System { content } if content.contains("Use markdown")));
    let Message::Assistant { tool_calls, .. } = &second[2] else {
        panic!("expected assistant turn: {second:?}")
    };
    let results: Vec<_> = second[3..]
        .iter()
        .map(|m| match m {
            Message::Tool { call_id, content, .. } => (call_id.clone(), content.clone()),
            other => panic!("expected a tool result, got {other:?}"),
        })
        .collect();
    assert_eq!(results.len(), 3);
    for (call, (id, content)) in tool_calls.iter().zip(&results) {
        assert_eq!(&call.id, id);
        assert!(content.starts_with(&format!("Task {} completed", &call.name[5..])));
    }
    assert_eq!(output.metrics.turns.len(), 2);
    assert!(output.metrics.usage.total_tokens > 0);
}

#[tokio::test(start_paused = true)]
async fn run_stream_reports_each_call_as_it_completes() {
    let model = ScriptedModel::new([
        Turn::calls([
            ("atask1", json!({"delay": 3})),
            ("atask2", json!({"delay": 1})),
            ("atask3", json!({"delay": 2})),
        ]),
        Turn::text("done"),
    ]);
    let agent = seed_agent(model);
    let events: Vec<EventKind> =
        agent.run("go").stream().map(|e| e.map(|e| e.kind)).map(|e| e.unwrap()).collect().await;

    assert!(matches!(events.first(), Some(EventKind::RunStarted { .. })));
    let completed: Vec<(usize, String)> = events
        .iter()
        .filter_map(|e| match e {
            EventKind::ToolCallCompleted { index, execution, .. } => {
                Some((*index, execution.call.name.clone()))
            }
            _ => None,
        })
        .collect();
    // Reported in completion order (1 s, 2 s, 3 s), with their position in the model's turn.
    assert_eq!(completed, [(1, "atask2".into()), (2, "atask3".into()), (0, "atask1".into())]);
    let started = events.iter().filter(|e| matches!(e, EventKind::ToolCallStarted { .. })).count();
    assert_eq!(started, 3);
    let Some(EventKind::RunCompleted(output)) = events.last() else {
        panic!("last event: {:?}", events.last())
    };
    assert_eq!(output.content, "done");
    // ... while the output keeps the model's order.
    let names: Vec<_> = output.tool_executions.iter().map(|e| e.call.name.as_str()).collect();
    assert_eq!(names, ["atask1", "atask2", "atask3"]);
}

#[tokio::test(start_paused = true)]
async fn eager_start_begins_a_call_before_the_turn_ends() {
    // Each call's arguments take 2 fragments × 500 ms to stream.
    let model =
        ScriptedModel::new([Turn::call_every_tool(json!({"delay": 1})), Turn::text("ok")]).with_pacing(
            Pacing { fragment_chars: 6, fragment_delay: Duration::from_millis(500), ..Pacing::default() },
        );
    let agent = seed_agent(model.clone());
    let events: Vec<EventKind> =
        agent.run("go").stream().map(|e| e.map(|e| e.kind)).map(|e| e.unwrap()).collect().await;
    let first_start = events.iter().position(|e| matches!(e, EventKind::ToolCallStarted { .. })).unwrap();
    let turn_end = events.iter().position(|e| matches!(e, EventKind::ModelTurnCompleted { .. })).unwrap();
    assert!(first_start < turn_end, "the first call should start while the model still streams: {events:#?}");
    let EventKind::ToolCallStarted { at, .. } = &events[first_start] else { unreachable!() };
    assert_eq!(*at, Duration::from_secs(1));

    // Off: nothing starts before the turn is over.
    let lazy = Agent::builder().model(model).tool(atask(1)).eager_start(false).build().unwrap();
    let events: Vec<EventKind> =
        lazy.run("go").stream().map(|e| e.map(|e| e.kind)).map(|e| e.unwrap()).collect().await;
    let first_start = events.iter().position(|e| matches!(e, EventKind::ToolCallStarted { .. })).unwrap();
    let turn_end = events.iter().position(|e| matches!(e, EventKind::ModelTurnCompleted { .. })).unwrap();
    assert!(turn_end < first_start);
}

#[tokio::test(start_paused = true)]
async fn tool_call_limit_ends_the_run() {
    let calls = AtomicUsize::new(0);
    let calls = Arc::new(calls);
    let counter = Arc::clone(&calls);
    let tick = FunctionTool::new("tick", "Count", move |_: serde_json::Value| {
        let counter = Arc::clone(&counter);
        async move { Ok(counter.fetch_add(1, Ordering::SeqCst).to_string()) }
    });
    // A model that would call `tick` twice per turn forever.
    let model = ScriptedModel::new(vec![Turn::calls([("tick", json!({})), ("tick", json!({}))]); 50]);
    let agent = Agent::builder().model(model.clone()).tool(tick).tool_call_limit(5).build().unwrap();
    let output = agent.run("go").await.unwrap();

    assert_eq!(output.status, RunStatus::ToolCallLimitReached { limit: 5 });
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    assert_eq!(model.requests().len(), 3, "no model turn after the limit");
    assert_eq!(output.tool_executions.len(), 6, "the over-limit call is reported, not dropped");
    assert_eq!(
        output.tool_executions[5].content_for_model(),
        "Error: not run: the run's limit of 5 tool calls was reached"
    );
}

#[tokio::test(start_paused = true)]
async fn max_turns_is_a_hard_cap() {
    let model = ScriptedModel::new(vec![Turn::call_every_tool(json!({"delay": 0})); 50]);
    let agent = Agent::builder().model(model.clone()).tool(atask(1)).max_turns(4).build().unwrap();
    let output = agent.run("go").await.unwrap();
    assert_eq!(output.status, RunStatus::MaxTurnsReached { limit: 4 });
    assert_eq!(model.requests().len(), 4);
    assert_eq!(output.tool_executions.len(), 4);
}

#[tokio::test(start_paused = true)]
async fn stop_after_tool_call_ends_after_the_batch() {
    let model = ScriptedModel::new([
        Turn::calls([("atask1", json!({"delay": 1})), ("atask2", json!({"delay": 2}))]),
        Turn::text("never"),
    ]);
    let agent = Agent::builder()
        .model(model.clone())
        .tool(atask(1).stop_after_tool_call())
        .tool(atask(2))
        .build()
        .unwrap();
    let output = agent.run("go").await.unwrap();
    assert_eq!(output.status, RunStatus::StoppedAfterToolCall);
    assert_eq!(output.tool_executions.len(), 2, "the whole batch completes");
    assert!(output.tool_executions.iter().all(|e| e.result.is_ok()));
    assert_eq!(model.requests().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn failures_become_results_and_the_run_goes_on() {
    let model = ScriptedModel::new([
        Turn::calls([
            ("atask1", json!({"delay": 1})),
            ("nope", json!({})),
            ("atask2", json!({"delay": "soon"})),
            ("atask3", json!({})),
        ]),
        Turn::text("recovered"),
    ])
    .allow_unknown_tools();
    let output = seed_agent(model.clone()).run("go").await.unwrap();
    assert_eq!(output.content, "recovered");
    let texts: Vec<String> = output.tool_executions.iter().map(|e| e.content_for_model()).collect();
    assert_eq!(texts[0], "Task 1 completed in 1.00s");
    assert_eq!(texts[1], "Error: unknown tool `nope`; the available tools are: atask2, atask1, atask3");
    assert_eq!(texts[2], r#"Error: invalid arguments: `delay`: invalid type: string "soon", expected u64"#);
    assert_eq!(texts[3], "Error: invalid arguments: missing field `delay`");
    // The model saw every one of them.
    assert_eq!(model.requests()[1].messages.iter().filter(|m| matches!(m, Message::Tool { .. })).count(), 4);
}

#[tokio::test(start_paused = true)]
async fn one_agent_serves_concurrent_runs() {
    fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync::<Agent>();

    let model = ScriptedModel::new([Turn::call_every_tool(json!({"delay": 2})), Turn::summarize_results()]);
    let agent = seed_agent(model);
    let start = tokio::time::Instant::now();
    let runs = (0..20).map(|i| {
        let agent = agent.clone();
        tokio::spawn(async move { agent.run(format!("run {i}")).await })
    });
    for run in futures::future::join_all(runs).await {
        assert_eq!(run.unwrap().unwrap().tool_executions.len(), 3);
    }
    assert_eq!(start.elapsed(), Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn dropping_the_stream_cancels_the_run() {
    let finished = Arc::new(AtomicUsize::new(0));
    let flag = Arc::clone(&finished);
    let slow = FunctionTool::new("slow", "Takes a minute", move |_: serde_json::Value| {
        let flag = Arc::clone(&flag);
        async move {
            tokio::time::sleep(Duration::from_secs(60)).await;
            flag.fetch_add(1, Ordering::SeqCst);
            Ok("done".to_owned())
        }
    });
    let model = ScriptedModel::new([Turn::call("slow", json!({})), Turn::text("late")]);
    let agent = Agent::builder().model(model).tool(slow).build().unwrap();
    let mut events = agent.run("go").stream().map(|e| e.map(|e| e.kind));
    while let Some(event) = events.next().await {
        if matches!(event.unwrap(), EventKind::ToolCallStarted { .. }) {
            break;
        }
    }
    drop(events);
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(finished.load(Ordering::SeqCst), 0, "the tool was aborted with the run");
}

#[test]
fn blocking_api_runs_sync_tools_concurrently() {
    // Three calls that can only finish once all three are running at the same time.
    let meeting = support::Rendezvous::new(3);
    let meet = move |n: u32| {
        let meeting = meeting.clone();
        FunctionTool::blocking(format!("task{n}"), "Meet the others", move |_: Delay| {
            meeting.meet().map(|()| format!("Task {n} completed")).map_err(ToolError::Failed)
        })
    };
    let model = ScriptedModel::new([Turn::call_every_tool(json!({"delay": 1})), Turn::summarize_results()]);
    let agent = Agent::builder().model(model).tool(meet(1)).tool(meet(2)).tool(meet(3)).build().unwrap();
    let output = agent.run("go").blocking().unwrap();
    assert_eq!(output.tool_executions.len(), 3);
    assert!(
        output.tool_executions.iter().all(|e| e.result.is_ok()),
        "{:?}",
        output.tool_executions[0].result
    );
}

#[tokio::test]
async fn blocking_api_inside_a_runtime_is_a_clear_error() {
    let agent = Agent::builder().model(ScriptedModel::new([Turn::text("x")])).build().unwrap();
    let err = agent.run("go").blocking().unwrap_err();
    assert!(err.to_string().contains("inside an async runtime"), "{err}");
}

#[test]
fn builder_errors() {
    assert!(Agent::builder().build().is_err_and(|e| e.is_config() && e.to_string().contains("no model")));
    let err =
        Agent::builder().model(ScriptedModel::new([])).tool(atask(1)).tool(atask(1)).build().unwrap_err();
    assert_eq!(
        err.to_string(),
        "configuration: two tools are named `atask1`: tool names must be unique within an agent"
    );
}

#[tokio::test(start_paused = true)]
async fn confirmation_pauses_only_the_calls_that_need_it() {
    let model = ScriptedModel::new([
        Turn::calls([
            ("atask1", json!({"delay": 1})),
            ("atask2", json!({"delay": 2})),
            ("atask3", json!({"delay": 5})),
        ]),
        Turn::summarize_results(),
    ]);
    let agent = Agent::builder()
        .model(model.clone())
        .tool(atask(1))
        .tool(atask(2).requires_confirmation())
        .tool(atask(3).requires_confirmation())
        .build()
        .unwrap();
    let start = tokio::time::Instant::now();
    let paused = agent.run("go").await.unwrap();
    // The call that needs no confirmation ran at once; the run paused after it, not before.
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    let pending: Vec<_> = paused.pending_calls().iter().map(|c| c.name.as_str()).collect();
    assert_eq!(pending, ["atask2", "atask3"]);
    assert_eq!(model.requests().len(), 1);

    let ids: Vec<String> = paused.pending_calls().iter().map(|c| c.id.clone()).collect();
    let decisions = [
        (ids[0].clone(), fanout::agent::Decision::Approve),
        (ids[1].clone(), fanout::agent::Decision::Reject(Some("too slow".into()))),
    ];
    let state = paused.take_paused().expect("paused");
    assert!(paused.clone().take_paused().is_none(), "a clone of the output cannot continue it again");
    let output = agent.continue_run(state, decisions).await.unwrap();
    assert_eq!(output.status, RunStatus::Completed);
    let texts: Vec<String> = output.tool_executions.iter().map(|e| e.content_for_model()).collect();
    assert_eq!(
        texts,
        [
            "Task 1 completed in 1.00s",
            "Task 2 completed in 2.00s",
            "Error: the user rejected this call: too slow"
        ]
    );
    // The model got all three results, in call order, in one turn.
    let last = model.requests().pop().unwrap();
    let results: Vec<_> = last.messages.iter().filter(|m| matches!(m, Message::Tool { .. })).collect();
    assert_eq!(results.len(), 3);
    assert!(output.content.contains("Task 2 completed in 2.00s"));
}

#[tokio::test(start_paused = true)]
async fn hooks_rewrite_arguments_and_results_inside_the_calls_task() {
    use fanout::tool::{PostHook, PreHook};
    let model = ScriptedModel::new([
        Turn::calls([
            ("atask1", json!({"delay": 99})),
            ("atask2", json!({"delay": 2})),
            ("atask3", json!({"delay": 2})),
        ]),
        Turn::text("ok"),
    ]);
    // Agent-wide: cap every delay at 2 s. Tool-level: refuse atask3 outright.
    let cap = PreHook::new(|_call, mut args: serde_json::Value| async move {
        tokio::time::sleep(Duration::from_secs(1)).await; // hooks run concurrently too
        if args["delay"].as_u64().is_some_and(|d| d > 2) {
            args["delay"] = 2.into();
        }
        Ok(args)
    });
    let refuse =
        PreHook::new(
            |call, _args| async move { Err(ToolError::failed(format!("{} is disabled", call.name))) },
        );
    let shout =
        PostHook::new(
            |_call, result: fanout::tool::ToolResult| async move { result.map(|r| r.to_uppercase()) },
        );
    let agent = Agent::builder()
        .model(model)
        .tool(atask(1))
        .tool(atask(2).post_hook(shout))
        .tool(atask(3).pre_hook(refuse))
        .pre_hook(cap)
        .build()
        .unwrap();
    let start = tokio::time::Instant::now();
    let output = agent.run("go").await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(3), "1 s of hooks + 2 s of tools, all overlapped");
    let texts: Vec<String> = output.tool_executions.iter().map(|e| e.content_for_model()).collect();
    assert_eq!(
        texts,
        ["Task 1 completed in 2.00s", "TASK 2 COMPLETED IN 2.00S", "Error: atask3 is disabled"]
    );
}

#[tokio::test(start_paused = true)]
async fn cached_results_are_reused_and_identical_calls_run_once() {
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&runs);
    let lookup = FunctionTool::new("lookup", "Look a key up", move |args: serde_json::Value| {
        let counter = Arc::clone(&counter);
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok(format!("value of {}", args["key"]))
        }
    });
    let model = ScriptedModel::new([
        Turn::calls([
            ("lookup", json!({"key": "a"})),
            ("lookup", json!({"key": "a"})),
            ("lookup", json!({"key": "b"})),
        ]),
        Turn::calls([("lookup", json!({"key": "a"}))]),
        Turn::text("ok"),
    ]);
    let agent =
        Agent::builder().model(model).tool(lookup.cache_ttl(Duration::from_secs(60))).build().unwrap();
    let output = agent.run("go").await.unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 2, "a and b ran once each; the rest came from the cache");
    let texts: Vec<String> = output.tool_executions.iter().map(|e| e.content_for_model()).collect();
    assert_eq!(texts, [r#"value of "a""#, r#"value of "a""#, r#"value of "b""#, r#"value of "a""#]);

    // After the time-to-live the call runs again.
    tokio::time::sleep(Duration::from_secs(61)).await;
    agent.run("again").await.unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 4);
}

#[tokio::test(start_paused = true)]
async fn cancelling_returns_promptly_and_the_agent_stays_usable() {
    use tokio_util::sync::CancellationToken;
    let model = ScriptedModel::new([Turn::call_every_tool(json!({"delay": 60})), Turn::text("late")]);
    let agent = Agent::builder().model(model.clone()).tool(atask(1)).tool(atask(2)).build().unwrap();
    // Twice with the same agent: a cancelled run leaves nothing behind that blocks the next.
    for round in 1..=2 {
        let token = CancellationToken::new();
        let canceller = token.clone();
        let start = tokio::time::Instant::now();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            canceller.cancel();
        });
        let outcome = agent.run("go").cancel_on(token.clone()).await;
        assert!(outcome.as_ref().is_err_and(Error::is_cancelled), "round {round}");
        // On the logical clock: back at the moment of the cancel, not a tick later.
        assert_eq!(start.elapsed(), Duration::from_millis(50), "round {round}");
        assert_eq!(model.requests().len(), round, "round {round} reached the model");
    }
}

/// A remote cache (here: one that takes 5 s to answer) is asked inside the call's own task: the
/// other calls of the batch do not wait for it.
#[tokio::test(start_paused = true)]
async fn a_slow_async_cache_never_holds_up_other_calls() {
    #[derive(Debug)]
    struct SlowCache;
    impl fanout::tool::ToolCache for SlowCache {
        fn get<'a>(
            &'a self,
            _: &'a fanout::tool::CacheKey,
        ) -> futures::future::BoxFuture<'a, Option<String>> {
            Box::pin(async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Some("from the remote cache".to_owned())
            })
        }
        fn put(
            &self,
            _: fanout::tool::CacheKey,
            _: String,
            _: Duration,
        ) -> futures::future::BoxFuture<'_, ()> {
            Box::pin(async {})
        }
    }
    let lookup =
        FunctionTool::new("lookup", "Look up", |_: serde_json::Value| async { Ok("ran".to_owned()) });
    let model = ScriptedModel::new([
        Turn::calls([("lookup", json!({"key": "a"})), ("atask1", json!({"delay": 1}))]),
        Turn::text("ok"),
    ]);
    let agent = Agent::builder()
        .model(model)
        .tool(lookup.cache_ttl(Duration::from_secs(60)))
        .tool(atask(1))
        .tool_cache(Arc::new(SlowCache))
        .build()
        .unwrap();
    let start = tokio::time::Instant::now();
    let mut events = Box::pin(agent.run("go").stream().map(|e| e.map(|e| e.kind)));
    let mut ends = Vec::new();
    while let Some(event) = events.next().await {
        if let EventKind::ToolCallCompleted { execution, .. } = event.unwrap() {
            ends.push((execution.call.name.clone(), start.elapsed(), execution.content_for_model()));
        }
    }
    assert_eq!(
        ends[0],
        ("atask1".to_owned(), Duration::from_secs(1), "Task 1 completed in 1.00s".to_owned())
    );
    assert_eq!(ends[1], ("lookup".to_owned(), Duration::from_secs(5), "from the remote cache".to_owned()));
}
