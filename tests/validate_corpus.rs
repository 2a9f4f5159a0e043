//! The corpus of bad values in tests/validate/cases: each case's exact
//! `helm anywhere validate` output and exit code (golden files), and, for
//! every schema error it reports, the proof that real Helm 3 and 4 reject
//! the same values for the same key.
//!
//! A case is a directory with `values.yaml`, an optional `args` file (one
//! argument per line; default `-f values.yaml`) and `expected.txt`. Rewrite
//! the golden files with `UPDATE_GOLDEN=1 cargo test -p e2e --test validate_corpus`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use e2e::{chart, helms, isolated_helm, plugin_binary, repo, run, text};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn cases() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(repo().join("tests/validate/cases"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn args(case: &Path) -> Vec<String> {
    match std::fs::read_to_string(case.join("args")) {
        Ok(text) => text
            .lines()
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect(),
        Err(_) => vec!["-f".into(), "values.yaml".into()],
    }
}

fn validate(case: &Path, extra: &[&str]) -> (String, i32) {
    let out = run(Command::new(plugin_binary())
        .current_dir(case)
        .arg("validate")
        .args(args(case))
        .args(extra));
    let (stdout, stderr) = text(&out);
    assert!(stderr.is_empty(), "{}: stderr: {stderr}", case.display());
    (stdout, out.status.code().unwrap_or(-1))
}

#[test]
fn corpus_is_large_enough() {
    assert!(
        cases().len() >= 25,
        "the issue asks for at least 25 distinct bad values files"
    );
}

#[test]
fn every_case_matches_its_golden_output() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut mismatched = Vec::new();
    for case in cases() {
        let (stdout, code) = validate(&case, &[]);
        let actual = format!("{stdout}[exit {code}]\n");
        let golden = case.join("expected.txt");
        if update {
            std::fs::write(&golden, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&golden).unwrap_or_default();
        if expected != actual {
            mismatched.push(format!("--- {}\n{actual}", case.display()));
        }
        assert_eq!(code, 1, "{}: every corpus case is invalid", case.display());
    }
    assert!(
        mismatched.is_empty(),
        "golden output differs (UPDATE_GOLDEN=1 rewrites):\n{}",
        mismatched.join("\n")
    );
}

#[test]
fn json_and_sarif_agree_with_text() {
    for case in cases() {
        let (json, code) = validate(&case, &["-o", "json"]);
        assert_eq!(code, 1);
        let report: Value = serde_json::from_str(&json).unwrap();
        let (sarif, _) = validate(&case, &["-o", "sarif"]);
        let sarif: Value = serde_json::from_str(&sarif).unwrap();
        assert_eq!(sarif["version"], "2.1.0");
        let results = sarif["runs"][0]["results"].as_array().unwrap();
        let findings = report["findings"].as_array().unwrap();
        assert_eq!(results.len(), findings.len(), "{}", case.display());
        for (r, f) in results.iter().zip(findings) {
            assert_eq!(r["ruleId"], f["code"]);
            if let Some(file) = f["location"]["file"].as_str() {
                let region = &r["locations"][0]["physicalLocation"];
                assert_eq!(region["artifactLocation"]["uri"], file);
                assert_eq!(region["region"]["startLine"], f["location"]["line"]);
            }
        }
        let (text_out, _) = validate(&case, &[]);
        assert!(
            text_out.contains(&format!("invalid: {} error", report["errors"])),
            "{}",
            case.display()
        );
    }
}

/// How Helm 3 (`- a.b.c:` / `Additional property k`) and Helm 4
/// (`at '/a/b/c'` / `additional properties 'k'`) name a key.
fn helm_names(path: &str, pointer: &str, unknown_key: Option<&str>) -> Vec<String> {
    match unknown_key {
        Some(k) => vec![
            format!("Additional property {k} is not allowed"),
            format!("'{k}'"),
        ],
        None => vec![format!("- {path}:"), format!("at '{pointer}'")],
    }
}

#[test]
fn helm_rejects_every_schema_error_validate_reports() {
    let mut checked = 0;
    for case in cases() {
        let (json, _) = validate(&case, &["-o", "json"]);
        let report: Value = serde_json::from_str(&json).unwrap();
        let schema_errors: Vec<&Value> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| {
                f["code"].as_str().unwrap().starts_with("E01") && f["code"] != "E0106"
                    || f["code"] == "E0106"
            })
            .collect();
        // Helm reads a file as values only; GitOps manifests are checked
        // by validate alone.
        let text_in = std::fs::read_to_string(case.join("values.yaml")).unwrap_or_default();
        if schema_errors.is_empty()
            || text_in.contains("\nkind: Application")
            || text_in.contains("\nkind: HelmRelease")
        {
            continue;
        }
        for (label, helm) in helms() {
            let home = tempfile::tempdir().unwrap();
            let out = run(isolated_helm(&helm, home.path())
                .current_dir(&case)
                .args(["template", "fastly-anywhere"])
                .arg(chart())
                .args(args(&case)));
            let (_, stderr) = text(&out);
            assert!(!out.status.success(), "{label} accepted {}", case.display());
            assert!(
                stderr.contains("don't meet the specifications of the schema"),
                "{label} {}: {stderr}",
                case.display()
            );
            for f in &schema_errors {
                let path = f["path"].as_str().unwrap_or_default();
                if f["code"] == "E0105" {
                    let key = f["message"].as_str().unwrap().split('`').nth(1).unwrap();
                    let names = [
                        format!("{key} is required"),
                        format!("missing property '{key}'"),
                    ];
                    assert!(
                        names.iter().any(|n| stderr.contains(n)),
                        "{label} does not report missing {key} for {}:\n{stderr}",
                        case.display()
                    );
                    checked += 1;
                    continue;
                }
                let unknown = (f["code"] == "E0100").then(|| {
                    path.rsplit(['.', ']'])
                        .next()
                        .unwrap()
                        .trim_matches(['[', '"'])
                });
                let dotted = path.replace('[', ".").replace(']', "");
                let pointer = format!("/{}", dotted.replace('.', "/"));
                let names = helm_names(&dotted, &pointer, unknown);
                assert!(
                    names.iter().any(|n| stderr.contains(n)),
                    "{label} does not report {path} ({names:?}) for {}:\n{stderr}",
                    case.display()
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked > 20,
        "only {checked} schema errors were cross-checked"
    );
}

#[test]
fn warnings_pass_unless_strict() {
    let dir = tempfile::tempdir().unwrap();
    // Inline tokens are allowed, with a warning each (W0303).
    std::fs::write(
        dir.path().join("values.yaml"),
        "bootstrap:\n  token: abc\nfastly_key: def\n",
    )
    .unwrap();
    let status = |extra: &[&str]| {
        let out = run(Command::new(plugin_binary())
            .current_dir(dir.path())
            .args(["validate", "-f", "values.yaml"])
            .args(extra));
        let (stdout, _) = text(&out);
        assert!(
            stdout.ends_with("valid: 0 errors, 2 warnings\n"),
            "{stdout}"
        );
        out.status.code()
    };
    assert_eq!(status(&[]), Some(0));
    assert_eq!(status(&["--strict"]), Some(1));
}
