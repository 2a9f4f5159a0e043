//! Stable JSON output (documented in docs/validate.md): `version` changes
//! only when a field changes meaning.

use crate::source::SourceKind;
use crate::validate::Outcome;
use serde_json::{Value, json};
use values_schema::Severity;

/// Renders an outcome as pretty JSON.
pub fn render_json(outcome: &Outcome) -> String {
    let findings: Vec<Value> = outcome
        .findings
        .iter()
        .map(|l| {
            let f = &l.finding;
            let location = l.at.and_then(|at| {
                let source = outcome.sources.get(at.source)?;
                Some(match &source.kind {
                    SourceKind::File => json!({"file": source.name, "line": at.line, "column": at.col}),
                    // The column in the argument as shown, secrets replaced.
                    SourceKind::Flag(flag) => json!({"flag": flag, "argument": source.text, "column": source.shown(at).0}),
                })
            });
            json!({
                "code": f.code,
                "severity": f.severity,
                "path": if f.path.is_root() { Value::Null } else { Value::String(outcome.secrets.mask(&f.path.to_string())) },
                "message": f.message,
                "help": f.help,
                "location": location,
            })
        })
        .collect();
    let errors = outcome.count(Severity::Error);
    let doc = json!({
        "version": 1,
        "valid": errors == 0,
        "errors": errors,
        "warnings": outcome.count(Severity::Warning),
        "findings": findings,
    });
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}
