//! Executor overhead: how long a batch of no-op calls takes, i.e. what fanout adds per call.
//!
//! `cargo bench -p fanout --bench executor`

#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fanout::exec::{ExecLimits, Executor};
use fanout::tool::{FunctionTool, Tool, ToolCall, ToolSet};

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Args {
    n: u64,
}

fn executor() -> Executor {
    let noop = FunctionTool::new("noop", "Does nothing", |a: Args| async move { Ok(a.n.to_string()) });
    let blocking =
        FunctionTool::blocking("noop_sync", "Does nothing on a thread", |a: Args| Ok(a.n.to_string()));
    let sleep = FunctionTool::new("sleep10ms", "Sleeps 10 ms", |a: Args| async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        Ok(a.n.to_string())
    });
    let tools: Vec<Arc<dyn Tool>> = vec![Arc::new(noop), Arc::new(blocking), Arc::new(sleep)];
    Executor::new(Arc::new(ToolSet::new(tools).unwrap()), ExecLimits::default())
}

fn calls(tool: &str, n: usize) -> Vec<ToolCall> {
    (0..n).map(|i| ToolCall::new(format!("call_{i}"), tool, format!(r#"{{"n": {i}}}"#))).collect()
}

fn batches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let executor = executor();
    let mut group = c.benchmark_group("batch");
    for n in [1usize, 3, 100, 1_000, 10_000] {
        let batch = calls("noop", n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("async_noop", n), &batch, |b, batch| {
            b.iter(|| runtime.block_on(executor.run(black_box(batch), &mut |_| {})));
        });
    }
    let batch = calls("noop_sync", 64);
    group.throughput(Throughput::Elements(64));
    group.bench_function(BenchmarkId::new("sync_noop", 64), |b| {
        b.iter(|| runtime.block_on(executor.run(black_box(&batch), &mut |_| {})));
    });
    group.finish();

    // The same 10 ms sleep without the executor: tokio's timer rounds up to its 1 ms tick, and
    // `block_on` hands over between threads. Subtract this from the next figure.
    c.bench_function("baseline/sleep10ms", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let _ = runtime
                    .block_on(async { tokio::spawn(tokio::time::sleep(Duration::from_millis(10))).await });
                total += start.elapsed().saturating_sub(Duration::from_millis(10));
            }
            total
        });
    });

    // Overhead over the slowest tool: 3 calls sleeping 10 ms, minus the 10 ms.
    let batch = calls("sleep10ms", 3);
    c.bench_function("overhead_over_slowest/3x10ms", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                runtime.block_on(executor.run(&batch, &mut |_| {}));
                total += start.elapsed().saturating_sub(Duration::from_millis(10));
            }
            total
        });
    });
}

criterion_group!(benches, batches);
criterion_main!(benches);
