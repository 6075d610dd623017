//! Terminal rendering of a run, from its [`EventKind`]s only: Agno's "Message", "Tool Calls" and
//! "Response (3.1s)" panels, plus a live spinner and elapsed time per call while a batch runs and
//! a timeline of each batch once it is done, so the overlap is visible.
//!
//! On a terminal the panels are redrawn in place, at most 20 times a second and only when
//! something changed ([`Mode::Live`]); when stdout is not a terminal, or `NO_COLOR` is set, or
//! `TERM=dumb`, the same content is printed once per panel as plain text without any escape code
//! ([`Mode::Plain`]). A frame costs what is on screen, not the whole run: markdown is rendered
//! incrementally, and lines that scrolled off are never built again.
//!
//! In every mode, text fanout did not write itself is made [inert](crate::terminal::inert):
//! escape sequences and control characters from a model, a tool or a server are shown, not obeyed.

mod body;
mod markdown;
mod panel;
mod style;

use std::collections::{HashMap, HashSet};
use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use body::Body;
use style::{Color, Line, Style, truncate};

use crate::event::{EventKind, RunEvent};
use crate::exec::ToolExecution;
use crate::output::{RunOutput, RunStatus};
use crate::terminal::{inert_line, live};
use crate::tool::ToolCall;

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
    /// Height in rows of the live display; the terminal's (or 24) when `None`.
    pub height: Option<usize>,
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
            height: None,
            mode: None,
        }
    }
}

#[derive(Debug, Clone)]
struct CallView {
    /// The call's id.
    id: String,
    /// Name and arguments as the model sent them, made inert.
    name: String,
    arguments: String,
    started: Option<Instant>,
    execution: Option<ToolExecution>,
    /// Waits for the user to approve it.
    awaits_confirmation: bool,
    /// The last progress the tool reported: done, out of, what it does now (made inert).
    progress: Option<(f64, Option<f64>, Option<String>)>,
    /// The sub-agent it runs paused, waiting for confirmation of its own calls.
    paused: bool,
    /// The runs of the sub-agents it started (their ids), drawn under it.
    children: Vec<String>,
}

impl CallView {
    fn new(call: &ToolCall) -> Self {
        CallView {
            id: call.id.clone(),
            name: inert_line(&call.name).into_owned(),
            arguments: call.arguments.clone(),
            started: None,
            execution: None,
            awaits_confirmation: false,
            progress: None,
            paused: false,
            children: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default)]
struct BatchView {
    calls: Vec<Option<CallView>>,
    /// Calls the model asked for in this turn, once the turn is over.
    expected: Option<usize>,
    printed: bool,
    /// The panel of a finished batch, which no longer changes.
    panel: Option<Vec<String>>,
}

impl BatchView {
    fn is_done(&self) -> bool {
        self.expected.is_some_and(|n| n == self.calls.len())
            && self.calls.iter().all(|c| c.as_ref().is_some_and(|c| c.execution.is_some()))
    }

    fn is_running(&self) -> bool {
        self.calls.iter().flatten().any(|c| c.started.is_some() && c.execution.is_none() && !c.paused)
    }
}

/// The batch of `turn`, made when new.
fn batch_mut(batches: &mut Vec<BatchView>, turn: usize) -> &mut BatchView {
    // Batches are keyed by turn; turns without tools have none, so index by position.
    while batches.len() <= turn {
        batches.push(BatchView::default());
    }
    &mut batches[turn]
}

/// The view of call `index` of `turn`, made when new.
fn call_mut<'a>(
    batches: &'a mut Vec<BatchView>,
    turn: usize,
    index: usize,
    call: &ToolCall,
) -> &'a mut CallView {
    let batch = batch_mut(batches, turn);
    if batch.calls.len() <= index {
        batch.calls.resize(index + 1, None);
    }
    let view = batch.calls[index].get_or_insert_with(|| CallView::new(call));
    view.awaits_confirmation = false;
    view
}

