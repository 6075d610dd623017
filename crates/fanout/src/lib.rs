#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate self as fanout;

pub mod agent;
pub mod error;
pub mod event;
pub mod exec;
pub mod history;
#[cfg(feature = "terminal")]
pub mod log;
#[cfg(feature = "mcp")]
#[cfg_attr(docsrs, doc(cfg(feature = "mcp")))]
pub mod mcp;
mod model;
pub mod output;
#[cfg(feature = "terminal")]
pub mod print;
pub mod retry;
mod spans;
pub mod store;
pub mod structured;
pub mod team;
#[cfg(feature = "otel")]
#[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
pub mod telemetry;
#[cfg(feature = "terminal")]
pub mod terminal;
pub mod tool;

pub mod models;

pub use agent::{Agent, AgentBuilder};
pub use error::{Error, Result};
pub use event::{EventKind, RunEvent};
pub use exec::ToolExecution;
pub use output::{MemberMetrics, Metrics, PausedRun, RunOutput, RunStatus};
pub use retry::RetryPolicy;
pub use tool::ConcurrencyLimit;

/// Turn a function into a [`Tool`](crate::tool::Tool) the model can call.
///
/// Works on `async fn` (run as a task) and plain `fn` (run on a thread of its own). The function
/// is replaced by a unit struct of the same name implementing `Tool`, so it is passed to the
/// agent by name: `tools![atask1, atask2]` or `.tool(atask1)`; the original function stays
/// callable as `atask1::func(...)`.
///
/// - Name: the function's name. Description: the first paragraph of its doc comment.
/// - Each argument's description: its `` * `name` - text `` line under `# Arguments`.
/// - Arguments: any `serde::Deserialize + schemars::JsonSchema` type; `Option<T>` is optional.
/// - Return: anything `Display` (sent as text) or `Serialize` (sent as JSON), or
///   `Result<T, E: Display>` whose `Err` becomes an error result for the model.
/// - Options: `#[tool(timeout_secs = 5, exclusive, strict, show_result, stop_after_tool_call,
///   requires_confirmation, eager_start = false, cache_ttl_secs = 60, name = "other", instructions = "...")]`.
///
/// ```
/// use fanout::prelude::*;
///
/// /// Add two numbers
/// ///
/// /// # Arguments
/// /// * `a` - The first number
/// /// * `b` - The second number
/// #[tool]
/// fn add(a: i64, b: i64) -> i64 {
///     a + b
/// }
///
/// let definition = add.definition();
/// assert_eq!(definition.name, "add");
/// assert_eq!(definition.description, "Add two numbers");
/// assert_eq!(definition.parameters["properties"]["a"]["description"], "The first number");
/// assert_eq!(add::func(2, 3), 5);
/// ```
pub use fanout_macros::tool;

/// Build a list of tools from `#[tool]` functions and other tools: `tools![atask1, atask2]`.
#[macro_export]
macro_rules! tools {
    ($($tool:expr),* $(,)?) => {
        ::std::vec![$(::std::sync::Arc::new($tool) as ::std::sync::Arc<dyn $crate::tool::Tool>),*]
    };
}

/// The names most programs need: `use fanout::prelude::*;`.
pub mod prelude {
    pub use crate::agent::{Agent, AgentBuilder};
    pub use crate::error::{Error, Result};
    pub use crate::event::{EventKind, RunEvent};
    pub use crate::output::{RunOutput, RunStatus};
    pub use crate::team::{Team, TeamMode};
    pub use crate::tool::{Tool, ToolError, ToolExt};
    pub use crate::{tool, tools};
    pub use tracing::{debug, error, info, trace, warn};
}

#[doc(hidden)]
pub mod __private {
    pub use crate::tool::{ViaDisplay, ViaSerialize, Wrap};
    pub use futures::FutureExt;
    pub use schemars;
    pub use serde;
    pub use serde_json;
}
