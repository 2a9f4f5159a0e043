//! Tokens written in values never reach what the plugin prints: `validate`
//! in text, JSON and SARIF, `render` (its report on invalid values, its
//! manifests and notes on valid ones), `doctor`, and clap's own errors;
//! from values files and from `--set` and `--set-string`. And the Secret
//! manifest `render --secret-file` writes is its owner's only, from the
//! moment it exists, and never written through a symbolic link.
//!
//! Each test is named after the attack it replays.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Tokens no output could contain by chance, even in part.
const BOOTSTRAP: &str = "Zq8Xv3KpLm2Wn7Rb";
const FASTLY_KEY: &str = "Hd4Yt9QcNs6Ej1Uf";

fn plugin(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_helm-anywhere"))
        .current_dir(dir)
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .unwrap()
}

/// Fails when any six characters in a row of either token were printed.
fn assert_no_token(what: &str, out: &Output) {
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for token in [BOOTSTRAP, FASTLY_KEY] {
        for window in token.as_bytes().windows(6) {
            let part = std::str::from_utf8(window).unwrap();
            assert!(
                !printed.contains(part),
                "{what}: `{part}` of a token was printed:\n{printed}"
            );
        }
    }
    assert!(!printed.is_empty(), "{what}: printed nothing");
}

/// Values that hold both tokens inline, one of them quoted again under a
/// key of its own, with mistakes around them so that every kind of finding
/// is printed: an unknown key on the token's line, a wrong type.
fn values_with_tokens() -> String {
    format!(
        "edgeStack:\n  replicas: three\nbootstrap: {{token: {BOOTSTRAP}, extra: 1}}\nfastly_key: \"{FASTLY_KEY}\"\nfastlyKey: {FASTLY_KEY}\n"
    )
}

/// A directory of its own under the target directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir() -> TempDir {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "secrets-never-printed-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

fn work_dir() -> TempDir {
    let dir = tempdir();
    std::fs::write(dir.path().join("values.yaml"), values_with_tokens()).unwrap();
    dir
}

