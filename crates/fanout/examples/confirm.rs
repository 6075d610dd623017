//! A tool that asks before it runs: `print_response` shows the call and waits for y/N (Ctrl-C
//! cancels the run), then goes on with the answer.
//!
//! ```text
//! cargo run --example confirm
//! ```

use std::process::ExitCode;

use fanout::models::scripted::{ScriptedModel, Turn};
use fanout::prelude::*;

/// Delete a file
///
/// # Arguments
/// * `path` - The file to delete
#[tool(requires_confirmation)]
async fn delete_file(path: String) -> String {
    // A demo: nothing is deleted.
    format!("deleted {path}")
}

#[tokio::main]
async fn main() -> fanout::Result<ExitCode> {
    let model = ScriptedModel::new([
        Turn::call("delete_file", serde_json::json!({"path": "/tmp/old-report.txt"})),
        Turn::summarize_results(),
    ]);
    let agent = Agent::builder().model(model).tool(delete_file).markdown(true).build()?;
    let printed = agent.print_response("Clean up the old report").stream(true).await;
    Ok(fanout::print::exit_code(&printed))
}
