//! Log delivery against local receivers: syslog over TCP and TLS (octet
//! counting) and UDP, an HTTP collector that fails before it accepts, one
//! that accepts and never reads, and nothing listening at all; the flush at
//! shutdown.

use super::*;
use std::io::Read;
use std::time::Instant;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

fn origin() -> Origin {
    Origin {
        service: "shop".into(),
        endpoint: "access".into(),
        hostname: "pop-0".into(),
    }
}

fn quick() -> ShipLimits {
    ShipLimits {
        flush_after: Duration::from_millis(20),
        first_backoff: Duration::from_millis(10),
        send_timeout: Duration::from_secs(2),
        ..ShipLimits::default()
    }
}

/// A shipper to `destination` (public TLS roots) and its counters.
fn ship(destination: Destination, limits: ShipLimits) -> (Shipper, ShipCounters) {
    ship_with(destination, None, limits, &Deliveries::default())
}

fn ship_with(
    destination: Destination,
    ca_pem: Option<&str>,
    limits: ShipLimits,
    deliveries: &Deliveries,
) -> (Shipper, ShipCounters) {
    let counters = ShipCounters::default();
    let endpoint = Endpoint {
        destination,
        tls: endpoint_tls(ca_pem).unwrap(),
    };
    let shipper = Shipper::start(origin(), endpoint, limits, counters.clone(), deliveries).unwrap();
    (shipper, counters)
}

/// Reads octet-counted syslog frames ("LEN SP MSG", repeated) until `count`
/// messages have arrived.
async fn read_frames(conn: &mut (impl tokio::io::AsyncRead + Unpin), count: usize) -> Vec<String> {
    let mut received = Vec::new();
    let mut messages = Vec::new();
    while messages.len() < count {
        let mut buf = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "connection closed early");
        received.extend_from_slice(&buf[..n]);
        messages.clear();
        let mut rest = &received[..];
        while let Some(space) = rest.iter().position(|&b| b == b' ') {
            let len: usize = std::str::from_utf8(&rest[..space])
                .unwrap()
                .parse()
                .unwrap();
            if rest.len() < space + 1 + len {
                break;
            }
            messages.push(String::from_utf8(rest[space + 1..space + 1 + len].to_vec()).unwrap());
            rest = &rest[space + 1 + len..];
        }
    }
    messages
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn syslog_over_tcp_frames_each_line_by_its_length() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (shipper, counters) = ship(
        Destination::from_url(&format!("tcp://{addr}"), None).unwrap(),
        quick(),
    );
    for line in ["GET / 200", "GET /a b 404", "ünïcode"] {
        shipper.offer(line.as_bytes());
    }
    let (mut conn, _) = listener.accept().await.unwrap();
    let messages = read_frames(&mut conn, 3).await;
    for (message, line) in messages
        .iter()
        .zip(["GET / 200", "GET /a b 404", "ünïcode"])
    {
        assert!(message.starts_with("<14>1 20"), "{message}");
        assert!(
            message.ends_with(&format!(" pop-0 shop - access - {line}")),
            "{message}"
        );
    }
    until("3 lines counted as sent", || counters.sent.get() == 3).await;
    assert_eq!(counters.dropped.get(), 0);
}

