//! A small JSON Schema checker for the event schemas in `schemas/events` (the keywords they
//! use: type, const, enum, required, properties).

use serde_json::Value;

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "string" => v.is_string(),
        "object" => v.is_object(),
        "null" => v.is_null(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "array" => v.is_array(),
        _ => false,
    }
}

/// Every way `value` breaks `schema`, with its path.
pub fn problems(schema: &Value, value: &Value, path: &str) -> Vec<String> {
    let mut out = Vec::new();
    match &schema["type"] {
        Value::String(t) if !type_ok(t, value) => out.push(format!("{path}: not a {t}: {value}")),
        Value::Array(ts) if !ts.iter().any(|t| type_ok(t.as_str().unwrap_or(""), value)) => {
            out.push(format!("{path}: not one of {ts:?}: {value}"))
        }
        _ => {}
    }
    if let Some(c) = schema.get("const")
        && c != value
    {
        out.push(format!("{path}: expected {c}, got {value}"));
    }
    if let Some(Value::Array(options)) = schema.get("enum")
        && !options.contains(value)
    {
        out.push(format!("{path}: {value} is not one of {options:?}"));
    }
    if let (Some(Value::Array(required)), Some(obj)) = (schema.get("required"), value.as_object()) {
        for r in required {
            let key = r.as_str().unwrap_or("");
            if !obj.contains_key(key) {
                out.push(format!("{path}: missing {key}"));
            }
        }
    }
    if let (Some(Value::Object(props)), Some(obj)) = (schema.get("properties"), value.as_object()) {
        for (key, sub) in props {
            if let Some(v) = obj.get(key) {
                out.extend(problems(sub, v, &format!("{path}.{key}")));
            }
        }
    }
    out
}

/// Check an event against `schemas/events/<type>.json`; panics with every problem.
pub fn check_event(event: &Value) {
    let kind = event["type"].as_str().expect("an event type");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemas/events")
        .join(format!("{kind}.json"));
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("no schema for {kind}")),
    )
    .unwrap();
    let p = problems(&schema, event, kind);
    assert!(p.is_empty(), "{kind} breaks its schema: {p:#?}\n{event:#}");
}
