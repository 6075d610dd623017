//! Tool schemas as Gemini accepts them: its function declarations take a subset of OpenAPI 3.0,
//! not JSON Schema. `$ref`s are inlined, `type: [T, "null"]` and `anyOf: [T, {type: null}]`
//! (schemars' `Option<T>`) become `nullable: true`, `const` becomes a one-value `enum`, and
//! keywords Gemini rejects (`additionalProperties`, `$schema`, `title`, `examples`, unknown
//! `format`s …) are dropped; a string `format` it does not know moves into the description.

use serde_json::{Map, Value, json};

/// Deeper than this (a recursive type) the schema is cut to its bare type.
const MAX_DEPTH: usize = 16;

/// The `parameters` of a function declaration, or `None` for a tool without arguments (Gemini
/// rejects an `OBJECT` with no properties).
pub(super) fn parameters(schema: &Value) -> Option<Value> {
    let converted = convert(schema, schema, 0);
    let empty = converted.get("properties").and_then(Value::as_object).is_none_or(Map::is_empty);
    (!empty || converted.get("type").is_some_and(|t| t != "object")).then_some(converted)
}

fn convert(schema: &Value, root: &Value, depth: usize) -> Value {
    let Value::Object(schema) = schema else {
        // `true` (anything) has no Gemini spelling; a string is the least surprising stand-in.
        return json!({"type": "string"});
    };
    if depth > MAX_DEPTH {
        return bare_type(schema);
    }
    if let Some(target) = schema.get("$ref").and_then(Value::as_str).and_then(|r| resolve(root, r)) {
        let mut out = convert(target, root, depth + 1);
        copy_description(schema, &mut out);
        return out;
    }
    // `allOf: [one]` is how some generators attach a description to a `$ref`.
    if let Some([single]) = schema.get("allOf").and_then(Value::as_array).map(Vec::as_slice) {
        let mut out = convert(single, root, depth + 1);
        copy_description(schema, &mut out);
        return out;
    }
    if let Some(variants) = schema.get("anyOf").or_else(|| schema.get("oneOf")).and_then(Value::as_array) {
        return any_of(schema, variants, root, depth);
    }

    let mut out = Map::new();
    let mut nullable = schema.get("nullable").and_then(Value::as_bool).unwrap_or(false);
    match schema.get("type") {
        Some(Value::String(t)) if t == "null" => nullable = true,
        Some(Value::String(t)) => {
            out.insert("type".into(), Value::from(t.as_str()));
        }
        Some(Value::Array(types)) => {
            let named: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
            nullable |= named.contains(&"null");
            let rest: Vec<&str> = named.into_iter().filter(|t| *t != "null").collect();
            match rest.as_slice() {
                [] => {}
                [single] => {
                    out.insert("type".into(), Value::from(*single));
                }
                several => {
                    let mut variants: Vec<Value> = several
                        .iter()
                        .map(|t| {
                            let mut one = schema.clone();
                            one.insert("type".into(), Value::from(*t));
                            convert(&Value::Object(one), root, depth + 1)
                        })
                        .collect();
                    for variant in &mut variants {
                        if let Some(v) = variant.as_object_mut() {
                            v.remove("description");
                        }
                    }
                    out.insert("anyOf".into(), Value::Array(variants));
                }
            }
        }
        _ => {}
    }
    if let Some(value) = schema.get("const") {
        insert_enum(&mut out, std::slice::from_ref(value), &mut nullable);
    } else if let Some(Value::Array(values)) = schema.get("enum") {
        insert_enum(&mut out, values, &mut nullable);
    }
    if let Some(Value::String(description)) = schema.get("description") {
        out.insert("description".into(), Value::from(description.as_str()));
    }
    if let Some(Value::String(format)) = schema.get("format") {
        format_into(&mut out, format);
    }
    if let Some(Value::Object(properties)) = schema.get("properties") {
        let converted: Map<String, Value> =
            properties.iter().map(|(name, s)| (name.clone(), convert(s, root, depth + 1))).collect();
        if let Some(Value::Array(required)) = schema.get("required") {
            let required: Vec<Value> = required
                .iter()
                .filter(|r| r.as_str().is_some_and(|r| converted.contains_key(r)))
                .cloned()
                .collect();
            if !required.is_empty() {
                out.insert("required".into(), Value::Array(required));
            }
        }
        out.insert("properties".into(), Value::Object(converted));
        out.entry("type").or_insert_with(|| Value::from("object"));
    }
    match schema.get("items") {
        Some(items @ Value::Object(_)) => {
            out.insert("items".into(), convert(items, root, depth + 1));
        }
        // A tuple (`prefixItems`-style array of schemas): Gemini has one item schema.
        Some(Value::Array(items)) if !items.is_empty() => {
            out.insert("items".into(), convert(&items[0], root, depth + 1));
        }
        _ => {}
    }
    for key in [
        "minimum",
        "maximum",
        "minItems",
        "maxItems",
        "minLength",
        "maxLength",
        "pattern",
        "minProperties",
        "maxProperties",
    ] {
        if let Some(value) = schema.get(key) {
            out.insert(key.into(), value.clone());
        }
    }
    if nullable {
        out.insert("nullable".into(), Value::Bool(true));
    }
    Value::Object(out)
}

