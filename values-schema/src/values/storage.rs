//! `cached` and `xqd`: the two PersistentVolumeClaims of each pod, and how
//! much of `cached` the HTTP cache may fill.

use crate::quantity::{Quantity, parse_quantity};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use std::{borrow::Cow, fmt};

/// A volume of the POP pods.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct VolumeSettings {
    /// The PersistentVolumeClaim template of the volume.
    pub volume_claim: VolumeClaim,
}

/// The `cached` volume: a volume of the POP pods that the HTTP cache fills
/// up to `capacity`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct CachedVolumeSettings {
    /// The PersistentVolumeClaim template of the volume.
    pub volume_claim: VolumeClaim,
    /// The most the HTTP cache stores on the `cached` volume: a percentage
    /// of the volume (`80%`, a whole number from 1 to 95) or a Kubernetes
    /// quantity (`24Gi`, `500Mi`, `1T`). A percentage is of the filesystem's
    /// size as the edge sees it at start. The rest of the volume is headroom
    /// for redb's pages and compaction.
    pub capacity: CacheCapacity,
}

/// The HTTP cache's capacity as written: a share of the volume (`80%`) or a
/// Kubernetes quantity (`24Gi`). The edge reads the same text
/// (`--cache-capacity`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CacheCapacity(pub String);

/// What a [`CacheCapacity`] denotes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CacheSize {
    /// A percentage of the filesystem's size, from 1 to 95.
    Share(u8),
    /// A number of bytes (at least one).
    Bytes(f64),
}

impl CacheCapacity {
    /// The largest share of the volume the cache may take, in percent: the
    /// rest is left for redb's pages and compaction.
    pub const MAX_SHARE: u8 = 95;

    /// What the capacity denotes, or `None` when it is neither a percentage
    /// from 1 to 95 nor a quantity of at least one byte. Accepts what the
    /// edge accepts: no fractional units (`m`, `u`, `n`).
    pub fn size(&self) -> Option<CacheSize> {
        let text = self.0.trim();
        if let Some(percent) = text.strip_suffix('%') {
            return percent
                .parse::<u8>()
                .ok()
                .filter(|p| (1..=Self::MAX_SHARE).contains(p))
                .map(CacheSize::Share);
        }
        if text.ends_with(['m', 'u', 'n']) {
            return None;
        }
        parse_quantity(text)
            .ok()
            .filter(|bytes| *bytes >= 1.0)
            .map(CacheSize::Bytes)
    }
}

impl Default for CacheCapacity {
    fn default() -> Self {
        CacheCapacity("80%".into())
    }
}

impl fmt::Display for CacheCapacity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl JsonSchema for CacheCapacity {
    fn schema_name() -> Cow<'static, str> {
        "CacheCapacity".into()
    }
    // A plain string: `helm anywhere validate` checks the grammar and the
    // size against the volume (E0413, E0414, W0415) with a fix to offer.
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string" })
    }
    fn inline_schema() -> bool {
        true
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn size(text: &str) -> Option<CacheSize> {
        CacheCapacity(text.into()).size()
    }

    #[test]
    fn capacities_are_shares_or_quantities() {
        assert_eq!(size("80%"), Some(CacheSize::Share(80)));
        assert_eq!(size("1%"), Some(CacheSize::Share(1)));
        assert_eq!(size("95%"), Some(CacheSize::Share(95)));
        assert_eq!(size("24Gi"), Some(CacheSize::Bytes(24.0 * 1024f64.powi(3))));
        assert_eq!(
            size("500Mi"),
            Some(CacheSize::Bytes(500.0 * 1024f64.powi(2)))
        );
        assert_eq!(size("1T"), Some(CacheSize::Bytes(1e12)));
        assert_eq!(size("4096"), Some(CacheSize::Bytes(4096.0)));
        for bad in [
            "", "0%", "96%", "100%", "80.5%", "%", "-5%", "24GB", "24gi", "lots", "0", "-1Gi",
            "500m", "0.5",
        ] {
            assert_eq!(size(bad), None, "{bad} should not parse");
        }
    }

    #[test]
    fn defaults_to_eighty_percent() {
        assert_eq!(CachedVolumeSettings::default().capacity.0, "80%");
    }
}
