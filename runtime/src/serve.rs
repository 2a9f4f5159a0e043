//! `anywhere serve`: run one Compute package locally, with the
//! `[local_server]` section of its `fastly.toml`, as Fastly's local tools
//! do.

use crate::config::{ProjectConfig, parse_fastly_toml};
use crate::engine::Runtime;
use crate::engine::loaded::LoadedService;
use crate::host::kv::KvStores;
use crate::host::logs::LogSink;
use crate::host::service::ServiceEnv;
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::server::admin::{ReadyCheck, serve_admin};
use crate::server::front::{Front, Router};
use anyhow::Context;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A program on a developer's machine, as `serve` and `run` take it.
#[derive(Debug, Clone)]
pub struct ProgramConfig {
    /// A `.wasm` or a Compute package `.tar.gz`.
    pub package: PathBuf,
    /// `fastly.toml` to use instead of the package's own or the one beside
    /// the wasm.
    pub manifest: Option<PathBuf>,
    /// Where precompiled modules are kept; none: compile on every start.
    pub cache_dir: Option<PathBuf>,
    /// Log endpoints write `<dir>/<endpoint>.log` instead of stdout.
    pub log_dir: Option<PathBuf>,
    /// Per-request limits.
    pub limits: Limits,
}

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

/// Reads the package and its `fastly.toml` and loads the service.
pub fn load(config: &ProgramConfig, runtime: &Runtime) -> anyhow::Result<LoadedService> {
    let package = crate::package::read_package(
        &config.package,
        config.manifest.as_deref(),
        config.limits.package_bytes,
    )?;
    let (project, name) = match &package.manifest {
        Some((path, text)) => {
            let parsed = parse_fastly_toml(path, text)?;
            for w in &parsed.warnings {
                tracing::warn!("{w}");
            }
            let name = parsed.config.name.clone();
            (parsed.config, name)
        }
        None => (ProjectConfig::default(), None),
    };
    let name = name.unwrap_or_else(|| {
        config
            .package
            .file_stem()
            .map(|s| s.to_string_lossy().trim_end_matches(".tar").to_owned())
            .unwrap_or_else(|| "app".into())
    });
    let kv = KvStores::in_memory().context("creating the in-memory KV stores")?;
    kv.seed(&project.kv_stores)
        .context("loading the KV stores from fastly.toml")?;
    let logs = LogSink::new(&name, Default::default(), config.log_dir.clone());
    // The HTTP cache in memory (256 MiB, objects up to 32 MiB), as a POP
    // would cache (Fastly's own local tool does not cache at all).
    // A developer's origins often listen on loopback: serve does not
    // restrict where backends connect, and dynamic backends are on.
    let egress = crate::host::egress::EgressPolicy::open();
    let env = ServiceEnv::new(
        name,
        project,
        Arc::new(kv),
        logs,
        config.limits.clone(),
        egress,
    )
    .map_err(anyhow::Error::msg)?
    .with_cache(crate::cache::Cache::memory_only(256 << 20, 32 << 20));
    LoadedService::load(runtime, &package.wasm, env, config.cache_dir.as_deref())
        .with_context(|| format!("loading {}", config.package.display()))
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
