//! Tool lists that change while an agent lives (an MCP server's, for example), and what
//! [`AgentBuilder::tools`](crate::AgentBuilder::tools) accepts.
//!
//! An agent's tools are otherwise fixed when it is built. A [`ToolSource`] is asked for its
//! current list at the start of every model turn; when the list's version changed, the agent
//! rebuilds its tool set for that turn (the run's executor, limits, hooks and cache stay the
//! same). Agents without sources pay nothing.

use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;

use super::Tool;

/// A tool list that may change between model turns.
///
/// The run loop calls [`refresh`](ToolSource::refresh) and then [`tools`](ToolSource::tools) at
/// the start of every model turn, so both must be quick when nothing changed.
pub trait ToolSource: Send + Sync + fmt::Debug + 'static {
    /// The tools now, with a version that changes whenever the list does.
    fn tools(&self) -> ToolList;

    /// Bring the list up to date (re-list after a change notice, reconnect after a failure).
    /// Failures are the source's to report (log them); the last good list stays in use.
    fn refresh(&self) -> BoxFuture<'_, ()> {
        Box::pin(std::future::ready(()))
    }
}

/// A snapshot of a [`ToolSource`]'s tools.
#[derive(Debug, Clone, Default)]
pub struct ToolList {
    /// Changes whenever the tools do; equal versions mean equal lists.
    pub version: u64,
    /// The tools.
    pub tools: Vec<Arc<dyn Tool>>,
}

/// Tools for [`AgentBuilder::tools`](crate::AgentBuilder::tools): a fixed list, or a source
/// whose list may change.
#[derive(Debug)]
pub enum AgentTools {
    /// Tools fixed for the agent's life.
    Fixed(Vec<Arc<dyn Tool>>),
    /// A list read again at the start of every model turn.
    Source(Arc<dyn ToolSource>),
}

/// Anything [`AgentBuilder::tools`](crate::AgentBuilder::tools) accepts: any list of tools
/// (`tools![...]`, a [`Toolkit`](super::Toolkit), a `Vec<Arc<dyn Tool>>`), or a [`ToolSource`]
/// such as an MCP server's tools.
pub trait IntoAgentTools {
    /// Convert.
    fn into_agent_tools(self) -> AgentTools;
}

impl<I: IntoIterator<Item = Arc<dyn Tool>>> IntoAgentTools for I {
    fn into_agent_tools(self) -> AgentTools {
        AgentTools::Fixed(self.into_iter().collect())
    }
}

impl IntoAgentTools for AgentTools {
    fn into_agent_tools(self) -> AgentTools {
        self
    }
}
