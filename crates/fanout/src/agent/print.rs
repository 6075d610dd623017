//! [`PrintResponse`]: `agent.print_response(input).stream(true).await`.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use super::{Agent, run};
use crate::error::{Error, Result};
use crate::event::RunEvent;
use crate::print::{PrintOptions, Printer};

/// How often spinners and elapsed times advance.
const TICK: Duration = Duration::from_millis(80);

/// Draws a run in the terminal. Made by [`Agent::print_response`]; `.await` it, or call
/// [`blocking`](PrintResponse::blocking).
#[derive(Debug)]
#[must_use = "a PrintResponse does nothing until awaited or `.blocking()` is called"]
pub struct PrintResponse {
    agent: Agent,
    input: String,
    stream: bool,
    options: PrintOptions,
}

impl PrintResponse {
    pub(super) fn new(agent: Agent, input: String) -> Self {
        let mut options = PrintOptions { markdown: agent.inner.settings.markdown, ..PrintOptions::default() };
        let tools = agent.inner.executor.tools();
        options.show_results_for = tools
            .definitions()
            .iter()
            .filter(|d| tools.options(&d.name).is_some_and(|o| o.show_result))
            .map(|d| d.name.clone())
            .collect();
        Self { agent, input, stream: false, options }
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

    /// Print from synchronous code, on fanout's own runtime.
    pub fn blocking(self) -> Result<()> {
        super::blocking::block_on(self.into_future())?
    }

    async fn print(self) -> Result<()> {
        crate::log::init();
        let mut printer = Printer::stdout(self.options);
        printer.start(&self.input)?;
        let mut start = run::Start::Input(self.input);
        loop {
            let mut events = run::spawn_stream(Arc::clone(&self.agent.inner), start, self.stream);
            let mut tick = tokio::time::interval(TICK);
            let output = loop {
                tokio::select! {
                    event = events.next() => match event {
                        Some(Ok(RunEvent::RunCompleted(output))) => {
                            printer.event(&RunEvent::RunCompleted(output.clone()))?;
                            break *output;
                        }
                        Some(Ok(event)) => printer.event(&event)?,
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
                    _ = tokio::signal::ctrl_c() => {
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
            let decisions = confirm(output.pending_calls()).await?;
            let paused = output.take_paused().ok_or_else(|| Error::config("a paused run lost its state"))?;
            start = run::Start::Resume(Box::new(paused), decisions);
        }
    }
}

/// Ask on the terminal, call by call, whether to run calls that require confirmation.
async fn confirm(calls: &[crate::tool::ToolCall]) -> Result<Vec<(String, super::Decision)>> {
    let calls = calls.to_vec();
    let answers = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<(String, super::Decision)>> {
        use std::io::{BufRead, Write};
        let mut decisions = Vec::new();
        let stdin = std::io::stdin();
        for call in calls {
            let mut stderr = std::io::stderr();
            write!(stderr, "Run {}({})? [y/N] ", call.name, call.arguments)?;
            stderr.flush()?;
            let mut answer = String::new();
            stdin.lock().read_line(&mut answer)?;
            let decision = if matches!(answer.trim(), "y" | "Y" | "yes") {
                super::Decision::Approve
            } else {
                super::Decision::Reject(None)
            };
            decisions.push((call.id, decision));
        }
        Ok(decisions)
    })
    .await
    .map_err(|e| Error::config(format!("the confirmation prompt failed: {e}")))??;
    Ok(answers)
}

impl IntoFuture for PrintResponse {
    type Output = Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<()>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.print())
    }
}
