//! The edge's Prometheus metrics.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;

/// Labels: service and status code.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    /// Service name (`-` when no service matched).
    pub service: String,
    /// HTTP status.
    pub status: u16,
}

/// Labels: service.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServiceLabels {
    /// Service name.
    pub service: String,
}

/// Labels: service and a kind (trap kind, limit name, outcome).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// Service name.
    pub service: String,
    /// What happened.
    pub kind: String,
}

/// The HTTP cache's metrics.
#[derive(Clone, Debug, Default)]
pub struct CacheMetrics {
    /// Lookups by service and outcome (`hit`, `miss`, `pass`, `stale`,
    /// `revalidated`, `stale_if_error`).
    pub lookups: Family<KindLabels, Counter>,
    /// Misses that waited on another request's fill instead of going to
    /// the backend.
    pub collapsed: Family<ServiceLabels, Counter>,
    /// Objects stored, by service.
    pub stores: Family<ServiceLabels, Counter>,
    /// Body bytes stored, by service.
    pub stored_bytes: Family<ServiceLabels, Counter>,
    /// Objects evicted for room (disk index and memory layer).
    pub evictions: Counter,
    /// Purges by service and kind (`key`, `surrogate`, `all`; `soft_` prefix
    /// for soft purges).
    pub purges: Family<KindLabels, Counter>,
    /// Objects a purge removed or marked stale.
    pub purged_objects: Family<ServiceLabels, Counter>,
    /// Write transactions that failed.
    pub write_errors: Counter,
    /// Bytes on disk the index accounts for.
    pub disk_bytes: Gauge,
    /// Objects on disk.
    pub disk_objects: Gauge,
}

impl CacheMetrics {
    /// Counts a lookup outcome.
    pub fn lookup(&self, service: &str, outcome: &str) {
        self.lookups
            .get_or_create(&Metrics::kind(service, outcome))
            .inc();
    }

    /// Counts an object stored.
    pub fn stored(&self, service: &str, bytes: u64) {
        let labels = Metrics::service(service);
        self.stores.get_or_create(&labels).inc();
        self.stored_bytes.get_or_create(&labels).inc_by(bytes);
    }

    fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("cache");
        r.register("lookups", "Cache lookups by outcome", self.lookups.clone());
        r.register(
            "collapsed_waits",
            "Misses that waited on another request's fill",
            self.collapsed.clone(),
        );
        r.register("stores", "Objects stored", self.stores.clone());
        r.register(
            "stored_bytes",
            "Body bytes stored",
            self.stored_bytes.clone(),
        );
        r.register(
            "evictions",
            "Objects evicted for room",
            self.evictions.clone(),
        );
        r.register("purges", "Purge requests by kind", self.purges.clone());
        r.register(
            "purged_objects",
            "Objects removed or marked stale by purges",
            self.purged_objects.clone(),
        );
        r.register(
            "write_errors",
            "Cache write transactions that failed",
            self.write_errors.clone(),
        );
        r.register(
            "disk_bytes",
            "Bytes of the objects on disk",
            self.disk_bytes.clone(),
        );
        r.register("disk_objects", "Objects on disk", self.disk_objects.clone());
    }
}

/// Real-time log delivery, by service and endpoint (`kind` is the
/// endpoint's name, declared in values: a bounded set).
#[derive(Clone, Debug, Default)]
pub struct LogMetrics {
    /// Lines delivered.
    pub sent: Family<KindLabels, Counter>,
    /// Lines dropped: the queue was full, or a batch was given up.
    pub dropped: Family<KindLabels, Counter>,
    /// Sends that failed (each retry counts).
    pub failures: Family<KindLabels, Counter>,
}

impl LogMetrics {
    fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("log");
        r.register(
            "lines_sent",
            "Log lines delivered to an endpoint",
            self.sent.clone(),
        );
        r.register(
            "lines_dropped",
            "Log lines dropped: queue full or delivery given up",
            self.dropped.clone(),
        );
        r.register(
            "delivery_failures",
            "Log deliveries that failed, retries included",
            self.failures.clone(),
        );
    }
}