/// An HTTP collector on loopback: answers `fail_first` requests 500, then
/// 200; sends each accepted body (gunzipped) down the channel.
async fn collector(fail_first: usize) -> (String, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/logs", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    let seen = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        loop {
            let (mut conn, _) = listener.accept().await.unwrap();
            let (tx, seen) = (tx.clone(), seen.clone());
            tokio::spawn(async move {
                let mut data = Vec::new();
                loop {
                    let mut buf = [0u8; 8192];
                    let Ok(n) = conn.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    data.extend_from_slice(&buf[..n]);
                    let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&data[..end]).to_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length: "))
                        .map_or(0, |v| v.trim().parse().unwrap());
                    if data.len() < end + 4 + length {
                        continue;
                    }
                    let body = data[end + 4..end + 4 + length].to_vec();
                    data.drain(..end + 4 + length);
                    assert!(head.contains("content-encoding: gzip"), "{head}");
                    let status = if seen.fetch_add(1, Ordering::SeqCst) < fail_first {
                        "500 Internal Server Error"
                    } else {
                        let mut text = String::new();
                        flate2::read::GzDecoder::new(&body[..])
                            .read_to_string(&mut text)
                            .unwrap();
                        let _ = tx.send(text);
                        "200 OK"
                    };
                    let reply = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
                    if conn.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, rx)
}

#[tokio::test]
async fn https_batches_lines_and_retries_a_failing_collector() {
    let (url, mut bodies) = collector(2).await;
    let (shipper, counters) = ship(Destination::from_url(&url, None).unwrap(), quick());
    for i in 0..5 {
        shipper.offer(format!("{{\"n\":{i}}}").as_bytes());
    }
    let mut lines = Vec::new();
    while lines.len() < 5 {
        let body = tokio::time::timeout(Duration::from_secs(10), bodies.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(body.ends_with('\n'), "{body:?}");
        lines.extend(body.lines().map(String::from));
    }
    let want: Vec<String> = (0..5).map(|i| format!("{{\"n\":{i}}}")).collect();
    assert_eq!(
        lines, want,
        "each line once, in order, none split or merged"
    );
    until("5 lines sent", || counters.sent.get() == 5).await;
    assert_eq!(counters.failures.get(), 2, "two 500s, each retried");
    assert_eq!(counters.dropped.get(), 0);
}

#[tokio::test]
async fn a_stalled_endpoint_never_blocks_the_writer_and_counts_what_it_drops() {
    // Accepts and never reads: the socket's buffers fill, then writes wait.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            held.push(conn);
        }
    });
    let limits = ShipLimits {
        queue_bytes: 256 << 10,
        ..quick()
    };
    let (shipper, counters) = ship(Destination::SyslogTcp(addr.to_string()), limits);
    let line = vec![b'x'; 1000];
    let started = Instant::now();
    for _ in 0..20_000 {
        shipper.offer(&line);
    }
    let took = started.elapsed();
    // 20 MB offered against a 256 KiB queue and a reader that never reads.
    assert!(
        took < Duration::from_secs(2),
        "offering took {took:?}: the writer waited on the endpoint"
    );
    assert!(
        counters.dropped.get() > 10_000,
        "dropped {}",
        counters.dropped.get()
    );
    held.abort();
}

#[tokio::test]
async fn a_dead_endpoint_gives_up_after_its_attempts_and_counts_the_batch_dropped() {
    // A port nobody listens on.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let limits = ShipLimits {
        attempts: 3,
        ..quick()
    };
    let (shipper, counters) = ship(Destination::SyslogTcp(addr.to_string()), limits);
    shipper.offer(b"one");
    shipper.offer(b"two");
    until("the batch given up", || counters.dropped.get() == 2).await;
    assert_eq!(counters.failures.get(), 3);
    assert_eq!(counters.sent.get(), 0);
}

#[test]
fn urls_name_their_transport() {
    assert_eq!(
        Destination::from_url("udp://10.0.0.1:514", None).unwrap(),
        Destination::SyslogUdp("10.0.0.1:514".into())
    );
    assert_eq!(
        Destination::from_url("tls://logs.example:6514", None).unwrap(),
        Destination::SyslogTls {
            addr: "logs.example:6514".into(),
            server_name: "logs.example".into()
        }
    );
    assert_eq!(
        Destination::from_url("tls://10.0.0.1:6514", Some("logs.example")).unwrap(),
        Destination::SyslogTls {
            addr: "10.0.0.1:6514".into(),
            server_name: "logs.example".into()
        }
    );
    assert!(Destination::from_url("tls://logs.example", None).is_err());
    assert!(Destination::from_url("ftp://x", None).is_err());
    assert!(Destination::from_url("no-scheme", None).is_err());
    assert!(endpoint_tls(Some("not a certificate")).is_err());
}

