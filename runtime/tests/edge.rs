//! `anywhere edge` as the pod runs it: the versions a loader activated on
//! the xqd volume (activated here through the same library calls), routing
//! by Host, per-service readiness, metrics, hot swap that keeps the old
//! version on a bad package, isolation between services, body limits, and
//! SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

const EDGE_YAML: &str = r#"
services:
  - name: hello
    domains: [hello.example, "*.wild.example"]
    package: { url: "https://packages.example/hello.tar.gz", sha256: "0000000000000000000000000000000000000000000000000000000000000000" }
    configStores: [{ name: settings, items: { greeting: hi } }]
  - name: spin
    domains: [spin.example]
    package: { oci: "oci://registry.example/spin:1" }
  - name: ghost
    domains: [ghost.example]
    package: { oci: "oci://registry.example/ghost:1" }
limits:
  cpuTime: 50ms
  maxRequestBodySize: 1Ki
  clientHeaderTimeout: 1s
observability:
  metrics: { enabled: true, port: 9090 }
"#;

/// What the loader does: stage a version, then switch the pointer.
fn activate(xqd: &Path, service: &str, domains: &[&str], wasm: &[u8]) {
    let xqd = anywhere::xqd::Xqd::new(xqd);
    let staged = xqd.new_staging().unwrap().keep();
    std::fs::write(staged.join("main.wasm"), wasm).unwrap();
    let manifest = anywhere::xqd::ServiceManifest {
        service: serde_yaml::from_str(&format!(
            "{{name: {service}, domains: {domains:?}, package: {{oci: test/{service}:1}}, configStores: [{{name: settings, items: {{greeting: hi}}}}]}}"
        ))
        .unwrap(),
        package_file: "main.wasm".into(),
        package_sha256: sha256_hex(wasm),
        package_bytes: wasm.len() as u64,
        origin: "test".into(),
        fastly_version: None,
    };
    xqd.activate(&staged, &manifest).unwrap();
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn put_wat(xqd: &Path, service: &str, domains: &[&str], wat_text: &str) {
    activate(xqd, service, domains, &wat::parse_str(wat_text).unwrap());
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(viceroy, ignore = "`anywhere edge` has no Viceroy counterpart")]
async fn edge_routes_swaps_and_isolates() {
    let dir = tempfile::tempdir().unwrap();
    let xqd = dir.path().join("xqd");
    let config = dir.path().join("edge.yaml");
    std::fs::write(&config, EDGE_YAML).unwrap();
    let hello = std::fs::read_to_string(wat_guest("hello")).unwrap();
    put_wat(&xqd, "hello", &["hello.example", "*.wild.example"], &hello);
    put_wat(
        &xqd,
        "spin",
        &["spin.example"],
        &std::fs::read_to_string(wat_guest("limits")).unwrap(),
    );
    let admin_port = free_port();
    let admin: std::net::SocketAddr = format!("127.0.0.1:{admin_port}").parse().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_anywhere"))
        .args(["edge", "--purge-addr", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--xqd-dir")
        .arg(&xqd)
        .args([
            "--http-addr",
            "127.0.0.1:0",
            "--admin-addr",
            &admin.to_string(),
            "--poll-seconds",
            "1",
            "--drain-delay-seconds",
            "1",
            "--grace-seconds",
            "5",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let addr: std::net::SocketAddr = line
        .trim()
        .trim_start_matches("Listening on http://")
        .parse()
        .unwrap();

    wait_for(
        async || get(admin, "/readyz").await.status == 200,
        "readiness",
    )
    .await;
    assert_eq!(get(admin, "/healthz").await.status, 200);
    // A declared service the loader never activated is reported (by
    // state; the reason goes to the log), and the pod stays ready for the
    // others.
    let ready = get(admin, "/readyz").await.body;
    assert!(
        ready.contains("ghost: not serving (see the edge's log)")
            && ready.contains("hello: serving"),
        "{ready}"
    );

    // Routing by Host, wildcard domains, unknown domains.
    let r = send(addr, "GET", "/", "hello.example", &[], "").await;
    assert_eq!(r.body, "hello from WAT\n");
    let r = send(addr, "GET", "/", "a.wild.example:8080", &[], "").await;
    assert_eq!(r.body, "hello from WAT\n");
    let r = send(addr, "GET", "/", "nobody.example", &[], "").await;
    assert_eq!(r.status, 500);
    assert!(
        r.body.contains("unknown domain: nobody.example"),
        "{}",
        r.body
    );

    // h2c (HTTP/2 with prior knowledge) too.
    let (status, version, body) = get_h2c(addr, "/", "hello.example").await;
    assert_eq!(
        (status, version, body.as_str()),
        (200, http::Version::HTTP_2, "hello from WAT\n")
    );

    // A client that never finishes its headers is cut off.
    let started = Instant::now();
    let mut slow = std::net::TcpStream::connect(addr).unwrap();
    std::io::Write::write_all(&mut slow, b"GET / HTTP/1.1\r\nHost: hello.example\r\n").unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = Vec::new();
    let _ = std::io::Read::read_to_end(&mut slow, &mut buf);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the slow client was kept {:?}",
        started.elapsed()
    );

    // A loop in one service, a healthy neighbour in another.
    let loops: Vec<_> = (0..4)
        .map(|_| {
            tokio::spawn(async move {
                send(addr, "GET", "/l", "spin.example", &[], "")
                    .await
                    .status
            })
        })
        .collect();
    let healthy: Vec<_> = (0..40)
        .map(|_| {
            tokio::spawn(async move {
                send(addr, "GET", "/", "hello.example", &[], "")
                    .await
                    .status
            })
        })
        .collect();
    for h in healthy {
        assert_eq!(h.await.unwrap(), 200);
    }
    for l in loops {
        assert_eq!(l.await.unwrap(), 500);
    }

    // Body limit.
    let r = send(addr, "POST", "/", "hello.example", &[], &"x".repeat(2048)).await;
    assert_eq!(r.status, 413);

    // A bad package leaves the old version serving and is reported.
    activate(
        &xqd,
        "hello",
        &["hello.example", "*.wild.example"],
        b"\0asm garbage",
    );
    wait_for(
        async || {
            get(admin, "/metrics")
                .await
                .body
                .contains("anywhere_package_loads_total{service=\"hello\",kind=\"failed\"} 1")
        },
        "the failed load",
    )
    .await;
    assert_eq!(
        send(addr, "GET", "/", "hello.example", &[], "").await.body,
        "hello from WAT\n"
    );
    let ready = get(admin, "/readyz").await;
    assert_eq!(ready.status, 200);
    // Reported by state: the load error (paths, program output) is for
    // the log, not for whoever reaches the admin port.
    assert!(
        ready.body.contains("hello: serving older")
            && ready
                .body
                .contains("a newer version was refused (see the edge's log)")
            && !ready.body.contains("refused:")
            && !ready.body.contains(&xqd.display().to_string()),
        "{}",
        ready.body
    );

    // A good one replaces it.
    put_wat(
        &xqd,
        "hello",
        &["hello.example", "*.wild.example"],
        &hello
            .replace("hello from WAT\\n", "hello from v2\\n")
            .replace("(i32.const 15)", "(i32.const 14)"),
    );
    wait_for(
        async || send(addr, "GET", "/", "hello.example", &[], "").await.body == "hello from v2\n",
        "version 2",
    )
    .await;

    let metrics = get(admin, "/metrics").await.body;
    assert!(
        metrics.contains("anywhere_requests_total{service=\"hello\",status=\"200\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("anywhere_guest_limit_kills_total{service=\"spin\",kind=\"cpu\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("anywhere_instantiation_duration_seconds_bucket"),
        "{metrics}"
    );

    // SIGTERM: stop accepting, exit cleanly.
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "edge did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
}

#[test]
fn a_bad_edge_yaml_names_the_file_and_place() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("edge.yaml");
    std::fs::write(&config, "services:\n  - name: x\n    domainz: [a]\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_anywhere"))
        .args(["edge", "--purge-addr", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--xqd-dir")
        .arg(dir.path())
        .args(["--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("edge.yaml:3:") && err.contains("domainz"),
        "{err}"
    );
}
