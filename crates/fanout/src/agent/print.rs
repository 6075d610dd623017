//! [`PrintResponse`]: `agent.print_response(input).stream(true).await`.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;

use super::{Agent, Decision, RunRequest, run};
use crate::error::{Error, Result};
use crate::event::EventKind;
use crate::print::{PrintOptions, Printer};
use crate::terminal::ctrl_c::{self, CtrlC};

/// How often the live display is redrawn, at most: 20 frames a second.
const TICK: Duration = Duration::from_millis(50);

/// Draws a run in the terminal. Made by [`Agent::print_response`]; `.await` it, or call
/// [`blocking`](PrintResponse::blocking).
///
/// A failed run is reported once, in the terminal, as one `Error: …` line (on stderr); the error
/// is also returned, for the program to act on. To end `main` with the right exit status and no
/// second report, return [`exit_code`](crate::print::exit_code) of the result:
///
/// ```no_run
/// # use fanout::prelude::*;
/// # use fanout::models::scripted::{ScriptedModel, Turn};
/// use std::process::ExitCode;
///
/// #[tokio::main]
/// async fn main() -> fanout::Result<ExitCode> {
///     let agent = Agent::builder().model(ScriptedModel::new([Turn::text("Hi!")])).build()?;
///     let printed = agent.print_response("Hello?").stream(true).await;
///     Ok(fanout::print::exit_code(&printed)) // 0, 1 after an error, 130 after Ctrl-C
/// }
/// ```
#[derive(Debug)]
#[must_use = "a PrintResponse does nothing until awaited or `.blocking()` is called"]
pub struct PrintResponse {
    request: RunRequest,
    stream: bool,
    handle_ctrl_c: bool,
    options: PrintOptions,
}

impl PrintResponse {
    pub(super) fn new(request: RunRequest) -> Self {
        let agent = &request.agent;
        let mut options = PrintOptions { markdown: agent.inner.settings.markdown, ..PrintOptions::default() };
        let tools = agent.inner.executor.tools();
        options.show_results_for = tools
            .definitions()
            .iter()
            .filter(|d| tools.options(&d.name).is_some_and(|o| o.show_result))
            .map(|d| d.name.clone())
            .collect();
        Self { request, stream: false, handle_ctrl_c: true, options }
    }

    /// Stream the model's answer: the response grows live as tokens arrive (default off, as in
    /// Agno).
    pub fn stream(mut self, stream: bool) -> Self {
        self.stream = stream;
        self
    }

    /// Show the "Message" panel (default on).
    pub fn show_message(mut self, show: bool) -> Self {
        self.options.show_message = show;
        self
    }

    /// Show the "Tool Calls" panels (default on).
    pub fn show_tool_calls(mut self, show: bool) -> Self {
        self.options.show_tool_calls = show;
        self
    }

    /// One line per tool call, no timeline.
    pub fn compact(mut self, compact: bool) -> Self {
        self.options.compact = compact;
        self
    }

    /// Catch Ctrl-C while printing (default on): the run is cancelled, the display closed
    /// cleanly, and a cancelled error ([`Error::is_cancelled`]) returned. Outside `print_response`, Ctrl-C keeps ending
    /// the process as usual. Turn it off if your program handles Ctrl-C itself (cancel by
    /// dropping the future): fanout then leaves SIGINT alone.
    pub fn handle_ctrl_c(mut self, handle: bool) -> Self {
        self.handle_ctrl_c = handle;
        self
    }

    /// Print from synchronous code, on fanout's own runtime.
    pub fn blocking(self) -> Result<()> {
        super::blocking::block_on(self.into_future())
            .inspect_err(|err| eprintln!("Error: {}", crate::terminal::inert(&err.to_string())))?
    }

    async fn print(self) -> Result<()> {
        crate::log::init();
        let mut printer = Printer::stdout(self.options.clone());
        let result = self.drive(&mut printer).await;
        if let Err(err) = &result
            && !printer.is_finished()
        {
            // Whatever stopped the run, it is reported once, like a failed run. Reporting can
            // only fail if the terminal is gone.
            let _ = printer.error(err);
        }
        result
    }

    async fn drive(self, printer: &mut Printer<std::io::Stdout>) -> Result<()> {
        let ctrl_c = if self.handle_ctrl_c { Some(CtrlC::catch()?) } else { None };
        let pressed = async {
            match &ctrl_c {
                Some(ctrl_c) => ctrl_c.pressed().await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(pressed);
        let agent: Agent = self.request.agent.clone();
        match &self.request.start {
            run::Start::Input(input) => printer.start(input)?,
            run::Start::Resume(..) | run::Start::Recover(_) => {}
        }
        let mut request = self.request;
        loop {
            let mut events = request.into_stream(self.stream);
            let mut tick = tokio::time::interval(TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let output = loop {
                tokio::select! {
                    event = events.next() => match event {
                        Some(Ok(event)) => {
                            printer.run_event(&event)?;
                            // A sub-agent's run ending is not the end of this one.
                            if let (EventKind::RunCompleted(output), false) = (event.kind, event.origin.parent_run_id.is_some()) {
                                break *output;
                            }
                        }
                        Some(Err(err)) => {
                            printer.error(&err)?;
                            return Err(err);
                        }
                        None => {
                            printer.error(&Error::cancelled())?;
                            return Err(Error::cancelled());
                        }
                    },
                    _ = tick.tick() => printer.tick()?,
                    () = &mut pressed => {
                        // Dropping `events` aborts the run: tools and the model request.
                        printer.interrupted()?;
                        return Err(Error::cancelled());
                    }
                }
            };
            if output.pending_calls().is_empty() {
                printer.finish()?;
                return Ok(());
            }
            let mut decisions = Vec::new();
            for call in output.pending_calls() {
                printer.ask(&format!("Run {}? [y/N] ", printer.pending_label(call)))?;
                let cancelled = Arc::new(AtomicBool::new(false));
                let reader = {
                    let cancelled = Arc::clone(&cancelled);
                    tokio::task::spawn_blocking(move || ctrl_c::read_line(&cancelled))
                };
                let answer = tokio::select! {
                    answer = reader => answer.map_err(|e| Error::config(format!("the confirmation prompt failed: {e}")))??,
                    () = &mut pressed => None,
                };
                let Some(answer) = answer else {
                    cancelled.store(true, Ordering::SeqCst);
                    printer.answered(false)?;
                    printer.interrupted()?;
                    return Err(Error::cancelled());
                };
                printer.answered(true)?;
                let decision = if matches!(answer.trim(), "y" | "Y" | "yes") {
                    Decision::Approve
                } else {
                    Decision::Reject(None)
                };
                decisions.push((call.id.clone(), decision));
            }
            let paused = output.take_paused().ok_or_else(|| Error::config("a paused run lost its state"))?;
            request = agent.continue_run(paused, decisions);
        }
    }
}

impl IntoFuture for PrintResponse {
    type Output = Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<()>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.print())
    }
}
