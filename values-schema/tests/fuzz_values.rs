//! Fuzzes the values check: YAML read by serde_yaml, as the chart's tests
//! read it, laid over the chart's defaults, then the schema check, every
//! rule, the quantity and duration parsers and the typed `Values`, on
//! values mutated from the chart's `values.yaml`, the examples and the
//! validate corpus. No input may panic or take more than 2 s.
//!
//! `cargo test` runs it for 5 s. For a longer run, or to repeat one:
//!
//! ```sh
//! FUZZ_SECONDS=600 cargo test -p values-schema --test fuzz_values -- --nocapture
//! FUZZ_SEED=1234 cargo test -p values-schema --test fuzz_values -- --nocapture
//! ```
//!
//! A failure prints the input as a Rust byte string: add it to
//! `regressions` below, named after what broke, and fix the code.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod fuzz_support;

use fuzz_support::{Target, fuzz};
use serde_json::Value;
use std::path::{Path, PathBuf};
use values_schema::quantity::{parse_duration, parse_quantity};
use values_schema::schema::values_schema;
use values_schema::{Values, check_values, with_defaults};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The YAML files of the repository that hold values.
fn values_files() -> Vec<Vec<u8>> {
    let mut files = vec![repo().join("charts/fastly-anywhere/values.yaml")];
    for dir in ["examples", "tests/validate/cases"] {
        let Ok(entries) = std::fs::read_dir(repo().join(dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                files.push(path.join("values.yaml"));
            } else if path.extension().is_some_and(|e| e == "yaml") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
        .into_iter()
        .filter_map(|f| std::fs::read(f).ok())
        .collect()
}

/// Every key and enum value the schema names, and a few keys Helm values
/// files often hold.
fn schema_words() -> Vec<String> {
    fn walk(schema: &Value, out: &mut Vec<String>) {
        match schema {
            Value::Object(map) => {
                if let Some(Value::Object(props)) = map.get("properties") {
                    out.extend(props.keys().map(|k| format!("{k}: ")));
                }
                if let Some(Value::Array(options)) = map.get("enum") {
                    out.extend(options.iter().filter_map(Value::as_str).map(String::from));
                }
                map.values().for_each(|v| walk(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut words = Vec::new();
    walk(values_schema(), &mut words);
    words.extend(
        [
            "8Gi",
            "500m",
            "1e3",
            "50ms",
            "2m",
            "80%",
            "https://a.example",
            "<BOOTSTRAP TOKEN>",
        ]
        .map(String::from),
    );
    words.sort();
    words.dedup();
    words
}

/// One input through everything values-schema does with values.
fn check(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    let Ok(user) = serde_yaml::from_str::<Value>(&text) else {
        return false;
    };
    let merged = with_defaults(&user);
    let findings = check_values(&merged).expect("the schema compiles");
    for f in &findings {
        let _ = format!(
            "{}[{}]: {}: {} {:?}",
            f.severity, f.code, f.path, f.message, f.help
        );
    }
    let _ = serde_json::from_value::<Values>(merged.clone());
    scalars(&merged, &mut |s| {
        let _ = parse_quantity(s);
        let _ = parse_duration(s);
    });
    true
}

fn scalars(v: &Value, f: &mut dyn FnMut(&str)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter().for_each(|i| scalars(i, f)),
        Value::Object(map) => map.values().for_each(|i| scalars(i, f)),
        _ => {}
    }
}

#[test]
fn fuzz_values() {
    fuzz(Target {
        name: "values",
        seeds: values_files(),
        dictionary: schema_words(),
        max_len: 64 << 10,
        run: check,
    });
}

/// Inputs the fuzzer found, each named after what it broke.
mod regressions {
    use super::check;

    #[test]
    fn wall_time_beyond_go_duration_range_panicked() {
        check(b"limits:\n  wallTime: 218446744073709551617m\n  cpuTime: 5m\n");
    }
}
