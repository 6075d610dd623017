//! fanout agents on a real Restate server (`restate-server` from npm, pinned by
//! `.ci/install-restate`): the calls of a batch overlap; a SIGKILL of the service mid-batch and a
//! restart end with the full answer, without repeating a finished call or a model request; two
//! sessions run in parallel while one session's runs queue; the example serves the seed agent.
//!
//! Each test starts its own server on loopback (free ports, a throw-away base directory).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use fanout::models::scripted::{ScriptedModel, Turn};
use fanout::prelude::*;
use fanout_restate::RestateAgent;
use fanout_testserver::{Reply, Script, Server};
use serde_json::json;
use support::Restate;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

/// Sleep for a while
///
/// # Arguments
/// * `ms` - How long, in milliseconds
/// * `label` - A name for the nap
#[tool]
async fn nap(ms: u64, label: Option<String>) -> String {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    format!("{} slept {ms} ms", label.unwrap_or_default())
}

/// `(session, started, ended)` of each call, from the tool service's events.
type Spans = Arc<Mutex<Vec<(String, SystemTime, SystemTime)>>>;

/// Serve `agent` as the object `name` on a free port in this process, recording the calls' spans;
/// registered with `restate`. Serves until the returned sender is dropped.
async fn serve_here(restate: &Restate, name: &str, agent: Agent) -> (Spans, oneshot::Sender<()>) {
    let spans: Spans = Arc::default();
    let recorded = Arc::clone(&spans);
    let service = RestateAgent::new(name, agent).unwrap().on_event(move |event| {
        if let EventKind::ToolCallCompleted { execution, .. } = &event.kind {
            let end = execution.started_at + execution.duration;
            let session = event.origin.session_id.clone().unwrap_or_default();
            recorded.lock().unwrap().push((session, execution.started_at, end));
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(service.serve_until(listener, stopped));
    restate.register(&uri).await;
    let warm = Instant::now();
    restate.messages(name, "warm-up").await;
    eprintln!("first invocation (cold): {:.3}s", warm.elapsed().as_secs_f64());
    (spans, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_calls_of_a_batch_run_at_the_same_time() {
    let Some(restate) = Restate::start().await else { return };
    let turn = Turn::calls([
        ("nap", json!({"ms": 1500, "label": "a"})),
        ("nap", json!({"ms": 1500, "label": "b"})),
        ("nap", json!({"ms": 1500, "label": "c"})),
    ]);
    let model = ScriptedModel::new([turn, Turn::summarize_results()]);
    let agent = Agent::builder().model(model).tools(tools![nap]).build().unwrap();
    let (spans, _stop) = serve_here(&restate, "batch", agent).await;

    let started = Instant::now();
    let answer = restate.run("batch", "s1", "Nap three times").await;
    let elapsed = started.elapsed();

    for label in ["a", "b", "c"] {
        assert!(answer.contains(&format!("{label} slept 1500 ms")), "{answer}");
    }
    let spans = spans.lock().unwrap().clone();
    assert_eq!(spans.len(), 3, "each call ran once");
    let last_start = spans.iter().map(|s| s.1).max().unwrap();
    let first_end = spans.iter().map(|s| s.2).min().unwrap();
    assert!(last_start < first_end, "every call started before any ended: {spans:?}");
    // One after another they would take 4.5 s.
    assert!(elapsed < Duration::from_millis(2500), "three 1.5 s calls took {elapsed:?}");
    eprintln!(
        "batch of three 1.5 s calls: run {:.3}s (overhead {:.0} ms: two journaled turns, three invocations, ingress)",
        elapsed.as_secs_f64(),
        (elapsed.as_secs_f64() - 1.5) * 1000.0
    );
    // A second run of the session: warm, and with the first run's history.
    let started = Instant::now();
    restate.run("batch", "s1", "Again").await;
    eprintln!("second run, warm: {:.3}s", started.elapsed().as_secs_f64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_run_in_parallel_and_one_sessions_runs_queue() {
    let Some(restate) = Restate::start().await else { return };
    let model = ScriptedModel::new([Turn::call("nap", json!({"ms": 1500})), Turn::text("Rested.")]);
    let agent = Agent::builder().model(model).tools(tools![nap]).build().unwrap();
    let (spans, _stop) = serve_here(&restate, "sessions", agent).await;

    // Two sessions at once: in parallel.
    let started = Instant::now();
    let (a, b) =
        tokio::join!(restate.run("sessions", "alice", "Rest"), restate.run("sessions", "bob", "Rest"));
    let parallel = started.elapsed();
    assert_eq!((a.as_str(), b.as_str()), ("Rested.", "Rested."));
    assert!(parallel < Duration::from_millis(2500), "two sessions took {parallel:?}: not in parallel");

    // Two runs of one session at once: the second waits for the first, then sees its history.
    let started = Instant::now();
    let (c, d) =
        tokio::join!(restate.run("sessions", "carol", "First"), restate.run("sessions", "carol", "Second"));
    let queued = started.elapsed();
    assert_eq!((c.as_str(), d.as_str()), ("Rested.", "Rested."));
    assert!(
        queued >= Duration::from_millis(3000),
        "two runs of one session took {queued:?}: they overlapped"
    );
    let carol: Vec<_> = spans.lock().unwrap().iter().filter(|s| s.0 == "carol").cloned().collect();
    assert_eq!(carol.len(), 2);
    let (first, second) =
        if carol[0].1 < carol[1].1 { (&carol[0], &carol[1]) } else { (&carol[1], &carol[0]) };
    assert!(first.2 <= second.1, "the second run's call started before the first run's ended");

    let messages = restate.messages("sessions", "carol").await;
    let roles: Vec<&str> = messages.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "assistant", "tool", "assistant", "user", "assistant", "tool", "assistant"]);
    assert_eq!(restate.messages("sessions", "alice").await.len(), 4, "sessions do not share history");
    let (status, _) = restate.call("sessions", "alice", "reset", serde_json::Value::Null).await;
    assert_eq!(status, 200);
    assert!(restate.messages("sessions", "alice").await.is_empty(), "reset forgets the conversation");
    eprintln!(
        "two sessions at once: {:.3}s; two runs of one session at once: {:.3}s (1.5 s of tools each)",
        parallel.as_secs_f64(),
        queued.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_suspended_while_its_long_calls_run_resumes_and_reports_nothing_twice() {
    // The server's default timeouts are 1 s of inactivity + 1 s to abort. The run's object
    // waits for 2.5 s calls, so it suspends, and the calls' completions resume it by replaying
    // its journal. The calls cannot suspend: they finish only because the tool service raises
    // its own timeouts above its tools' (with 1 s + 1 s they would be restarted forever).
    let Some(restate) = Restate::start_with(&[
        ("RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT", "1s"),
        ("RESTATE_WORKER__INVOKER__ABORT_TIMEOUT", "1s"),
    ])
    .await
    else {
        return;
    };
    let turn =
        Turn::calls([("nap", json!({"ms": 2500, "label": "a"})), ("nap", json!({"ms": 2500, "label": "b"}))]);
    let model = ScriptedModel::new([turn, Turn::text("Both napped.")]);
    let agent = Agent::builder().model(model.clone()).tools(tools![nap]).build().unwrap();
    // What happened, from this session's run (its id: the run's invocation id).
    let events: Arc<Mutex<Vec<&'static str>>> = Arc::default();
    let seen = Arc::clone(&events);
    let service = RestateAgent::new("suspend", agent).unwrap().on_event(move |event| {
        let name = match &event.kind {
            EventKind::RunStarted { .. } => "run started",
            EventKind::ModelTurnCompleted { .. } => "model turn",
            EventKind::ContentDelta(_) => "text",
            EventKind::ToolCallStarted { .. } => "call started",
            EventKind::ToolCallCompleted { .. } => "call completed",
            _ => "other",
        };
        let from_the_run =
            event.origin.session_id.as_deref() == Some("s1") && event.origin.run_id.starts_with("inv_");
        seen.lock().unwrap().push(if from_the_run { name } else { "from elsewhere" });
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri = format!("http://{}", listener.local_addr().unwrap());
    let (_stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(service.serve_until(listener, stopped));
    restate.register(&uri).await;

    let run = tokio::spawn({
        let http = restate.http.clone();
        let url = format!("{}/suspend/s1/run", restate.ingress);
        let body = json!({"message": "Nap twice"}).to_string();
        async move { http.post(url).header("content-type", "application/json").body(body).send().await }
    });
    let started = Instant::now();
    let mut suspended = false;
    while !run.is_finished() && !suspended {
        let rows = restate
            .query("SELECT status FROM sys_invocation WHERE target_service_name = 'suspend' AND status = 'suspended'")
            .await;
        suspended = !rows.is_empty();
        assert!(started.elapsed() < Duration::from_secs(20));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A call restarted on every attempt would never let the run end.
    let response =
        tokio::time::timeout(Duration::from_secs(30), run).await.expect("the run ends").unwrap().unwrap();
    assert_eq!(response.text().await.unwrap(), r#""Both napped.""#);
    assert!(suspended, "the run never suspended while its calls ran");
    let mut events = events.lock().unwrap().clone();
    events.sort_unstable();
    assert_eq!(
        events,
        [
            "call completed",
            "call completed",
            "call started",
            "call started",
            "model turn",
            "model turn",
            "run started",
            "text"
        ]
    );
    assert_eq!(model.requests().len(), 2, "the replay did not ask the model again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_answers_with_the_error_and_a_limit_keeps_the_work_done() {
    let Some(restate) = Restate::start().await else { return };
    // A model that fails (a script with no turns: not retryable) fails the run; the
    // conversation stays as it was.
    let broken = Agent::builder().model(ScriptedModel::new([])).tools(tools![nap]).build().unwrap();
    let (_, _stop_broken) = serve_here(&restate, "broken", broken).await;
    let (status, body) = restate.call("broken", "s1", "run", json!({"message": "Hi"})).await;
    assert_eq!(status, 500, "{body}");
    assert!(body.to_string().contains("model turn 1 failed"), "{body}");
    assert!(restate.messages("broken", "s1").await.is_empty());

    // A run that reaches its turn limit ends with an error saying so, and keeps what it did.
    let model = ScriptedModel::new([Turn::call("nap", json!({"ms": 10})), Turn::text("unreached")]);
    let limited = Agent::builder().model(model).tools(tools![nap]).max_turns(1).build().unwrap();
    let (_, _stop_limited) = serve_here(&restate, "limited", limited).await;
    let (status, body) = restate.call("limited", "s1", "run", json!({"message": "Nap"})).await;
    assert_eq!(status, 500, "{body}");
    assert!(body.to_string().contains("limit of 1 model turns"), "{body}");
    let roles: Vec<String> = restate
        .messages("limited", "s1")
        .await
        .iter()
        .map(|m| m["role"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(roles, ["user", "assistant", "tool"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_send_the_history_the_agent_allows_while_the_session_keeps_all() {
    let Some(restate) = Restate::start().await else { return };
    let model = ScriptedModel::new([Turn::text("ok")]);
    let agent =
        Agent::builder().model(model.clone()).history_runs(1).instructions("Be brief.").build().unwrap();
    let (_, _stop) = serve_here(&restate, "trimmed", agent).await;
    for message in ["one", "two", "three"] {
        assert_eq!(restate.run("trimmed", "s1", message).await, "ok");
    }
    let sent = &model.requests()[2].messages;
    let texts: Vec<String> = sent
        .iter()
        .map(|m| serde_json::to_value(m).unwrap()["content"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(texts, ["Be brief.", "two", "ok", "three"], "the system prompt, one earlier run, this run");
    assert_eq!(restate.messages("trimmed", "s1").await.len(), 6, "the session keeps every run");
}

/// Run a task, recording each start (with its idempotency key) and end in `$FANOUT_RESTATE_TEST_DIR/{name}`
///
/// # Arguments
/// * `name` - The task's name
/// * `ms` - How long it takes, in milliseconds
#[tool]
async fn task(name: String, ms: u64) -> String {
    let key = fanout::tool::idempotency_key().unwrap_or_default();
    record(&name, &format!("start {key}"));
    tokio::time::sleep(Duration::from_millis(ms)).await;
    record(&name, "end");
    format!("{name} done")
}

fn record(name: &str, line: &str) {
    use std::io::Write as _;
    let dir = std::env::var("FANOUT_RESTATE_TEST_DIR").unwrap();
    let mut file =
        std::fs::OpenOptions::new().create(true).append(true).open(Path::new(&dir).join(name)).unwrap();
    file.write_all(format!("{line}\n").as_bytes()).unwrap();
}

fn lines(dir: &Path, name: &str) -> Vec<String> {
    std::fs::read_to_string(dir.join(name)).unwrap_or_default().lines().map(str::to_owned).collect()
}

/// Not a test of its own: the service process of
/// `a_crash_mid_batch_resumes_without_repeating_finished_work`, which runs this test binary again
/// with `FANOUT_RESTATE_TEST_CHILD` set to the address to serve on.
#[test]
fn child_service() {
    let Ok(addr) = std::env::var("FANOUT_RESTATE_TEST_CHILD") else { return };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let url = std::env::var("FANOUT_RESTATE_TEST_MODEL").unwrap();
        let model = fanout::models::openai::OpenAIChat::new("gpt-test").base_url(url).api_key("test");
        let agent = Agent::builder().model(model).tools(tools![task]).build().unwrap();
        let listener = TcpListener::bind(&addr).await.unwrap();
        println!("listening on http://{addr}");
        RestateAgent::new("crash", agent)
            .unwrap()
            .serve_until(listener, std::future::pending::<()>())
            .await
            .unwrap();
    });
}

/// Start this test binary as the service process on `addr`; wait until it accepts connections.
async fn spawn_child(addr: &str, dir: &Path, model_url: &str) -> Child {
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["child_service", "--exact", "--nocapture", "--test-threads", "1"])
        .env("FANOUT_RESTATE_TEST_CHILD", addr)
        .env("FANOUT_RESTATE_TEST_DIR", dir)
        .env("FANOUT_RESTATE_TEST_MODEL", model_url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let started = Instant::now();
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(20), "the service process did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_batch_resumes_without_repeating_finished_work() {
    let Some(restate) = Restate::start().await else { return };
    let model = Server::start(Script::sequence([
        Reply::tool_calls([
            ("task", r#"{"name": "fast1", "ms": 300}"#),
            ("task", r#"{"name": "fast2", "ms": 300}"#),
            ("task", r#"{"name": "slow", "ms": 3000}"#),
        ]),
        Reply::text("All three tasks are done."),
    ]))
    .await
    .unwrap();
    let dir = support::scratch_dir("counters");
    let addr = format!("127.0.0.1:{}", support::free_port());
    let mut child = spawn_child(&addr, &dir, &model.url()).await;
    restate.register(&format!("http://{addr}")).await;

    let started = Instant::now();
    let run = {
        let (http, url) = (restate.http.clone(), format!("{}/crash/s1/run", restate.ingress));
        let body = json!({"message": "Run the tasks"}).to_string();
        tokio::spawn(async move {
            http.post(url).header("content-type", "application/json").body(body).send().await
        })
    };
    // Wait until the fast calls have finished and the slow one runs, then kill the process.
    let done = |name: &str| lines(&dir, name).iter().any(|l| l == "end");
    while !(done("fast1") && done("fast2") && !lines(&dir, "slow").is_empty()) {
        assert!(started.elapsed() < Duration::from_secs(20), "the batch did not start");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let killed_at = started.elapsed();
    assert!(!done("slow"), "the slow call finished before the kill");
    let _child = spawn_child(&addr, &dir, &model.url()).await;

    // Nobody asks again: Restate resumes the run by itself.
    let response =
        tokio::time::timeout(Duration::from_secs(60), run).await.expect("the run ends").unwrap().unwrap();
    let elapsed = started.elapsed();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.text().await.unwrap(), r#""All three tasks are done.""#);
    assert_eq!(lines(&dir, "fast1").len(), 2, "fast1 ran once: {:?}", lines(&dir, "fast1"));
    assert_eq!(lines(&dir, "fast2").len(), 2, "fast2 ran once: {:?}", lines(&dir, "fast2"));
    let slow = lines(&dir, "slow");
    assert_eq!(slow.iter().filter(|l| l.starts_with("start ")).count(), 2, "slow ran again: {slow:?}");
    assert_eq!(slow.iter().filter(|l| *l == "end").count(), 1, "{slow:?}");
    assert_eq!(slow[0], slow[1], "both attempts of the slow call had the same idempotency key: {slow:?}");
    assert!(slow[0].starts_with("start inv_") && slow[0].ends_with("/1/call_2"), "{slow:?}");
    let requests = model.requests();
    assert_eq!(requests.len(), 2, "each model turn was requested once");
    let results =
        requests[1].body["messages"].as_array().unwrap().iter().filter(|m| m["role"] == "tool").count();
    assert_eq!(results, 3, "the second turn got all three results");
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!(
        "killed at {:.2}s; full answer at {:.2}s (the 3 s call ran again from the restart)",
        killed_at.as_secs_f64(),
        elapsed.as_secs_f64()
    );
}

/// `target/debug/examples/restate_agent`, built by `cargo test` (or `cargo build --example`).
fn example_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let profile = exe.parent()?.parent()?;
    Some(profile.join("examples").join("restate_agent")).filter(|p| p.is_file())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_serves_the_seed_agent() {
    let Some(binary) = example_binary() else {
        return support::missing(
            "the example binary (cargo build -p fanout-restate --example restate_agent)",
        );
    };
    let Some(restate) = Restate::start().await else { return };
    let mut example = Command::new(binary)
        .env("FANOUT_RESTATE_ADDR", "127.0.0.1:0")
        .env_remove("OPENAI_API_KEY")
        .env_remove("FANOUT_MODEL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(example.stdout.take().unwrap()).lines();
    let first =
        tokio::time::timeout(Duration::from_secs(20), stdout.next_line()).await.unwrap().unwrap().unwrap();
    let uri = first.strip_prefix("listening on ").unwrap_or_else(|| panic!("first line: {first}"));
    assert!(uri.starts_with("http://127.0.0.1:"), "{first}");
    let deployment = restate.register(uri).await;
    let services: Vec<&str> =
        deployment["services"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert!(services.contains(&"seed") && services.contains(&"seed-tools"), "{services:?}");
    restate.messages("seed", "warm-up").await;

    let started = Instant::now();
    let answer = restate.run("seed", "s1", "Please run all tasks with a delay of 3s").await;
    let elapsed = started.elapsed();
    for n in 1..=3 {
        assert!(answer.contains(&format!("Task {n} completed in 3.00s")), "{answer}");
    }
    assert!(elapsed < Duration::from_millis(4500), "three 3 s tasks took {elapsed:?}");
    eprintln!("the seed example through Restate: {:.3}s for three 3 s tasks", elapsed.as_secs_f64());
}
