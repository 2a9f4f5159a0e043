//! Log delivery against local receivers: syslog over TCP (octet counting),
//! an HTTP collector that fails before it accepts, one that accepts and
//! never reads, and nothing listening at all.

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

/// A shipper to `destination` and its counters.
fn ship(destination: Destination, limits: ShipLimits) -> (Shipper, ShipCounters) {
    let counters = ShipCounters::default();
    let shipper = Shipper::start(origin(), destination, limits, counters.clone()).unwrap();
    (shipper, counters)
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
        Destination::from_url(&format!("tcp://{addr}")).unwrap(),
        quick(),
    );
    for line in ["GET / 200", "GET /a b 404", "ünïcode"] {
        shipper.offer(line.as_bytes());
    }
    let (mut conn, _) = listener.accept().await.unwrap();
    let mut received = Vec::new();
    let mut messages = Vec::new();
    while messages.len() < 3 {
        let mut buf = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "connection closed early");
        received.extend_from_slice(&buf[..n]);
        // Octet counting: "LEN SP MSG", repeated.
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
    let (shipper, counters) = ship(Destination::from_url(&url).unwrap(), quick());
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
        Destination::from_url("udp://10.0.0.1:514").unwrap(),
        Destination::SyslogUdp("10.0.0.1:514".into())
    );
    assert!(Destination::from_url("ftp://x").is_err());
    assert!(Destination::from_url("no-scheme").is_err());
}
