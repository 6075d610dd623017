//! Export runs as OpenTelemetry traces, over OTLP/HTTP (feature `otel`).
//!
//! Every run is traced as `tracing` spans named by the OpenTelemetry GenAI semantic
//! conventions: `invoke_agent {name}` for the run, `chat {model}` for each model request (one
//! per attempt; a failed one carries `error.type`), and `execute_tool {tool}` for each tool call.
//! Tool spans are siblings of the chat spans under the agent span, so the calls of a batch show
//! as overlapping bars. This module sends those spans to a collector (Jaeger, Tempo, an
//! OpenTelemetry Collector, …); fanout never installs an exporter on its own.
//!
//! [`init`] reads the standard environment variables:
//!
//! - `OTEL_EXPORTER_OTLP_ENDPOINT` (default `http://localhost:4318`; `/v1/traces` is appended)
//!   or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is), `OTEL_EXPORTER_OTLP_HEADERS`,
//!   `OTEL_EXPORTER_OTLP_TIMEOUT`;
//! - `OTEL_EXPORTER_OTLP_PROTOCOL` (or `..._TRACES_PROTOCOL`): `http/protobuf`, the only one
//!   this build speaks (no gRPC, no JSON);
//! - `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, the `OTEL_BSP_*` batch settings;
//! - `OTEL_SDK_DISABLED=true`: nothing is recorded or sent.
//!
//! Tool arguments and results are recorded only when asked
//! ([`AgentBuilder::trace_tool_content`](crate::AgentBuilder::trace_tool_content), or
//! `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`).
//!
//! ```no_run
//! use fanout::prelude::*;
//! use fanout::models::scripted::ScriptedModel;
//!
//! # #[tokio::main] async fn main() -> fanout::Result<()> {
//! // Installs the global subscriber: fanout's log lines and the OTLP exporter. Keep the guard:
//! // dropping it sends the spans still buffered.
//! let _telemetry = fanout::telemetry::init()?;
//! let agent = Agent::builder().name("demo").model(ScriptedModel::new([])).build()?;
//! let _ = agent.run("Hi").await;
//! # Ok(()) }
//! ```
//!
//! With a subscriber of your own, take just the layer:
//!
//! ```no_run
//! use tracing_subscriber::layer::SubscriberExt;
//! use tracing_subscriber::util::SubscriberInitExt;
//!
//! # fn main() -> fanout::Result<()> {
//! let telemetry = fanout::telemetry::Telemetry::from_env()?;
//! tracing_subscriber::registry().with(telemetry.layer()).init();
//! # Ok(()) }
//! ```

use std::time::Duration;

use opentelemetry::InstrumentationScope;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::error::{Error, Result};

/// How long dropping a [`Telemetry`] waits, at most, for the last spans to be sent.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Install a global `tracing` subscriber that prints fanout's log lines (as `log::init` does,
/// with the `terminal` feature) and exports spans of level INFO and above over OTLP,
/// configured from the environment (see the [module](self) docs).
///
/// Keep the returned guard alive: dropping it sends the spans still buffered. Fails if the
/// environment asks for an unsupported protocol, or if a global subscriber is already set (then
/// compose [`Telemetry::layer`] into yours).
pub fn init() -> Result<Telemetry> {
    let telemetry = Telemetry::from_env()?;
    let registry = tracing_subscriber::registry();
    #[cfg(feature = "terminal")]
    let registry = registry.with(crate::log::layer());
    registry
        .with(telemetry.layer().with_filter(LevelFilter::INFO))
        .try_init()
        .map_err(|err| Error::config(format!("cannot install the tracing subscriber: {err}")))?;
    if let Some(provider) = &telemetry.provider {
        opentelemetry::global::set_tracer_provider(provider.clone());
    }
    Ok(telemetry)
}

/// [`init`] when the environment names a collector (`OTEL_EXPORTER_OTLP_ENDPOINT` or
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set), else nothing: for programs that export only
/// when asked to, rather than to the default `localhost:4318`.
pub fn init_if_configured() -> Result<Option<Telemetry>> {
    let configured = ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
        .iter()
        .any(|var| std::env::var(var).is_ok_and(|value| !value.trim().is_empty()));
    configured.then(init).transpose()
}

/// A tracer provider that exports fanout's spans; a guard that sends the last ones and shuts the
/// exporter down when dropped.
#[derive(Debug)]
pub struct Telemetry {
    /// `None` when `OTEL_SDK_DISABLED=true`.
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// An OTLP/HTTP (protobuf) exporter configured from the environment (see the
    /// [module](self) docs), batching spans on a thread of its own.
    pub fn from_env() -> Result<Self> {
        if env_is_true("OTEL_SDK_DISABLED") {
            return Ok(Self { provider: None });
        }
        for var in ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"] {
            if let Ok(protocol) = std::env::var(var) {
                if protocol.trim() == "http/protobuf" {
                    break;
                }
                return Err(Error::config(format!(
                    "{var}={protocol} is not supported: fanout exports traces over OTLP with http/protobuf"
                )));
            }
        }
        Self::exporter(None)
    }

    /// An OTLP/HTTP (protobuf) exporter sending to `endpoint` (such as `http://localhost:4318`;
    /// `/v1/traces` is appended); the other settings come from the environment.
    pub fn otlp_http(endpoint: &str) -> Result<Self> {
        Self::exporter(Some(format!("{}/v1/traces", endpoint.trim_end_matches('/'))))
    }

    fn exporter(endpoint: Option<String>) -> Result<Self> {
        let mut builder =
            opentelemetry_otlp::SpanExporter::builder().with_http().with_protocol(Protocol::HttpBinary);
        if let Some(endpoint) = endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        let exporter =
            builder.build().map_err(|err| Error::config(format!("cannot build the OTLP exporter: {err}")))?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(Resource::builder().build())
            .build();
        Ok(Self::from_provider(provider))
    }

    /// Export through a tracer provider of your own (your exporter, sampler, resource).
    pub fn from_provider(provider: SdkTracerProvider) -> Self {
        Self { provider: Some(provider) }
    }

    /// The provider, when exporting is on.
    pub fn provider(&self) -> Option<&SdkTracerProvider> {
        self.provider.as_ref()
    }

    /// The `tracing-opentelemetry` layer that turns spans into OpenTelemetry spans for this
    /// provider (nothing when exporting is off). Filter it as you like; [`init`] keeps INFO and
    /// above. It exports while this `Telemetry` lives: keep it until the end of `main`.
    pub fn layer<S>(&self) -> impl Layer<S> + 'static
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        self.provider.as_ref().map(|provider| {
            let scope =
                InstrumentationScope::builder("fanout").with_version(env!("CARGO_PKG_VERSION")).build();
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer_with_scope(scope))
                .with_threads(false)
                // Busy/idle times would cost a clock read on every poll of every span.
                .with_tracked_inactivity(false)
        })
    }

    /// Send the spans buffered so far, waiting for the exporter.
    pub fn flush(&self) -> Result<()> {
        match &self.provider {
            Some(provider) => {
                provider.force_flush().map_err(|err| Error::config(format!("cannot export the spans: {err}")))
            }
            None => Ok(()),
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = &self.provider {
            // Nobody is left to tell: the process is ending, the spans are lost either way.
            let _ = provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT);
        }
    }
}

fn env_is_true(var: &str) -> bool {
    std::env::var(var).is_ok_and(|value| value.trim().eq_ignore_ascii_case("true"))
}
