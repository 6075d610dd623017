//! A fanout server on a loopback port with the agents the tests use, and small HTTP helpers.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fanout::models::scripted::{ScriptedModel, Turn};
use fanout::prelude::*;
use fanout::store::MemoryStore;
use fanout_server::{Server, ServerBuilder};
use serde_json::{Value, json};

/// Simulate a task that takes some time
///
/// # Arguments
/// * `delay` - Milliseconds to wait
#[tool]
async fn atask1(delay: u64) -> String {
    tokio::time::sleep(Duration::from_millis(delay)).await;
    format!("Task 1 completed in {delay}ms")
}

/// Simulate a task that takes some time
///
/// # Arguments
/// * `delay` - Milliseconds to wait
#[tool]
async fn atask2(delay: u64) -> String {
    tokio::time::sleep(Duration::from_millis(delay)).await;
    format!("Task 2 completed in {delay}ms")
}

/// Simulate a task that takes some time
///
/// # Arguments
/// * `delay` - Milliseconds to wait
#[tool]
async fn atask3(delay: u64) -> String {
    tokio::time::sleep(Duration::from_millis(delay)).await;
    format!("Task 3 completed in {delay}ms")
}

/// Delete a file
///
/// # Arguments
/// * `path` - The file to delete
#[tool(requires_confirmation)]
fn delete(path: String) -> String {
    format!("deleted {path}")
}

/// Wait a while
///
/// # Arguments
/// * `ms` - Milliseconds to wait
#[tool]
async fn wait(ms: u64) -> String {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    format!("waited {ms}ms")
}

/// The agents: `seed` (three tasks of 10 ms, then a summary), `confirm` (a call that needs the
/// user's approval, then "Done."), `slow` (a call of `slow_ms`, then a summary).
pub fn agents(store: &Arc<MemoryStore>, options: Options) -> Vec<(&'static str, Agent)> {
    let Options { task_ms, slow_ms } = options;
    let seed = Agent::builder()
        .name("seed")
        .model(ScriptedModel::call_every_tool_then_summarize(json!({"delay": task_ms})))
        .tools(tools![atask2, atask1, atask3])
        .store(Arc::clone(store))
        .build()
        .expect("seed agent");
    let confirm = Agent::builder()
        .name("confirm")
        .model(ScriptedModel::new([Turn::call("delete", json!({"path": "/tmp/x"})), Turn::text("Done.")]))
        .tool(delete)
        .store(Arc::clone(store))
        .build()
        .expect("confirm agent");
    let slow = Agent::builder()
        .name("slow")
        .model(ScriptedModel::new([Turn::call("wait", json!({"ms": slow_ms})), Turn::summarize_results()]))
        .tool(wait)
        .store(Arc::clone(store))
        .build()
        .expect("slow agent");
    vec![("seed", seed), ("confirm", confirm), ("slow", slow)]
}

/// How long the agents' tools take.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Each of the seed agent's three tasks.
    pub task_ms: u64,
    /// The slow agent's call.
    pub slow_ms: u64,
}

/// A server running in this process.
pub struct Fixture {
    pub url: String,
    pub store: Arc<MemoryStore>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub done: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Fixture {
    /// Start one with the test agents (`slow` waits `slow_ms`), configured by `configure`.
    pub async fn start(slow_ms: u64, configure: impl FnOnce(ServerBuilder) -> ServerBuilder) -> Self {
        Self::start_with(Options { task_ms: 10, slow_ms }, configure).await
    }

    /// Start one with the test agents timed by `options`.
    pub async fn start_with(
        options: Options,
        configure: impl FnOnce(ServerBuilder) -> ServerBuilder,
    ) -> Self {
        let store = Arc::new(MemoryStore::new());
        let mut builder = Server::builder().store(Arc::clone(&store));
        for (id, agent) in agents(&store, options) {
            builder = builder.agent(id, agent);
        }
        let server = configure(builder).build().expect("server");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let done = tokio::spawn(server.serve_with_shutdown(listener, async {
            let _ = stopped.await;
        }));
        Fixture { url, store, stop: Some(stop), done }
    }

    /// The state of run `run_id` once `done` holds for it. The store has no change feed to await:
    /// it is polled, for at most 10 s.
    pub async fn wait_for_state(
        &self,
        run_id: &str,
        done: impl Fn(fanout::store::RunState) -> bool,
    ) -> fanout::store::RunState {
        use fanout::store::SessionStore;
        for _ in 0..1000 {
            if let Some(run) = self.store.run(run_id).await.expect("the store answers")
                && done(run.state)
            {
                return run.state;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("run {run_id} did not reach the state within 10 s");
    }

    /// Send the shutdown signal.
    pub fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The SSE events of a body: (name, data).
pub fn events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter_map(|frame| {
            let mut name = None;
            let mut data = None;
            for line in frame.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = Some(n.to_owned());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(d).ok();
                }
            }
            Some((name?, data?))
        })
        .collect()
}

pub fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(n, _)| n.as_str()).collect()
}

/// A client installed by `.ci/<install>`, found through the path in env var `var`. Missing, it
/// fails the test under `CI=true`; elsewhere the test is skipped with a notice (`None`).
pub fn installed(var: &str, install: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(path) if Path::new(&path).exists() => Some(path),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{var} is not set: run `eval \"$(.ci/{install})\"` first")
        }
        _ => {
            eprintln!("skipped: {var} is not set (eval \"$(.ci/{install})\")");
            None
        }
    }
}

/// A client script of the tests (`tests/<path>`).
pub fn script(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join(path)
}

/// Run a client (a child process, killed when the test ends first) to its end within `limit`:
/// it must succeed and print `ok` (its last line, by convention). Its output is printed.
pub async fn run_client(command: &mut tokio::process::Command, ok: &str, limit: Duration) {
    let output = tokio::time::timeout(limit, command.kill_on_drop(true).output())
        .await
        .unwrap_or_else(|_| panic!("the client did not finish within {limit:?}"))
        .expect("the client starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(output.status.success(), "the client failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains(ok), "no {ok:?} from the client:\n{stdout}\n{stderr}");
}

/// GET `url`, its JSON answer (whatever the status).
pub async fn get_json(url: impl reqwest::IntoUrl) -> Value {
    reqwest::get(url).await.expect("the request").json().await.expect("a JSON answer")
}
