//! The front under attack: HTTP/2 rapid reset against the concurrency
//! limit, idle connections, and more connections than the cap.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

#[path = "support/edge_process.rs"]
mod edge_process;

use edge_process::{Edge, EdgeSpec, get};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn sleepy_edge(limits: &str) -> Edge {
    Edge::start(EdgeSpec {
        edge_yaml: &format!("limits:\n{limits}"),
        guest: "sleepy",
        service: "{name: sleepy, domains: [sleepy.example], package: {oci: test/sleepy:1}}",
        netns: None,
        args: &[],
    })
}

/// Instances created so far (the instantiation histogram's count).
fn instantiations(admin: SocketAddr) -> u64 {
    let (_, text) = get(admin, "/metrics", "x", &[]);
    text.lines()
        .filter(|l| l.starts_with("anywhere_instantiation_duration_seconds_count"))
        .filter_map(|l| l.rsplit(' ').next()?.trim().parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// `anywhere_live_instances` from the edge's metrics.
fn live_instances(admin: SocketAddr) -> u64 {
    let (_, text) = get(admin, "/metrics", "x", &[]);
    text.lines()
        .find_map(|l| l.strip_prefix("anywhere_live_instances "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

#[test]
#[cfg_attr(viceroy, ignore = "`anywhere edge` has no Viceroy counterpart")]
fn rapid_reset_streams_never_run_more_programs_than_the_concurrency_limit() {
    let edge = sleepy_edge("  concurrency: 10\n  http2MaxStreams: 100\n");
    let (http, admin) = (edge.http, edge.admin);
    let created_before = instantiations(admin);
    // Watch the live instances while the attack runs.
    let most = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (most, stop) = (most.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                most.fetch_max(live_instances(admin), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (pairs, connections) = rt.block_on(rapid_reset(http, 5000));
    stop.store(true, Ordering::SeqCst);
    watcher.join().unwrap();
    assert_eq!(pairs, 5000);
    let most = most.load(Ordering::SeqCst);
    assert!(
        most <= 10,
        "{most} programs ran at once with concurrency 10"
    );
    // Programs did run (so the bound above means something). Counted, not
    // sampled: a sample of the live instances can fall between programs
    // on a fast run (seen in CI).
    let created = instantiations(admin) - created_before;
    assert!(created > 0, "no program ran during the attack");
    eprintln!(
        "5000 HEADERS+RST_STREAM pairs over {connections} connections; {created} programs ran, at most {most} seen at once"
    );
    // The edge still answers.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = get(http, "/", "sleepy.example", &[]);
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the edge stopped answering: {status}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Sends `n` requests over HTTP/2, each reset right after its HEADERS;
/// reconnects whenever the edge sends GOAWAY. Pairs sent, connections used.
async fn rapid_reset(addr: SocketAddr, n: usize) -> (usize, usize) {
    let (mut sent, mut connections) = (0, 0);
    while sent < n {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        connections += 1;
        let Ok((client, conn)) = h2::client::handshake(tcp).await else {
            continue;
        };
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut client = client;
        while sent < n {
            let Ok(ready) = client.clone().ready().await else {
                break;
            };
            client = ready;
            let req = http::Request::get("http://sleepy.example/")
                .body(())
                .unwrap();
            let Ok((resp, _)) = client.send_request(req, true) else {
                break;
            };
            // Dropping the response future resets the stream (CANCEL).
            drop(resp);
            sent += 1;
        }
        assert!(
            connections < 5000,
            "the edge refused every HTTP/2 connection"
        );
    }
    (sent, connections)
}

#[test]
#[cfg_attr(viceroy, ignore = "`anywhere edge` has no Viceroy counterpart")]
fn idle_connections_are_closed() {
    let edge = sleepy_edge("  idleTimeout: 1s\n");
    // A connection that never sends a byte.
    let mut silent = TcpStream::connect(edge.http).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    assert_eq!(silent.read(&mut buf).unwrap_or(0), 0);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    // A keep-alive connection after its answer.
    let mut kept = TcpStream::connect(edge.http).unwrap();
    kept.write_all(b"GET / HTTP/1.1\r\nhost: sleepy.example\r\n\r\n")
        .unwrap();
    kept.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    let mut all = Vec::new();
    let _ = kept.read_to_end(&mut all);
    assert!(String::from_utf8_lossy(&all).starts_with("HTTP/1.1 200"));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1200) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}

#[test]
#[cfg_attr(viceroy, ignore = "`anywhere edge` has no Viceroy counterpart")]
fn past_the_connection_cap_a_client_waits_for_a_free_one() {
    let edge = sleepy_edge("  connections: 3\n  idleTimeout: 30s\n");
    let held: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(edge.http).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut fourth = TcpStream::connect(edge.http).unwrap();
    fourth
        .write_all(b"GET / HTTP/1.1\r\nhost: sleepy.example\r\nconnection: close\r\n\r\n")
        .unwrap();
    fourth
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let mut buf = [0u8; 64];
    assert!(
        fourth.read(&mut buf).is_err(),
        "a fourth connection was served while three were open"
    );
    drop(held);
    fourth
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut all = Vec::new();
    let _ = fourth.read_to_end(&mut all);
    assert!(
        String::from_utf8_lossy(&all).starts_with("HTTP/1.1 200"),
        "{all:?}"
    );
}
