//! The chart through a real OCI registry on loopback (Debian's
//! docker-registry, started here): `helm package` + `helm push` with one
//! Helm, `helm pull` and `helm template oci://…` with both, and the GitOps
//! presets pointing at the same reference.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use e2e::{chart, documents, helms, isolated_helm, plugin_binary, repo, run, text};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A registry process, stopped when dropped.
struct Registry {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_registry() -> Registry {
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("docker-registry is missing: run scripts/setup-tools");
    let registry = Registry {
        child,
        port,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the registry did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    registry
}

fn helm_ok(helm: &Path, home: &Path, args: &[&str]) -> String {
    let out = run(isolated_helm(helm, home).args(args));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "helm {args:?}: {stderr}");
    stdout + &stderr
}

#[test]
fn chart_round_trips_through_an_oci_registry_with_helm_3_and_4() {
    let registry = start_registry();
    let values = repo().join("examples/values-gke.yaml");
    let values = values.to_str().unwrap();
    let helms = helms();
    // Each Helm pushes to its own repository; both pull from both.
    for (label, helm) in &helms {
        let home = tempfile::tempdir().unwrap();
        let pkg = home.path().join("pkg");
        let chart_dir = chart();
        helm_ok(
            helm,
            home.path(),
            &[
                "package",
                chart_dir.to_str().unwrap(),
                "-d",
                pkg.to_str().unwrap(),
            ],
        );
        let tgz = pkg.join("fastly-anywhere-0.1.0.tgz");
        let target = format!("oci://127.0.0.1:{}/{label}", registry.port);
        let pushed = helm_ok(
            helm,
            home.path(),
            &["push", tgz.to_str().unwrap(), &target, "--plain-http"],
        );
        assert!(
            pushed.contains("fastly-anywhere:0.1.0"),
            "{label}: {pushed}"
        );
    }
    for (pusher, _) in &helms {
        let chart_ref = format!("oci://127.0.0.1:{}/{pusher}/fastly-anywhere", registry.port);
        for (label, helm) in &helms {
            let home = tempfile::tempdir().unwrap();
            let dest = home.path().join("pulled");
            std::fs::create_dir(&dest).unwrap();
            helm_ok(
                helm,
                home.path(),
                &[
                    "pull",
                    &chart_ref,
                    "--version",
                    "0.1.0",
                    "--plain-http",
                    "-d",
                    dest.to_str().unwrap(),
                ],
            );
            assert!(
                dest.join("fastly-anywhere-0.1.0.tgz").exists(),
                "{label} pulled nothing from {chart_ref}"
            );
            let out = run(isolated_helm(helm, home.path()).args([
                "template",
                "fastly-anywhere",
                &chart_ref,
                "--version",
                "0.1.0",
                "--plain-http",
                "--namespace",
                "fastly-anywhere",
                "-f",
                values,
            ]));
            let (stdout, stderr) = text(&out);
            assert!(
                out.status.success(),
                "{label} template {chart_ref}: {stderr}"
            );
            let objects = documents(&stdout);
            assert!(
                objects
                    .iter()
                    .any(|o| o["kind"] == "StatefulSet"
                        && o["metadata"]["name"] == "fastly-anywhere"),
                "{label}"
            );
        }
    }

    // The GitOps manifests name the chart exactly as Helm pulled it.
    let chart_ref = format!("oci://127.0.0.1:{}/helm3/fastly-anywhere", registry.port);
    let out = run(Command::new(plugin_binary()).args([
        "render",
        "--gitops",
        "flux",
        "--provider",
        "gke",
        "-f",
        values,
        "--chart-ref",
        &chart_ref,
    ]));
    let objects = documents(&text(&out).0);
    let repository = objects
        .iter()
        .find(|o| o["kind"] == "OCIRepository")
        .unwrap();
    assert_eq!(repository["spec"]["url"], chart_ref.as_str());
    assert_eq!(repository["spec"]["ref"]["tag"], "0.1.0");
    let out = run(Command::new(plugin_binary()).args([
        "render",
        "--gitops",
        "argo",
        "--provider",
        "gke",
        "-f",
        values,
        "--chart-ref",
        &chart_ref,
    ]));
    let app = &documents(&text(&out).0)[0];
    assert_eq!(
        app["spec"]["source"]["repoURL"],
        format!("127.0.0.1:{}/helm3", registry.port)
    );
    assert_eq!(app["spec"]["source"]["chart"], "fastly-anywhere");
    assert_eq!(app["spec"]["source"]["targetRevision"], "0.1.0");
}
