//! The credentials volume: what `anywhere bootstrap` writes (mode 0400, an
//! in-memory emptyDir) and `anywhere loader` reads. One definition here so
//! that writer and reader cannot drift apart.

use super::secret::{Secret, SecretFileError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use values_schema::values::ControlPlaneMode;

/// The automation token, verified (`fastly` mode only).
pub const API_TOKEN_FILE: &str = "api-token";
/// Hex SHA-256 of the bootstrap token: the cluster's identity (`fastly`
/// mode only). The bootstrap token itself is never written.
pub const CLUSTER_ID_FILE: &str = "cluster-id";
/// [`Credentials`] as JSON. Holds no token.
pub const CREDENTIALS_FILE: &str = "credentials.json";

/// `credentials.json`: what the bootstrap checked, without any token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// The control-plane mode the bootstrap ran in.
    pub mode: ControlPlaneMode,
    /// The API the token was checked against (`fastly` mode).
    pub api_url: Option<String>,
    /// The automation token's id (not the token).
    pub token_id: Option<String>,
    /// The automation token's name.
    pub token_name: Option<String>,
    /// The automation token's scopes, space-separated.
    pub scope: Option<String>,
    /// When the automation token expires (RFC 3339), `None`: never.
    pub expires_at: Option<String>,
    /// Hex SHA-256 of the bootstrap token.
    pub cluster_id: Option<String>,
}

/// `credentials.json` is missing or unreadable.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The file cannot be read (did the bootstrap run?).
    #[error("cannot read {}: {error} (the bootstrap init container writes it)", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The file is not the JSON the bootstrap writes.
    #[error("{}: {error}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The parse error.
        error: serde_json::Error,
    },
}

impl Credentials {
    /// Reads `credentials.json` from the credentials directory.
    pub fn read(dir: &Path) -> Result<Credentials, CredentialsError> {
        let path = dir.join(CREDENTIALS_FILE);
        let bytes = std::fs::read(&path).map_err(|error| CredentialsError::Unreadable {
            path: path.clone(),
            error,
        })?;
        serde_json::from_slice(&bytes).map_err(|error| CredentialsError::Malformed { path, error })
    }

    /// Reads the automation token the bootstrap verified.
    pub fn read_api_token(dir: &Path) -> Result<Secret, SecretFileError> {
        Secret::read_file(&dir.join(API_TOKEN_FILE))
    }

    /// The file as written: pretty JSON and a final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }
}
