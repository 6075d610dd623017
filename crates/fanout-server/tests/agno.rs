//! Agno's own client (PyPI `agno`, pinned by `.ci/install-agno`) against a fanout server:
//! `AgentOSClient` lists agents, runs one streamed and not, continues a paused run, cancels,
//! resumes a stream, reads and deletes sessions; a `RemoteAgent` answers inside an Agno program.
//!
//! Needs `FANOUT_AGNO_PYTHON` (printed by `.ci/install-agno`): missing under `CI=true` fails,
//! elsewhere the test is skipped with a notice.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::path::Path;

use support::Fixture;

/// The Python with agno installed, if configured.
pub fn agno_python() -> Option<String> {
    match std::env::var("FANOUT_AGNO_PYTHON") {
        Ok(python) if Path::new(&python).exists() => Some(python),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("FANOUT_AGNO_PYTHON is not set: run `eval \"$(.ci/install-agno)\"` first")
        }
        _ => {
            eprintln!("skipped: FANOUT_AGNO_PYTHON is not set (eval \"$(.ci/install-agno)\")");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agno_client_and_remote_agent() {
    let Some(python) = agno_python() else { return };
    let fixture = Fixture::start(3_000, |b| b).await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/agno/client.py");
    let output = tokio::process::Command::new(python)
        .arg(script)
        .arg(&fixture.url)
        .env("AGNO_TELEMETRY", "false")
        .output()
        .await
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(output.status.success(), "the Agno client failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("agno client: all ok"), "{stdout}");
}
