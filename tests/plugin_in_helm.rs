//! `helm plugin install ./plugin` and `helm anywhere …` in real Helm 3.17.2
//! and 4.1.4, each with its own data, config and cache directories. The
//! plugin is installed as a fresh clone has it, without bin/: its install
//! hook builds the binary with cargo. The hook builds the dev profile into
//! the target directory of this test run, where `cargo build -p
//! helm-anywhere` (scripts/test) already put an up-to-date binary, so the
//! real build runs and costs a fingerprint check.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use e2e::{helms, isolated_helm, plugin_binary, repo, run, text};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A copy of plugin/ as a fresh clone has it: plugin.yaml and the hook
/// script, no bin/. Beside it, the chart's Chart.yaml and values.yaml, as in
/// the repository, for `helm anywhere version`.
fn plugin_dir(root: &Path) -> PathBuf {
    let dir = root.join("plugin");
    std::fs::create_dir_all(dir.join("scripts")).unwrap();
    std::fs::copy(repo().join("plugin/plugin.yaml"), dir.join("plugin.yaml")).unwrap();
    std::fs::copy(
        repo().join("plugin/scripts/build-binary"),
        dir.join("scripts/build-binary"),
    )
    .unwrap();
    let chart = root.join("charts/fastly-anywhere");
    std::fs::create_dir_all(&chart).unwrap();
    for file in ["Chart.yaml", "values.yaml"] {
        std::fs::copy(
            repo().join("charts/fastly-anywhere").join(file),
            chart.join(file),
        )
        .unwrap();
    }
    dir
}

/// Points the hook's build at this checkout, and at the target directory
/// and profile the tests already built. The variables cargo sets for this
/// test process (its package's manifest directory, name, version…) are
/// removed: build scripts such as ring's rerun when they change, and a
/// user's shell has none of them.
fn build_from_checkout(cmd: &mut Command) -> &mut Command {
    let target = plugin_binary()
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .to_path_buf();
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let set_for_tests = name == "OUT_DIR"
            || [
                "CARGO_MANIFEST_",
                "CARGO_PKG_",
                "CARGO_CRATE_",
                "CARGO_BIN_",
                "CARGO_PRIMARY_",
                "CARGO_TARGET_TMPDIR",
                "CARGO_RUSTC_CURRENT_DIR",
            ]
            .iter()
            .any(|prefix| name.starts_with(prefix));
        if set_for_tests {
            cmd.env_remove(name.as_ref());
        }
    }
    cmd.env("HELM_ANYWHERE_SOURCE", repo())
        .env("HELM_ANYWHERE_PROFILE", "dev")
        .env("CARGO_TARGET_DIR", target)
}

/// Helm, isolated, with the hook's build pointed at this checkout.
fn helm_with_source(helm: &Path, home: &Path) -> Command {
    let mut cmd = isolated_helm(helm, home);
    build_from_checkout(&mut cmd);
    cmd
}

const FIVE_MISTAKES: &str = "\
edgestack:
  replicas: 3
cached:
  volumeClaim:
    requests:
      storage: 32GB
    storageClassName: <STORAGE CLASS>
provider: gcp
bootstrap:
  token: abc
existingSecret:
  name: fastly-anywhere-tokens
";

#[test]
fn installs_and_validates_in_helm_3_and_4() {
    for (label, helm) in helms() {
        let home = tempfile::tempdir().unwrap();
        let plugin = plugin_dir(home.path());
        assert!(!plugin.join("bin").exists());
        let out = run(helm_with_source(&helm, home.path())
            .args(["plugin", "install"])
            .arg(&plugin));
        assert!(
            out.status.success(),
            "{label}: plugin install: {:?}",
            text(&out)
        );
        assert!(
            plugin.join("bin/helm-anywhere").is_file(),
            "{label}: the install hook built the binary: {:?}",
            text(&out)
        );
        let out = run(isolated_helm(&helm, home.path()).args(["plugin", "list"]));
        assert!(
            text(&out).0.contains("anywhere"),
            "{label}: {:?}",
            text(&out)
        );

        let work = home.path().join("work");
        std::fs::create_dir(&work).unwrap();
        std::fs::write(work.join("values.yaml"), FIVE_MISTAKES).unwrap();
        let out = run(isolated_helm(&helm, home.path()).current_dir(&work).args([
            "anywhere",
            "validate",
            "-f",
            "values.yaml",
        ]));
        let (stdout, _) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{label}: exit code\n{stdout}");
        let errors: Vec<&str> = stdout
            .lines()
            .filter(|l| l.starts_with("values.yaml:") && l.contains(": error["))
            .collect();
        let places: Vec<&str> = errors
            .iter()
            .map(|l| l.split(": ").next().unwrap())
            .collect();
        assert_eq!(
            places,
            [
                "values.yaml:1:1",
                "values.yaml:6:16",
                "values.yaml:7:23",
                "values.yaml:8:11",
                "values.yaml:10:10"
            ],
            "{label}:\n{stdout}"
        );
        assert!(
            stdout.ends_with("invalid: 5 errors, 0 warnings\n"),
            "{label}:\n{stdout}"
        );
        // The token is never printed, even through Helm.
        assert!(
            stdout.contains("10 |   token: <redacted>\n") && !stdout.contains("abc"),
            "{label}:\n{stdout}"
        );

        // render through Helm: the documented values with tokens inline.
        std::fs::write(
            work.join("documented.yaml"),
            "edgeStack: {cpuFootprint: 4, memoryFootprint: 8Gi, replicas: 3}\nbootstrap: {token: tok-111}\nfastly_key: tok-222\n",
        )
        .unwrap();
        let out = run(isolated_helm(&helm, home.path()).current_dir(&work).args([
            "anywhere",
            "render",
            "--gitops",
            "flux",
            "--provider",
            "ack",
            "-f",
            "documented.yaml",
        ]));
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{label}: render: {stderr}");
        assert!(
            stdout.contains("kind: HelmRelease") && !stdout.contains("tok-"),
            "{label}:\n{stdout}"
        );
        assert!(!stderr.contains("tok-"), "{label}:\n{stderr}");

        let out = run(isolated_helm(&helm, home.path()).args(["anywhere", "schema"]));
        let committed =
            std::fs::read_to_string(repo().join("charts/fastly-anywhere/values.schema.json"))
                .unwrap();
        assert_eq!(text(&out).0, committed, "{label}: schema");

        let out = run(isolated_helm(&helm, home.path()).args(["anywhere", "version"]));
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{label}: {stderr}");
        assert!(stdout.starts_with("helm-anywhere 0.1.0\n"), "{label}");
        assert!(
            stdout.contains("\nchart fastly-anywhere 0.1.0 (appVersion 0.1.0) at ")
                && stdout.ends_with("\nimage ghcr.io/fastly-anywhere/anywhere:0.1.0\n"),
            "{label}: the chart beside the plugin:\n{stdout}"
        );
        assert!(!stderr.contains("warning"), "{label}: {stderr}");

        let out = run(isolated_helm(&helm, home.path()).args([
            "anywhere",
            "validate",
            "-f",
            "/nonexistent/values.yaml",
        ]));
        assert_eq!(out.status.code(), Some(2), "{label}: I/O errors exit 2");
    }
}

