//! The services this pod serves: what the loader activated on the xqd
//! volume, compiled in the background and swapped in atomically. A version
//! that fails to load leaves the previous one serving.

use super::log_targets::log_targets;
use super::router::{EdgeRouter, ServiceState};
use crate::cache::Cache;
use crate::config::{BackendConfig, EdgeFile, ProjectConfig, parse_backend_url};
use crate::engine::Runtime;
use crate::engine::loaded::LoadedService;
use crate::host::egress::{AddressPolicy, EgressPolicy};
use crate::host::heap::HeapBudget;
use crate::host::kv::KvStores;
use crate::host::log_ship::Deliveries;
use crate::host::logs::LogSink;
use crate::host::platform::{
    NO_ID, Platform, TraceIds, derived_service_id, derived_version, hostname,
};
use crate::host::service::ServiceEnv;
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::xqd::{ServiceManifest, Xqd};
use anyhow::Context;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use values_schema::values::Service;

/// One service's state on this pod.
#[derive(Default)]
struct Slot {
    /// The active version and its id.
    active: Option<(String, Arc<LoadedService>, Service)>,
    /// The version id last tried, and the edge.yaml generation it was
    /// tried with (a failed version is not retried until one changes).
    tried: Option<(String, u64)>,
    /// The last load error, if the newest version failed.
    error: Option<String>,
    /// KV stores survive version swaps.
    kv: Option<Arc<KvStores>>,
}

/// The services and what they need to load.
pub struct Services {
    xqd: Xqd,
    runtime: Runtime,
    metrics: Arc<Metrics>,
    router: Arc<EdgeRouter>,
    shared: Shared,
    slots: BTreeMap<String, Slot>,
}

/// What every loaded version shares.
struct Shared {
    /// The HTTP cache.
    cache: Cache,
    /// Linear memory of all instances together.
    heap: Option<Arc<HeapBudget>>,
    /// The process's metrics (log delivery counts into them).
    metrics: Arc<Metrics>,
    /// Log delivery queues, flushed at shutdown.
    deliveries: Deliveries,
}

impl Services {
    /// No service loaded yet.
    pub fn new(
        xqd: Xqd,
        runtime: Runtime,
        metrics: Arc<Metrics>,
        router: Arc<EdgeRouter>,
        cache: Cache,
        heap: Option<Arc<HeapBudget>>,
        deliveries: Deliveries,
    ) -> Self {
        Services {
            xqd,
            runtime,
            metrics: metrics.clone(),
            router,
            shared: Shared {
                cache,
                heap,
                metrics,
                deliveries,
            },
            slots: BTreeMap::new(),
        }
    }

    /// Loads what the loader activated since the last look. `generation`
    /// changes whenever edge.yaml does (limits and log endpoints apply to
    /// every service, so each is reloaded).
    pub async fn refresh(&mut self, file: &EdgeFile, limits: &Limits, generation: u64) {
        let on_disk = match self.xqd.active_services() {
            Ok(names) => names,
            Err(e) => {
                tracing::error!(error = %e, "reading the xqd volume");
                return;
            }
        };
        let declared = file.services.iter().map(|s| s.name.clone());
        let names: BTreeSet<String> = on_disk.iter().cloned().chain(declared).collect();
        self.slots.retain(|name, _| names.contains(name));
        for name in &names {
            self.refresh_one(name, file, limits, generation).await;
        }
        self.publish();
    }

    async fn refresh_one(&mut self, name: &str, file: &EdgeFile, limits: &Limits, generation: u64) {
        let slot = self.slots.entry(name.to_string()).or_default();
        let active = match self.xqd.active(name) {
            Ok(Some(a)) => a,
            Ok(None) => {
                slot.active = None;
                slot.error = Some("waiting for the loader to activate a version".into());
                return;
            }
            Err(e) => {
                slot.error = Some(e.to_string());
                return;
            }
        };
        if slot.tried.as_ref() == Some(&(active.id.clone(), generation)) {
            return;
        }
        slot.tried = Some((active.id.clone(), generation));
        let loaded = load_version(
            &self.xqd,
            &self.runtime,
            slot,
            file,
            limits,
            &active.dir,
            &self.shared,
        )
        .await;
        match loaded {
            Ok((svc, manifest)) => {
                let origin = format!("{:?}", svc.origin).to_lowercase();
                self.metrics
                    .loads
                    .get_or_create(&Metrics::kind(name, &origin))
                    .inc();
                tracing::info!(service = %name, version = %active.id, from = %manifest.origin, module = %svc.module_sha256, origin, load_ms = svc.load_time.as_millis() as u64, "version active");
                slot.active = Some((active.id.clone(), Arc::new(svc), manifest.service));
                slot.error = None;
            }
            Err(e) => {
                self.metrics
                    .loads
                    .get_or_create(&Metrics::kind(name, "failed"))
                    .inc();
                self.metrics.events.count(name, "refused_version");
                let message = format!("version {}: {e:#}", active.id);
                tracing::error!(service = %name, error = %message, "version refused; the previous version (if any) keeps serving");
                slot.error = Some(message);
            }
        }
    }

    fn publish(&self) {
        let mut routes = HashMap::new();
        let mut states = BTreeMap::new();
        for (name, slot) in &self.slots {
            let state = match (&slot.active, &slot.error) {
                (Some((id, active, service)), error) => {
                    for d in &service.domains {
                        routes.insert(d.to_ascii_lowercase(), active.clone());
                    }
                    match error {
                        Some(why) => ServiceState::ServingOlder(id.clone(), why.clone()),
                        None => ServiceState::Serving(id.clone()),
                    }
                }
                (None, error) => {
                    ServiceState::NotServing(error.clone().unwrap_or_else(|| "not loaded".into()))
                }
            };
            let serving = i64::from(!matches!(state, ServiceState::NotServing(_)));
            self.metrics
                .service_serving
                .get_or_create(&Metrics::service(name))
                .set(serving);
            states.insert(name.clone(), state);
        }
        self.router.publish(routes, states);
    }
}

