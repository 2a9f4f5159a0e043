//! Compiler-style text: `FILE:LINE:COL: error[CODE]: key.path: message`,
//! the offending line with the token underlined, and a `help:` line.

use super::place;
use crate::source::{SourceKind, Sources};
use crate::validate::Outcome;
use std::fmt::Write;
use values_schema::Severity;

/// Renders an outcome as text.
pub fn render_text(outcome: &Outcome) -> String {
    let mut out = String::new();
    for located in &outcome.findings {
        let f = &located.finding;
        // A key can be a token pasted in the wrong place: paths are masked.
        let path = if f.path.is_root() {
            String::new()
        } else {
            format!("{}: ", outcome.secrets.mask(&f.path.to_string()))
        };
        let _ = writeln!(
            out,
            "{}: {}[{}]: {}{}",
            place(&outcome.sources, located.at),
            f.severity,
            f.code,
            path,
            f.message
        );
        if let Some(at) = located.at {
            snippet(&outcome.sources, at, &mut out);
        }
        if let Some(help) = &f.help {
            let _ = writeln!(out, "   = help: {help}");
        }
        out.push('\n');
    }
    let errors = outcome.count(Severity::Error);
    let warnings = outcome.count(Severity::Warning);
    let verdict = if errors == 0 { "valid" } else { "invalid" };
    let _ = writeln!(
        out,
        "{verdict}: {errors} error{}, {warnings} warning{}",
        plural(errors),
        plural(warnings)
    );
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn snippet(sources: &Sources, at: crate::source::Origin, out: &mut String) {
    let Some(source) = sources.get(at.source) else {
        return;
    };
    // Secrets are replaced in the text: show the span where it is now.
    let (col, len) = source.shown(at);
    let (gutter, line, col) = match &source.kind {
        SourceKind::File => {
            if at.len == 0 {
                return;
            }
            let Some(line) = sources.line(at.source, at.line) else {
                return;
            };
            (at.line.to_string(), line.to_owned(), col)
        }
        SourceKind::Flag(flag) => (
            String::new(),
            format!("{flag} {}", source.text),
            col + flag.len() + 1,
        ),
    };
    let width = gutter.len().max(2);
    let pad = " ".repeat(width);
    let visible = line.chars().count();
    let len = len
        .max(1)
        .min(visible.saturating_sub(col.saturating_sub(1)).max(1));
    let _ = writeln!(out, "{pad} |");
    let _ = writeln!(out, "{gutter:>width$} | {line}");
    let _ = writeln!(
        out,
        "{pad} | {}{}",
        " ".repeat(col.saturating_sub(1)),
        "^".repeat(len)
    );
}
