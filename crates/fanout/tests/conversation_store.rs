//! Conversations through a session store: a run continues its session's completed runs, is
//! stored whole and in order as it goes, concurrent runs on one session lose nothing, a store
//! that fails is a typed error that keeps the answer, and runs are plain data (JSON both ways).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use fanout::agent::Decision;
use fanout::models::Message;
use fanout::models::scripted::{ScriptedModel, Turn};
use fanout::prelude::*;
use fanout::store::{
    MemoryStore, Page, RunRecord, RunState, SessionInfo, SessionQuery, SessionStore, StoreFuture,
    StoredMessage, StoredRun,
};
use fanout::{PausedRun, RunOutput};
use futures::StreamExt;
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// Run a task
///
/// # Arguments
/// * `n` - Which task
#[tool]
async fn task(n: u64) -> String {
    tokio::time::sleep(Duration::from_millis(10 * n)).await;
    format!("task {n} done")
}

/// Delete a file
#[tool(requires_confirmation)]
fn delete(path: String) -> String {
    format!("deleted {path}")
}

fn batch_model() -> ScriptedModel {
    ScriptedModel::new([
        Turn::ToolCalls(vec![
            ("task".into(), json!({"n": 3})),
            ("task".into(), json!({"n": 1})),
            ("task".into(), json!({"n": 2})),
        ]),
        Turn::text("All three done."),
    ])
}

fn agent(model: ScriptedModel, store: impl SessionStore) -> Agent {
    Agent::builder().name("seed").model(model).tool(task).tool(delete).store(store).build().unwrap()
}

#[tokio::test]
async fn a_session_continues_its_completed_runs_and_each_run_is_stored_whole() {
    let store = MemoryStore::new();
    let model = batch_model();
    let agent = agent(model.clone(), store.clone());

    let first = agent.run("Run the tasks").session("s1").user("ada").await.unwrap();
    assert_eq!(first.session_id.as_deref(), Some("s1"));
    assert_eq!(first.new_messages().len(), 6, "user, calls, three results, answer");
    let second = agent.run("Again").session("s1").user("ada").await.unwrap();
    assert_ne!(first.run_id, second.run_id);

    // The second run's first request carried the first run's six messages, then its input.
    let requests = model.requests();
    let sent = &requests[2].messages;
    assert_eq!(sent.len(), 7);
    assert_eq!(&sent[..6], first.new_messages());
    assert_eq!(sent[6], Message::user("Again"));
    assert_eq!(second.all_messages().len(), 12);
    assert_eq!(second.new_messages()[0], Message::user("Again"));

    let runs = store.runs("s1").await.unwrap();
    assert_eq!(runs.len(), 2);
    for (stored, output) in runs.iter().zip([&first, &second]) {
        assert_eq!(stored.record.run_id, output.run_id);
        assert_eq!(stored.record.user_id.as_deref(), Some("ada"));
        assert_eq!(stored.record.agent_id.as_deref(), Some("seed"));
        assert_eq!(stored.state, RunState::Completed);
        assert_eq!(stored.messages, output.new_messages());
        assert_eq!(stored.data.as_ref().unwrap()["content"], "All three done.");
    }
    let session = store.session("s1").await.unwrap().unwrap();
    assert_eq!((session.runs, session.user_id.as_deref()), (2, Some("ada")));
}

#[tokio::test]
async fn a_run_without_a_session_gets_a_new_one_and_history_limits_apply() {
    let store = MemoryStore::new();
    let model = ScriptedModel::new([Turn::text("ok")]);
    let agent = Agent::builder().model(model.clone()).store(store.clone()).history_runs(2).build().unwrap();
    let first = agent.run("one").await.unwrap();
    let session = first.session_id.clone().expect("a new session");
    assert!(store.session(&session).await.unwrap().is_some());
    for input in ["two", "three", "four"] {
        agent.run(input).session(session.clone()).await.unwrap();
    }
    let last = model.requests().pop().unwrap();
    let users: Vec<&Message> = last.messages.iter().filter(|m| matches!(m, Message::User { .. })).collect();
    assert_eq!(users, [&Message::user("two"), &Message::user("three"), &Message::user("four")]);
}

