//! Structured output: a run whose final answer is a typed Rust value.
//!
//! [`AgentBuilder::output_schema::<T>()`](crate::AgentBuilder::output_schema) sends `T`'s JSON
//! Schema with every model turn, through each provider's native mechanism (OpenAI
//! `response_format`/`text.format` in strict mode, Claude's `output_format` or a forced `json`
//! tool, Gemini's `responseSchema`; OpenAI-compatible servers that only know JSON mode get the
//! schema as instructions). Tools stay usable: the schema only shapes the final answer.
//!
//! The run checks the final answer against `T`. When it does not fit, the model gets one repair
//! turn ([`AgentBuilder::output_repairs`](crate::AgentBuilder::output_repairs)) saying what was
//! wrong; when it still does not fit, the run fails with an [`ErrorKind::InvalidOutput`] error
//! that names the field and keeps the raw text ([`Error::raw_output`]). There is never a silent
//! default. [`RunOutput::parse`](crate::RunOutput::parse) then returns the value.
//!
//! ```
//! use fanout::prelude::*;
//! use fanout::models::scripted::{ScriptedModel, Turn};
//!
//! #[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
//! struct City {
//!     name: String,
//!     population: u64,
//!     landmarks: Vec<String>,
//! }
//!
//! # #[tokio::main] async fn main() -> fanout::Result<()> {
//! // Models may wrap the JSON in a code fence or prose: it is found anyway.
//! let answer = "Here it is:\n```json\n{\"name\": \"Paris\", \"population\": 2100000, \"landmarks\": [\"Louvre\"]}\n```";
//! let agent = Agent::builder()
//!     .model(ScriptedModel::new([Turn::text(answer)]))
//!     .output_schema::<City>()
//!     .build()?;
//! let city: City = agent.run("Describe Paris").await?.parse()?;
//! assert_eq!(city.name, "Paris");
//! assert_eq!(city.landmarks, ["Louvre"]);
//! # Ok(()) }
//! ```
//!
//! [`ErrorKind::InvalidOutput`]: crate::error::ErrorKind::InvalidOutput
//! [`Error::raw_output`]: crate::Error::raw_output

use std::fmt;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, Result};

/// The schema a run's final answer must follow: a name (for the APIs that want one) and a JSON
/// Schema (an `object`, inlined, without `$schema`), plus the check of its Rust type.
#[derive(Clone)]
pub struct OutputSchema {
    name: String,
    schema: Value,
    check: fn(Value) -> std::result::Result<(), String>,
}

impl OutputSchema {
    /// The schema of `T`, named after it.
    ///
    /// ```
    /// #[derive(serde::Deserialize, schemars::JsonSchema)]
    /// struct Answer { value: Option<i32> }
    /// let schema = fanout::structured::OutputSchema::of::<Answer>();
    /// assert_eq!(schema.name(), "Answer");
    /// assert_eq!(schema.schema()["type"], "object");
    /// assert_eq!(schema.strict_schema()["required"], serde_json::json!(["value"]));
    /// ```
    pub fn of<T: JsonSchema + DeserializeOwned>() -> Self {
        Self {
            name: wire_name(&T::schema_name()),
            schema: crate::tool::parameters_schema::<T>(),
            check: |value| deserialize::<T>(value).map(drop),
        }
    }

    /// The name: `T`'s schema name, reduced to the `[A-Za-z0-9_-]{1,64}` the APIs accept.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The JSON Schema.
    pub fn schema(&self) -> &Value {
        &self.schema
    }

    /// The schema rewritten for OpenAI's strict mode (see [`strict_schema`](crate::tool::strict_schema)).
    pub fn strict_schema(&self) -> Value {
        let mut schema = self.schema.clone();
        crate::tool::strict_schema(&mut schema);
        schema
    }

    /// Instructions for models without a native structured-output mode: answer with only a JSON
    /// object following the schema.
    pub fn instructions(&self) -> String {
        format!(
            "Your final answer must be only a JSON object, without any other text, that follows this \
             JSON Schema:\n{}",
            self.schema
        )
    }

