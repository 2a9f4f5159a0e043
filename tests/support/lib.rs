//! Helpers for the end-to-end tests: where the real tools are (installed by
//! `scripts/setup`), running them, and reading what they print.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_path_buf()
}

/// The chart directory.
pub fn chart() -> PathBuf {
    repo().join("charts/fastly-anywhere")
}

/// The tools directory (`.tools`, or `$ANYWHERE_TOOLS`).
pub fn tools() -> PathBuf {
    std::env::var_os("ANYWHERE_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".tools"))
}

/// A tool installed by `scripts/setup`; panics with the fix when missing.
pub fn tool(relative: &str) -> PathBuf {
    let path = tools().join(relative);
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup first",
        path.display()
    );
    path
}

/// Both Helm majors the project supports, as (label, binary).
pub fn helms() -> Vec<(&'static str, PathBuf)> {
    vec![("helm3", tool("helm3/helm")), ("helm4", tool("helm4/helm"))]
}

/// The built `helm-anywhere` binary (built by `cargo test --workspace`).
pub fn plugin_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("helm-anywhere");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p helm-anywhere` (scripts/test does)",
        bin.display()
    );
    bin
}

/// Runs a command and returns its output; panics if it cannot start.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Text of stdout and stderr.
pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Isolates Helm from the machine's configuration: fresh data, config and
/// cache directories (Helm 4 installs plugins into the data directory).
pub fn isolated_helm(helm: &Path, home: &Path) -> Command {
    let mut cmd = Command::new(helm);
    cmd.env("HELM_DATA_HOME", home.join("data"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env_remove("HELM_PLUGINS")
        .env_remove("KUBECONFIG");
    cmd
}

/// Renders the chart with `helm template` and returns the manifests.
pub fn render(helm: &Path, home: &Path, release: &str, args: &[&str]) -> Output {
    run(isolated_helm(helm, home)
        .args(["template", release])
        .arg(chart())
        .args(["--namespace", "fastly-anywhere"])
        .args(args))
}

/// Splits a multi-document YAML stream into its objects.
pub fn documents(yaml: &str) -> Vec<serde_json::Value> {
    yaml.split("\n---")
        .filter_map(|doc| serde_yaml::from_str::<serde_json::Value>(doc).ok())
        .filter(|v| v.is_object())
        .collect()
}

/// The object of a kind and name.
pub fn object<'a>(
    objects: &'a [serde_json::Value],
    kind: &str,
    name: &str,
) -> &'a serde_json::Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in the render"))
}
