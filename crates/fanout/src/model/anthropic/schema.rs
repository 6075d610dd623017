//! Output schemas as Claude's structured outputs accept them: the strict form (every object
//! closed with `additionalProperties: false`, every property required, optional ones nullable),
//! nullable types spelled `anyOf: [T, {type: null}]`, and the bounds its grammar compiler
//! rejects (`For 'integer' type, property 'minimum' is not supported`) moved into the
//! description. The run still checks the answer against the Rust type, bounds included.

use serde_json::{Map, Value, json};

/// Keywords the API refuses in an output schema.
const UNSUPPORTED: &[&str] = &[
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
];

/// `schema` (already strict) for `output_config.format`.
pub(super) fn output_schema(mut schema: Value) -> Value {
    rewrite(&mut schema);
    schema
}

/// Rewrite a schema and its subschemas (never the maps of property names, where a field may
/// be called `minimum`).
fn rewrite(schema: &mut Value) {
    let Value::Object(map) = schema else { return };
    for (key, child) in map.iter_mut() {
        match (key.as_str(), child) {
            ("properties" | "$defs" | "definitions", Value::Object(children)) => {
                children.values_mut().for_each(rewrite)
            }
            ("anyOf" | "oneOf" | "allOf" | "prefixItems", Value::Array(children)) => {
                children.iter_mut().for_each(rewrite)
            }
            ("items" | "additionalProperties" | "not", child) => rewrite(child),
            _ => {}
        }
    }
    move_bounds_to_description(map);
    split_nullable_type(map);
}

fn move_bounds_to_description(map: &mut Map<String, Value>) {
    let bounds: Vec<String> =
        UNSUPPORTED.iter().filter_map(|key| map.remove(*key).map(|v| format!("{key}: {v}"))).collect();
    if bounds.is_empty() {
        return;
    }
    let note = format!("({})", bounds.join(", "));
    let description = match map.get("description").and_then(Value::as_str) {
        Some(text) => format!("{text} {note}"),
        None => note,
    };
    map.insert("description".into(), Value::String(description));
}

/// `type: [T, "null"]` → `anyOf: [{type: T, …}, {type: "null"}]`.
fn split_nullable_type(map: &mut Map<String, Value>) {
    let Some(Value::Array(types)) = map.get("type") else { return };
    if !types.iter().any(|t| t == "null") {
        return;
    }
    let others: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
    let description = map.remove("description");
    let mut inner = std::mem::take(map);
    inner.insert("type".into(), if others.len() == 1 { others[0].clone() } else { Value::Array(others) });
    map.insert("anyOf".into(), json!([Value::Object(inner), {"type": "null"}]));
    if let Some(description) = description {
        map.insert("description".into(), description);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_become_descriptions_and_nullable_types_any_of() {
        let schema = json!({
            "type": "object",
            "properties": {
                "minimum": {"type": "integer", "minimum": 0, "description": "Days"},
                "note": {"type": ["string", "null"], "maxLength": 9},
                "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3}
            },
            "required": ["minimum", "note", "tags"],
            "additionalProperties": false
        });
        let out = output_schema(schema);
        assert_eq!(
            out["properties"]["minimum"],
            json!({"type": "integer", "description": "Days (minimum: 0)"})
        );
        assert_eq!(
            out["properties"]["note"],
            json!({"anyOf": [{"type": "string"}, {"type": "null"}], "description": "(maxLength: 9)"})
        );
        assert_eq!(out["properties"]["tags"]["description"], "(maxItems: 3)");
        assert!(out["properties"]["tags"].get("maxItems").is_none());
        assert_eq!(out["additionalProperties"], false);
    }
}
