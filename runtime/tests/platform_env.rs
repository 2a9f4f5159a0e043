//! What the platform tells a real JS program (built with
//! @fastly/js-compute): the `FASTLY_*` variables (`fastly:env`) with the
//! local tool's conventions under `anywhere serve`, the POP's values and
//! the service's ids under `anywhere edge`, the cache generation following
//! purge-alls; the client's TLS facts the Ingress forwarded; and backend
//! health from the checks in values.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

#[path = "support/edge_process.rs"]
mod edge_process;

use edge_process::{Edge, EdgeSpec};
use support::*;

fn is_hex32(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_gives_the_local_tools_values() {
    let s = serve(&js_guest("conformance"), None, &[]);
    let first = get(s.addr, "/env").await;
    assert_eq!(first.status, 200, "{}", first.body);
    let a = first.json();
    assert_eq!(a["FASTLY_HOSTNAME"], "localhost");
    assert_eq!(a["FASTLY_IS_STAGING"], "0");
    assert_eq!(a["FASTLY_SERVICE_VERSION"], "0");
    assert_eq!(a["FASTLY_SERVICE_ID"], "0000000000000000000000");
    assert_eq!(a["FASTLY_CUSTOMER_ID"], "0000000000000000000000");
    assert_eq!(a["FASTLY_CACHE_GENERATION"], "0");
    assert_eq!(a["FASTLY_POP"], "XXX");
    assert_eq!(a["FASTLY_REGION"], "Somewhere");
    let b = get(s.addr, "/env").await.json();
    let (ta, tb) = (
        a["FASTLY_TRACE_ID"].as_str().unwrap(),
        b["FASTLY_TRACE_ID"].as_str().unwrap(),
    );
    assert!(is_hex32(ta) && is_hex32(tb), "{ta} {tb}");
    let (na, nb) = (
        u128::from_str_radix(ta, 16).unwrap(),
        u128::from_str_radix(tb, 16).unwrap(),
    );
    assert!(nb > na, "trace ids count up: {ta} then {tb}");
}

fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .unwrap()
                .trim()
                .to_owned()
        })
}

