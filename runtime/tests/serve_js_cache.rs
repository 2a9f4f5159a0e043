//! The cache from real JS programs (@fastly/js-compute 3.46) under
//! `anywhere serve`: fetch through the readthrough cache with and without
//! overrides, the Core Cache, the simple cache and purges; the same program
//! built as is and with `--enable-http-cache`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/origin.rs"]
mod origin;
mod support;

use origin::{Answer, OriginServer};
use support::*;

/// The cache guest (`name`: `cache` or `cache-http`) in front of a
/// counting origin.
async fn cache_guest(name: &str) -> (Server, OriginServer, tempfile::TempDir) {
    let (srv, addr) = OriginServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("fastly.toml");
    std::fs::write(
        &manifest,
        format!(
            "manifest_version = 3\nname = \"cache\"\n\n[local_server.backends.origin]\nurl = \"http://{addr}\"\n"
        ),
    )
    .unwrap();
    (serve(&js_guest(name), Some(&manifest), &[]), srv, dir)
}

async fn through_the_cache(name: &str, host_mode: bool) {
    let (s, srv, _dir) = cache_guest(name).await;
    srv.set(
        "/fresh",
        Answer::ok(&[("cache-control", "max-age=60")], "fresh"),
    );
    srv.set(
        "/private",
        Answer::ok(&[("cache-control", "private")], "private"),
    );
    srv.set(
        "/private-ttl",
        Answer::ok(&[("cache-control", "private")], "private"),
    );
    for _ in 0..5 {
        let r = get(s.addr, "/plain/fresh").await;
        assert_eq!((r.status, r.body.as_str()), (200, "fresh"));
    }
    assert_eq!(
        srv.count("/fresh"),
        1,
        "{name}: a fresh response is fetched once"
    );
    let last = get(s.addr, "/plain/fresh").await;
    assert_eq!(
        last.headers.get("x-cache").and_then(|v| v.to_str().ok()),
        Some("HIT")
    );
    for _ in 0..3 {
        get(s.addr, "/plain/private").await;
    }
    assert_eq!(
        srv.count("/private"),
        3,
        "{name}: a private response every time"
    );
    // A TTL override outlives the origin's own max age.
    srv.set(
        "/short",
        Answer::ok(&[("cache-control", "max-age=1")], "short"),
    );
    srv.set(
        "/short2",
        Answer::ok(&[("cache-control", "max-age=1")], "short"),
    );
    for _ in 0..3 {
        get(s.addr, "/ttl/short").await;
        get(s.addr, "/plain/short2").await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    for _ in 0..3 {
        get(s.addr, "/ttl/short").await;
        get(s.addr, "/plain/short2").await;
    }
    assert_eq!(
        (srv.count("/short"), srv.count("/short2")),
        (1, 2),
        "{name}: a TTL override of 60 s keeps what max-age=1 would let expire"
    );
    if host_mode {
        // The readthrough cache also stores what headers forbid when the
        // program sets a TTL (with the HTTP cache API the SDK decides).
        for _ in 0..5 {
            let r = get(s.addr, "/ttl/private-ttl").await;
            assert_eq!(r.body, "private");
        }
        assert_eq!(
            srv.count("/private-ttl"),
            1,
            "{name}: a TTL override stores a private response"
        );
    }
    for _ in 0..3 {
        get(s.addr, "/pass/fresh").await;
    }
    assert_eq!(
        srv.count("/fresh"),
        4,
        "{name}: a pass goes to the origin each time"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn fetch_goes_through_the_readthrough_cache() {
    through_the_cache("cache", true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fetch_with_the_http_cache_api_enabled_caches_alike() {
    through_the_cache("cache-http", false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_core_cache_keeps_what_the_program_inserts_until_purged() {
    let (s, _srv, _dir) = cache_guest("cache").await;
    let first = get(s.addr, "/core/a").await;
    assert_eq!(first.headers["x-core"], "miss", "{first:?}");
    let mut second = get(s.addr, "/core/a").await;
    for _ in 0..50 {
        if second.headers["x-core"] == "hit" {
            break;
        }
        // The insert commits as the program closes its body.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        second = get(s.addr, "/core/a").await;
    }
    assert_eq!(second.headers["x-core"], "hit", "{second:?}");
    assert_eq!(second.body, first.body, "the stored value came back");
    assert_eq!(second.headers["x-meta"], "m1", "user metadata");
    let other = get(s.addr, "/core/b").await;
    assert_eq!(other.headers["x-core"], "miss");
    assert_eq!(get(s.addr, "/purge/grp-a").await.status, 200);
    let after = get(s.addr, "/core/a").await;
    assert_eq!(
        after.headers["x-core"], "miss",
        "purged by its surrogate key"
    );
    assert_ne!(after.body, first.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_simple_cache_computes_once() {
    let (s, _srv, _dir) = cache_guest("cache").await;
    let first = get(s.addr, "/simple/k").await;
    assert_eq!(first.headers["x-core"], "miss", "{first:?}");
    let second = get(s.addr, "/simple/k").await;
    assert_eq!(
        (
            second.headers["x-core"].to_str().unwrap(),
            second.body.as_str()
        ),
        ("hit", first.body.as_str())
    );
}
