//! The agent's tools for one turn, when some come from [`ToolSource`]s whose lists change.

use std::sync::{Arc, Mutex, PoisonError};

use crate::error::Result;
use crate::exec::Executor;
use crate::tool::{Tool, ToolSet, ToolSource};

/// The agent's fixed tools and its sources, with the tool set last built from them.
#[derive(Debug)]
pub(super) struct Sources {
    fixed: Vec<Arc<dyn Tool>>,
    sources: Vec<Arc<dyn ToolSource>>,
    /// The sources' versions the executor's tool set was built from, and that executor.
    current: Mutex<(Vec<u64>, Executor)>,
}

impl Sources {
    /// `executor` runs `fixed` and the sources' tools of `versions`, as the builder listed them.
    pub(super) fn new(
        fixed: Vec<Arc<dyn Tool>>,
        sources: Vec<Arc<dyn ToolSource>>,
        versions: Vec<u64>,
        executor: Executor,
    ) -> Self {
        Self { fixed, sources, current: Mutex::new((versions, executor)) }
    }

    /// Refresh every source (concurrently) and return the executor for the next turn: the
    /// previous one unless a list changed. Fails when a change makes two tools share a name.
    pub(super) async fn executor(&self) -> Result<Executor> {
        futures::future::join_all(self.sources.iter().map(|source| source.refresh())).await;
        let lists: Vec<_> = self.sources.iter().map(|source| source.tools()).collect();
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if current.0.iter().eq(lists.iter().map(|list| &list.version)) {
            return Ok(current.1.clone());
        }
        let versions = lists.iter().map(|list| list.version).collect();
        let tools = self.fixed.iter().cloned().chain(lists.into_iter().flat_map(|list| list.tools));
        let executor = current.1.with_tools(Arc::new(ToolSet::new(tools)?));
        *current = (versions, executor.clone());
        Ok(executor)
    }
}