#[test]
fn token_in_values_file_under_every_output_format() {
    let dir = work_dir();
    for format in ["text", "json", "sarif"] {
        let out = plugin(
            dir.path(),
            &["validate", "-f", "values.yaml", "--output", format],
        );
        assert_eq!(out.status.code(), Some(1), "{format}");
        assert_no_token(&format!("validate -o {format}"), &out);
    }
    let out = plugin(
        dir.path(),
        &[
            "render",
            "--gitops",
            "argo",
            "--provider",
            "gke",
            "-f",
            "values.yaml",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_no_token("render of invalid values", &out);
}

#[test]
fn token_in_values_is_masked_in_the_excerpt_with_the_underline_on_what_follows() {
    let dir = work_dir();
    let out = plugin(dir.path(), &["validate", "-f", "values.yaml"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The unknown key after the token: its column is the file's, its
    // underline under the key in the redacted line.
    let expected = "\
values.yaml:3:38: error[E0100]: bootstrap.extra: unknown key `extra`
   |
 3 | bootstrap: {token: <redacted>, extra: 1}
   |                                ^^^^^
";
    assert!(stdout.contains(expected), "{stdout}");
    assert!(
        stdout.contains(" 5 | fastlyKey: <redacted>\n"),
        "the token copied under another key: {stdout}"
    );
}

#[test]
fn plain_text_token_warning_shows_the_line_without_the_token() {
    let dir = tempdir();
    std::fs::write(
        dir.path().join("values.yaml"),
        format!("bootstrap:\n  token: {BOOTSTRAP}\nfastly_key: \"{FASTLY_KEY}\" # inline\n"),
    )
    .unwrap();
    for format in ["text", "json", "sarif"] {
        let out = plugin(dir.path(), &["validate", "-f", "values.yaml", "-o", format]);
        assert_eq!(out.status.code(), Some(0), "warnings only");
        assert_no_token(&format!("W0303, -o {format}"), &out);
    }
    let out = plugin(dir.path(), &["validate", "-f", "values.yaml"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "values.yaml:2:10: warning[W0303]: bootstrap.token: the bootstrap token is in plain text",
        " 2 |   token: <redacted>\n   |          ^^^^^^^^^^\n",
        " 3 | fastly_key: <redacted> # inline\n   |             ^^^^^^^^^^\n",
    ] {
        assert!(stdout.contains(expected), "{expected}\n{stdout}");
    }
}

#[test]
fn token_in_set_flags_under_every_output_format() {
    let dir = work_dir();
    std::fs::write(
        dir.path().join("plain.yaml"),
        "edgeStack: {replicas: three}\n",
    )
    .unwrap();
    let bootstrap = format!("bootstrap.token={BOOTSTRAP},edgeStack.cpuFootprint=x");
    let key = format!("fastly_key={FASTLY_KEY}");
    for format in ["text", "json", "sarif"] {
        for flag in ["--set", "--set-string"] {
            let out = plugin(
                dir.path(),
                &[
                    "validate",
                    "-f",
                    "plain.yaml",
                    flag,
                    &bootstrap,
                    flag,
                    &key,
                    "-o",
                    format,
                ],
            );
            assert_eq!(out.status.code(), Some(1), "{flag} -o {format}");
            assert_no_token(&format!("validate {flag} -o {format}"), &out);
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                stdout.contains("bootstrap.token=<redacted>,edgeStack.cpuFootprint=x"),
                "{flag} -o {format}: the argument is shown, the token replaced:\n{stdout}"
            );
        }
    }
    let out = plugin(dir.path(), &["validate", "--set", &bootstrap, "-o", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let location = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "edgeStack.cpuFootprint")
        .map(|f| f["location"].clone())
        .unwrap();
    assert_eq!(
        location,
        serde_json::json!({"flag": "--set", "argument": "bootstrap.token=<redacted>,edgeStack.cpuFootprint=x", "column": 51}),
        "the column is where the value is in the argument shown"
    );
    for command in [
        vec!["validate", "--set", &bootstrap, "--set-string", &key],
        vec![
            "render",
            "--gitops",
            "flux",
            "--provider",
            "ack",
            "--set",
            &bootstrap,
            "--set",
            &key,
        ],
    ] {
        let out = plugin(dir.path(), &command);
        assert_no_token(&command.join(" "), &out);
    }
}

#[test]
fn token_in_values_that_render_accepts() {
    let dir = tempdir();
    std::fs::write(
        dir.path().join("values.yaml"),
        format!("bootstrap: {{token: {BOOTSTRAP}}}\nfastly_key: {FASTLY_KEY}\n"),
    )
    .unwrap();
    for gitops in ["argo", "flux"] {
        let out = plugin(
            dir.path(),
            &[
                "render",
                "--gitops",
                gitops,
                "--provider",
                "generic",
                "-f",
                "values.yaml",
                "--set",
                "edgeStack.replicas=1",
            ],
        );
        assert_no_token(&format!("render --gitops {gitops} (a warning)"), &out);
        let out = plugin(
            dir.path(),
            &[
                "render",
                "--gitops",
                gitops,
                "--provider",
                "gke",
                "-f",
                "values.yaml",
            ],
        );
        assert!(out.status.success(), "{:?}", out);
        assert_no_token(&format!("render --gitops {gitops}"), &out);
    }
}

#[test]
fn token_in_a_file_that_does_not_parse() {
    let dir = tempdir();
    std::fs::write(
        dir.path().join("values.yaml"),
        format!("bootstrap:\n  token: {BOOTSTRAP}\n   fastly_key: \"{FASTLY_KEY}\n"),
    )
    .unwrap();
    for format in ["text", "json", "sarif"] {
        let out = plugin(dir.path(), &["validate", "-f", "values.yaml", "-o", format]);
        assert_eq!(out.status.code(), Some(1), "{format}");
        assert_no_token(&format!("syntax error, -o {format}"), &out);
    }
}

#[test]
fn token_twice_under_one_key() {
    // The first token is overwritten in the tree: only its key gives it away.
    let dir = tempdir();
    std::fs::write(
        dir.path().join("values.yaml"),
        format!("bootstrap: {{token: {BOOTSTRAP}, token: {FASTLY_KEY}}}\n"),
    )
    .unwrap();
    let out = plugin(dir.path(), &["validate", "-f", "values.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert_no_token("duplicate token key", &out);
}

#[test]
fn token_in_a_set_flag_that_does_not_parse() {
    let dir = tempdir();
    for bad in [
        format!("fastly_key={FASTLY_KEY},,"),
        format!("fastly_key={FASTLY_KEY},a[x]=1"),
        format!("bootstrap.token={BOOTSTRAP},edgeStack"),
    ] {
        for format in ["text", "json", "sarif"] {
            let out = plugin(dir.path(), &["validate", "--set", &bad, "-o", format]);
            assert_eq!(out.status.code(), Some(1), "{bad}");
            assert_no_token(&format!("--set {bad} -o {format}"), &out);
        }
    }
}

#[test]
fn token_given_where_clap_rejects_it() {
    let dir = tempdir();
    let key = format!("fastly_key={FASTLY_KEY}");
    for args in [
        vec!["validate", &key],
        vec!["validate", "--set-file", &key],
        vec!["validate", "-o", &key],
    ] {
        let out = plugin(dir.path(), &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_no_token(&format!("{args:?}"), &out);
    }
}

#[test]
fn token_in_values_given_to_doctor() {
    let dir = work_dir();
    std::fs::write(
        dir.path().join("valid.yaml"),
        format!("bootstrap: {{token: {BOOTSTRAP}}}\nfastly_key: {FASTLY_KEY}\n"),
    )
    .unwrap();
    for file in ["values.yaml", "valid.yaml"] {
        let out = plugin(
            dir.path(),
            &["doctor", "-f", file, "--kubeconfig", "/nonexistent/config"],
        );
        assert_eq!(out.status.code(), Some(2), "{file}");
        assert_no_token(&format!("doctor -f {file}"), &out);
    }
}

#[cfg(unix)]
mod secret_file {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn render_with_secret_file(dir: &Path, file: &str) -> Output {
        std::fs::write(
            dir.join("values.yaml"),
            format!("bootstrap: {{token: {BOOTSTRAP}}}\nfastly_key: {FASTLY_KEY}\n"),
        )
        .unwrap();
        plugin(
            dir,
            &[
                "render",
                "--gitops",
                "argo",
                "--provider",
                "gke",
                "-f",
                "values.yaml",
                "--secret-file",
                file,
            ],
        )
    }

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    }

    #[test]
    fn secret_file_is_private_to_its_owner() {
        let dir = tempdir();
        let out = render_with_secret_file(dir.path(), "tokens.yaml");
        assert!(out.status.success(), "{out:?}");
        let path = dir.path().join("tokens.yaml");
        assert_eq!(mode(&path), 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(BOOTSTRAP) && text.contains(FASTLY_KEY));
        // No temporary file left beside it.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn secret_file_replaces_a_world_readable_file() {
        let dir = tempdir();
        let path = dir.path().join("tokens.yaml");
        std::fs::write(&path, "old\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let out = render_with_secret_file(dir.path(), "tokens.yaml");
        assert!(out.status.success(), "{out:?}");
        assert_eq!(mode(&path), 0o600);
        assert!(std::fs::read_to_string(&path).unwrap().contains(BOOTSTRAP));
    }

    #[test]
    fn secret_file_symlink_to_another_file_is_refused() {
        let dir = tempdir();
        let target = dir.path().join("authorized_keys");
        std::fs::write(&target, "ssh-ed25519 AAAA\n").unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join("tokens.yaml")).unwrap();
        let out = render_with_secret_file(dir.path(), "tokens.yaml");
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("symbolic link"),
            "{out:?}"
        );
        assert_eq!(
            std::fs::read_to_string(&target).unwrap(),
            "ssh-ed25519 AAAA\n"
        );
        assert!(
            std::fs::symlink_metadata(dir.path().join("tokens.yaml"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }

    #[test]
    fn secret_file_dangling_symlink_is_refused() {
        let dir = tempdir();
        let target = dir.path().join("elsewhere.yaml");
        std::os::unix::fs::symlink(&target, dir.path().join("tokens.yaml")).unwrap();
        let out = render_with_secret_file(dir.path(), "tokens.yaml");
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        assert!(!target.exists(), "nothing written through the link");
    }
}
