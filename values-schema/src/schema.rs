//! The chart's JSON schema (draft-07, the dialect Helm 3 and 4 enforce),
//! generated from [`Values`](crate::Values).

use crate::{KeyPath, Segment, Values};
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value};
use std::sync::OnceLock;

/// The schema as a JSON value. Built once per process.
pub fn values_schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let mut settings = SchemaSettings::draft07();
        // A self-contained schema reads better in values.schema.json and
        // lets tools walk it without resolving references.
        settings.inline_subschemas = true;
        let schema = settings.into_generator().into_root_schema_for::<Values>();
        let mut value = schema.to_value();
        tidy(&mut value);
        require_defaulted(&mut value);
        value
    })
}

/// The schema as the pretty JSON committed to `values.schema.json`.
pub fn values_schema_json() -> String {
    let mut text = serde_json::to_string_pretty(values_schema()).unwrap_or_default();
    text.push('\n');
    text
}

/// Makes the generated schema simpler for users and validators: enums of
/// documented constants become plain `enum`s (errors then list the allowed
/// values), and Rust integer formats (`uint32`), which no JSON validator
/// knows, are dropped.
fn tidy(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::Array(variants)) = map.get("oneOf")
                && !variants.is_empty()
                && variants.iter().all(|v| v.get("const").is_some())
            {
                let names: Vec<Value> = variants
                    .iter()
                    .filter_map(|v| v.get("const").cloned())
                    .collect();
                let kind = if names.iter().all(Value::is_string) {
                    "string"
                } else {
                    "number"
                };
                map.remove("oneOf");
                map.insert("type".into(), Value::String(kind.into()));
                map.insert("enum".into(), Value::Array(names));
            }
            if matches!(map.get("format"), Some(Value::String(f)) if f.starts_with("uint") || f.starts_with("int") || f == "double")
            {
                map.remove("format");
            }
            for v in map.values_mut() {
                tidy(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(tidy),
        _ => {}
    }
}

/// The chart's defaults give every non-optional key a value, so after
/// Helm's merge a key can only be missing when a user's `null` deleted it,
/// and the templates would then fail on it: such keys are required. This
/// holds along the chain of maps from the root only: list items (services,
/// backends) get no defaults from the chart.
fn require_defaulted(schema: &mut Value) {
    let Value::Object(map) = schema else { return };
    if let Some(Value::Object(props)) = map.get_mut("properties") {
        props.values_mut().for_each(require_defaulted);
    }
    let Some(Value::Object(props)) = map.get("properties") else {
        return;
    };
    let mut required: Vec<Value> = match map.get("required") {
        Some(Value::Array(r)) => r.clone(),
        _ => Vec::new(),
    };
    for (key, sub) in props {
        let nullable = match sub.get("type") {
            Some(Value::Array(types)) => types.iter().any(|t| t == "null"),
            Some(_) => false,
            None => true,
        };
        let name = Value::String(key.clone());
        if sub.get("default").is_some() && !nullable && !required.contains(&name) {
            required.push(name);
        }
    }
    if !required.is_empty() {
        map.insert("required".into(), Value::Array(required));
    }
}

/// The sub-schema that describes the value at `path`, if the schema says.
pub fn schema_at<'s>(schema: &'s Value, path: &KeyPath) -> Option<&'s Value> {
    let mut here = non_null_branch(schema);
    for seg in &path.0 {
        here = match seg {
            Segment::Key(k) => here
                .get("properties")
                .and_then(|p| p.get(k))
                .or_else(|| here.get("additionalProperties").filter(|a| a.is_object()))?,
            Segment::Index(_) => here.get("items")?,
        };
        here = non_null_branch(here);
    }
    Some(here)
}

/// For `anyOf: [X, {type: null}]` (an optional value), X.
fn non_null_branch(schema: &Value) -> &Value {
    if let Some(Value::Array(branches)) = schema.get("anyOf")
        && let Some(b) = branches
            .iter()
            .find(|b| b.get("type") != Some(&Value::String("null".into())))
    {
        return b;
    }
    schema
}

/// The keys the schema allows in the map at `path`.
pub fn known_keys(schema: &Value, path: &KeyPath) -> Vec<String> {
    schema_at(schema, path)
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .map(|m: &Map<String, Value>| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// The JSON types the schema allows at `path` (`["string", "null"]`).
pub fn expected_types(schema: &Value, path: &KeyPath) -> Vec<String> {
    let mut here = schema;
    for seg in &path.0 {
        let next = match seg {
            Segment::Key(k) => non_null_branch(here)
                .get("properties")
                .and_then(|p| p.get(k))
                .or_else(|| non_null_branch(here).get("additionalProperties")),
            Segment::Index(_) => non_null_branch(here).get("items"),
        };
        match next {
            Some(n) => here = n,
            None => return Vec::new(),
        }
    }
    let mut types = Vec::new();
    let mut collect = |s: &Value| match s.get("type") {
        Some(Value::String(t)) => types.push(t.clone()),
        Some(Value::Array(ts)) => {
            types.extend(ts.iter().filter_map(|t| t.as_str().map(String::from)))
        }
        _ => {}
    };
    match here.get("anyOf") {
        Some(Value::Array(branches)) => branches.iter().for_each(&mut collect),
        _ => collect(here),
    }
    types
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_draft_07_and_strict() {
        let s = values_schema();
        assert_eq!(s["$schema"], "http://json-schema.org/draft-07/schema#");
        assert_eq!(s["additionalProperties"], false);
        assert!(
            s.to_string().find("\"$ref\"").is_none(),
            "schema must be inline"
        );
    }

    #[test]
    fn keeps_the_documented_keys() {
        let s = values_schema();
        for path in [
            "edgeStack.cpuFootprint",
            "edgeStack.memoryFootprint",
            "edgeStack.replicas",
            "cached.volumeClaim.requests.storage",
            "cached.volumeClaim.storageClassName",
            "cached.capacity",
            "xqd.volumeClaim.requests.storage",
            "xqd.volumeClaim.storageClassName",
            "bootstrap.token",
            "fastly_key",
        ] {
            assert!(schema_at(s, &KeyPath::dotted(path)).is_some(), "{path}");
        }
    }

    #[test]
    fn enums_list_their_values() {
        let s = values_schema();
        let provider = schema_at(s, &KeyPath::dotted("provider")).unwrap();
        assert_eq!(
            provider["enum"],
            serde_json::json!(["gke", "ack", "generic"])
        );
        assert_eq!(
            expected_types(s, &KeyPath::dotted("bootstrap.token")),
            vec!["string", "null"]
        );
    }
}
