//! Monitoring objects: the Prometheus Operator ServiceMonitor (only where
//! the cluster serves its API, else a line in NOTES.txt), the Service it
//! selects, and the Grafana dashboard ConfigMap. The ServiceMonitor is not
//! checked against a schema: /work/shared/crds holds no Prometheus Operator
//! CRD, so its fields are checked here one by one.

use super::{documented, render_ok};
use e2e::{chart, documents, helms, isolated_helm, object, render, run, text, tool};
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Command;

const API: &str = "monitoring.coreos.com/v1/ServiceMonitor";

/// The documented values with `extra` YAML appended (top-level keys).
fn values_with(extra: &str) -> String {
    format!("{}{extra}", documented("gke", "premium-rwo"))
}

fn render_values(helm: &std::path::Path, values: &str, extra: &[&str]) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    documents(&render_ok(helm, dir.path(), values, extra))
}

fn kinds(objects: &[Value], kind: &str) -> Vec<Value> {
    objects
        .iter()
        .filter(|o| o["kind"] == kind)
        .cloned()
        .collect()
}

fn labels(o: &Value) -> BTreeMap<String, String> {
    o["metadata"]["labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect()
}

/// `selector` (matchLabels) selects an object with `labels`.
fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

const MONITOR_ON: &str = "observability:
  metrics:
    port: 9190
    serviceMonitor:
      enabled: true
      interval: 15s
      labels:
        release: kube-prometheus-stack
        app.kubernetes.io/part-of: platform
";

#[test]
fn no_service_monitor_by_default() {
    for (label, helm) in helms() {
        // Even where the API is served: the ServiceMonitor is opt-in.
        let objects = render_values(
            &helm,
            &documented("gke", "premium-rwo"),
            &["--api-versions", API],
        );
        assert!(kinds(&objects, "ServiceMonitor").is_empty(), "{label}");
        assert!(
            !objects
                .iter()
                .any(|o| o["metadata"]["name"] == "fastly-anywhere-metrics"),
            "{label}: no metrics Service without the ServiceMonitor"
        );
    }
}

#[test]
fn no_service_monitor_without_the_operator_api_and_notes_say_so() {
    for (label, helm) in helms() {
        let objects = render_values(&helm, &values_with(MONITOR_ON), &[]);
        assert!(kinds(&objects, "ServiceMonitor").is_empty(), "{label}");
        assert!(
            !objects
                .iter()
                .any(|o| o["metadata"]["name"] == "fastly-anywhere-metrics"),
            "{label}"
        );
        // Metrics off: nothing to scrape, even with the API.
        let off = render_values(
            &helm,
            &values_with(MONITOR_ON),
            &[
                "--api-versions",
                API,
                "--set",
                "observability.metrics.enabled=false",
            ],
        );
        assert!(kinds(&off, "ServiceMonitor").is_empty(), "{label}");
    }
    // NOTES.txt: Helm 4's client-side dry run prints it without a cluster
    // (Helm 3.17's still asks the cluster for its version).
    let (_, helm4) = &helms()[1];
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("values.yaml");
    std::fs::write(&file, values_with(MONITOR_ON)).unwrap();
    let out = run(isolated_helm(helm4, home.path())
        .args(["install", "fastly-anywhere"])
        .arg(chart())
        .args(["--namespace", "fastly-anywhere", "--dry-run=client", "-f"])
        .arg(&file));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("ServiceMonitor: not rendered, because the cluster does not serve monitoring.coreos.com/v1 ServiceMonitor"),
        "{stdout}"
    );
}

