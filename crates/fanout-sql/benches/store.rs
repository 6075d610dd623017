//! Session storage, timed: what `bench/compare/store.py` runs side by side with Agno's
//! `SqliteDb` (`bench/compare/agno/store_bench.py`, the same scenarios), and what it writes into
//! BENCHMARKS.md ("Session storage").
//!
//! ```sh
//! cargo bench -p fanout-sql --bench store                 # SQLite, synchronous = NORMAL
//! FANOUT_BENCH_SYNC=full cargo bench -p fanout-sql --bench store   # Agno's durability
//! FANOUT_BENCH_URL=postgres://… cargo bench -p fanout-sql --all-features --bench store
//! ```
//!
//! Not criterion: "a run stored after 1,000 earlier runs" needs a session that grows by exactly
//! the runs we store, and "100 concurrent runs" is one measurement with a count, not a loop to
//! iterate. So a plain program (`harness = false`): each scenario on a new database, the median
//! of repeated measurements, printed as one JSON object on the last line.
//!
//! A run is stored the way fanout's run loop stores it: `begin_run`, the user's message, the
//! assistant's turn with 3 tool calls, the 3 results (each as its call completes), the answer
//! (one `append_messages` each: 6 commits), then `set_state(Completed)` with the output summary.

use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fanout::models::Message;
use fanout::store::{RunRecord, RunState, SessionStore, StoredMessage};
use fanout::tool::ToolCall;
use serde_json::json;

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

/// Runs stored (and timed one by one) after the session's earlier runs.
const TIMED_RUNS: usize = 100;
/// Runs of 6 messages for 10,000 messages of history.
const HISTORY_RUNS: usize = 1_667;

