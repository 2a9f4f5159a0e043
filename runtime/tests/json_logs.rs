//! The runtime's own log lines in a pod: JSON objects, one per line, with no
//! terminal colour codes, and every line about a request carrying the trace
//! id its program saw as `FASTLY_TRACE_ID` (a real JS program built with
//! @fastly/js-compute answers its environment on /env).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(viceroy, ignore = "the runtime's own logs: nothing to compare")]
async fn request_logs_are_json_with_the_programs_trace_id() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = dir.path().join("stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_anywhere"))
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--log-level",
            "anywhere=debug",
        ])
        .arg("--cache-dir")
        .arg(module_cache())
        .arg(js_guest("conformance"))
        .stdout(Stdio::piped())
        // A file, not a terminal: `--log-format auto` must choose JSON.
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .rsplit("http://")
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("serve did not start: {line:?}"));
    let env = get(addr, "/env").await;
    assert_eq!(env.status, 200, "{}", env.body);
    let trace_id = env.json()["FASTLY_TRACE_ID"].as_str().unwrap().to_owned();

    // The request's closing line names the same id.
    let deadline = Instant::now() + Duration::from_secs(10);
    let done = loop {
        let text = std::fs::read_to_string(&stderr).unwrap();
        let found = text
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l)
                    .unwrap_or_else(|e| panic!("not a JSON line ({e}): {l:?}"))
            })
            .find(|v| v["message"] == "request done");
        if let Some(v) = found {
            assert!(!text.contains('\u{1b}'), "colour codes in a file:\n{text}");
            break v;
        }
        assert!(
            Instant::now() < deadline,
            "no `request done` line in:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(done["trace_id"], trace_id.as_str(), "{done}");
    assert_eq!(done["outcome"], "completed", "{done}");
    assert_eq!(done["level"], "DEBUG", "{done}");
    assert!(done["timestamp"].is_string(), "{done}");
}