/// Take a run's tool-call events into account: the root run's (`start` is when it started) or
/// a sub-agent's (drawn as they arrive: `start` is `None`).
fn apply_calls(batches: &mut Vec<BatchView>, event: &EventKind, start: Option<Instant>) {
    match event {
        EventKind::ToolCallStarted { turn, index, call, at } => {
            let started = start.map_or_else(Instant::now, |start| start + *at);
            let view = call_mut(batches, *turn, *index, call);
            // A call that starts again (a paused sub-agent resumed) runs on.
            view.paused = false;
            view.execution = None;
            view.started = Some(started);
        }
        EventKind::ToolCallCompleted { turn, index, execution }
        | EventKind::ToolCallRestored { turn, index, execution } => {
            let started = start.unwrap_or_else(Instant::now);
            let view = call_mut(batches, *turn, *index, &execution.call);
            view.started.get_or_insert(started);
            view.paused = false;
            view.execution = Some(execution.clone());
        }
        EventKind::ToolCallPaused { turn, index, call } => {
            call_mut(batches, *turn, *index, call).paused = true
        }
        EventKind::ToolCallProgress { turn, index, progress, total, message } => {
            if let Some(Some(view)) = batches.get_mut(*turn).and_then(|b| b.calls.get_mut(*index)) {
                let message = message.as_deref().map(|m| inert_line(m).into_owned());
                view.progress = Some((*progress, *total, message));
            }
        }
        EventKind::ToolCallCancelled { turn, index, .. } => {
            // The turn is tried again: its calls start over, this one included.
            if let Some(batch) = batches.get_mut(*turn) {
                if let Some(slot) = batch.calls.get_mut(*index) {
                    *slot = None;
                }
                batch.panel = None;
            }
        }
        EventKind::ModelRetry { turn, .. } => {
            // The turn starts over: so do its calls.
            if let Some(batch) = batches.get_mut(*turn) {
                *batch = BatchView::default();
            }
        }
        EventKind::ModelTurnCompleted { turn, tool_calls, .. } if *tool_calls > 0 => {
            let batch = batch_mut(batches, *turn);
            batch.expected = Some(*tool_calls);
            if batch.calls.len() < *tool_calls {
                batch.calls.resize(*tool_calls, None);
            }
        }
        EventKind::RunCompleted(output) => {
            if let RunStatus::Paused { pending } = &output.status {
                show_pending(batches, pending);
            }
        }
        _ => {}
    }
}

/// The calls of the last batch that did not start wait for confirmation: show them, in the
/// model's order, in the slots left empty. Calls of paused sub-agents (ids prefixed by the
/// call that runs them) are shown under that call, by the sub-agent's own events.
fn show_pending(batches: &mut [BatchView], pending: &[ToolCall]) {
    let Some(batch) = batches.last_mut() else { return };
    let paused: Vec<String> =
        batch.calls.iter().flatten().filter(|c| c.paused).map(|c| format!("{}/", c.id)).collect();
    let mut pending = pending.iter().filter(|call| !paused.iter().any(|p| call.id.starts_with(p.as_str())));
    for slot in batch.calls.iter_mut().filter(|slot| slot.is_none()) {
        let Some(call) = pending.next() else { break };
        let mut view = CallView::new(call);
        view.awaits_confirmation = true;
        *slot = Some(view);
    }
}

/// The lines of a frame from the first one not yet settled; earlier lines are only counted, so a
/// frame costs what is still on screen, not the whole run.
struct Frame {
    skip: usize,
    len: usize,
    lines: Vec<String>,
}

impl Frame {
    fn new(skip: usize) -> Self {
        Frame { skip, len: 0, lines: Vec::new() }
    }

    fn push(&mut self, line: impl FnOnce() -> String) {
        if self.len >= self.skip {
            self.lines.push(line());
        }
        self.len += 1;
    }

    fn extend(&mut self, lines: &[String]) {
        let from = self.skip.saturating_sub(self.len).min(lines.len());
        self.lines.extend_from_slice(&lines[from..]);
        self.len += lines.len();
    }
}

/// Draws a run from its events. Feed it [`EventKind`]s with [`event`](Printer::event), call
/// [`tick`](Printer::tick) up to 20 times a second to draw what changed, and
/// [`finish`](Printer::finish).
///
/// Everything that comes from the model, the tools or a server is made
/// [inert](crate::terminal::inert) before it is drawn, in every mode.
///
/// ```
/// use fanout::print::{Mode, PrintOptions, Printer};
/// use fanout::event::EventKind;
///
/// let mut options = PrintOptions::default();
/// options.width = Some(40);
/// options.mode = Some(Mode::Plain);
/// let mut printer = Printer::new(Vec::new(), options);
/// printer.start("Hello?")?;
/// printer.event(&EventKind::ContentDelta("Hi **there** \x1b[2J".into()))?;
/// printer.finish()?;
/// let text = String::from_utf8(printer.into_inner()).unwrap();
/// assert!(text.contains("┃ Hello?"));
/// assert!(text.contains("┃ Hi there ␛[2J"));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Printer<W: Write> {
    out: W,
    options: PrintOptions,
    mode: Mode,
    width: usize,
    height: usize,
    /// The live region belongs to stdout's global slot (so log lines can go above it), and a
    /// failure is reported on stderr.
    on_stdout: bool,
    region: live::Region,
    /// Frame lines already printed for good (scrolled off the live region).
    settled: usize,
    started: Instant,
    message: Vec<String>,
    batches: Vec<BatchView>,
    /// The tool calls of sub-agents' runs, by run id.
    children: HashMap<String, Vec<BatchView>>,
    response: Body,
    reasoning: Body,
    note: Option<String>,
    /// A model turn failed and is about to be retried (live mode; plain mode prints it).
    retrying: Option<String>,
    /// Why the run failed or stopped early: reported once, after the panels.
    failure: Option<String>,
    /// Something changed since the last frame.
    dirty: bool,
    finished: bool,
    guard: Option<CursorGuard>,
}

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

