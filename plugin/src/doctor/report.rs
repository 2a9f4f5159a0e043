//! The checklist as text or JSON.

use super::{Check, Status};
use serde_json::json;

/// The checklist for people: a mark, the check, what was found and the fix.
pub fn render_text(target: &str, checks: &[Check]) -> String {
    let mut out = format!("helm anywhere doctor: {target}\n");
    for c in checks {
        let mark = match c.status {
            Status::Pass => "[ ok ]",
            Status::Warn => "[warn]",
            Status::Fail => "[FAIL]",
        };
        out.push_str(&format!("{mark} {}: {}\n", c.id, c.detail));
        if let Some(fix) = &c.fix {
            for (i, line) in fix.lines().enumerate() {
                let lead = if i == 0 { "fix:" } else { "    " };
                out.push_str(&format!("       {lead} {line}\n"));
            }
        }
    }
    let count = |s| checks.iter().filter(|c| c.status == s).count();
    out.push_str(&format!(
        "doctor: {} ok, {} failed, {} warning(s)\n",
        count(Status::Pass),
        count(Status::Fail),
        count(Status::Warn)
    ));
    out
}

/// The checklist as JSON: `{"target", "ok", "checks": [...]}`.
pub fn render_json(target: &str, checks: &[Check]) -> String {
    let doc = json!({
        "version": 1,
        "target": target,
        "ok": !checks.iter().any(|c| c.status == Status::Fail),
        "checks": checks,
    });
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}
