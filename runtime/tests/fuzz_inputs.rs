//! Fuzzes what the runtime reads from outside: Compute packages (`.tar.gz`
//! from a registry, a URL or the Fastly API), `fastly.toml` and `edge.yaml`,
//! with the in-tree fuzzer of values-schema (no nightly, no instrumented
//! build). No input may panic or take more than 2 s.
//!
//! `cargo test` runs each target for 5 s. For a longer run, or to repeat
//! one:
//!
//! ```sh
//! FUZZ_SECONDS=600 cargo test -p anywhere --test fuzz_inputs -- --nocapture
//! FUZZ_SEED=1234 cargo test -p anywhere --test fuzz_inputs -- --nocapture
//! ```
//!
//! A failure prints the input as a Rust byte string: add it to the
//! regressions below, named after what broke, and fix the code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../values-schema/tests/fuzz_support/mod.rs"]
mod fuzz_support;

use fuzz_support::{Target, fuzz};
use std::io::Write;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A file of its own for each fuzzing thread's current input.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz-inputs");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{name}-{:?}", std::thread::current().id()))
}

/// A package as the Fastly CLI makes it: `<name>/fastly.toml` and
/// `<name>/bin/main.wasm`, as an uncompressed tar.
fn package_tar(wasm: &[u8], toml: &[u8]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data) in [("app/fastly.toml", toml), ("app/bin/main.wasm", wasm)] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, path, data).unwrap();
    }
    builder.into_inner().unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// Reads `bytes` as a package file named `name`; true when it was accepted.
fn read_as_package(bytes: &[u8], name: &str) -> bool {
    let path = scratch(name);
    std::fs::write(&path, bytes).unwrap();
    anywhere::package::read_package(&path, None, 4 << 20).is_ok()
}

fn hello_wasm() -> Vec<u8> {
    wat::parse_file(repo().join("tests/guests/wat/hello.wat")).unwrap()
}

fn fastly_tomls() -> Vec<Vec<u8>> {
    [
        "examples/compute/fastly.toml",
        "tests/guests/js/conformance/fastly.toml",
    ]
    .iter()
    .map(|p| std::fs::read(repo().join(p)).unwrap())
    .collect()
}

#[test]
fn packages_mutated_inside_the_tar() {
    let wasm = hello_wasm();
    let seeds = fastly_tomls()
        .iter()
        .map(|toml| package_tar(&wasm, toml))
        .collect();
    fuzz(Target {
        name: "package-tar",
        seeds,
        dictionary: [
            "././@LongLink",
            "ustar",
            "00000000",
            "app/bin/main.wasm",
            "pax",
        ]
        .map(String::from)
        .to_vec(),
        max_len: 1 << 20,
        run: |tar| read_as_package(&gzip(tar), "package.tar.gz"),
    });
}

#[test]
fn packages_mutated_after_compression() {
    let wasm = hello_wasm();
    let seeds = fastly_tomls()
        .iter()
        .map(|toml| gzip(&package_tar(&wasm, toml)))
        .collect();
    fuzz(Target {
        name: "package-gz",
        seeds,
        dictionary: Vec::new(),
        max_len: 1 << 20,
        run: |gz| read_as_package(gz, "package.tar.gz"),
    });
}

#[test]
fn fastly_toml() {
    fuzz(Target {
        name: "fastly-toml",
        seeds: fastly_tomls(),
        dictionary: [
            "[local_server.backends.x]",
            "url = \"http://[::1]:0\"",
            "[[local_server.kv_stores.s]]",
            "format = \"json\"",
            "file = \"/etc/passwd\"",
            "inline-toml",
            "manifest_version = 99",
        ]
        .map(String::from)
        .to_vec(),
        max_len: 64 << 10,
        run: |text| {
            let text = String::from_utf8_lossy(text);
            anywhere::config::parse_fastly_toml(Path::new("fastly.toml"), &text).is_ok()
        },
    });
}

#[test]
fn edge_yaml() {
    let seeds = vec![
        b"services: []\nlimits:\n  cpuTime: 1s\negress:\n  allowedCidrs: [127.0.0.0/8]\n".to_vec(),
        std::fs::read(repo().join("examples/values-offline.yaml")).unwrap(),
    ];
    fuzz(Target {
        name: "edge-yaml",
        seeds,
        dictionary: [
            "services:",
            "limits:",
            "egress:",
            "deniedCidrs:",
            "clientAddress:",
            "0.0.0.0/0",
        ]
        .map(String::from)
        .to_vec(),
        max_len: 64 << 10,
        run: |text| {
            let path = scratch("edge.yaml");
            std::fs::write(&path, text).unwrap();
            anywhere::edge::read_edge_file(&path).is_ok()
        },
    });
}

/// Inputs that once broke a reader.
#[test]
fn regressions() {
    // A GNU long-name entry claiming 256 MiB inside a small archive.
    let mut header = tar::Header::new_gnu();
    header.set_path("././@LongLink").unwrap();
    header.set_entry_type(tar::EntryType::GNULongName);
    header.set_size(256 << 20);
    header.set_cksum();
    let mut tar = header.as_bytes().to_vec();
    tar.extend(std::iter::repeat_n(b'a', 300 << 10));
    assert!(!read_as_package(&gzip(&tar), "regression.tar.gz"));
}
