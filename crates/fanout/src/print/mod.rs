//! Terminal rendering of a run, from its [`RunEvent`]s only: Agno's "Message", "Tool Calls" and
//! "Response (3.1s)" panels, plus a live spinner and elapsed time per call while a batch runs and
//! a timeline of each batch once it is done, so the overlap is visible.
//!
//! On a terminal the panels are redrawn in place as events arrive ([`Mode::Live`]); when stdout
//! is not a terminal, or `NO_COLOR` is set, or `TERM=dumb`, the same content is printed once per
//! panel as plain text without any escape code ([`Mode::Plain`]).

mod live;
mod markdown;
mod panel;
mod style;

use std::collections::HashSet;
use std::io::{self, IsTerminal, Write};
use std::time::Duration;

use tokio::time::Instant;

pub(crate) use live::write_above;
use style::{Color, Line, Style, truncate};

use crate::event::RunEvent;
use crate::exec::ToolExecution;
use crate::output::{RunOutput, RunStatus};

/// How output is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Redrawn in place with colours: for terminals.
    Live,
    /// Each panel printed once, no escape codes: for pipes, files, `NO_COLOR`.
    Plain,
}

impl Mode {
    /// `Live` when stdout is a terminal and neither `NO_COLOR` nor `TERM=dumb` is set.
    pub fn detect() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        if io::stdout().is_terminal() && !no_color && !dumb { Mode::Live } else { Mode::Plain }
    }
}

/// What to print and how.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PrintOptions {
    /// Render the response as markdown (otherwise as plain wrapped text).
    pub markdown: bool,
    /// Print the "Message" panel.
    pub show_message: bool,
    /// Print the "Tool Calls" panels.
    pub show_tool_calls: bool,
    /// Print the results of calls of these tools (tools marked `show_result`).
    pub show_results_for: HashSet<String>,
    /// One line per call, no timeline.
    pub compact: bool,
    /// Width in columns; the terminal's (or 80) when `None`.
    pub width: Option<usize>,
    /// Drawing mode; detected when `None`.
    pub mode: Option<Mode>,
}

impl Default for PrintOptions {
    fn default() -> Self {
        Self {
            markdown: true,
            show_message: true,
            show_tool_calls: true,
            show_results_for: HashSet::new(),
            compact: false,
            width: None,
            mode: None,
        }
    }
}

#[derive(Debug, Clone)]
struct CallView {
    name: String,
    arguments: String,
    started: Option<Instant>,
    execution: Option<ToolExecution>,
}

#[derive(Debug, Clone, Default)]
struct BatchView {
    calls: Vec<Option<CallView>>,
    /// Calls the model asked for in this turn, once the turn is over.
    expected: Option<usize>,
    printed: bool,
}

impl BatchView {
    fn is_done(&self) -> bool {
        self.expected.is_some_and(|n| n == self.calls.len())
            && self.calls.iter().all(|c| c.as_ref().is_some_and(|c| c.execution.is_some()))
    }
}

/// Draws a run from its events. Feed it [`RunEvent`]s with [`event`](Printer::event), call
/// [`tick`](Printer::tick) a few times a second to animate, and [`finish`](Printer::finish).
///
/// ```
/// use fanout::print::{Mode, PrintOptions, Printer};
/// use fanout::RunEvent;
///
/// let mut options = PrintOptions::default();
/// options.width = Some(40);
/// options.mode = Some(Mode::Plain);
/// let mut printer = Printer::new(Vec::new(), options);
/// printer.start("Hello?")?;
/// printer.event(&RunEvent::ContentDelta("Hi **there**".into()))?;
/// printer.finish()?;
/// let text = String::from_utf8(printer.into_inner()).unwrap();
/// assert!(text.contains("┃ Hello?"));
/// assert!(text.contains("┃ Hi there"));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Printer<W: Write> {
    out: W,
    options: PrintOptions,
    mode: Mode,
    width: usize,
    height: usize,
    /// The live region belongs to stdout's global slot (so log lines can go above it).
    on_stdout: bool,
    region: live::Region,
    /// Frame lines already printed for good (scrolled off the live region).
    settled: usize,
    started: Instant,
    input: String,
    batches: Vec<BatchView>,
    response: String,
    reasoning: String,
    note: Option<String>,
    spinner: usize,
    finished: bool,
    guard: Option<CursorGuard>,
}

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

