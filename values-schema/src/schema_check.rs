//! Checks values against the JSON schema and turns each violation into a
//! [`Finding`] with a code, the key path and a fix.

use crate::check::{REDACTED, is_secret};
use crate::quantity::{DURATION_PATTERN, QUANTITY_PATTERN};
use crate::schema::{expected_types, known_keys, values_schema};
use crate::{Code, Finding, KeyPath, Segment};
use jsonschema::error::ValidationErrorKind;
use jsonschema::{ValidationError, Validator};
use serde_json::Value;
use std::sync::OnceLock;

/// Why the schema itself could not be used (a bug in this crate).
#[derive(Debug, thiserror::Error)]
#[error("the generated values schema does not compile: {0}")]
pub struct SchemaError(String);

fn validator() -> Result<&'static Validator, SchemaError> {
    static VALIDATOR: OnceLock<Result<Validator, String>> = OnceLock::new();
    VALIDATOR
        .get_or_init(|| jsonschema::draft7::new(values_schema()).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| SchemaError(e.clone()))
}

/// Every schema violation in `values` (the merged values, as JSON).
pub fn check_schema(values: &Value) -> Result<Vec<Finding>, SchemaError> {
    let validator = validator()?;
    let mut errors = validator.iter_errors(values);
    let mut findings: Vec<Finding> = errors
        .by_ref()
        .take(MAX_SCHEMA_ERRORS)
        .flat_map(|e| to_findings(&e))
        .collect();
    findings.sort_by(|a, b| (&a.path, a.code).cmp(&(&b.path, b.code)));
    findings.dedup();
    let mut findings = collapse_alike(findings);
    if errors.next().is_some() {
        findings.push(
            Finding::new(
                Code::SchemaViolation,
                KeyPath::root(),
                format!("more than {MAX_SCHEMA_ERRORS} schema errors: the rest are not shown"),
            )
            .help("fix the ones above first"),
        );
    }
    Ok(findings)
}

/// Schema errors past this many are not turned into findings: the first
/// ones say what is wrong, and the 65,536 nulls of a list padded by `--set
/// list[65536]=x` would otherwise take seconds to describe.
const MAX_SCHEMA_ERRORS: usize = 1000;

/// More findings than this that differ only in the index of one list are
/// reported once.
const MAX_ALIKE: usize = 3;

/// The same finding for many items of one list (the same mistake in every
/// item, or the 65,536 nulls that `--set list[65536]=x` pads a list with,
/// as Helm pads it) is reported once, at the first item, with how many
/// items share it: one mistake, one finding.
fn collapse_alike(findings: Vec<Finding>) -> Vec<Finding> {
    use std::collections::HashMap;
    let mut groups: HashMap<(KeyPath, Code, String), Vec<usize>> = HashMap::new();
    for (i, f) in findings.iter().enumerate() {
        if let Some(Segment::Index(_)) = f.path.0.last() {
            let mut any_index = f.path.clone();
            any_index.0.pop();
            groups
                .entry((any_index, f.code, f.message.clone()))
                .or_default()
                .push(i);
        }
    }
    let mut dropped = vec![false; findings.len()];
    let mut alike = HashMap::new();
    for members in groups.into_values().filter(|m| m.len() > MAX_ALIKE) {
        members[1..].iter().for_each(|&i| dropped[i] = true);
        alike.insert(members[0], members.len() - 1);
    }
    findings
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !dropped[*i])
        .map(|(i, mut f)| {
            if let Some(more) = alike.get(&i) {
                f.message
                    .push_str(&format!(" (and {more} more items of this list alike)"));
            }
            f
        })
        .collect()
}

