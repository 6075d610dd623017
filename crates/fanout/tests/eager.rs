//! Eager tool start against a slowly streaming OpenAI-compatible server, and what happens to
//! calls already started when the stream then breaks.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use fanout::models::openai::OpenAIChat;
use fanout::prelude::*;
use fanout::tool::FunctionTool;
use fanout_testserver::{Reply, Script, Server};
use futures::StreamExt;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Delay {
    delay: f64,
}

struct Counters {
    started: AtomicUsize,
    finished: AtomicUsize,
}

fn counted(name: &str, counters: &Arc<Counters>) -> FunctionTool<Delay> {
    let counters = Arc::clone(counters);
    FunctionTool::new(name, "Sleeps", move |a: Delay| {
        let counters = Arc::clone(&counters);
        async move {
            counters.started.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs_f64(a.delay)).await;
            counters.finished.fetch_add(1, Ordering::SeqCst);
            Ok("done".to_owned())
        }
    })
}

fn agent(server: &Server, counters: &Arc<Counters>, eager: bool) -> Agent {
    Agent::builder()
        .model(OpenAIChat::new("gpt-5-mini").api_key("sk-test").base_url(server.url()))
        .tool(counted("a", counters))
        .tool(counted("b", counters))
        .tool(counted("c", counters))
        .eager_start(eager)
        .build()
        .unwrap()
}

fn counters() -> Arc<Counters> {
    Arc::new(Counters { started: AtomicUsize::new(0), finished: AtomicUsize::new(0) })
}

#[tokio::test(flavor = "multi_thread")]
async fn first_call_starts_while_the_model_still_streams() {
    for eager in [true, false] {
        let server = Server::start(Script::CallAllTools {
            arguments: r#"{"delay": 0.2}"#.into(),
            per_tool: Vec::new(),
            // A slowly streaming model: 100 ms per 4-character argument fragment.
            shape: fanout_testserver::Shape {
                fragment_chars: 4,
                fragment_delay: Duration::from_millis(100),
                ..Default::default()
            },
        })
        .await
        .unwrap();
        let events: Vec<EventKind> = agent(&server, &counters(), eager)
            .run("go")
            .stream()
            .map(|e| e.map(|e| e.kind))
            .map(|e| e.unwrap())
            .collect()
            .await;
        let first_start = events.iter().position(|e| matches!(e, EventKind::ToolCallStarted { .. })).unwrap();
        let turn_end = events.iter().position(|e| matches!(e, EventKind::ModelTurnCompleted { .. })).unwrap();
        assert_eq!(first_start < turn_end, eager, "eager = {eager}: {events:#?}");
        let requests = server.requests();
        assert_eq!(requests.len(), 2);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_stream_cancels_started_calls_and_the_retry_runs_each_once() {
    let calls = [("a", r#"{"delay": 0.5}"#), ("b", r#"{"delay": 0.5}"#)];
    let server = Server::start(Script::sequence([
        // Call `a` completes (and starts eagerly) when its arguments close; then the connection
        // drops while `b` streams.
        Reply::tool_calls(calls).shaped(|s| {
            s.chunk_delay = Duration::from_millis(50);
            s.cut_after = Some(3);
        }),
        Reply::tool_calls(calls),
        Reply::text("both done"),
    ]))
    .await
    .unwrap();
    let counters = counters();
    let output = agent(&server, &counters, true)
        .run("go")
        .stream()
        .map(|e| e.map(|e| e.kind))
        .collect::<Vec<_>>()
        .await;
    let Some(Ok(EventKind::RunCompleted(output))) = output.last() else { panic!("{output:?}") };
    assert_eq!(output.content, "both done");
    assert_eq!(server.requests().len(), 3, "the broken turn was requested again");
    assert_eq!(
        counters.started.load(Ordering::SeqCst),
        3,
        "`a` started in the broken turn, then both in the retry"
    );
    assert_eq!(
        counters.finished.load(Ordering::SeqCst),
        2,
        "the first `a` was cancelled: nothing ran twice to its end"
    );
    assert_eq!(output.tool_executions.len(), 2);
}
