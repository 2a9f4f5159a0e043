//! Real-time log delivery: the lines a program writes to an HTTPS or syslog
//! endpoint leave the process from a task of their own. A request only puts
//! its line in a queue bounded in bytes; when the queue is full (the
//! endpoint is slow, dead or stalls) the line is dropped and counted, so an
//! endpoint can never slow or fail a request. The task sends in batches
//! (HTTPS: lines joined by newlines, gzip, one POST per batch; syslog:
//! RFC 5424 messages, octet-counted over TCP, one datagram each over UDP),
//! retries a failed batch with exponential backoff and jitter, and gives up
//! on it (counting its lines as dropped) after a few attempts.

use crate::fastly_api::{lowest_cause, tls_config};
use prometheus_client::metrics::counter::Counter;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// Where an endpoint's lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// POST to this URL (`https://…`; `http://` for tests and local use).
    Https(String),
    /// RFC 5424 over TCP with octet counting (RFC 6587), to `host:port`.
    SyslogTcp(String),
    /// RFC 5424, one UDP datagram per message, to `host:port`.
    SyslogUdp(String),
}

impl Destination {
    /// From an endpoint's URL: `https://…`, `tcp://host:port`,
    /// `udp://host:port`.
    pub fn from_url(url: &str) -> Result<Self, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("`{url}` has no scheme"))?;
        match scheme {
            "https" | "http" => Ok(Destination::Https(url.to_owned())),
            "tcp" => Ok(Destination::SyslogTcp(
                rest.trim_end_matches('/').to_owned(),
            )),
            "udp" => Ok(Destination::SyslogUdp(
                rest.trim_end_matches('/').to_owned(),
            )),
            other => Err(format!(
                "`{other}://` log endpoints are not supported (https, tcp or udp)"
            )),
        }
    }
}

/// How much is kept and how hard delivery tries.
#[derive(Debug, Clone)]
pub struct ShipLimits {
    /// Bytes of lines waiting at most; beyond, lines are dropped.
    pub queue_bytes: usize,
    /// Lines per batch at most.
    pub batch_lines: usize,
    /// How long a batch waits for more lines.
    pub flush_after: Duration,
    /// Attempts per batch.
    pub attempts: u32,
    /// The first retry's delay (doubled each time, with jitter).
    pub first_backoff: Duration,
    /// Time allowed to one send (connect, write, response).
    pub send_timeout: Duration,
}

impl Default for ShipLimits {
    fn default() -> Self {
        ShipLimits {
            queue_bytes: 8 << 20,
            batch_lines: 1000,
            flush_after: Duration::from_millis(250),
            attempts: 5,
            first_backoff: Duration::from_millis(200),
            send_timeout: Duration::from_secs(10),
        }
    }
}

/// Counters of one endpoint (shared with the metrics registry).
#[derive(Debug, Clone, Default)]
pub struct ShipCounters {
    /// Lines delivered.
    pub sent: Counter,
    /// Lines dropped: queue full, or a batch given up.
    pub dropped: Counter,
    /// Sends that failed (each retry counts).
    pub failures: Counter,
}

/// Who writes: the syslog header's host and app name.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The service name (syslog APP-NAME).
    pub service: String,
    /// The endpoint name (syslog MSGID).
    pub endpoint: String,
    /// This pod's host name.
    pub hostname: String,
}

/// The sending side of one endpoint, held by the service's log sink.
#[derive(Debug)]
pub struct Shipper {
    lines: mpsc::UnboundedSender<Vec<u8>>,
    queued: Arc<AtomicUsize>,
    queue_bytes: usize,
    counters: ShipCounters,
}

impl Shipper {
    /// Starts the endpoint's delivery task on the current tokio runtime.
    /// It ends once the shipper is dropped and the queue is delivered.
    pub fn start(
        origin: Origin,
        destination: Destination,
        limits: ShipLimits,
        counters: ShipCounters,
    ) -> Result<Self, String> {
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| "log delivery needs the tokio runtime".to_owned())?;
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let worker = Worker {
            origin,
            destination,
            limits: limits.clone(),
            counters: counters.clone(),
            queued: queued.clone(),
            tcp: None,
            http: None,
        };
        handle.spawn(worker.run(rx));
        Ok(Shipper {
            lines: tx,
            queued,
            queue_bytes: limits.queue_bytes,
            counters,
        })
    }

    /// Queues one line (already one line: no newline inside). Never waits:
    /// a line that does not fit is dropped and counted.
    pub fn offer(&self, line: &[u8]) {
        let size = line.len().max(1);
        let before = self.queued.fetch_add(size, Ordering::AcqRel);
        if before + size > self.queue_bytes || self.lines.send(line.to_vec()).is_err() {
            self.queued.fetch_sub(size, Ordering::AcqRel);
            self.counters.dropped.inc();
        }
    }
}

struct Worker {
    origin: Origin,
    destination: Destination,
    limits: ShipLimits,
    counters: ShipCounters,
    queued: Arc<AtomicUsize>,
    tcp: Option<tokio::net::TcpStream>,
    http: Option<reqwest::Client>,
}

