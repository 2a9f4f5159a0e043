//! `anywhere run` as the test runner of programs built for wasm: a Go test
//! binary (`GOOS=wasip1 go test -c`, hostcalls declared by hand) and a Rust
//! one (`cargo test` with the `fastly` crate) run their tests against the
//! hostcalls and the `[local_server]` of their fastly.toml, and report pass
//! and fail through the exit status; `go test -exec` drives it as Go's own
//! runner does. The binaries come from tests/guests/build-go and
//! tests/guests/build-rust.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};
use support::*;

fn guest(file: &str) -> PathBuf {
    let path = root().join("target/guests").join(file);
    assert!(
        path.is_file(),
        "{} is missing: run tests/guests/build-go and tests/guests/build-rust",
        path.display()
    );
    path
}

/// `anywhere run ARGS…`: its status, stdout and stderr.
fn run(args: &[&str]) -> (i32, String, String) {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_anywhere"))
        .arg("run")
        .arg("--cache-dir")
        .arg(module_cache())
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_go_test_binary_passes_and_fails_through_the_exit_status() {
    let wasm = guest("go-sdk-tests.wasm");
    let toml = guest("go-sdk-tests.fastly.toml");
    let (w, t) = (wasm.to_str().unwrap(), toml.to_str().unwrap());
    // As `go test -exec` calls its runner: the binary, then its flags.
    let (code, out, err) = run(&["-C", t, w, "-test.v"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let passed = out.lines().filter(|l| l.starts_with("--- PASS")).count();
    assert!(passed >= 12, "{passed} tests passed:\n{out}");
    assert!(out.trim_end().ends_with("PASS"), "{out}");

    let (code, out, _) = run(&[
        "-C",
        t,
        w,
        "-test.run",
        "TestFailsOnPurpose",
        "-fail-on-purpose",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("--- FAIL: TestFailsOnPurpose"), "{out}");

    // The limits of a request apply, and the runner says which one fired.
    let (code, _, err) = run(&["--cpu-time-ms", "2", "-C", t, w]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("CPU time limit of 2 ms"), "{err}");
}

#[test]
fn a_rust_test_binary_passes_and_fails_through_the_exit_status() {
    let wasm = guest("rust-sdk-tests.wasm");
    let toml = guest("rust-sdk-tests.fastly.toml");
    let (w, t) = (wasm.to_str().unwrap(), toml.to_str().unwrap());
    // As Cargo calls a target runner set to `anywhere run -C fastly.toml --`.
    let (code, out, err) = run(&["-C", t, "--", w]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("test result: ok. 13 passed"), "{out}");

    let (code, out, err) = run(&["-C", t, "--", w, "--ignored", "fails_on_purpose"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("test failed"), "the panic's message: {err}");
    assert!(err.contains("wasm trap"), "a panic aborts: {err}");
}

#[test]
fn go_test_exec_uses_anywhere_as_its_runner() {
    // The real workflow: `go test -exec "anywhere run -C fastly.toml"` in
    // the package, with Go's own wasip1 target.
    let dir = tempfile::tempdir().unwrap();
    let src = root().join("tests/guests/go");
    for entry in std::fs::read_dir(&src).unwrap().flatten() {
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    let runner = format!(
        "{} run -C {}",
        env!("CARGO_BIN_EXE_anywhere"),
        dir.path().join("fastly.toml").display()
    );
    let go = |extra: &[&str]| {
        let out = Command::new("go")
            .args(["test", "-count=1", "-exec", &runner, "."])
            .args(extra)
            .current_dir(dir.path())
            .env("GOOS", "wasip1")
            .env("GOARCH", "wasm")
            .env("GOTOOLCHAIN", "local")
            .env("GOFLAGS", "-mod=mod")
            .env("GOWORK", "off")
            .output()
            .expect("go is on PATH (Go 1.21 or later builds the wasip1 guest)");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (ok, text) = go(&[]);
    assert!(ok, "{text}");
    assert!(text.starts_with("ok"), "{text}");
    let (ok, text) = go(&["-run", "TestFailsOnPurpose", "-args", "-fail-on-purpose"]);
    assert!(!ok, "{text}");
    assert!(text.contains("--- FAIL: TestFailsOnPurpose"), "{text}");
}
