//! Real-time log delivery: the lines a program writes to an HTTPS or syslog
//! endpoint leave the process from a task of their own. A request only puts
//! its line in a queue bounded in bytes; when the queue is full (the
//! endpoint is slow, dead or stalls) the line is dropped and counted, so an
//! endpoint can never slow or fail a request. The task sends in batches
//! (HTTPS: lines joined by newlines, gzip, one POST per batch; syslog:
//! RFC 5424 messages, octet-counted over TCP or TLS, one datagram each over
//! UDP), retries a failed batch with exponential backoff and jitter, and
//! gives up on it (counting its lines as dropped) after a few attempts. On
//! shutdown, [`Deliveries::flush`] gives the queues a bounded time to empty.

use crate::fastly_api::{lowest_cause, tls_config};
use prometheus_client::metrics::counter::Counter;
use rustls::pki_types::ServerName;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// Where an endpoint's lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// POST to this URL (`https://…`; `http://` for tests and local use).
    Https(String),
    /// RFC 5424 over TCP with octet counting (RFC 6587), to `host:port`.
    SyslogTcp(String),
    /// The same inside TLS, to `host:port`, checking the certificate
    /// against `server_name`.
    SyslogTls {
        /// `host:port`.
        addr: String,
        /// The name the certificate must carry.
        server_name: String,
    },
    /// RFC 5424, one UDP datagram per message, to `host:port`.
    SyslogUdp(String),
}

impl Destination {
    /// From an endpoint's URL: `https://…`, `tcp://host:port`,
    /// `tls://host:port` (checked against `tls_hostname` when given, else
    /// the URL's host), `udp://host:port`.
    pub fn from_url(url: &str, tls_hostname: Option<&str>) -> Result<Self, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("`{url}` has no scheme"))?;
        let addr = rest.trim_end_matches('/').to_owned();
        match scheme {
            "https" | "http" => Ok(Destination::Https(url.to_owned())),
            "tcp" => Ok(Destination::SyslogTcp(addr)),
            "udp" => Ok(Destination::SyslogUdp(addr)),
            "tls" => {
                let host = match addr.rsplit_once(':') {
                    Some((host, port)) if port.parse::<u16>().is_ok() => host,
                    _ => return Err(format!("`{url}` needs a port (tls://host:port)")),
                };
                let server_name = tls_hostname
                    .unwrap_or_else(|| host.trim_start_matches('[').trim_end_matches(']'))
                    .to_owned();
                ServerName::try_from(server_name.clone())
                    .map_err(|_| format!("`{server_name}` is not a TLS server name"))?;
                Ok(Destination::SyslogTls { addr, server_name })
            }
            other => Err(format!(
                "`{other}://` log endpoints are not supported (https, tcp, tls or udp)"
            )),
        }
    }
}

/// The TLS client settings of an endpoint: the public roots, or only the CA
/// the endpoint's `tlsCaCert` gives.
pub fn endpoint_tls(ca_pem: Option<&str>) -> Result<rustls::ClientConfig, String> {
    let mut config = tls_config().map_err(|e| e.to_string())?;
    if let Some(pem) = ca_pem {
        let mut roots = rustls::RootCertStore::empty();
        let mut found = 0;
        for cert in rustls_pemfile::certs(&mut pem.as_bytes()) {
            let cert = cert.map_err(|e| format!("tlsCaCert: {e}"))?;
            roots.add(cert).map_err(|e| format!("tlsCaCert: {e}"))?;
            found += 1;
        }
        if found == 0 {
            return Err("tlsCaCert holds no PEM certificate".into());
        }
        let alpn = config.alpn_protocols.clone();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn;
    }
    Ok(config)
}

/// Every endpoint queue of the process, so that shutdown can wait for them.
#[derive(Debug, Clone, Default)]
pub struct Deliveries {
    queues: Arc<Mutex<Vec<Weak<Queue>>>>,
}

impl Deliveries {
    fn register(&self, queue: &Arc<Queue>) {
        if let Ok(mut queues) = self.queues.lock() {
            queues.retain(|q| q.strong_count() > 0);
            queues.push(Arc::downgrade(queue));
        }
    }

