//! What durable runs cost: each tool result stored the moment its call completes. Writes the
//! "Durable runs" table of BENCHMARKS.md.
//!
//! ```sh
//! cargo bench -p fanout-sql --bench durable     # no store, MemoryStore, SQLite, PostgreSQL
//! QUICK=1 cargo bench -p fanout-sql --bench durable
//! ```
//!
//! PostgreSQL is a throw-away cluster (the tests' `support/postgres.rs`: Debian's `postgresql`),
//! or the server of `FANOUT_TEST_POSTGRES_URL`; without it that column is skipped.
//!
//! - **Per tool call**: runs whose one batch has 1 call, and runs whose batch has 33 instant
//!   calls (each run a session of its own, so history stays empty); the difference of the
//!   medians over 32 is what one more call costs, store included (one `append_messages` of its
//!   result, as it completes, on its own connection while the batch goes on).
//! - **Siblings**: a batch of 10 calls that each sleep 50 ms: the batch's wall time with a store
//!   is the same as without — the writes go on beside the calls, none waits for them.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unreachable_pub)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use fanout::models::scripted::{ScriptedModel, Turn};
use fanout::prelude::*;
use fanout::store::{MemoryStore, SessionStore};
use serde_json::json;

/// Return at once
///
/// # Arguments
/// * `i` - Which call
#[tool]
async fn instant(i: u32) -> String {
    format!("result {i}")
}

/// Sleep
///
/// # Arguments
/// * `ms` - How long
#[tool]
async fn nap(ms: u64) -> String {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    format!("slept {ms} ms")
}

fn agent(store: Option<Arc<dyn SessionStore>>, first: Turn) -> Agent {
    let model = ScriptedModel::new([first, Turn::text("done")]);
    let builder = Agent::builder().model(model).tool(instant).tool(nap);
    match store {
        Some(store) => builder.store(store).build().unwrap(),
        None => builder.build().unwrap(),
    }
}

fn calls(k: u32) -> Turn {
    Turn::calls((0..k).map(|i| ("instant", json!({ "i": i }))))
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Median time of a run of `agent`, each in a new session.
async fn time_runs(agent: &Agent, runs: usize) -> Duration {
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let output = agent.run("go").session(fanout::store::new_session_id()).await.unwrap();
        samples.push(started.elapsed());
        assert_eq!(output.content, "done");
    }
    median(samples)
}

struct Row {
    name: &'static str,
    one: Duration,
    many: Duration,
    siblings: Duration,
}

async fn measure(name: &'static str, store: Option<Arc<dyn SessionStore>>, runs: usize) -> Row {
    let one = agent(store.clone(), calls(1));
    let many = agent(store.clone(), calls(33));
    let naps = agent(store, Turn::calls((0..10).map(|_| ("nap", json!({"ms": 50})))));
    // Warm up (connections, statement caches).
    time_runs(&one, 3).await;
    time_runs(&many, 3).await;
    let (mut ones, mut manys) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        ones.push(time_runs(&one, runs / 5).await);
        manys.push(time_runs(&many, runs / 5).await);
    }
    let siblings = time_runs(&naps, runs.min(20)).await;
    Row { name, one: median(ones), many: median(manys), siblings }
}

fn main() {
    let quick = std::env::var("QUICK").as_deref() == Ok("1");
    let runs = if quick { 20 } else { 100 };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = support::TempDir::new("fanout-durable-bench");
    let rows = runtime.block_on(async {
        let mut rows = vec![
            measure("no store", None, runs).await,
            measure("MemoryStore", Some(Arc::new(MemoryStore::new())), runs).await,
        ];
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        rows.push(measure("SQLite (file, WAL)", Some(fanout_sql::connect(&url).await.unwrap()), runs).await);
        if let Some(url) = support::postgres::database().await {
            rows.push(
                measure("PostgreSQL (loopback)", Some(fanout_sql::connect(&url).await.unwrap()), runs).await,
            );
        }
        rows
    });
    let base = rows[0].many.saturating_sub(rows[0].one).as_secs_f64() / 32.0;
    println!(
        "| store | run, 1 call | run, 33 calls | per call | per call, over no store | 10 calls of 50 ms |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for row in &rows {
        let per_call = row.many.saturating_sub(row.one).as_secs_f64() / 32.0;
        println!(
            "| {} | {:.2} ms | {:.2} ms | {:.1} µs | {:.1} µs | {:.1} ms |",
            row.name,
            row.one.as_secs_f64() * 1e3,
            row.many.as_secs_f64() * 1e3,
            per_call * 1e6,
            (per_call - base) * 1e6,
            row.siblings.as_secs_f64() * 1e3,
        );
    }
}
