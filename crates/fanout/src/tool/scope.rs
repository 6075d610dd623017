//! What the executor lends a call of a tool that runs an agent: the call's id, the concurrency
//! slots of the runs above it, and the calling run's own scope (opaque here: the agent module
//! defines and reads it). Only calls of tools marked `delegates` get one, so plain tools pay
//! nothing for it.

use std::any::Any;
use std::sync::Arc;

use tokio::sync::Semaphore;

/// The context of one call of a delegating tool, in a task-local while the call runs.
#[derive(Clone)]
pub(crate) struct Lent {
    /// The call's id, as the model gave it.
    pub(crate) call_id: String,
    /// The slots every tool call below this one takes, besides its own run's: the calling run's
    /// per-run slots, the slots it inherited itself and its agent's shared limit.
    pub(crate) slots: Arc<[Arc<Semaphore>]>,
    /// The calling run's scope.
    pub(crate) run: Arc<dyn Any + Send + Sync>,
}

impl std::fmt::Debug for Lent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lent").field("call_id", &self.call_id).finish_non_exhaustive()
    }
}

tokio::task_local! {
    static LENT: Lent;
}

impl Lent {
    /// The context of the delegating call this code runs in, if any.
    pub(crate) fn current() -> Option<Self> {
        LENT.try_with(Clone::clone).ok()
    }

    /// Run `fut` with `self` as its context.
    pub(crate) async fn scope<F: std::future::Future>(self, fut: F) -> F::Output {
        LENT.scope(self, fut).await
    }
}
