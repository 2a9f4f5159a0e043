//! The NetworkPolicy: HTTP from anywhere, cluster forwarding between POP
//! pods only, and the three admin ports only from this release's `helm test`
//! pod and the sources values name.

use super::render_objects;
use e2e::{helms, object};
use serde_json::{Value, json};

fn rule_for<'a>(policy: &'a Value, port: &str) -> &'a Value {
    policy["spec"]["ingress"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["ports"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["port"] == port)
        })
        .unwrap_or_else(|| panic!("no rule admits port {port}"))
}

fn ports(rule: &Value) -> Vec<&str> {
    rule["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["port"].as_str().unwrap())
        .collect()
}

#[test]
fn admin_ports_are_admitted_only_from_the_test_pod_by_default() {
    for (label, helm) in helms() {
        let objects = render_objects(&helm, "gke", "premium-rwo", &[]);
        let policy = object(&objects, "NetworkPolicy", "fastly-anywhere");
        assert_eq!(
            policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"], "pop",
            "{label}: the policy covers the POP pods"
        );
        let http = rule_for(policy, "http");
        assert_eq!(ports(http), ["http"]);
        assert!(http.get("from").is_none(), "{label}: HTTP from anywhere");
        let cluster = rule_for(policy, "cluster");
        assert_eq!(ports(cluster), ["cluster"]);
        assert_eq!(
            cluster["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"],
            "pop"
        );
        let admin = rule_for(policy, "admin");
        assert_eq!(
            ports(admin),
            ["admin", "loader-admin", "agent-admin"],
            "{label}"
        );
        assert_eq!(
            admin["from"],
            json!([{"podSelector": {"matchLabels": {
                "app.kubernetes.io/name": "fastly-anywhere",
                "app.kubernetes.io/instance": "fastly-anywhere",
                "app.kubernetes.io/component": "test",
            }}}]),
            "{label}"
        );
        // The test pod carries exactly those labels.
        let test_pod = objects
            .iter()
            .find(|o| o["kind"] == "Pod")
            .expect("the helm test pod");
        for (k, v) in admin["from"][0]["podSelector"]["matchLabels"]
            .as_object()
            .unwrap()
        {
            assert_eq!(&test_pod["metadata"]["labels"][k], v, "{label}: {k}");
        }
        // Every admin port the policy names is a port of a POP container.
        let sts = object(&objects, "StatefulSet", "fastly-anywhere");
        let declared: Vec<&str> = sts["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["ports"].as_array().unwrap())
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        for port in ports(admin) {
            assert!(declared.contains(&port), "{label}: {port}");
        }
    }
}

#[test]
fn metrics_from_adds_sources_for_the_admin_ports_only() {
    let (_, helm) = &helms()[1];
    let objects = render_objects(
        helm,
        "gke",
        "premium-rwo",
        &[
            "--set",
            "networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.team=monitoring,networkPolicy.metricsFrom[1].ipBlock.cidr=10.8.0.0/16",
        ],
    );
    let policy = object(&objects, "NetworkPolicy", "fastly-anywhere");
    let admin = rule_for(policy, "admin");
    let from = admin["from"].as_array().unwrap();
    assert_eq!(from.len(), 3);
    assert_eq!(
        from[1],
        json!({"namespaceSelector": {"matchLabels": {"team": "monitoring"}}})
    );
    assert_eq!(from[2], json!({"ipBlock": {"cidr": "10.8.0.0/16"}}));
    assert!(rule_for(policy, "http").get("from").is_none());
    assert_eq!(
        rule_for(policy, "cluster")["from"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn the_test_pod_admits_no_ingress() {
    for (label, helm) in helms() {
        let objects = render_objects(&helm, "gke", "premium-rwo", &[]);
        let policy = object(&objects, "NetworkPolicy", "fastly-anywhere-test");
        assert_eq!(
            policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"], "test",
            "{label}"
        );
        assert_eq!(policy["spec"]["policyTypes"], json!(["Ingress"]));
        assert_eq!(policy["spec"]["ingress"], json!([]), "{label}");
    }
}
