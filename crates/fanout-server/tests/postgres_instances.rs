//! Several instances, one database: two processes of the `serve` example on one throw-away
//! PostgreSQL database serve the same sessions. A conversation alternates between them (each
//! instance's request to the model carries what the other one stored), and 40 runs on one session
//! at once, 20 on each, are all stored, completed and whole.
//!
//! The model is a loopback OpenAI-compatible server (`fanout-testserver`). Without PostgreSQL
//! the test fails under `CI=true` and is skipped with a notice elsewhere.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    dead_code,
    unreachable_pub,
    missing_docs,
    missing_debug_implementations
)]

// The throw-away cluster of fanout-sql's tests; it needs `id` and `in_ci` from its parent.
#[path = "../../fanout-sql/tests/support/postgres.rs"]
mod pg;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use fanout::store::RunState;
use fanout_testserver::{Script, Server};
use serde_json::{Value, json};

/// A unique id, so databases and sessions never meet.
pub fn id(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// True when the tests run in CI, where a missing PostgreSQL fails instead of skipping.
pub fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// The example's binary beside this test's: `cargo test` builds it with the crate's other
/// targets, but not for `cargo test --test postgres_instances` alone, so build it here when it is
/// missing.
fn serve_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let binary = dir.join("examples").join(format!("serve{}", std::env::consts::EXE_SUFFIX));
    if !binary.is_file() {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "fanout-server", "--example", "serve"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(status.success(), "cargo build --example serve: {status}");
    }
    binary
}

/// One `serve` process; killed when dropped (a failed assertion included).
struct Instance {
    child: Child,
    url: String,
}

impl Instance {
    /// Start the example on a free port with sessions in `database_url` and the model at
    /// `model`; wait for its `listening on http://ADDR`.
    fn start(binary: &Path, model: &Server, database_url: &str) -> Self {
        let mut child = Command::new(binary)
            .env("FANOUT_ADDR", "127.0.0.1:0")
            .env("DATABASE_URL", database_url)
            .env("OPENAI_API_KEY", "sk-test")
            .env("OPENAI_BASE_URL", model.url())
            .env_remove("FANOUT_MODEL")
            .env_remove("FANOUT_API_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the serve example is built by cargo test");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        // Whatever it prints later must not fill the pipe and block it.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        // Killed by its guard if it did not start as it should.
        let mut instance = Self { child, url: String::new() };
        instance.url = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("the first line of serve: {first:?}"))
            .to_owned();
        instance
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(120)).build().unwrap()
}

