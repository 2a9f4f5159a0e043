//! Real-time log delivery through `anywhere edge`: the lines a program
//! writes to a syslog endpoint declared in the edge's configuration reach a
//! receiver over TCP as RFC 5424 messages, one per write, and the edge's
//! metrics count them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

#[path = "support/edge_process.rs"]
mod edge_process;

use edge_process::{Edge, EdgeSpec, get};
use std::io::Read;
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
