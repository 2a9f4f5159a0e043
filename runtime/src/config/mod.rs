//! The configuration the runtime reads: the `[local_server]` section of a
//! Compute project's `fastly.toml` (the backends, stores and lookup data a
//! program sees when it runs outside Fastly; one file per section) and the
//! chart's `edge.yaml`.

mod acls;
mod backends;
mod edge_file;
mod fastly_toml;
mod geo;
mod stores;

pub use acls::{Acl, AclAction, AclEntry};
pub use backends::{BackendConfig, HealthCheck, TlsOptions, parse_backend_url};
pub use edge_file::{EdgeFile, EdgeFileError, read_edge_file};
pub use fastly_toml::{FastlyToml, ProjectConfig, parse_fastly_toml};
pub use geo::{DeviceDetection, Geolocation};
pub use stores::{KvEntry, KvStoreConfig, SecretStoreConfig};

use std::path::PathBuf;

/// A mistake in a `fastly.toml` or in a file it points to: which file, which
/// key, what is wrong and how to fix it.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {key}: {message}")]
pub struct ConfigError {
    /// The file at fault (the `fastly.toml` or a file it names).
    pub file: PathBuf,
    /// Dotted key path (or `line L, column C` for syntax errors).
    pub key: String,
    /// What is wrong, and the fix.
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(
        file: &std::path::Path,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Reads a file named by the config, relative to the config's directory.
pub(crate) fn read_relative(
    base: &std::path::Path,
    config_file: &std::path::Path,
    key: &str,
    name: &str,
) -> Result<(PathBuf, String), ConfigError> {
    let path = base.join(name);
    std::fs::read_to_string(&path)
        .map(|text| (path.clone(), text))
        .map_err(|e| {
            ConfigError::new(
                config_file,
                key,
                format!(
                    "cannot read {}: {e}; the path is relative to fastly.toml's folder",
                    path.display()
                ),
            )
        })
}

#[cfg(test)]
mod tests;