    /// Waits until every queue is delivered or `within` has passed; lines
    /// still waiting then are counted dropped. Returns how many.
    pub async fn flush(&self, within: Duration) -> u64 {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let live: Vec<Arc<Queue>> = match self.queues.lock() {
                Ok(queues) => queues.iter().filter_map(Weak::upgrade).collect(),
                Err(_) => return 0,
            };
            let waiting: usize = live.iter().map(|q| q.lines.load(Ordering::Acquire)).sum();
            if waiting == 0 {
                return 0;
            }
            if tokio::time::Instant::now() >= deadline {
                for q in &live {
                    q.dropped.inc_by(q.lines.load(Ordering::Acquire) as u64);
                }
                return waiting as u64;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// What one endpoint holds, in bytes and lines (a line being sent counts
/// until it is delivered or given up).
#[derive(Debug)]
struct Queue {
    bytes: AtomicUsize,
    lines: AtomicUsize,
    dropped: Counter,
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
    queue: Arc<Queue>,
    queue_bytes: usize,
    counters: ShipCounters,
}

/// Where one endpoint's lines go and how its TLS is checked.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The receiver.
    pub destination: Destination,
    /// TLS settings for `https` and `tls://` ([`endpoint_tls`]).
    pub tls: rustls::ClientConfig,
}

impl Shipper {
    /// Starts the endpoint's delivery task on the current tokio runtime,
    /// registered with `deliveries`. It ends once the shipper is dropped
    /// and the queue is delivered.
    pub fn start(
        origin: Origin,
        endpoint: Endpoint,
        limits: ShipLimits,
        counters: ShipCounters,
        deliveries: &Deliveries,
    ) -> Result<Self, String> {
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| "log delivery needs the tokio runtime".to_owned())?;
        let (tx, rx) = mpsc::unbounded_channel();
        let queue = Arc::new(Queue {
            bytes: AtomicUsize::new(0),
            lines: AtomicUsize::new(0),
            dropped: counters.dropped.clone(),
        });
        deliveries.register(&queue);
        let worker = Worker {
            origin,
            destination: endpoint.destination,
            tls: Arc::new(endpoint.tls),
            limits: limits.clone(),
            counters: counters.clone(),
            queue: queue.clone(),
            stream: None,
            udp: None,
            http: None,
        };
        handle.spawn(worker.run(rx));
        Ok(Shipper {
            lines: tx,
            queue,
            queue_bytes: limits.queue_bytes,
            counters,
        })
    }

    /// Queues one line (already one line: no newline inside). Never waits:
    /// a line that does not fit is dropped and counted.
    pub fn offer(&self, line: &[u8]) {
        let size = line.len().max(1);
        let before = self.queue.bytes.fetch_add(size, Ordering::AcqRel);
        self.queue.lines.fetch_add(1, Ordering::AcqRel);
        if before + size > self.queue_bytes || self.lines.send(line.to_vec()).is_err() {
            self.queue.bytes.fetch_sub(size, Ordering::AcqRel);
            self.queue.lines.fetch_sub(1, Ordering::AcqRel);
            self.counters.dropped.inc();
        }
    }
}

/// A syslog stream: plain TCP or TLS over it.
type Stream = Box<dyn AsyncWrite + Send + Sync + Unpin>;

struct Worker {
    origin: Origin,
    destination: Destination,
    tls: Arc<rustls::ClientConfig>,
    limits: ShipLimits,
    counters: ShipCounters,
    queue: Arc<Queue>,
    stream: Option<Stream>,
    udp: Option<tokio::net::UdpSocket>,
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
            self.queue.bytes.fetch_sub(bytes, Ordering::AcqRel);
            self.queue.lines.fetch_sub(batch.len(), Ordering::AcqRel);
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
        self.stream = None;
        self.udp = None;
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
            Destination::SyslogTcp(addr) => self.syslog_stream(&addr, None, batch).await,
            Destination::SyslogTls { addr, server_name } => {
                self.syslog_stream(&addr, Some(&server_name), batch).await
            }
            Destination::SyslogUdp(addr) => self.syslog_udp(&addr, batch).await,
        }
    }

    async fn post(&mut self, url: &str, batch: &[Vec<u8>]) -> Result<(), String> {
        if self.http.is_none() {
            self.http = Some(http_client(&self.tls, self.limits.send_timeout)?);
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

    async fn syslog_stream(
        &mut self,
        addr: &str,
        tls_name: Option<&str>,
        batch: &[Vec<u8>],
    ) -> Result<(), String> {
        if self.stream.is_none() {
            self.stream = Some(self.connect(addr, tls_name).await?);
        }
        let mut frames = Vec::new();
        for line in batch {
            let message = syslog_message(&self.origin, line);
            frames.extend_from_slice(format!("{} ", message.len()).as_bytes());
            frames.extend_from_slice(&message);
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err("no connection".into());
        };
        stream
            .write_all(&frames)
            .await
            .map_err(|e| format!("write to {addr}: {e}"))?;
        // TLS holds written records until flushed.
        stream
            .flush()
            .await
            .map_err(|e| format!("write to {addr}: {e}"))
    }

    async fn connect(&self, addr: &str, tls_name: Option<&str>) -> Result<Stream, String> {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        let Some(name) = tls_name else {
            return Ok(Box::new(tcp));
        };
        let name = ServerName::try_from(name.to_owned())
            .map_err(|_| format!("`{name}` is not a TLS server name"))?;
        let mut config = (*self.tls).clone();
        config.alpn_protocols.clear();
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS with {addr}: {e}"))?;
        Ok(Box::new(tls))
    }

    async fn syslog_udp(&mut self, addr: &str, batch: &[Vec<u8>]) -> Result<(), String> {
        if self.udp.is_none() {
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
            self.udp = Some(socket);
        }
        let Some(socket) = &self.udp else {
            return Err("no socket".into());
        };
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

fn http_client(tls: &rustls::ClientConfig, timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls.clone())
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("fastly-anywhere/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| lowest_cause(&e))
}

#[cfg(test)]
#[path = "log_ship_tests.rs"]
mod tests;
