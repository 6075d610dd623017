//! The chat page at `/` in headless Chromium (Debian's `chromium`, driven by Playwright from
//! PyPI, both installed by `.ci/install-agno`): pick an agent, chat, the tool calls live with
//! their timing bars, the session list, a confirmation.
//!
//! Needs `FANOUT_AGNO_PYTHON` and `FANOUT_CHROMIUM`: missing under `CI=true` fails, elsewhere
//! the test is skipped with a notice.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::time::Duration;

use support::Fixture;

/// Playwright's Python and chromium, if configured.
fn tools() -> Option<(String, String)> {
    let python = support::installed("FANOUT_AGNO_PYTHON", "install-agno")?;
    Some((python, support::installed("FANOUT_CHROMIUM", "install-agno")?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_chats_and_shows_tool_calls_and_sessions() {
    let Some((python, chromium)) = tools() else { return };
    let fixture = Fixture::start_with(support::Options { task_ms: 400, slow_ms: 10 }, |b| b).await;
    let mut client = tokio::process::Command::new(python);
    client.arg(support::script("page/page.py")).arg(&fixture.url).arg(chromium);
    support::run_client(&mut client, "page: all ok", Duration::from_secs(300)).await;
}
