//! `helm plugin install ./plugin` and `helm anywhere …` in real Helm 3.17.2
//! and 4.1.4, each with its own data, config and cache directories.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use e2e::{helms, isolated_helm, plugin_binary, repo, run, text};
use std::path::Path;

/// A copy of plugin/ with the built binary in bin/, as `scripts/setup`
/// prepares it before installing.
fn plugin_dir(root: &Path) -> std::path::PathBuf {
    let dir = root.join("plugin");
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::copy(repo().join("plugin/plugin.yaml"), dir.join("plugin.yaml")).unwrap();
    std::fs::copy(plugin_binary(), dir.join("bin/helm-anywhere")).unwrap();
    dir
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
        let out = run(isolated_helm(&helm, home.path())
            .args(["plugin", "install"])
            .arg(&plugin));
        assert!(
            out.status.success(),
            "{label}: plugin install: {:?}",
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

        let out = run(isolated_helm(&helm, home.path()).args(["anywhere", "schema"]));
        let committed =
            std::fs::read_to_string(repo().join("charts/fastly-anywhere/values.schema.json"))
                .unwrap();
        assert_eq!(text(&out).0, committed, "{label}: schema");

        let out = run(isolated_helm(&helm, home.path()).args(["anywhere", "version"]));
        assert!(text(&out).0.starts_with("helm-anywhere 0.1.0"), "{label}");

        let out = run(isolated_helm(&helm, home.path()).args([
            "anywhere",
            "validate",
            "-f",
            "/nonexistent/values.yaml",
        ]));
        assert_eq!(out.status.code(), Some(2), "{label}: I/O errors exit 2");
    }
}
