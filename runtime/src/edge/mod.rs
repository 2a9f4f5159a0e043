//! `anywhere edge`: the pod's data plane. Reads the services the chart
//! renders (`edge.yaml`) and their packages from the xqd volume, serves
//! them by Host, and swaps in new versions atomically: a new version is
//! compiled in the background while the old one serves, and a bad one
//! leaves the old one active.

use crate::config::{BackendConfig, ProjectConfig, parse_backend_url};
use crate::engine::Runtime;
use crate::engine::loaded::LoadedService;
use crate::host::kv::KvStores;
use crate::host::logs::{LogSink, LogTarget};
use crate::host::service::ServiceEnv;
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::server::admin::{ReadyCheck, serve_admin};
use crate::server::front::{Front, Router};
use anyhow::Context;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};
use values_schema::values::{LogEndpointKind, Observability, Service};

/// `edge.yaml`, as the chart's ConfigMap renders it.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EdgeFile {
    /// Services declared in values.
    #[serde(default)]
    pub services: Vec<Service>,
    /// Limits.
    #[serde(default)]
    pub limits: values_schema::values::Limits,
    /// Metrics and logs.
    #[serde(default)]
    pub observability: Observability,
    /// The headless Service of the pods (cluster forwarding, later).
    #[serde(default)]
    pub peers_service: Option<String>,
}

/// What `anywhere edge` was asked to do.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// `edge.yaml`.
    pub config: PathBuf,
    /// The xqd volume: `services/<name>/package.tar.gz` (or `main.wasm`),
    /// precompiled modules and KV stores.
    pub xqd_dir: PathBuf,
    /// Client traffic.
    pub http_addr: SocketAddr,
    /// `/healthz`, `/readyz`, `/metrics`.
    pub admin_addr: SocketAddr,
    /// How often to look for changed config and packages.
    pub poll: Duration,
    /// Time in-flight requests get after SIGTERM.
    pub grace: Duration,
}

/// Reads and checks `edge.yaml`.
pub fn read_edge_file(path: &Path) -> anyhow::Result<(EdgeFile, Limits)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: EdgeFile = serde_yaml::from_str(&text).map_err(|e| {
        let place = e
            .location()
            .map(|l| format!(":{}:{}", l.line(), l.column()))
            .unwrap_or_default();
        anyhow::anyhow!("{}{place}: {e}", path.display())
    })?;
    let limits = Limits::try_from(&file.limits).with_context(|| path.display().to_string())?;
    Ok((file, limits))
}

