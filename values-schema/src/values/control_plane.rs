//! `controlPlane`: where the POP learns which services to run.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The Fastly API base URL the chart uses when values name none.
pub const FASTLY_API_URL: &str = "https://api.fastly.com";

/// Where services come from, and how often the loader looks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ControlPlane {
    /// `fastly`: both tokens are required (`bootstrap.token` and
    /// `fastly_key`, or `existingSecret`) and services come from the Fastly
    /// API as well as from `services`. `offline`: no Fastly account and no
    /// tokens; the chart creates and mounts no tokens Secret, and services
    /// come only from `services` (OCI artifacts or HTTPS URLs pinned by
    /// sha256).
    pub mode: ControlPlaneMode,
    /// The Fastly API the bootstrap and the loader talk to (`fastly` mode).
    #[schemars(regex(pattern = r"^https?://"))]
    pub api_url: String,
    /// Seconds between two looks of the loader at its sources (jittered;
    /// longer after failures).
    #[schemars(range(min = 5, max = 3600))]
    pub poll_seconds: u32,
    /// `fastly` mode: the OCI repository each service version's package is
    /// pushed to, as `<packageRegistry>/<service id>:<version>`, such as
    /// `oci://registry.example.com/compute-packages`. The Fastly API
    /// describes a package (its hashsum) but does not serve its bytes, so a
    /// service with `fastlyServiceId` needs it.
    pub package_registry: Option<String>,
    /// Registries (`host:port`) the loader reaches over plain HTTP, such as
    /// a registry inside the cluster. Everything else is HTTPS.
    pub insecure_registries: Vec<String>,
}

impl Default for ControlPlane {
    fn default() -> Self {
        ControlPlane {
            mode: ControlPlaneMode::default(),
            api_url: FASTLY_API_URL.into(),
            poll_seconds: 30,
            package_registry: None,
            insecure_registries: Vec::new(),
        }
    }
}

/// The control-plane mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ControlPlaneMode {
    /// The documented flow: the bootstrap token and the automation token,
    /// services from the Fastly API.
    #[default]
    Fastly,
    /// No Fastly account: services from values only, no tokens.
    Offline,
}

impl ControlPlaneMode {
    /// The name used in values.
    pub fn as_str(self) -> &'static str {
        match self {
            ControlPlaneMode::Fastly => "fastly",
            ControlPlaneMode::Offline => "offline",
        }
    }
}
