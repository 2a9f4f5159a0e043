//! `networkPolicy`: who may connect to the POP pods.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The NetworkPolicy of the pods.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct NetworkPolicy {
    /// Create a NetworkPolicy for the POP pods: HTTP from anywhere, cluster
    /// forwarding only between POP pods, the admin ports (the edge's
    /// `observability.metrics.port`, the loader's 9091 and the agent's 9092:
    /// `/healthz`, `/readyz`, `/metrics`) only from this release's `helm
    /// test` pod and the sources in `metricsFrom`. Egress stays open (the
    /// POP needs the Fastly API, registries, origins and log endpoints)
    /// unless `egress.networkPolicy` is on.
    pub enabled: bool,
    /// Who else may reach the admin ports, such as Prometheus: Kubernetes
    /// NetworkPolicyPeer objects (`podSelector`, `namespaceSelector`,
    /// `ipBlock`). Empty: only this release's `helm test` pod (the kubelet's
    /// probes are not subject to NetworkPolicy).
    pub metrics_from: Vec<NetworkPolicyPeer>,
}

impl Default for NetworkPolicy {
    fn default() -> Self {
        NetworkPolicy {
            enabled: true,
            metrics_from: Vec::new(),
        }
    }
}

/// A source of traffic, as Kubernetes writes it in a NetworkPolicy.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct NetworkPolicyPeer {
    /// Pods with these labels (a LabelSelector), in the release namespace
    /// unless `namespaceSelector` is given too.
    #[schemars(with = "Option<Map<String, Value>>")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<Value>,
    /// Namespaces with these labels (a LabelSelector).
    #[schemars(with = "Option<Map<String, Value>>")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<Value>,
    /// Addresses in a CIDR range.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_block: Option<IpBlock>,
}

/// A CIDR range, less some sub-ranges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IpBlock {
    /// The range, such as `10.8.0.0/16`.
    #[schemars(length(min = 1))]
    pub cidr: String,
    /// Ranges inside `cidr` left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub except: Vec<String>,
}
