//! JSON Schema of tool arguments, as providers want it.

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value};

/// The JSON Schema of `T` as a tool's `parameters`: an inlined `object` schema without
/// `$schema`/`title`, integer `format`s dropped (providers reject or ignore them).
///
/// ```
/// #[derive(schemars::JsonSchema, serde::Deserialize)]
/// struct Args {
///     /// Seconds to wait
///     delay: u64,
///     label: Option<String>,
/// }
/// let schema = fanout::tool::parameters_schema::<Args>();
/// assert_eq!(schema["type"], "object");
/// assert_eq!(schema["properties"]["delay"]["minimum"], 0);
/// assert_eq!(schema["required"], serde_json::json!(["delay"]));
/// ```
pub fn parameters_schema<T: JsonSchema>() -> Value {
    let generator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .into_generator();
    let mut value = generator.into_root_schema_for::<T>().to_value();
    if let Value::Object(map) = &mut value {
        map.remove("title");
        map.remove("$schema");
        map.entry("type").or_insert_with(|| Value::String("object".into()));
        map.entry("properties").or_insert_with(|| Value::Object(Map::new()));
    }
    drop_numeric_formats(&mut value);
    value
}

fn drop_numeric_formats(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let is_string = map.get("type").is_some_and(|t| t == "string");
            if !is_string {
                map.remove("format");
            }
            map.values_mut().for_each(drop_numeric_formats);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_numeric_formats),
        _ => {}
    }
}

/// Rewrite a parameters schema for OpenAI strict mode: every object gets
/// `additionalProperties: false` and lists all its properties as required; properties that were
/// optional become nullable instead.
///
/// ```
/// let mut schema = serde_json::json!({
///     "type": "object",
///     "properties": {"a": {"type": "integer"}, "b": {"type": "string"}},
///     "required": ["a"]
/// });
/// fanout::tool::strict_schema(&mut schema);
/// assert_eq!(schema["required"], serde_json::json!(["a", "b"]));
/// assert_eq!(schema["additionalProperties"], false);
/// assert_eq!(schema["properties"]["b"]["type"], serde_json::json!(["string", "null"]));
/// ```
pub fn strict_schema(schema: &mut Value) {
    let Value::Object(map) = schema else { return };
    // Recurse first so nested objects are handled too.
    for (key, child) in map.iter_mut() {
        match key.as_str() {
            "properties" | "$defs" | "definitions" => {
                if let Value::Object(children) = child {
                    children.values_mut().for_each(strict_schema);
                }
            }
            "items" | "additionalProperties" | "not" => strict_schema(child),
            "anyOf" | "oneOf" | "allOf" | "prefixItems" => {
                if let Value::Array(children) = child {
                    children.iter_mut().for_each(strict_schema);
                }
            }
            _ => {}
        }
    }
    let is_object = map.get("type").is_some_and(|t| t == "object") || map.contains_key("properties");
    if !is_object {
        return;
    }
    let required: Vec<String> = match map.get("required") {
        Some(Value::Array(r)) => r.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    };
    let mut all = Vec::new();
    if let Some(Value::Object(props)) = map.get_mut("properties") {
        for (name, prop) in props.iter_mut() {
            if !required.contains(name) {
                make_nullable(prop);
            }
            all.push(Value::String(name.clone()));
        }
    }
    map.insert("required".into(), Value::Array(all));
    map.insert("additionalProperties".into(), Value::Bool(false));
}

fn make_nullable(prop: &mut Value) {
    let Value::Object(map) = prop else { return };
    match map.get_mut("type") {
        Some(Value::String(t)) if t != "null" => {
            let t = std::mem::take(t);
            map.insert("type".into(), serde_json::json!([t, "null"]));
        }
        Some(Value::Array(types)) => {
            if !types.iter().any(|t| t == "null") {
                types.push(Value::String("null".into()));
            }
        }
        _ => {
            let inner = std::mem::take(map);
            map.insert("anyOf".into(), serde_json::json!([Value::Object(inner), {"type": "null"}]));
        }
    }
}
