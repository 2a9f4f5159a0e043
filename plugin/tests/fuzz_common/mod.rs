//! What the plugin's fuzz targets run on each input: the whole validation
//! (the positioned YAML parser, `--set`, merging, the checks, redaction),
//! every report format, and one property on top of not crashing: a token
//! in the values never appears in a report.

use helm_anywhere::report::{render_json, render_sarif, render_text};
use helm_anywhere::validate::{ValidateError, ValidateRequest, validate_with};
use serde_json::Value;
use std::path::Path;

/// Validates `request`, whose only file, `values.yaml`, holds `text`, and
/// renders every report. True when the values parsed.
pub fn validate_and_report(request: &ValidateRequest, text: &str) -> bool {
    let outcome = validate_with(request, &mut |path: &Path| {
        if path == Path::new("values.yaml") {
            Ok(text.to_owned())
        } else {
            Err(ValidateError::Read {
                path: path.display().to_string(),
                source: std::io::ErrorKind::NotFound.into(),
            })
        }
    })
    .expect("validate reads only values.yaml and the built-in chart");
    let reports = [
        render_text(&outcome),
        render_json(&outcome),
        render_sarif(&outcome),
    ];
    let tokens = tokens(&outcome.user_values);
    for (i, report) in reports.iter().enumerate() {
        // JSON escapes some characters: look into its strings, not its text.
        let strings = if i == 0 {
            vec![report.clone()]
        } else {
            let mut all = Vec::new();
            strings(
                &serde_json::from_str(report).expect("reports are JSON"),
                &mut all,
            );
            all
        };
        for token in &tokens {
            assert!(
                !strings.iter().any(|s| s.contains(token.as_str())),
                "the token {token:?} was printed:\n{report}"
            );
        }
    }
    !outcome.user_values.is_null()
}

/// The tokens of `values` that look like tokens: long, one word, and not
/// a documentation placeholder. (A token such as `error` would be printed
/// by the report's own words.)
fn tokens(values: &Value) -> Vec<String> {
    let mut found = Vec::new();
    for value in [&values["bootstrap"]["token"], &values["fastly_key"]] {
        strings(value, &mut found);
    }
    found.retain(|t| {
        t.chars().count() >= 12
            && !t.chars().any(|c| c.is_whitespace() || c.is_control())
            && !(t.starts_with('<') && t.ends_with('>'))
    });
    found
}

fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Array(items) => items.iter().for_each(|i| strings(i, out)),
        Value::Object(map) => map.iter().for_each(|(k, v)| {
            out.push(k.clone());
            strings(v, out);
        }),
        _ => {}
    }
}