impl Printer<io::Stdout> {
    /// A printer on stdout, sized to the terminal.
    pub fn stdout(options: PrintOptions) -> Self {
        let mut printer = Printer::new(io::stdout(), options);
        printer.on_stdout = true;
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
        let height = options.height.unwrap_or(rows).max(5);
        let ansi = mode == Mode::Live;
        Self {
            out,
            response: Body::new(options.markdown, Style::PLAIN, width, Color::Blue, ansi),
            reasoning: Body::new(false, Style::dim(), width, Color::Cyan, ansi),
            options,
            mode,
            width,
            height,
            on_stdout: false,
            region: live::Region::default(),
            settled: 0,
            started: Instant::now(),
            message: Vec::new(),
            batches: Vec::new(),
            children: HashMap::new(),
            note: None,
            retrying: None,
            failure: None,
            dirty: false,
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
        let mut body = Vec::new();
        for paragraph in input.split('\n') {
            body.extend(style::wrap(
                &[(inert_line(paragraph).into_owned(), Style::color(Color::Green))],
                self.width - 4,
                "",
            ));
        }
        self.message = panel::draw("Message", body, self.width, Color::Cyan, self.color());
        if self.mode == Mode::Live {
            // Hide the cursor; the blank line keeps the live region off the top row (see
            // `draw_live`).
            writeln!(self.out, "\x1b[?25l")?;
            if self.live_on_stdout() {
                live::STDOUT.lock().unwrap_or_else(|p| p.into_inner()).replace(live::Region::default());
                self.guard = Some(CursorGuard);
            }
        }
        if self.mode == Mode::Plain && self.options.show_message {
            let lines = self.message.clone();
            self.print_plain(&lines)?;
        }
        self.redraw()
    }

    /// Take one event into account. Nothing is drawn until the next [`tick`](Printer::tick) (or
    /// [`finish`](Printer::finish)), so a burst of events costs one frame.
    pub fn event(&mut self, event: &EventKind) -> io::Result<()> {
        if !matches!(event, EventKind::ModelRetry { .. }) {
            self.retrying = None;
        }
        apply_calls(&mut self.batches, event, Some(self.started));
        match event {
            EventKind::ContentDelta(text) => self.response.push(text),
            EventKind::ReasoningDelta(text) => self.reasoning.push(text),
            EventKind::ModelRetry { retry, max_retries, wait, error, .. } => {
                let error = error.to_string();
                let line = format!(
                    "↻ retry {retry} of {max_retries} in {:.1}s: {}",
                    wait.as_secs_f64(),
                    inert_line(error.lines().next().unwrap_or_default())
                );
                let line = truncate(&line, self.width);
                if self.mode == Mode::Plain {
                    let color = self.color();
                    writeln!(self.out, "{}", Line::styled(line, Style::color(Color::Yellow)).render(color))?;
                } else {
                    self.retrying = Some(line);
                }
                // Text shown before a failure that is retried is not part of the answer.
                self.response.clear();
                self.reasoning.clear();
            }
            EventKind::ModelTurnCompleted { tool_calls, .. } if *tool_calls > 0 => {
                // Text before a tool batch belongs to that turn, not to the final answer.
                self.response.clear();
            }
            EventKind::RunCompleted(output) => {
                self.note = status_note(output);
                // A structured answer is shown as the value, pretty-printed, whatever the
                // model wrapped it in (and without answers that a repair turn replaced).
                if let Some(value) = &output.structured {
                    let pretty = serde_json::to_string_pretty(value).unwrap_or_default();
                    self.response.clear();
                    self.response.push(&self.response.fenced_json(&pretty));
                }
            }
            _ => {}
        }
        self.dirty = true;
        if self.mode == Mode::Plain {
            self.print_finished_batches()?;
        }
        Ok(())
    }

    /// Take one event of a run's stream into account: the run's own events as
    /// [`event`](Printer::event) does; a sub-agent's ([`RunEvent::is_nested`]) are drawn under
    /// the call that started its run — its tool calls, their progress and timing — and its
    /// text is not part of the response.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::{Duration, SystemTime};
    /// use fanout::ToolExecution;
    /// use fanout::event::{EventKind, Origin, RunEvent};
    /// use fanout::print::{Mode, PrintOptions, Printer};
    /// use fanout::tool::ToolCall;
    ///
    /// let mut options = PrintOptions::default();
    /// options.mode = Some(Mode::Plain);
    /// options.width = Some(60);
    /// let mut printer = Printer::new(Vec::new(), options);
    /// printer.start("Research Rome")?;
    /// // The leader's run, and a member's run started by the leader's call `c1`.
    /// let lead = Arc::new(Origin { run_id: "r1".into(), ..Origin::default() });
    /// let member = Arc::new(Origin {
    ///     run_id: "r2".into(),
    ///     parent_run_id: Some("r1".into()),
    ///     parent_call_id: Some("c1".into()),
    ///     path: vec!["lead".into(), "history".into()],
    ///     ..Origin::default()
    /// });
    /// let (delegate, search) = (ToolCall::new("c1", "history", "{}"), ToolCall::new("c1", "search", "{}"));
    /// let done = |call: &ToolCall| ToolExecution {
    ///     call: call.clone(),
    ///     result: Ok("found".into()),
    ///     started_at: SystemTime::now(),
    ///     waited: Duration::ZERO,
    ///     duration: Duration::from_millis(20),
    /// };
    /// let at = Duration::ZERO;
    /// let turn = EventKind::ModelTurnCompleted {
    ///     turn: 0, tool_calls: 1, usage: None, finish_reason: None, duration: at,
    /// };
    /// for (origin, kind) in [
    ///     (&lead, EventKind::ToolCallStarted { turn: 0, index: 0, call: delegate.clone(), at }),
    ///     (&lead, turn),
    ///     (&member, EventKind::ToolCallStarted { turn: 0, index: 0, call: search.clone(), at }),
    ///     (&member, EventKind::ContentDelta("not the team's answer".into())),
    ///     (&member, EventKind::ToolCallCompleted { turn: 0, index: 0, execution: done(&search) }),
    ///     (&lead, EventKind::ToolCallCompleted { turn: 0, index: 0, execution: done(&delegate) }),
    /// ] {
    ///     printer.run_event(&RunEvent { origin: Arc::clone(origin), kind })?;
    /// }
    /// printer.finish()?;
    /// let text = String::from_utf8(printer.into_inner()).unwrap();
    /// assert!(text.contains("┃ ✓ history()  0.02s"), "{text}");
    /// assert!(text.contains("┃   ✓ search()  0.02s"), "{text}");
    /// assert!(!text.contains("not the team's answer"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn run_event(&mut self, event: &RunEvent) -> io::Result<()> {
        if !event.is_nested() {
            return self.event(&event.kind);
        }
        let origin = &event.origin;
        if !self.children.contains_key(&origin.run_id) {
            // A new sub-agent's run: drawn under the call that started it.
            if let (Some(parent), Some(call_id)) = (&origin.parent_run_id, &origin.parent_call_id) {
                let batches = match self.children.get_mut(parent) {
                    Some(batches) => batches,
                    None => &mut self.batches,
                };
                let view = batches
                    .iter_mut()
                    .rev()
                    .flat_map(|b| b.calls.iter_mut().flatten())
                    .find(|c| c.id == *call_id);
                if let Some(view) = view {
                    view.children.push(origin.run_id.clone());
                }
            }
            self.children.insert(origin.run_id.clone(), Vec::new());
        }
        if let Some(batches) = self.children.get_mut(&origin.run_id) {
            apply_calls(batches, &event.kind, None);
        }
        self.dirty = true;
        if self.mode == Mode::Plain {
            self.print_finished_batches()?;
        }
        Ok(())
    }

