//! `helmTest`: what `helm test` checks.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The `helm test` pod (`anywhere probe`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct HelmTest {
    /// The Host header of the request `helm test` sends through the h2o
    /// Service; it must be a domain a service answers. Empty: the first
    /// domain of the first service in `services` (a leading `*.` becomes
    /// `helm-test.`); with no service in values, `helm test` checks only
    /// that every pod is ready.
    pub host: Option<String>,
}
