//! `edge.yaml`: the chart's ConfigMap, read by the bootstrap, the loader
//! and the edge.

use std::path::Path;
use values_schema::values::{
    ClientAddress, ControlPlane, Egress, Limits, Observability, Pop, Service,
};

/// `edge.yaml`, as the chart renders it.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EdgeFile {
    /// Services declared in values.
    #[serde(default)]
    pub services: Vec<Service>,
    /// What programs are told about the POP.
    #[serde(default)]
    pub pop: Pop,
    /// Limits.
    #[serde(default)]
    pub limits: Limits,
    /// Metrics and logs.
    #[serde(default)]
    pub observability: Observability,
    /// Where services come from.
    #[serde(default)]
    pub control_plane: ControlPlane,
    /// Where programs' backends may connect.
    #[serde(default)]
    pub egress: Egress,
    /// Which proxies are believed about the client's address.
    #[serde(default)]
    pub client_address: ClientAddress,
    /// The headless Service of the pods (cluster forwarding, later).
    #[serde(default)]
    pub peers_service: Option<String>,
}

/// Why `edge.yaml` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EdgeFileError {
    /// I/O.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// Not the expected YAML.
    #[error("{path}{place}: {message}")]
    Yaml {
        /// The file.
        path: String,
        /// `:line:column`, when known.
        place: String,
        /// What is wrong.
        message: String,
    },
}

/// Reads `edge.yaml`.
pub fn read_edge_file(path: &Path) -> Result<EdgeFile, EdgeFileError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| EdgeFileError::Io {
        path: shown.clone(),
        source,
    })?;
    serde_yaml::from_str(&text).map_err(|e| EdgeFileError::Yaml {
        place: e
            .location()
            .map(|l| format!(":{}:{}", l.line(), l.column()))
            .unwrap_or_default(),
        message: e.to_string(),
        path: shown,
    })
}
