//! Durable runs across a crash: a child process runs an agent whose batch has three calls; two
//! complete, the third hangs, and the child is killed with SIGKILL. A new child resumes the run
//! from the store: the finished calls ran exactly once (their results restored), the unfinished
//! one ran again (with the same idempotency key), the answer holds every result, and the stored
//! conversation is valid for every provider. On SQLite and on PostgreSQL; while the first child
//! lives, its run is not interrupted and another process cannot take it over.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use fanout::models::Message;
use fanout::models::scripted::{ScriptedModel, Turn};
use fanout::prelude::*;
use fanout::store::{RunState, SessionStore};
use futures::StreamExt;
use serde_json::json;
use support::{TempDir, id};

/// What a child process does and where its calls are recorded.
static CHILD: OnceLock<(Mode, PathBuf)> = OnceLock::new();

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// Run the agent; the call of `c` hangs until the process is killed.
    Run,
    /// Resume the interrupted run.
    Resume,
}

/// Do a piece of work
///
/// # Arguments
/// * `name` - Which piece
#[tool]
async fn work(name: String) -> String {
    let key = fanout::tool::idempotency_key().unwrap_or_default();
    let (mode, marker) = CHILD.get().expect("a child process");
    // Each attempt of a call leaves a line: how often it ran, and with which key.
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(marker).unwrap();
    file.write_all(format!("{name} {key}\n").as_bytes()).unwrap();
    if name == "c" && *mode == Mode::Run {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    format!("{name} done")
}

fn agent(store: std::sync::Arc<dyn SessionStore>) -> Agent {
    let model = ScriptedModel::new([
        Turn::calls([
            ("work", json!({"name": "a"})),
            ("work", json!({"name": "b"})),
            ("work", json!({"name": "c"})),
        ]),
        Turn::summarize_results(),
    ]);
    Agent::builder().model(model).tool(work).store(store).run_lease(Duration::from_secs(1)).build().unwrap()
}

/// The lines of the marker file: `(name, key)` of each attempt.
fn attempts(marker: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(marker).unwrap_or_default();
    text.lines()
        .filter_map(|line| line.split_once(' '))
        .map(|(name, key)| (name.to_owned(), key.to_owned()))
        .collect()
}

fn spawn(mode: Mode, url: &str, session: &str, run_id: &str, marker: &Path) -> std::process::Child {
    let args = format!("{mode:?}|{session}|{run_id}|{}", marker.display());
    support::spawn_child("durable_child", url, &args)
}

/// Wait (at most a minute) until `ready` holds.
async fn until<F: AsyncFnMut() -> bool>(what: &str, mut ready: F) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The child: runs or resumes the run (see [`Mode`]).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_child() {
    let Some((url, args)) = support::child_args() else { return };
    let mut parts = args.splitn(4, '|');
    let (mode, session, run_id, marker) =
        (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
    let mode = if mode == "Run" { Mode::Run } else { Mode::Resume };
    CHILD.set((mode, PathBuf::from(marker))).unwrap();
    let store = fanout_sql::connect(&url).await.unwrap();
    let agent = agent(store.clone());
    match mode {
        Mode::Run => {
            agent.run("Do the work").session(session).run_id(run_id).await.unwrap();
            panic!("the run should hang until the process is killed");
        }
        Mode::Resume => {
            // The killed process's lease lapses: then the run is interrupted.
            until("the run is interrupted", async || {
                store.interrupted_runs(session).await.unwrap() == [run_id.to_owned()]
            })
            .await;
            let mut events = agent.resume(run_id).stream();
            let (mut restored, mut started, mut output) = (Vec::new(), Vec::new(), None);
            while let Some(event) = events.next().await {
                let event = event.unwrap();
                assert_eq!(event.origin.run_id, run_id);
                assert_eq!(event.origin.session_id.as_deref(), Some(session));
                match event.kind {
                    EventKind::ToolCallRestored { index, execution, .. } => {
                        restored.push((index, execution.result.unwrap()));
                    }
                    EventKind::ToolCallStarted { index, .. } => started.push(index),
                    EventKind::RunCompleted(done) => output = Some(done),
                    _ => {}
                }
            }
            assert_eq!(restored, [(0, "a done".to_owned()), (1, "b done".to_owned())]);
            assert_eq!(started, [2], "only the unfinished call runs again");
            let output = output.unwrap();
            assert_eq!(output.run_id, run_id);
            let results: Vec<_> = output.tool_executions.iter().map(|e| e.result.clone().unwrap()).collect();
            assert_eq!(results, ["a done", "b done", "c done"]);
        }
    }
}

/// The whole story on the store at `url`.
async fn killed_mid_batch_then_resumed(url: &str) {
    let (session, run_id, dir) = (id("s"), id("run"), TempDir::new("fanout-durable"));
    let marker = dir.path().join("attempts");
    let store = fanout_sql::connect(url).await.unwrap();

    let mut child = spawn(Mode::Run, url, &session, &run_id, &marker);
    // `a` and `b` are done and stored (the user's message, the turn, two results); `c` runs.
    until("two results are stored and the third call runs", async || {
        let stored = store.run(&run_id).await.unwrap().map_or(0, |run| run.messages.len());
        stored == 4 && attempts(&marker).iter().any(|(name, _)| name == "c")
    })
    .await;
    // Alive, it holds the run: not interrupted, and not taken over by another process.
    assert!(store.interrupted_runs(&session).await.unwrap().is_empty());
    let err = agent(store.clone()).resume(&run_id).await.unwrap_err();
    assert!(err.to_string().contains("going on elsewhere"), "{err}");

    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let stored = store.run(&run_id).await.unwrap().unwrap();
    assert_eq!(stored.state, RunState::Running);
    assert_eq!(stored.messages.len(), 4, "nothing more was stored");

    // Started again, the run is resumed.
    let child = spawn(Mode::Resume, url, &session, &run_id, &marker);
    tokio::task::spawn_blocking(move || support::wait_child(child)).await.unwrap();

    let mut count = std::collections::BTreeMap::<String, Vec<String>>::new();
    for (name, key) in attempts(&marker) {
        count.entry(name).or_default().push(key);
    }
    assert_eq!(count["a"].len(), 1, "a finished before the crash: it ran once");
    assert_eq!(count["b"].len(), 1, "b finished before the crash: it ran once");
    assert_eq!(count["c"].len(), 2, "c was in flight: it ran again");
    assert_eq!(count["c"][0], count["c"][1], "with the same idempotency key");
    assert!(count["c"][0].starts_with(&format!("{run_id}/")), "{}", count["c"][0]);
    assert_ne!(count["a"][0], count["c"][0]);

    let run = store.run(&run_id).await.unwrap().unwrap();
    assert_eq!(run.state, RunState::Completed);
    let answer = run.data.as_ref().and_then(|d| d["content"].as_str()).unwrap_or_default().to_owned();
    for result in ["a done", "b done", "c done"] {
        assert!(answer.contains(result), "{result} is not in the answer: {answer}");
    }
    // user, the turn, three results (in call order), the answer: valid for every provider.
    assert_eq!(run.messages.len(), 6);
    assert_eq!(fanout::history::repair(run.messages.clone()), run.messages);
    let Message::Assistant { tool_calls, .. } = &run.messages[1] else { panic!("{:?}", run.messages[1]) };
    for (i, call) in tool_calls.iter().enumerate() {
        assert!(matches!(&run.messages[2 + i], Message::Tool { call_id, .. } if call_id == &call.id));
    }
    assert!(store.interrupted_runs(&session).await.unwrap().is_empty());
    // The session goes on with the resumed run as history.
    assert_eq!(store.history(&session, None).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_run_killed_mid_batch_resumes_in_a_new_process() {
    let dir = TempDir::new("fanout-durable-db");
    let url = format!("sqlite://{}", dir.path().join("fanout.db").display());
    killed_mid_batch_then_resumed(&url).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_run_killed_mid_batch_resumes_in_a_new_process() {
    let Some(url) = support::postgres::database().await else { return };
    killed_mid_batch_then_resumed(&url).await;
}
