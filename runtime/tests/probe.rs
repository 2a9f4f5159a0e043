//! `anywhere probe`, the binary, against small HTTP servers on loopback that
//! play the replicas' admin ports and the h2o Service.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Serves `answer(request, n)` (n counts requests from 0) on a loopback port.
async fn server<F>(answer: F) -> SocketAddr
where
    F: Fn(&Request<Incoming>, usize) -> (u16, &'static str) + Send + Sync + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let answer = Arc::new(answer);
    let count = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let answer = answer.clone();
            let count = count.clone();
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let (status, body) = answer(&req, count.fetch_add(1, Ordering::SeqCst));
                let response = Response::builder()
                    .status(status)
                    .body(Full::new(Bytes::from_static(body.as_bytes())))
                    .unwrap();
                async move { Ok::<_, std::convert::Infallible>(response) }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    addr
}

fn ready() -> impl Fn(&Request<Incoming>, usize) -> (u16, &'static str) {
    |_, _| (200, "ready\n2 services")
}

/// The h2o Service: answers only for www.example.com.
fn service() -> impl Fn(&Request<Incoming>, usize) -> (u16, &'static str) {
    |req, _| match req.headers().get("host").and_then(|h| h.to_str().ok()) {
        Some("www.example.com") => (200, "hello from Compute"),
        _ => (404, "no service for this Host"),
    }
}

fn readyz(addr: SocketAddr) -> String {
    format!("--readyz=http://{addr}/readyz")
}

/// Runs `anywhere probe ARGS` on a blocking thread (the servers keep
/// running on the test's runtime).
async fn probe(args: Vec<String>) -> (Output, Duration) {
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_anywhere"))
            .arg("probe")
            .args(&args)
            .output()
            .unwrap();
        (out, started.elapsed())
    })
    .await
    .unwrap()
}

/// The one `error:` line of a failed run.
fn error_line(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "exactly one error line in\n{stderr}");
    errors[0].to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn all_ready_and_the_service_answers_exit_0() {
    let a = server(ready()).await;
    let b = server(ready()).await;
    let svc = server(service()).await;
    let (out, _) = probe(vec![
        readyz(a),
        readyz(b),
        format!("--url=http://{svc}/"),
        "--host=www.example.com".into(),
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            format!("ok replica http://{a}/readyz: 200 OK: ready"),
            format!("ok replica http://{b}/readyz: 200 OK: ready"),
            format!(
                "ok request through the Service http://{svc}/ with Host www.example.com: 200 OK: hello from Compute"
            ),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn one_replica_not_ready_fails_naming_it() {
    let a = server(ready()).await;
    let b = server(|_, _| (503, "not ready: starting\nservice x: compiling")).await;
    let (out, took) = probe(vec![readyz(a), readyz(b), "--timeout-seconds=2".into()]).await;
    let line = error_line(&out);
    assert!(
        line.starts_with(&format!(
            "error: replica http://{b}/readyz: 503 Service Unavailable: not ready: starting (still failing after"
        )),
        "{line}"
    );
    assert!(!line.contains(&a.to_string()), "{line}");
    assert!(took < Duration::from_secs(8), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_turning_ready_during_the_wait_passes() {
    let a = server(|_, n| {
        if n < 2 {
            (503, "not ready: starting")
        } else {
            (200, "ready")
        }
    })
    .await;
    let (out, _) = probe(vec![readyz(a), "--timeout-seconds=20".into()]).await;
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not passing yet"),
        "retries are logged: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_502_through_the_service_fails() {
    let a = server(ready()).await;
    let svc = server(|_, _| (502, "origin unreachable")).await;
    let (out, took) = probe(vec![
        readyz(a),
        format!("--url=http://{svc}/"),
        "--host=www.example.com".into(),
        "--timeout-seconds=2".into(),
    ])
    .await;
    let line = error_line(&out);
    assert!(
        line.starts_with(&format!(
            "error: request through the Service http://{svc}/ with Host www.example.com: 502 Bad Gateway: origin unreachable"
        )),
        "{line}"
    );
    assert!(took < Duration::from_secs(8), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_host_fails() {
    let svc = server(service()).await;
    let (out, _) = probe(vec![
        format!("--url=http://{svc}/"),
        "--host=wrong.example.com".into(),
        "--timeout-seconds=2".into(),
    ])
    .await;
    let line = error_line(&out);
    assert!(
        line.contains("with Host wrong.example.com: 404 Not Found: no service for this Host"),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_nobody_listens_on_names_the_connection_error() {
    let free = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (out, took) = probe(vec![readyz(free), "--timeout-seconds=2".into()]).await;
    let line = error_line(&out);
    assert!(
        line.contains(&format!("replica http://{free}/readyz: ")),
        "{line}"
    );
    assert!(line.to_lowercase().contains("connection refused"), "{line}");
    assert!(took < Duration::from_secs(8), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn flags_are_checked() {
    // --url needs --host (clap's usage error, exit 2).
    let (out, _) = probe(vec!["--url=http://127.0.0.1:1/".into()]).await;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--host"));
    // Only http://.
    let (out, _) = probe(vec!["--readyz=https://pop-0:9090/readyz".into()]).await;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("https is not supported"));
    // Nothing to check.
    let (out, _) = probe(vec![]).await;
    assert!(error_line(&out).contains("nothing to check"));
    // --help.
    let (out, _) = probe(vec!["--help".into()]).await;
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--readyz",
        "--url",
        "--host",
        "--timeout-seconds",
        "[default: 60]",
    ] {
        assert!(help.contains(flag), "{flag} missing in\n{help}");
    }
}