    /// How to ask about a pending call: its signature, after the agents it belongs to when it
    /// is a sub-agent's (`researcher › delete(path="/tmp/x")`).
    pub(crate) fn pending_label(&self, call: &ToolCall) -> String {
        let mut names = Vec::new();
        let mut batches = &self.batches;
        let mut segments = call.id.split('/').peekable();
        while let Some(segment) = segments.next() {
            if segments.peek().is_none() {
                break;
            }
            let found = batches.iter().rev().flat_map(|b| b.calls.iter().flatten()).find(|c| c.id == segment);
            let Some(view) = found else { break };
            names.push(view.name.clone());
            match view.children.last().and_then(|run| self.children.get(run)) {
                Some(below) => batches = below,
                None => break,
            }
        }
        let signature = signature(&call.name, &call.arguments);
        match names.is_empty() {
            true => signature,
            false => format!("{} › {signature}", names.join(" › ")),
        }
    }

    /// Draw the live display if anything changed or moves (spinners, elapsed times); call it up
    /// to 20 times a second.
    pub fn tick(&mut self) -> io::Result<()> {
        let moving = self.batches.iter().any(BatchView::is_running)
            || self.children.values().flatten().any(BatchView::is_running)
            || !self.response.is_empty()
            || !self.reasoning.is_empty();
        if self.dirty || moving { self.redraw() } else { Ok(()) }
    }

