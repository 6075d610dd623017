//! A streamed answer taller than the terminal: the live display settles what scrolls off and
//! keeps redrawing only the tail, so the scrollback holds each line once.
//!
//! ```text
//! cargo run --example long_answer
//! ```

use std::process::ExitCode;
use std::time::Duration;

use fanout::models::scripted::{Pacing, ScriptedModel, Turn};
use fanout::prelude::*;

#[tokio::main]
async fn main() -> fanout::Result<ExitCode> {
    let answer: String =
        (1..=40).map(|i| format!("- item number {i}, long enough to show the wrapping\n")).collect();
    let pacing = Pacing { token_chars: 12, token_delay: Duration::from_millis(5), ..Pacing::default() };
    let agent = Agent::builder()
        .model(ScriptedModel::new([Turn::text(answer)]).with_pacing(pacing))
        .markdown(true)
        .build()?;
    // The run reports its own failure, once; main only sets the exit status (130 after Ctrl-C).
    let printed = agent.print_response("List forty items").stream(true).await;
    Ok(fanout::print::exit_code(&printed))
}
