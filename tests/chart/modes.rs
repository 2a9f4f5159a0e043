//! `controlPlane.mode`: `fastly` requires both tokens and mounts them into
//! the secrets loader only; `offline` renders, requires and mounts no token.

use super::render_ok;
use e2e::{documents, helms, object, render, text};
use serde_json::Value;

/// The documented example in offline mode, without tokens.
const OFFLINE: &str = "\
provider: gke
controlPlane:
  mode: offline
edgeStack:
  cpuFootprint: 4
  memoryFootprint: 8Gi
  replicas: 3
services:
  - name: site
    domains: [www.example.com]
    package:
      oci: oci://registry.example.com/site:1.0.0
";

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| i["name"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn offline_mode_renders_no_tokens_secret_volume_or_argument() {
    for (label, helm) in helms() {
        for extra in [&[][..], &["--set", "existingSecret.name=left-over"][..]] {
            let dir = tempfile::tempdir().unwrap();
            let manifests = render_ok(&helm, dir.path(), OFFLINE, extra);
            let objects = documents(&manifests);
            assert!(
                !objects.iter().any(|o| o["kind"] == "Secret"),
                "{label}: offline mode creates no Secret"
            );
            let sts = object(&objects, "StatefulSet", "fastly-anywhere");
            let template = &sts["spec"]["template"];
            assert!(
                template["metadata"]["annotations"]
                    .get("checksum/tokens")
                    .is_none()
            );
            let spec = &template["spec"];
            assert!(
                !names(&spec["volumes"]).contains(&"tokens".to_owned()),
                "{label} {extra:?}: no tokens volume"
            );
            let bootstrap = &spec["initContainers"][0];
            assert_eq!(bootstrap["name"], "bootstrap");
            assert_eq!(
                bootstrap["args"],
                serde_json::json!([
                    "bootstrap",
                    "--config=/etc/fastly-anywhere/edge.yaml",
                    "--credentials-dir=/var/run/fastly-anywhere/credentials"
                ]),
                "{label}"
            );
            assert_eq!(
                names(&bootstrap["volumeMounts"]),
                ["config", "credentials"],
                "{label}"
            );
            assert!(!manifests.contains("/tokens"), "{label}");
            let map = object(&objects, "ConfigMap", "fastly-anywhere-edge");
            assert!(
                map["data"]["edge.yaml"]
                    .as_str()
                    .unwrap()
                    .contains("mode: offline"),
                "{label}"
            );
        }
    }
}

#[test]
fn fastly_mode_requires_both_tokens() {
    for (label, helm) in helms() {
        for values in [
            "edgeStack: {replicas: 3}\n",
            "controlPlane: {mode: fastly}\nbootstrap: {token: only-one}\n",
        ] {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("values.yaml");
            std::fs::write(&file, values).unwrap();
            let out = render(
                &helm,
                dir.path(),
                "fastly-anywhere",
                &["-f", file.to_str().unwrap()],
            );
            let (_, stderr) = text(&out);
            assert!(!out.status.success(), "{label}: {values}");
            let expected = if values.contains("only-one") {
                "fastly_key: give the Fastly API token"
            } else {
                "bootstrap.token: give the bootstrap token"
            };
            assert!(stderr.contains(expected), "{label}: {stderr}");
        }
    }
}

#[test]
fn fastly_mode_mounts_the_tokens_into_the_bootstrap_only() {
    let (_, helm) = &helms()[0];
    let dir = tempfile::tempdir().unwrap();
    let values = OFFLINE.replace("mode: offline", "mode: fastly")
        + "bootstrap: {token: b-token}\nfastly_key: k-token\n";
    let objects = documents(&render_ok(helm, dir.path(), &values, &[]));
    let secret = object(&objects, "Secret", "fastly-anywhere-tokens");
    assert_eq!(secret["data"]["bootstrap-token"], "Yi10b2tlbg==");
    let spec = &object(&objects, "StatefulSet", "fastly-anywhere")["spec"]["template"]["spec"];
    assert!(names(&spec["volumes"]).contains(&"tokens".to_owned()));
    assert_eq!(
        names(&spec["initContainers"][0]["volumeMounts"]),
        ["tokens", "config", "credentials"]
    );
}
