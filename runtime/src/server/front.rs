//! The client-facing HTTP server: limits (concurrency, header and body
//! size, header timeout), routing by Host, draining and graceful shutdown.

use crate::engine::execute::dispatch;
use crate::engine::loaded::LoadedService;
use crate::host::body::{OutgoingBody, boxed};
use crate::host::downstream::{DownstreamMeta, DownstreamRequest, TrustedProxies};
use crate::limits::Limits;
use crate::metrics::Metrics;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot};

/// Finds the service for a Host.
pub trait Router: Send + Sync + 'static {
    /// The active version of the service answering `host` (no port).
    fn route(&self, host: &str) -> Option<Arc<LoadedService>>;
}

/// The front's settings and shared state.
pub struct Front {
    router: Arc<dyn Router>,
    metrics: Arc<Metrics>,
    limits: Limits,
    slots: Arc<Semaphore>,
    proxies: TrustedProxies,
    request_ids: AtomicU64,
    draining: AtomicBool,
}

impl Front {
    /// A front over `router`. `proxies`: the peers (the Ingress, the load
    /// balancer) whose `X-Forwarded-For` and `X-Forwarded-Proto` are true.
    pub fn new(
        router: Arc<dyn Router>,
        metrics: Arc<Metrics>,
        limits: Limits,
        proxies: TrustedProxies,
    ) -> Arc<Self> {
        Arc::new(Front {
            router,
            metrics,
            slots: Arc::new(Semaphore::new(limits.concurrency)),
            limits,
            proxies,
            request_ids: AtomicU64::new(0),
            draining: AtomicBool::new(false),
        })
    }

    /// From now on, every HTTP/1 response asks its client to close the
    /// connection, so that clients (and the proxies in front) open their
    /// next connection to a pod that is not going away. HTTP/2 clients get
    /// GOAWAY when the listener stops.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Serves connections from `listener` until `shutdown` resolves, then
    /// stops accepting and gives open connections `grace` to finish.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
        grace: Duration,
    ) {
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let builder = self.connection_builder();
        let connections = Arc::new(Semaphore::new(self.limits.connections));
        tokio::pin!(shutdown);
        loop {
            // At the connection cap, the next client waits in the kernel's
            // accept queue rather than holding a task and buffers here.
            let permit = tokio::select! {
                p = connections.clone().acquire_owned() => p,
                () = &mut shutdown => break,
            };
            let Ok(permit) = permit else { break };
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let local = stream.local_addr().unwrap_or(peer);
                    let activity = Arc::new(Activity::default());
                    let front = self.clone();
                    let seen = activity.clone();
                    let service = hyper::service::service_fn(move |req| {
                        let front = front.clone();
                        let busy = seen.begin();
                        async move {
                            let resp = front.handle(req, peer, local).await;
                            // Busy until the body has gone out too.
                            Ok::<_, std::convert::Infallible>(resp.map(|inner| Tracked { inner, _busy: busy }))
                        }
                    });
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
                    let conn = graceful.watch(conn);
                    let idle = self.limits.idle_timeout;
                    tokio::spawn(async move {
                        tokio::select! {
                            r = conn => if let Err(e) = r {
                                tracing::debug!(error = %e, "connection ended with an error");
                            },
                            () = activity.idle_for(idle) => {
                                tracing::debug!(?idle, "closing an idle connection");
                            }
                        }
                        drop(permit);
                    });
                }
                () = &mut shutdown => break,
            }
        }
        drop(listener);
        tracing::info!("stopped accepting; finishing requests in flight");
        if tokio::time::timeout(grace, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(?grace, "grace period over with requests still in flight");
        }
    }

    /// HTTP/1 and HTTP/2 settings from the limits.
    fn connection_builder(&self) -> hyper_util::server::conn::auto::Builder<TokioExecutor> {
        let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.client_header_timeout)
            .max_buf_size(self.limits.max_header_bytes.max(8192) + 1024);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_header_list_size(self.limits.max_header_bytes as u32)
            .max_concurrent_streams(self.limits.http2_max_streams)
            // Streams a client resets before we answer count against this:
            // past it, the connection goes (HTTP/2 rapid reset).
            .max_pending_accept_reset_streams(Some(self.limits.http2_max_streams as usize))
            .keep_alive_interval(Some(Duration::from_secs(30)))
            .keep_alive_timeout(Duration::from_secs(20));
        builder
    }

    async fn handle(
        &self,
        req: http::Request<Incoming>,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> http::Response<OutgoingBody> {
        let started = Instant::now();
        let http1 = req.version() < http::Version::HTTP_2;
        let (service_name, mut resp) = self.route_and_run(req, peer, local).await;
        if http1 && self.draining.load(Ordering::Relaxed) {
            resp.headers_mut().insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("close"),
            );
        }
        let status = resp.status().as_u16();
        self.metrics
            .requests
            .get_or_create(&crate::metrics::StatusLabels {
                service: service_name.clone(),
                status,
            })
            .inc();
        self.metrics
            .latency
            .get_or_create(&Metrics::service(&service_name))
            .observe(started.elapsed().as_secs_f64());
        resp
    }

    async fn route_and_run(
        &self,
        req: http::Request<Incoming>,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> (String, http::Response<OutgoingBody>) {
        let none = || "-".to_owned();
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            self.metrics.rejected.inc();
            return (
                none(),
                error(503, "too many requests in flight on this POP; retry"),
            );
        };
        let header_bytes: usize = req
            .headers()
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 4)
            .sum();
        if header_bytes > self.limits.max_header_bytes {
            return (none(), error(431, "request header section too large"));
        }
        let content_length = req
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if let (Some(max), Some(len)) = (self.limits.max_request_body, content_length)
            && len > max
        {
            return (none(), error(413, "request body too large"));
        }
        let host = req
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
            .or_else(|| req.uri().authority().map(|a| a.to_string()))
            .unwrap_or_default();
        let host_only = strip_port(&host).to_ascii_lowercase();
        let Some(service) = self.router.route(&host_only) else {
            return (
                none(),
                error(
                    500,
                    &format!(
                        "Fastly error: unknown domain: {host_only}. Add it to a service's domains."
                    ),
                ),
            );
        };
        let name = service.env.name.clone();
        let (mut parts, body) = req.into_parts();
        let tls = self.proxies.forwarded_tls(peer.ip(), &mut parts.headers);
        let original_header_names = parts
            .headers
            .keys()
            .map(|k| k.as_str().to_owned())
            .collect();
        let scheme = if self.proxies.trusts(peer.ip())
            && parts
                .headers
                .get("x-forwarded-proto")
                .is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"https"))
        {
            "https"
        } else {
            "http"
        };
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        parts.uri = match format!("{scheme}://{host}{path}").parse() {
            Ok(uri) => uri,
            Err(_) => {
                return (
                    name,
                    error(400, "the request's Host and path do not form a URL"),
                );
            }
        };
        let body = match self.limits.max_request_body {
            Some(max) => boxed(http_body_util::Limited::new(body, max as usize)),
            None => boxed(body),
        };
        let meta = DownstreamMeta {
            client_ip: self.proxies.client_ip(peer.ip(), &parts.headers),
            server_addr: local,
            request_id: self.request_ids.fetch_add(1, Ordering::Relaxed) ^ 0x5eed_0000_0000_0000,
            original_header_names,
            tls,
        };
        let (tx, rx) = oneshot::channel();
        let downstream = DownstreamRequest {
            request: http::Request::from_parts(parts, body),
            meta,
            respond: tx,
            slot: Some(slot),
        };
        dispatch(&service, downstream, &self.metrics);
        match rx.await {
            Ok(resp) => (name, resp),
            Err(_) => (
                name,
                error(500, "the program ended without sending a response"),
            ),
        }
    }
}

