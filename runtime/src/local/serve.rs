//! `anywhere serve`: run one Compute package locally, with the
//! `[local_server]` section of its `fastly.toml`, as Fastly's local tools
//! do.

use super::program::{ProgramConfig, load};
use crate::engine::Runtime;
use crate::engine::loaded::LoadedService;
use crate::metrics::Metrics;
use crate::server::admin::{ReadyCheck, serve_admin};
use crate::server::front::{Front, Router};
use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// What `anywhere serve` was asked to do.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The program.
    pub program: ProgramConfig,
    /// Address to listen on.
    pub addr: SocketAddr,
    /// Admin endpoints (`/metrics`, `/healthz`, `/readyz`), if wanted.
    pub admin_addr: Option<SocketAddr>,
}

/// Every Host goes to the one service.
struct OneService(Arc<LoadedService>);

impl Router for OneService {
    fn route(&self, _host: &str) -> Option<Arc<LoadedService>> {
        Some(self.0.clone())
    }
}

/// Runs `anywhere serve` until `shutdown` resolves.
pub async fn run(config: ServeConfig, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let runtime = Runtime::new(&config.program.limits)?;
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("listening on {}", config.addr))?;
    let cfg = config.program.clone();
    let rt = runtime.clone();
    let service = tokio::task::spawn_blocking(move || load(&cfg, &rt)).await??;
    tracing::info!(
        service = %service.env.name,
        module = %service.module_sha256,
        origin = ?service.origin,
        load_ms = service.load_time.as_millis() as u64,
        unsupported_imports = service.unsupported_imports.len(),
        "service loaded"
    );
    let metrics = Arc::new(Metrics::default());
    if let Some(addr) = config.admin_addr {
        let admin = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("listening on {addr}"))?;
        let ready: ReadyCheck = Arc::new(|| Ok(String::new()));
        let text = metrics.clone();
        tokio::spawn(serve_admin(
            admin,
            Some(Arc::new(move || text.render())),
            ready,
        ));
    }
    let local = listener.local_addr()?;
    // The line tools and tests wait for.
    println!("Listening on http://{local}");
    let front = Front::new(
        Arc::new(OneService(Arc::new(service))),
        metrics,
        config.program.limits.clone(),
        // A developer's client connects directly: its own address.
        crate::host::downstream::TrustedProxies::default(),
    );
    front
        .serve(listener, shutdown, Duration::from_secs(10))
        .await;
    Ok(())
}
