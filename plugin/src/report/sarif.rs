//! SARIF 2.1.0, the format code-scanning UIs read.

use crate::source::SourceKind;
use crate::validate::Outcome;
use serde_json::{Value, json};
use values_schema::{Code, Severity};

/// Renders an outcome as a SARIF 2.1.0 log with one run.
pub fn render_sarif(outcome: &Outcome) -> String {
    let rules: Vec<Value> = Code::ALL
        .iter()
        .map(|c| {
            json!({
                "id": c.as_str(),
                "shortDescription": {"text": c.title()},
                "defaultConfiguration": {"level": level(c.severity())},
            })
        })
        .collect();
    let results: Vec<Value> = outcome
        .findings
        .iter()
        .map(|l| {
            let f = &l.finding;
            let mut text = if f.path.is_root() {
                f.message.clone()
            } else {
                format!(
                    "{}: {}",
                    outcome.secrets.mask(&f.path.to_string()),
                    f.message
                )
            };
            if let Some(help) = &f.help {
                text.push_str(&format!("\nhelp: {help}"));
            }
            let mut result = json!({
                "ruleId": f.code.as_str(),
                "ruleIndex": Code::ALL.iter().position(|c| *c == f.code),
                "level": level(f.severity),
                "message": {"text": text},
            });
            if let Some(at) = l.at
                && let Some(source) = outcome.sources.get(at.source)
            {
                result["locations"] = match &source.kind {
                    SourceKind::File => json!([{
                        "physicalLocation": {
                            "artifactLocation": {"uri": source.name},
                            "region": {"startLine": at.line, "startColumn": at.col},
                        }
                    }]),
                    SourceKind::Flag(_) => json!([{
                        "logicalLocations": [{"name": source.name, "kind": "parameter"}]
                    }]),
                };
            }
            result
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "helm-anywhere",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/fastly-anywhere/fastly-anywhere/blob/main/docs/diagnostics.md",
                "rules": rules,
            }},
            "results": results,
        }],
    });
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}
