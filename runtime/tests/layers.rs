//! The runtime's layers point one way (see the crate's top doc):
//!
//! ```text
//! subcommands (edge, serve) → server → engine → abi → host → config
//! ```
//!
//! Crate-level utilities (`limits`, `metrics`, `package`) may be used by
//! every layer and use nothing above `config`. Subcommands never reach into
//! one another. This test reads every source file and fails on a `crate::`
//! path that points up or sideways, naming the file and line.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

/// A module's rank: a file may name modules of its own rank or lower.
fn rank(module: &str) -> Option<u8> {
    Some(match module {
        "config" => 0,
        "limits" | "metrics" | "otlp" | "package" | "xqd" | "peers" | "fastly_api" | "cache" => 1,
        "host" => 2,
        "abi" => 3,
        "engine" => 4,
        "server" => 5,
        "edge" | "local" | "bootstrap" | "loader" | "agent" | "probe" => 6,
        _ => return None,
    })
}

/// The top module a source file belongs to (`src/abi/req.rs` → `abi`).
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    Some(first.trim_end_matches(".rs").to_owned())
}

/// Upward or sideways `crate::` paths in `text`, a file of `module`.
fn violations(module: &str, text: &str) -> Vec<(usize, String)> {
    let Some(own) = rank(module) else {
        return Vec::new(); // lib.rs, main.rs: the top, composes everything
    };
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        for (at, _) in code.match_indices("crate::") {
            let target: String = code[at + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let Some(theirs) = rank(&target) else {
                continue;
            };
            let sideways_subcommand = own == 6 && theirs == 6 && target != module;
            if theirs > own || sideways_subcommand {
                found.push((n + 1, format!("{module} → {target}: {}", line.trim())));
            }
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir)
        .expect("readable source dir")
        .flatten()
    {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_source_file_imports_upward() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(
        files.len() > 40,
        "found only {} files under {src:?}",
        files.len()
    );
    let mut report = Vec::new();
    for file in &files {
        let module = top_module(&src, file).expect("a file under src");
        let text = std::fs::read_to_string(file).expect("readable source");
        for (line, what) in violations(&module, &text) {
            report.push(format!("{}:{line}: {what}", file.display()));
        }
    }
    assert!(
        report.is_empty(),
        "imports against the layering (server → engine → abi → host → config):\n{}",
        report.join("\n")
    );
}

#[test]
fn the_check_catches_upward_and_sideways_paths() {
    assert_eq!(
        violations("host", "use crate::engine::EPOCH_TICK;").len(),
        1
    );
    assert_eq!(
        violations("engine", "use crate::server::metrics::Metrics;").len(),
        1
    );
    assert_eq!(violations("local", "crate::edge::run()").len(), 1);
    assert_eq!(violations("metrics", "use crate::host::Session;").len(), 1);
    assert!(violations("abi", "use crate::host::session::Session; // crate::engine").is_empty());
    assert!(violations("engine", "use crate::abi::state::GuestState;").is_empty());
    assert!(violations("edge", "use crate::server::front;").is_empty());
}