    /// Check a final answer: the JSON value it holds, or what is wrong with it.
    pub(crate) fn check(&self, text: &str) -> std::result::Result<Value, String> {
        let value = extract_json(text).ok_or("the answer is not a JSON object")?;
        (self.check)(value.clone())?;
        Ok(value)
    }
}

impl fmt::Debug for OutputSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutputSchema").field("name", &self.name).field("schema", &self.schema).finish()
    }
}

impl PartialEq for OutputSchema {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.schema == other.schema
    }
}

/// `T` from `value`, or an error naming the field that does not fit (`items[2].price: invalid
/// type: string "3", expected u32`).
fn deserialize<T: DeserializeOwned>(value: Value) -> std::result::Result<T, String> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|err| {
        let path = err.path().to_string();
        if path == "." { err.into_inner().to_string() } else { format!("{path}: {}", err.into_inner()) }
    })
}

/// `T` from a final answer's text (see [`extract_json`]); the error keeps the text.
pub(crate) fn parse<T: DeserializeOwned>(text: &str) -> Result<T> {
    let value = extract_json(text).ok_or_else(|| invalid(text, "the answer is not a JSON object".into()))?;
    deserialize(value).map_err(|problem| invalid(text, problem))
}

pub(crate) fn invalid(text: &str, problem: String) -> Error {
    Error::invalid_output(format!("the model's answer does not fit the output schema: {problem}"), text)
}

/// The JSON object in a model's answer, found leniently: the whole text, else the first fenced
/// code block that is one, else the first `{` … matching `}` span that parses (prose around it).
///
/// ```
/// use fanout::structured::extract_json;
/// assert_eq!(extract_json(r#"{"a": 1}"#).unwrap()["a"], 1);
/// assert_eq!(extract_json("Sure!\n```json\n{\"a\": 2}\n```\nAnything else?").unwrap()["a"], 2);
/// assert_eq!(extract_json(r#"The answer is {"a": {"b": "}"}} as asked."#).unwrap()["a"]["b"], "}");
/// assert_eq!(extract_json("no JSON here"), None);
/// ```
pub fn extract_json(text: &str) -> Option<Value> {
    let object = |s: &str| serde_json::from_str::<Value>(s.trim()).ok().filter(Value::is_object);
    if let Some(value) = object(text) {
        return Some(value);
    }
    let mut rest = text;
    while let Some(start) = rest.find("```") {
        let after = &rest[start + 3..];
        let Some(end) = after.find("```") else { break };
        // Skip the info string (`json`) on the opening line.
        let body = after[..end].split_once('\n').map_or(&after[..end], |(_, body)| body);
        if let Some(value) = object(body) {
            return Some(value);
        }
        rest = &after[end + 3..];
    }
    text.match_indices('{').find_map(|(start, _)| {
        let mut stream = serde_json::Deserializer::from_str(&text[start..]).into_iter::<Value>();
        stream.next()?.ok().filter(Value::is_object)
    })
}

/// `name` with every character outside `[A-Za-z0-9_-]` replaced, at most 64 characters.
fn wire_name(name: &str) -> String {
    let name: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' })
        .take(64)
        .collect();
    if name.is_empty() { "output".into() } else { name }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Item {
        name: String,
        price: u32,
    }

    #[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Order {
        items: Vec<Item>,
    }

    #[test]
    fn a_misfit_names_the_field_and_keeps_the_text() {
        let text = r#"{"items": [{"name": "a", "price": 1}, {"name": "b", "price": "2"}]}"#;
        let err = parse::<Order>(text).unwrap_err();
        assert!(err.message().contains("items[1].price"), "{err}");
        assert_eq!(err.raw_output(), Some(text));
    }

    #[test]
    fn generic_names_fit_the_wire() {
        assert_eq!(wire_name("Vec<Item>"), "Vec_Item_");
        assert_eq!(wire_name(""), "output");
    }
}
