//! The egress policy of `anywhere edge`, tried as an attacker's program
//! would: a dynamic backend at the edge's own admin port (which serves
//! `/metrics`), at a name that resolves to loopback, at the cloud metadata
//! address and at a cluster address, and at names resolving there.
//!
//! The link-local and cluster addresses never leave the machine: they
//! belong to a bridge with no ports inside a network namespace this test
//! creates, where a listener of the test's own counts every connection. The
//! edge runs in that namespace (`ip netns exec`, which also gives it the
//! namespace's own /etc/hosts). Each refusal is paired with the same
//! request under a policy that allows the address, which must get through:
//! a test that could not reach the listener at all would prove nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

#[path = "support/edge_process.rs"]
mod edge_process;

use edge_process::{Edge, EdgeSpec, get};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

fn start_edge(edge_yaml: &str, netns: Option<&str>) -> Edge {
    Edge::start(EdgeSpec {
        edge_yaml,
        guest: "dynamic",
        service: "{name: dyn, domains: [dyn.example], package: {oci: test/dyn:1}}",
        netns,
        args: &[],
    })
}

/// Asks the program to fetch `path` from `target` through a dynamic backend.
fn through(edge: &Edge, target: &str, path: &str) -> (u16, String) {
    get(edge.http, path, "dyn.example", &[("x-target", target)])
}

const ON: &str = "egress:\n  dynamicBackends: true\n";

#[test]
#[cfg_attr(viceroy, ignore = "`anywhere edge` has no Viceroy counterpart")]
fn a_program_cannot_read_the_pods_own_admin_port() {
    // Dynamic backends are off unless values turn them on.
    let edge = start_edge("", None);
    let admin = edge.admin.to_string();
    let (status, _) = through(&edge, &admin, "/metrics");
    assert_eq!(status, 465, "registering must fail UNSUPPORTED");
    drop(edge);

    // On: the address literal is refused when the backend is registered,
    // and a name resolving to loopback when it connects.
    let edge = start_edge(ON, None);
    let admin = edge.admin.to_string();
    let (status, text) = through(&edge, &admin, "/metrics");
    assert_eq!(status, 462, "{text}");
    let by_name = format!("localhost:{}", edge.admin.port());
    let (status, text) = through(&edge, &by_name, "/metrics");
    assert_eq!(status, 502, "{text}");
    assert!(!text.contains("anywhere_"), "{text}");
    drop(edge);

    // Allowed explicitly, the same program does read the metrics: the
    // refusals above are the policy's, not a broken program.
    let edge = start_edge(
        "egress:\n  dynamicBackends: true\n  allowedCidrs: [127.0.0.0/8]\n",
        None,
    );
    let by_name = format!("localhost:{}", edge.admin.port());
    let (status, text) = through(&edge, &by_name, "/metrics");
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("anywhere_"), "{text}");
}

/// A network namespace with the metadata and a cluster address on a bridge
/// with no ports, and names for them in the namespace's /etc/hosts.
struct Netns {
    name: String,
}

const METADATA: &str = "169.254.169.254";
const CLUSTER: &str = "10.96.0.10";

impl Netns {
    fn create() -> Netns {
        let name = format!("anyw-egress-{}", std::process::id());
        let ns = Netns { name };
        let ip = |args: &[&str]| {
            let out = Command::new("ip").args(args).output().unwrap();
            assert!(
                out.status.success(),
                "ip {args:?}: {} (this test needs root and iproute2)",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        ip(&["netns", "add", &ns.name]);
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        ip(&["-n", &ns.name, "link", "add", "anyw0", "type", "bridge"]);
        for a in [METADATA, CLUSTER] {
            ip(&[
                "-n",
                &ns.name,
                "addr",
                "add",
                &format!("{a}/32"),
                "dev",
                "anyw0",
            ]);
        }
        ip(&["-n", &ns.name, "link", "set", "anyw0", "up"]);
        std::fs::create_dir_all(ns.etc()).unwrap();
        std::fs::write(
            ns.etc().join("hosts"),
            format!(
                "127.0.0.1 localhost\n{METADATA} metadata.anywhere.test\n{CLUSTER} api.cluster.test\n"
            ),
        )
        .unwrap();
        ns
    }

    fn etc(&self) -> PathBuf {
        PathBuf::from("/etc/netns").join(&self.name)
    }

    /// Runs `f` on a thread inside the namespace: sockets it opens, and
    /// threads it starts, live there.
    fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path).unwrap();
            use std::os::fd::AsRawFd;
            // SAFETY: setns with a valid namespace file descriptor changes
            // only this thread's network namespace; the file outlives the call.
            #[allow(unsafe_code)]
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        let _ = std::fs::remove_dir_all(self.etc());
    }
}

/// A listener that answers every connection with `reached` and counts them.
fn counting_listener(addr: &str) -> Arc<AtomicUsize> {
    let listener = TcpListener::bind(addr).unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            seen.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\nconnection: close\r\n\r\nreached\n",
            );
        }
    });
    count
}

#[test]
#[cfg_attr(viceroy, ignore = "`anywhere edge` has no Viceroy counterpart")]
fn metadata_and_cluster_addresses_are_refused_by_address_and_by_name() {
    let ns = Netns::create();
    let name = ns.name.clone();
    ns.run(move || {
        let metadata = counting_listener(&format!("{METADATA}:80"));
        let cluster = counting_listener(&format!("{CLUSTER}:80"));
        let targets = [
            (METADATA.to_string(), &metadata),
            ("metadata.anywhere.test".to_string(), &metadata),
            (CLUSTER.to_string(), &cluster),
            ("api.cluster.test".to_string(), &cluster),
        ];

        // The chart's defaults: the private ranges denied.
        let edge = start_edge(
            "egress:\n  dynamicBackends: true\n  deniedCidrs: [10.0.0.0/8]\n",
            Some(&name),
        );
        for (target, _) in &targets {
            // A path of its own: the edge caches the listener's answers.
            let (status, text) = through(&edge, target, &format!("/{target}"));
            assert!(matches!(status, 462 | 502), "{target}: {text}");
            assert!(!text.contains("reached"), "{target}: {text}");
        }
        assert_eq!(metadata.load(Ordering::SeqCst), 0, "a connection reached the metadata listener");
        assert_eq!(cluster.load(Ordering::SeqCst), 0, "a connection reached the cluster listener");
        drop(edge);

        // Allowed explicitly, each target is reached: the listeners work.
        let edge = start_edge(
            "egress:\n  dynamicBackends: true\n  deniedCidrs: [10.0.0.0/8]\n  allowedCidrs: [169.254.169.254/32, 10.96.0.0/16]\n",
            Some(&name),
        );
        for (target, _) in &targets {
            // A path of its own: the edge caches the listener's answers.
            let (status, text) = through(&edge, target, &format!("/{target}"));
            assert_eq!(status, 200, "{target}: {text}");
            assert!(text.contains("reached"), "{target}: {text}");
        }
        assert_eq!(metadata.load(Ordering::SeqCst), 2);
        assert_eq!(cluster.load(Ordering::SeqCst), 2);
    });
}