fn to_findings(error: &ValidationError<'_>) -> Vec<Finding> {
    let schema = values_schema();
    let path = KeyPath::from_json_pointer(error.instance_path().as_str());
    let instance = error.instance();
    // A token is never quoted back, whatever is wrong with it.
    let secret = is_secret(&path);
    let shown = if secret && !(instance.is_array() || instance.is_object()) {
        REDACTED.to_owned()
    } else {
        show(instance)
    };
    match error.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected } => unexpected
            .iter()
            .map(|key| {
                let known = known_keys(schema, &path);
                let finding = Finding::new(
                    Code::UnknownKey,
                    path.key(key.clone()),
                    format!("unknown key `{key}`"),
                )
                .at_key();
                match closest(key, &known) {
                    Some(s) => finding.help(format!("did you mean `{s}`?")),
                    None if known.is_empty() => {
                        finding.help("remove it: this map takes no keys of its own")
                    }
                    None => finding.help(format!("known keys here: {}", known.join(", "))),
                }
            })
            .collect(),
        ValidationErrorKind::Type { .. } => {
            let expected = expected_types(schema, &path);
            let wanted = describe_types(&expected);
            let found = json_type(instance);
            let help = if instance.is_number() && path == KeyPath::dotted("cached.capacity") {
                // "80" would be 80 bytes: the number was surely a percentage.
                Some(format!(
                    "write a percentage with its sign, quoted: \"{instance}%\" (or a quantity such as \"24Gi\")"
                ))
            } else {
                type_help(&expected, instance, secret)
            };
            let mut f = Finding::new(
                Code::WrongType,
                path,
                format!("expected {wanted}, found {found} {shown}"),
            );
            if let Some(h) = help {
                f = f.help(h);
            }
            vec![f]
        }
        ValidationErrorKind::Enum { options } => {
            let allowed: Vec<String> = options
                .as_array()
                .map(|a| a.iter().map(show).collect())
                .unwrap_or_default();
            let plain: Vec<String> = options
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            let f = Finding::new(
                Code::NotAllowed,
                path,
                format!("{shown} is not one of {}", allowed.join(", ")),
            );
            vec![match instance.as_str().and_then(|s| closest(s, &plain)) {
                Some(s) => f.help(format!("did you mean `{s}`?")),
                None => f.help(format!("use one of {}", allowed.join(", "))),
            }]
        }
        ValidationErrorKind::Minimum { limit } => vec![range(path, &shown, ">=", limit)],
        ValidationErrorKind::Maximum { limit } => vec![range(path, &shown, "<=", limit)],
        ValidationErrorKind::ExclusiveMinimum { limit } => vec![range(path, &shown, ">", limit)],
        ValidationErrorKind::ExclusiveMaximum { limit } => vec![range(path, &shown, "<", limit)],
        ValidationErrorKind::MinLength { limit } | ValidationErrorKind::MinItems { limit } => {
            let what = if instance.is_array() {
                "items"
            } else {
                "characters"
            };
            vec![
                Finding::new(
                    Code::OutOfRange,
                    path,
                    format!("needs at least {limit} {what}"),
                )
                .help(if *limit == 1 && instance.is_array() {
                    "add at least one entry".to_owned()
                } else if *limit == 1 {
                    "give a non-empty value, or remove the key to use the default".to_owned()
                } else {
                    format!("give at least {limit} {what}")
                }),
            ]
        }
        ValidationErrorKind::MaxLength { limit } | ValidationErrorKind::MaxItems { limit } => {
            let what = if instance.is_array() {
                "items"
            } else {
                "characters"
            };
            vec![Finding::new(
                Code::OutOfRange,
                path,
                format!("has more than {limit} {what}"),
            )]
        }
        ValidationErrorKind::Pattern { pattern } if pattern == QUANTITY_PATTERN => {
            vec![
                Finding::new(
                    Code::BadQuantity,
                    path,
                    format!("{shown} is not a Kubernetes quantity"),
                )
                .help(quantity_help(instance.as_str().unwrap_or_default())),
            ]
        }
        ValidationErrorKind::Pattern { pattern } if pattern == DURATION_PATTERN => {
            vec![
                Finding::new(Code::BadFormat, path, format!("{shown} is not a duration"))
                    .help("write a number with a unit: ms, s, m or h (for example 50ms, 2m)"),
            ]
        }
        ValidationErrorKind::Pattern { pattern } => vec![
            Finding::new(
                Code::BadFormat,
                path.clone(),
                format!("{shown} does not match {}", pattern_name(&path, pattern)),
            )
            .help(pattern_help(&path)),
        ],
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default().to_owned();
            vec![
                Finding::new(
                    Code::MissingKey,
                    path,
                    format!("missing required key `{name}`"),
                )
                .help(format!(
                    "add `{name}:` here (a `null` in values deletes the chart's default)"
                )),
            ]
        }
        _ if secret => vec![Finding::new(
            Code::SchemaViolation,
            path,
            "the value does not pass the schema",
        )],
        _ => vec![Finding::new(Code::SchemaViolation, path, error.to_string())],
    }
}

fn range(path: KeyPath, shown: &str, op: &str, limit: &Value) -> Finding {
    Finding::new(
        Code::OutOfRange,
        path,
        format!("{shown} is out of range: must be {op} {limit}"),
    )
}

/// The suggestion for a misspelt name: same letters in another case, or a
/// name within a small edit distance.
pub fn closest(word: &str, candidates: &[String]) -> Option<String> {
    let lower = word.to_lowercase();
    if let Some(c) = candidates.iter().find(|c| c.to_lowercase() == lower) {
        return Some(c.clone());
    }
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(&lower, &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.clone())
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("`{s}`"),
        Value::Object(_) => "(a map)".into(),
        Value::Array(_) => "(a list)".into(),
        other => format!("`{other}`"),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "map",
    }
}