#[tokio::test]
async fn syslog_over_udp_sends_one_datagram_per_line_from_one_socket() {
    let receiver = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = receiver.local_addr().unwrap();
    let (shipper, counters) = ship(
        Destination::from_url(&format!("udp://{addr}"), None).unwrap(),
        quick(),
    );
    let mut senders = std::collections::BTreeSet::new();
    let mut buf = vec![0u8; 70_000];
    for (round, lines) in [["a 1", "a 2"], ["b 1", "b 2"]].iter().enumerate() {
        for line in lines {
            shipper.offer(line.as_bytes());
        }
        for line in lines {
            let (n, from) =
                tokio::time::timeout(Duration::from_secs(5), receiver.recv_from(&mut buf))
                    .await
                    .unwrap()
                    .unwrap();
            let message = std::str::from_utf8(&buf[..n]).unwrap();
            assert!(message.starts_with("<14>1 "), "{message}");
            assert!(
                message.ends_with(&format!(" - access - {line}")),
                "{message}"
            );
            senders.insert(from);
        }
        until("the round counted", || {
            counters.sent.get() == 2 * (round as u64 + 1)
        })
        .await;
    }
    assert_eq!(senders.len(), 1, "every batch leaves from the same socket");
}

/// A CA and a server certificate for `logs.test`, made with openssl.
fn test_pki(dir: &std::path::Path) -> (String, String, String) {
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl (Debian's openssl package) runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:logs.test\n").unwrap();
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-subj",
        "/CN=test-ca",
        "-days",
        "2",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=logs.test",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.crt",
    ]);
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    (read("ca.crt"), read("server.crt"), read("server.key"))
}

fn tls_acceptor(cert_pem: &str, key_pem: &str) -> tokio_rustls::TlsAcceptor {
    let certs: Vec<_> = rustls_pemfile::certs(&mut cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    let key = rustls_pemfile::private_key(&mut key_pem.as_bytes())
        .unwrap()
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

#[tokio::test]
async fn syslog_over_tls_checks_the_certificate_against_the_given_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = test_pki(dir.path());
    let acceptor = tls_acceptor(&cert, &key);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let url = format!("tls://{addr}");

    // Trusting only the public roots, the test CA's certificate is refused.
    let (untrusting, refused) = ship(
        Destination::from_url(&url, Some("logs.test")).unwrap(),
        ShipLimits {
            attempts: 1,
            ..quick()
        },
    );
    untrusting.offer(b"never delivered");
    let (tcp, _) = listener.accept().await.unwrap();
    assert!(
        acceptor.accept(tcp).await.is_err(),
        "the client must abort the handshake"
    );
    until("the refusal counted", || refused.dropped.get() == 1).await;
    assert_eq!(refused.sent.get(), 0);

    // With tlsCaCert, the same server is trusted and reads each frame.
    let (shipper, counters) = ship_with(
        Destination::from_url(&url, Some("logs.test")).unwrap(),
        Some(&ca),
        quick(),
        &Deliveries::default(),
    );
    for line in ["one", "two"] {
        shipper.offer(line.as_bytes());
    }
    let (tcp, _) = listener.accept().await.unwrap();
    let mut tls = acceptor.accept(tcp).await.unwrap();
    let messages = read_frames(&mut tls, 2).await;
    assert!(
        messages[0].ends_with(" pop-0 shop - access - one"),
        "{messages:?}"
    );
    assert!(
        messages[1].ends_with(" pop-0 shop - access - two"),
        "{messages:?}"
    );
    until("2 lines counted as sent", || counters.sent.get() == 2).await;
}

#[tokio::test]
async fn shutdown_flush_waits_for_delivery_and_counts_what_cannot_leave() {
    let deliveries = Deliveries::default();
    // A live receiver: the flush returns once both lines are delivered.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let reader = tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.unwrap();
        read_frames(&mut conn, 2).await
    });
    let (live, live_counts) = ship_with(
        Destination::SyslogTcp(addr.to_string()),
        None,
        ShipLimits {
            flush_after: Duration::from_millis(200),
            ..quick()
        },
        &deliveries,
    );
    live.offer(b"first");
    live.offer(b"second");
    assert_eq!(deliveries.flush(Duration::from_secs(5)).await, 0);
    assert_eq!(live_counts.sent.get(), 2, "flush returned before delivery");
    assert_eq!(reader.await.unwrap().len(), 2);

    // A dead one: the flush gives up at its deadline and counts the lines.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (stuck, stuck_counts) = ship_with(
        Destination::SyslogTcp(dead.to_string()),
        None,
        ShipLimits {
            first_backoff: Duration::from_secs(5),
            ..quick()
        },
        &deliveries,
    );
    stuck.offer(b"lost 1");
    stuck.offer(b"lost 2");
    let started = Instant::now();
    assert_eq!(deliveries.flush(Duration::from_millis(300)).await, 2);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(stuck_counts.dropped.get(), 2);
}
