//! `#[tool]` through the public API: definitions, invocation, conversions, options; and the
//! compile errors for signatures it cannot support (trybuild).
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use fanout::prelude::*;
use fanout::tool::{Invocation, ToolResult};
use serde_json::json;

/// Simulate a task that takes a random amount of time to complete
///
/// Extra detail that is not part of the description.
///
/// # Arguments
/// * `delay` - The amount of time to delay the task
#[tool]
async fn atask1(delay: u64) -> String {
    tokio::time::sleep(Duration::from_millis(delay)).await;
    format!("Task 1 completed in {:.2}s", delay as f64)
}

#[derive(Debug, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Unit {
    Celsius,
    Fahrenheit,
}

#[derive(Debug, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
struct Place {
    city: String,
    country: Option<String>,
}

#[derive(serde::Serialize)]
struct Report {
    place: String,
    degrees: f64,
}

/// Weather for a place
///
/// # Arguments
/// * `place` - Where
/// * `unit` - Which unit
/// * `days` - How many days,
///   counting today
/// * `tags` - Labels
/// * `precise` - More decimals
#[tool]
fn weather(place: Place, unit: Unit, days: Option<u32>, tags: Vec<String>, precise: bool) -> Report {
    let _ = (unit, tags, precise);
    Report { place: format!("{} {:?}", place.city, days), degrees: 21.5 }
}

/// Divide two numbers
#[tool(name = "divide_numbers", timeout_secs = 5, exclusive, show_result, cache_ttl_secs = 60)]
fn divide(a: f64, b: f64) -> Result<f64, String> {
    if b == 0.0 { Err("cannot divide by zero".to_owned()) } else { Ok(a / b) }
}

/// Do a thing
///
/// Args:
///     count (int): How many times
#[tool(
    eager_start = false,
    requires_confirmation,
    stop_after_tool_call,
    strict,
    instructions = "Use sparingly."
)]
async fn python_style(count: i32) {
    let _ = count;
}

async fn call(tool: impl Tool, args: serde_json::Value) -> ToolResult {
    match Arc::new(tool).invoke(args) {
        Invocation::Async(fut) => fut.await,
        Invocation::Blocking(f) => tokio::task::spawn_blocking(f).await.unwrap(),
    }
}

#[test]
fn definition_comes_from_the_function_and_its_docs() {
    let d = atask1.definition();
    assert_eq!(d.name, "atask1");
    assert_eq!(d.description, "Simulate a task that takes a random amount of time to complete");
    assert_eq!(
        d.parameters,
        json!({
            "type": "object",
            "properties": {"delay": {"type": "integer", "minimum": 0, "description": "The amount of time to delay the task"}},
            "required": ["delay"]
        })
    );
    assert!(!d.strict);
}

#[test]
fn schema_maps_rust_types() {
    let p = &weather.definition().parameters;
    assert_eq!(p["required"], json!(["place", "unit", "tags", "precise"]));
    assert_eq!(p["properties"]["days"]["description"], "How many days, counting today");
    assert_eq!(p["properties"]["days"]["type"], json!(["integer", "null"]));
    assert_eq!(p["properties"]["unit"]["enum"], json!(["celsius", "fahrenheit"]));
    assert_eq!(p["properties"]["place"]["properties"]["city"]["type"], "string");
    assert_eq!(p["properties"]["tags"]["items"]["type"], "string");
    assert_eq!(p["properties"]["precise"]["type"], "boolean");
}

#[tokio::test]
async fn async_and_sync_tools_run_and_convert_their_results() {
    assert!(matches!(Arc::new(atask1).invoke(json!({"delay": 1})), Invocation::Async(_)));
    assert!(
        matches!(Arc::new(weather).invoke(json!({})), Invocation::Async(_)),
        "argument errors need no thread"
    );
    assert_eq!(call(atask1, json!({"delay": 1})).await.unwrap(), "Task 1 completed in 1.00s");
    let args = json!({"place": {"city": "Oslo"}, "unit": "celsius", "tags": [], "precise": true});
    assert!(matches!(Arc::new(weather).invoke(args.clone()), Invocation::Blocking(_)));
    // Not Display but Serialize: sent as JSON. A missing Option argument is None.
    assert_eq!(call(weather, args).await.unwrap(), r#"{"place":"Oslo None","degrees":21.5}"#);
    // Display wins (no quotes), Err becomes a tool failure, () becomes "done".
    assert_eq!(call(divide, json!({"a": 1, "b": 4})).await.unwrap(), "0.25");
    assert_eq!(
        call(divide, json!({"a": 1, "b": 0})).await,
        Err(ToolError::Failed("cannot divide by zero".into()))
    );
    assert_eq!(call(python_style, json!({"count": 2})).await.unwrap(), "done");
    // The function itself stays callable.
    assert_eq!(atask1::func(0).await, "Task 1 completed in 0.00s");
}

#[tokio::test]
async fn wrong_arguments_name_the_argument() {
    let err = call(atask1, json!({"delay": "three"})).await.unwrap_err();
    assert_eq!(err.to_string(), r#"invalid arguments: `delay`: invalid type: string "three", expected u64"#);
    let err =
        call(weather, json!({"place": {"city": 3}, "unit": "celsius", "tags": [], "precise": true})).await;
    assert_eq!(
        err.unwrap_err().to_string(),
        "invalid arguments: `place.city`: invalid type: integer `3`, expected a string"
    );
    let err =
        call(weather, json!({"place": {"city": "x"}, "unit": "kelvin", "tags": [], "precise": true})).await;
    assert!(err.unwrap_err().to_string().starts_with("invalid arguments: `unit`: unknown variant `kelvin`"));
    let err = call(atask1, json!({})).await.unwrap_err();
    assert_eq!(err.to_string(), "invalid arguments: missing field `delay`");
}

#[test]
fn attribute_options_set_tool_options() {
    let d = divide.definition();
    assert_eq!(d.name, "divide_numbers");
    assert_eq!(d.description, "Divide two numbers");
    let o = divide.options();
    assert_eq!(o.timeout, Some(Duration::from_secs(5)));
    assert!(o.exclusive && o.show_result && o.eager_start);
    assert_eq!(o.cache_ttl, Some(Duration::from_secs(60)));

    let o = python_style.options();
    assert!(!o.eager_start && o.requires_confirmation && o.stop_after_tool_call && o.strict);
    assert_eq!(o.instructions.as_deref(), Some("Use sparingly."));
    let d = python_style.definition();
    assert_eq!(d.description, "Do a thing");
    assert_eq!(d.parameters["properties"]["count"]["description"], "How many times");
}

#[test]
fn tools_macro_takes_plain_names() {
    let tools = tools![atask1, weather, divide];
    let names: Vec<String> = tools.iter().map(|t| t.definition().name.clone()).collect();
    assert_eq!(names, ["atask1", "weather", "divide_numbers"]);
}

#[test]
fn unsupported_signatures_fail_to_compile_with_a_clear_message() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
