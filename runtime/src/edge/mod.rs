//! `anywhere edge`: the pod's data plane. Serves, by Host, the service
//! versions the loader activated on the xqd volume; compiles new versions
//! in the background and swaps them in atomically, keeping the old one when
//! a new one fails. On SIGTERM it drains: unready at once, still accepting
//! for the drain delay (while the endpoints controller and kube-proxy take
//! the pod out of rotation), then it stops accepting and gives requests in
//! flight the grace period.

mod cache_setup;
mod log_targets;
mod metrics_push;
mod pending;
mod router;
mod services;
mod status;

pub use cache_setup::CacheFlags;
pub use pending::PendingFlags;
pub use router::{EdgeRouter, ServiceState};
pub use services::project_config;

use crate::config::EdgeFile;
use crate::engine::Runtime;
use crate::host::downstream::TrustedProxies;
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::server::admin::{MetricsText, ReadyCheck, StatusJson, serve_admin_with_status};
use crate::server::front::Front;
use crate::xqd::Xqd;
use anyhow::Context;
use services::Services;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// What `anywhere edge` was asked to do.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// `edge.yaml`.
    pub config: PathBuf,
    /// The xqd volume (see `crate::xqd`).
    pub xqd_dir: PathBuf,
    /// Client traffic.
    pub http_addr: SocketAddr,
    /// `/healthz`, `/readyz`, `/metrics`.
    pub admin_addr: SocketAddr,
    /// How often to look for changed config and versions.
    pub poll: Duration,
    /// After SIGTERM: unready but still accepting, this long.
    pub drain_delay: Duration,
    /// Then: time requests in flight get to finish.
    pub grace: Duration,
    /// The HTTP cache.
    pub cache: CacheFlags,
    /// The purge API (bind to loopback).
    pub purge_addr: SocketAddr,
    /// Flags of work to come, checked and reported.
    pub pending: PendingFlags,
    /// Where only the edge can write: the key that seals precompiled
    /// modules (see `crate::engine::cache::ModuleKey`); none: a key for
    /// this process only.
    pub private_dir: Option<PathBuf>,
}

/// Reads and checks `edge.yaml`.
pub fn read_edge_file(path: &Path) -> anyhow::Result<(EdgeFile, Limits)> {
    let file = crate::config::read_edge_file(path)?;
    let limits = Limits::try_from(&file.limits).with_context(|| path.display().to_string())?;
    crate::host::egress::AddressPolicy::new(
        &file.egress.denied_cidrs,
        &file.egress.allowed_cidrs,
        "egress",
    )
    .map_err(anyhow::Error::msg)
    .with_context(|| path.display().to_string())?;
    Ok((file, limits))
}

/// edge.yaml as last read, and a generation that changes with it.
struct Watched {
    path: PathBuf,
    stamp: Option<(SystemTime, u64)>,
    file: EdgeFile,
    limits: Limits,
    generation: u64,
}

impl Watched {
    fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
        let m = std::fs::metadata(path).ok()?;
        Some((m.modified().ok()?, m.len()))
    }

    /// Rereads edge.yaml when it changed; a bad one keeps the previous.
    fn reread(&mut self) {
        let stamp = Self::stamp(&self.path);
        if stamp == self.stamp {
            return;
        }
        self.stamp = stamp;
        match read_edge_file(&self.path) {
            Ok((file, limits)) => {
                self.file = file;
                self.limits = limits;
                self.generation += 1;
            }
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "edge config rejected; keeping the previous one")
            }
        }
    }
}

/// How long queued log lines may take to leave once requests are done.
const LOG_FLUSH: Duration = Duration::from_secs(3);