fn purge_all(edge: &Edge, service: &str) {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(edge.purge).unwrap();
    write!(
        c,
        "POST /service/{service}/purge_all HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    c.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[test]
fn edge_gives_the_pops_values_ids_forwarded_tls_and_backend_health() {
    let wasm = js_guest("conformance");
    // An origin for the health checks: 200 everywhere but /missing (404).
    let rt = tokio::runtime::Runtime::new().unwrap();
    let origin = rt.block_on(start_origin());
    let service = format!(
        "{{name: shop, domains: [shop.example], package: {{oci: test/shop:1}}, backends: [\
         {{name: up, url: 'http://{origin}', healthCheck: {{path: /up, interval: 100ms, initial: 0, window: 2, threshold: 1}}}}, \
         {{name: down, url: 'http://{origin}', healthCheck: {{path: /missing, interval: 100ms}}}}, \
         {{name: plain, url: 'http://{origin}'}}]}}"
    );
    let edge = Edge::start(EdgeSpec {
        edge_yaml: concat!(
            "pop: { name: AMS, region: Europe, customerId: c0ffee }\n",
            "limits: { cpuTime: 1s }\n",
            "clientAddress: { trustedProxies: [127.0.0.0/8], tlsHeaders: ",
            "{ protocol: X-TLS-Protocol, cipher: X-TLS-Cipher, ja3Md5: X-JA3, ja4: X-JA4 } }\n",
            "egress: { allowedCidrs: [127.0.0.0/8] }\n",
        ),
        guest: wasm.to_str().unwrap(),
        service: &service,
        netns: None,
        args: &[],
    });
    let env = |edge: &Edge| {
        let (status, text) = edge_process::get(edge.http, "/env", "shop.example", &[]);
        assert_eq!(status, 200, "{text}");
        let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
        // A chunked answer: the JSON is the one line starting with `{`.
        let json = body.lines().find(|l| l.starts_with('{')).unwrap();
        serde_json::from_str::<serde_json::Value>(json).unwrap()
    };
    let a = env(&edge);
    assert_eq!(a["FASTLY_POP"], "AMS");
    assert_eq!(a["FASTLY_REGION"], "Europe");
    assert_eq!(a["FASTLY_CUSTOMER_ID"], "c0ffee");
    assert_eq!(a["FASTLY_IS_STAGING"], "0");
    assert_eq!(a["FASTLY_HOSTNAME"], host_name());
    let id = a["FASTLY_SERVICE_ID"].as_str().unwrap();
    assert_eq!(id.len(), 22);
    assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()) && id != "0".repeat(22));
    let version: u64 = a["FASTLY_SERVICE_VERSION"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(version > 0, "a version derived from the version id");
    assert_eq!(a["FASTLY_CACHE_GENERATION"], "0");
    let b = env(&edge);
    let (ta, tb) = (
        a["FASTLY_TRACE_ID"].as_str().unwrap(),
        b["FASTLY_TRACE_ID"].as_str().unwrap(),
    );
    assert!(is_hex32(ta) && is_hex32(tb) && ta != tb, "{ta} {tb}");
    assert_eq!(b["FASTLY_SERVICE_ID"], id, "the same service, the same id");

    purge_all(&edge, "shop");
    purge_all(&edge, "shop");
    assert_eq!(env(&edge)["FASTLY_CACHE_GENERATION"], "2");

    // TLS ends at the Ingress, which forwards what it saw; the program
    // reads it through the SDK and never sees the headers themselves.
    let (status, text) = edge_process::get(
        edge.http,
        "/tls",
        "shop.example",
        &[
            ("x-tls-protocol", "TLSv1.3"),
            ("x-tls-cipher", "TLS_AES_256_GCM_SHA384"),
            ("x-ja3", "e7d705a3286e19ea42f587b344ee6865"),
            ("x-ja4", "t13d1516h2_8daaf6152771_b186095e22b6"),
        ],
    );
    assert_eq!(status, 200, "{text}");
    let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
    let json = body.lines().find(|l| l.starts_with('{')).unwrap();
    let tls: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(tls["protocol"], "TLSv1.3");
    assert_eq!(tls["cipher"], "TLS_AES_256_GCM_SHA384");
    // The SDK prints the 16 bytes in capitals.
    assert_eq!(
        tls["ja3"].as_str().map(str::to_ascii_lowercase).as_deref(),
        Some("e7d705a3286e19ea42f587b344ee6865")
    );
    assert_eq!(tls["ja4"], "t13d1516h2_8daaf6152771_b186095e22b6");
    assert_eq!(tls["forwardedHeader"], serde_json::Value::Null);

    // Health checks: the probed origin answers 200 on /up and 404 on
    // /missing; the unchecked backend stays unknown.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let health = loop {
        let (status, text) = edge_process::get(
            edge.http,
            "/health?backends=up,down,plain",
            "shop.example",
            &[],
        );
        assert_eq!(status, 200, "{text}");
        let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
        let json = body.lines().find(|l| l.starts_with('{')).unwrap();
        let health: serde_json::Value = serde_json::from_str(json).unwrap();
        if health["up"] == "healthy" && health["down"] == "unhealthy" {
            break health;
        }
        assert!(std::time::Instant::now() < deadline, "{health}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(health["plain"], "unknown", "{health}");
}

#[test]
fn a_rust_program_under_the_edge_reads_the_same_variables() {
    let wasm = root().join("target/guests/core-cache.wasm");
    assert!(wasm.is_file(), "run tests/guests/build-rust");
    let edge = Edge::start(EdgeSpec {
        edge_yaml: "pop: { name: FRA, region: Europe }\n",
        guest: wasm.to_str().unwrap(),
        service: "{name: rusty, domains: [rusty.example], package: {oci: test/rusty:1}}",
        netns: None,
        args: &[],
    });
    let (status, text) = edge_process::get(edge.http, "/env", "rusty.example", &[]);
    assert_eq!(status, 200, "{text}");
    let vars: std::collections::HashMap<&str, &str> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| k.starts_with("FASTLY_"))
        .collect();
    assert_eq!(vars.len(), 9, "{text}");
    assert_eq!(vars["FASTLY_POP"], "FRA");
    assert_eq!(vars["FASTLY_REGION"], "Europe");
    assert_eq!(vars["FASTLY_HOSTNAME"], host_name());
    assert_eq!(vars["FASTLY_CUSTOMER_ID"], "0".repeat(22));
    assert!(is_hex32(vars["FASTLY_TRACE_ID"]), "{text}");
    assert!(vars["FASTLY_SERVICE_VERSION"].parse::<u64>().unwrap() > 0);
}
