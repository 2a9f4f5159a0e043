//! `anywhere bootstrap`: the pod's init container, the "secrets loader" of
//! the product documentation. It trades the two tokens for the credentials
//! the loader uses and exits.
//!
//! In `fastly` mode (values `controlPlane.mode`) it reads both tokens from
//! their files (a Secret's volume; never from the environment or the
//! command line), asks the API about the automation token
//! (`GET /tokens/self`: known, not expired, `global:read` or `global`), and
//! writes to the credentials directory, each file atomically with mode
//! 0400: `api-token` (the automation token), `cluster-id` (hex SHA-256 of
//! the bootstrap token: the cluster's identity; the bootstrap token itself
//! is sent nowhere and written nowhere) and `credentials.json` (what was
//! checked, no token). In `offline` mode it needs no token: it checks the
//! services of `edge.yaml` and writes `credentials.json`.
//!
//! A failure is one line naming the token or file at fault and the fix.

mod automation;
mod edge_config;
mod write;

use crate::fastly_api::{
    API_TOKEN_FILE, CLUSTER_ID_FILE, CREDENTIALS_FILE, Client, Credentials, Secret, SecretFileError,
};
use edge_config::EdgeConfig;
use std::path::{Path, PathBuf};
use values_schema::values::ControlPlaneMode;

/// Arguments of `anywhere bootstrap`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// edge.yaml (the chart's ConfigMap): controlPlane and services.
    #[arg(long)]
    pub config: PathBuf,
    /// Where to write the credentials (an in-memory volume).
    #[arg(long)]
    pub credentials_dir: PathBuf,
    /// File holding the bootstrap token (required in fastly mode).
    #[arg(long)]
    pub bootstrap_token_file: Option<PathBuf>,
    /// File holding the Fastly API automation token (required in fastly
    /// mode).
    #[arg(long)]
    pub fastly_key_file: Option<PathBuf>,
    /// The Fastly API to check the token against, instead of
    /// controlPlane.apiUrl (for tests).
    #[arg(long)]
    pub api_url: Option<String>,
}

/// Why the bootstrap stopped, beyond the token checks.
#[derive(Debug, thiserror::Error)]
enum BootstrapError {
    #[error("{flag} is required when controlPlane.mode is fastly ({}): the chart passes it from the tokens Secret", config.display())]
    MissingFlag { flag: &'static str, config: PathBuf },
    #[error("{which}: {error}: {fix}")]
    TokenFile {
        which: &'static str,
        error: SecretFileError,
        fix: &'static str,
    },
    #[error("the Fastly API URL {api_url}: {error}: fix controlPlane.apiUrl")]
    ApiUrl {
        api_url: String,
        error: crate::fastly_api::ApiError,
    },
}

/// Runs `anywhere bootstrap`.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let config = EdgeConfig::read(&args.config)?;
    config.check_services(&args.config)?;
    write::ensure_dir(&args.credentials_dir)?;
    match config.control_plane.mode {
        ControlPlaneMode::Fastly => fastly_mode(&args, &config).await,
        ControlPlaneMode::Offline => offline_mode(&args),
    }
}

async fn fastly_mode(args: &Args, config: &EdgeConfig) -> anyhow::Result<()> {
    let (fastly_key, bootstrap) = read_tokens(args)?;
    let api_url = args
        .api_url
        .as_deref()
        .unwrap_or(&config.control_plane.api_url);
    if api_url.starts_with("http://") {
        tracing::warn!(
            api_url,
            "the Fastly API URL is plain HTTP: the automation token travels unencrypted"
        );
    }
    let client =
        Client::new(api_url, fastly_key.clone()).map_err(|error| BootstrapError::ApiUrl {
            api_url: api_url.to_owned(),
            error,
        })?;
    let info = automation::verify(&client, std::time::SystemTime::now()).await?;
    // The bootstrap token identifies the cluster; only its digest leaves
    // this process.
    let cluster_id = bootstrap.sha256_hex();
    tracing::info!(token_id = %info.id, token = %info.name, scope = %info.scope, expires_at = ?info.expires_at.as_ref().map(|t| t.as_str()), %cluster_id, "automation token accepted");
    if !info.services.is_empty() {
        tracing::info!(services = ?info.services, "the automation token may read only these services");
    }
    let credentials = Credentials {
        mode: ControlPlaneMode::Fastly,
        api_url: Some(client.base_url().to_owned()),
        token_id: Some(info.id),
        token_name: Some(info.name),
        scope: Some(info.scope),
        expires_at: info.expires_at.map(|t| t.to_string()),
        cluster_id: Some(cluster_id.clone()),
    };
    let dir = &args.credentials_dir;
    write::write_private(dir, API_TOKEN_FILE, fastly_key.expose().as_bytes())?;
    write::write_private(dir, CLUSTER_ID_FILE, cluster_id.as_bytes())?;
    // Last, so that its presence means the other two are complete.
    write::write_private(dir, CREDENTIALS_FILE, &credentials.to_bytes())?;
    tracing::info!(dir = %dir.display(), "credentials written");
    Ok(())
}

/// The automation token and the bootstrap token, from their files.
fn read_tokens(args: &Args) -> Result<(Secret, Secret), BootstrapError> {
    let required = |file: &Option<PathBuf>, flag| {
        file.clone().ok_or_else(|| BootstrapError::MissingFlag {
            flag,
            config: args.config.clone(),
        })
    };
    let key_file = required(&args.fastly_key_file, "--fastly-key-file")?;
    let bootstrap_file = required(&args.bootstrap_token_file, "--bootstrap-token-file")?;
    let fastly_key = read_token(
        &key_file,
        "the automation token (fastly_key)",
        "set fastly_key in values, or the fastlyKeyKey key of existingSecret",
    )?;
    let bootstrap = read_token(
        &bootstrap_file,
        "the bootstrap token (bootstrap.token)",
        "set bootstrap.token in values, or the bootstrapTokenKey key of existingSecret, to the token Fastly gave you",
    )?;
    Ok((fastly_key, bootstrap))
}

fn offline_mode(args: &Args) -> anyhow::Result<()> {
    if args.fastly_key_file.is_some() || args.bootstrap_token_file.is_some() {
        tracing::info!(
            "controlPlane.mode is offline: the token files are ignored (no token is read)"
        );
    }
    let dir = &args.credentials_dir;
    write::remove_stale(dir, API_TOKEN_FILE)?;
    write::remove_stale(dir, CLUSTER_ID_FILE)?;
    let credentials = Credentials {
        mode: ControlPlaneMode::Offline,
        ..Credentials::default()
    };
    write::write_private(dir, CREDENTIALS_FILE, &credentials.to_bytes())?;
    tracing::info!(dir = %dir.display(), "offline mode: configuration checked, credentials.json written");
    Ok(())
}

fn read_token(
    path: &Path,
    which: &'static str,
    fix: &'static str,
) -> Result<Secret, BootstrapError> {
    Secret::read_file(path).map_err(|error| BootstrapError::TokenFile { which, error, fix })
}
