//! The whole check of merged values: the schema, then the rules on the
//! sections the schema found sound.

use crate::rules::check_rules;
use crate::schema_check::{SchemaError, check_schema};
use crate::{Finding, KeyPath, Segment, Values};
use serde_json::Value;
use std::collections::BTreeSet;

/// The keys whose values are secrets: the bootstrap token and the Fastly
/// API token. `existingSecret` only names a Secret and its keys, which are
/// not secret. Reports never print what these keys hold.
pub const SECRET_KEYS: &[&[&str]] = &[&["bootstrap", "token"], &["fastly_key"]];

/// What reports print instead of a secret.
pub const REDACTED: &str = "<redacted>";

/// Whether `path` is a secret key or lies inside one (`fastly_key[0]` of a
/// token mistakenly written as a list is as secret as the token).
pub fn is_secret(path: &KeyPath) -> bool {
    SECRET_KEYS.iter().any(|secret| {
        path.0.len() >= secret.len()
            && secret
                .iter()
                .zip(&path.0)
                .all(|(want, seg)| matches!(seg, Segment::Key(k) if k == want))
    })
}

/// Every finding about `values` (the chart's defaults with the user's values
/// merged in), schema findings first.
pub fn check_values(values: &Value) -> Result<Vec<Finding>, SchemaError> {
    let mut findings = check_schema(values)?;
    let broken: BTreeSet<String> = findings
        .iter()
        .filter_map(|f| match f.path.0.first() {
            Some(Segment::Key(k)) => Some(k.clone()),
            _ => None,
        })
        .collect();
    findings.extend(check_rules(values, &broken));
    Ok(findings)
}

/// The chart's defaults with `user` laid over them as Helm does: maps
/// merge, anything else is replaced, a `null` deletes the default.
pub fn with_defaults(user: &Value) -> Value {
    let mut values = serde_json::to_value(Values::default()).unwrap_or(Value::Null);
    coalesce(&mut values, user);
    values
}

fn coalesce(base: &mut Value, user: &Value) {
    match (base, user) {
        (Value::Object(b), Value::Object(u)) => {
            for (k, v) in u {
                match (b.get_mut(k), v) {
                    (Some(_), Value::Null) => {
                        b.remove(k);
                    }
                    (None, Value::Null) => {}
                    (Some(existing), _) => coalesce(existing, v),
                    (None, _) => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, u) => *b = u.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_tokens_and_what_lies_under_them_are_secret() {
        assert!(is_secret(&KeyPath::dotted("bootstrap.token")));
        assert!(is_secret(&KeyPath::dotted("fastly_key")));
        assert!(is_secret(&KeyPath::dotted("fastly_key").index(0)));
        assert!(!is_secret(&KeyPath::dotted("bootstrap")));
        assert!(!is_secret(&KeyPath::dotted("existingSecret.name")));
        assert!(!is_secret(
            &KeyPath::dotted("services").index(0).key("token")
        ));
    }

    #[test]
    fn merges_like_helm_and_checks() {
        let v = with_defaults(
            &json!({"edgeStack": {"replicas": 5}, "podLabels": null, "existingSecret": {"name": "t"}}),
        );
        assert_eq!(v["edgeStack"]["replicas"], 5);
        assert_eq!(v["edgeStack"]["memoryFootprint"], "8Gi");
        assert!(v.get("podLabels").is_none());
        let codes: Vec<_> = check_values(&v)
            .unwrap()
            .iter()
            .map(|f| f.code.as_str())
            .collect();
        assert_eq!(codes, ["E0105"], "podLabels was deleted");
    }
}
