//! Bringing one service up to date: locate its package, and when the
//! version differs from the active one, download it into a staging
//! directory, verify it, and switch the `current` pointer.

use super::desired::{DesiredService, PackageSpec};
use super::fetch::{FetchError, Fetcher};
use super::verify::{VerifyError, verify_package};
use crate::xqd::{ServiceManifest, Xqd, XqdError};

/// How a service was brought up to date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The active version is already the desired one.
    Unchanged,
    /// A new version was activated (its id).
    Activated(String),
}

/// Why a version was not activated. The active version, if any, stays.
#[derive(Debug, thiserror::Error)]
pub enum ActivateError {
    /// Locating or downloading failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The package failed its checks.
    #[error("{origin}: {source}")]
    Verify {
        /// Where the package came from.
        origin: String,
        /// The check that failed.
        source: VerifyError,
    },
    /// The package is not the one the Fastly API describes.
    #[error(
        "{origin}: SHA-512 {actual} differs from the hashsum {expected} the Fastly API gives for version {version}; the package was refused"
    )]
    Hashsum {
        /// Where it came from.
        origin: String,
        /// The API's hashsum.
        expected: String,
        /// What arrived.
        actual: String,
        /// The API version.
        version: u64,
    },
    /// The volume.
    #[error(transparent)]
    Xqd(#[from] XqdError),
    /// A blocking task failed.
    #[error("internal: {0}")]
    Task(String),
}

/// What a service's package resolves to before any download.
struct Located {
    origin: String,
    file_name: &'static str,
    sha256: String,
    oci: Option<super::fetch::OciPackage>,
    url: Option<String>,
}

/// Brings `desired` up to date on `xqd`.
pub async fn bring_up_to_date(
    fetcher: &Fetcher,
    xqd: &Xqd,
    desired: &DesiredService,
    limit: u64,
) -> Result<Outcome, ActivateError> {
    let located = locate(fetcher, &desired.package).await?;
    let mut manifest = ServiceManifest {
        service: desired.service.clone(),
        package_file: located.file_name.to_string(),
        package_sha256: located.sha256.clone(),
        package_bytes: 0,
        origin: located.origin.clone(),
        fastly_version: desired.fastly.as_ref().map(|f| f.version),
    };
    let id = manifest.version_id();
    let name = &desired.service.name;
    if xqd.active(name)?.is_some_and(|a| a.id == id) {
        return Ok(Outcome::Unchanged);
    }
    let staging = xqd.new_staging()?;
    let file = staging.path().join(located.file_name);
    let version_dir = xqd.service_dir(name).join("versions").join(&id);
    if !version_dir.join(crate::xqd::MANIFEST).is_file() {
        let hashes = match (&located.oci, &located.url) {
            (Some(oci), _) => fetcher.pull(oci, &file, limit).await?,
            (None, Some(url)) => fetcher.download(url, &file, limit).await?,
            (None, None) => return Err(ActivateError::Task("nothing to fetch".into())),
        };
        if hashes.sha256 != located.sha256 {
            return Err(FetchError::Digest {
                what: located.origin.clone(),
                expected: format!("sha256:{}", located.sha256),
                actual: format!("sha256:{}", hashes.sha256),
            }
            .into());
        }
        if let Some(pin) = &desired.fastly
            && let Some(expected) = pin
                .hashsum
                .as_ref()
                .filter(|h| !h.eq_ignore_ascii_case(&hashes.sha512))
        {
            return Err(ActivateError::Hashsum {
                origin: located.origin.clone(),
                expected: expected.clone(),
                actual: hashes.sha512,
                version: pin.version,
            });
        }
        manifest.package_bytes = hashes.bytes;
        let checked = file.clone();
        tokio::task::spawn_blocking(move || verify_package(&checked, limit))
            .await
            .map_err(|e| ActivateError::Task(e.to_string()))?
            .map_err(|source| ActivateError::Verify {
                origin: located.origin.clone(),
                source,
            })?;
    }
    let xqd = xqd.clone();
    let staged = staging.keep();
    let id = tokio::task::spawn_blocking(move || {
        let id = xqd.activate(&staged, &manifest)?;
        xqd.collect_garbage(&manifest.service.name, 2)?;
        Ok::<_, XqdError>(id)
    })
    .await
    .map_err(|e| ActivateError::Task(e.to_string()))??;
    Ok(Outcome::Activated(id))
}

async fn locate(fetcher: &Fetcher, spec: &PackageSpec) -> Result<Located, ActivateError> {
    Ok(match spec {
        PackageSpec::Url { url, sha256 } => Located {
            origin: url.clone(),
            file_name: if url.ends_with(".wasm") {
                "main.wasm"
            } else {
                "package.tar.gz"
            },
            sha256: sha256.clone(),
            oci: None,
            url: Some(url.clone()),
        },
        PackageSpec::Oci(reference) => {
            let oci = fetcher.locate(reference).await?;
            let sha256 = oci
                .sha256()
                .ok_or_else(|| FetchError::Remote {
                    what: reference.clone(),
                    message: format!("layer digest {} is not sha256", oci.layer.digest),
                })?
                .to_string();
            Located {
                origin: format!(
                    "oci://{}@{}",
                    reference.trim_start_matches("oci://"),
                    oci.manifest_digest
                ),
                file_name: oci.file_name,
                sha256,
                oci: Some(oci),
                url: None,
            }
        }
    })
}