/// One run, JSON in and out (not streamed): its output.
async fn run(c: &reqwest::Client, instance: &Instance, message: &str, session: &str) -> Value {
    let response = c
        .post(format!("{}/agents/seed/runs", instance.url))
        .json(&json!({"message": message, "stream": false, "session_id": session, "user_id": "ada"}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    let output: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(output["status"], "COMPLETED", "{output}");
    assert_eq!(output["session_id"], session, "{output}");
    output
}

/// The session's runs, as `instance` serves them.
async fn session_runs(c: &reqwest::Client, instance: &Instance, session: &str) -> Vec<Value> {
    let response = c.get(format!("{}/sessions/{session}/runs", instance.url)).send().await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let runs: Value = response.json().await.unwrap();
    runs.as_array().unwrap().clone()
}

/// The roles of a list of messages (a model request's or a stored run's).
fn roles(messages: &Value) -> Vec<String> {
    messages.as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap_or("").to_owned()).collect()
}

/// The roles of one whole run of the seed agent: the question, the three calls, their results,
/// the answer.
const WHOLE_RUN: [&str; 6] = ["user", "assistant", "tool", "tool", "tool", "assistant"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_serve_the_same_sessions() {
    let Some(database_url) = pg::database().await else { return };
    // Stateless, for runs at once: call every tool (each takes a second), then summarize.
    let model = Server::start(Script::call_all_tools(r#"{"delay":1}"#)).await.unwrap();
    let binary = tokio::task::block_in_place(serve_binary);
    let (a, b) = tokio::task::block_in_place(|| {
        std::thread::scope(|s| {
            let a = s.spawn(|| Instance::start(&binary, &model, &database_url));
            let b = s.spawn(|| Instance::start(&binary, &model, &database_url));
            (a.join().unwrap(), b.join().unwrap())
        })
    });
    assert_ne!(a.url, b.url);
    let c = client();

    // A conversation alternates: run 1 on A, run 2 on B, run 3 on A, one session.
    let session = id("conversation");
    let first = run(&c, &a, "Please run all tasks", &session).await;
    assert!(first["content"].as_str().unwrap().contains("Task 1 completed in 1.00s"), "{first}");
    assert_eq!(model.requests().len(), 2);
    let second = run(&c, &b, "And once more", &session).await;
    let third = run(&c, &a, "A third time", &session).await;
    let requests = model.requests();
    assert_eq!(requests.len(), 6);
    // B's first request to the model: run 1 as A stored it, then the new question.
    let sent = &requests[2].body["messages"];
    let mut expected = vec!["developer".to_owned()];
    expected.extend(WHOLE_RUN.map(str::to_owned));
    expected.push("user".to_owned());
    assert_eq!(roles(sent), expected, "{sent:#}");
    assert_eq!(sent[1]["content"], "Please run all tasks");
    assert_eq!(sent[6]["content"], first["content"]);
    assert_eq!(sent[7]["content"], "And once more");
    // A's next request: runs 1 and 2, B's included.
    let sent = &requests[4].body["messages"];
    assert_eq!(roles(sent).len(), 1 + 2 * WHOLE_RUN.len() + 1, "{sent:#}");
    assert_eq!(sent[7]["content"], "And once more");
    assert_eq!(sent[12]["content"], second["content"]);
    assert_eq!(sent[13]["content"], "A third time");
    // Either instance lists all three runs, in order.
    for instance in [&a, &b] {
        let runs = session_runs(&c, instance, &session).await;
        let ids: Vec<&Value> = runs.iter().map(|r| &r["run_id"]).collect();
        assert_eq!(ids, [&first["run_id"], &second["run_id"], &third["run_id"]]);
        for run in &runs {
            assert_eq!(run["status"], "COMPLETED", "{run}");
            assert_eq!(roles(&run["messages"]), WHOLE_RUN, "{run}");
        }
    }

    // 20 runs on each instance at once, one new session: none lost, each completed and whole.
    let session = id("busy");
    let runs = (0..40).map(|i| {
        let instance = if i % 2 == 0 { &a } else { &b };
        let (c, session) = (&c, &session);
        async move { (i % 2, run(c, instance, &format!("question {i}"), session).await) }
    });
    let outputs = futures::future::join_all(runs).await;
    let mut on = [HashSet::new(), HashSet::new()];
    for (instance, output) in &outputs {
        on[*instance].insert(output["run_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(on[0].len() + on[1].len(), 40, "every run has an id of its own");

    for instance in [&a, &b] {
        let runs = session_runs(&c, instance, &session).await;
        let ids: HashSet<&str> = runs.iter().map(|r| r["run_id"].as_str().unwrap()).collect();
        let missing: Vec<&String> = on.iter().flatten().filter(|id| !ids.contains(id.as_str())).collect();
        assert!(missing.is_empty(), "{} of 40 runs lost: {missing:?}", missing.len());
        assert_eq!(runs.len(), 40);
        let mut questions = HashSet::new();
        for run in &runs {
            assert_eq!(run["status"], "COMPLETED", "{run}");
            assert_eq!(roles(&run["messages"]), WHOLE_RUN, "{run}");
            assert_eq!(run["messages"][0]["content"], run["run_input"]);
            assert_eq!(run["tools"].as_array().unwrap().len(), 3, "{run}");
            let output = outputs.iter().find(|(_, o)| o["run_id"] == run["run_id"]).unwrap();
            assert_eq!(run["content"], output.1["content"], "{run}");
            questions.insert(run["run_input"].as_str().unwrap().to_owned());
        }
        assert_eq!(questions.len(), 40, "each run holds its own question");
    }

    // The runs of A and of B went on at the same time (each took over a second).
    let store = fanout_sql::connect(&database_url).await.unwrap();
    let stored = store.runs(&session).await.unwrap();
    assert_eq!(stored.len(), 40);
    assert!(stored.iter().all(|r| r.state == RunState::Completed));
    let overlap = stored.iter().filter(|x| on[0].contains(&x.record.run_id)).any(|x| {
        stored
            .iter()
            .filter(|y| on[1].contains(&y.record.run_id))
            .any(|y| x.record.created_at < y.updated_at && y.record.created_at < x.updated_at)
    });
    assert!(overlap, "the runs on A and on B never overlapped");

    drop((a, b));
    pg::drop_database(&database_url).await;
}
