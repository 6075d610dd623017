//! Progress reports from inside a running tool call, delivered to the run as
//! [`EventKind::ToolCallProgress`](crate::EventKind::ToolCallProgress).
//!
//! The executor runs each async call with its [`ProgressReporter`] in a task-local, so a tool
//! reports without any parameter threaded through its signature.

use tokio::sync::mpsc;

/// How far a running tool call has got.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolProgress {
    /// Progress so far; increases with every report, even when the total is unknown.
    pub progress: f64,
    /// The total `progress` counts to, when known.
    pub total: Option<f64>,
    /// What the call is doing now.
    pub message: Option<String>,
}

/// Sends progress of one tool call to its batch. Cheap to clone; works from any task or thread
/// for as long as the call runs (reports after the call ended are dropped).
#[derive(Debug, Clone)]
pub struct ProgressReporter {
    index: usize,
    tx: mpsc::UnboundedSender<(usize, ToolProgress)>,
}

tokio::task_local! {
    static CURRENT: ProgressReporter;
}

impl ProgressReporter {
    pub(crate) fn new(index: usize, tx: mpsc::UnboundedSender<(usize, ToolProgress)>) -> Self {
        Self { index, tx }
    }

    /// The reporter of the tool call this code runs in: available inside an async tool's
    /// `invoke` and its future when run by the executor; `None` elsewhere (blocking tools
    /// included — take the reporter in `invoke` and move it to the thread).
    pub fn current() -> Option<Self> {
        CURRENT.try_with(Clone::clone).ok()
    }

    /// Report progress.
    pub fn report(&self, progress: ToolProgress) {
        // A closed channel means the batch is gone and nobody listens any more.
        let _ = self.tx.send((self.index, progress));
    }

    pub(crate) async fn scope<F: std::future::Future>(self, fut: F) -> F::Output {
        CURRENT.scope(self, fut).await
    }
}

/// Report progress of the tool call this code runs in (see [`ProgressReporter::current`]);
/// does nothing outside one.
///
/// ```
/// use fanout::tool::{ToolProgress, report_progress};
///
/// /// Crunch numbers in three steps
/// #[fanout::tool]
/// async fn crunch() -> String {
///     for step in 1..=3 {
///         report_progress(ToolProgress { progress: step as f64, total: Some(3.0), message: None });
///     }
///     "done".to_owned()
/// }
/// ```
pub fn report_progress(progress: ToolProgress) {
    if let Some(reporter) = ProgressReporter::current() {
        reporter.report(progress);
    }
}
