//! Per-tool options, set with [`ToolExt`] or `#[tool(...)]` attributes.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::ConcurrencyLimit;
use super::{Invocation, PostHook, PreHook, Tool, ToolDefinition};

/// How the agent treats one tool. Everything is off by default.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ToolOptions {
    /// Abandon a call after this long; its result becomes a timeout error.
    pub timeout: Option<Duration>,
    /// Send the schema in OpenAI strict mode (see [`strict_schema`](super::strict_schema)).
    pub strict: bool,
    /// Text added to the agent's system prompt when this tool is present.
    pub instructions: Option<String>,
    /// Print the result in `print_response`'s tool panel.
    pub show_result: bool,
    /// End the run after the batch containing a call to this tool: no further model turn.
    pub stop_after_tool_call: bool,
    /// Ask the user before running a call of this tool.
    pub requires_confirmation: bool,
    /// Not parallel-safe: a call runs alone, after the batch's other calls have finished.
    pub exclusive: bool,
    /// Reuse the result of an identical call (same tool, same arguments) made within this time.
    pub cache_ttl: Option<Duration>,
    /// Start as soon as the call's arguments have streamed in (default), rather than when the
    /// model's turn ends. Turn off for tools with side effects that must not run for a turn
    /// that may still fail.
    pub eager_start: bool,
    /// Runs before each call of this tool (after the agent's pre-hooks).
    pub pre_hook: Option<PreHook>,
    /// Runs after each call of this tool (before the agent's post-hooks).
    pub post_hook: Option<PostHook>,
    /// A cap on simultaneous calls of this tool, possibly shared with other tools and agents.
    pub concurrency_limit: Option<ConcurrencyLimit>,
    /// End the run after a batch in which a call of this tool succeeded, with its result as the
    /// run's answer ([`RunStatus::Completed`](crate::RunStatus::Completed)); no further model
    /// turn. A call that fails does not end the run: the model sees the error and goes on.
    /// What a team in [`TeamMode::Route`](crate::team::TeamMode::Route) gives its members.
    pub respond_directly: bool,
    /// The tool runs an agent ([`AgentTool`](crate::team::AgentTool)): its calls take no
    /// concurrency slot of their own (the sub-agent's tool calls do), and they are lent the
    /// calling run's scope.
    pub(crate) delegates: bool,
}

impl Default for ToolOptions {
    fn default() -> Self {
        Self {
            timeout: None,
            strict: false,
            instructions: None,
            show_result: false,
            stop_after_tool_call: false,
            requires_confirmation: false,
            exclusive: false,
            cache_ttl: None,
            eager_start: true,
            pre_hook: None,
            post_hook: None,
            concurrency_limit: None,
            respond_directly: false,
            delegates: false,
        }
    }
}

/// A tool with options set on it; made by the [`ToolExt`] methods.
#[derive(Debug, Clone)]
pub struct Configured<T> {
    tool: Arc<T>,
    options: ToolOptions,
}

impl<T: Tool> Tool for Configured<T> {
    fn definition(&self) -> Arc<ToolDefinition> {
        self.tool.definition()
    }

    fn invoke(self: Arc<Self>, args: Value) -> Invocation {
        Arc::clone(&self.tool).invoke(args)
    }

    fn options(&self) -> ToolOptions {
        self.options.clone()
    }
}

macro_rules! option_setters {
    ($($(#[$doc:meta])* $name:ident($($arg:ident: $ty:ty)?) => |$o:ident| $body:expr;)*) => {
        /// Options on any tool: `atask1.timeout(Duration::from_secs(5)).exclusive()`.
        ///
        /// ```
        /// use std::time::Duration;
        /// use fanout::prelude::*;
        ///
        /// /// Write the report to disk
        /// #[tool]
        /// fn save_report(text: String) -> String { format!("saved {} bytes", text.len()) }
        ///
        /// let tool = save_report.timeout(Duration::from_secs(5)).exclusive();
        /// assert!(tool.options().exclusive);
        /// ```
        pub trait ToolExt: Tool + Sized {
            $(
                $(#[$doc])*
                fn $name(self $(, $arg: $ty)?) -> Configured<Self> {
                    let options = self.options();
                    Configured { tool: Arc::new(self), options }.$name($($arg)?)
                }
            )*
        }

        impl<T: Tool> Configured<T> {
            $(
                $(#[$doc])*
                pub fn $name(mut self $(, $arg: $ty)?) -> Self {
                    let $o = &mut self.options;
                    $body;
                    self
                }
            )*
        }
    };
}

option_setters! {
    /// Abandon a call after `timeout`.
    timeout(timeout: Duration) => |o| o.timeout = Some(timeout);
    /// Send the schema in OpenAI strict mode.
    strict() => |o| o.strict = true;
    /// Add `text` to the system prompt when this tool is present.
    instructions(text: impl Into<String>) => |o| o.instructions = Some(text.into());
    /// Print the result in `print_response`.
    show_result() => |o| o.show_result = true;
    /// End the run after the batch that called this tool.
    stop_after_tool_call() => |o| o.stop_after_tool_call = true;
    /// Ask before running a call.
    requires_confirmation() => |o| o.requires_confirmation = true;
    /// Run calls alone, after the batch's other calls.
    exclusive() => |o| o.exclusive = true;
    /// Reuse results of identical calls made within `ttl`.
    cache_ttl(ttl: Duration) => |o| o.cache_ttl = Some(ttl);
    /// Start calls as soon as their arguments have streamed in (`true`, the default) or only when the model's turn ends (`false`).
    eager_start(eager: bool) => |o| o.eager_start = eager;
    /// Run `hook` before each call (see [`PreHook`]).
    pre_hook(hook: PreHook) => |o| o.pre_hook = Some(hook);
    /// Run `hook` after each call (see [`PostHook`]).
    post_hook(hook: PostHook) => |o| o.post_hook = Some(hook);
    /// Hold a slot of `limit` during each call (see [`ConcurrencyLimit`]).
    concurrency_limit(limit: ConcurrencyLimit) => |o| o.concurrency_limit = Some(limit);
    /// End the run with this call's result as the answer, when it succeeds.
    respond_directly() => |o| o.respond_directly = true;
}

impl<T: Tool> ToolExt for T {}