impl Worker {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Vec<u8>>) {
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            let deadline = tokio::time::Instant::now() + self.limits.flush_after;
            while batch.len() < self.limits.batch_lines {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(line)) => batch.push(line),
                    Ok(None) | Err(_) => break,
                }
            }
            let bytes: usize = batch.iter().map(|l| l.len().max(1)).sum();
            self.deliver(&batch).await;
            self.queued.fetch_sub(bytes, Ordering::AcqRel);
        }
    }

    /// Sends a batch, retrying with backoff; counts it sent or dropped.
    async fn deliver(&mut self, batch: &[Vec<u8>]) {
        let mut delay = self.limits.first_backoff;
        for attempt in 1..=self.limits.attempts {
            let sent = tokio::time::timeout(self.limits.send_timeout, self.send(batch)).await;
            match sent {
                Ok(Ok(())) => {
                    self.counters.sent.inc_by(batch.len() as u64);
                    return;
                }
                Ok(Err(why)) => self.failed(attempt, &why),
                Err(_) => self.failed(attempt, "timed out"),
            }
            if attempt < self.limits.attempts {
                // Full jitter on top of the doubling delay: many pods
                // retrying at once do not come back in step.
                let jitter = rand::random_range(0..=delay.as_millis() as u64);
                tokio::time::sleep(delay + Duration::from_millis(jitter)).await;
                delay *= 2;
            }
        }
        self.counters.dropped.inc_by(batch.len() as u64);
    }

    fn failed(&mut self, attempt: u32, why: &str) {
        self.counters.failures.inc();
        // A connection that failed once is not trusted again.
        self.tcp = None;
        tracing::warn!(
            service = %self.origin.service,
            endpoint = %self.origin.endpoint,
            attempt,
            "log delivery failed: {why}"
        );
    }

    async fn send(&mut self, batch: &[Vec<u8>]) -> Result<(), String> {
        match self.destination.clone() {
            Destination::Https(url) => self.post(&url, batch).await,
            Destination::SyslogTcp(addr) => self.syslog_tcp(&addr, batch).await,
            Destination::SyslogUdp(addr) => self.syslog_udp(&addr, batch).await,
        }
    }

    async fn post(&mut self, url: &str, batch: &[Vec<u8>]) -> Result<(), String> {
        if self.http.is_none() {
            self.http = Some(http_client(self.limits.send_timeout)?);
        }
        let Some(client) = &self.http else {
            return Err("no HTTP client".into());
        };
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        for line in batch {
            gz.write_all(line).map_err(|e| e.to_string())?;
            gz.write_all(b"\n").map_err(|e| e.to_string())?;
        }
        let body = gz.finish().map_err(|e| e.to_string())?;
        let response = client
            .post(url)
            .header("content-type", "text/plain; charset=utf-8")
            .header("content-encoding", "gzip")
            .body(body)
            .send()
            .await
            .map_err(|e| lowest_cause(&e))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("the endpoint answered {}", response.status()))
        }
    }

    async fn syslog_tcp(&mut self, addr: &str, batch: &[Vec<u8>]) -> Result<(), String> {
        if self.tcp.is_none() {
            let stream = tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|e| format!("connect {addr}: {e}"))?;
            self.tcp = Some(stream);
        }
        let mut frames = Vec::new();
        for line in batch {
            let message = syslog_message(&self.origin, line);
            frames.extend_from_slice(format!("{} ", message.len()).as_bytes());
            frames.extend_from_slice(&message);
        }
        let Some(stream) = self.tcp.as_mut() else {
            return Err("no connection".into());
        };
        stream
            .write_all(&frames)
            .await
            .map_err(|e| format!("write to {addr}: {e}"))
    }

    async fn syslog_udp(&mut self, addr: &str, batch: &[Vec<u8>]) -> Result<(), String> {
        let socket = tokio::net::UdpSocket::bind(if addr.starts_with('[') {
            "[::]:0"
        } else {
            "0.0.0.0:0"
        })
        .await
        .map_err(|e| e.to_string())?;
        socket
            .connect(addr)
            .await
            .map_err(|e| format!("{addr}: {e}"))?;
        for line in batch {
            let mut message = syslog_message(&self.origin, line);
            // The largest UDP payload over IPv4.
            message.truncate(65_507);
            socket
                .send(&message)
                .await
                .map_err(|e| format!("send to {addr}: {e}"))?;
        }
        Ok(())
    }
}

/// One RFC 5424 message: facility user (1), severity informational (6),
/// the time, the pod, the service as APP-NAME and the endpoint as MSGID.
fn syslog_message(origin: &Origin, line: &[u8]) -> Vec<u8> {
    let now = chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now())
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let field = |s: &str, max: usize| -> String {
        let clean: String = s
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(max)
            .collect();
        if clean.is_empty() { "-".into() } else { clean }
    };
    let mut out = format!(
        "<14>1 {now} {} {} - {} - ",
        field(&origin.hostname, 255),
        field(&origin.service, 48),
        field(&origin.endpoint, 32)
    )
    .into_bytes();
    out.extend_from_slice(line);
    out
}

fn http_client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls_config().map_err(|e| e.to_string())?)
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("fastly-anywhere/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| lowest_cause(&e))
}

#[cfg(test)]
#[path = "log_ship_tests.rs"]
mod tests;
