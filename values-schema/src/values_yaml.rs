//! The chart's `values.yaml`, written from the defaults of [`Values`] with
//! each key's doc comment above it, so that the comments never drift from
//! the schema.

use crate::Values;
use crate::schema::values_schema;
use serde_json::{Map, Value};

const HEADER: &str = "\
# Default values of the fastly-anywhere chart.
#
# Generated from the Rust types in values-schema/ (the same source as
# values.schema.json); edit those, then run
# `UPDATE_GOLDEN=1 cargo test -p values-schema` to rewrite this file.
# Check your own values with `helm anywhere validate -f your-values.yaml`.
";

/// The text of the chart's `values.yaml`.
pub fn values_yaml() -> String {
    let defaults = serde_json::to_value(Values::default()).unwrap_or(Value::Null);
    let mut out = String::from(HEADER);
    if let Value::Object(map) = &defaults {
        write_map(map, values_schema(), 0, &mut out);
    }
    out
}

fn write_map(map: &Map<String, Value>, schema: &Value, depth: usize, out: &mut String) {
    let indent = "  ".repeat(depth);
    for (key, value) in map {
        let sub = schema.get("properties").and_then(|p| p.get(key));
        if depth == 0 {
            out.push('\n');
        }
        if let Some(desc) = sub
            .and_then(|s| s.get("description"))
            .and_then(Value::as_str)
        {
            for line in wrap(desc, 78 - indent.len() - 2) {
                out.push_str(&format!("{indent}# {line}\n"));
            }
        }
        match value {
            Value::Object(inner) if !inner.is_empty() => {
                out.push_str(&format!("{indent}{key}:\n"));
                write_map(
                    inner,
                    sub.map(non_null).unwrap_or(&Value::Null),
                    depth + 1,
                    out,
                );
            }
            Value::Array(items) if !items.is_empty() => {
                out.push_str(&format!("{indent}{key}:\n"));
                let text = serde_yaml::to_string(items).unwrap_or_default();
                for line in text.lines() {
                    out.push_str(&format!("{indent}  {line}\n"));
                }
            }
            Value::Object(_) => out.push_str(&format!("{indent}{key}: {{}}\n")),
            Value::Array(_) => out.push_str(&format!("{indent}{key}: []\n")),
            scalar => {
                let text = serde_yaml::to_string(scalar).unwrap_or_default();
                out.push_str(&format!("{indent}{key}: {}\n", text.trim_end()));
            }
        }
    }
}

fn non_null(schema: &Value) -> &Value {
    match schema.get("anyOf").and_then(Value::as_array) {
        Some(b) => b
            .iter()
            .find(|s| s.get("properties").is_some())
            .unwrap_or(schema),
        None => schema,
    }
}

/// Splits `text` into lines of at most `width` characters, keeping the
/// paragraph breaks of the doc comment.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.split("\n\n") {
        if !lines.is_empty() {
            lines.push(String::new());
        }
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            if !line.is_empty() && line.len() + 1 + word.len() > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        if !line.is_empty() {
            lines.push(line);
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_to_the_defaults() {
        let parsed: Value = serde_yaml::from_str(&values_yaml()).unwrap();
        assert_eq!(parsed, serde_json::to_value(Values::default()).unwrap());
    }

    #[test]
    fn every_key_is_commented() {
        let text = values_yaml();
        let mut previous = "";
        for line in text.lines() {
            let t = line.trim_start();
            let is_key = !t.starts_with('#')
                && !t.starts_with('-')
                && t.contains(':')
                && !line.starts_with("    ");
            if is_key && line.len() - t.len() <= 2 {
                assert!(
                    previous.trim_start().starts_with('#'),
                    "no comment above `{line}`"
                );
            }
            previous = line;
        }
    }
}
