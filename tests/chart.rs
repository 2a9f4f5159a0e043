//! The chart rendered by real Helm 3.17 and 4.1 from the documented example
//! values: the objects the product documentation promises, valid for the
//! Kubernetes API (kubernetes-validate --strict) and cert-manager's CRDs,
//! clean under checkov, and byte-identical across renders. The modules in
//! tests/chart/ check the containers' arguments, the control-plane modes,
//! the NetworkPolicy (ingress and the egress option), the `helm test`
//! pod, and the monitoring objects (ServiceMonitor, dashboard ConfigMap).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use e2e::{documents, helms, object, render, repo, run, text, tool};
use helm_anywhere::gitops::crds::CrdSchemas;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

#[path = "chart/contract.rs"]
mod contract;
#[path = "chart/helm_test_pod.rs"]
mod helm_test_pod;
#[path = "chart/modes.rs"]
mod modes;
#[path = "chart/network_policy.rs"]
mod network_policy;
#[path = "chart/observability.rs"]
mod observability;

/// The documented example (placeholders filled in) for a provider.
fn documented(provider: &str, class: &str) -> String {
    format!(
        "provider: {provider}
edgeStack:
  cpuFootprint: 4
  memoryFootprint: 8Gi
  replicas: 3
cached:
  volumeClaim:
    requests:
      storage: 32Gi
    storageClassName: {class}
xqd:
  volumeClaim:
    requests:
      storage: 32Gi
    storageClassName: {class}
bootstrap:
  token: bootstrap-token-for-tests
fastly_key: automation-token-for-tests
"
    )
}

const PROVIDERS: [(&str, &str); 2] = [
    ("gke", "premium-rwo"),
    ("ack", "alicloud-disk-topology-alltype"),
];

fn render_ok(helm: &Path, dir: &Path, values: &str, extra: &[&str]) -> String {
    let file = dir.join("values.yaml");
    std::fs::write(&file, values).unwrap();
    let mut args = vec!["-f", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = render(helm, dir, "fastly-anywhere", &args);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "helm template failed: {stderr}");
    stdout
}

/// Renders the documented values for a provider and parses the objects.
fn render_objects(helm: &Path, provider: &str, class: &str, extra: &[&str]) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    documents(&render_ok(
        helm,
        dir.path(),
        &documented(provider, class),
        extra,
    ))
}

fn cpu_millis(q: &Value) -> f64 {
    let s = match q {
        Value::Number(n) => return n.as_f64().unwrap() * 1000.0,
        Value::String(s) => s.as_str(),
        _ => panic!("cpu {q}"),
    };
    s.strip_suffix('m')
        .map(|m| m.parse().unwrap())
        .unwrap_or_else(|| s.parse::<f64>().unwrap() * 1000.0)
}

fn mebibytes(q: &Value) -> f64 {
    let s = q.as_str().unwrap();
    if let Some(g) = s.strip_suffix("Gi") {
        g.parse::<f64>().unwrap() * 1024.0
    } else {
        s.strip_suffix("Mi").unwrap().parse().unwrap()
    }
}

#[test]
fn documented_values_give_the_documented_objects() {
    for (label, helm) in helms() {
        for (provider, class) in PROVIDERS {
            let objects = render_objects(&helm, provider, class, &[]);
            let sts = object(&objects, "StatefulSet", "fastly-anywhere");
            assert_eq!(
                sts["metadata"]["labels"]["app.kubernetes.io/name"], "fastly-anywhere",
                "{label}"
            );
            assert_eq!(sts["spec"]["replicas"], 3);
            let claims = sts["spec"]["volumeClaimTemplates"].as_array().unwrap();
            let names: Vec<_> = claims
                .iter()
                .map(|c| c["metadata"]["name"].as_str().unwrap())
                .collect();
            assert_eq!(names, ["cached", "xqd"]);
            for claim in claims {
                assert_eq!(
                    claim["spec"]["storageClassName"], class,
                    "{label} {provider}"
                );
                assert_eq!(claim["spec"]["resources"]["requests"]["storage"], "32Gi");
            }
            // The pod as a whole gets exactly the footprint, requests = limits.
            let containers = sts["spec"]["template"]["spec"]["containers"]
                .as_array()
                .unwrap();
            let (mut cpu, mut mem) = (0.0, 0.0);
            for c in containers {
                assert_eq!(
                    c["resources"]["requests"], c["resources"]["limits"],
                    "Guaranteed QoS"
                );
                cpu += cpu_millis(&c["resources"]["limits"]["cpu"]);
                mem += mebibytes(&c["resources"]["limits"]["memory"]);
            }
            assert_eq!((cpu, mem), (4000.0, 8192.0), "{label} {provider}");
            let h2o = objects
                .iter()
                .find(|o| {
                    o["kind"] == "Service"
                        && o["metadata"]["name"].as_str().unwrap().contains("h2o")
                })
                .expect("a Service whose name contains h2o");
            assert_eq!(h2o["spec"]["ports"][0]["port"], 80);
            assert_eq!(h2o["spec"]["ports"][0]["targetPort"], "http");
            let edge = containers.iter().find(|c| c["name"] == "edge").unwrap();
            assert!(
                edge["ports"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["name"] == "http")
            );
        }
    }
}

