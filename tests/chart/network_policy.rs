//! The NetworkPolicy: HTTP from anywhere, cluster forwarding between POP
//! pods only, and the three admin ports only from this release's `helm test`
//! pod and the sources values name; with `egress.networkPolicy`, egress
//! rules that match the edge's own policy.

use super::{documented, render_objects};
use e2e::{helms, object, render, text};
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

#[test]
fn egress_stays_open_by_default() {
    for (label, helm) in helms() {
        let objects = render_objects(&helm, "gke", "premium-rwo", &[]);
        let policy = object(&objects, "NetworkPolicy", "fastly-anywhere");
        assert_eq!(policy["spec"]["policyTypes"], json!(["Ingress"]), "{label}");
        assert!(policy["spec"].get("egress").is_none(), "{label}");
    }
}

/// The egress rules that name no ports: the allowed ranges, then
/// everything else.
fn open_rules(policy: &Value) -> Vec<&Value> {
    policy["spec"]["egress"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r.get("ports").is_none())
        .collect()
}

fn rule_with_port(policy: &Value, port: Value) -> &Value {
    policy["spec"]["egress"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["ports"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["port"] == port))
        })
        .unwrap_or_else(|| panic!("no egress rule for port {port}"))
}

#[test]
fn the_egress_policy_refuses_what_the_edge_refuses() {
    for (label, helm) in helms() {
        let objects = render_objects(
            &helm,
            "gke",
            "premium-rwo",
            &["--set", "egress.networkPolicy=true"],
        );
        let policy = object(&objects, "NetworkPolicy", "fastly-anywhere");
        assert_eq!(
            policy["spec"]["policyTypes"],
            json!(["Ingress", "Egress"]),
            "{label}"
        );
        // DNS, wherever the resolver runs (NodeLocal DNSCache is link-local).
        let dns = rule_with_port(policy, json!(53));
        assert!(dns.get("to").is_none(), "{label}");
        assert_eq!(
            dns["ports"],
            json!([{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}])
        );
        // The API server for the agent: 443 and 6443, never link-local.
        let api = rule_with_port(policy, json!(6443));
        assert_eq!(
            api["ports"],
            json!([{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}])
        );
        assert_eq!(
            api["to"],
            json!([
                {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.0.0/16"]}},
                {"ipBlock": {"cidr": "::/0", "except": ["fe80::/10"]}},
            ]),
            "{label}"
        );
        // Cluster forwarding to the other POP pods only.
        let cluster = rule_with_port(policy, json!("cluster"));
        assert_eq!(
            cluster["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"],
            "pop"
        );
        // Everything else: outside the denied ranges, link-local and the
        // metadata servers, one block per family.
        let open = open_rules(policy);
        assert_eq!(open.len(), 1, "{label}: no allowed ranges by default");
        assert_eq!(
            open[0]["to"],
            json!([
                {"ipBlock": {"cidr": "0.0.0.0/0", "except": [
                    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
                    "169.254.0.0/16",
                ]}},
                {"ipBlock": {"cidr": "::/0", "except": ["fc00::/7", "fe80::/10"]}},
            ]),
            "{label}"
        );
    }
}

#[test]
fn allowed_ranges_open_every_port_and_removed_ranges_keep_the_metadata_servers_out() {
    for (label, helm) in helms() {
        let objects = render_objects(
            &helm,
            "ack",
            "alicloud-disk-topology-alltype",
            &[
                "--set",
                "egress.networkPolicy=true,egress.deniedCidrs={172.16.0.0/12,fd00:10::/64},egress.allowedCidrs={172.16.5.0/24,2001:db8::/32}",
            ],
        );
        let policy = object(&objects, "NetworkPolicy", "fastly-anywhere");
        let open = open_rules(policy);
        assert_eq!(open.len(), 2, "{label}");
        assert_eq!(
            open[0]["to"],
            json!([
                {"ipBlock": {"cidr": "172.16.5.0/24"}},
                {"ipBlock": {"cidr": "2001:db8::/32"}},
            ]),
            "{label}"
        );
        // 100.64.0.0/10 is no longer denied: Alibaba Cloud's metadata server
        // (100.100.100.200) still is, and GKE's IPv6 one outside fc00::/7.
        assert_eq!(
            open[1]["to"],
            json!([
                {"ipBlock": {"cidr": "0.0.0.0/0", "except": [
                    "172.16.0.0/12", "169.254.0.0/16", "100.100.100.200/32",
                ]}},
                {"ipBlock": {"cidr": "::/0", "except": [
                    "fd00:10::/64", "fe80::/10", "fd20:ce::254/128",
                ]}},
            ]),
            "{label}"
        );
        // Kubernetes wants each `except` inside its `cidr`.
        for block in open[1]["to"].as_array().unwrap() {
            let v6 = block["ipBlock"]["cidr"] == "::/0";
            for except in block["ipBlock"]["except"].as_array().unwrap() {
                assert_eq!(except.as_str().unwrap().contains(':'), v6, "{except}");
            }
        }
    }
}

#[test]
fn a_denied_family_gets_no_catch_all_block() {
    let (label, helm) = &helms()[1];
    let objects = render_objects(
        helm,
        "gke",
        "premium-rwo",
        &[
            "--set",
            "egress.networkPolicy=true,egress.deniedCidrs={::/0,10.0.0.0/8}",
        ],
    );
    let policy = object(&objects, "NetworkPolicy", "fastly-anywhere");
    let open = open_rules(policy);
    assert_eq!(
        open[0]["to"],
        json!([{"ipBlock": {"cidr": "0.0.0.0/0", "except": [
            "10.0.0.0/8", "169.254.0.0/16", "100.100.100.200/32",
        ]}}]),
        "{label}"
    );
}

#[test]
fn egress_rules_without_the_network_policy_fail_with_the_fix() {
    for (label, helm) in helms() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("values.yaml");
        std::fs::write(
            &file,
            format!(
                "{}egress: {{networkPolicy: true}}\nnetworkPolicy: {{enabled: false}}\n",
                documented("gke", "premium-rwo")
            ),
        )
        .unwrap();
        let out = render(
            &helm,
            dir.path(),
            "fastly-anywhere",
            &["-f", file.to_str().unwrap()],
        );
        let (_, stderr) = text(&out);
        assert!(!out.status.success(), "{label}");
        assert!(
            stderr.contains(
                "egress.networkPolicy: the egress rules go into the chart's NetworkPolicy"
            ) && stderr.contains("set networkPolicy.enabled: true"),
            "{label}: {stderr}"
        );
    }
}
