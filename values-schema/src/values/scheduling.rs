//! Pod placement, disruption budget and service account.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How the chart spreads POP pods over nodes when no `affinity` is given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PodAntiAffinity {
    /// Prefer one POP pod per node.
    #[default]
    Soft,
    /// Require one POP pod per node.
    Hard,
    /// No anti-affinity.
    None,
}

/// The PodDisruptionBudget of the StatefulSet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct PodDisruptionBudget {
    /// Create the PodDisruptionBudget.
    pub enabled: bool,
    /// Pods that may be down at once during voluntary disruptions.
    #[schemars(range(min = 0))]
    pub max_unavailable: u32,
}

impl Default for PodDisruptionBudget {
    fn default() -> Self {
        PodDisruptionBudget {
            enabled: true,
            max_unavailable: 1,
        }
    }
}

/// The ServiceAccount of the pods.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ServiceAccount {
    /// Create the ServiceAccount and its Role (get, list and watch pods in
    /// the release namespace).
    pub create: bool,
    /// Name of the ServiceAccount. Empty: the release's full name.
    pub name: Option<String>,
    /// Annotations of the ServiceAccount (GKE Workload Identity, ACK RRSA).
    pub annotations: BTreeMap<String, String>,
}

impl Default for ServiceAccount {
    fn default() -> Self {
        ServiceAccount {
            create: true,
            name: None,
            annotations: BTreeMap::new(),
        }
    }
}
