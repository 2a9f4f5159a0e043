//! Shared by the runtime's end-to-end tests: the test guests, a local
//! origin server, `anywhere serve` (or Viceroy, when `VICEROY` names its
//! binary) as a child process, and a small HTTP client.
//!
//! Tests Viceroy cannot run (our limits, `anywhere edge`) must not pass
//! silently in a Viceroy run, and libtest has no way to skip at run time: an
//! early `return` reports "ok". So such a test carries
//! `#[cfg_attr(viceroy, ignore = "why")]`; runtime/build.rs sets
//! `--cfg viceroy` whenever `VICEROY` is set (and cargo rebuilds when it
//! changes), so libtest prints `test NAME ... ignored, why` and counts it
//! under "ignored" in its summary. Without `VICEROY` nothing is ignored.
//! [`viceroy`] refuses to run a test binary built for the other mode.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A JS guest built by `tests/guests/build`.
pub fn js_guest(name: &str) -> PathBuf {
    let path = root().join("target/guests").join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: run tests/guests/build first (scripts/test does)",
        path.display()
    );
    path
}

/// A WAT fixture.
pub fn wat_guest(name: &str) -> PathBuf {
    root().join("tests/guests/wat").join(format!("{name}.wat"))
}

/// Where tests keep precompiled modules between runs.
pub fn module_cache() -> PathBuf {
    root().join("target/guests/modules")
}

/// An answer.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Sends one request to `addr`.
pub async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    host: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Resp {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut req = http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .header("host", host);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(Bytes::from(body.to_owned()))).unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(30), client.request(req))
        .await
        .expect("no answer within 30 s")
        .expect("request failed");
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Resp {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// `GET path` over HTTP/2 with prior knowledge (h2c); answers the status
/// and the HTTP version of the response.
pub async fn get_h2c(addr: SocketAddr, path: &str, host: &str) -> (u16, http::Version, String) {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    let req = http::Request::builder()
        .uri(format!("http://{host}{path}"))
        .version(http::Version::HTTP_2)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let mut req = req;
    *req.uri_mut() = format!("http://{addr}{path}").parse().unwrap();
    req.headers_mut().insert("host", host.parse().unwrap());
    let resp = client.request(req).await.expect("h2c request");
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.status.as_u16(),
        parts.version,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// `GET path` with Host `host`.
pub async fn get(addr: SocketAddr, path: &str) -> Resp {
    send(addr, "GET", path, "app.example", &[], "").await
}

/// An origin on loopback that describes each request it gets.
pub async fn start_origin() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    |req: http::Request<hyper::body::Incoming>| async move {
                        let (parts, body) = req.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|c| c.to_bytes())
                            .unwrap_or_default();
                        let host = parts
                            .headers
                            .get("host")
                            .and_then(|h| h.to_str().ok())
                            .unwrap_or("")
                            .to_owned();
                        let from_guest = parts
                            .headers
                            .get("x-from-guest")
                            .and_then(|h| h.to_str().ok())
                            .unwrap_or("")
                            .to_owned();
                        let framing = |name: &str| {
                            parts
                                .headers
                                .get(name)
                                .and_then(|h| h.to_str().ok())
                                .unwrap_or("-")
                                .to_owned()
                        };
                        let text = if parts.uri.path() == "/framing" {
                            format!(
                                "content-length={} transfer-encoding={} body={}",
                                framing("content-length"),
                                framing("transfer-encoding"),
                                String::from_utf8_lossy(&body)
                            )
                        } else {
                            format!(
                                "origin saw {} {} host={host} x-from-guest={from_guest} body={}",
                                parts.method,
                                parts.uri.path(),
                                String::from_utf8_lossy(&body)
                            )
                        };
                        let gzip = parts.uri.path() == "/gzip";
                        let status = if parts.uri.path() == "/missing" {
                            404
                        } else {
                            200
                        };
                        let mut resp = http::Response::builder()
                            .status(status)
                            .header("x-origin", "yes");
                        let body = if gzip {
                            use std::io::Write as _;
                            let mut enc = flate2::write::GzEncoder::new(
                                Vec::new(),
                                flate2::Compression::default(),
                            );
                            enc.write_all(text.as_bytes()).unwrap();
                            resp = resp.header("content-encoding", "gzip");
                            enc.finish().unwrap()
                        } else {
                            text.into_bytes()
                        };
                        let resp = resp.body(Full::new(Bytes::from(body))).unwrap();
                        Ok::<_, std::convert::Infallible>(resp)
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// A running `anywhere serve` (or Viceroy). Killed on drop.
pub struct Server {
    pub addr: SocketAddr,
    child: Child,
    pub stdout: Arc<Mutex<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Viceroy's binary, when the suite runs against Viceroy instead of us.
pub fn viceroy() -> Option<PathBuf> {
    let viceroy = std::env::var_os("VICEROY").map(PathBuf::from);
    // The set of ignored tests was fixed when this binary was built; a
    // binary built for the other mode would run the wrong set.
    assert_eq!(
        viceroy.is_some(),
        cfg!(viceroy),
        "VICEROY was {} when this test binary was built: run it through `cargo test`, which rebuilds it",
        if cfg!(viceroy) { "set" } else { "unset" }
    );
    viceroy
}

/// Polls `check` every 100 ms until it holds; fails the test after 90 s.
pub async fn wait_for(mut check: impl AsyncFnMut() -> bool, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while std::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

/// A port free on loopback now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `anywhere serve PACKAGE [-C MANIFEST] EXTRA…` and waits for its
/// "Listening on" line.
pub fn serve(package: &Path, manifest: Option<&Path>, extra: &[&str]) -> Server {
    let mut cmd;
    if let Some(v) = viceroy() {
        cmd = Command::new(v);
        cmd.arg(package)
            .arg("--addr")
            .arg(format!("127.0.0.1:{}", free_port()));
    } else {
        cmd = Command::new(env!("CARGO_BIN_EXE_anywhere"));
        cmd.arg("serve")
            .arg(package)
            .arg("--addr")
            .arg("127.0.0.1:0");
        cmd.arg("--cache-dir").arg(module_cache());
        cmd.args(extra);
    }
    if let Some(m) = manifest {
        cmd.arg("-C").arg(m);
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut child = cmd.spawn().expect("start the server");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let log = Arc::new(Mutex::new(String::new()));
    let log2 = log.clone();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("Listening on http://").nth(1)
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(rest.trim().to_owned());
            }
            log2.lock().unwrap().push_str(&format!("{line}\n"));
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(240))
        .expect("the server did not print its address within 240 s");
    Server {
        addr: addr.parse().unwrap(),
        child,
        stdout: log,
    }
}

/// Writes the conformance guest's fastly.toml (from the template in
/// tests/guests/js/conformance) into `dir`, pointing `origin` at `origin`.
pub fn conformance_manifest(dir: &Path, origin: SocketAddr) -> PathBuf {
    let template =
        std::fs::read_to_string(root().join("tests/guests/js/conformance/fastly.toml")).unwrap();
    let text = template.replace("127.0.0.1:ORIGIN_PORT", &origin.to_string());
    let acl = root().join("tests/guests/js/conformance/acl.json");
    std::fs::copy(acl, dir.join("acl.json")).unwrap();
    let path = dir.join("fastly.toml");
    std::fs::write(&path, text).unwrap();
    path
}
