//! The chat page at `/` in headless Chromium (Debian's `chromium`, driven by Playwright from
//! PyPI, both installed by `.ci/install-agno`): pick an agent, chat, the tool calls live with
//! their timing bars, the session list, a confirmation.
//!
//! Needs `FANOUT_AGNO_PYTHON` and `FANOUT_CHROMIUM`: missing under `CI=true` fails, elsewhere
//! the test is skipped with a notice.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::path::Path;

use support::Fixture;

fn tools() -> Option<(String, String)> {
    let python = std::env::var("FANOUT_AGNO_PYTHON").ok().filter(|p| Path::new(p).exists());
    let chromium = std::env::var("FANOUT_CHROMIUM").ok().filter(|p| Path::new(p).exists());
    match (python, chromium) {
        (Some(python), Some(chromium)) => Some((python, chromium)),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!(
                "FANOUT_AGNO_PYTHON and FANOUT_CHROMIUM are needed: run `eval \"$(.ci/install-agno)\"` first"
            )
        }
        _ => {
            eprintln!("skipped: FANOUT_AGNO_PYTHON / FANOUT_CHROMIUM not set (eval \"$(.ci/install-agno)\")");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_chats_and_shows_tool_calls_and_sessions() {
    let Some((python, chromium)) = tools() else { return };
    let fixture = Fixture::start_with(support::Options { task_ms: 400, slow_ms: 10 }, |b| b).await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/page/page.py");
    let output = tokio::process::Command::new(python)
        .arg(script)
        .arg(&fixture.url)
        .arg(chromium)
        .output()
        .await
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the page test failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("page: all ok"), "{stdout}");
}