/// `anyOf` / `oneOf`: `null` variants become `nullable`, a single variant left is inlined.
fn any_of(schema: &Map<String, Value>, variants: &[Value], root: &Value, depth: usize) -> Value {
    let is_null = |v: &Value| v.get("type").and_then(Value::as_str) == Some("null");
    let nullable = variants.iter().any(is_null);
    let rest: Vec<Value> =
        variants.iter().filter(|v| !is_null(v)).map(|v| convert(v, root, depth + 1)).collect();
    let mut out = match <[Value; 1]>::try_from(rest) {
        Ok([single]) => single,
        Err(rest) if rest.is_empty() => json!({}),
        Err(rest) => json!({"anyOf": rest}),
    };
    copy_description(schema, &mut out);
    if nullable && let Some(out) = out.as_object_mut() {
        out.insert("nullable".into(), Value::Bool(true));
    }
    out
}

/// Gemini's enums are strings: string values are kept (`null` among them means nullable); an
/// enum of other values is dropped, leaving its type.
fn insert_enum(out: &mut Map<String, Value>, values: &[Value], nullable: &mut bool) {
    *nullable |= values.iter().any(Value::is_null);
    let values: Vec<&Value> = values.iter().filter(|v| !v.is_null()).collect();
    if !values.is_empty() && values.iter().all(|v| v.is_string()) {
        out.insert("type".into(), Value::from("string"));
        out.insert("enum".into(), Value::Array(values.into_iter().cloned().collect()));
    }
}

/// Keep the formats Gemini knows for the type; tell the model about other string formats.
fn format_into(out: &mut Map<String, Value>, format: &str) {
    let known = match out.get("type").and_then(Value::as_str) {
        Some("string") => matches!(format, "enum" | "date-time"),
        Some("integer") => matches!(format, "int32" | "int64"),
        Some("number") => matches!(format, "float" | "double"),
        _ => false,
    };
    if known {
        out.insert("format".into(), Value::from(format));
    } else if out.get("type").and_then(Value::as_str) == Some("string") {
        let description = match out.get("description").and_then(Value::as_str) {
            Some(description) => format!("{description} (format: {format})"),
            None => format!("Format: {format}"),
        };
        out.insert("description".into(), Value::from(description));
    }
}

fn copy_description(from: &Map<String, Value>, to: &mut Value) {
    if let (Some(description), Some(to)) = (from.get("description"), to.as_object_mut()) {
        to.insert("description".into(), description.clone());
    }
}

/// The type alone, for a schema nested too deep to inline.
fn bare_type(schema: &Map<String, Value>) -> Value {
    match schema.get("type").and_then(Value::as_str) {
        Some(t) if t != "null" => json!({"type": t}),
        _ => json!({"type": "object"}),
    }
}

/// A local reference: `#/$defs/Name`, `#/definitions/Name`, or any `#/…` JSON pointer.
fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    root.pointer(pointer)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn refs_options_and_enums_become_gemini_schema() {
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "Args",
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "place": {"$ref": "#/$defs/Place", "description": "Where"},
                "unit": {"$ref": "#/$defs/Unit"},
                "days": {"type": ["integer", "null"], "format": "uint32", "minimum": 0},
                "mode": {"const": "fast"},
                "when": {"type": "string", "format": "date"},
                "either": {"type": ["string", "integer"]},
                "maybe": {"anyOf": [{"$ref": "#/$defs/Place"}, {"type": "null"}], "description": "Maybe"}
            },
            "required": ["place", "unit", "ghost"],
            "$defs": {
                "Place": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
                "Unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}
            }
        });
        let place =
            json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]});
        let mut described = place.clone();
        described["description"] = "Where".into();
        let mut maybe = place.clone();
        maybe["description"] = "Maybe".into();
        maybe["nullable"] = true.into();
        assert_eq!(
            parameters(&schema).unwrap(),
            json!({
                "type": "object",
                "properties": {
                    "place": described,
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                    "days": {"type": "integer", "minimum": 0, "nullable": true},
                    "mode": {"type": "string", "enum": ["fast"]},
                    "when": {"type": "string", "description": "Format: date"},
                    "either": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                    "maybe": maybe
                },
                "required": ["place", "unit"]
            })
        );
    }

    #[test]
    fn no_arguments_means_no_parameters_and_recursion_is_cut() {
        assert_eq!(parameters(&json!({"type": "object", "properties": {}})), None);
        assert_eq!(parameters(&json!({"type": "object"})), None);
        let recursive = json!({
            "type": "object",
            "properties": {"node": {"$ref": "#/$defs/Node"}},
            "$defs": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}}
        });
        let converted = parameters(&recursive).unwrap();
        let mut depth = 0;
        let mut node = &converted["properties"]["node"];
        while let Some(next) = node.pointer("/properties/next") {
            node = next;
            depth += 1;
        }
        assert!(depth > 3 && depth <= MAX_DEPTH, "{depth}");
    }
}
