//! [`ConcurrencyLimit`]: a cap on simultaneous tool calls shared by whoever holds a clone.

use std::sync::Arc;

use tokio::sync::Semaphore;

/// A cap on simultaneous tool calls, shared by every run, agent and tool that holds a clone of
/// it: for a rate-limited resource (an API quota, a database pool) used by several agents.
/// Per-run limits ([`AgentBuilder::max_concurrency`](crate::AgentBuilder::max_concurrency))
/// apply on top.
///
/// ```
/// use fanout::prelude::*;
/// use fanout::ConcurrencyLimit;
/// use fanout::models::scripted::ScriptedModel;
///
/// /// Query the warehouse
/// #[tool]
/// async fn query(sql: String) -> String { sql }
///
/// // At most 4 queries at once across both agents, whatever their runs.
/// let warehouse = ConcurrencyLimit::new(4);
/// let a = Agent::builder().model(ScriptedModel::new([])).tool(query.concurrency_limit(warehouse.clone())).build()?;
/// let b = Agent::builder().model(ScriptedModel::new([])).tool(query).concurrency_limit(warehouse.clone()).build()?;
/// assert_eq!(warehouse.max(), 4);
/// # Ok::<(), fanout::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ConcurrencyLimit {
    slots: Arc<Semaphore>,
    max: usize,
}

impl ConcurrencyLimit {
    /// At most `max` calls at once (at least 1).
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        Self { slots: Arc::new(Semaphore::new(max)), max }
    }

    /// The cap.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Slots free right now.
    pub fn available(&self) -> usize {
        self.slots.available_permits()
    }
}

impl PartialEq for ConcurrencyLimit {
    /// Two limits are equal when they share their slots.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.slots, &other.slots)
    }
}

impl ConcurrencyLimit {
    /// The slots, for the executor.
    pub(crate) fn slots(&self) -> &Arc<Semaphore> {
        &self.slots
    }
}