impl Printer<io::Stdout> {
    /// A printer on stdout, sized to the terminal.
    pub fn stdout(options: PrintOptions) -> Self {
        let mut printer = Printer::new(io::stdout(), options);
        printer.on_stdout = printer.mode == Mode::Live;
        printer
    }
}

impl<W: Write> Printer<W> {
    /// A printer writing to `out`.
    pub fn new(out: W, options: PrintOptions) -> Self {
        let mode = options.mode.unwrap_or_else(Mode::detect);
        let (cols, rows) =
            crossterm::terminal::size().map(|(c, r)| (c as usize, r as usize)).unwrap_or((80, 24));
        let width = options.width.unwrap_or(if mode == Mode::Live { cols } else { 80 }).max(20);
        Self {
            out,
            options,
            mode,
            width,
            height: rows.max(5),
            on_stdout: false,
            region: live::Region::default(),
            settled: 0,
            started: Instant::now(),
            input: String::new(),
            batches: Vec::new(),
            response: String::new(),
            reasoning: String::new(),
            note: None,
            spinner: 0,
            finished: false,
            guard: None,
        }
    }

    /// The writer back (for tests).
    pub fn into_inner(self) -> W {
        self.out
    }

    /// Start drawing a run of `input`.
    pub fn start(&mut self, input: &str) -> io::Result<()> {
        self.started = Instant::now();
        self.input = input.to_owned();
        if self.mode == Mode::Live {
            // Hide the cursor; the blank line keeps the live region off the top row (see
            // `draw_live`).
            writeln!(self.out, "\x1b[?25l")?;
            if self.on_stdout {
                live::STDOUT.lock().unwrap_or_else(|p| p.into_inner()).replace(live::Region::default());
                self.guard = Some(CursorGuard);
            }
        }
        if self.mode == Mode::Plain && self.options.show_message {
            let lines = self.message_panel();
            self.print_plain(&lines)?;
        }
        self.redraw()
    }

    /// Take one event into account and redraw.
    pub fn event(&mut self, event: &RunEvent) -> io::Result<()> {
        match event {
            RunEvent::ContentDelta(text) => self.response.push_str(text),
            RunEvent::ReasoningDelta(text) => self.reasoning.push_str(text),
            RunEvent::ToolCallStarted { turn, index, call, at } => {
                let started = self.started + *at;
                self.call_view(*turn, *index, &call.name, &call.arguments).started = Some(started);
            }
            RunEvent::ToolCallCompleted { turn, index, execution } => {
                let call = &execution.call;
                let started = self.started;
                let view = self.call_view(*turn, *index, &call.name, &call.arguments);
                view.started.get_or_insert(started);
                view.execution = Some(execution.clone());
            }
            RunEvent::ModelTurnCompleted { turn, tool_calls, .. } if *tool_calls > 0 => {
                let batch = self.batch(*turn);
                batch.expected = Some(*tool_calls);
                if batch.calls.len() < *tool_calls {
                    batch.calls.resize(*tool_calls, None);
                }
            }
            RunEvent::ModelTurnCompleted { .. } => {
                // Text before a tool batch belongs to that turn, not to the final answer.
            }
            RunEvent::RunCompleted(output) => self.note = status_note(output),
            _ => {}
        }
        if let RunEvent::ModelTurnCompleted { tool_calls, .. } = event
            && *tool_calls > 0
        {
            self.response.clear();
        }
        if self.mode == Mode::Plain {
            self.print_finished_batches()?;
        }
        self.redraw()
    }