    /// Draw the final frame and restore the terminal.
    pub fn finish(&mut self) -> io::Result<()> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        if self.mode == Mode::Plain {
            self.print_finished_batches()?;
            let mut lines = Vec::new();
            if self.shows_response(true) {
                let mut frame = Frame::new(0);
                self.response_panels(&mut frame);
                lines = frame.lines;
            }
            if let Some(note) = &self.note {
                lines.push(inert_line(note).into_owned());
            }
            self.print_plain(&lines)?;
        } else {
            self.redraw_final()?;
        }
        self.release()?;
        self.report_failure()
    }

    /// The run failed: finish the display and say why, on one line (on stderr for a printer on
    /// stdout).
    pub fn error(&mut self, error: &crate::Error) -> io::Result<()> {
        let message = error.to_string();
        let message: Vec<&str> = message.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        self.failure = Some(format!("Error: {}", message.join(" ")));
        self.finish()
    }

    /// Ctrl-C: keep what was drawn, say so, restore the terminal.
    pub fn interrupted(&mut self) -> io::Result<()> {
        // Whatever the run was waiting for (a confirmation, say), it is over.
        self.note = None;
        self.failure = Some("Interrupted: the run was cancelled.".to_owned());
        self.finish()
    }

    /// Ask `question` below the live display and leave the cursor after it, for the answer the
    /// user types; [`answered`](Printer::answered) once the answer is in. Elsewhere than on a
    /// live stdout the question goes to stderr.
    pub(crate) fn ask(&mut self, question: &str) -> io::Result<()> {
        let question = truncate(&inert_line(question), self.width.saturating_sub(12));
        if !self.live_on_stdout() || self.finished {
            let mut stderr = io::stderr().lock();
            write!(stderr, "{question}")?;
            return stderr.flush();
        }
        let mut frame = self.frame(false);
        let prompt = Line::styled(question, Style::color(Color::Yellow)).render(true);
        frame.lines.push(prompt);
        frame.len += 1;
        self.draw_live(frame, false, true)
    }

    /// The answer to [`ask`](Printer::ask) is in; `entered` is false when no line was entered
    /// (Ctrl-C), so the cursor is still on the question's line.
    pub(crate) fn answered(&mut self, entered: bool) -> io::Result<()> {
        if !entered {
            writeln!(self.out)?;
        }
        self.dirty = true;
        self.redraw()
    }

    /// The last frame is drawn (and any failure reported).
    pub(crate) fn is_finished(&self) -> bool {
        self.finished
    }

    fn live_on_stdout(&self) -> bool {
        self.on_stdout && self.mode == Mode::Live
    }

    fn report_failure(&mut self) -> io::Result<()> {
        let Some(failure) = self.failure.take() else { return Ok(()) };
        let failure = inert_line(&failure).into_owned();
        if self.on_stdout {
            let color = self.mode == Mode::Live && io::stderr().is_terminal();
            let line = Line::styled(failure, Style::color(Color::Red)).render(color);
            let mut stderr = io::stderr().lock();
            writeln!(stderr, "{line}")?;
            stderr.flush()
        } else {
            let line = Line::styled(failure, Style::color(Color::Red)).render(self.color());
            writeln!(self.out, "{line}")?;
            self.out.flush()
        }
    }

    fn release(&mut self) -> io::Result<()> {
        if self.mode == Mode::Live {
            write!(self.out, "\x1b[?25h")?;
            if self.live_on_stdout() {
                live::STDOUT.lock().unwrap_or_else(|p| p.into_inner()).take();
            }
        }
        if let Some(guard) = self.guard.take() {
            std::mem::forget(guard);
        }
        self.out.flush()
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
                let lines = self.tool_panel(i, true);
                self.print_plain(&lines)?;
            }
        }
        Ok(())
    }

    fn color(&self) -> bool {
        self.mode == Mode::Live
    }

    /// The response panel is drawn once text arrives, and at the end of a run that did not fail
    /// (an empty panel after an error would only add noise).
    fn shows_response(&self, final_frame: bool) -> bool {
        !self.response.is_empty() || !self.reasoning.is_empty() || (final_frame && self.failure.is_none())
    }

    fn frame(&mut self, final_frame: bool) -> Frame {
        let mut frame = Frame::new(self.settled);
        if self.options.show_message {
            frame.extend(&self.message);
        }
        if self.options.show_tool_calls {
            for i in 0..self.batches.len() {
                if self.batches[i].calls.is_empty() {
                    continue;
                }
                if let Some(panel) = &self.batches[i].panel {
                    frame.extend(panel);
                    continue;
                }
                let done = self.batches[i].is_done();
                let panel = self.tool_panel(i, final_frame || done);
                frame.extend(&panel);
                if done {
                    self.batches[i].panel = Some(panel);
                }
            }
        }
        if self.shows_response(final_frame) {
            self.response_panels(&mut frame);
        }
        if !final_frame && let Some(retrying) = &self.retrying {
            let line = retrying.clone();
            let color = self.color();
            frame.push(|| Line::styled(line, Style::color(Color::Yellow)).render(color));
        }
        if final_frame && let Some(note) = &self.note {
            let note = inert_line(note).into_owned();
            let color = self.color();
            frame.push(|| Line::styled(note, Style::color(Color::Yellow)).render(color));
        }
        frame
    }

    fn redraw(&mut self) -> io::Result<()> {
        if self.mode == Mode::Plain || self.finished {
            return Ok(());
        }
        self.dirty = false;
        let frame = self.frame(false);
        self.draw_live(frame, false, false)
    }

    fn redraw_final(&mut self) -> io::Result<()> {
        let frame = self.frame(true);
        self.draw_live(frame, true, false)
    }

    /// Draw `frame` below the settled lines; what does not fit the terminal is settled first.
    /// With `prompt`, the last line is a question the cursor stays after.
    fn draw_live(&mut self, frame: Frame, final_frame: bool, prompt: bool) -> io::Result<()> {
        let mut lines = frame.lines;
        // Keep the region off the top row: clearing from there is a whole-screen clear, which
        // some terminals (tmux's `scroll-on-clear`) copy into the scrollback.
        let room = self.height.saturating_sub(2);
        let overflow = if final_frame { lines.len() } else { lines.len().saturating_sub(room) };
        let settled: Vec<String> = lines.drain(..overflow).collect();
        self.settled += settled.len();
        let mut slot = self.live_on_stdout().then(|| live::STDOUT.lock().unwrap_or_else(|p| p.into_inner()));
        let region = match slot.as_mut() {
            Some(slot) => slot.get_or_insert_with(live::Region::default),
            None => &mut self.region,
        };
        if !settled.is_empty() {
            region.settle(&mut self.out, &settled)?;
        }
        region.draw(&mut self.out, lines, prompt)
    }

    /// The reasoning panel, if any, and the response panel.
    fn response_panels(&mut self, frame: &mut Frame) {
        let (width, ansi) = (self.width, self.color());
        let elapsed = self.started.elapsed().as_secs_f64();
        for (body, title, color) in [
            (&mut self.reasoning, "Reasoning".to_owned(), Color::Cyan),
            (&mut self.response, format!("Response ({elapsed:.1}s)"), Color::Blue),
        ] {
            if color == Color::Cyan && body.is_empty() {
                continue;
            }
            body.update();
            let (rows, tail) = body.rows();
            frame.push(|| panel::top(&title, width, color, ansi));
            frame.push(|| panel::blank(width, color, ansi));
            frame.extend(rows);
            frame.extend(tail);
            frame.push(|| panel::blank(width, color, ansi));
            frame.push(|| panel::bottom(width, color, ansi));
        }
    }

    fn tool_panel(&self, batch: usize, done: bool) -> Vec<String> {
        let batch = &self.batches[batch];
        let inner = self.width - 4;
        let mut body = Vec::new();
        for call in batch.calls.iter().flatten() {
            body.push(self.call_line(call, inner, done));
            if let Some(execution) = &call.execution
                && self.options.show_results_for.contains(&call.name)
            {
                let text = execution.content_for_model();
                for line in text.lines().take(5) {
                    let line = inert_line(line);
                    body.push(Line::styled(format!("    {}", truncate(&line, inner - 4)), Style::dim()));
                }
            }
            self.sub_agent_lines(&call.children, 1, inner, done, &mut body);
        }
        if done && !self.options.compact && batch.calls.iter().flatten().count() > 1 {
            let timeline = timeline(batch, inner);
            if !timeline.is_empty() {
                body.push(Line::default());
                body.extend(timeline);
            }
        }
        panel::draw("Tool Calls", body, self.width, Color::Yellow, self.color())
    }

    /// The tool calls of the sub-agents' `runs`, indented by `depth`, each followed by its own
    /// sub-agents', and each batch's timeline once it is done.
    fn sub_agent_lines(&self, runs: &[String], depth: usize, inner: usize, done: bool, body: &mut Vec<Line>) {
        let indent = "  ".repeat(depth);
        let room = inner.saturating_sub(indent.len()).max(20);
        let indented = |mut line: Line| {
            line.spans.insert(0, (indent.clone(), Style::PLAIN));
            line
        };
        for batches in runs.iter().filter_map(|run| self.children.get(run)) {
            for batch in batches {
                for call in batch.calls.iter().flatten() {
                    body.push(indented(self.call_line(call, room, done)));
                    self.sub_agent_lines(&call.children, depth + 1, inner, done, body);
                }
                if batch.is_done() && !self.options.compact && batch.calls.iter().flatten().count() > 1 {
                    body.extend(timeline(batch, room).into_iter().map(indented));
                }
            }
        }
    }

    /// A call's line; `done` once nothing more will happen to it (the last frame of a run that
    /// stopped early leaves no spinner behind).
    fn call_line(&self, call: &CallView, inner: usize, done: bool) -> Line {
        let signature = signature(&call.name, &call.arguments);
        let (mark, mark_style, time, error) = match (&call.execution, call.started) {
            (None, Some(_)) if call.paused => {
                ("⏸", Style::color(Color::Yellow), "paused: awaiting confirmation".to_owned(), None)
            }
            (Some(execution), _) => {
                let time = format!("{:.2}s", execution.duration.as_secs_f64());
                match &execution.result {
                    Ok(_) => ("✓", Style::color(Color::Green), time, None),
                    Err(err) => {
                        let message = err.to_string();
                        let first = inert_line(message.lines().next().unwrap_or_default()).into_owned();
                        ("✗", Style::color(Color::Red), time, Some(first))
                    }
                }
            }
            (None, Some(started)) if done => {
                let time = format!("{:.1}s", started.elapsed().as_secs_f64());
                ("✗", Style::color(Color::Red), time, Some("cancelled".to_owned()))
            }
            (None, None) if done => ("·", Style::dim(), "not run".to_owned(), None),
            (None, None) if call.awaits_confirmation => {
                ("?", Style::color(Color::Yellow), "awaiting confirmation".to_owned(), None)
            }
            (None, Some(started)) => {
                let elapsed = started.elapsed();
                let mut time = format!("{:.1}s", elapsed.as_secs_f64());
                if let Some(progress) = &call.progress {
                    time = format!("{}  {time}", progress_text(progress));
                }
                let mark = if self.mode == Mode::Live {
                    SPINNER[(elapsed.as_millis() / 80) as usize % SPINNER.len()]
                } else {
                    "…"
                };
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

/// `[█████░░░░░] 2/4 message` when the total is known, else `2 message`.
fn progress_text((done, total, message): &(f64, Option<f64>, Option<String>)) -> String {
    const WIDTH: usize = 10;
    let count = |v: f64| if v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v:.1}") };
    let mut text = match total.filter(|t| *t > 0.0) {
        Some(total) => {
            let filled = ((done / total).clamp(0.0, 1.0) * WIDTH as f64).round() as usize;
            format!(
                "[{}{}] {}/{}",
                "█".repeat(filled),
                "░".repeat(WIDTH - filled),
                count(*done),
                count(total)
            )
        }
        None => count(*done),
    };
    if let Some(message) = message.as_deref().filter(|m| !m.is_empty()) {
        text.push(' ');
        text.push_str(&truncate(message, 30));
    }
    text
}

/// Python-call style, like Agno: `atask1(delay=3)`; made inert, on one line.
pub(crate) fn signature(name: &str, arguments: &str) -> String {
    let signature = match serde_json::from_str::<serde_json::Value>(arguments) {
        Ok(serde_json::Value::Object(map)) => {
            let args: Vec<String> = map.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{name}({})", args.join(", "))
        }
        _ if arguments.trim().is_empty() => format!("{name}()"),
        _ => format!("{name}({arguments})"),
    };
    inert_line(&signature).into_owned()
}

/// One bar per call on a shared time axis: where each started, how long it ran.
fn timeline(batch: &BatchView, inner: usize) -> Vec<Line> {
    let runs: Vec<(&str, SystemTime, Duration)> = batch
        .calls
        .iter()
        .flatten()
        .filter_map(|c| c.execution.as_ref().map(|e| (c.name.as_str(), e.started_at, e.duration)))
        .collect();
    let Some(start) = runs.iter().map(|r| r.1).min() else { return Vec::new() };
    let end = runs.iter().map(|r| r.1 + r.2).max().unwrap_or(start);
    let span = end.duration_since(start).unwrap_or_default().as_secs_f64().max(1e-9);
    let name_width = runs.iter().map(|r| r.0.len()).max().unwrap_or(0).min(inner / 3);
    let track = inner.saturating_sub(name_width + 10).max(10);
    let mut lines =
        vec![Line::styled(format!("timeline: {:.2}s for {} calls", span, runs.len()), Style::dim())];
    for (name, started, duration) in runs {
        let from = ((started.duration_since(start).unwrap_or_default().as_secs_f64() / span) * track as f64)
            .round() as usize;
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

/// The exit status for a program whose work ends with `print_response`: success; 130 after Ctrl-C,
/// as shells expect of an interrupted program; 1 after any other failure. `print_response` has
/// already reported the failure, so returning this from `main` (rather than the error, which
/// `main` would print a second time, as a `Debug` dump) keeps the report to one line.
///
/// ```
/// use std::process::ExitCode;
///
/// assert_eq!(fanout::print::exit_code(&Ok(())), ExitCode::SUCCESS);
/// assert_eq!(fanout::print::exit_code(&Err(fanout::Error::cancelled())), ExitCode::from(130));
/// ```
pub fn exit_code(printed: &crate::Result<()>) -> ExitCode {
    match printed {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.is_cancelled() => ExitCode::from(130),
        Err(_) => ExitCode::FAILURE,
    }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use futures::StreamExt;
    use serde_json::json;

    use super::*;
    use crate::models::scripted::{ScriptedModel, Turn};
    use crate::prelude::*;
    use crate::tool::FunctionTool;

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct Path {
        path: String,
    }

    /// `text` without its colour codes.
    fn strip_ansi(text: &str) -> String {
        let mut plain = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                chars.by_ref().find(|c| *c == 'm');
            } else {
                plain.push(c);
            }
        }
        plain
    }

    /// A team whose two members each want to delete a file: the team pauses.
    fn team() -> Agent {
        let member = |name: &str| {
            let delete = FunctionTool::new("delete", "Delete a file", |a: Path| async move { Ok(a.path) });
            Agent::builder()
                .name(name)
                .model(ScriptedModel::new([
                    Turn::call("delete", json!({"path": "/tmp/x"})),
                    Turn::text("ok"),
                ]))
                .tool(delete.requires_confirmation())
                .build()
                .unwrap()
        };
        let leader =
            ScriptedModel::new([Turn::call_every_tool(json!({"task": "clean"})), Turn::text("done")]);
        Team::new(Agent::builder().name("lead").model(leader))
            .members([member("m1"), member("m2")])
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn a_paused_team_shows_each_members_pending_call_under_it_and_asks_by_its_path() {
        let options = PrintOptions { width: Some(70), mode: Some(Mode::Live), ..PrintOptions::default() };
        let mut printer = Printer::new(Vec::new(), options);
        printer.start("clean up").unwrap();
        let mut events = Box::pin(team().run("clean up").stream());
        let mut output = None;
        while let Some(event) = events.next().await {
            let event = event.unwrap();
            printer.run_event(&event).unwrap();
            if let (EventKind::RunCompleted(done), false) = (&event.kind, event.is_nested()) {
                output = Some(done.clone());
            }
        }
        let output = output.unwrap();
        let frame = printer.frame(false).lines.join("\n");
        let plain = strip_ansi(&frame);
        // Each member's call paused, its pending call shown under it.
        for member in ["m1", "m2"] {
            let at =
                plain.find(&format!("⏸ {member}(task=\"clean\")  paused: awaiting confirmation")).unwrap();
            let below = &plain[at..];
            assert!(below.contains("┃   ? delete(path=\"/tmp/x\")  awaiting confirmation"), "{plain}");
        }
        let labels: Vec<String> =
            output.pending_calls().iter().map(|call| printer.pending_label(call)).collect();
        assert_eq!(labels, ["m1 › delete(path=\"/tmp/x\")", "m2 › delete(path=\"/tmp/x\")"]);
    }
}
