//! The loader's Prometheus metrics (`anywhere_loader_*`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Labels: a service and the step that failed.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StepLabels {
    /// The service.
    pub service: String,
    /// `resolve`, `fetch`, `verify`, `activate`.
    pub step: String,
}

/// Labels: a service.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServiceLabels {
    /// The service.
    pub service: String,
}

/// The loader's metrics.
pub struct LoaderMetrics {
    registry: Registry,
    /// Versions activated.
    pub activations: Family<ServiceLabels, Counter>,
    /// Failed attempts, by step.
    pub failures: Family<StepLabels, Counter>,
    /// Passes over all sources.
    pub passes: Counter,
    /// Services with an active version.
    pub services: Gauge,
}

impl Default for LoaderMetrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("anywhere_loader");
        let activations = Family::default();
        let failures = Family::default();
        let passes = Counter::default();
        let services = Gauge::default();
        registry.register(
            "activations",
            "Service versions activated",
            activations.clone(),
        );
        registry.register(
            "failures",
            "Failed attempts to bring a service up to date, by step",
            failures.clone(),
        );
        registry.register("passes", "Passes over every source", passes.clone());
        registry.register(
            "services",
            "Services with an active version",
            services.clone(),
        );
        LoaderMetrics {
            registry,
            activations,
            failures,
            passes,
            services,
        }
    }
}

impl LoaderMetrics {
    /// Prometheus text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "encoding metrics");
        }
        out
    }
}