#[test]
fn renders_are_byte_identical() {
    let values = documented("gke", "premium-rwo");
    let mut renders = Vec::new();
    for (_, helm) in helms() {
        for _ in 0..2 {
            let dir = tempfile::tempdir().unwrap();
            renders.push(render_ok(&helm, dir.path(), &values, &[]));
        }
    }
    assert_eq!(renders[0], renders[1], "helm 3: two renders differ");
    assert_eq!(renders[2], renders[3], "helm 4: two renders differ");
    assert_eq!(renders[0], renders[2], "helm 3 and helm 4 renders differ");
}

#[test]
fn kubernetes_validate_strict_accepts_every_object() {
    let validate = tool("venv/bin/kubernetes-validate");
    let (_, helm) = &helms()[0];
    for (provider, class) in PROVIDERS {
        for extra in [
            &[][..],
            &[
                "--set",
                "certManager.createIssuer=false,certManager.issuerRef.name=corp-ca,certManager.issuerRef.kind=ClusterIssuer,h2o.type=LoadBalancer,podAntiAffinity=hard",
            ][..],
            &[
                "--set",
                "controlPlane.mode=offline,networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.team=monitoring,networkPolicy.metricsFrom[0].podSelector.matchLabels.app=prometheus,services[0].name=site,services[0].domains[0]=*.example.com,services[0].package.oci=oci://registry.example.com/site:1,egress.networkPolicy=true,egress.allowedCidrs={10.20.0.0/16,fd00:20::/64}",
            ][..],
        ] {
            let dir = tempfile::tempdir().unwrap();
            let manifests = render_ok(helm, dir.path(), &documented(provider, class), extra);
            let file = dir.path().join("manifests.yaml");
            std::fs::write(&file, &manifests).unwrap();
            // 1.30 is the oldest release GKE and ACK still support; 1.37 the newest schemas known.
            for version in ["1.30.0", "1.37.0"] {
                let out = run(Command::new(&validate)
                    .args(["--strict", "--quiet", "-k", version])
                    .arg(&file));
                let (stdout, stderr) = text(&out);
                assert!(
                    out.status.success(),
                    "kubernetes-validate {version}: {stdout}{stderr}"
                );
                let builtin_kinds = documents(&manifests)
                    .iter()
                    .filter(|o| !o["apiVersion"].as_str().unwrap().contains("cert-manager"))
                    .count();
                assert!(builtin_kinds >= 10, "expected the chart's built-in objects");
            }
        }
    }
}

#[test]
fn cert_manager_objects_match_the_v1_14_crds() {
    let crds = CrdSchemas::from_dir(&repo().parent().unwrap().join("shared/crds")).unwrap();
    let (_, helm) = &helms()[1];
    for extra in [
        &[][..],
        &[
            "--set",
            "certManager.createIssuer=false,certManager.issuerRef.name=corp-ca,certManager.issuerRef.kind=ClusterIssuer",
        ][..],
    ] {
        let objects = render_objects(helm, "ack", "alicloud-disk-topology-alltype", extra);
        let mut checked = 0;
        for o in objects
            .iter()
            .filter(|o| o["apiVersion"] == "cert-manager.io/v1")
        {
            // Schema violations and fields the API server would prune.
            let problems = crds.check(o).unwrap();
            assert!(
                problems.is_empty(),
                "{} {}: {problems:?}",
                o["kind"],
                o["metadata"]["name"]
            );
            checked += 1;
        }
        assert!(checked >= 1);
        if extra.is_empty() {
            assert_eq!(
                checked, 4,
                "self-signed issuer, CA certificate, CA issuer, pod certificate"
            );
        }
    }
}

