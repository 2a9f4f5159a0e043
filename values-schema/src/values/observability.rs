//! `observability`: metrics and logs.

use crate::quantity::GoDuration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Metrics and logs of the POP.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Observability {
    /// Prometheus metrics of the edge.
    pub metrics: Metrics,
    /// Verbosity of the runtime's own logs.
    pub log_level: LogLevel,
    /// Shape of the runtime's own logs: `json` (one object per line), `text`,
    /// or `auto` (text on a terminal, JSON otherwise, as in a pod).
    pub log_format: LogFormat,
    /// Where Compute programs' log endpoints write, for every service. A
    /// service's own `logEndpoints` add to these; one of the same name
    /// replaces it for that service.
    pub log_endpoints: Vec<LogEndpoint>,
    /// A Grafana dashboard of the POP in a ConfigMap, for Grafana's
    /// dashboard sidecar.
    pub dashboard: Dashboard,
    /// An OpenTelemetry collector's OTLP/HTTP base URL: the edge exports
    /// each request's span there (`/v1/traces`, JSON) with the trace id the
    /// program sees. Empty: no export.
    pub otlp_endpoint: Option<String>,
}

/// Shape of the runtime's own log lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Text on a terminal, JSON otherwise.
    #[default]
    Auto,
    /// One JSON object per line.
    Json,
    /// Human-readable text (never with colour codes outside a terminal).
    Text,
}

/// The Grafana dashboard ConfigMap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Dashboard {
    /// Render the ConfigMap.
    pub enabled: bool,
    /// Labels that make Grafana's sidecar load it.
    pub labels: BTreeMap<String, String>,
}

impl Default for Dashboard {
    fn default() -> Self {
        Dashboard {
            enabled: false,
            labels: BTreeMap::from([("grafana_dashboard".to_owned(), "1".to_owned())]),
        }
    }
}

/// Prometheus metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Metrics {
    /// Serve `/metrics` on the admin port.
    pub enabled: bool,
    /// The admin port (`/metrics`, `/healthz`, `/readyz`).
    #[schemars(range(min = 1024, max = 65535))]
    pub port: u16,
    /// Add `prometheus.io/scrape` annotations to the pods.
    pub scrape_annotations: bool,
    /// A Prometheus Operator ServiceMonitor for the admin ports.
    pub service_monitor: ServiceMonitor,
    /// Push the edge's metrics to a Prometheus remote-write endpoint.
    pub push: MetricsPush,
}

/// The ServiceMonitor: rendered only when enabled and the cluster serves
/// `monitoring.coreos.com/v1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ServiceMonitor {
    /// Render it.
    pub enabled: bool,
    /// How often Prometheus scrapes.
    pub interval: GoDuration,
    /// Labels the Prometheus instance selects ServiceMonitors by.
    pub labels: BTreeMap<String, String>,
}

impl Default for ServiceMonitor {
    fn default() -> Self {
        ServiceMonitor {
            enabled: false,
            interval: GoDuration("30s".into()),
            labels: BTreeMap::new(),
        }
    }
}

/// Remote write of the edge's metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct MetricsPush {
    /// The remote-write URL (`https://…/api/v1/write`). Empty: no push.
    pub url: Option<String>,
    /// How often a snapshot is sent.
    pub interval: GoDuration,
}

impl Default for MetricsPush {
    fn default() -> Self {
        MetricsPush {
            url: None,
            interval: GoDuration("60s".into()),
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            enabled: true,
            port: 9090,
            scrape_annotations: true,
            service_monitor: ServiceMonitor::default(),
            push: MetricsPush::default(),
        }
    }
}

/// Log verbosity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Errors and warnings.
    Warn,
    /// The usual.
    #[default]
    Info,
    /// For debugging.
    Debug,
}

/// A named log endpoint that Compute programs write to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LogEndpoint {
    /// The endpoint name the program uses (`fastly::log::Endpoint`).
    #[schemars(length(min = 1, max = 255))]
    pub name: String,
    /// Where lines go.
    #[serde(rename = "type")]
    pub kind: LogEndpointKind,
    /// The URL, for `https` and `syslog` endpoints (`tcp://host:port`,
    /// `tls://host:port` or `udp://host:port` for syslog).
    #[serde(default)]
    pub url: Option<String>,
    /// For `tls://` syslog: the name the server's certificate must carry,
    /// when it is not the URL's host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_hostname: Option<String>,
    /// For `https` and `tls://` syslog: a PEM CA certificate to trust
    /// instead of the public roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca_cert: Option<String>,
}

/// The kind of a log endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogEndpointKind {
    /// The edge container's standard output.
    Stdout,
    /// An HTTPS collector: lines in batches (newline-separated, gzip), one
    /// POST each, retried with backoff; a slow or failing collector never
    /// slows a request: lines beyond an 8 MiB queue are dropped and counted
    /// (`anywhere_log_lines_dropped_total`).
    Https,
    /// A syslog receiver: RFC 5424 messages, octet-counted over `tcp://` and
    /// `tls://`, one datagram each over `udp://`; queued, retried and dropped as for
    /// HTTPS.
    Syslog,
}