/// All metrics of one process.
pub struct Metrics {
    registry: Registry,
    /// Requests answered, by service and status.
    pub requests: Family<StatusLabels, Counter>,
    /// Request latency, by service.
    pub latency: Family<ServiceLabels, Histogram, fn() -> Histogram>,
    /// Time to create an instance.
    pub instantiation: Family<ServiceLabels, Histogram, fn() -> Histogram>,
    /// Instances alive now.
    pub live_instances: Gauge,
    /// Guests that trapped, by kind.
    pub traps: Family<KindLabels, Counter>,
    /// Guests stopped by a limit, by limit.
    pub limit_kills: Family<KindLabels, Counter>,
    /// Requests turned away because of the concurrency limit.
    pub rejected: Counter,
    /// Package loads, by outcome (`compiled`, `cached`, `failed`).
    pub loads: Family<KindLabels, Counter>,
    /// 1 while a version of the service serves, 0 while none does.
    pub service_serving: Family<ServiceLabels, Gauge>,
    /// 1 from SIGTERM on.
    pub draining: Gauge,
    /// The HTTP cache.
    pub cache: CacheMetrics,
    /// Real-time log delivery.
    pub logs: LogMetrics,
    /// What happened to each service, for `/status`.
    pub events: ServiceEvents,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_1, 2.0, 18))
}

fn instantiation_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_001, 2.0, 20))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("anywhere");
        let requests = Family::<StatusLabels, Counter>::default();
        let latency = Family::<ServiceLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let instantiation =
            Family::<ServiceLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                instantiation_histogram as fn() -> Histogram,
            );
        let live_instances = Gauge::default();
        let traps = Family::<KindLabels, Counter>::default();
        let limit_kills = Family::<KindLabels, Counter>::default();
        let rejected = Counter::default();
        let loads = Family::<KindLabels, Counter>::default();
        let service_serving = Family::<ServiceLabels, Gauge>::default();
        let draining = Gauge::default();
        registry.register(
            "service_serving",
            "1 while a version of the service serves, 0 while none does",
            service_serving.clone(),
        );
        registry.register("draining", "1 once the process drains", draining.clone());
        registry.register(
            "requests",
            "Requests answered, by service and status",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from request to response headers",
            latency.clone(),
        );
        registry.register(
            "instantiation_duration_seconds",
            "Time to create a guest instance",
            instantiation.clone(),
        );
        registry.register(
            "live_instances",
            "Guest instances alive now",
            live_instances.clone(),
        );
        registry.register("guest_traps", "Guests that trapped, by kind", traps.clone());
        registry.register(
            "guest_limit_kills",
            "Guests stopped by a limit, by limit",
            limit_kills.clone(),
        );
        registry.register(
            "rejected_requests",
            "Requests answered 503 at the concurrency limit",
            rejected.clone(),
        );
        registry.register("package_loads", "Package loads by outcome", loads.clone());
        let cache = CacheMetrics::default();
        cache.register(&mut registry);
        let logs = LogMetrics::default();
        logs.register(&mut registry);
        Metrics {
            registry,
            requests,
            latency,
            instantiation,
            live_instances,
            traps,
            limit_kills,
            rejected,
            loads,
            service_serving,
            draining,
            cache,
            logs,
            events: ServiceEvents::default(),
        }
    }
}

/// Counts of what happened to each service (`limit:cpu`, `trap:unreachable`,
/// `refused_version`), for `/status`: the same events as the counters above,
/// kept where they can be read back. Bounded: one entry per service and
/// event kind, both from closed sets.
#[derive(Debug, Default)]
pub struct ServiceEvents {
    counts: std::sync::Mutex<BTreeMap<String, BTreeMap<String, u64>>>,
}

impl ServiceEvents {
    /// Counts one `event` of `service`.
    pub fn count(&self, service: &str, event: &str) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        *counts
            .entry(service.to_owned())
            .or_default()
            .entry(event.to_owned())
            .or_default() += 1;
    }

    /// The counts of `service`, by event.
    pub fn of(&self, service: &str) -> BTreeMap<String, u64> {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.get(service).cloned().unwrap_or_default()
    }
}

impl Metrics {
    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "encoding metrics");
        }
        out
    }

    /// Labels for `service`.
    pub fn service(service: &str) -> ServiceLabels {
        ServiceLabels {
            service: service.to_owned(),
        }
    }

    /// Labels for `service` and `kind`.
    pub fn kind(service: &str, kind: &str) -> KindLabels {
        KindLabels {
            service: service.to_owned(),
            kind: kind.to_owned(),
        }
    }
}