#[test]
fn service_monitor_scrapes_the_three_admin_ports_through_a_service_that_has_them() {
    for (label, helm) in helms() {
        let objects = render_values(&helm, &values_with(MONITOR_ON), &["--api-versions", API]);
        let monitors = kinds(&objects, "ServiceMonitor");
        assert_eq!(monitors.len(), 1, "{label}");
        let monitor = &monitors[0];
        assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
        assert_eq!(monitor["metadata"]["name"], "fastly-anywhere");
        assert_eq!(monitor["metadata"]["namespace"], "fastly-anywhere");
        // Labels from values merged over the chart's: theirs win.
        let l = labels(monitor);
        assert_eq!(l["release"], "kube-prometheus-stack", "{label}");
        assert_eq!(l["app.kubernetes.io/part-of"], "platform", "{label}");
        assert_eq!(l["app.kubernetes.io/name"], "fastly-anywhere");
        assert_eq!(l["app.kubernetes.io/instance"], "fastly-anywhere");
        assert_eq!(l["app.kubernetes.io/managed-by"], "Helm");
        let endpoints = monitor["spec"]["endpoints"].as_array().unwrap();
        let ports: Vec<&str> = endpoints
            .iter()
            .map(|e| e["port"].as_str().unwrap())
            .collect();
        assert_eq!(ports, ["admin", "loader-admin", "agent-admin"], "{label}");
        for e in endpoints {
            assert_eq!(e["path"], "/metrics");
            assert_eq!(e["interval"], "15s");
        }

        // The selector picks exactly one Service of the release, in the
        // ServiceMonitor's namespace, and it has every port by name.
        let selector = string_map(&monitor["spec"]["selector"]["matchLabels"]);
        let services: Vec<&Value> = objects
            .iter()
            .filter(|o| o["kind"] == "Service" && selects(&selector, &labels(o)))
            .collect();
        assert_eq!(services.len(), 1, "{label}: {services:?}");
        let service = services[0];
        assert_eq!(service["metadata"]["namespace"], "fastly-anywhere");
        let service_ports = service["spec"]["ports"].as_array().unwrap();
        // Each Service port reaches the container port of that name, which
        // has the number the container listens on.
        let sts = object(&objects, "StatefulSet", "fastly-anywhere");
        let pod = &sts["spec"]["template"];
        let container_ports: BTreeMap<String, u64> = pod["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["ports"].as_array().unwrap().iter())
            .map(|p| {
                (
                    p["name"].as_str().unwrap().to_owned(),
                    p["containerPort"].as_u64().unwrap(),
                )
            })
            .collect();
        for (name, number) in [
            ("admin", 9190),
            ("loader-admin", 9091),
            ("agent-admin", 9092),
        ] {
            let p = service_ports
                .iter()
                .find(|p| p["name"] == name)
                .unwrap_or_else(|| panic!("{label}: the Service has no port {name}"));
            assert_eq!(p["targetPort"], name);
            assert_eq!(p["port"], number, "{label} {name}");
            assert_eq!(container_ports[name], number, "{label} {name}");
        }
        // The Service selects the POP pods (not the helm test pod).
        let service_selector = string_map(&service["spec"]["selector"]);
        assert!(selects(&service_selector, &labels(pod)), "{label}");
        assert_eq!(service_selector["app.kubernetes.io/component"], "pop");
        assert_eq!(service["spec"]["clusterIP"], "None");
        // The peers Service, which cluster forwarding resolves, is unchanged.
        let peers = object(&objects, "Service", "fastly-anywhere-peers");
        let peer_ports: Vec<&str> = peers["spec"]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(peer_ports, ["cluster", "admin"]);
    }
}

#[test]
fn an_interval_the_operator_refuses_fails_with_the_fix() {
    for (label, helm) in helms() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("values.yaml");
        std::fs::write(&file, values_with(&MONITOR_ON.replace("15s", "1.5s"))).unwrap();
        let out = render(
            &helm,
            dir.path(),
            "fastly-anywhere",
            &["-f", file.to_str().unwrap(), "--api-versions", API],
        );
        let (_, stderr) = text(&out);
        assert!(!out.status.success(), "{label}");
        assert!(
            stderr.contains("observability.metrics.serviceMonitor.interval \"1.5s\"")
                && stderr.contains("such as 30s"),
            "{label}: {stderr}"
        );
    }
}

#[test]
fn kubernetes_validate_accepts_the_monitoring_objects() {
    let validate = tool("venv/bin/kubernetes-validate");
    let (_, helm) = &helms()[0];
    let dir = tempfile::tempdir().unwrap();
    let values = values_with(&format!("{MONITOR_ON}  dashboard:\n    enabled: true\n"));
    let manifests = render_ok(helm, dir.path(), &values, &["--api-versions", API]);
    assert_eq!(kinds(&documents(&manifests), "ServiceMonitor").len(), 1);
    // kubernetes-validate knows only built-in kinds, and no ServiceMonitor
    // CRD is at hand: every object but the ServiceMonitor, as Helm wrote it.
    let builtin: Vec<&str> = manifests
        .split("\n---")
        .filter(|doc| {
            serde_yaml::from_str::<Value>(doc).is_ok_and(|o| {
                let api = o["apiVersion"].as_str().unwrap_or_default();
                !api.is_empty()
                    && !api.contains("cert-manager")
                    && !api.starts_with("monitoring.coreos.com")
            })
        })
        .collect();
    assert!(
        builtin
            .iter()
            .any(|o| o.contains("fastly-anywhere-metrics"))
    );
    assert!(
        builtin
            .iter()
            .any(|o| o.contains("fastly-anywhere-dashboard"))
    );
    let file = dir.path().join("manifests.yaml");
    std::fs::write(&file, builtin.join("\n---")).unwrap();
    for version in ["1.30.0", "1.37.0"] {
        let out = run(Command::new(&validate)
            .args(["--strict", "--quiet", "-k", version])
            .arg(&file));
        let (stdout, stderr) = text(&out);
        assert!(
            out.status.success(),
            "kubernetes-validate {version}: {stdout}{stderr}"
        );
    }
}

