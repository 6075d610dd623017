//! The spans of a run, named and attributed by the OpenTelemetry GenAI semantic conventions
//! (<https://opentelemetry.io/docs/specs/semconv/gen-ai/>):
//!
//! - `invoke_agent {name}` for a run;
//! - `chat {model}` for each model request, one per attempt (a failed attempt carries
//!   `error.type`, and the retry warning is an event on it), with the response's id and model
//!   as the provider reports them (`gen_ai.response.id`, `gen_ai.response.model`);
//! - `execute_tool {tool}` for each tool call that runs, a child of the span current when its
//!   batch was created — the agent span —, so the calls of a batch are overlapping siblings of
//!   the chat spans, even those started eagerly while the model still streams. Calls that never
//!   run (over a limit, rejected by the user, given the result of an identical running call) have
//!   none: their results are in the run's output and events.
//!
//! They are plain `tracing` spans at INFO level: when no subscriber listens (or only fanout's
//! logger, which ignores spans), a span costs one cached callsite check and the field values are
//! never computed. `otel.name`, `otel.kind` and `otel.status_description` are the fields
//! `tracing-opentelemetry` maps to the OpenTelemetry span name, kind and status.

use std::sync::OnceLock;

use tracing::Span;
use tracing::field::Empty;

use crate::error::{Error, ErrorKind};
use crate::model::{FinishReason, Model, Usage};
use crate::tool::{ToolCall, ToolError, ToolResult, ToolSet};

/// Longest tool argument or result text recorded on a span (when content capture is on).
const MAX_CONTENT: usize = 16 * 1024;

/// The env var that turns on capture of tool arguments and results for every agent, as
/// OpenTelemetry's GenAI instrumentations name it.
pub(crate) const CAPTURE_CONTENT_ENV: &str = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT";

/// True when [`CAPTURE_CONTENT_ENV`] is `true` (read once).
pub(crate) fn capture_content_from_env() -> bool {
    static CAPTURE: OnceLock<bool> = OnceLock::new();
    *CAPTURE.get_or_init(|| {
        std::env::var(CAPTURE_CONTENT_ENV).is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"))
    })
}

/// The span of one run.
pub(crate) fn agent(name: Option<&str>, model: &dyn Model) -> Span {
    let span = tracing::info_span!(
        "invoke_agent",
        otel.name = %name.map_or_else(|| "invoke_agent".to_owned(), |n| format!("invoke_agent {n}")),
        otel.kind = "internal",
        otel.status_description = Empty,
        gen_ai.operation.name = "invoke_agent",
        gen_ai.provider.name = model.provider(),
        gen_ai.request.model = model.id(),
        gen_ai.agent.name = Empty,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        error.type = Empty,
        fanout.run.status = Empty,
    );
    if let Some(name) = name {
        span.record("gen_ai.agent.name", name);
    }
    span
}

/// Record how a run ended on its span.
pub(crate) fn agent_done(span: &Span, outcome: Result<(&Usage, &dyn std::fmt::Debug), &Error>) {
    match outcome {
        Ok((usage, status)) => {
            record_usage(span, usage);
            span.record("fanout.run.status", tracing::field::debug(status));
        }
        Err(err) => failed(span, &error_type(err), &err.to_string()),
    }
}

/// The span of one model request (`attempt` 0 is the first, 1 the first retry, …).
pub(crate) fn chat(model: &dyn Model, turn: usize, attempt: u32, streaming: bool) -> Span {
    tracing::info_span!(
        "chat",
        otel.name = %format!("chat {}", model.id()),
        otel.kind = "client",
        otel.status_description = Empty,
        gen_ai.operation.name = "chat",
        gen_ai.provider.name = model.provider(),
        gen_ai.request.model = model.id(),
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        gen_ai.response.finish_reasons = Empty,
        gen_ai.response.id = Empty,
        gen_ai.response.model = Empty,
        error.type = Empty,
        fanout.turn = int(turn),
        fanout.retry = i64::from(attempt),
        fanout.stream = streaming,
        fanout.tool_calls = Empty,
    )
}

/// Record who answered a model request (the provider's response id and model), as soon as
/// the provider says: a request that fails later keeps them too.
pub(crate) fn chat_response(span: &Span, id: Option<&str>, model: Option<&str>) {
    if let Some(id) = id {
        span.record("gen_ai.response.id", id);
    }
    if let Some(model) = model {
        span.record("gen_ai.response.model", model);
    }
}

/// Record a successful model request on its span.
pub(crate) fn chat_done(
    span: &Span,
    usage: Option<&Usage>,
    finish: Option<&FinishReason>,
    tool_calls: usize,
) {
    if span.is_disabled() {
        return;
    }
    if let Some(usage) = usage {
        record_usage(span, usage);
    }
    span.record("fanout.tool_calls", int(tool_calls));
    if let Some(reason) = finish {
        finish_reasons(span, finish_reason(reason));
    }
}

fn record_usage(span: &Span, usage: &Usage) {
    span.record("gen_ai.usage.input_tokens", int(usage.input_tokens));
    span.record("gen_ai.usage.output_tokens", int(usage.output_tokens));
}