#[test]
fn the_build_script_rebuilds_in_place() {
    // What the README says to run after a `git pull` (Helm cannot update a
    // plugin installed from a directory): the build runs, and the binary is
    // replaced atomically.
    let home = tempfile::tempdir().unwrap();
    let plugin = plugin_dir(home.path());
    let out = run(build_from_checkout(
        Command::new("sh")
            .arg(plugin.join("scripts/build-binary"))
            .arg("update"),
    ));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("helm-anywhere: installed"), "{stdout}");
    let built = plugin.join("bin/helm-anywhere");
    let out = run(Command::new(&built).arg("version"));
    assert!(text(&out).0.starts_with("helm-anywhere 0.1.0\n"));
    assert!(!plugin.join("bin/helm-anywhere.new").exists());
}

#[test]
fn install_without_cargo_says_what_to_do() {
    for (label, helm) in helms() {
        let home = tempfile::tempdir().unwrap();
        let plugin = plugin_dir(home.path());
        let out = run(helm_with_source(&helm, home.path())
            .env("CARGO", "/nonexistent/cargo")
            .args(["plugin", "install"])
            .arg(&plugin));
        let (stdout, stderr) = text(&out);
        assert!(!out.status.success(), "{label}");
        assert!(
            stderr.contains("cargo is not installed. Install Rust 1.95 or later"),
            "{label}: {stdout}{stderr}"
        );
    }
}

#[test]
fn version_warns_when_chart_and_image_differ() {
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("chart");
    std::fs::create_dir(&chart).unwrap();
    let chart_yaml = std::fs::read_to_string(repo().join("charts/fastly-anywhere/Chart.yaml"))
        .unwrap()
        .replace("version: 0.1.0", "version: 0.2.0")
        .replace("appVersion: \"0.1.0\"", "appVersion: \"0.2.0\"");
    std::fs::write(chart.join("Chart.yaml"), chart_yaml).unwrap();
    std::fs::copy(
        repo().join("charts/fastly-anywhere/values.yaml"),
        chart.join("values.yaml"),
    )
    .unwrap();
    std::fs::write(dir.path().join("pinned.yaml"), "image:\n  tag: 0.1.9\n").unwrap();
    let version = |extra: &[&str]| {
        let out = run(Command::new(plugin_binary())
            .arg("version")
            .arg("--chart")
            .arg(&chart)
            .args(extra)
            .current_dir(dir.path()));
        assert!(
            out.status.success(),
            "warnings do not fail: {:?}",
            text(&out)
        );
        text(&out)
    };
    let (stdout, stderr) = version(&[]);
    assert!(
        stdout.contains("chart fastly-anywhere 0.2.0 (appVersion 0.2.0)"),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("image ghcr.io/fastly-anywhere/anywhere:0.2.0\n"),
        "{stdout}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("warning: the plugin is 0.1.0 but the chart is 0.2.0"),
        "{stderr}"
    );
    let (stdout, stderr) = version(&["-f", "pinned.yaml"]);
    assert!(
        stdout.ends_with("image ghcr.io/fastly-anywhere/anywhere:0.1.9\n"),
        "{stdout}"
    );
    assert!(
        stderr.contains("warning: the image tag is 0.1.9 but the chart's appVersion is 0.2.0"),
        "{stderr}"
    );
}
