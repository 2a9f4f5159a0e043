//! `anywhere bootstrap`, the real binary, against the Fastly API stand-in:
//! good, unknown, expired and under-scoped automation tokens, an API that
//! is down, offline mode, a broken edge.yaml. Every run is also checked
//! for leaks: no token value in its stdout or stderr, nor in any file but
//! the token files themselves and `credentials/api-token`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/fastly_api_standin.rs"]
mod fastly_api_standin;

use fastly_api_standin::{
    EXPIRED_TOKEN, Fixture, GOOD_TOKEN, StandIn, UNDER_SCOPED_TOKEN, UNKNOWN_TOKEN,
};
use sha2::{Digest, Sha256};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const BOOTSTRAP_TOKEN: &str = "bootstrap-cluster-token-5f1d2c3b4a";
const ALL_TOKENS: [&str; 5] = [
    GOOD_TOKEN,
    EXPIRED_TOKEN,
    UNDER_SCOPED_TOKEN,
    UNKNOWN_TOKEN,
    BOOTSTRAP_TOKEN,
];

/// A pod's volumes in a temp dir: `edge.yaml`, `tokens/` (the Secret) and
/// `credentials/` (the emptyDir).
struct Pod {
    dir: tempfile::TempDir,
}

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Pod {
    fn new(edge_yaml: &str) -> Pod {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("tokens")).unwrap();
        std::fs::write(dir.path().join("edge.yaml"), edge_yaml).unwrap();
        Pod { dir }
    }

    fn fastly(api_url: &str) -> Pod {
        Pod::new(&format!(
            "services: []\ncontrolPlane:\n  mode: fastly\n  apiUrl: {api_url}\nlimits: {{}}\n"
        ))
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn tokens(self, fastly_key: &str, bootstrap: &str) -> Pod {
        std::fs::write(self.path("tokens/fastly-key"), format!("{fastly_key}\n")).unwrap();
        std::fs::write(self.path("tokens/bootstrap-token"), bootstrap).unwrap();
        self
    }

    /// Runs the binary as the chart does, plus `extra`; checks for leaks.
    fn run(&self, extra: &[&str]) -> Outcome {
        let arg = |flag: &str, rel: &str| format!("{flag}={}", self.path(rel).display());
        let output = Command::new(env!("CARGO_BIN_EXE_anywhere"))
            .arg("bootstrap")
            .arg(arg("--config", "edge.yaml"))
            .arg(arg("--credentials-dir", "credentials"))
            .args(extra)
            // Tokens come from files only; no proxy between us and the stand-in.
            .env_clear()
            .output()
            .unwrap();
        let outcome = Outcome {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        self.assert_no_token_leaked(&outcome);
        outcome
    }

    fn run_with_tokens(&self, extra: &[&str]) -> Outcome {
        let key = format!(
            "--fastly-key-file={}",
            self.path("tokens/fastly-key").display()
        );
        let bootstrap = format!(
            "--bootstrap-token-file={}",
            self.path("tokens/bootstrap-token").display()
        );
        let mut args = vec![key.as_str(), bootstrap.as_str()];
        args.extend(extra);
        self.run(&args)
    }

    fn assert_no_token_leaked(&self, outcome: &Outcome) {
        for token in ALL_TOKENS {
            assert!(
                !outcome.stdout.contains(token) && !outcome.stderr.contains(token),
                "a token in the output:\n{}",
                outcome.stderr
            );
        }
        let allowed = [
            self.path("tokens/fastly-key"),
            self.path("tokens/bootstrap-token"),
            self.path("credentials/api-token"),
        ];
        for file in files(self.dir.path())
            .iter()
            .filter(|f| !allowed.contains(f))
        {
            let text = String::from_utf8_lossy(&std::fs::read(file).unwrap()).into_owned();
            for token in ALL_TOKENS {
                assert!(!text.contains(token), "a token in {}", file.display());
            }
        }
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap()
    }

    fn mode(&self, rel: &str) -> u32 {
        std::fs::metadata(self.path(rel))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    }
}

impl Outcome {
    /// The one `error:` line main prints, asserting exit code 1.
    fn error_line(&self) -> &str {
        assert_eq!(self.code, Some(1), "stderr:\n{}", self.stderr);
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| l.starts_with("error: "))
            .collect();
        assert_eq!(lines.len(), 1, "one error line expected:\n{}", self.stderr);
        lines[0]
    }

    fn assert_success(&self) {
        assert_eq!(self.code, Some(0), "stderr:\n{}", self.stderr);
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(&path))
        } else {
            out.push(path)
        }
    }
    out
}