/// Loads one version directory: its manifest, its package, compiled (or
/// taken from the module cache) off the reactor.
async fn load_version(
    xqd: &Xqd,
    runtime: &Runtime,
    slot: &mut Slot,
    file: &EdgeFile,
    limits: &Limits,
    dir: &std::path::Path,
    shared: &Shared,
) -> anyhow::Result<(LoadedService, ServiceManifest)> {
    let manifest = Xqd::read_manifest(dir)?;
    let service = &manifest.service;
    let project = project_config(service)?;
    let kv = match &slot.kv {
        Some(kv) => kv.clone(),
        None => {
            let kv_dir = xqd.kv_dir();
            std::fs::create_dir_all(&kv_dir).with_context(|| kv_dir.display().to_string())?;
            let kv = Arc::new(KvStores::open(
                &kv_dir.join(format!("{}.redb", service.name)),
            )?);
            slot.kv = Some(kv.clone());
            kv
        }
    };
    kv.seed(&project.kv_stores)?;
    let logs = LogSink::new(
        &service.name,
        log_targets(
            service,
            &file.observability,
            &shared.metrics,
            &shared.deliveries,
        )?,
        None,
    );
    let egress = &file.egress;
    let egress = EgressPolicy {
        addresses: Arc::new(
            AddressPolicy::new(&egress.denied_cidrs, &egress.allowed_cidrs, "egress")
                .map_err(anyhow::Error::msg)?,
        ),
        dynamic_backends: service.dynamic_backends.unwrap_or(egress.dynamic_backends),
    };
    let env = ServiceEnv::new(
        service.name.clone(),
        project,
        kv,
        logs,
        limits.clone(),
        egress,
    )
    .map_err(anyhow::Error::msg)?
    .with_platform(platform(file, &manifest))
    .with_cache(shared.cache.clone())
    .with_heap_budget(shared.heap.clone())
    .with_program_output_logged();
    let runtime = runtime.clone();
    let path = dir.join(&manifest.package_file);
    let cache = xqd.compiled_dir();
    let max = limits.package_bytes;
    let loaded = tokio::task::spawn_blocking(move || {
        let package = crate::package::read_package(&path, None, max)?;
        LoadedService::load(&runtime, &package.wasm, env, Some(&cache))
    })
    .await??;
    Ok((loaded, manifest))
}

/// What the platform tells the instances of this version: ids from the
/// Fastly API when the service comes from it, else derived from its name
/// and version (the same on every pod); the POP from values; this pod.
fn platform(file: &EdgeFile, manifest: &ServiceManifest) -> Platform {
    let service = &manifest.service;
    Platform {
        customer_id: file.pop.customer_id.clone().unwrap_or_else(|| NO_ID.into()),
        service_id: service
            .package
            .fastly_service_id
            .clone()
            .unwrap_or_else(|| derived_service_id(&service.name)),
        service_version: manifest
            .fastly_version
            .unwrap_or_else(|| derived_version(&manifest.version_id())),
        pop: file.pop.name.clone().unwrap_or_else(|| "ANYWHERE".into()),
        region: file.pop.region.clone().unwrap_or_else(|| "Anywhere".into()),
        hostname: hostname(),
        is_staging: false,
        trace_ids: TraceIds::Random,
    }
}

/// A backend's health check from values, over Fastly's defaults.
fn health_check(
    h: &values_schema::values::HealthCheck,
    place: &str,
) -> anyhow::Result<crate::host::health::HealthCheck> {
    let mut check = crate::host::health::HealthCheck::new(h.path.clone());
    let duration = |d: &Option<values_schema::quantity::GoDuration>, key: &str| {
        d.as_ref()
            .map(|d| {
                d.value()
                    .map_err(|e| anyhow::anyhow!("{place}.healthCheck.{key}: {e}"))
            })
            .transpose()
    };
    if let Some(d) = duration(&h.interval, "interval")? {
        check.interval = d.max(std::time::Duration::from_millis(100));
    }
    if let Some(d) = duration(&h.timeout, "timeout")? {
        check.timeout = d;
    }
    check.expected_status = h.expected_status.unwrap_or(check.expected_status);
    check.window = h.window.unwrap_or(check.window).max(1);
    check.threshold = h.threshold.unwrap_or(check.threshold);
    check.initial = h.initial.unwrap_or(check.initial);
    if check.threshold > check.window {
        anyhow::bail!(
            "{place}.healthCheck: threshold {} is more than the window of {} probes",
            check.threshold,
            check.window
        );
    }
    Ok(check)
}

/// The program's view of a service definition: backends and stores.
pub fn project_config(service: &Service) -> anyhow::Result<ProjectConfig> {
    let mut cfg = ProjectConfig {
        name: Some(service.name.clone()),
        ..ProjectConfig::default()
    };
    for b in &service.backends {
        let place = format!("services.{}.backends.{}", service.name, b.name);
        let url = parse_backend_url(&b.url).map_err(|m| anyhow::anyhow!("{place}.url: {m}"))?;
        let mut backend = BackendConfig::new(url);
        backend.override_host = b.override_host.clone();
        if let Some(t) = &b.connect_timeout {
            backend.connect_timeout = t
                .value()
                .map_err(|e| anyhow::anyhow!("{place}.connectTimeout: {e}"))?;
        }
        if let Some(h) = &b.health_check {
            backend.health_check = Some(health_check(h, &place)?);
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