/// Every panel, rows' nested panels included.
fn all_panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in dashboard["panels"].as_array().unwrap() {
        out.push(p);
        if let Some(nested) = p["panels"].as_array() {
            out.extend(nested.iter());
        }
    }
    out
}

#[test]
fn dashboard_configmap_is_opt_in_and_carries_a_dashboard_of_queries() {
    for (label, helm) in helms() {
        let objects = render_values(&helm, &documented("gke", "premium-rwo"), &[]);
        assert!(
            !objects
                .iter()
                .any(|o| o["metadata"]["name"] == "fastly-anywhere-dashboard"),
            "{label}: no dashboard by default"
        );

        let objects = render_values(
            &helm,
            &values_with("observability:\n  dashboard:\n    enabled: true\n"),
            &[],
        );
        let map = object(&objects, "ConfigMap", "fastly-anywhere-dashboard");
        let l = labels(map);
        assert_eq!(l["grafana_dashboard"], "1", "{label}: the sidecar's label");
        assert_eq!(l["app.kubernetes.io/name"], "fastly-anywhere");
        let text = map["data"]["fastly-anywhere.json"].as_str().unwrap();
        let dashboard: Value = serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("{label}: the dashboard is not JSON: {e}"));
        let file: Value = serde_json::from_str(
            &std::fs::read_to_string(chart().join("dashboards/fastly-anywhere.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            dashboard, file,
            "{label}: the ConfigMap carries the chart's file"
        );
        assert!(dashboard["schemaVersion"].as_u64().unwrap() >= 36);

        let variables = dashboard["templating"]["list"].as_array().unwrap();
        let variable = |name: &str| {
            variables
                .iter()
                .find(|v| v["name"] == name)
                .unwrap_or_else(|| panic!("no variable {name}"))
        };
        assert_eq!(variable("datasource")["type"], "datasource");
        assert_eq!(variable("datasource")["query"], "prometheus");
        assert_eq!(variable("pod")["type"], "query");

        let mut queries = 0;
        for panel in all_panels(&dashboard) {
            if panel["type"] == "row" {
                continue;
            }
            let title = panel["title"].as_str().unwrap();
            let targets = panel["targets"]
                .as_array()
                .unwrap_or_else(|| panic!("{title}: no targets"));
            assert!(!targets.is_empty(), "{title}: no targets");
            assert_eq!(panel["datasource"]["uid"], "${datasource}", "{title}");
            for t in targets {
                let expr = t["expr"].as_str().unwrap_or_default();
                assert!(!expr.trim().is_empty(), "{title}: a target without expr");
                assert!(expr.contains("anywhere_"), "{title}: {expr}");
                assert!(
                    expr.contains("pod=~\"$pod\""),
                    "{title}: not filtered by pod: {expr}"
                );
                for per_request in ["url", "path", "uri"] {
                    assert!(!expr.contains(per_request), "{title}: {expr}");
                }
                queries += 1;
            }
        }
        assert!(queries >= 15, "{label}: {queries} queries");

        // Labels from values replace the default.
        let objects = render_values(
            &helm,
            &values_with(
                "observability:\n  dashboard:\n    enabled: true\n    labels: {grafana_dashboard: \"pop\", team: edge}\n",
            ),
            &[],
        );
        let l = labels(object(&objects, "ConfigMap", "fastly-anywhere-dashboard"));
        assert_eq!(
            (l["grafana_dashboard"].as_str(), l["team"].as_str()),
            ("pop", "edge"),
            "{label}"
        );
    }
}