/// Integers as `i64`: `tracing-opentelemetry` exports unsigned ones as text.
fn int(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

/// The conventions' `string[]`: an array where the OpenTelemetry layer is ours (the `otel`
/// feature), a plain string otherwise (`tracing` fields have no arrays).
fn finish_reasons(span: &Span, reason: &str) {
    #[cfg(feature = "otel")]
    {
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        let reasons = opentelemetry::Array::String(vec![reason.to_owned().into()]);
        span.set_attribute("gen_ai.response.finish_reasons", opentelemetry::Value::Array(reasons));
    }
    #[cfg(not(feature = "otel"))]
    span.record("gen_ai.response.finish_reasons", reason);
}

/// The conventions' finish reason names.
fn finish_reason(reason: &FinishReason) -> &str {
    match reason {
        FinishReason::Stop => "stop",
        FinishReason::ToolCalls => "tool_calls",
        FinishReason::Length => "length",
        FinishReason::ContentFilter => "content_filter",
        FinishReason::PauseTurn => "pause_turn",
        FinishReason::Other(other) => other,
    }
}

/// Record a failed model request on its span.
pub(crate) fn chat_failed(span: &Span, err: &Error) {
    if !span.is_disabled() {
        failed(span, &error_type(err), &err.to_string());
    }
}

fn failed(span: &Span, error_type: &str, message: &str) {
    span.record("error.type", error_type);
    // Sets the status to error with this description (a separate `otel.status_code` would set
    // it first without one, and the SDK keeps the first error status).
    span.record("otel.status_description", message);
}

/// A low-cardinality name for a model error: the HTTP status when there is one (as the
/// conventions ask), else its kind.
fn error_type(err: &Error) -> String {
    if let Some(status) = err.status() {
        return status.to_string();
    }
    match err.kind() {
        ErrorKind::Config => "config",
        ErrorKind::Connect => "connect",
        ErrorKind::Timeout => "timeout",
        ErrorKind::Status => "status",
        ErrorKind::InvalidResponse => "invalid_response",
        ErrorKind::IncompleteStream => "incomplete_stream",
        ErrorKind::Cancelled => "cancelled",
        ErrorKind::Io => "io",
        ErrorKind::Storage => "storage",
        ErrorKind::InvalidOutput => "invalid_output",
        ErrorKind::Other => "_OTHER",
    }
    .to_owned()
}

/// The span of one tool call, from its start (after any wait for a slot) to its end. Dropped
/// before [`finish`](ToolSpan::finish) — the call was aborted — it records the cancellation.
pub(crate) struct ToolSpan {
    span: Span,
    capture: bool,
    open: bool,
}

impl ToolSpan {
    pub(crate) fn start(parent: &Span, tools: &ToolSet, call: &ToolCall, capture: bool) -> Self {
        let span = tracing::info_span!(
            parent: parent,
            "execute_tool",
            otel.name = %format!("execute_tool {}", call.name),
            otel.kind = "internal",
                otel.status_description = Empty,
            gen_ai.operation.name = "execute_tool",
            gen_ai.tool.name = %call.name,
            gen_ai.tool.call.id = %call.id,
            gen_ai.tool.type = "function",
            gen_ai.tool.description = Empty,
            gen_ai.tool.call.arguments = Empty,
            gen_ai.tool.call.result = Empty,
            error.type = Empty,
            fanout.tool.cached = Empty,
        );
        if !span.is_disabled() {
            if let Some(entry) = tools.get(&call.name) {
                span.record("gen_ai.tool.description", entry.tool.definition().description.as_str());
            }
            if capture {
                span.record("gen_ai.tool.call.arguments", bounded(&call.arguments));
            }
        }
        Self { span, capture, open: true }
    }

    /// The span, to run the call in.
    pub(crate) fn span(&self) -> &Span {
        &self.span
    }

    /// The result came from the tool cache.
    pub(crate) fn cached(self) -> Self {
        self.span.record("fanout.tool.cached", true);
        self
    }

    /// Record the call's result; the span ends when `self` is dropped.
    pub(crate) fn finish(mut self, result: &ToolResult) {
        self.open = false;
        if self.span.is_disabled() {
            return;
        }
        match result {
            Ok(text) if self.capture => {
                self.span.record("gen_ai.tool.call.result", bounded(text));
            }
            Ok(_) => {}
            Err(err) => failed(&self.span, tool_error_type(err), &err.to_string()),
        }
    }
}

impl Drop for ToolSpan {
    fn drop(&mut self) {
        if self.open && !self.span.is_disabled() {
            failed(&self.span, "cancelled", "the call was cancelled before it finished");
        }
    }
}

fn tool_error_type(err: &ToolError) -> &'static str {
    match err {
        ToolError::UnknownTool { .. } => "unknown_tool",
        ToolError::InvalidJson(_) => "invalid_json",
        ToolError::InvalidArguments(_) => "invalid_arguments",
        ToolError::Failed(_) => "failed",
        ToolError::Panicked(_) => "panicked",
        ToolError::TimedOut(_) => "timeout",
        ToolError::NotRun(_) => "not_run",
        ToolError::Rejected(_) => "rejected",
    }
}

/// `text`, cut to at most [`MAX_CONTENT`] bytes on a character boundary.
fn bounded(text: &str) -> &str {
    if text.len() <= MAX_CONTENT {
        return text;
    }
    let mut end = MAX_CONTENT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;
    use crate::model::scripted::ScriptedModel;

    #[test]
    fn fanouts_logger_neither_records_nor_prints_spans() {
        let model = ScriptedModel::new([]);
        let subscriber = tracing_subscriber::registry().with(crate::log::layer());
        tracing::subscriber::with_default(subscriber, || {
            // Disabled: no span data is allocated, no field computed, nothing reaches the lines.
            assert!(agent(Some("a"), &model).is_disabled());
            assert!(chat(&model, 0, 0, true).is_disabled());
        });
    }
}
