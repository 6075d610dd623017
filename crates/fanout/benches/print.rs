//! Printing a streamed markdown answer: 4-character deltas into an 80 × 24 live terminal (the
//! output goes to a sink), at two frame rates: one frame every 5 deltas (a model at ~100 tokens/s
//! drawn at 20 frames/s) and one frame after every delta (the worst case). The cost per character
//! must stay flat as the answer grows.
//!
//! Measured in CPU time of the benchmarking thread (on Unix), so other load on the machine does
//! not count.
//!
//! `cargo bench -p fanout --bench print`

#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fanout::EventKind;
use fanout::print::{Mode, PrintOptions, Printer};

/// A markdown answer of about `chars` characters: headings, paragraphs, lists, code, tables.
fn answer(chars: usize) -> String {
    let mut text = String::new();
    let mut section = 1;
    while text.len() < chars {
        text.push_str(&format!("## Section {section}\n\n"));
        text.push_str(
            "The tools ran **at the same time**, so the whole batch took as long as the slowest \
             call. Each result went back to the model in the order of the calls, and the answer \
             streamed to the terminal as it was written, token by token.\n\n",
        );
        text.push_str("- the first point, with `inline code` and a [link](https://example.com)\n");
        text.push_str("- the second point, long enough to wrap once on an eighty-column terminal window\n");
        text.push_str("  1. a nested item\n  2. another one\n\n");
        text.push_str("```rust\nfn main() {\n    println!(\"hello\");\n}\n```\n\n");
        text.push_str("| task | result |\n|---|---|\n| one | done in 3.00s |\n| two | done in 2.50s |\n\n");
        section += 1;
    }
    text.truncate(chars);
    text
}

fn deltas(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(4).map(|c| c.iter().collect()).collect()
}

fn print(deltas: &[String], frame_every: usize) -> usize {
    let mut options = PrintOptions::default();
    options.width = Some(80);
    options.height = Some(24);
    options.mode = Some(Mode::Live);
    let mut printer = Printer::new(std::io::sink(), options);
    printer.start("Summarize the results").unwrap();
    for (i, delta) in deltas.iter().enumerate() {
        printer.event(&EventKind::ContentDelta(delta.clone())).unwrap();
        if (i + 1) % frame_every == 0 {
            printer.tick().unwrap();
        }
    }
    printer.finish().unwrap();
    deltas.len()
}

/// CPU time used by this thread so far.
#[cfg(unix)]
fn cpu_time() -> Duration {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// Elsewhere, time since the first call (wall time).
#[cfg(not(unix))]
fn cpu_time() -> Duration {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed()
}

fn bench(c: &mut Criterion) {
    for (name, frame_every) in [("frame_every_5_deltas", 5), ("frame_every_delta", 1)] {
        let mut group = c.benchmark_group(format!("print/{name}"));
        group.sample_size(10);
        for chars in [8_000, 32_000, 128_000] {
            let deltas = deltas(&answer(chars));
            group.throughput(Throughput::Bytes(chars as u64));
            group.bench_with_input(BenchmarkId::from_parameter(chars), &deltas, |b, deltas| {
                b.iter_custom(|iters| {
                    let start = cpu_time();
                    for _ in 0..iters {
                        black_box(print(deltas, frame_every));
                    }
                    cpu_time().saturating_sub(start)
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
