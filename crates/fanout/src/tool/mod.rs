//! Tools: what the model can call.
//!
//! Three ways to make one, from the most to the least convenient:
//!
//! - `#[tool]` on an `async fn` or a plain `fn` (see [`macro@crate::tool`]);
//! - [`FunctionTool`] from a closure and an argument struct;
//! - implementing [`Tool`] by hand.
//!
//! [`Toolkit`] groups closures that share state. [`ToolExt`] sets per-tool options such as a
//! timeout or `exclusive`.

mod args;
mod cache;
mod function;
mod hooks;
pub(crate) mod idempotency;
mod limit;
mod options;
mod output;
mod progress;
mod schema;
pub(crate) mod scope;
mod set;
mod source;
mod toolkit;

use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;

pub use args::parse_args;
pub(crate) use args::parse_json;
pub use cache::{CacheKey, MemoryCache, ToolCache};
pub use function::FunctionTool;
pub use hooks::{Hooks, PostHook, PreHook};
pub use idempotency::{idempotency_key, with_idempotency_scope};
pub use limit::ConcurrencyLimit;
pub use options::{Configured, ToolExt, ToolOptions};
pub use progress::{ProgressReporter, ToolProgress, report_progress};
pub use schema::{parameters_schema, strict_schema};
pub(crate) use set::Entry;
pub use set::ToolSet;
pub use source::{AgentTools, IntoAgentTools, ToolList, ToolSource};
pub use toolkit::Toolkit;

#[doc(hidden)]
pub use output::{ViaDisplay, ViaSerialize, Wrap};

/// What the model sees of a tool: its name, what it does and the JSON Schema of its arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolDefinition {
    /// The name the model calls it by (`^[a-zA-Z0-9_-]{1,64}$` for OpenAI).
    pub name: String,
    /// What the tool does; the model reads this to decide when to call it.
    pub description: String,
    /// JSON Schema (an `object`) of the arguments.
    pub parameters: Value,
    /// Ask the provider to enforce the schema exactly (OpenAI strict mode).
    pub strict: bool,
}

/// One call the model asked for: an id to match the result, a tool name and the raw argument
/// text exactly as the model produced it (it may not even be JSON).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ToolCall {
    /// The provider's id of the call; the result is sent back under the same id.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments as text, normally a JSON object.
    pub arguments: String,
}

impl ToolCall {
    /// A call with the given id, tool name and argument text.
    pub fn new(id: impl Into<String>, name: impl Into<String>, arguments: impl Into<String>) -> Self {
        Self { id: id.into(), name: name.into(), arguments: arguments.into() }
    }
}

/// What a tool call produced: text for the model, or an error the model is told about.
pub type ToolResult = Result<String, ToolError>;

/// Why a tool call has no normal result. Its `Display` text is what the model reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[serde(tag = "error", content = "detail", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ToolError {
    /// The model asked for a tool the agent does not have.
    #[error("unknown tool `{name}`; the available tools are: {available}")]
    UnknownTool {
        /// The name the model used.
        name: String,
        /// The names it could have used, comma-separated.
        available: String,
    },
    /// The argument text is not JSON.
    #[error("the arguments are not valid JSON ({0})")]
    InvalidJson(String),
    /// The arguments are JSON but do not match the tool's parameters.
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
    /// The tool itself returned an error.
    #[error("{0}")]
    Failed(String),
    /// The tool panicked; the panic was contained to this call.
    #[error("the tool panicked: {0}")]
    Panicked(String),
    /// The tool did not finish in time and was abandoned.
    #[error("the tool did not finish within {:.1}s and was cancelled", .0.as_secs_f64())]
    TimedOut(std::time::Duration),
    /// The call was not run because a limit was reached.
    #[error("not run: {0}")]
    NotRun(String),
    /// The user declined to run the call.
    #[error("the user rejected this call{}", .0.as_deref().map(|n| format!(": {n}")).unwrap_or_default())]
    Rejected(Option<String>),
}

impl ToolError {
    /// A tool failure with the given message: what a tool returns for "this did not work".
    pub fn failed(message: impl fmt::Display) -> Self {
        ToolError::Failed(message.to_string())
    }
}

/// How a tool call runs: as a future on the runtime, or as a blocking function on its own thread.
///
/// The executor starts every call of a batch at once either way.
pub enum Invocation {
    /// Polled as its own tokio task, concurrently with the batch's other calls.
    Async(BoxFuture<'static, ToolResult>),
    /// Run on tokio's blocking pool: each call gets its own thread.
    Blocking(Box<dyn FnOnce() -> ToolResult + Send + 'static>),
}

impl Invocation {
    /// An async invocation from any `Send` future.
    pub fn future(fut: impl std::future::Future<Output = ToolResult> + Send + 'static) -> Self {
        Invocation::Async(Box::pin(fut))
    }

    /// A blocking invocation: `f` runs on a thread of its own.
    pub fn blocking(f: impl FnOnce() -> ToolResult + Send + 'static) -> Self {
        Invocation::Blocking(Box::new(f))
    }

    /// A call that fails at once, e.g. because its arguments do not parse.
    pub fn error(err: ToolError) -> Self {
        Invocation::Async(Box::pin(std::future::ready(Err(err))))
    }
}

impl fmt::Debug for Invocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Invocation::Async(_) => "Invocation::Async(..)",
            Invocation::Blocking(_) => "Invocation::Blocking(..)",
        })
    }
}

/// A tool the model can call.
///
/// Most tools come from `#[tool]` or [`FunctionTool`]; implement this trait by hand when a tool
/// needs state of its own. `invoke` receives the tool behind an `Arc`, so the returned future can
/// keep using `self`.
///
/// ```
/// use std::sync::Arc;
/// use fanout::tool::{Invocation, Tool, ToolDefinition, ToolError, parse_args};
///
/// struct Greeter { greeting: String }
///
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct Args { name: String }
///
/// impl Tool for Greeter {
///     fn definition(&self) -> Arc<ToolDefinition> {
///         Arc::new(ToolDefinition {
///             name: "greet".into(),
///             description: "Greet someone by name".into(),
///             parameters: fanout::tool::parameters_schema::<Args>(),
///             strict: false,
///         })
///     }
///     fn invoke(self: Arc<Self>, args: serde_json::Value) -> Invocation {
///         match parse_args::<Args>(args) {
///             Ok(args) => Invocation::future(async move { Ok(format!("{}, {}!", self.greeting, args.name)) }),
///             Err(err) => Invocation::error(err),
///         }
///     }
/// }
/// ```
pub trait Tool: Send + Sync + 'static {
    /// Name, description and argument schema, as sent to the model. Read once per agent and
    /// shared by every request; `#[tool]` and [`FunctionTool`] build theirs once, so building an
    /// agent copies nothing.
    fn definition(&self) -> Arc<ToolDefinition>;

    /// Start a call with already-parsed JSON arguments.
    fn invoke(self: Arc<Self>, args: Value) -> Invocation;

    /// Per-tool options (timeout, exclusive, …); none by default. See [`ToolExt`].
    fn options(&self) -> ToolOptions {
        ToolOptions::default()
    }
}

/// A list of tools, as [`tools!`](crate::tools) builds it.
pub type Tools = Vec<Arc<dyn Tool>>;

impl fmt::Debug for dyn Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tool").field("name", &self.definition().name).finish_non_exhaustive()
    }
}