/// Requests in progress on one connection, and when the last one ended.
#[derive(Default)]
struct Activity {
    busy: AtomicU64,
    quiet_since: std::sync::Mutex<Option<Instant>>,
}

/// One request on a connection; ending it may start the idle clock.
struct Busy(Arc<Activity>);

impl Activity {
    fn begin(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::AcqRel);
        Busy(self.clone())
    }

    fn quiet_since(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.quiet_since.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Resolves once the connection has had no request for `idle`.
    async fn idle_for(&self, idle: Duration) {
        let opened = Instant::now();
        loop {
            let since = match *self.quiet_since() {
                _ if self.busy.load(Ordering::Acquire) > 0 => None,
                Some(t) => Some(t),
                None => Some(opened),
            };
            match since {
                Some(t) if t.elapsed() >= idle => return,
                Some(t) => tokio::time::sleep(idle - t.elapsed()).await,
                None => tokio::time::sleep(idle).await,
            }
        }
    }
}

/// A response body that keeps its connection busy until it is sent.
struct Tracked {
    inner: OutgoingBody,
    _busy: Busy,
}

impl http_body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = <OutgoingBody as http_body::Body>::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        std::pin::Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        if self.0.busy.fetch_sub(1, Ordering::AcqRel) == 1 {
            *self.0.quiet_since() = Some(Instant::now());
        }
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split(']')
            .next()
            .map_or(host, |h| h.trim_start_matches('['));
    }
    host.rsplit_once(':')
        .filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(h, _)| h)
}

/// A plain-text error answer of the front itself.
pub fn error(status: u16, message: &str) -> http::Response<OutgoingBody> {
    let mut resp = http::Response::new(OutgoingBody::full(format!("{message}\n")));
    *resp.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::strip_port;

    #[test]
    fn ports_are_stripped_from_hosts() {
        assert_eq!(strip_port("example.com:8080"), "example.com");
        assert_eq!(strip_port("example.com"), "example.com");
        assert_eq!(strip_port("[::1]:80"), "::1");
    }
}
