//! `observability`: metrics and logs.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Metrics and logs of the POP.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Observability {
    /// Prometheus metrics of the edge.
    pub metrics: Metrics,
    /// Verbosity of the runtime's own logs.
    pub log_level: LogLevel,
    /// Where Compute programs' log endpoints write.
    pub log_endpoints: Vec<LogEndpoint>,
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
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            enabled: true,
            port: 9090,
            scrape_annotations: true,
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
    /// The URL, for `https` and `syslog` endpoints.
    #[serde(default)]
    pub url: Option<String>,
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
    /// A syslog receiver: RFC 5424 messages, octet-counted over `tcp://`,
    /// one datagram each over `udp://`; queued, retried and dropped as for
    /// HTTPS.
    Syslog,
}
