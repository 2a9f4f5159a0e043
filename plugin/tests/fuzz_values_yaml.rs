//! Fuzzes the plugin's positioned YAML parser and everything `validate`
//! does after it (GitOps manifests, merging over the chart's defaults, the
//! checks, redaction, the text, JSON and SARIF reports), on values files
//! mutated from the chart's `values.yaml`, the examples and the validate
//! corpus. No input may panic, take more than 2 s, or get a token printed.
//!
//! `cargo test` runs it for 5 s. For a longer run, or to repeat one:
//!
//! ```sh
//! FUZZ_SECONDS=600 cargo test -p helm-anywhere --test fuzz_values_yaml -- --nocapture
//! FUZZ_SEED=1234 cargo test -p helm-anywhere --test fuzz_values_yaml -- --nocapture
//! ```
//!
//! A failure prints the input as a Rust byte string: add it to
//! `regressions` below, named after what broke, and fix the code. The
//! mutator is values-schema's (`values-schema/tests/fuzz_support`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod fuzz_common;
#[path = "../../values-schema/tests/fuzz_support/mod.rs"]
mod fuzz_support;

use fuzz_common::validate_and_report;
use fuzz_support::{Target, fuzz};
use helm_anywhere::validate::ValidateRequest;
use helm_anywhere::yaml::parse_documents;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The YAML files of the repository that hold values, and values with
/// tokens inline, so that redaction is fuzzed too.
fn seeds() -> Vec<Vec<u8>> {
    let mut files = vec![repo().join("charts/fastly-anywhere/values.yaml")];
    for dir in ["examples", "tests/validate/cases"] {
        for entry in std::fs::read_dir(repo().join(dir)).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                files.push(path.join("values.yaml"));
            } else if path.extension().is_some_and(|e| e == "yaml") {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut seeds: Vec<Vec<u8>> = files
        .into_iter()
        .filter_map(|f| std::fs::read(f).ok())
        .collect();
    seeds.extend(
        [
            "bootstrap:\n  token: Zq8Xv3KpLm2Wn7Rb\nfastly_key: \"Hd4Yt9QcNs6Ej1Uf\"\n",
            "bootstrap: {token: Zq8Xv3KpLm2Wn7Rb, extra: 1}\nfastly_key: 'Hd4Yt9QcNs6Ej1Uf' # c\nfastlyKey: Hd4Yt9QcNs6Ej1Uf\n",
            "t: &t Zq8Xv3KpLm2Wn7Rb\nbootstrap:\n  token: *t\nfastly_key: |\n  Hd4Yt9QcNs6Ej1Uf\n",
        ]
        .map(|s| s.as_bytes().to_vec()),
    );
    seeds
}

fn words() -> Vec<String> {
    [
        "edgeStack:",
        "replicas: ",
        "memoryFootprint: ",
        "cpuFootprint: ",
        "services:",
        "- name: ",
        "domains: ",
        "package:",
        "bootstrap:",
        "token: ",
        "fastly_key: ",
        "existingSecret:",
        "name: ",
        "controlPlane:",
        "mode: offline",
        "provider: ack",
        "cached:",
        "capacity: ",
        "volumeClaim:",
        "storageClassName: ",
        "limits:",
        "wallTime: ",
        "apiVersion: argoproj.io/v1alpha1\n",
        "kind: Application\n",
        "kind: HelmRelease\n",
        "spec:",
        "values:",
        "valuesObject:",
        "helm:",
        "source:",
        "Zq8Xv3KpLm2Wn7Rb",
        "<BOOTSTRAP TOKEN>",
    ]
    .map(String::from)
    .to_vec()
}

/// One values file through the parser alone, then the whole validation.
fn check(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    let _ = parse_documents(&text, 0);
    let request = ValidateRequest {
        files: vec!["values.yaml".into()],
        ..Default::default()
    };
    validate_and_report(&request, &text)
}

#[test]
fn fuzz_values_yaml() {
    fuzz(Target {
        name: "values_yaml",
        seeds: seeds(),
        dictionary: words(),
        max_len: 16 << 10,
        run: check,
    });
}

/// Inputs the fuzzer found, each named after what it broke.
mod regressions {
    use super::check;

    #[test]
    fn ten_thousand_nested_sequences_overflowed_the_stack() {
        check(format!("a:\n  {}x\n", "- ".repeat(10_000)).as_bytes());
    }

    #[test]
    fn alias_bomb_asked_for_gigabytes() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..=9 {
            let prev = format!("*a{}", i - 1);
            text.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(", ")));
        }
        check(text.as_bytes());
    }
}
