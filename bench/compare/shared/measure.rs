//! Measurement code shared by the Rust bench programs (fanout-bench, rig-bench include it with
//! `#[path]`), so both frameworks are measured by the very same code.

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Counts heap bytes allocated, for the instantiation scenario.
struct Counting;
static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Build `n` agents with `build`; print time and heap bytes allocated per agent as JSON.
pub fn instantiation(n: usize, mut build: impl FnMut()) {
    let before = ALLOCATED.load(Ordering::Relaxed);
    let start = Instant::now();
    for _ in 0..n {
        build();
    }
    let elapsed = start.elapsed();
    let bytes = ALLOCATED.load(Ordering::Relaxed) - before;
    println!(
        "{{\"us_per_agent\": {:.3}, \"bytes_per_agent\": {}}}",
        elapsed.as_secs_f64() * 1e6 / n as f64,
        bytes / n
    );
}

/// Start `k` runs at once, each its own task; print runs/s and p50/p99 latency as JSON.
/// Call inside a tokio runtime.
pub async fn throughput<F, Fut, T, E>(k: usize, run: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    let start = Instant::now();
    let runs: Vec<_> = (0..k)
        .map(|_| {
            let run = run();
            tokio::spawn(async move {
                let t = Instant::now();
                run.await.map(|_| t.elapsed())
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = Vec::new();
    for run in runs {
        if let Ok(Ok(latency)) = run.await {
            latencies.push(latency);
        }
    }
    let total = start.elapsed();
    latencies.sort();
    let pct = |p: f64| {
        latencies.get(((latencies.len() as f64 - 1.0) * p) as usize).map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    println!(
        "{{\"runs\": {}, \"ok\": {}, \"runs_per_s\": {:.1}, \"p50_ms\": {:.2}, \"p99_ms\": {:.2}}}",
        k,
        latencies.len(),
        latencies.len() as f64 / total.as_secs_f64(),
        pct(0.5),
        pct(0.99)
    );
}
