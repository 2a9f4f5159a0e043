//! A real Rust Compute program (crate `fastly` 0.9.4, built by
//! tests/guests/build-rust from tests/guests/rust/core-cache) under
//! `anywhere serve`: the Core Cache (`fastly::cache::core` transactions),
//! `purge_surrogate_key`, and a TTL override on a backend send that makes
//! the readthrough cache keep what the origin's headers forbid.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bytes::Bytes;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use support::*;

/// A Rust guest built by `tests/guests/build-rust`.
fn rust_guest(name: &str) -> PathBuf {
    let path = root().join("target/guests").join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: run tests/guests/build-rust first (scripts/test does)",
        path.display()
    );
    path
}

/// An origin on loopback that counts requests by path and answers each
/// with a 200, `Cache-Control: private` (which forbids storing it without
/// an override) and a body naming the path and the request's number.
#[derive(Clone, Default)]
struct Origin {
    counts: Arc<Mutex<HashMap<String, usize>>>,
}

impl Origin {
    async fn start() -> (Origin, SocketAddr) {
        let origin = Origin::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let o = origin.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let o = o.clone();
                let svc =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let o = o.clone();
                        async move { Ok::<_, std::convert::Infallible>(o.respond(&req)) }
                    });
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        (origin, addr)
    }

    fn respond<B>(&self, req: &http::Request<B>) -> http::Response<http_body_util::Full<Bytes>> {
        let path = req.uri().path().to_owned();
        let n = {
            let mut counts = self.counts.lock().unwrap();
            let n = counts.entry(path.clone()).or_default();
            *n += 1;
            *n
        };
        http::Response::builder()
            .status(200)
            .header("cache-control", "private")
            .body(http_body_util::Full::new(Bytes::from(format!(
                "origin body for {path} #{n}"
            ))))
            .unwrap()
    }

    fn count(&self, path: &str) -> usize {
        self.counts.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

/// `anywhere serve core-cache.wasm` with backend `origin` pointing at a
/// fresh [`Origin`].
async fn core_cache() -> (Server, Origin, tempfile::TempDir) {
    let (origin, addr) = Origin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("fastly.toml");
    std::fs::write(
        &manifest,
        format!(
            "manifest_version = 3\nname = \"core-cache\"\nlanguage = \"rust\"\n\n\
             [local_server.backends.origin]\nurl = \"http://{addr}\"\n"
        ),
    )
    .unwrap();
    let server = serve(&rust_guest("core-cache"), Some(&manifest), &[]);
    (server, origin, dir)
}

fn header<'a>(r: &'a Resp, name: &str) -> &'a str {
    r.headers
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

#[tokio::test(flavor = "multi_thread")]
async fn core_cache_transactions_and_surrogate_key_purge() {
    let (s, _origin, _dir) = core_cache().await;

    // (a) A miss inserts; the next lookup finds the same body.
    let first = get(s.addr, "/core/a").await;
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(header(&first, "x-core"), "miss", "{first:?}");
    assert!(first.body.starts_with("value-of-a-"), "{first:?}");
    let second = get(s.addr, "/core/a").await;
    assert_eq!(second.status, 200, "{second:?}");
    assert_eq!(header(&second, "x-core"), "hit", "{second:?}");
    assert_eq!(second.body, first.body, "the Core Cache kept the body");
    let hits: u64 = header(&second, "x-core-hits").parse().unwrap_or_else(|_| {
        panic!("x-core-hits is a count: {second:?}");
    });
    assert!(hits >= 1, "{second:?}");

    // (b) Another key is another item.
    let b = get(s.addr, "/core/b").await;
    assert_eq!(header(&b, "x-core"), "miss", "{b:?}");
    assert!(b.body.starts_with("value-of-b-"), "{b:?}");
    assert_ne!(b.body, first.body);

    // (c) Purging a's surrogate key removes a, and only a.
    let purged = send(s.addr, "POST", "/purge/grp-a", "app.example", &[], "").await;
    assert_eq!(purged.status, 200, "{purged:?}");
    let again = get(s.addr, "/core/a").await;
    assert_eq!(header(&again, "x-core"), "miss", "purged: {again:?}");
    assert!(again.body.starts_with("value-of-a-"), "{again:?}");
    assert_ne!(again.body, first.body, "a new body after the purge");
    let b_again = get(s.addr, "/core/b").await;
    assert_eq!(header(&b_again, "x-core"), "hit", "{b_again:?}");
    assert_eq!(b_again.body, b.body);
    let a_cached = get(s.addr, "/core/a").await;
    assert_eq!(header(&a_cached, "x-core"), "hit", "{a_cached:?}");
    assert_eq!(a_cached.body, again.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ttl_override_caches_what_headers_forbid() {
    let (s, origin, _dir) = core_cache().await;

    // The control: without an override `Cache-Control: private` is not
    // stored, so every request reaches the origin.
    for i in 1..=3 {
        let r = get(s.addr, "/plain/y").await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.body, format!("origin body for /y #{i}"), "{r:?}");
    }
    assert_eq!(origin.count("/y"), 3);

    // (d) With `set_ttl(60)` the first response is stored for 60 s and the
    // next four are hits.
    for i in 1..=5 {
        let r = get(s.addr, "/proxy/x").await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.body, "origin body for /x #1", "request {i}: {r:?}");
        let expected = if i == 1 { "MISS" } else { "HIT" };
        assert_eq!(header(&r, "x-cache"), expected, "request {i}: {r:?}");
    }
    assert_eq!(origin.count("/x"), 1, "the TTL override made it cacheable");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rust_program_reads_the_platforms_variables() {
    let (s, _origin, _dir) = core_cache().await;
    let vars = |body: &str| -> HashMap<String, String> {
        body.lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    };
    let first = vars(&get(s.addr, "/env").await.body);
    assert_eq!(first.len(), 9, "{first:?}");
    assert_eq!(first["FASTLY_HOSTNAME"], "localhost");
    assert_eq!(first["FASTLY_SERVICE_VERSION"], "0");
    assert_eq!(first["FASTLY_IS_STAGING"], "0");
    assert_eq!(first["FASTLY_CACHE_GENERATION"], "0");
    let second = vars(&get(s.addr, "/env").await.body);
    let trace =
        |v: &HashMap<String, String>| u128::from_str_radix(&v["FASTLY_TRACE_ID"], 16).unwrap();
    assert!(trace(&second) > trace(&first), "{first:?} then {second:?}");
}
