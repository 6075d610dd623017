//! Durable runs in one process, on `MemoryStore`: each result is stored the moment its call
//! completes (while its siblings still run), a run whose task stopped mid-batch is interrupted
//! once its lease lapses and resumes with the finished calls restored, a live run is not taken
//! over, and the calls of a stored run have idempotency keys. The crash of a real process is in
//! `crates/fanout-sql/tests/durable.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fanout::models::Message;
use fanout::models::scripted::{ScriptedModel, Turn};
use fanout::prelude::*;
use fanout::store::{MemoryStore, RunState, SessionStore};
use futures::StreamExt;
use serde_json::json;
use tokio::sync::Notify;

static GATE: std::sync::LazyLock<Arc<Notify>> = std::sync::LazyLock::new(|| Arc::new(Notify::new()));
static SLOW_RUNS: AtomicUsize = AtomicUsize::new(0);

/// Return at once, with the call's idempotency key
#[tool]
async fn quick() -> String {
    format!("quick key={}", fanout::tool::idempotency_key().unwrap_or_default())
}

/// Wait for the test's gate
#[tool]
async fn gated() -> String {
    SLOW_RUNS.fetch_add(1, Ordering::SeqCst);
    GATE.notified().await;
    "gated done".into()
}

fn agent(store: MemoryStore) -> Agent {
    let model = ScriptedModel::new([
        Turn::calls([("quick", json!({})), ("gated", json!({}))]),
        Turn::summarize_results(),
    ]);
    Agent::builder()
        .model(model)
        .tool(quick)
        .tool(gated)
        .store(store)
        .run_lease(Duration::from_millis(100))
        .build()
        .unwrap()
}

async fn until<F: AsyncFnMut() -> bool>(what: &str, mut ready: F) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// One test, in order: the gate and the counter are shared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_stored_as_calls_complete_then_an_interrupted_run_resumes() {
    let store = MemoryStore::new();
    let agent = agent(store.clone());

    // A run whose second call waits: the first call's result is stored before the batch ends.
    let mut events = agent.run("Go").session("s1").run_id("r1").stream();
    let pump = tokio::spawn(async move { while events.next().await.is_some() {} });
    until("the quick result is stored while its sibling runs", async || {
        let run = store.run("r1").await.unwrap();
        run.is_some_and(|run| run.messages.len() == 3)
    })
    .await;
    let run = store.run("r1").await.unwrap().unwrap();
    let Message::Assistant { tool_calls, .. } = &run.messages[1] else { panic!("{:?}", run.messages) };
    let Message::Tool { call_id, content, .. } = &run.messages[2] else { panic!("{:?}", run.messages) };
    assert_eq!(call_id, &tool_calls[0].id);
    assert_eq!(content, &format!("quick key=r1/{}", tool_calls[0].id), "the key is run id / call id");
    assert_eq!(SLOW_RUNS.load(Ordering::SeqCst), 1);

    // Live (its lease renewed): not interrupted, not resumable elsewhere.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(store.interrupted_runs("s1").await.unwrap().is_empty());
    let err = agent.resume("r1").await.unwrap_err();
    assert!(err.to_string().contains("going on elsewhere"), "{err}");

    // The run's task stops mid-batch (as a process that dies): nothing more is stored.
    pump.abort();
    let _ = pump.await;
    until("the run is interrupted", async || store.interrupted_runs("s1").await.unwrap() == ["r1"]).await;
    assert_eq!(store.run("r1").await.unwrap().unwrap().state, RunState::Running);

    // Resumed: the quick call is restored, the gated one runs again.
    let gate = Arc::clone(&GATE);
    let opener = tokio::spawn(async move {
        until("the gated call runs again", async || SLOW_RUNS.load(Ordering::SeqCst) == 2).await;
        gate.notify_one();
    });
    let mut events = agent.resume("r1").stream();
    let (mut restored, mut started, mut output) = (Vec::new(), Vec::new(), None);
    while let Some(event) = events.next().await {
        match event.unwrap().kind {
            EventKind::ToolCallRestored { index, .. } => restored.push(index),
            EventKind::ToolCallStarted { index, .. } => started.push(index),
            EventKind::RunCompleted(done) => output = Some(done),
            _ => {}
        }
    }
    opener.await.unwrap();
    assert_eq!((restored, started), (vec![0], vec![1]));
    let output = output.unwrap();
    assert!(
        output.content.contains("quick key=r1/") && output.content.contains("gated done"),
        "{}",
        output.content
    );
    assert_eq!(output.session_id.as_deref(), Some("s1"));
    let run = store.run("r1").await.unwrap().unwrap();
    assert_eq!(run.state, RunState::Completed);
    assert_eq!(run.messages.len(), 5);
    assert_eq!(fanout::history::repair(run.messages.clone()), run.messages);
    assert!(store.interrupted_runs("s1").await.unwrap().is_empty());

    // Ended runs are not resumed.
    let err = agent.resume("r1").await.unwrap_err();
    assert!(err.to_string().contains("has ended"), "{err}");
    assert!(agent.resume("nope").await.unwrap_err().to_string().contains("no run"));
}

#[tokio::test]
async fn without_a_store_no_key_and_no_resume() {
    let model = ScriptedModel::new([Turn::call("quick", json!({})), Turn::summarize_results()]);
    let agent = Agent::builder().model(model).tool(quick).build().unwrap();
    let output = agent.run("Go").await.unwrap();
    assert_eq!(output.tool_executions[0].result.as_deref(), Ok("quick key="));
    let err = agent.resume("r1").await.unwrap_err();
    assert!(err.to_string().contains("needs a store"), "{err}");
}