/// Runs `anywhere edge` until `shutdown` resolves, then drains.
pub async fn run(config: EdgeConfig, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let (file, limits) = read_edge_file(&config.config)?;
    let tls_headers =
        crate::host::forwarded_tls::TlsHeaderNames::new(&file.client_address.tls_headers)
            .map_err(anyhow::Error::msg)?;
    let proxies = TrustedProxies::new(
        &file.client_address.trusted_proxies,
        "clientAddress.trustedProxies",
    )
    .map_err(anyhow::Error::msg)?
    .with_tls_headers(tls_headers);
    let pending = config.pending.check()?;
    crate::engine::cache::install_edge_key(config.private_dir.as_deref())
        .context("--private-dir")?;
    let runtime = Runtime::new(&limits)?;
    let heap = crate::host::heap::HeapBudget::for_container(limits.total_heap_bytes);
    match &heap {
        Some(h) => tracing::info!(
            bytes = h.limit(),
            "linear memory of all instances together is bounded"
        ),
        None => tracing::warn!(
            "no container memory limit found and limits.totalHeapMemory unset: instances' memory together is unbounded"
        ),
    }
    let metrics = Arc::new(Metrics::default());
    if !config.purge_addr.ip().is_loopback() {
        anyhow::bail!(
            "--purge-addr {}: the purge API has no authentication; give it a loopback address such as 127.0.0.1:9093",
            config.purge_addr
        );
    }
    let (cache, cache_report) = cache_setup::open_cache(&config.cache, metrics.cache.clone())?;
    let purge = tokio::net::TcpListener::bind(config.purge_addr)
        .await
        .with_context(|| format!("listening on {} (purge API)", config.purge_addr))?;
    let router = Arc::new(EdgeRouter::default());
    let listener = tokio::net::TcpListener::bind(config.http_addr)
        .await
        .with_context(|| format!("listening on {}", config.http_addr))?;
    let admin = tokio::net::TcpListener::bind(config.admin_addr)
        .await
        .with_context(|| format!("listening on {}", config.admin_addr))?;
    let ready_router = router.clone();
    let ready: ReadyCheck = Arc::new(move || {
        ready_router
            .readiness()
            .map(|report| format!("{report}{cache_report}{pending}"))
    });
    tokio::spawn(crate::server::purge::serve_purge(
        purge,
        cache.clone(),
        router.clone(),
    ));
    let text = metrics.clone();
    let metrics_text: MetricsText = Arc::new(move || text.render());
    let (status_router, status_metrics) = (router.clone(), metrics.clone());
    let status: StatusJson = Arc::new(move || {
        let status = status::edge_status(&status_router, &status_metrics);
        serde_json::to_string_pretty(&status).unwrap_or_default()
    });
    let push = &file.observability.metrics.push;
    if let Some(url) = push.url.clone() {
        let interval = push
            .interval
            .value()
            .context("observability.metrics.push.interval")?
            .max(Duration::from_secs(1));
        let text = metrics.clone();
        tokio::spawn(metrics_push::push_forever(
            url,
            interval,
            crate::host::platform::hostname(),
            move || text.render(),
        ));
    }
    tokio::spawn(serve_admin_with_status(
        admin,
        file.observability.metrics.enabled.then_some(metrics_text),
        ready,
        Some(status),
    ));
    let mut watched = Watched {
        stamp: Watched::stamp(&config.config),
        path: config.config.clone(),
        file,
        limits: limits.clone(),
        generation: 0,
    };
    let deliveries = crate::host::log_ship::Deliveries::default();
    let mut services = Services::new(
        Xqd::new(&config.xqd_dir),
        runtime,
        metrics.clone(),
        router.clone(),
        cache.clone(),
        heap,
        deliveries.clone(),
    );
    services.refresh(&watched.file, &watched.limits, 0).await;
    let poll = config.poll;
    let watcher = tokio::spawn(async move {
        loop {
            tokio::time::sleep(poll).await;
            watched.reread();
            services
                .refresh(&watched.file, &watched.limits, watched.generation)
                .await;
        }
    });
    println!("Listening on http://{}", listener.local_addr()?);
    let front = Front::new(router.clone(), metrics.clone(), limits, proxies);
    let draining_front = front.clone();
    let drain_delay = config.drain_delay;
    let drained = async move {
        shutdown.await;
        router.start_draining();
        draining_front.start_draining();
        metrics.draining.set(1);
        tracing::info!(?drain_delay, "draining: unready, still accepting");
        tokio::time::sleep(drain_delay).await;
    };
    front.serve(listener, drained, config.grace).await;
    watcher.abort();
    // Lines programs logged in their last moments are still queued: give
    // their endpoints a bounded time (within the pod's 5 s to exit).
    let lost = deliveries.flush(LOG_FLUSH).await;
    if lost > 0 {
        tracing::warn!(lines = lost, "log lines not delivered before exit");
    }
    // What was stored in the last second is not durable yet: make it so
    // before the process ends.
    if let Err(e) = cache.sync().await {
        tracing::error!(error = %e, "the cache's last writes could not be made durable");
    }
    Ok(())
}
