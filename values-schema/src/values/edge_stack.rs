//! `edgeStack`: the size and number of the POP pods.

use crate::quantity::Quantity;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;

/// Size and number of the POP pods.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct EdgeStack {
    /// vCPUs for each POP pod (requests equal limits: Guaranteed QoS). The
    /// recommended minimum is 4; the node must have this much allocatable.
    pub cpu_footprint: CpuCount,
    /// Memory for each POP pod, as a Kubernetes quantity. The recommended
    /// minimum is 8Gi.
    pub memory_footprint: Quantity,
    /// Number of POP pods (StatefulSet replicas).
    #[schemars(range(min = 1))]
    pub replicas: u32,
}

impl Default for EdgeStack {
    fn default() -> Self {
        EdgeStack {
            cpu_footprint: CpuCount(4.0),
            memory_footprint: Quantity("8Gi".into()),
            replicas: 3,
        }
    }
}

/// A number of vCPUs, written as a number (`4`, `3.5`). Whole numbers are
/// written back without a fraction so that the rendered chart shows `4`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuCount(pub f64);

impl Serialize for CpuCount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.fract() == 0.0 && self.0.abs() < 1e15 {
            #[allow(clippy::cast_possible_truncation)] // whole and small, checked above
            s.serialize_i64(self.0 as i64)
        } else {
            s.serialize_f64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for CpuCount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        f64::deserialize(d).map(CpuCount)
    }
}

impl JsonSchema for CpuCount {
    fn schema_name() -> Cow<'static, str> {
        "CpuCount".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "number", "exclusiveMinimum": 0 })
    }
    fn inline_schema() -> bool {
        true
    }
}
