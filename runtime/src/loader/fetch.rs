//! Getting package bytes: from an OCI registry (a Compute package pushed as
//! an artifact) or from an HTTPS URL. Downloads stream to a staging file,
//! bounded in size, hashed on the way.

use futures::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use sha2::{Digest, Sha256, Sha512};
use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// The media type we push Compute packages with.
pub const PACKAGE_MEDIA_TYPE: &str = "application/vnd.fastly.compute.package.v1.tar+gzip";
/// Layer media types taken as a package `.tar.gz`.
const TAR_GZ_TYPES: [&str; 4] = [
    PACKAGE_MEDIA_TYPE,
    "application/gzip",
    "application/x-gzip",
    "application/vnd.oci.image.layer.v1.tar+gzip",
];
/// Layer media type taken as a bare module.
const WASM_TYPE: &str = "application/wasm";

/// Why a package could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The reference does not parse.
    #[error(
        "{reference}: not an OCI reference ({message}); write registry/repository:tag or @sha256:…"
    )]
    Reference {
        /// What was given.
        reference: String,
        /// The parser's words.
        message: String,
    },
    /// The registry or server failed or refused.
    #[error("{what}: {message}")]
    Remote {
        /// The reference or URL.
        what: String,
        /// What happened.
        message: String,
    },
    /// The artifact has no layer we can read.
    #[error(
        "{reference}: no Compute package layer ({found}); push the package .tar.gz as a layer of media type {PACKAGE_MEDIA_TYPE}"
    )]
    NoPackageLayer {
        /// The reference.
        reference: String,
        /// The media types found.
        found: String,
    },
    /// Over the size limit.
    #[error(
        "{what}: {bytes} bytes is over the package size limit of {limit} (limits.maxPackageSize)"
    )]
    TooLarge {
        /// The reference or URL.
        what: String,
        /// How big it is (or got).
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// The bytes are not what was pinned.
    #[error("{what}: digest mismatch: expected {expected}, got {actual}; the package was refused")]
    Digest {
        /// The reference or URL.
        what: String,
        /// The pinned digest.
        expected: String,
        /// The digest of what arrived.
        actual: String,
    },
    /// Local I/O.
    #[error("{0}")]
    Io(String),
}

/// A package located in a registry, before its bytes are fetched.
#[derive(Debug, Clone)]
pub struct OciPackage {
    /// The reference as given.
    pub reference: String,
    /// The manifest's digest (`sha256:…`), for the origin.
    pub manifest_digest: String,
    /// The package layer.
    pub layer: OciDescriptor,
    /// `package.tar.gz` or `main.wasm`.
    pub file_name: &'static str,
}

impl OciPackage {
    /// The layer's SHA-256 (hex) when it is a sha256 digest.
    pub fn sha256(&self) -> Option<&str> {
        self.layer.digest.strip_prefix("sha256:")
    }
}

/// Fetches packages; one per loader (holds connection pools).
pub struct Fetcher {
    oci: Client,
    http: reqwest::Client,
}

