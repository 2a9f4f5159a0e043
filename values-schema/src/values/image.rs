//! `image` and `imagePullSecrets`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The container image of the runtime.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Image {
    /// Image repository.
    #[schemars(length(min = 1))]
    pub repository: String,
    /// Image tag. Empty: the chart's appVersion.
    pub tag: Option<String>,
    /// Image digest (`sha256:…`); when set it pins the image and wins over
    /// the tag.
    #[schemars(regex(pattern = r"^sha256:[0-9a-f]{64}$"))]
    pub digest: Option<String>,
    /// When the kubelet pulls the image.
    pub pull_policy: PullPolicy,
}

impl Default for Image {
    fn default() -> Self {
        Image {
            repository: "ghcr.io/fastly-anywhere/anywhere".into(),
            tag: None,
            digest: None,
            pull_policy: PullPolicy::IfNotPresent,
        }
    }
}

/// Kubernetes image pull policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum PullPolicy {
    /// Pull on every container start.
    Always,
    /// Pull when the node lacks the image.
    IfNotPresent,
    /// Never pull.
    Never,
}

/// A reference to a Secret by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LocalObjectReference {
    /// Name of the Secret.
    #[schemars(length(min = 1))]
    pub name: String,
}
