//! Isolation and limits with hand-written guests: a loop stops at the CPU
//! limit, memory growth stops at the heap limit, deep recursion at the
//! stack limit, a trap fails its own request only; oversized headers get
//! 431 and requests over the concurrency limit 503.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};
use support::*;

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(viceroy, ignore = "Viceroy never stops a loop: nothing to compare")]
async fn misbehaving_requests_fail_alone() {
    let s = serve(
        &wat_guest("limits"),
        None,
        &["--cpu-time-ms", "50", "--heap-mib", "16"],
    );
    assert_eq!(get(s.addr, "/ok").await.body, "ok\n");
    let started = Instant::now();
    let r = get(s.addr, "/l").await;
    assert_eq!(r.status, 500);
    assert!(r.body.contains("CPU time limit"), "{}", r.body);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopped after {:?}",
        started.elapsed()
    );
    for path in ["/m", "/s", "/t"] {
        let r = get(s.addr, path).await;
        assert_eq!(r.status, 500, "{path}: {}", r.body);
        assert_eq!(get(s.addr, "/ok").await.body, "ok\n", "after {path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(viceroy, ignore = "Viceroy never stops a loop: nothing to compare")]
async fn loops_stop_while_neighbours_succeed() {
    let s = serve(&wat_guest("limits"), None, &["--cpu-time-ms", "50"]);
    let loops: Vec<_> = (0..4)
        .map(|_| tokio::spawn(async move { get(s.addr, "/l").await.status }))
        .collect();
    let healthy: Vec<_> = (0..40)
        .map(|_| tokio::spawn(async move { get(s.addr, "/ok").await.status }))
        .collect();
    for h in healthy {
        assert_eq!(h.await.unwrap(), 200);
    }
    for l in loops {
        assert_eq!(l.await.unwrap(), 500);
    }
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(
    viceroy,
    ignore = "the limits are anywhere's flags (--cpu-time-ms, --concurrency): nothing to compare"
)]
async fn header_and_concurrency_limits() {
    let s = serve(
        &wat_guest("limits"),
        None,
        &["--cpu-time-ms", "2000", "--concurrency", "1"],
    );
    let big = "x".repeat(70 * 1024);
    let r = send(s.addr, "GET", "/ok", "app.example", &[("x-big", &big)], "").await;
    assert_eq!(r.status, 431);
    let busy = tokio::spawn(async move { get(s.addr, "/l").await.status });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = get(s.addr, "/ok").await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(busy.await.unwrap(), 500);
    assert_eq!(
        get(s.addr, "/ok").await.status,
        200,
        "the slot is free again"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wat_hello_answers() {
    let s = serve(&wat_guest("hello"), None, &[]);
    let r = get(s.addr, "/").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "hello from WAT\n");
    assert_eq!(r.headers["content-type"], "text/plain");
}