#[test]
fn a_good_token_writes_the_credentials_0400() {
    let api = StandIn::start(Fixture::standard());
    let pod = Pod::fastly(&api.base_url).tokens(GOOD_TOKEN, BOOTSTRAP_TOKEN);
    // The most verbose logs, where a header dump would show.
    pod.run_with_tokens(&["--log-level=trace"]).assert_success();
    assert_eq!(pod.read("credentials/api-token"), GOOD_TOKEN);
    let cluster_id: String = Sha256::digest(BOOTSTRAP_TOKEN)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(pod.read("credentials/cluster-id"), cluster_id);
    let creds: serde_json::Value =
        serde_json::from_str(&pod.read("credentials/credentials.json")).unwrap();
    assert_eq!(creds["mode"], "fastly");
    assert_eq!(creds["api_url"], api.base_url.as_str());
    assert_eq!(creds["token_name"], "anywhere-loader");
    assert_eq!(creds["scope"], "global:read");
    assert_eq!(creds["expires_at"], serde_json::Value::Null);
    assert_eq!(creds["cluster_id"], cluster_id.as_str());
    assert!(
        creds["token_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("tok"))
    );
    for file in ["api-token", "cluster-id", "credentials.json"] {
        assert_eq!(pod.mode(&format!("credentials/{file}")), 0o400, "{file}");
    }
    assert_eq!(
        files(&pod.path("credentials")).len(),
        3,
        "no temp files left"
    );
    assert_eq!(api.request_count("/tokens/self"), 1);
    assert!(
        !api.received(BOOTSTRAP_TOKEN),
        "the bootstrap token is never sent"
    );
    // A restarted init container overwrites its read-only files.
    pod.run_with_tokens(&[]).assert_success();
}

#[test]
fn api_url_flag_overrides_the_config() {
    let api = StandIn::start(Fixture::standard());
    let pod = Pod::fastly("https://api.invalid").tokens(GOOD_TOKEN, BOOTSTRAP_TOKEN);
    pod.run_with_tokens(&["--api-url", &api.base_url])
        .assert_success();
    assert_eq!(api.request_count("/tokens/self"), 1);
}

#[test]
fn refused_expired_and_under_scoped_tokens_say_what_to_do() {
    let api = StandIn::start(Fixture::standard());
    let cases = [
        (
            UNKNOWN_TOKEN,
            vec![
                "the automation token (fastly_key) was refused by",
                "HTTP 401",
                "Provided credentials are missing or invalid",
            ],
        ),
        (
            EXPIRED_TOKEN,
            vec![
                "the automation token (fastly_key) \"old-loader\" expired at 2020-01-31T12:00:00Z",
            ],
        ),
        (
            UNDER_SCOPED_TOKEN,
            vec![
                "the automation token (fastly_key) \"purger\" has scope \"purge_select\"",
                "needs global:read",
            ],
        ),
    ];
    for (token, expected) in cases {
        let pod = Pod::fastly(&api.base_url).tokens(token, BOOTSTRAP_TOKEN);
        let outcome = pod.run_with_tokens(&[]);
        let line = outcome.error_line();
        for part in expected.iter().chain(&[
            "create an automation token with the global:read scope",
            "fastly_key",
        ]) {
            assert!(line.contains(part), "{part:?} missing from: {line}");
        }
        assert!(
            !pod.path("credentials/api-token").exists()
                && !pod.path("credentials/credentials.json").exists()
        );
    }
}

#[test]
fn an_unreachable_api_names_the_url_and_the_retry() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let pod = Pod::fastly(&url).tokens(GOOD_TOKEN, BOOTSTRAP_TOKEN);
    let outcome = pod.run_with_tokens(&[]);
    let line = outcome.error_line();
    assert!(
        line.contains(&url) && line.contains("will be retried"),
        "{line}"
    );
}

