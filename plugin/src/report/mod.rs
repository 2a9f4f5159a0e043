//! The three output formats of `validate`: text for people, JSON for
//! scripts, SARIF 2.1.0 for code-scanning UIs.

mod json;
mod sarif;
mod text;

pub use json::render_json;
pub use sarif::render_sarif;
pub use text::render_text;

use crate::source::{Origin, SourceKind, Sources};

/// How a finding's place is written: `values.yaml:4:13`, or the flag.
pub fn place(sources: &Sources, at: Option<Origin>) -> String {
    let Some(at) = at else {
        return "(values)".into();
    };
    match sources.get(at.source) {
        Some(s) if s.kind == SourceKind::File => format!("{}:{}:{}", s.name, at.line, at.col),
        Some(s) => s.name.clone(),
        None => "(values)".into(),
    }
}
