//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use fanout::{Agent, Error, EventKind, RetryPolicy, RunOutput};
use futures::StreamExt;

/// A meeting point for `n` blocking calls: each one waits inside until all `n` are inside at
/// the same moment. It proves that calls overlap without measuring time: calls run one after
/// another would never all be inside together (each gives up after a generous timeout and
/// says how many it met).
#[derive(Debug, Clone)]
pub struct Rendezvous {
    n: usize,
    inside: Arc<(Mutex<usize>, Condvar)>,
}

impl Rendezvous {
    pub fn new(n: usize) -> Self {
        Self { n, inside: Arc::new((Mutex::new(0), Condvar::new())) }
    }

    /// Enter and wait for the others; `Err` with the count met when they never all came.
    pub fn meet(&self) -> Result<(), String> {
        let (count, arrived) = &*self.inside;
        let mut inside = count.lock().map_err(|e| e.to_string())?;
        *inside += 1;
        arrived.notify_all();
        let (inside, timeout) = arrived
            .wait_timeout_while(inside, Duration::from_secs(20), |inside| *inside < self.n)
            .map_err(|e| e.to_string())?;
        if timeout.timed_out() {
            return Err(format!("only {} of {} calls were ever running at once", *inside, self.n));
        }
        Ok(())
    }
}

/// The shared recorded replies of one provider folder (`openai-chat`, `anthropic` …), read in
/// place. Missing, they fail the test under `CI=true` and are skipped with a notice elsewhere.
pub fn recorded_streams(folder: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/recorded-streams").join(folder);
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{} is missing: CI must have the recorded replies",
        dir.display()
    );
    eprintln!("notice: {} is missing; the recorded-reply conformance cases are skipped", dir.display());
    None
}

/// The default policy with millisecond waits, so fault tests do not sleep the SDKs' half seconds.
pub fn fast() -> RetryPolicy {
    RetryPolicy::default().initial_backoff(Duration::from_millis(5)).max_backoff(Duration::from_millis(20))
}

/// Every event of a streamed run, and its outcome.
pub async fn run_events(agent: &Agent, input: &str) -> (Vec<EventKind>, Result<RunOutput, Error>) {
    let mut stream = Box::pin(agent.run(input).stream().map(|e| e.map(|e| e.kind)));
    let mut events = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(EventKind::RunCompleted(output)) => return (events, Ok(*output)),
            Ok(event) => events.push(event),
            Err(err) => return (events, Err(err)),
        }
    }
    panic!("the stream ended without an outcome");
}

/// The retries a run reported: which, the wait, the error's text.
pub fn retries(events: &[EventKind]) -> Vec<(u32, Duration, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            EventKind::ModelRetry { retry, wait, error, .. } => Some((*retry, *wait, error.to_string())),
            _ => None,
        })
        .collect()
}