#[tokio::test]
async fn an_ephemeral_run_reads_and_writes_nothing_of_its_session() {
    let store = MemoryStore::new();
    let model = ScriptedModel::new([Turn::text("one"), Turn::text("two")]);
    let agent = Agent::builder().model(model.clone()).store(store.clone()).build().unwrap();
    agent.run("first").session("s1").await.unwrap();
    let history = [Message::user("kept by the caller"), Message::assistant(Some("yes".into()), Vec::new())];
    let output = agent.run("second").session("s1").history(history.clone()).ephemeral().await.unwrap();
    assert_eq!(output.session_id.as_deref(), Some("s1"), "the id still labels the run");
    assert!(store.run(&output.run_id).await.unwrap().is_none(), "not stored");
    assert_eq!(store.runs("s1").await.unwrap().len(), 1);
    // Its request held the caller's history only, not the stored first run.
    let sent = &model.requests()[1].messages;
    assert_eq!(sent.len(), 3);
    assert_eq!(&sent[..2], &history);
}

#[tokio::test]
async fn a_hundred_concurrent_runs_on_one_session_are_all_stored_whole_and_in_order() {
    let store = MemoryStore::new();
    let agent = agent(batch_model(), store.clone());
    let runs = futures::future::join_all(
        (0..100).map(|i| agent.run(format!("run {i}")).session("busy").into_future()),
    )
    .await;
    let outputs: Vec<RunOutput> = runs.into_iter().map(Result::unwrap).collect();
    let stored = store.runs("busy").await.unwrap();
    assert_eq!(stored.len(), 100);
    for output in &outputs {
        let run = stored.iter().find(|r| r.record.run_id == output.run_id).expect("stored");
        assert_eq!(run.state, RunState::Completed);
        assert_eq!(run.messages, output.new_messages(), "whole, in order, not interleaved");
    }
    assert_eq!(store.history("busy", None).await.unwrap().len(), 100);
}

#[tokio::test]
async fn history_is_repaired_before_the_first_request() {
    let model = ScriptedModel::new([Turn::text("ok")]);
    let agent = Agent::builder().model(model.clone()).build().unwrap();
    let broken = vec![
        Message::user("run a and b"),
        Message::assistant(
            None,
            vec![
                fanout::tool::ToolCall::new("a", "task", "{}"),
                fanout::tool::ToolCall::new("b", "task", "{}"),
            ],
        ),
        Message::tool_result("b", "task", "b done", false),
        Message::tool_result("ghost", "task", "?", false),
    ];
    agent.run("and now?").history(broken).await.unwrap();
    let sent = &model.requests()[0].messages;
    assert_eq!(sent.len(), 5, "{sent:#?}");
    assert!(matches!(&sent[2], Message::Tool { call_id, is_error: true, .. } if call_id == "a"));
    assert!(
        matches!(&sent[3], Message::Tool { call_id, content, .. } if call_id == "b" && content == "b done")
    );
    assert_eq!(sent[4], Message::user("and now?"));
}

/// A store that fails on demand: `begin_run`, or `append_messages` the first `n` times.
#[derive(Debug, Clone, Default)]
struct Flaky {
    inner: MemoryStore,
    refuse_begin: bool,
    append_failures: Arc<AtomicUsize>,
}

fn down<'a, T: Send + 'a>() -> StoreFuture<'a, T> {
    Box::pin(async { Err(fanout::Error::storage("database is down")) })
}

