//! [`CancelToken`]: cancel a run from anywhere.

use std::sync::Arc;

use tokio::sync::watch;

/// A handle that cancels the runs it was given to, from any task or thread. Clones share the
/// same state; once cancelled it stays cancelled.
///
/// ```
/// use std::time::Duration;
/// use fanout::prelude::*;
/// use fanout::agent::CancelToken;
/// use fanout::models::scripted::{ScriptedModel, Turn};
///
/// /// Wait a long time
/// #[tool]
/// async fn slow() -> String {
///     tokio::time::sleep(Duration::from_secs(3600)).await;
///     "done".into()
/// }
///
/// # #[tokio::main] async fn main() -> fanout::Result<()> {
/// let model = ScriptedModel::new([Turn::call("slow", serde_json::json!({})), Turn::text("never")]);
/// let agent = Agent::builder().model(model).tool(slow).build()?;
/// let token = CancelToken::new();
/// let canceller = token.clone();
/// tokio::spawn(async move {
///     tokio::time::sleep(Duration::from_millis(20)).await;
///     canceller.cancel();
/// });
/// let outcome = agent.run_until_cancelled("go", &token).await;
/// assert!(matches!(outcome, Err(Error::Cancelled)));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct CancelToken {
    state: Arc<watch::Sender<bool>>,
}

impl Default for CancelToken {
    fn default() -> Self {
        Self::new()
    }
}

impl CancelToken {
    /// A token that is not cancelled yet.
    pub fn new() -> Self {
        Self { state: Arc::new(watch::Sender::new(false)) }
    }

    /// Cancel every run watching this token.
    pub fn cancel(&self) {
        self.state.send_replace(true);
    }

    /// True once [`cancel`](CancelToken::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        *self.state.borrow()
    }

    /// Resolves when the token is cancelled.
    pub async fn cancelled(&self) {
        let mut rx = self.state.subscribe();
        // The sender lives in `self`, so waiting cannot fail.
        let _ = rx.wait_for(|cancelled| *cancelled).await;
    }
}
