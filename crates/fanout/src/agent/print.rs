//! [`PrintResponse`]: `agent.print_response(input).stream(true).await`.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;

use futures::StreamExt;

use super::{Agent, run};
use crate::error::Result;
use crate::event::RunEvent;

/// Draws a run in the terminal. Made by [`Agent::print_response`]; `.await` it, or call
/// [`blocking`](PrintResponse::blocking).
#[derive(Debug)]
#[must_use = "a PrintResponse does nothing until awaited or `.blocking()` is called"]
pub struct PrintResponse {
    agent: Agent,
    input: String,
    stream: bool,
}

impl PrintResponse {
    pub(super) fn new(agent: Agent, input: String) -> Self {
        Self { agent, input, stream: false }
    }

    /// Stream the model's answer: the response grows live as tokens arrive (default off, as in
    /// Agno).
    pub fn stream(mut self, stream: bool) -> Self {
        self.stream = stream;
        self
    }

    /// Print from synchronous code, on fanout's own runtime.
    pub fn blocking(self) -> Result<()> {
        super::blocking::block_on(self.into_future())?
    }

    async fn print(self) -> Result<()> {
        crate::log::init();
        let mut events = run::spawn_stream(
            Arc::clone(&self.agent.inner),
            run::Start::Input(self.input.clone()),
            self.stream,
        );
        println!("Message: {}", self.input);
        while let Some(event) = events.next().await {
            match event? {
                RunEvent::ContentDelta(text) => print!("{text}"),
                RunEvent::ToolCallCompleted { execution, .. } => {
                    println!(
                        "• {}({}) {:.2}s",
                        execution.call.name,
                        execution.call.arguments,
                        execution.duration.as_secs_f64()
                    )
                }
                _ => {}
            }
        }
        println!();
        Ok(())
    }
}

impl IntoFuture for PrintResponse {
    type Output = Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<()>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.print())
    }
}