fn describe_types(types: &[String]) -> String {
    let names: Vec<&str> = types
        .iter()
        .filter(|t| *t != "null")
        .map(|t| match t.as_str() {
            "object" => "a map",
            "array" => "a list",
            "string" => "a string",
            "integer" => "an integer",
            "number" => "a number",
            "boolean" => "a boolean",
            other => other,
        })
        .collect();
    let mut text = match names.as_slice() {
        [] => "another type".to_owned(),
        [one] => (*one).to_owned(),
        many => many.join(" or "),
    };
    if types.iter().any(|t| t == "null") {
        text.push_str(" (or empty)");
    }
    text
}

/// How to fix a value of the wrong type; `secret`: without quoting it.
fn type_help(expected: &[String], found: &Value, secret: bool) -> Option<String> {
    let wants = |t: &str| expected.iter().any(|e| e == t);
    match found {
        Value::String(s) if (wants("integer") || wants("number")) && secret => {
            Some(if s.trim().parse::<f64>().is_ok() {
                "remove the quotes".into()
            } else {
                "write a number".into()
            })
        }
        Value::Number(_) | Value::Bool(_) if wants("string") && secret => Some("quote it".into()),
        Value::String(s) if wants("integer") || wants("number") => {
            if s.trim().parse::<f64>().is_ok() {
                Some(format!("remove the quotes: {}", s.trim()))
            } else {
                Some("write a number".into())
            }
        }
        Value::Number(n) if wants("string") => Some(format!("quote it: \"{n}\"")),
        Value::Bool(b) if wants("string") => Some(format!("quote it: \"{b}\"")),
        Value::Number(n) if wants("integer") => Some(format!(
            "write a whole number, such as {}",
            n.as_f64().unwrap_or_default().round()
        )),
        Value::String(_) | Value::Number(_) | Value::Bool(_) if wants("object") => {
            Some("this key takes a map of keys below it".into())
        }
        Value::Object(_) if wants("array") => {
            Some("this key takes a list: start each entry with `- `".into())
        }
        Value::Null if wants("object") || wants("array") => {
            Some("remove the key to use the default, or give a value".into())
        }
        _ => None,
    }
}

/// How to fix a quantity that does not parse (`32GB`: use 32Gi).
pub(crate) fn quantity_help(text: &str) -> String {
    let upper = text.trim().to_ascii_uppercase();
    for (written, right) in [("GB", "Gi"), ("MB", "Mi"), ("KB", "Ki"), ("TB", "Ti")] {
        if let Some(n) = upper.strip_suffix(written) {
            return format!(
                "Kubernetes writes binary units as {right}: use {}{right}",
                n.trim()
            );
        }
    }
    if let Some(n) = text.strip_suffix("gi").or_else(|| text.strip_suffix("GI")) {
        return format!("units are case-sensitive: use {n}Gi");
    }
    if let Some(n) = text.strip_suffix("mi").or_else(|| text.strip_suffix("MI")) {
        return format!("units are case-sensitive: use {n}Mi");
    }
    "write a number with an optional unit such as 8Gi, 512Mi or 32G".into()
}

fn pattern_name(path: &KeyPath, pattern: &str) -> String {
    match path.last_key() {
        Some("sha256") => "a SHA-256 digest (64 lowercase hex digits)".into(),
        Some("digest") => "an image digest (sha256:<64 hex digits>)".into(),
        Some("name") => "a DNS label (lowercase letters, digits and '-')".into(),
        _ => format!("the pattern {pattern}"),
    }
}