#[test]
fn token_files_are_required_and_must_not_be_empty_in_fastly_mode() {
    let api = StandIn::start(Fixture::standard());
    let pod = Pod::fastly(&api.base_url);
    let line = pod.run(&[]).error_line().to_owned();
    assert!(line.contains("--fastly-key-file is required"), "{line}");
    let pod = pod.tokens(" \n", BOOTSTRAP_TOKEN);
    let line = pod.run_with_tokens(&[]).error_line().to_owned();
    assert!(
        line.contains("the automation token (fastly_key)") && line.contains("fastly-key is empty"),
        "{line}"
    );
    std::fs::remove_file(pod.path("tokens/bootstrap-token")).unwrap();
    std::fs::write(pod.path("tokens/fastly-key"), GOOD_TOKEN).unwrap();
    let line = pod.run_with_tokens(&[]).error_line().to_owned();
    assert!(
        line.contains("the bootstrap token (bootstrap.token)") && line.contains("bootstrap-token"),
        "{line}"
    );
    assert_eq!(
        api.request_count("/tokens/self"),
        0,
        "nothing is sent before both tokens are read"
    );
}

#[test]
fn offline_mode_needs_no_token() {
    let pod = Pod::new(
        "controlPlane: {mode: offline}\nservices:\n- name: shop\n  domains: [shop.example]\n  package: {oci: 'oci://registry.example/shop:1'}\n",
    );
    pod.run(&[]).assert_success();
    let creds: serde_json::Value =
        serde_json::from_str(&pod.read("credentials/credentials.json")).unwrap();
    assert_eq!(
        (creds["mode"].as_str(), &creds["api_url"]),
        (Some("offline"), &serde_json::Value::Null)
    );
    assert_eq!(pod.mode("credentials/credentials.json"), 0o400);
    assert!(!pod.path("credentials/api-token").exists());
    // Token files given anyway are ignored, not read.
    let pod = pod.tokens(UNKNOWN_TOKEN, BOOTSTRAP_TOKEN);
    let outcome = pod.run_with_tokens(&[]);
    outcome.assert_success();
    assert!(
        outcome.stderr.contains("token files are ignored"),
        "{}",
        outcome.stderr
    );
    // Captured through a pipe, as a pod's log is: no colour codes.
    assert!(
        !outcome.stderr.contains('\x1b'),
        "ANSI escapes in a piped log: {:?}",
        outcome.stderr
    );
}

#[test]
fn offline_mode_refuses_services_from_the_api() {
    let pod = Pod::new(
        "controlPlane: {mode: offline}\nservices:\n- name: shop\n  domains: [shop.example]\n  package: {fastlyServiceId: SU1Z0isxPaozGVKXdv0eY}\n",
    );
    let line = pod.run(&[]).error_line().to_owned();
    assert!(
        line.contains("\"shop\" uses package.fastlyServiceId")
            && line.contains("package.oci or package.url"),
        "{line}"
    );
}

#[test]
fn a_broken_edge_yaml_is_named_with_line_and_column() {
    let pod = Pod::new("controlPlane:\n  mode: fastly\n  pollSeconds: often\n");
    let line = pod.run(&[]).error_line().to_owned();
    let expected = format!("error: {}:3:16: ", pod.path("edge.yaml").display());
    assert!(line.starts_with(&expected), "{line}");
}
