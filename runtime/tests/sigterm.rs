//! SIGTERM with a request in flight: the kubelet stops the edge while a
//! program is still working on a client's request. The request is
//! answered, new connections are refused, and the edge exits cleanly.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

#[path = "support/edge_process.rs"]
mod edge_process;

use edge_process::{Edge, EdgeSpec, get};
use std::time::{Duration, Instant};

#[test]
fn a_request_in_flight_at_sigterm_is_answered_before_the_edge_exits() {
    let mut edge = Edge::start(EdgeSpec {
        edge_yaml: "",
        // Waits 300 ms on a host timer, then answers 200.
        guest: "sleepy",
        service: "{name: sleepy, domains: [sleepy.example], package: {oci: test/sleepy:1}}",
        netns: None,
        // No drain delay: the listener closes at once, and in-flight
        // requests get the grace period.
        args: &["--drain-delay-seconds", "0", "--grace-seconds", "5"],
    });
    let http = edge.http;
    let started = Instant::now();
    let in_flight = std::thread::spawn(move || get(http, "/", "sleepy.example", &[]));
    std::thread::sleep(Duration::from_millis(100));
    edge.terminate();
    let (status, text) = in_flight.join().unwrap();
    assert_eq!(status, 200, "{text}");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "the program's 300 ms ran to the end"
    );
    let exit = edge.wait_exit(Duration::from_secs(10));
    assert!(exit.success(), "{exit:?}");
    assert_eq!(
        get(http, "/", "sleepy.example", &[]).0,
        0,
        "nothing listens"
    );
}
