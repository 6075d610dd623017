//! Turning the model's argument text into typed arguments, with errors that name the argument.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::ToolError;

/// Parse the raw argument text of a call into JSON.
///
/// Empty text counts as `{}`: models send it for tools without parameters.
pub(crate) fn parse_json(text: &str) -> Result<Value, ToolError> {
    if text.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_str(text).map_err(|e| ToolError::InvalidJson(e.to_string()))
}

/// Deserialize a tool's arguments, naming the offending argument on failure.
///
/// ```
/// use fanout::tool::{parse_args, ToolError};
/// #[derive(serde::Deserialize, Debug)]
/// struct Args { delay: u64 }
///
/// let err = parse_args::<Args>(serde_json::json!({"delay": "three"})).unwrap_err();
/// assert_eq!(err.to_string(), r#"invalid arguments: `delay`: invalid type: string "three", expected u64"#);
/// ```
pub fn parse_args<T: DeserializeOwned>(args: Value) -> Result<T, ToolError> {
    serde_path_to_error::deserialize(args).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if path == "." {
            ToolError::InvalidArguments(inner.to_string())
        } else {
            ToolError::InvalidArguments(format!("`{path}`: {inner}"))
        }
    })
}
