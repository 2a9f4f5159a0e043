//! Nothing a request starts outlives it: 500 requests each leave 32 sends
//! to a backend that never answers, and the edge's file descriptors and the
//! backend's open connections come back to where they were.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

#[path = "support/edge_process.rs"]
mod edge_process;

use edge_process::{Edge, EdgeSpec, get};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A backend that accepts and never answers; counts connections open now
/// and ever.
fn silent_backend() -> (std::net::SocketAddr, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (open, ever) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (o, e) = (open.clone(), ever.clone());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            listener.set_nonblocking(true).unwrap();
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((mut conn, _)) = listener.accept().await else {
                    continue;
                };
                o.fetch_add(1, Ordering::SeqCst);
                e.fetch_add(1, Ordering::SeqCst);
                let o = o.clone();
                tokio::spawn(async move {
                    // Read (and ignore) until the edge closes its side.
                    let mut sink = tokio::io::sink();
                    let _ = tokio::io::copy(&mut conn, &mut sink).await;
                    o.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
    });
    (addr, open, ever)
}

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ok() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
#[cfg_attr(viceroy, ignore = "`anywhere edge` has no Viceroy counterpart")]
fn sends_a_program_leaves_behind_end_with_it() {
    let (origin, open, ever) = silent_backend();
    let service = format!(
        "{{name: fan, domains: [fan.example], package: {{oci: test/fan:1}}, backends: [{{name: origin, url: 'http://{origin}'}}]}}"
    );
    let edge = Edge::start(EdgeSpec {
        edge_yaml: "egress:\n  allowedCidrs: [127.0.0.0/8]\nlimits:\n  cpuTime: 1s\n",
        guest: "fanout",
        service: &service,
        netns: None,
        args: &[],
    });
    let baseline = edge.open_fds();
    let edge = Arc::new(edge);
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let edge = edge.clone();
            std::thread::spawn(move || {
                for _ in 0..63 {
                    let (status, text) = get(edge.http, "/", "fan.example", &[]);
                    assert_eq!(status, 200, "{text}");
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    // The sends did connect (the program waits 100 ms): most of the
    // 504 × 32 reached the backend.
    assert!(
        ever.load(Ordering::SeqCst) > 8000,
        "{} connections",
        ever.load(Ordering::SeqCst)
    );
    wait_until("the backend's connections never closed", || {
        open.load(Ordering::SeqCst) == 0
    });
    wait_until(
        "the edge's file descriptors stayed above their baseline",
        || edge.open_fds() <= baseline + 2,
    );
}
