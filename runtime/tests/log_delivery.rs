//! Real-time log delivery through `anywhere edge`: the lines a program
//! writes to a syslog endpoint declared in the edge's configuration reach a
//! receiver over TCP as RFC 5424 messages, one per write, and the edge's
//! metrics count them; a service's own endpoint replaces the POP-wide one of
//! the same name; lines still queued at SIGTERM leave before the edge exits.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

#[path = "support/edge_process.rs"]
mod edge_process;

use edge_process::{Edge, EdgeSpec, get};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// Messages of an octet-counted stream (`LEN SP MSG`, repeated) that are
/// complete in `data`.
fn frames(data: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(space) = rest.iter().position(|&b| b == b' ') {
        let len: usize = std::str::from_utf8(&rest[..space])
            .unwrap()
            .parse()
            .unwrap();
        if rest.len() < space + 1 + len {
            break;
        }
        out.push(String::from_utf8_lossy(&rest[space + 1..space + 1 + len]).into_owned());
        rest = &rest[space + 1 + len..];
    }
    out
}

#[test]
#[cfg_attr(viceroy, ignore = "`anywhere edge` has no Viceroy counterpart")]
fn program_log_lines_reach_a_syslog_receiver_and_are_counted() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let edge_yaml = format!(
        "observability:\n  logEndpoints:\n    - {{name: audit, type: syslog, url: \"tcp://127.0.0.1:{port}\"}}\n"
    );
    let edge = Edge::start(EdgeSpec {
        edge_yaml: &edge_yaml,
        guest: "log-lines",
        service: "{name: shop, domains: [shop.example], package: {oci: test/shop:1}}",
        netns: None,
        args: &[],
    });
    for _ in 0..3 {
        assert_eq!(get(edge.http, "/", "shop.example", &[]).0, 200);
    }
    // The admin port's /status names the service, its state and version.
    let (code, status) = get(edge.admin, "/status", "x", &[]);
    assert_eq!(code, 200, "{status}");
    let doc: serde_json::Value =
        serde_json::from_str(status.split("\r\n\r\n").nth(1).unwrap_or(&status))
            .unwrap_or_else(|e| panic!("{e}: {status}"));
    assert_eq!(doc["ready"], true, "{doc}");
    assert_eq!(doc["services"][0]["name"], "shop", "{doc}");
    assert_eq!(doc["services"][0]["state"], "serving", "{doc}");
    assert!(doc["services"][0]["version"].is_string(), "{doc}");
    let (mut conn, _) = listener.accept().unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut data = Vec::new();
    while frames(&data).len() < 3 {
        let mut buf = [0u8; 4096];
        let n = conn
            .read(&mut buf)
            .expect("the edge sent fewer than 3 messages");
        assert!(n > 0, "the edge closed the connection");
        data.extend_from_slice(&buf[..n]);
    }
    let messages = frames(&data);
    assert_eq!(messages.len(), 3, "{messages:?}");
    for m in &messages {
        assert!(m.starts_with("<14>1 "), "{m}");
        // Service as APP-NAME, endpoint as MSGID; the newline inside the
        // program's line is written as `\n`, never as a second message.
        assert!(m.ends_with(" shop - audit - request seen\\nforged"), "{m}");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, metrics) = get(edge.admin, "/metrics", "x", &[]);
        if metrics.contains(r#"anywhere_log_lines_sent_total{service="shop",kind="audit"} 3"#) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no sent count of 3 in:\n{metrics}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Accepts one HTTP POST on `listener` (within 10 s) and answers 200; its
/// body, gunzipped.
fn receive_post(listener: &TcpListener) -> String {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let conn = loop {
        match listener.accept() {
            Ok((conn, _)) => break conn,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "no log batch was posted");
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("accept: {e}"),
        }
    };
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(conn);
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
        if line == "\r\n" || line.is_empty() {
            break;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    reader
        .get_mut()
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_string(&mut text)
        .unwrap();
    text
}

#[test]
#[cfg_attr(viceroy, ignore = "`anywhere edge` has no Viceroy counterpart")]
fn a_service_endpoint_replaces_the_pop_one_and_sigterm_flushes_its_queue() {
    let collector = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = collector.local_addr().unwrap().port();
    // Nobody listens on the POP-wide endpoint's port: lines sent there
    // would be lost, so the collector sees them only if the service's own
    // endpoint won.
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let edge_yaml = format!(
        "observability:\n  logEndpoints:\n    - {{name: audit, type: syslog, url: \"tcp://127.0.0.1:{dead}\"}}\n"
    );
    let service = format!(
        "{{name: shop, domains: [shop.example], package: {{oci: test/shop:1}}, logEndpoints: [{{name: audit, type: https, url: \"http://127.0.0.1:{port}/logs\"}}]}}"
    );
    let mut edge = Edge::start(EdgeSpec {
        edge_yaml: &edge_yaml,
        guest: "log-lines",
        service: &service,
        netns: None,
        args: &["--drain-delay-seconds", "0", "--grace-seconds", "5"],
    });
    assert_eq!(get(edge.http, "/", "shop.example", &[]).0, 200);
    // At once: the line waits in its batch (250 ms) when SIGTERM arrives.
    edge.terminate();
    let body = receive_post(&collector);
    assert_eq!(body, "request seen\\nforged\n");
    assert!(edge.wait_exit(Duration::from_secs(10)).success());
}
