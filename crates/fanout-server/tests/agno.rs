//! Agno's own client (PyPI `agno`, pinned by `.ci/install-agno`) against a fanout server:
//! `AgentOSClient` lists agents, runs one streamed and not, continues a paused run, cancels,
//! resumes a stream, reads and deletes sessions; a `RemoteAgent` answers inside an Agno program.
//!
//! Needs `FANOUT_AGNO_PYTHON` (printed by `.ci/install-agno`): missing under `CI=true` fails,
//! elsewhere the test is skipped with a notice.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::time::Duration;

use support::Fixture;

/// The Python with agno installed, if configured.
pub fn agno_python() -> Option<String> {
    support::installed("FANOUT_AGNO_PYTHON", "install-agno")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agno_client_and_remote_agent() {
    let Some(python) = agno_python() else { return };
    let fixture = Fixture::start(3_000, |b| b).await;
    let mut client = tokio::process::Command::new(python);
    client.arg(support::script("agno/client.py")).arg(&fixture.url).env("AGNO_TELEMETRY", "false");
    support::run_client(&mut client, "agno client: all ok", Duration::from_secs(300)).await;
}
