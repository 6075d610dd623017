//! Pre- and post-hooks: async functions around a tool call, per tool or per agent.
//!
//! A pre-hook sees the call and its parsed arguments and returns the arguments to use (changed or
//! not) or an error that becomes the call's result without running the tool. A post-hook sees the
//! call and its result and returns the result to keep. Hooks run inside the call's own task, so
//! they never serialize a batch. Order: agent pre-hooks, tool pre-hook, the tool, tool post-hook,
//! agent post-hooks.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;

use super::{ToolCall, ToolError, ToolResult};

type PreFn = dyn Fn(ToolCall, Value) -> BoxFuture<'static, Result<Value, ToolError>> + Send + Sync;
type PostFn = dyn Fn(ToolCall, ToolResult) -> BoxFuture<'static, ToolResult> + Send + Sync;

/// A hook run before a tool call. Made from an async closure with [`PreHook::new`].
///
/// ```
/// use fanout::tool::{PreHook, ToolError};
///
/// // Refuse delays over a minute, clamp negative ones.
/// let guard = PreHook::new(|call, mut args: serde_json::Value| async move {
///     match args["delay"].as_i64() {
///         Some(d) if d > 60 => Err(ToolError::failed(format!("{}: a delay over 60 s is not allowed", call.name))),
///         Some(d) if d < 0 => { args["delay"] = 0.into(); Ok(args) }
///         _ => Ok(args),
///     }
/// });
/// # let _ = guard;
/// ```
#[derive(Clone)]
pub struct PreHook(Arc<PreFn>);

impl PreHook {
    /// A pre-hook from an async function of the call and its arguments.
    pub fn new<F, Fut>(f: F) -> Self
    where
        F: Fn(ToolCall, Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, ToolError>> + Send + 'static,
    {
        Self(Arc::new(move |call, args| Box::pin(f(call, args))))
    }

    pub(crate) fn run(&self, call: &ToolCall, args: Value) -> BoxFuture<'static, Result<Value, ToolError>> {
        (self.0)(call.clone(), args)
    }
}

/// A hook run after a tool call. Made from an async closure with [`PostHook::new`].
///
/// ```
/// use fanout::tool::PostHook;
///
/// // Keep results short for the model.
/// let trim = PostHook::new(|_call, result: fanout::tool::ToolResult| async move {
///     result.map(|text| text.chars().take(2_000).collect())
/// });
/// # let _ = trim;
/// ```
#[derive(Clone)]
pub struct PostHook(Arc<PostFn>);

impl PostHook {
    /// A post-hook from an async function of the call and its result.
    pub fn new<F, Fut>(f: F) -> Self
    where
        F: Fn(ToolCall, ToolResult) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ToolResult> + Send + 'static,
    {
        Self(Arc::new(move |call, result| Box::pin(f(call, result))))
    }

    pub(crate) fn run(&self, call: &ToolCall, result: ToolResult) -> BoxFuture<'static, ToolResult> {
        (self.0)(call.clone(), result)
    }
}

macro_rules! opaque_hook {
    ($name:ident) => {
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(..)"))
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                Arc::ptr_eq(&self.0, &other.0)
            }
        }
    };
}

opaque_hook!(PreHook);
opaque_hook!(PostHook);

/// The hooks that apply to every call of an agent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hooks {
    /// Run before each call, in order.
    pub pre: Vec<PreHook>,
    /// Run after each call, in order.
    pub post: Vec<PostHook>,
}
