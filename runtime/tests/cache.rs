//! The HTTP cache against a local origin that counts its requests: each
//! freshness rule, Vary, 304 revalidation, stale-while-revalidate,
//! stale-if-error, ranges, purges, collapsing and surviving a restart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/origin.rs"]
mod origin;

use anywhere::cache::freshness::Overrides;
use anywhere::cache::key::Key;
use anywhere::cache::purge::PurgeTarget;
use anywhere::cache::readthrough::{Origin, OriginBody, OriginFailure, ReadRequest, Served};
use anywhere::cache::{Cache, CacheConfig};
use anywhere::metrics::CacheMetrics;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use origin::{Answer, OriginServer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

fn answer(headers: &[(&'static str, &str)], body: &str) -> Answer {
    Answer::ok(headers, body.to_owned())
}

fn origin(addr: SocketAddr) -> Origin {
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    Arc::new(move |parts: http::request::Parts| {
        let client = client.clone();
        Box::pin(async move {
            let uri: http::Uri = format!("http://{addr}{}", parts.uri.path_and_query().unwrap())
                .parse()
                .unwrap();
            let mut req = http::Request::from_parts(parts, Empty::new());
            *req.uri_mut() = uri;
            let resp = client.request(req).await.map_err(|e| OriginFailure {
                code: 7,
                message: e.to_string(),
            })?;
            Ok(resp.map(|b| -> OriginBody { b.map_err(Into::into).boxed_unsync() }))
        })
    })
}

fn get(path: &str, headers: &[(&str, &str)]) -> ReadRequest {
    let mut req = http::Request::get(path).body(()).unwrap();
    for (k, v) in headers {
        req.headers_mut().append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    ReadRequest {
        service: "svc".into(),
        primary: Key::http("svc", b"example.com", path),
        parts: req.into_parts().0,
        overrides: Overrides::default(),
    }
}

/// Status, headers and body of a send through the cache ("PASS" when the
/// cache said to send it ourselves).
async fn send(cache: &Cache, origin: &Origin, req: ReadRequest) -> (u16, http::HeaderMap, Bytes) {
    match cache.readthrough(req, origin.clone()).await.unwrap() {
        Served::Cached(r) => {
            let (p, b) = r.into_parts();
            (
                p.status.as_u16(),
                p.headers,
                b.collect().await.unwrap().to_bytes(),
            )
        }
        Served::Origin(r) => {
            let (p, b) = r.into_parts();
            (
                p.status.as_u16(),
                p.headers,
                b.collect().await.unwrap().to_bytes(),
            )
        }
        Served::Pass(parts) => {
            // What the host does: send it itself, around the cache.
            let (p, b) = origin(*parts).await.unwrap().into_parts();
            let mut headers = p.headers;
            headers.insert("x-test-pass", http::HeaderValue::from_static("1"));
            (
                p.status.as_u16(),
                headers,
                b.collect().await.unwrap().to_bytes(),
            )
        }
    }
}

/// Waits until the objects of `paths` are stored (a fill is served to its
/// waiters before its object is committed).
async fn settle(cache: &Cache, paths: &[&str]) {
    for path in paths {
        let key = Key::http("svc", b"example.com", path);
        let mut tries = 0;
        while cache.lookup(&key).await.is_none() {
            tries += 1;
            assert!(tries < 500, "{path} was never stored");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn header<'a>(h: &'a http::HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_objects_reach_the_origin_once_and_say_hit() {
    let (srv, addr) = OriginServer::start().await;
    let o = origin(addr);
    let cache = Cache::in_memory();
    srv.set("/a", answer(&[("cache-control", "max-age=60")], "hello"));
    let (status, h, body) = send(&cache, &o, get("/a", &[])).await;
    assert_eq!(
        (status, &body[..], header(&h, "x-cache")),
        (200, &b"hello"[..], "MISS")
    );
    // A request that comes before the fill has stored the object shares
    // the fill and says MISS: wait for the store.
    settle(&cache, &["/a"]).await;
    for n in 1..=3 {
        let (_, h, body) = send(&cache, &o, get("/a", &[])).await;
        assert_eq!(&body[..], b"hello");
        assert_eq!(header(&h, "x-cache"), "HIT");
        assert_eq!(header(&h, "x-cache-hits"), n.to_string());
        assert!(h.contains_key("age"));
    }
    assert_eq!(srv.count("/a"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_no_store_set_cookie_and_errors_are_not_stored() {
    let (srv, addr) = OriginServer::start().await;
    let o = origin(addr);
    let cache = Cache::in_memory();
    srv.set(
        "/private",
        answer(&[("cache-control", "private, max-age=60")], "p"),
    );
    srv.set("/nostore", answer(&[("cache-control", "no-store")], "n"));
    srv.set("/cookie", answer(&[("set-cookie", "a=b")], "c"));
    let err = answer(&[], "e").status(500);
    srv.set("/error", err);
    for path in ["/private", "/nostore", "/cookie", "/error"] {
        for _ in 0..3 {
            send(&cache, &o, get(path, &[])).await;
        }
        assert_eq!(srv.count(path), 3, "{path} reached the origin every time");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_misses_make_one_origin_request() {
    let (srv, addr) = OriginServer::start().await;
    let o = origin(addr);
    let cache = Cache::in_memory();
    let slow = answer(&[("cache-control", "max-age=60")], &"x".repeat(100_000))
        .delayed(Duration::from_millis(300));
    srv.set("/hot", slow);
    let mut tasks = Vec::new();
    for _ in 0..1000 {
        let (cache, o) = (cache.clone(), o.clone());
        tasks.push(tokio::spawn(async move {
            send(&cache, &o, get("/hot", &[])).await
        }));
    }
    for t in tasks {
        let (status, _, body) = t.await.unwrap();
        assert_eq!((status, body.len()), (200, 100_000));
    }
    assert_eq!(
        srv.count("/hot"),
        1,
        "one origin request for 1,000 concurrent misses"
    );
    println!(
        "collapsing: 1000 concurrent misses -> {} origin request",
        srv.count("/hot")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vary_keeps_one_object_per_variant() {
    let (srv, addr) = OriginServer::start().await;
    let o = origin(addr);
    let cache = Cache::in_memory();
    srv.set(
        "/v",
        answer(
            &[("cache-control", "max-age=60"), ("vary", "Accept-Encoding")],
            "v",
        ),
    );
    for _ in 0..2 {
        send(&cache, &o, get("/v", &[("accept-encoding", "gzip")])).await;
        send(&cache, &o, get("/v", &[("accept-encoding", "br")])).await;
        send(&cache, &o, get("/v", &[])).await;
    }
    assert_eq!(srv.count("/v"), 3, "three variants, each fetched once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_objects_revalidate_with_their_etag() {
    let (srv, addr) = OriginServer::start().await;
    let o = origin(addr);
    let cache = Cache::in_memory();
    srv.set(
        "/r",
        answer(
            &[("cache-control", "max-age=1"), ("etag", "\"v1\"")],
            "body",
        ),
    );
    send(&cache, &o, get("/r", &[])).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _, body) = send(&cache, &o, get("/r", &[])).await;
    assert_eq!((status, &body[..]), (200, &b"body"[..]));
    assert_eq!(srv.count("/r"), 2);
    let sent = srv.last_headers("/r");
    assert_eq!(
        header(&sent, "if-none-match"),
        "\"v1\"",
        "the refetch was conditional"
    );
    let (_, h, _) = send(&cache, &o, get("/r", &[])).await;
    assert_eq!(
        (header(&h, "x-cache"), srv.count("/r")),
        ("HIT", 2),
        "fresh again after the 304"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_while_revalidate_answers_at_once_and_refreshes_behind() {
    let (srv, addr) = OriginServer::start().await;
    let o = origin(addr);
    let cache = Cache::in_memory();
    srv.set(
        "/swr",
        answer(
            &[("cache-control", "max-age=1, stale-while-revalidate=60")],
            "old",
        ),
    );
    send(&cache, &o, get("/swr", &[])).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let slow =
        answer(&[("cache-control", "max-age=60")], "new").delayed(Duration::from_millis(500));
    srv.set("/swr", slow);
    let started = std::time::Instant::now();
    let (_, h, body) = send(&cache, &o, get("/swr", &[])).await;
    assert_eq!((&body[..], header(&h, "x-cache")), (&b"old"[..], "HIT"));
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "did not wait for the origin"
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (_, _, body) = send(&cache, &o, get("/swr", &[])).await;
    assert_eq!(&body[..], b"new");
    assert_eq!(srv.count("/swr"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_if_error_serves_the_old_object_when_the_origin_fails() {
    let (srv, addr) = OriginServer::start().await;
    let o = origin(addr);
    let cache = Cache::in_memory();
    srv.set(
        "/sie",
        answer(&[("cache-control", "max-age=1, stale-if-error=60")], "kept"),
    );
    send(&cache, &o, get("/sie", &[])).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let broken = answer(&[], "broken").status(503);
    srv.set("/sie", broken);
    let (status, _, body) = send(&cache, &o, get("/sie", &[])).await;
    assert_eq!((status, &body[..]), (200, &b"kept"[..]), "a 503 is masked");
    // The origin down altogether.
    let dead = origin("127.0.0.1:1".parse().unwrap());
    let (status, _, body) = send(&cache, &dead, get("/sie", &[])).await;
    assert_eq!(
        (status, &body[..]),
        (200, &b"kept"[..]),
        "a refused connection is masked"
    );
    // Without stale-if-error the failure shows.
    srv.set("/plain", answer(&[("cache-control", "max-age=1")], "x"));
    send(&cache, &o, get("/plain", &[])).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(cache.readthrough(get("/plain", &[]), dead).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_and_conditions_are_answered_from_the_object() {
    let (srv, addr) = OriginServer::start().await;
    let o = origin(addr);
    let cache = Cache::in_memory();
    srv.set(
        "/range",
        answer(
            &[("cache-control", "max-age=60"), ("etag", "\"e\"")],
            "0123456789",
        ),
    );
    let (status, h, body) = send(&cache, &o, get("/range", &[("range", "bytes=2-5")])).await;
    assert_eq!(
        (status, &body[..], header(&h, "content-range")),
        (206, &b"2345"[..], "bytes 2-5/10")
    );
    let sent = srv.last_headers("/range");
    assert!(
        !sent.contains_key("range"),
        "the origin was asked for the whole object"
    );
    let (status, _, body) = send(&cache, &o, get("/range", &[("range", "bytes=-3")])).await;
    assert_eq!((status, &body[..]), (206, &b"789"[..]));
    let (status, h, _) = send(&cache, &o, get("/range", &[("range", "bytes=20-")])).await;
    assert_eq!((status, header(&h, "content-range")), (416, "bytes */10"));
    let (status, _, body) = send(&cache, &o, get("/range", &[("if-none-match", "\"e\"")])).await;
    assert_eq!((status, body.len()), (304, 0));
    assert_eq!(srv.count("/range"), 1);
}

/// A conditional request that joins a fill still arriving is answered as
/// one that finds the object stored (CI once saw the race as a 200).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conditional_request_joining_a_fill_gets_304() {
    let (srv, addr) = OriginServer::start().await;
    let o = origin(addr);
    let cache = Cache::in_memory();
    let slow = answer(
        &[("cache-control", "max-age=60"), ("etag", "\"s\"")],
        "0123456789",
    );
    srv.set("/slow", slow.paced(1, Duration::from_millis(100)));
    let (first_cache, first_o) = (cache.clone(), o.clone());
    let first = tokio::spawn(async move { send(&first_cache, &first_o, get("/slow", &[])).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, _, body) = send(&cache, &o, get("/slow", &[("if-none-match", "\"s\"")])).await;
    assert_eq!((status, body.len()), (304, 0));
    let (status, _, body) = first.await.unwrap();
    assert_eq!((status, &body[..]), (200, &b"0123456789"[..]));
    assert_eq!(
        srv.count("/slow"),
        1,
        "the conditional request shared the fill"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overrides_pass_and_ttl_are_honoured() {
    let (srv, addr) = OriginServer::start().await;
    let o = origin(addr);
    let cache = Cache::in_memory();
    srv.set("/o", answer(&[("cache-control", "private")], "o"));
    let mut with_ttl = get("/o", &[]);
    with_ttl.overrides.ttl = Some(Duration::from_secs(60));
    send(&cache, &o, with_ttl).await;
    settle(&cache, &["/o"]).await;
    let (_, h, _) = send(&cache, &o, get("/o", &[])).await;
    assert_eq!(
        (header(&h, "x-cache"), srv.count("/o")),
        ("HIT", 1),
        "a TTL override stores a private response"
    );
    let mut pass = get("/o", &[]);
    pass.overrides.pass = true;
    let (_, h, _) = send(&cache, &o, pass).await;
    assert_eq!(
        header(&h, "x-test-pass"),
        "1",
        "a pass goes around the cache"
    );
    assert_eq!(srv.count("/o"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purges_by_surrogate_key_url_and_all() {
    let (srv, addr) = OriginServer::start().await;
    let o = origin(addr);
    let dir = tempfile::tempdir().unwrap();
    let config = CacheConfig {
        dir: Some(dir.path().to_path_buf()),
        ..CacheConfig::default()
    };
    let (cache, _) = Cache::open(&config, CacheMetrics::default()).unwrap();
    srv.set(
        "/k1",
        answer(
            &[
                ("cache-control", "max-age=60"),
                ("surrogate-key", "red blue"),
            ],
            "1",
        ),
    );
    srv.set(
        "/k2",
        answer(
            &[("cache-control", "max-age=60"), ("surrogate-key", "blue")],
            "2",
        ),
    );
    srv.set("/k3", answer(&[("cache-control", "max-age=60")], "3"));
    for p in ["/k1", "/k2", "/k3"] {
        send(&cache, &o, get(p, &[])).await;
    }
    settle(&cache, &["/k1", "/k2", "/k3"]).await;
    assert_eq!(
        cache
            .purge("svc", PurgeTarget::Surrogate("blue".into()), false)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        cache.purge("other", PurgeTarget::All, false).await.unwrap(),
        0,
        "services are apart"
    );
    for p in ["/k1", "/k2", "/k3"] {
        send(&cache, &o, get(p, &[])).await;
    }
    assert_eq!(
        (srv.count("/k1"), srv.count("/k2"), srv.count("/k3")),
        (2, 2, 1)
    );
    settle(&cache, &["/k1", "/k2"]).await;
    let url = Key::http("svc", b"example.com", "/k3");
    assert_eq!(
        cache
            .purge("svc", PurgeTarget::Primary(url), false)
            .await
            .unwrap(),
        1
    );
    send(&cache, &o, get("/k3", &[])).await;
    assert_eq!(srv.count("/k3"), 2);
    settle(&cache, &["/k3"]).await;
    assert_eq!(
        cache.purge("svc", PurgeTarget::All, false).await.unwrap(),
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_survive_a_restart_and_large_ones_stream_from_disk() {
    let (srv, addr) = OriginServer::start().await;
    let o = origin(addr);
    let dir = tempfile::tempdir().unwrap();
    let config = CacheConfig {
        dir: Some(dir.path().to_path_buf()),
        ..CacheConfig::default()
    };
    let big: String = (0..10 * 1024 * 1024)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    srv.set(
        "/small",
        answer(&[("cache-control", "max-age=600")], "small"),
    );
    srv.set("/big", answer(&[("cache-control", "max-age=600")], &big));
    {
        let (cache, _) = Cache::open(&config, CacheMetrics::default()).unwrap();
        send(&cache, &o, get("/small", &[])).await;
        let (_, _, body) = send(&cache, &o, get("/big", &[])).await;
        assert_eq!(body.len(), big.len());
        cache.sync().await.unwrap();
    }
    // The writer thread lets go of the file once its last sender is gone.
    let mut reopened = Cache::open(&config, CacheMetrics::default());
    for _ in 0..50 {
        if reopened.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        reopened = Cache::open(&config, CacheMetrics::default());
    }
    let (cache, report) = reopened.unwrap();
    assert_eq!(report.objects, 2);
    let (_, h, body) = send(&cache, &o, get("/small", &[])).await;
    assert_eq!((header(&h, "x-cache"), &body[..]), ("HIT", &b"small"[..]));
    let (_, h, body) = send(&cache, &o, get("/big", &[])).await;
    assert_eq!(header(&h, "x-cache"), "HIT");
    assert!(body == big.as_bytes(), "the 10 MiB object came back whole");
    assert_eq!((srv.count("/small"), srv.count("/big")), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eviction_keeps_the_disk_under_capacity_and_the_hot_objects() {
    let (srv, addr) = OriginServer::start().await;
    let o = origin(addr);
    let dir = tempfile::tempdir().unwrap();
    let metrics = CacheMetrics::default();
    let config = CacheConfig {
        dir: Some(dir.path().to_path_buf()),
        capacity: 2 << 20,
        memory: 256 << 10,
        hot_object_max: 16 << 10,
        ..CacheConfig::default()
    };
    let (cache, _) = Cache::open(&config, metrics.clone()).unwrap();
    let body = "y".repeat(100_000);
    for n in 0..60 {
        let path = format!("/e/{n}");
        srv.set(&path, answer(&[("cache-control", "max-age=600")], &body));
        send(&cache, &o, get(&path, &[])).await;
        // One object is asked for again and again while the others come
        // once: it must survive.
        send(&cache, &o, get("/e/0", &[])).await;
    }
    cache.sync().await.unwrap();
    cache.refresh_gauges();
    let stored = metrics.disk_bytes.get() as u64;
    assert!(
        stored <= 2 << 20,
        "{stored} bytes on disk for a 2 MiB capacity"
    );
    assert!(
        metrics.evictions.get() > 30,
        "{} evictions",
        metrics.evictions.get()
    );
    assert_eq!(srv.count("/e/0"), 1, "the hot object was never evicted");
    let db = std::fs::metadata(dir.path().join(anywhere::cache::DB_FILE))
        .unwrap()
        .len();
    println!(
        "eviction: {stored} bytes indexed, {} evictions, database file {db} bytes",
        metrics.evictions.get()
    );
}

/// Services the purge API knows: one, `svc`, serving `example.com`.
struct OneService;

impl anywhere::server::purge::ServiceLookup for OneService {
    fn has_service(&self, name: &str) -> bool {
        name == "svc"
    }

    fn service_for_host(&self, host: &str) -> Option<String> {
        (host == "example.com").then(|| "svc".to_owned())
    }
}

async fn purge_call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let client: Client<_, http_body_util::Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut req = http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client
        .request(
            req.body(http_body_util::Full::new(Bytes::from(body.to_owned())))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&text).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_purge_api_speaks_fastlys_shape() {
    let (srv, addr) = OriginServer::start().await;
    let o = origin(addr);
    let cache = Cache::in_memory();
    srv.set(
        "/p1",
        answer(
            &[("cache-control", "max-age=60"), ("surrogate-key", "red")],
            "1",
        ),
    );
    srv.set(
        "/p2",
        answer(
            &[
                ("cache-control", "max-age=60, stale-while-revalidate=60"),
                ("surrogate-key", "blue"),
            ],
            "2",
        ),
    );
    srv.set("/p3", answer(&[("cache-control", "max-age=60")], "3"));
    let fetch_all = || async {
        for p in ["/p1", "/p2", "/p3"] {
            send(&cache, &o, get(p, &[])).await;
        }
    };
    fetch_all().await;
    settle(&cache, &["/p1", "/p2", "/p3"]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = listener.local_addr().unwrap();
    tokio::spawn(anywhere::server::purge::serve_purge(
        listener,
        cache.clone(),
        Arc::new(OneService),
    ));
    let (status, body) = purge_call(api, "POST", "/service/svc/purge/red", &[], "").await;
    assert_eq!(status, 200);
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["status"], "ok");
    assert!(answer["id"].as_str().is_some_and(|id| !id.is_empty()));
    let (status, _) = purge_call(
        api,
        "POST",
        "/service/svc/purge/blue",
        &[("fastly-soft-purge", "1")],
        "",
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = purge_call(api, "PURGE", "/p3", &[("host", "example.com")], "").await;
    assert_eq!(status, 200);
    fetch_all().await;
    // Hard purges refetch; the soft-purged object is served stale while it
    // is refreshed in the background.
    assert_eq!((srv.count("/p1"), srv.count("/p3")), (2, 2));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        srv.count("/p2"),
        2,
        "the soft purge led to one background refresh"
    );
    let (status, body) = purge_call(
        api,
        "POST",
        "/service/svc/purge",
        &[],
        r#"{"surrogate_keys":["red","blue"]}"#,
    )
    .await;
    assert_eq!(status, 200);
    let ids: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(ids["red"].is_string() && ids["blue"].is_string(), "{body}");
    let (status, body) = purge_call(api, "POST", "/service/svc/purge_all", &[], "").await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
    let (status, _) = purge_call(api, "POST", "/service/nope/purge_all", &[], "").await;
    assert_eq!(status, 404, "an unknown service");
    let (status, _) = purge_call(api, "GET", "/service/svc/purge_all", &[], "").await;
    assert_eq!(status, 405);
    fetch_all().await;
    assert_eq!(
        (srv.count("/p1"), srv.count("/p2"), srv.count("/p3")),
        (3, 3, 3),
        "purge_all emptied the service"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fill_releases_every_waiter_and_the_next_fill_works() {
    let (srv, addr) = OriginServer::start().await;
    let cache = Cache::in_memory();
    // The origin is down for the first burst: every waiter of the one
    // fill gets its error.
    let dead = origin("127.0.0.1:1".parse().unwrap());
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (cache, dead) = (cache.clone(), dead.clone());
        tasks.push(tokio::spawn(async move {
            cache.readthrough(get("/f", &[]), dead).await.is_err()
        }));
    }
    for t in tasks {
        assert!(
            t.await.unwrap(),
            "a waiter got an answer from a dead origin"
        );
    }
    // Back up: the next request makes a new fill.
    srv.set("/f", answer(&[("cache-control", "max-age=60")], "back"));
    let (status, _, body) = send(&cache, &origin(addr), get("/f", &[])).await;
    assert_eq!((status, &body[..]), (200, &b"back"[..]));
    assert_eq!(srv.count("/f"), 1);
}
