//! Tools from closures: a name, a description, an argument type and a function.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{Invocation, Tool, ToolDefinition, ToolResult, parameters_schema, parse_args};

type Runner<A> = dyn Fn(A) -> Invocation + Send + Sync;

/// A tool made from a closure taking a typed argument struct.
///
/// ```
/// use fanout::tool::{FunctionTool, Tool};
///
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct Args {
///     /// City to look up
///     city: String,
/// }
///
/// let weather = FunctionTool::new("weather", "Current weather in a city", |args: Args| async move {
///     Ok(format!("Sunny in {}", args.city))
/// });
/// assert_eq!(weather.definition().parameters["required"][0], "city");
///
/// // A blocking function runs on a thread of its own:
/// let disk = FunctionTool::blocking("disk_usage", "Bytes used under a path", |args: Args| {
///     Ok(format!("{} bytes", args.city.len()))
/// });
/// ```
pub struct FunctionTool<A> {
    definition: Arc<ToolDefinition>,
    run: Box<Runner<A>>,
    _args: PhantomData<fn(A)>,
}

impl<A: DeserializeOwned + JsonSchema + Send + 'static> FunctionTool<A> {
    /// A tool running the async function `f` on the runtime.
    pub fn new<F, Fut>(name: impl Into<String>, description: impl Into<String>, f: F) -> Self
    where
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ToolResult> + Send + 'static,
    {
        Self::with_runner(name, description, Box::new(move |args| Invocation::future(f(args))))
    }

    /// A tool running the blocking function `f` on a thread of its own.
    pub fn blocking<F>(name: impl Into<String>, description: impl Into<String>, f: F) -> Self
    where
        F: Fn(A) -> ToolResult + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        Self::with_runner(
            name,
            description,
            Box::new(move |args| {
                let f = Arc::clone(&f);
                Invocation::blocking(move || f(args))
            }),
        )
    }

    fn with_runner(name: impl Into<String>, description: impl Into<String>, run: Box<Runner<A>>) -> Self {
        Self {
            definition: Arc::new(ToolDefinition {
                name: name.into(),
                description: description.into(),
                parameters: parameters_schema::<A>(),
                strict: false,
            }),
            run,
            _args: PhantomData,
        }
    }
}

impl<A: DeserializeOwned + JsonSchema + Send + 'static> Tool for FunctionTool<A> {
    fn definition(&self) -> Arc<ToolDefinition> {
        Arc::clone(&self.definition)
    }

    fn invoke(self: Arc<Self>, args: Value) -> Invocation {
        match parse_args::<A>(args) {
            Ok(args) => (self.run)(args),
            Err(err) => Invocation::error(err),
        }
    }
}

impl<A> fmt::Debug for FunctionTool<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FunctionTool").field("name", &self.definition.name).finish_non_exhaustive()
    }
}