impl SessionStore for Flaky {
    fn begin_run<'a>(&'a self, run: &'a RunRecord) -> StoreFuture<'a, ()> {
        if self.refuse_begin { down() } else { self.inner.begin_run(run) }
    }
    fn append_messages<'a>(&'a self, run_id: &'a str, messages: &'a [StoredMessage]) -> StoreFuture<'a, ()> {
        let left = self.append_failures.load(Ordering::SeqCst);
        if left > 0 {
            self.append_failures.store(left - 1, Ordering::SeqCst);
            return down();
        }
        self.inner.append_messages(run_id, messages)
    }
    fn set_state<'a>(
        &'a self,
        run_id: &'a str,
        state: RunState,
        data: Option<&'a serde_json::Value>,
    ) -> StoreFuture<'a, ()> {
        self.inner.set_state(run_id, state, data)
    }
    fn history<'a>(&'a self, session_id: &'a str, runs: Option<usize>) -> StoreFuture<'a, Vec<StoredRun>> {
        self.inner.history(session_id, runs)
    }
    fn run<'a>(&'a self, run_id: &'a str) -> StoreFuture<'a, Option<StoredRun>> {
        self.inner.run(run_id)
    }
    fn runs<'a>(&'a self, session_id: &'a str) -> StoreFuture<'a, Vec<StoredRun>> {
        self.inner.runs(session_id)
    }
    fn session<'a>(&'a self, session_id: &'a str) -> StoreFuture<'a, Option<SessionInfo>> {
        self.inner.session(session_id)
    }
    fn sessions<'a>(&'a self, query: &'a SessionQuery) -> StoreFuture<'a, Page<SessionInfo>> {
        self.inner.sessions(query)
    }
    fn rename_session<'a>(&'a self, session_id: &'a str, name: &'a str) -> StoreFuture<'a, bool> {
        self.inner.rename_session(session_id, name)
    }
    fn delete_session<'a>(&'a self, session_id: &'a str) -> StoreFuture<'a, bool> {
        self.inner.delete_session(session_id)
    }
}

#[tokio::test]
async fn a_store_that_cannot_begin_the_run_fails_it_before_the_model_is_asked() {
    let model = batch_model();
    let store = Flaky { refuse_begin: true, ..Flaky::default() };
    let err = agent(model.clone(), store).run("go").session("s").await.unwrap_err();
    assert!(err.is_storage(), "{err}");
    assert!(model.requests().is_empty());
}

#[tokio::test]
async fn a_write_that_fails_once_is_made_again_and_the_run_is_stored_whole() {
    let store = Flaky { append_failures: Arc::new(AtomicUsize::new(2)), ..Flaky::default() };
    let output = agent(batch_model(), store.clone()).run("go").session("s").await.unwrap();
    let stored = store.inner.run(&output.run_id).await.unwrap().unwrap();
    assert_eq!(stored.state, RunState::Completed);
    assert_eq!(stored.messages, output.new_messages());
}