fn pattern_help(path: &KeyPath) -> String {
    match path.last_key() {
        Some("sha256") => "compute it with `sha256sum package.tar.gz`".into(),
        Some("digest") => "copy the digest from the registry, including `sha256:`".into(),
        Some("name") => "use lowercase letters, digits and '-', at most 63".into(),
        _ => "see the key's description in values.yaml".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantity::parse_quantity;
    use serde_json::json;

    /// The chart's defaults with `patch` merged in, as Helm merges them.
    fn with_defaults(patch: Value) -> Value {
        fn merge(base: &mut Value, patch: Value) {
            match (base, patch) {
                (Value::Object(b), Value::Object(p)) => {
                    for (k, v) in p {
                        merge(b.entry(k).or_insert(Value::Null), v);
                    }
                }
                (b, p) => *b = p,
            }
        }
        let mut values = serde_json::to_value(crate::Values::default()).unwrap();
        merge(&mut values, patch);
        values
    }

    fn codes(v: Value) -> Vec<(String, &'static str)> {
        check_schema(&with_defaults(v))
            .unwrap()
            .into_iter()
            .map(|f| (f.path.to_string(), f.code.as_str()))
            .collect()
    }

    #[test]
    fn defaults_are_valid() {
        let defaults = serde_json::to_value(crate::Values::default()).unwrap();
        assert_eq!(check_schema(&defaults).unwrap(), vec![]);
    }

    #[test]
    fn unknown_keys_suggest_the_right_one() {
        let f = check_schema(&with_defaults(json!({"edgestack": {"replicas": 3}}))).unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].path.to_string(), "edgestack");
        assert_eq!(f[0].help.as_deref(), Some("did you mean `edgeStack`?"));
        let g = check_schema(&with_defaults(json!({"edgeStack": {"replicsa": 3}}))).unwrap();
        assert_eq!(g[0].help.as_deref(), Some("did you mean `replicas`?"));
    }

    #[test]
    fn reports_every_problem() {
        let found = codes(json!({
            "edgeStack": {"replicas": "three", "memoryFootprint": "8GB"},
            "provider": "gcp",
            "cached": {"volumeClaim": {"requests": {"storage": 32}}},
        }));
        assert_eq!(
            found,
            vec![
                ("cached.volumeClaim.requests.storage".into(), "E0101"),
                ("edgeStack.memoryFootprint".into(), "E0106"),
                ("edgeStack.replicas".into(), "E0101"),
                ("provider".into(), "E0102"),
            ]
        );
    }

    #[test]
    fn a_bare_number_as_cache_capacity_is_read_as_a_percentage() {
        let f = check_schema(&with_defaults(json!({"cached": {"capacity": 80}}))).unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].code, Code::WrongType);
        assert_eq!(
            f[0].help.as_deref(),
            Some(
                "write a percentage with its sign, quoted: \"80%\" (or a quantity such as \"24Gi\")"
            )
        );
    }

    #[test]
    fn a_deleted_section_is_missing() {
        let mut values = with_defaults(json!({}));
        values.as_object_mut().unwrap().remove("edgeStack");
        let found = check_schema(&values).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].code, Code::MissingKey);
        assert!(found[0].message.contains("edgeStack"));
    }

    #[test]
    fn a_list_padded_by_set_is_two_findings_not_65536() {
        // What `--set services[2].backends[65536].url=x` writes, as Helm
        // writes it: found by plugin/tests/fuzz_set_flags.rs (65,537
        // findings took seconds to report).
        let mut backends = vec![Value::Null; 65536];
        backends.push(json!({"url": "x"}));
        let f = check_schema(&with_defaults(json!({"services": [
            {"name": "a", "domains": ["a.example"], "package": {"oci": "r/a:1"}, "backends": backends}
        ]})))
        .unwrap();
        let nulls: Vec<_> = f
            .iter()
            .filter(|f| f.message.contains("found null"))
            .collect();
        assert_eq!(nulls.len(), 1, "{f:?}");
        assert_eq!(nulls[0].path.to_string(), "services[0].backends[0]");
        assert!(
            nulls[0]
                .message
                .ends_with("(and 999 more items of this list alike)"),
            "{}",
            nulls[0].message
        );
        assert_eq!(f.len(), 2, "{f:?}");
        assert_eq!(
            f[1].message,
            "more than 1000 schema errors: the rest are not shown"
        );
        let few = check_schema(&with_defaults(json!({"imagePullSecrets": [null, null]}))).unwrap();
        assert_eq!(few.len(), 2, "a few are each reported: {few:?}");
    }

    #[test]
    fn a_token_of_the_wrong_type_is_not_quoted() {
        let f = check_schema(&with_defaults(
            json!({"bootstrap": {"token": 918273645}, "fastly_key": true}),
        ))
        .unwrap();
        assert_eq!(f.len(), 2);
        for finding in &f {
            let text = format!("{} {:?}", finding.message, finding.help);
            assert!(
                !text.contains("918273645") && !text.contains("true"),
                "{text}"
            );
            assert!(finding.message.ends_with(REDACTED), "{text}");
            assert_eq!(finding.help.as_deref(), Some("quote it"));
        }
    }

    #[test]
    fn schema_pattern_and_parser_agree_on_quantities() {
        for q in [
            "8Gi", "500m", "1e3", "1.5G", ".5", "+4", "8GB", "Gi", "8gi", "1e", ".", "1.2.3",
            "8 Gi",
        ] {
            let by_schema = codes(json!({"edgeStack": {"memoryFootprint": q}})).is_empty();
            assert_eq!(by_schema, parse_quantity(q).is_ok(), "{q}");
        }
    }
}
