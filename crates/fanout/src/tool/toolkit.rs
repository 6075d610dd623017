//! A group of tools that share state, such as a database pool or an HTTP client.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use super::{FunctionTool, Tool, ToolResult};

/// Tools sharing one state value `S`; each function receives an `Arc<S>`.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use fanout::tool::Toolkit;
///
/// #[derive(Default)]
/// struct Counter { hits: AtomicU64 }
///
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct By { amount: u64 }
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct Nothing {}
///
/// let kit = Toolkit::new(Counter::default())
///     .tool("increment", "Add to the counter", |c, args: By| async move {
///         Ok(c.hits.fetch_add(args.amount, Ordering::SeqCst).to_string())
///     })
///     .blocking_tool("read", "Read the counter", |c, _: Nothing| {
///         Ok(c.hits.load(Ordering::SeqCst).to_string())
///     });
/// assert_eq!(kit.len(), 2);
/// ```
pub struct Toolkit<S> {
    state: Arc<S>,
    tools: Vec<Arc<dyn Tool>>,
}

impl<S: Send + Sync + 'static> Toolkit<S> {
    /// An empty toolkit around `state`.
    pub fn new(state: S) -> Self {
        Self { state: Arc::new(state), tools: Vec::new() }
    }

    /// The shared state.
    pub fn state(&self) -> &Arc<S> {
        &self.state
    }

    /// Add an async tool.
    pub fn tool<A, F, Fut>(mut self, name: &str, description: &str, f: F) -> Self
    where
        A: DeserializeOwned + JsonSchema + Send + 'static,
        F: Fn(Arc<S>, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ToolResult> + Send + 'static,
    {
        let state = Arc::clone(&self.state);
        self.tools
            .push(Arc::new(FunctionTool::new(name, description, move |args| f(Arc::clone(&state), args))));
        self
    }

    /// Add a blocking tool (runs on a thread of its own).
    pub fn blocking_tool<A, F>(mut self, name: &str, description: &str, f: F) -> Self
    where
        A: DeserializeOwned + JsonSchema + Send + 'static,
        F: Fn(Arc<S>, A) -> ToolResult + Send + Sync + 'static,
    {
        let state = Arc::clone(&self.state);
        self.tools.push(Arc::new(FunctionTool::blocking(name, description, move |args| {
            f(Arc::clone(&state), args)
        })));
        self
    }

    /// Add any tool, e.g. one with options set through [`ToolExt`](super::ToolExt).
    pub fn with(mut self, tool: impl Tool) -> Self {
        self.tools.push(Arc::new(tool));
        self
    }

    /// Number of tools.
    pub fn len(&self) -> usize {
        self.tools.len()
    }

    /// True when the kit has no tools.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }
}

impl<S> IntoIterator for Toolkit<S> {
    type Item = Arc<dyn Tool>;
    type IntoIter = std::vec::IntoIter<Arc<dyn Tool>>;

    fn into_iter(self) -> Self::IntoIter {
        self.tools.into_iter()
    }
}

impl<S> fmt::Debug for Toolkit<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.tools.iter()).finish()
    }
}
