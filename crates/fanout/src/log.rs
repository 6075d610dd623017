//! The logger: Agno-style lines on stderr (`INFO    Task 1 has started`), through `tracing`.
//!
//! Use the `info!`, `debug!`, `warn!` and `error!` macros of the prelude anywhere, tools
//! included. The agent installs this logger on first use unless a `tracing` subscriber is
//! already set (yours is kept). The level comes from `FANOUT_LOG`, in `RUST_LOG` syntax
//! (default `info`); an agent built with `debug_mode(true)` also shows fanout's own debug lines
//! (requests, responses, timings — never the API key).
//!
//! While `print_response` draws live panels, log lines are written above them so they never
//! tear the display. Control characters in messages and fields are shown, never obeyed (see
//! [`inert`]).

use std::fmt::Write as _;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{EnvFilter, FilterExt, filter_fn};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

use crate::terminal::{inert, live};

static DEBUG: AtomicBool = AtomicBool::new(false);

/// Install fanout's logger, once, unless a global `tracing` subscriber is already set.
pub fn init() {
    if tracing::dispatcher::has_been_set() {
        return;
    }
    // Fails only if another subscriber won a race to be set: then that one is kept.
    let _ = tracing_subscriber::registry().with(layer()).try_init();
}

/// The logger as a layer, for a subscriber that also exports traces. It takes events only:
/// spans (fanout's trace spans included) are neither recorded nor printed by it, so they cost
/// nothing when nothing else listens.
pub(crate) fn layer<S: Subscriber + for<'a> LookupSpan<'a>>() -> impl Layer<S> {
    let default = if DEBUG.load(Ordering::Relaxed) { "info,fanout=debug" } else { "info" };
    let filter = EnvFilter::try_from_env("FANOUT_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let color = io::IsTerminal::is_terminal(&io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    AgnoLines { color }.with_filter(filter.and(filter_fn(|metadata| metadata.is_event())))
}

/// Show fanout's debug lines (set by `debug_mode(true)`); takes effect if fanout installs the
/// logger, i.e. unless you set your own subscriber or `FANOUT_LOG`.
pub(crate) fn enable_debug() {
    DEBUG.store(true, Ordering::Relaxed);
}

/// Formats each event as `LEVEL   message key=value` and writes it above any live display.
struct AgnoLines {
    color: bool,
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for AgnoLines {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let line = format_line(*event.metadata().level(), &fields, self.color);
        let _ = live::write_above(line.as_bytes());
    }
}

/// `INFO    message key=value⏎`, with anything a terminal would obey made inert: a tool may log
/// what a model or a server sent.
fn format_line(level: Level, fields: &Fields, color: bool) -> String {
    let (name, code) = match level {
        Level::ERROR => ("ERROR", "31"),
        Level::WARN => ("WARN", "33"),
        Level::INFO => ("INFO", "32"),
        Level::DEBUG => ("DEBUG", "2"),
        Level::TRACE => ("TRACE", "2"),
    };
    let mut line = String::new();
    if color {
        let _ = write!(line, "\x1b[{code}m{name:<8}\x1b[0m");
    } else {
        let _ = write!(line, "{name:<8}");
    }
    line.push_str(&inert(&fields.message));
    line.push_str(&inert(&fields.fields));
    line.push('\n');
    line
}

#[derive(Default)]
struct Fields {
    message: String,
    fields: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_show_control_characters_instead_of_obeying_them() {
        let fields =
            Fields { message: "got \x1b]52;c;eA==\x07 and \u{9b}2J".into(), fields: " raw=\x1b[2J".into() };
        assert_eq!(
            format_line(Level::INFO, &fields, false),
            "INFO    got ␛]52;c;eA==␇ and \\u{9b}2J raw=␛[2J\n"
        );
        let coloured = format_line(Level::WARN, &fields, true);
        assert!(coloured.starts_with("\x1b[33mWARN    \x1b[0mgot ␛]52"), "{coloured:?}");
    }
}
