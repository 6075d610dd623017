//! What tracing costs: the 10,000-call batch and a whole seed-like run, without a subscriber
//! (fanout's spans compiled in, nobody listening) and with the `otel` layer installed as the
//! global subscriber, exporting through the SDK's batch processor to an exporter that discards
//! the spans. One variant per process, so that one never sees the other's subscriber:
//!
//! ```text
//! cargo bench -p fanout --features otel --bench otel                        # no subscriber
//! FANOUT_BENCH_OTEL=1 cargo bench -p fanout --features otel --bench otel    # the otel layer
//! ```

#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fanout::exec::{ExecLimits, Executor};
use fanout::models::scripted::{ScriptedModel, Turn};
use fanout::prelude::*;
use fanout::telemetry::Telemetry;
use fanout::tool::{FunctionTool, Tool, ToolCall, ToolSet};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter,
};
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Args {
    n: u64,
}

/// Counts the spans and drops them: the cost measured is fanout's spans, the layer and the
/// SDK's processor, not a network.
#[derive(Debug)]
struct Discard(Arc<AtomicUsize>);

impl SpanExporter for Discard {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.fetch_add(black_box(batch).len(), Ordering::Relaxed);
        Ok(())
    }
}

/// Do nothing
#[tool]
async fn noop1() -> &'static str {
    "done"
}

/// Do nothing
#[tool]
async fn noop2() -> &'static str {
    "done"
}

/// Do nothing
#[tool]
async fn noop3() -> &'static str {
    "done"
}

fn bench(c: &mut Criterion) {
    let exported = Arc::new(AtomicUsize::new(0));
    let telemetry = std::env::var_os("FANOUT_BENCH_OTEL").map(|_| {
        // A queue large enough for a 10,000-call batch: no span is dropped for lack of room.
        let config = BatchConfigBuilder::default().with_max_queue_size(1 << 17).build();
        let processor =
            BatchSpanProcessor::builder(Discard(Arc::clone(&exported))).with_batch_config(config).build();
        let telemetry =
            Telemetry::from_provider(SdkTracerProvider::builder().with_span_processor(processor).build());
        tracing_subscriber::registry().with(telemetry.layer()).init();
        telemetry
    });
    let variant = if telemetry.is_some() { "otel_layer" } else { "no_subscriber" };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();

    let noop = FunctionTool::new("noop", "Does nothing", |a: Args| async move { Ok(a.n.to_string()) });
    let tools: Vec<Arc<dyn Tool>> = vec![Arc::new(noop)];
    let executor = Executor::new(Arc::new(ToolSet::new(tools).unwrap()), ExecLimits::default());
    let calls: Vec<ToolCall> =
        (0..10_000).map(|i| ToolCall::new(format!("call_{i}"), "noop", format!(r#"{{"n": {i}}}"#))).collect();
    let mut group = c.benchmark_group("otel/batch_10000");
    group.throughput(Throughput::Elements(10_000));
    group.bench_function(BenchmarkId::from_parameter(variant), |b| {
        b.iter(|| {
            // The calls' spans are children of the current span, as under an agent.
            let parent = tracing::info_span!("invoke_agent");
            runtime.block_on(executor.run(black_box(&calls), &mut |_| {}).instrument(parent))
        });
    });
    group.finish();

    // The seed's shape without its sleeps: a model turn calling three tools, their batch, a
    // final turn; 6 spans per run.
    let model = ScriptedModel::new([Turn::call_every_tool(serde_json::json!({})), Turn::text("done")]);
    let agent =
        Agent::builder().name("seed").model(model).tools(tools![noop1, noop2, noop3]).build().unwrap();
    let mut group = c.benchmark_group("otel/seed_run_3_tools");
    group.bench_function(BenchmarkId::from_parameter(variant), |b| {
        b.iter(|| runtime.block_on(agent.run("go").into_future()).unwrap());
    });
    group.finish();

    if let Some(telemetry) = telemetry {
        telemetry.flush().unwrap();
        // Proof that the spans were recorded and exported.
        let exported = exported.load(Ordering::Relaxed);
        println!("spans exported: {exported}");
        assert!(exported > 10_000);
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