/// The package of `service` on the xqd volume.
pub fn package_path(xqd: &Path, service: &str) -> Option<PathBuf> {
    let dir = xqd.join("services").join(service);
    ["package.tar.gz", "main.wasm"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
}

fn project_config(service: &Service) -> anyhow::Result<ProjectConfig> {
    let mut cfg = ProjectConfig {
        name: Some(service.name.clone()),
        ..ProjectConfig::default()
    };
    for b in &service.backends {
        let url = parse_backend_url(&b.url).map_err(|m| {
            anyhow::anyhow!("services.{}.backends.{}.url: {m}", service.name, b.name)
        })?;
        let mut backend = BackendConfig::new(url);
        backend.override_host = b.override_host.clone();
        if let Some(t) = &b.connect_timeout {
            backend.connect_timeout = t.value().map_err(|e| {
                anyhow::anyhow!(
                    "services.{}.backends.{}.connectTimeout: {e}",
                    service.name,
                    b.name
                )
            })?;
        }
        cfg.backends.insert(b.name.clone(), backend);
    }
    for s in &service.config_stores {
        cfg.config_stores.insert(s.name.clone(), s.items.clone());
    }
    for k in &service.kv_stores {
        cfg.kv_stores.insert(k.clone(), Default::default());
    }
    Ok(cfg)
}

/// One service's state on this pod.
struct Slot {
    /// The active version.
    active: Option<Arc<LoadedService>>,
    /// What the active version was built from: package mtime and size.
    stamp: Option<(SystemTime, u64)>,
    /// The definition it was built from.
    definition: Option<Service>,
    /// The last load error, if the newest input failed.
    error: Option<String>,
    /// KV stores survive version swaps.
    kv: Option<Arc<KvStores>>,
}

/// The routing table by domain, and readiness.
pub struct EdgeRouter {
    routes: RwLock<HashMap<String, Arc<LoadedService>>>,
    ready: RwLock<Result<(), String>>,
}

impl Default for EdgeRouter {
    fn default() -> Self {
        EdgeRouter {
            routes: RwLock::default(),
            ready: RwLock::new(Err("starting".into())),
        }
    }
}

impl Router for EdgeRouter {
    fn route(&self, host: &str) -> Option<Arc<LoadedService>> {
        let routes = self.routes.read().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = routes.get(host) {
            return Some(s.clone());
        }
        // `*.example.com` matches one label.
        let (_, parent) = host.split_once('.')?;
        routes.get(&format!("*.{parent}")).cloned()
    }
}

struct Edge {
    config: EdgeConfig,
    runtime: Runtime,
    metrics: Arc<Metrics>,
    router: Arc<EdgeRouter>,
    slots: BTreeMap<String, Slot>,
    file_stamp: Option<SystemTime>,
    file: EdgeFile,
    limits: Limits,
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

impl Edge {
    /// Loads what changed since the last look. A failure keeps the old
    /// version of that service serving.
    async fn refresh(&mut self) {
        let file_stamp = std::fs::metadata(&self.config.config)
            .and_then(|m| m.modified())
            .ok();
        if file_stamp != self.file_stamp {
            match read_edge_file(&self.config.config) {
                Ok((file, limits)) => {
                    self.file = file;
                    self.limits = limits;
                }
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "edge config rejected; keeping the previous one")
                }
            }
            self.file_stamp = file_stamp;
        }
        let services = self.file.services.clone();
        self.slots
            .retain(|name, _| services.iter().any(|s| &s.name == name));
        for service in services {
            let path = package_path(&self.config.xqd_dir, &service.name);
            let new_stamp = path.as_deref().and_then(stamp);
            let slot = self.slots.entry(service.name.clone()).or_insert(Slot {
                active: None,
                stamp: None,
                definition: None,
                error: None,
                kv: None,
            });
            let unchanged = slot.stamp == new_stamp && slot.definition.as_ref() == Some(&service);
            let Some(path) = path.filter(|_| !unchanged) else {
                if new_stamp.is_none() && slot.active.is_none() {
                    slot.error = Some(format!(
                        "no package at {}/services/{}/package.tar.gz",
                        self.config.xqd_dir.display(),
                        service.name
                    ));
                }
                continue;
            };
            let kv = match &slot.kv {
                Some(kv) => kv.clone(),
                None => {
                    let dir = self.config.xqd_dir.join("kv");
                    let opened = std::fs::create_dir_all(&dir)
                        .map_err(anyhow::Error::from)
                        .and_then(|()| {
                            KvStores::open(&dir.join(format!("{}.redb", service.name)))
                                .map_err(anyhow::Error::from)
                        });
                    match opened {
                        Ok(kv) => {
                            let kv = Arc::new(kv);
                            slot.kv = Some(kv.clone());
                            kv
                        }
                        Err(e) => {
                            slot.error = Some(format!("KV stores: {e:#}"));
                            continue;
                        }
                    }
                }
            };
            let loaded = load_service(
                &self.runtime,
                &self.config,
                &self.file.observability,
                &self.limits,
                &service,
                &path,
                kv,
            )
            .await;
            slot.stamp = new_stamp;
            slot.definition = Some(service.clone());
            match loaded {
                Ok(svc) => {
                    let origin = format!("{:?}", svc.origin).to_lowercase();
                    self.metrics
                        .loads
                        .get_or_create(&Metrics::kind(&service.name, &origin))
                        .inc();
                    tracing::info!(service = %service.name, module = %svc.module_sha256, origin, load_ms = svc.load_time.as_millis() as u64, "version active");
                    slot.active = Some(Arc::new(svc));
                    slot.error = None;
                }
                Err(e) => {
                    self.metrics
                        .loads
                        .get_or_create(&Metrics::kind(&service.name, "failed"))
                        .inc();
                    let message = format!("{e:#}");
                    tracing::error!(service = %service.name, error = %message, "new version rejected; the previous version keeps serving");
                    slot.error = Some(message);
                }
            }
        }
        self.publish();
    }

    fn publish(&self) {
        let mut routes = HashMap::new();
        let mut missing = Vec::new();
        for (name, slot) in &self.slots {
            match (&slot.active, &slot.definition) {
                (Some(active), Some(def)) => {
                    for d in &def.domains {
                        routes.insert(d.to_ascii_lowercase(), active.clone());
                    }
                }
                _ => missing.push(format!(
                    "{name}: {}",
                    slot.error.clone().unwrap_or_else(|| "not loaded".into())
                )),
            }
        }
        *self
            .router
            .routes
            .write()
            .unwrap_or_else(|p| p.into_inner()) = routes;
        *self.router.ready.write().unwrap_or_else(|p| p.into_inner()) = if missing.is_empty() {
            Ok(())
        } else {
            Err(missing.join("; "))
        };
    }
}

