//! `h2o` (the Service in front of the POP) and `services` (Compute services
//! declared in values).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The Service the Ingress sends traffic to, on port 80.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct H2oService {
    /// Service type. `ClusterIP` behind an Ingress is the documented setup.
    #[serde(rename = "type")]
    pub kind: H2oServiceType,
    /// Annotations of the Service (for example GKE's
    /// `cloud.google.com/neg`).
    pub annotations: BTreeMap<String, String>,
}

/// Kubernetes Service type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum H2oServiceType {
    /// Reachable inside the cluster (behind an Ingress).
    #[default]
    ClusterIP,
    /// A port on every node.
    NodePort,
    /// A cloud load balancer.
    LoadBalancer,
}

/// A Compute service declared in values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Service {
    /// Service name: a DNS label.
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"))]
    pub name: String,
    /// Host names this service answers (the Ingress keeps the Host header).
    /// A leading `*.` matches one label.
    #[schemars(length(min = 1))]
    pub domains: Vec<String>,
    /// Where the Compute package comes from.
    pub package: PackageSource,
    /// Static backends the program can send requests to.
    #[serde(default)]
    pub backends: Vec<Backend>,
    /// Config stores (name → key/value items).
    #[serde(default)]
    pub config_stores: Vec<ConfigStore>,
    /// KV stores the program opens by name (kept in the xqd volume).
    #[serde(default)]
    pub kv_stores: Vec<String>,
    /// Let this service's program register backends at run time. Empty:
    /// `egress.dynamicBackends`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_backends: Option<bool>,
    /// This service's log endpoints, in addition to
    /// `observability.logEndpoints` (one of the same name replaces the
    /// POP-wide one for this service).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_endpoints: Vec<crate::values::LogEndpoint>,
}

/// Where a Compute package comes from: exactly one of `oci`, `url` or
/// `fastlyServiceId`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct PackageSource {
    /// An OCI artifact reference (`oci://registry/repo:tag` or `@sha256:…`).
    pub oci: Option<String>,
    /// An HTTPS URL of a `.tar.gz` package; `sha256` is required with it.
    pub url: Option<String>,
    /// The SHA-256 of the package at `url` (64 hex digits).
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub sha256: Option<String>,
    /// A service on the Fastly API, whose active version is loaded.
    pub fastly_service_id: Option<String>,
}

/// A static backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Backend {
    /// The name the program sends to.
    #[schemars(length(min = 1, max = 255))]
    pub name: String,
    /// Origin URL (`https://origin.example.com`).
    pub url: String,
    /// Host header sent to the origin instead of the URL's host.
    #[serde(default)]
    pub override_host: Option<String>,
    /// Time to connect to the origin.
    #[serde(default)]
    pub connect_timeout: Option<crate::quantity::GoDuration>,
    /// Probe the origin, so that programs can ask whether it is healthy
    /// (`backend.health()`); without one, its health is "unknown".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
}

/// A backend's health check, with Fastly's defaults: `GET path` every 5 s,
/// 500 ms to answer with the expected status; healthy while `threshold`
/// of the last `window` probes succeeded (`initial` of them count as
/// succeeded before the first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HealthCheck {
    /// The path probed (`/healthz`).
    #[schemars(regex(pattern = r"^/"))]
    pub path: String,
    /// Time between probes (default `5s`).
    #[serde(default)]
    pub interval: Option<crate::quantity::GoDuration>,
    /// Time a probe may take (default `500ms`).
    #[serde(default)]
    pub timeout: Option<crate::quantity::GoDuration>,
    /// The status a healthy origin answers (default 200).
    #[serde(default)]
    #[schemars(range(min = 100, max = 599))]
    pub expected_status: Option<u16>,
    /// Probes remembered (default 5).
    #[serde(default)]
    #[schemars(range(min = 1, max = 64))]
    pub window: Option<u8>,
    /// Successes among them for "healthy" (default 3).
    #[serde(default)]
    #[schemars(range(min = 1, max = 64))]
    pub threshold: Option<u8>,
    /// Successes assumed at start (default 4).
    #[serde(default)]
    #[schemars(range(min = 0, max = 64))]
    pub initial: Option<u8>,
}

/// A config store declared in values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConfigStore {
    /// The store name the program opens.
    #[schemars(length(min = 1, max = 255))]
    pub name: String,
    /// The store's entries.
    #[serde(default)]
    pub items: BTreeMap<String, String>,
}