    /// Advance spinners and elapsed times.
    pub fn tick(&mut self) -> io::Result<()> {
        self.spinner = (self.spinner + 1) % SPINNER.len();
        self.redraw()
    }

    /// Draw the final frame and restore the terminal.
    pub fn finish(&mut self) -> io::Result<()> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        if self.mode == Mode::Plain {
            self.print_finished_batches()?;
            let mut lines = self.response_panel();
            if let Some(note) = &self.note {
                lines.push(note.clone());
            }
            self.print_plain(&lines)?;
        } else {
            self.redraw_final()?;
        }
        self.release()
    }

    /// The run failed: show why under what was drawn.
    pub fn error(&mut self, error: &crate::Error) -> io::Result<()> {
        self.note = Some(format!("Error: {error}"));
        self.finish()
    }

    /// Ctrl-C: keep what was drawn, say so, restore the terminal.
    pub fn interrupted(&mut self) -> io::Result<()> {
        self.note = Some("Interrupted: the run was cancelled.".to_owned());
        self.finish()
    }

    fn release(&mut self) -> io::Result<()> {
        if self.mode == Mode::Live {
            write!(self.out, "\x1b[?25h")?;
            if self.on_stdout {
                live::STDOUT.lock().unwrap_or_else(|p| p.into_inner()).take();
            }
        }
        if let Some(guard) = self.guard.take() {
            std::mem::forget(guard);
        }
        self.out.flush()
    }

    fn batch(&mut self, turn: usize) -> &mut BatchView {
        // Batches are keyed by turn; turns without tools have none, so index by position.
        while self.batches.len() <= turn {
            self.batches.push(BatchView::default());
        }
        &mut self.batches[turn]
    }

    fn call_view(&mut self, turn: usize, index: usize, name: &str, arguments: &str) -> &mut CallView {
        let batch = self.batch(turn);
        if batch.calls.len() <= index {
            batch.calls.resize(index + 1, None);
        }
        batch.calls[index].get_or_insert_with(|| CallView {
            name: name.to_owned(),
            arguments: arguments.to_owned(),
            started: None,
            execution: None,
        })
    }

    fn print_plain(&mut self, lines: &[String]) -> io::Result<()> {
        for line in lines {
            writeln!(self.out, "{line}")?;
        }
        self.out.flush()
    }

    fn print_finished_batches(&mut self) -> io::Result<()> {
        if !self.options.show_tool_calls {
            return Ok(());
        }
        for i in 0..self.batches.len() {
            if !self.batches[i].printed && self.batches[i].is_done() {
                self.batches[i].printed = true;
                let lines = self.tool_panel(&self.batches[i], true);
                self.print_plain(&lines)?;
            }
        }
        Ok(())
    }

    fn color(&self) -> bool {
        self.mode == Mode::Live
    }

    fn frame(&self, final_frame: bool) -> Vec<String> {
        let mut lines = Vec::new();
        if self.options.show_message {
            lines.extend(self.message_panel());
        }
        if self.options.show_tool_calls {
            for batch in self.batches.iter().filter(|b| !b.calls.is_empty()) {
                lines.extend(self.tool_panel(batch, final_frame || batch.is_done()));
            }
        }
        if !self.response.is_empty() || !self.reasoning.is_empty() || final_frame {
            lines.extend(self.response_panel());
        }
        if final_frame && let Some(note) = &self.note {
            lines.push(Line::styled(note.clone(), Style::color(Color::Yellow)).render(self.color()));
        }
        lines
    }

    fn redraw(&mut self) -> io::Result<()> {
        if self.mode == Mode::Plain || self.finished {
            return Ok(());
        }
        let frame = self.frame(false);
        self.draw_live(frame, false)
    }

    fn redraw_final(&mut self) -> io::Result<()> {
        let frame = self.frame(true);
        self.draw_live(frame, true)
    }

    /// Draw `frame` below the settled lines; what does not fit the terminal is settled first.
    fn draw_live(&mut self, frame: Vec<String>, final_frame: bool) -> io::Result<()> {
        let mut frame: Vec<String> = frame.into_iter().skip(self.settled).collect();
        // Keep the region off the top row: clearing from there is a whole-screen clear, which
        // some terminals (tmux's `scroll-on-clear`) copy into the scrollback.
        let room = self.height.saturating_sub(2);
        let overflow = if final_frame { frame.len() } else { frame.len().saturating_sub(room) };
        let settled: Vec<String> = frame.drain(..overflow).collect();
        self.settled += settled.len();
        if self.on_stdout {
            let mut guard = live::STDOUT.lock().unwrap_or_else(|p| p.into_inner());
            let region = guard.get_or_insert_with(live::Region::default);
            if !settled.is_empty() {
                region.settle(&mut self.out, &settled)?;
            }
            region.draw(&mut self.out, frame)
        } else {
            if !settled.is_empty() {
                self.region.settle(&mut self.out, &settled)?;
            }
            self.region.draw(&mut self.out, frame)
        }
    }

    fn message_panel(&self) -> Vec<String> {
        let body = style::wrap(&[(self.input.clone(), Style::color(Color::Green))], self.width - 4, "");
        panel::draw("Message", body, self.width, Color::Cyan, self.color())
    }

    fn response_panel(&self) -> Vec<String> {
        let inner = self.width - 4;
        let mut lines = Vec::new();
        if !self.reasoning.is_empty() {
            let body = style::wrap(&[(self.reasoning.clone(), Style::dim())], inner, "");
            lines.extend(panel::draw("Reasoning", body, self.width, Color::Cyan, self.color()));
        }
        let mut body = Vec::new();
        if self.options.markdown {
            body.extend(markdown::render(&self.response, inner));
        } else {
            for paragraph in self.response.split('\n') {
                body.extend(style::wrap(&[(paragraph.to_owned(), Style::PLAIN)], inner, ""));
            }
        }
        let title = format!("Response ({:.1}s)", self.started.elapsed().as_secs_f64());
        lines.extend(panel::draw(&title, body, self.width, Color::Blue, self.color()));
        lines
    }

    fn tool_panel(&self, batch: &BatchView, done: bool) -> Vec<String> {
        let inner = self.width - 4;
        let mut body = Vec::new();
        for call in batch.calls.iter().flatten() {
            body.push(self.call_line(call, inner));
            if let Some(execution) = &call.execution
                && self.options.show_results_for.contains(&call.name)
            {
                let text = execution.content_for_model();
                for line in text.lines().take(5) {
                    body.push(Line::styled(format!("    {}", truncate(line, inner - 4)), Style::dim()));
                }
            }
        }
        if done && !self.options.compact && batch.calls.iter().flatten().count() > 1 {
            body.push(Line::default());
            body.extend(timeline(batch, inner));
        }
        panel::draw("Tool Calls", body, self.width, Color::Yellow, self.color())
    }

    fn call_line(&self, call: &CallView, inner: usize) -> Line {
        let signature = signature(&call.name, &call.arguments);
        let (mark, mark_style, time, error) = match (&call.execution, call.started) {
            (Some(execution), _) => {
                let time = format!("{:.2}s", execution.duration.as_secs_f64());
                match &execution.result {
                    Ok(_) => ("✓", Style::color(Color::Green), time, None),
                    Err(err) => {
                        let first = err.to_string().lines().next().unwrap_or_default().to_owned();
                        ("✗", Style::color(Color::Red), time, Some(first))
                    }
                }
            }
            (None, Some(started)) => {
                let time = format!("{:.1}s", started.elapsed().as_secs_f64());
                let mark = if self.mode == Mode::Live { SPINNER[self.spinner] } else { "…" };
                (mark, Style::color(Color::Cyan), time, None)
            }
            (None, None) => ("·", Style::dim(), "waiting".to_owned(), None),
        };
        let room = inner.saturating_sub(time.len() + 4);
        let mut line = Line::styled(mark, mark_style);
        line.push(" ", Style::PLAIN);
        line.push(truncate(&signature, room), Style::PLAIN);
        line.push("  ", Style::PLAIN);
        line.push(time, Style::dim());
        if let Some(error) = error {
            let room = inner.saturating_sub(line.width() + 2);
            if room > 5 {
                line.push("  ", Style::PLAIN);
                line.push(truncate(&error, room), Style::color(Color::Red));
            }
        }
        line
    }
}

