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

/// `anywhere serve` of the JS conformance program with `args`, its stderr
/// to `stderr`; the process and the trace id its first `/env` answer saw.
async fn serve_and_trace(args: &[&str], stderr: Stdio) -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_anywhere"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .args(args)
        .arg("--cache-dir")
        .arg(module_cache())
        .arg(js_guest("conformance"))
        .stdout(Stdio::piped())
        .stderr(stderr)
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
    (child, trace_id)
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(viceroy, ignore = "the runtime's own logs: nothing to compare")]
async fn request_logs_are_json_with_the_programs_trace_id() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = dir.path().join("stderr");
    // A file, not a terminal: `--log-format auto` must choose JSON.
    let file = std::fs::File::create(&stderr).unwrap();
    let (mut child, trace_id) =
        serve_and_trace(&["--log-level", "anywhere=debug"], Stdio::from(file)).await;

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

/// A collector on loopback: each POST's path and body go down the channel.
fn collector() -> (String, std::sync::mpsc::Receiver<(String, String)>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let mut reader = BufReader::new(conn);
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = reader
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}");
            let path = request_line.split(' ').nth(1).unwrap_or("").to_owned();
            let _ = tx.send((path, String::from_utf8_lossy(&body).into_owned()));
        }
    });
    (url, rx)
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(viceroy, ignore = "the runtime's own spans: nothing to compare")]
async fn request_spans_reach_an_otlp_collector_with_the_programs_trace_id() {
    let (url, posts) = collector();
    let (mut child, trace_id) = serve_and_trace(&["--otlp-endpoint", &url], Stdio::null()).await;
    let (path, body) = posts
        .recv_timeout(Duration::from_secs(10))
        .expect("no spans were exported");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(path, "/v1/traces");
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    let resource = &doc["resourceSpans"][0];
    assert!(body.contains("\"service.name\""), "{body}");
    let span = &resource["scopeSpans"][0]["spans"][0];
    assert_eq!(span["traceId"], trace_id.as_str(), "{body}");
    assert_eq!(span["name"], "request", "{body}");
    assert_eq!(span["spanId"].as_str().unwrap().len(), 16, "{body}");
    let start: u128 = span["startTimeUnixNano"].as_str().unwrap().parse().unwrap();
    let end: u128 = span["endTimeUnixNano"].as_str().unwrap().parse().unwrap();
    assert!(end >= start, "{body}");
    let service = span["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == "service")
        .unwrap_or_else(|| panic!("no service attribute: {body}"));
    assert_eq!(service["value"]["stringValue"], "conformance", "{body}");
}
