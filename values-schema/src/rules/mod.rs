//! Rules that a JSON schema cannot express: placeholders left from the
//! documentation, token sources, footprints against the documented
//! recommendation, storage classes per provider, services that collide, the
//! control-plane mode against the services, draining against the grace
//! period, limits against each other and the pod, network policy sources,
//! egress ranges and backends against them, and the `helm test` Host.
//!
//! Rules read the typed [`Values`]. A rule that reads a section in which the
//! schema already found an error is skipped, so that one mistake is not
//! reported twice under two codes.

mod control_plane;
mod draining;
mod egress;
mod footprint;
mod helm_test;
mod limits;
mod network_policy;
mod placeholders;
mod services;
mod settings;
mod storage;
mod tokens;

use crate::{Finding, Values};
use serde_json::Value;
use std::collections::BTreeSet;

/// Runs every rule. `values` is the merged values as JSON; `broken` holds
/// the top-level keys in which the schema check failed.
pub fn check_rules(values: &Value, broken: &BTreeSet<String>) -> Vec<Finding> {
    let mut findings = placeholders::check(values);
    let placeholder_paths: BTreeSet<String> = findings.iter().map(|f| f.path.to_string()).collect();
    // Deserialise with the broken sections left out: they fall back to their
    // defaults, and the rules reading them are skipped below.
    let mut usable = values.clone();
    if let Value::Object(map) = &mut usable {
        map.retain(|k, _| !broken.contains(k));
    }
    let Ok(typed) = serde_json::from_value::<Values>(usable) else {
        return findings;
    };
    let reads = |sections: &[&str]| sections.iter().all(|s| !broken.contains(*s));
    if reads(&["bootstrap", "fastly_key", "existingSecret", "controlPlane"]) {
        findings.extend(tokens::check(&typed, &placeholder_paths));
    }
    if reads(&["edgeStack"]) {
        findings.extend(footprint::check(&typed.edge_stack));
    }
    if reads(&["provider", "cached", "xqd"]) {
        findings.extend(storage::check(&typed, &placeholder_paths));
    }
    if reads(&["services"]) {
        findings.extend(services::check(&typed.services));
    }
    findings.extend(settings::check(&typed, &|s| reads(s)));
    findings.extend(limits::check(&typed, &|s| reads(s)));
    findings.extend(egress::check(&typed, &|s| reads(s)));
    findings.extend(control_plane::check(&typed, &|s| reads(s)));
    if reads(&[
        "drainDelaySeconds",
        "terminationGracePeriodSeconds",
        "limits",
    ]) {
        findings.extend(draining::check(&typed));
    }
    if reads(&["networkPolicy"]) {
        findings.extend(network_policy::check(&typed));
    }
    if reads(&["helmTest", "services", "controlPlane"]) {
        findings.extend(helm_test::check(&typed));
    }
    findings.sort_by(|a, b| (&a.path, a.code).cmp(&(&b.path, b.code)));
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The documented example with its placeholders filled in.
    pub(crate) fn documented(provider: &str, class: &str) -> Value {
        json!({
            "provider": provider,
            "edgeStack": {"cpuFootprint": 4, "memoryFootprint": "8Gi", "replicas": 3},
            "cached": {"volumeClaim": {"requests": {"storage": "32Gi"}, "storageClassName": class}},
            "xqd": {"volumeClaim": {"requests": {"storage": "32Gi"}, "storageClassName": class}},
            "existingSecret": {"name": "fastly-anywhere-tokens"},
        })
    }

    fn codes(v: &Value) -> Vec<(String, &'static str)> {
        check_rules(v, &BTreeSet::new())
            .into_iter()
            .map(|f| (f.path.to_string(), f.code.as_str()))
            .collect()
    }

    #[test]
    fn documented_values_pass() {
        assert_eq!(codes(&documented("gke", "premium-rwo")), vec![]);
        assert_eq!(
            codes(&documented("ack", "alicloud-disk-topology-alltype")),
            vec![]
        );
    }

    #[test]
    fn broken_sections_are_skipped() {
        let v = json!({"bootstrap": {"token": 5}});
        let broken = BTreeSet::from(["bootstrap".to_owned()]);
        let found: Vec<_> = check_rules(&v, &broken)
            .into_iter()
            .map(|f| f.code.as_str())
            .collect();
        assert!(!found.contains(&"E0302"), "{found:?}");
    }
}