async fn load_service(
    runtime: &Runtime,
    config: &EdgeConfig,
    obs: &Observability,
    limits: &Limits,
    service: &Service,
    path: &Path,
    kv: Arc<KvStores>,
) -> anyhow::Result<LoadedService> {
    let project = project_config(service)?;
    kv.seed(&project.kv_stores)?;
    let targets = obs
        .log_endpoints
        .iter()
        .map(|e| {
            // HTTPS and syslog delivery come with the control plane; until
            // then their lines go to stdout, named.
            let target = match e.kind {
                LogEndpointKind::Stdout | LogEndpointKind::Https | LogEndpointKind::Syslog => {
                    LogTarget::Stdout
                }
            };
            (e.name.clone(), target)
        })
        .collect();
    let logs = LogSink::new(&service.name, targets, None);
    let env = ServiceEnv::new(service.name.clone(), project, kv, logs, limits.clone())
        .map_err(anyhow::Error::msg)?;
    let runtime = runtime.clone();
    let path = path.to_path_buf();
    let cache = config.xqd_dir.join("compiled");
    let max = limits.package_bytes;
    tokio::task::spawn_blocking(move || {
        let package = crate::package::read_package(&path, None, max)?;
        LoadedService::load(&runtime, &package.wasm, env, Some(&cache))
    })
    .await?
}

/// Runs `anywhere edge` until `shutdown` resolves.
pub async fn run(config: EdgeConfig, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let (file, limits) = read_edge_file(&config.config)?;
    let runtime = Runtime::new(&limits)?;
    let metrics = Arc::new(Metrics::default());
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
            .ready
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    });
    *router.ready.write().unwrap_or_else(|p| p.into_inner()) = Err("starting".into());
    let metrics_enabled = file.observability.metrics.enabled;
    tokio::spawn(serve_admin(
        admin,
        metrics_enabled.then(|| metrics.clone()),
        ready,
    ));
    let mut edge = Edge {
        config: config.clone(),
        runtime,
        metrics: metrics.clone(),
        router: router.clone(),
        slots: BTreeMap::new(),
        file_stamp: std::fs::metadata(&config.config)
            .and_then(|m| m.modified())
            .ok(),
        file,
        limits: limits.clone(),
    };
    edge.refresh().await;
    let poll = config.poll;
    let watcher = tokio::spawn(async move {
        loop {
            tokio::time::sleep(poll).await;
            edge.refresh().await;
        }
    });
    println!("Listening on http://{}", listener.local_addr()?);
    let front = Front::new(router, metrics, limits, true);
    front.serve(listener, shutdown, config.grace).await;
    watcher.abort();
    Ok(())
}
