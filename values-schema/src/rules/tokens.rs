//! Where the two tokens come from: inline, or an existing Secret, not both
//! and not neither; in `offline` mode, nowhere.

use super::control_plane::unused_offline;
use crate::values::ControlPlaneMode;
use crate::{Code, Finding, KeyPath, Values};
use std::collections::BTreeSet;

const SECRET_HELP: &str = "create the Secret with `kubectl create secret generic fastly-anywhere-tokens --from-literal=bootstrap-token=… --from-literal=fastly-key=…` and set `existingSecret.name: fastly-anywhere-tokens`";

/// Token rules. Paths already reported as placeholders are not reported again.
pub fn check(values: &Values, placeholders: &BTreeSet<String>) -> Vec<Finding> {
    if values.control_plane.mode == ControlPlaneMode::Offline {
        return offline(values, placeholders);
    }
    let secret = values
        .existing_secret
        .name
        .as_deref()
        .is_some_and(|n| !n.trim().is_empty());
    let tokens = [
        (
            KeyPath::dotted("bootstrap.token"),
            values.bootstrap.token.as_deref(),
            "bootstrap token",
        ),
        (
            KeyPath::dotted("fastly_key"),
            values.fastly_key.as_deref(),
            "Fastly API token",
        ),
    ];
    let mut found = Vec::new();
    for (path, token, what) in tokens {
        if placeholders.contains(&path.to_string()) {
            continue;
        }
        match (token, secret) {
            (Some(t), _) if t.trim().is_empty() => found.push(
                Finding::new(Code::TokenBlank, path, format!("the {what} is empty"))
                    .help("give the token, or remove the key and use `existingSecret.name`"),
            ),
            (Some(_), true) => found.push(
                Finding::new(
                    Code::TokensTwice,
                    path.clone(),
                    format!("the {what} is given here and through `existingSecret.name`"),
                )
                .help(format!("remove `{path}`: the Secret provides it")),
            ),
            (Some(_), false) => found.push(
                Finding::new(
                    Code::TokenInline,
                    path,
                    format!("the {what} is in plain text: it ends up in the Helm release and in any repository holding this file"),
                )
                .help(SECRET_HELP),
            ),
            (None, false) => found.push(
                Finding::new(Code::TokenMissing, path, format!("no {what} (`controlPlane.mode` is fastly)"))
                    .also_about(KeyPath::dotted("controlPlane.mode"))
                    .help(format!("set `existingSecret.name` to a Secret holding both tokens, or give the {what} here; without a Fastly account, set `controlPlane.mode: offline`")),
            ),
            (None, true) => {}
        }
    }
    found
}

/// `offline` mode reads no token: any token or Secret given is a leftover.
fn offline(values: &Values, placeholders: &BTreeSet<String>) -> Vec<Finding> {
    let why = "the bootstrap reads no token and the chart mounts no tokens Secret";
    [
        ("bootstrap.token", values.bootstrap.token.is_some()),
        ("fastly_key", values.fastly_key.is_some()),
        ("existingSecret.name", values.existing_secret.name.is_some()),
    ]
    .into_iter()
    .filter(|(path, given)| *given && !placeholders.contains(*path))
    .map(|(path, _)| unused_offline(KeyPath::dotted(path), why))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(v: &Values) -> Vec<&'static str> {
        check(v, &BTreeSet::new())
            .iter()
            .map(|f| f.code.as_str())
            .collect()
    }

    #[test]
    fn one_source_of_tokens() {
        let mut v = Values::default();
        assert_eq!(codes(&v), ["E0302", "E0302"]);
        v.bootstrap.token = Some("b".into());
        v.fastly_key = Some("k".into());
        assert_eq!(codes(&v), ["W0303", "W0303"]);
        v.existing_secret.name = Some("tokens".into());
        assert_eq!(codes(&v), ["E0301", "E0301"]);
        v.bootstrap.token = None;
        v.fastly_key = Some(" ".into());
        assert_eq!(codes(&v), ["E0304"]);
        v.fastly_key = None;
        assert_eq!(codes(&v), Vec::<&str>::new());
    }

    #[test]
    fn offline_mode_needs_no_token_and_flags_leftovers() {
        let mut v = Values::default();
        v.control_plane.mode = ControlPlaneMode::Offline;
        assert_eq!(codes(&v), Vec::<&str>::new());
        v.fastly_key = Some("k".into());
        v.existing_secret.name = Some("tokens".into());
        assert_eq!(codes(&v), ["W0664", "W0664"]);
    }
}
