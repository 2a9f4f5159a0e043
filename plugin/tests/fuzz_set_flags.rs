//! Fuzzes the `--set` and `--set-string` parser and what follows it
//! (writing the assignments into the values, the checks, redaction, every
//! report), on flag arguments mutated from samples and from the validate
//! corpus. An input is one argument a line: even lines go to `--set`, odd
//! ones to `--set-string`. No input may panic, take more than 2 s, or get a
//! token printed.
//!
//! `cargo test` runs it for 5 s. For a longer run, or to repeat one:
//!
//! ```sh
//! FUZZ_SECONDS=600 cargo test -p helm-anywhere --test fuzz_set_flags -- --nocapture
//! FUZZ_SEED=1234 cargo test -p helm-anywhere --test fuzz_set_flags -- --nocapture
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
use helm_anywhere::merge::apply_set;
use helm_anywhere::set_flags::parse_set;
use helm_anywhere::source::Origin;
use helm_anywhere::validate::ValidateRequest;
use helm_anywhere::yaml::Node;

fn seeds() -> Vec<Vec<u8>> {
    [
        "edgeStack.replicas=3",
        "edgeStack.cpuFootprint=2.5,edgeStack.replicas=abc\nobservability.metrics.enabled=true",
        "edgeStack.replica=3,image.pullpolicy=Always",
        "services[0].name=a,services[0].domains={a.example,b.example},services[0].package.oci=ghcr.io/a/b:1",
        r"podAnnotations.a\.b=x\,y,podLabels.team=edge",
        "bootstrap.token=Zq8Xv3KpLm2Wn7Rb,fastly_key=Hd4Yt9QcNs6Ej1Uf",
        "fastly_key={Hd4Yt9QcNs6Ej1Uf,Zq8Xv3KpLm2Wn7Rb}\nbootstrap.token=Zq8Xv3KpLm2Wn7Rb",
        "cached.capacity=80%,cached.volumeClaim.requests.storage=32Gi",
        "limits.wallTime=1m,limits.cpuTime=50ms\ncontrolPlane.mode=offline",
        "existingSecret.name=tokens,provider=ack",
        "services[2].backends[1].url=https://origin.example,services[2].backends[1].name=o",
        "a=null,b=true,c=007,d=,e=-5,f=1e3",
    ]
    .map(|s| s.as_bytes().to_vec())
    .to_vec()
}

fn words() -> Vec<String> {
    [
        "=",
        ",",
        ".",
        "[",
        "]",
        "{",
        "}",
        "\\",
        "\\,",
        "\\.",
        "[0]",
        "[65536]",
        "[65537]",
        "[-1]",
        "[18446744073709551616]",
        "services[0].",
        "edgeStack.replicas=",
        "bootstrap.token=",
        "fastly_key=",
        "null",
        "true",
        "Zq8Xv3KpLm2Wn7Rb",
    ]
    .map(String::from)
    .to_vec()
}

/// One set of flags through the parser alone, then the whole validation.
fn check(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    let args: Vec<&str> = text.split('\n').collect();
    let mut root = Node::empty_map(Origin {
        source: 0,
        line: 1,
        col: 1,
        len: 0,
    });
    let mut parsed = true;
    for (i, arg) in args.iter().enumerate() {
        match parse_set(arg, i, i % 2 == 1) {
            Ok(assignments) => assignments
                .into_iter()
                .for_each(|a| apply_set(&mut root, a)),
            Err(_) => parsed = false,
        }
    }
    let _ = root.to_json();
    let request = ValidateRequest {
        sets: args.iter().step_by(2).map(|s| (*s).to_owned()).collect(),
        set_strings: args
            .iter()
            .skip(1)
            .step_by(2)
            .map(|s| (*s).to_owned())
            .collect(),
        ..Default::default()
    };
    validate_and_report(&request, "") && parsed
}

#[test]
fn fuzz_set_flags() {
    fuzz(Target {
        name: "set_flags",
        seeds: seeds(),
        dictionary: words(),
        max_len: 16 << 10,
        run: check,
    });
}

/// Inputs the fuzzer found, each named after what it broke.
mod regressions {
    use super::check;
    use helm_anywhere::validate::{ValidateRequest, validate_with};

    #[test]
    fn list_index_65536_padded_65537_findings() {
        let input = "services[2].backends[65536][1].url=htt\\ps://origin.example,services[2].backends[1].nam1.7976931348623157e308e=o";
        check(input.as_bytes());
        let request = ValidateRequest {
            sets: vec![input.into()],
            ..Default::default()
        };
        let outcome = validate_with(&request, &mut |_| Ok(String::new())).unwrap();
        assert!(outcome.findings.len() < 20, "{}", outcome.findings.len());
    }

    #[test]
    fn key_five_thousand_levels_deep_overflowed_the_stack() {
        check(format!("edgeSa{}=3", ".a".repeat(5_000)).as_bytes());
    }
}
