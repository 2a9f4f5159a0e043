//! Placeholders such as `<BOOTSTRAP TOKEN>` copied from the documentation.

use crate::{Code, Finding, KeyPath};
use serde_json::Value;

/// Finds every string that is a documentation placeholder.
pub fn check(values: &Value) -> Vec<Finding> {
    let mut found = Vec::new();
    walk(values, &KeyPath::root(), &mut found);
    found
}

fn walk(v: &Value, path: &KeyPath, found: &mut Vec<Finding>) {
    match v {
        Value::Object(map) => map
            .iter()
            .for_each(|(k, v)| walk(v, &path.key(k.clone()), found)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .for_each(|(i, v)| walk(v, &path.index(i), found)),
        Value::String(s) if is_placeholder(s) => found.push(
            Finding::new(
                Code::Placeholder,
                path.clone(),
                format!("placeholder `{}` left from the documentation", s.trim()),
            )
            .help(help_for(path)),
        ),
        _ => {}
    }
}

/// `<SOMETHING IN CAPITALS>`, as the documentation writes what to fill in.
pub fn is_placeholder(s: &str) -> bool {
    let t = s.trim();
    t.len() > 2
        && t.starts_with('<')
        && t.ends_with('>')
        && t[1..t.len() - 1]
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || " _-".contains(c))
}

fn help_for(path: &KeyPath) -> String {
    match path.last_key() {
        Some("storageClassName") => "use `premium-rwo` on GKE or `alicloud-disk-topology-alltype` on ACK, or remove the key to use the provider's default".into(),
        Some("token") | Some("fastly_key") => "keep tokens out of values: create a Secret with both tokens and set `existingSecret.name`, or paste the real token here".into(),
        _ => "replace it with the real value".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_documentation_placeholders() {
        assert!(is_placeholder("<BOOTSTRAP TOKEN>"));
        assert!(is_placeholder(" <STORAGE CLASS> "));
        assert!(!is_placeholder("<>"));
        assert!(!is_placeholder("premium-rwo"));
        assert!(!is_placeholder("<html>"));
    }
}