/// Python-call style, like Agno: `atask1(delay=3)`.
fn signature(name: &str, arguments: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(arguments) {
        Ok(serde_json::Value::Object(map)) => {
            let args: Vec<String> = map.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{name}({})", args.join(", "))
        }
        _ if arguments.trim().is_empty() => format!("{name}()"),
        _ => format!("{name}({arguments})"),
    }
}

/// One bar per call on a shared time axis: where each started, how long it ran.
fn timeline(batch: &BatchView, inner: usize) -> Vec<Line> {
    let runs: Vec<(&str, Instant, Duration)> = batch
        .calls
        .iter()
        .flatten()
        .filter_map(|c| c.execution.as_ref().map(|e| (c.name.as_str(), e.started_at, e.duration)))
        .collect();
    let Some(start) = runs.iter().map(|r| r.1).min() else { return Vec::new() };
    let end = runs.iter().map(|r| r.1 + r.2).max().unwrap_or(start);
    let span = end.duration_since(start).as_secs_f64().max(1e-9);
    let name_width = runs.iter().map(|r| r.0.len()).max().unwrap_or(0).min(inner / 3);
    let track = inner.saturating_sub(name_width + 10).max(10);
    let mut lines =
        vec![Line::styled(format!("timeline: {:.2}s for {} calls", span, runs.len()), Style::dim())];
    for (name, started, duration) in runs {
        let from = ((started.duration_since(start).as_secs_f64() / span) * track as f64).round() as usize;
        let len = ((duration.as_secs_f64() / span) * track as f64).round().max(1.0) as usize;
        let from = from.min(track - 1);
        let len = len.min(track - from);
        let mut line = Line::plain(format!("{:<name_width$} ", truncate(name, name_width)));
        line.push(" ".repeat(from), Style::PLAIN);
        line.push("━".repeat(len), Style::color(Color::Green));
        line.push(" ".repeat(track - from - len), Style::PLAIN);
        line.push(format!(" {:.2}s", duration.as_secs_f64()), Style::dim());
        lines.push(line);
    }
    lines
}

fn status_note(output: &RunOutput) -> Option<String> {
    match &output.status {
        RunStatus::Completed => None,
        RunStatus::StoppedAfterToolCall => {
            Some("The run stopped after a tool call, as that tool asks.".into())
        }
        RunStatus::ToolCallLimitReached { limit } => {
            Some(format!("The run stopped: it reached its limit of {limit} tool calls."))
        }
        RunStatus::MaxTurnsReached { limit } => Some(format!(
            "The run stopped: it reached its limit of {limit} model turns without a final answer."
        )),
        RunStatus::Paused { pending } => {
            Some(format!("The run is paused: {} call(s) await confirmation.", pending.len()))
        }
    }
}

/// Shows the cursor again and forgets the global live region if a stdout printer is dropped
/// without finishing (an early return, a panic).
#[derive(Debug)]
struct CursorGuard;

impl Drop for CursorGuard {
    fn drop(&mut self) {
        live::STDOUT.lock().unwrap_or_else(|p| p.into_inner()).take();
        let mut stdout = io::stdout();
        let _ = write!(stdout, "\x1b[?25h");
        let _ = stdout.flush();
    }
}