#[test]
fn checkov_reports_no_failed_check() {
    let checkov = tool("venv/bin/checkov");
    let (_, helm) = &helms()[0];
    // checkov skips hidden directories, and tempfile's default names start with a dot.
    let dir = tempfile::Builder::new()
        .prefix("checkov-")
        .tempdir()
        .unwrap();
    let manifests = render_ok(helm, dir.path(), &documented("gke", "premium-rwo"), &[]);
    let scan = dir.path().join("scan");
    std::fs::create_dir(&scan).unwrap();
    std::fs::write(scan.join("manifests.yaml"), manifests).unwrap();
    let out = run(Command::new(&checkov)
        .args([
            "--framework",
            "kubernetes",
            "--skip-download",
            "--quiet",
            "--output",
            "json",
            "-d",
        ])
        .arg(&scan)
        .env("BC_SKIP_MAPPING", "TRUE"));
    let (stdout, stderr) = text(&out);
    let report: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("checkov output: {e}: {stdout}{stderr}"));
    let summary = &report["summary"];
    assert_eq!(
        summary["failed"], 0,
        "checkov failed checks: {}",
        report["results"]["failed_checks"]
    );
    assert!(
        summary["passed"].as_u64().unwrap() > 100,
        "checkov ran few checks: {summary}"
    );
}

#[test]
fn existing_secret_keeps_tokens_out_of_the_release() {
    for (label, helm) in helms() {
        let dir = tempfile::tempdir().unwrap();
        let values = documented("gke", "premium-rwo")
            .replace("bootstrap:\n  token: bootstrap-token-for-tests\nfastly_key: automation-token-for-tests\n", "existingSecret:\n  name: corp-tokens\n");
        let manifests = render_ok(&helm, dir.path(), &values, &[]);
        assert!(!manifests.contains("token-for-tests"));
        let objects = documents(&manifests);
        assert!(
            !objects.iter().any(|o| o["kind"] == "Secret"),
            "{label}: no Secret is created"
        );
        let sts = object(&objects, "StatefulSet", "fastly-anywhere");
        let volumes = sts["spec"]["template"]["spec"]["volumes"]
            .as_array()
            .unwrap();
        let tokens = volumes.iter().find(|v| v["name"] == "tokens").unwrap();
        assert_eq!(tokens["secret"]["secretName"], "corp-tokens");
        // Only the secrets loader mounts the tokens; the edge has no token at all.
        let spec = &sts["spec"]["template"]["spec"];
        let mounts = |c: &Value| {
            c["volumeMounts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["name"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        assert!(mounts(&spec["initContainers"][0]).contains(&"tokens".to_owned()));
        for c in spec["containers"].as_array().unwrap() {
            let m = mounts(c);
            assert!(
                !m.contains(&"tokens".to_owned()),
                "{} mounts the tokens",
                c["name"]
            );
            assert_eq!(
                m.contains(&"kube-api-access".to_owned()),
                c["name"] == "agent",
                "only the agent holds an API token"
            );
        }
    }
}

#[test]
fn missing_tokens_fail_with_the_fix() {
    for (label, helm) in helms() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("values.yaml");
        std::fs::write(&file, "edgeStack: {replicas: 3}\n").unwrap();
        let out = render(
            &helm,
            dir.path(),
            "fastly-anywhere",
            &["-f", file.to_str().unwrap()],
        );
        let (_, stderr) = text(&out);
        assert!(!out.status.success(), "{label}");
        assert!(
            stderr.contains("bootstrap.token: give the bootstrap token"),
            "{label}: {stderr}"
        );
    }
}

#[test]
fn a_values_change_rolls_the_pods() {
    let (_, helm) = &helms()[0];
    let checksum = |extra: &[&str]| {
        let objects = render_objects(helm, "gke", "premium-rwo", extra);
        object(&objects, "StatefulSet", "fastly-anywhere")["spec"]["template"]["metadata"]["annotations"]["checksum/config"].clone()
    };
    assert_eq!(checksum(&[]), checksum(&[]));
    assert_ne!(checksum(&[]), checksum(&["--set", "limits.cpuTime=20ms"]));
}

#[test]
fn release_names_follow_the_fullname_rules() {
    let (_, helm) = &helms()[1];
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("values.yaml");
    std::fs::write(&file, documented("gke", "premium-rwo")).unwrap();
    let out = render(helm, dir.path(), "edge", &["-f", file.to_str().unwrap()]);
    assert!(out.status.success());
    let objects = documents(&text(&out).0);
    object(&objects, "StatefulSet", "edge-fastly-anywhere");
    object(&objects, "Service", "edge-fastly-anywhere-h2o");
}
