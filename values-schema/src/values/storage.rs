//! `cached` and `xqd`: the two PersistentVolumeClaims of each pod.

use crate::quantity::Quantity;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A volume of the POP pods.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct VolumeSettings {
    /// The PersistentVolumeClaim template of the volume.
    pub volume_claim: VolumeClaim,
}

/// A PersistentVolumeClaim template.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct VolumeClaim {
    /// The size to request.
    pub requests: VolumeRequests,
    /// The storage class. Empty (null): the provider's recommended class
    /// (`premium-rwo` on GKE, `alicloud-disk-topology-alltype` on ACK), or
    /// the cluster's default StorageClass with provider `generic`.
    pub storage_class_name: Option<String>,
}

/// Resource requests of a volume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct VolumeRequests {
    /// The volume size, as a Kubernetes quantity (`32Gi`).
    pub storage: Quantity,
}

impl Default for VolumeRequests {
    fn default() -> Self {
        VolumeRequests {
            storage: Quantity("32Gi".into()),
        }
    }
}