impl Fetcher {
    /// A fetcher reaching `insecure_registries` (host:port) over plain HTTP.
    pub fn new(insecure_registries: &[String]) -> Result<Fetcher, FetchError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let protocol = if insecure_registries.is_empty() {
            ClientProtocol::Https
        } else {
            ClientProtocol::HttpsExcept(insecure_registries.to_vec())
        };
        let oci = Client::new(ClientConfig {
            protocol,
            connect_timeout: Some(Duration::from_secs(10)),
            read_timeout: Some(Duration::from_secs(60)),
            ..ClientConfig::default()
        });
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| FetchError::Io(format!("HTTP client: {e}")))?;
        Ok(Fetcher { oci, http })
    }

    /// Reads the manifest behind `reference` and picks the package layer.
    pub async fn locate(&self, reference: &str) -> Result<OciPackage, FetchError> {
        let parsed = parse_reference(reference)?;
        let (manifest, manifest_digest) = self
            .oci
            .pull_image_manifest(&parsed, &RegistryAuth::Anonymous)
            .await
            .map_err(|e| FetchError::Remote {
                what: reference.to_string(),
                message: e.to_string(),
            })?;
        let pick = |types: &[&str]| {
            manifest
                .layers
                .iter()
                .find(|l| types.contains(&l.media_type.as_str()))
                .cloned()
        };
        let (layer, file_name) = match (pick(&TAR_GZ_TYPES), pick(&[WASM_TYPE])) {
            (Some(l), _) => (l, "package.tar.gz"),
            (None, Some(l)) => (l, "main.wasm"),
            (None, None) => {
                let found: Vec<_> = manifest
                    .layers
                    .iter()
                    .map(|l| l.media_type.clone())
                    .collect();
                return Err(FetchError::NoPackageLayer {
                    reference: reference.to_string(),
                    found: if found.is_empty() {
                        "no layers".into()
                    } else {
                        found.join(", ")
                    },
                });
            }
        };
        Ok(OciPackage {
            reference: reference.to_string(),
            manifest_digest,
            layer,
            file_name,
        })
    }

    /// Downloads the package layer to `dest`, refusing more than `limit`
    /// bytes and any digest other than the layer's.
    pub async fn pull(
        &self,
        package: &OciPackage,
        dest: &Path,
        limit: u64,
    ) -> Result<Hashes, FetchError> {
        let what = &package.reference;
        let size = u64::try_from(package.layer.size).unwrap_or(u64::MAX);
        if size > limit {
            return Err(FetchError::TooLarge {
                what: what.clone(),
                bytes: size,
                limit,
            });
        }
        let parsed = parse_reference(what)?;
        let mut out = BoundedFile::create(dest, limit, what).await?;
        let result = self.oci.pull_blob(&parsed, &package.layer, &mut out).await;
        let hashes = out.finish().await?;
        result.map_err(|e| FetchError::Remote {
            what: what.clone(),
            message: e.to_string(),
        })?;
        let expected = package.layer.digest.clone();
        let actual = format!("sha256:{}", hashes.sha256);
        if expected.starts_with("sha256:") && expected != actual {
            return Err(FetchError::Digest {
                what: what.clone(),
                expected,
                actual,
            });
        }
        Ok(hashes)
    }

    /// Downloads `url` to `dest`, refusing more than `limit` bytes.
    pub async fn download(&self, url: &str, dest: &Path, limit: u64) -> Result<Hashes, FetchError> {
        let remote = |message: String| FetchError::Remote {
            what: url.to_string(),
            message,
        };
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| remote(error_chain(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(remote(format!("HTTP {status}")));
        }
        if let Some(len) = response.content_length().filter(|l| *l > limit) {
            return Err(FetchError::TooLarge {
                what: url.to_string(),
                bytes: len,
                limit,
            });
        }
        let mut out = BoundedFile::create(dest, limit, url).await?;
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| remote(error_chain(&e)))?;
            out.write_all(&chunk)
                .await
                .map_err(|e| match out.over_limit() {
                    Some(err) => err,
                    None => FetchError::Io(format!("{}: {e}", dest.display())),
                })?;
        }
        out.finish().await
    }
}

fn parse_reference(reference: &str) -> Result<Reference, FetchError> {
    let bare = reference.strip_prefix("oci://").unwrap_or(reference);
    bare.parse::<Reference>()
        .map_err(|e| FetchError::Reference {
            reference: reference.to_string(),
            message: e.to_string(),
        })
}

/// reqwest's errors keep their cause (DNS, refused, TLS) in the chain.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Digests of a downloaded file.
#[derive(Debug, Clone)]
pub struct Hashes {
    /// SHA-256, hex.
    pub sha256: String,
    /// SHA-512, hex (the Fastly API's package hashsum).
    pub sha512: String,
    /// Bytes written.
    pub bytes: u64,
}

/// A file that hashes what is written and refuses to grow past a limit.
struct BoundedFile {
    file: tokio::fs::File,
    sha256: Sha256,
    sha512: Sha512,
    written: u64,
    limit: u64,
    what: String,
}

impl BoundedFile {
    async fn create(path: &Path, limit: u64, what: &str) -> Result<BoundedFile, FetchError> {
        let file = tokio::fs::File::create(path)
            .await
            .map_err(|e| FetchError::Io(format!("{}: {e}", path.display())))?;
        Ok(BoundedFile {
            file,
            sha256: Sha256::new(),
            sha512: Sha512::new(),
            written: 0,
            limit,
            what: what.to_string(),
        })
    }

    fn over_limit(&self) -> Option<FetchError> {
        (self.written > self.limit).then(|| FetchError::TooLarge {
            what: self.what.clone(),
            bytes: self.written,
            limit: self.limit,
        })
    }

    async fn finish(mut self) -> Result<Hashes, FetchError> {
        if let Some(e) = self.over_limit() {
            return Err(e);
        }
        let io = |e: std::io::Error| FetchError::Io(e.to_string());
        self.file.flush().await.map_err(io)?;
        self.file.sync_all().await.map_err(io)?;
        Ok(Hashes {
            sha256: hex(&self.sha256.finalize()),
            sha512: hex(&self.sha512.finalize()),
            bytes: self.written,
        })
    }
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl tokio::io::AsyncWrite for BoundedFile {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = &mut *self;
        let len = u64::try_from(buf.len()).unwrap_or(u64::MAX);
        if this.written.saturating_add(len) > this.limit {
            this.written = this.written.saturating_add(len);
            return std::task::Poll::Ready(Err(std::io::Error::other(
                "over the package size limit",
            )));
        }
        let poll = std::pin::Pin::new(&mut this.file).poll_write(cx, buf);
        if let std::task::Poll::Ready(Ok(n)) = &poll {
            this.sha256.update(&buf[..*n]);
            this.sha512.update(&buf[..*n]);
            this.written += u64::try_from(*n).unwrap_or(u64::MAX);
        }
        poll
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.file).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.file).poll_shutdown(cx)
    }
}
