//! What tracing costs: the 10,000-call batch and a whole seed-like run, with no subscriber
//! (fanout's spans compiled in, nobody listening) and with the `otel` layer installed, exporting
//! through the SDK's batch processor to an exporter that discards the spans.
//!
//! `cargo bench -p fanout --features otel --bench otel`

#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::Arc;

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

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Args {
    n: u64,
}

/// Accepts every span and drops it: the cost measured is fanout's spans, the layer and the
/// SDK's processor, not a network.
#[derive(Debug)]
struct Discard;

impl SpanExporter for Discard {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        black_box(batch);
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

/// A multi-thread runtime; with `dispatch`, every thread of it (and the caller of `block_on`)
/// uses that subscriber.
fn runtime(dispatch: Option<&tracing::Dispatch>) -> tokio::runtime::Runtime {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(dispatch) = dispatch {
        let dispatch = dispatch.clone();
        builder.on_thread_start(move || std::mem::forget(tracing::dispatcher::set_default(&dispatch)));
    }
    builder.build().unwrap()
}

fn bench(c: &mut Criterion) {
    // A queue large enough for a 10,000-call batch: no span is dropped for lack of room.
    let config = BatchConfigBuilder::default().with_max_queue_size(1 << 17).build();
    let processor = BatchSpanProcessor::builder(Discard).with_batch_config(config).build();
    let telemetry =
        Telemetry::from_provider(SdkTracerProvider::builder().with_span_processor(processor).build());
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(telemetry.layer()));
    let variants = [("no_subscriber", None), ("otel_layer", Some(dispatch))];

    let noop = FunctionTool::new("noop", "Does nothing", |a: Args| async move { Ok(a.n.to_string()) });
    let tools: Vec<Arc<dyn Tool>> = vec![Arc::new(noop)];
    let executor = Executor::new(Arc::new(ToolSet::new(tools).unwrap()), ExecLimits::default());
    let calls: Vec<ToolCall> =
        (0..10_000).map(|i| ToolCall::new(format!("call_{i}"), "noop", format!(r#"{{"n": {i}}}"#))).collect();
    let mut group = c.benchmark_group("otel/batch");
    group.throughput(Throughput::Elements(10_000));
    for (name, dispatch) in &variants {
        let runtime = runtime(dispatch.as_ref());
        let dispatch = dispatch.clone().unwrap_or_else(tracing::Dispatch::none);
        group.bench_function(BenchmarkId::new(*name, 10_000), |b| {
            b.iter(|| {
                tracing::dispatcher::with_default(&dispatch, || {
                    let parent = tracing::info_span!("invoke_agent");
                    runtime.block_on(executor.run(black_box(&calls), &mut |_| {}).instrument(parent))
                })
            });
        });
    }
    group.finish();

    // The seed's shape without its sleeps: a model turn calling three tools, their batch, a
    // final turn; 6 spans per run.
    let model = ScriptedModel::new([Turn::call_every_tool(serde_json::json!({})), Turn::text("done")]);
    let agent =
        Agent::builder().name("seed").model(model).tools(tools![noop1, noop2, noop3]).build().unwrap();
    let mut group = c.benchmark_group("otel/seed_run");
    for (name, dispatch) in &variants {
        let runtime = runtime(dispatch.as_ref());
        let dispatch = dispatch.clone().unwrap_or_else(tracing::Dispatch::none);
        group.bench_function(BenchmarkId::new(*name, "3_tools"), |b| {
            b.iter(|| {
                tracing::dispatcher::with_default(&dispatch, || runtime.block_on(agent.run("go")).unwrap())
            });
        });
    }
    group.finish();
    telemetry.flush().unwrap();
}

criterion_group!(benches, bench);
criterion_main!(benches);