#[tokio::test]
async fn a_store_that_stays_down_fails_the_run_with_a_storage_error_that_keeps_the_answer() {
    let store = Flaky { append_failures: Arc::new(AtomicUsize::new(usize::MAX)), ..Flaky::default() };
    let agent = agent(batch_model(), store.clone());
    let err = agent.run("go").session("s").await.unwrap_err();
    assert!(err.is_storage(), "{err}");
    assert_eq!(err.raw_output(), Some("All three done."));
    let run = store.inner.runs("s").await.unwrap().remove(0);
    assert_ne!(run.state, RunState::Completed, "a run with missing rows is never recorded as complete");

    // A stream gets the whole output first, then the error.
    let items: Vec<_> = agent.run("go").session("s2").stream().collect().await;
    let n = items.len();
    assert!(
        matches!(&items[n - 2], Ok(e) if matches!(&e.kind, EventKind::RunCompleted(o) if o.content == "All three done."))
    );
    assert!(matches!(&items[n - 1], Err(e) if e.is_storage()));
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_run_is_stored_as_cancelled() {
    let store = MemoryStore::new();
    let token = CancellationToken::new();
    let agent = agent(batch_model(), store.clone());
    let run =
        tokio::spawn(agent.run("go").session("s").run_id("r-cancel").cancel_on(token.clone()).into_future());
    tokio::time::sleep(Duration::from_millis(5)).await;
    token.cancel();
    assert!(run.await.unwrap().unwrap_err().is_cancelled());
    let stored = store.run("r-cancel").await.unwrap().unwrap();
    assert_eq!(stored.state, RunState::Cancelled);
    assert_eq!(stored.messages[0], Message::user("go"), "what happened before is kept");
    assert!(store.history("s", None).await.unwrap().is_empty(), "not part of the session's history");
}

#[tokio::test]
async fn a_paused_run_is_stored_and_continues_from_its_json_in_another_agent() {
    let store = MemoryStore::new();
    let script = || {
        ScriptedModel::new([
            Turn::ToolCalls(vec![
                ("delete".into(), json!({"path": "/tmp/x"})),
                ("task".into(), json!({"n": 1})),
            ]),
            Turn::text("Deleted."),
        ])
    };
    let output = agent(script(), store.clone()).run("clean up").session("s").await.unwrap();
    let stored = store.run(&output.run_id).await.unwrap().unwrap();
    assert_eq!(stored.state, RunState::Paused);

    // Another process: a new agent, the paused run read back from the store's JSON.
    let paused: PausedRun = serde_json::from_value(stored.data.unwrap()).unwrap();
    // What a second client read of the same pause.
    let read_twice = serde_json::to_value(&paused).unwrap();
    assert_eq!(paused.run_id(), output.run_id);
    let id = paused.pending_calls().next().unwrap().id.clone();
    let id2 = id.clone();
    let resumed =
        agent(script(), store.clone()).continue_run(paused, [(id, Decision::Approve)]).await.unwrap();
    assert_eq!(resumed.run_id, output.run_id);
    assert_eq!(resumed.content, "Deleted.");
    let results: Vec<_> = resumed.tool_executions.iter().map(|e| e.result.clone().unwrap()).collect();
    assert_eq!(results, ["deleted /tmp/x", "task 1 done"]);
    let stored = store.run(&output.run_id).await.unwrap().unwrap();
    assert_eq!(stored.state, RunState::Completed);
    assert_eq!(stored.messages, resumed.new_messages());

    // The same pause continued a second time (another client read it before the first went
    // on): refused before any call runs again, and the stored run is untouched.
    let again: PausedRun = serde_json::from_value(read_twice).unwrap();
    let err =
        agent(script(), store.clone()).continue_run(again, [(id2, Decision::Approve)]).await.unwrap_err();
    assert!(err.message().contains("not paused"), "{err}");
    let after = store.run(&output.run_id).await.unwrap().unwrap();
    assert_eq!((after.state, after.messages), (RunState::Completed, stored.messages));
}

#[tokio::test]
async fn outputs_events_and_paused_runs_round_trip_through_json() {
    let agent = Agent::builder().model(batch_model()).tool(task).build().unwrap();
    let events: Vec<RunEvent> = agent.run("go").session("s").stream().map(Result::unwrap).collect().await;
    let run_id = events[0].run_id().to_owned();
    assert!(events.iter().all(|e| e.run_id() == run_id && e.origin.session_id.as_deref() == Some("s")));
    for event in &events {
        let json = serde_json::to_value(event).unwrap();
        let back: RunEvent = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(serde_json::to_value(&back).unwrap(), json);
    }
    let EventKind::RunCompleted(output) = &events.last().unwrap().kind else { panic!() };
    let json = serde_json::to_string(output).unwrap();
    let back: RunOutput = serde_json::from_str(&json).unwrap();
    assert_eq!(back.run_id, output.run_id);
    assert_eq!(back.messages, output.messages);
    assert_eq!(back.tool_executions, output.tool_executions, "timestamps and durations exact");
    assert_eq!(back.metrics, output.metrics);
    assert_eq!(back.status, output.status);
    assert_eq!(serde_json::to_string(&back).unwrap(), json);

    let err = fanout::Error::status_error("openai", 429, "slow down").with_request_id("req_1");
    let back: fanout::Error = serde_json::from_value(serde_json::to_value(&err).unwrap()).unwrap();
    assert_eq!(back.to_string(), err.to_string());
    assert!(back.is_rate_limited() && back.is_retryable());
}