fn main() -> Result<()> {
    let quick = std::env::var("QUICK").as_deref() == Ok("1");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let dir = std::env::temp_dir().join(format!("fanout-store-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = runtime.block_on(bench(&dir, quick));
    let _ = std::fs::remove_dir_all(&dir);
    let result = result?;
    println!("{result}");
    Ok(())
}

/// A new, empty store: a SQLite file in `dir` named `name`, or a new database on the Postgres
/// server of `FANOUT_BENCH_URL`.
async fn open(dir: &std::path::Path, name: &str) -> Result<Arc<dyn SessionStore>> {
    if let Ok(url) = std::env::var("FANOUT_BENCH_URL") {
        return open_postgres(&url, name).await;
    }
    let sync = match std::env::var("FANOUT_BENCH_SYNC").as_deref() {
        Ok("full") => fanout_sql::sqlx::sqlite::SqliteSynchronous::Full,
        _ => fanout_sql::sqlx::sqlite::SqliteSynchronous::Normal,
    };
    let url = format!("sqlite://{}", dir.join(format!("{name}.db")).display());
    let options = fanout_sql::SqliteStore::options(&url)?.synchronous(sync);
    Ok(Arc::new(fanout_sql::SqliteStore::connect_with(options).await?))
}

#[cfg(feature = "postgres")]
async fn open_postgres(url: &str, name: &str) -> Result<Arc<dyn SessionStore>> {
    use fanout_sql::sqlx::{self, Connection};
    let database = format!("bench_{}_{}", std::process::id(), name.replace('-', "_"));
    let mut admin = sqlx::postgres::PgConnection::connect(url).await?;
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {database}")).execute(&mut admin).await?;
    sqlx::raw_sql(&format!("CREATE DATABASE {database}")).execute(&mut admin).await?;
    let (base, _) = url.rsplit_once('/').ok_or("no database in FANOUT_BENCH_URL")?;
    Ok(Arc::new(fanout_sql::PostgresStore::connect(&format!("{base}/{database}")).await?))
}

#[cfg(not(feature = "postgres"))]
async fn open_postgres(_: &str, _: &str) -> Result<Arc<dyn SessionStore>> {
    Err("FANOUT_BENCH_URL needs --features postgres".into())
}

async fn bench(dir: &std::path::Path, quick: bool) -> Result<serde_json::Value> {
    let mut out = serde_json::Map::new();

    // Storing a run after 1, 100 and 1,000 earlier runs of its session: three stores, timed in
    // turns (in rotating order), so a noisy moment of the machine falls on all three alike.
    let timed = if quick { 20 } else { TIMED_RUNS };
    let mut points = Vec::new();
    for earlier in [1, 100, 1_000] {
        let store = open(dir, &format!("after-{earlier}")).await?;
        for i in 0..earlier {
            store_run(&*store, "s", &format!("early-{i}")).await?;
        }
        points.push((earlier, store, Vec::with_capacity(timed)));
    }
    for i in 0..timed {
        // Each takes its turn first, second and last alike.
        for k in 0..points.len() {
            let (_, store, times) = &mut points[(i + k) % 3];
            let started = Instant::now();
            store_run(&**store, "s", &format!("timed-{i}")).await?;
            times.push(started.elapsed());
        }
    }
    for (earlier, _, mut times) in points {
        out.insert(format!("store_after_{earlier}_us"), json!(micros(median(&mut times))));
    }

    // Loading 10,000 messages of history (1,667 completed runs), and the last 10 runs of them.
    let store = open(dir, "history").await?;
    for i in 0..HISTORY_RUNS {
        store_run(&*store, "s", &format!("run-{i}")).await?;
    }
    let mut times = Vec::new();
    for _ in 0..(if quick { 3 } else { 10 }) {
        let started = Instant::now();
        let history = store.history("s", None).await?;
        times.push(started.elapsed());
        let messages: usize = history.iter().map(|run| run.messages.len()).sum();
        if messages != HISTORY_RUNS * 6 {
            return Err(format!("history held {messages} messages").into());
        }
    }
    out.insert("history_10000_ms".into(), json!(millis(median(&mut times))));
    let mut times = Vec::new();
    for _ in 0..(if quick { 20 } else { 100 }) {
        let started = Instant::now();
        let history = store.history("s", Some(10)).await?;
        times.push(started.elapsed());
        if history.len() != 10 {
            return Err("the last 10 runs were not 10".into());
        }
    }
    out.insert("history_last_10_us".into(), json!(micros(median(&mut times))));

    // 100 concurrent runs on one session, five times (a new session each time).
    let store = open(dir, "concurrent").await?;
    let (mut times, mut stored) = (Vec::new(), Vec::new());
    for round in 0..(if quick { 2 } else { 5 }) {
        let session = format!("s{round}");
        let started = Instant::now();
        let tasks: Vec<_> = (0..100)
            .map(|i| {
                let (store, session) = (store.clone(), session.clone());
                tokio::spawn(async move { store_run(&*store, &session, &format!("{session}-run-{i}")).await })
            })
            .collect();
        for task in tasks {
            task.await??;
        }
        times.push(started.elapsed());
        stored.push(count_whole_runs(&*store, &session).await?);
    }
    out.insert("concurrent_100_ms".into(), json!(millis(median(&mut times))));
    out.insert("concurrent_100_stored".into(), json!(stored.iter().min()));
    Ok(serde_json::Value::Object(out))
}

/// Store one run of `session` as the run loop does.
async fn store_run(store: &dyn SessionStore, session: &str, run_id: &str) -> Result<()> {
    let record = RunRecord {
        run_id: run_id.to_owned(),
        session_id: session.to_owned(),
        user_id: Some("ada".to_owned()),
        agent_id: Some("bench".to_owned()),
        parent_run_id: None,
        created_at: std::time::SystemTime::now(),
    };
    store.begin_run(&record).await?;
    for (seq, message) in run_messages(run_id).into_iter().enumerate() {
        store.append_messages(run_id, &[StoredMessage { seq: seq as u32, message }]).await?;
    }
    let output = json!({ "content": format!("answer {run_id}"), "metrics": { "input_tokens": 120, "output_tokens": 30 } });
    store.set_state(run_id, RunState::Completed, Some(&output)).await?;
    Ok(())
}

/// The user's message, a batch of 3 calls, their results, the answer.
fn run_messages(run_id: &str) -> Vec<Message> {
    let calls = (0..3)
        .map(|i| ToolCall::new(format!("{run_id}-{i}"), format!("atask{i}"), r#"{"delay":1}"#))
        .collect();
    let result = |i: usize| Message::Tool {
        call_id: format!("{run_id}-{i}"),
        name: format!("atask{i}"),
        content: format!("Task {i} completed in 1.00s"),
        is_error: false,
    };
    vec![
        Message::user(format!("Please run all tasks with a delay of 1s ({run_id})")),
        Message::Assistant { content: None, tool_calls: calls, replay: None },
        result(0),
        result(1),
        result(2),
        Message::Assistant {
            content: Some(format!("All three tasks completed in 1.00s each ({run_id}).")),
            tool_calls: Vec::new(),
            replay: None,
        },
    ]
}

/// How many runs of `session` are stored whole: completed, with their 6 messages in order.
async fn count_whole_runs(store: &dyn SessionStore, session: &str) -> Result<usize> {
    let runs = store.runs(session).await?;
    Ok(runs
        .iter()
        .filter(|run| run.state == RunState::Completed && run.messages == run_messages(&run.record.run_id))
        .count())
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn micros(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e7).round() / 10.0
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e4).round() / 10.0
}
