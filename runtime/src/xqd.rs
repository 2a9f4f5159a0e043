//! The xqd volume's layout: the loader writes it, the edge reads it.
//!
//! ```text
//! xqd/
//!   services/<name>/current          → versions/<id> (a symlink, switched by rename)
//!   services/<name>/versions/<id>/service.json       the manifest below
//!   services/<name>/versions/<id>/package.tar.gz     (or main.wasm)
//!   staging/                          the loader's downloads (emptied on start)
//!   compiled/                         the edge's precompiled modules
//!   kv/<name>.redb                    the edge's KV stores
//! ```
//!
//! A version directory is complete before it gets its final name (staged,
//! fsynced, verified, renamed), and the `current` pointer is replaced by a
//! rename, so a reader sees the old version or the new one, never a half.
//! Version ids are derived from the package digest and the definition, so
//! the same input always lands in the same directory.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use values_schema::values::Service;

/// The manifest of one activated version.
pub const MANIFEST: &str = "service.json";
/// The pointer to the active version.
pub const CURRENT: &str = "current";

/// What the loader activated: the service as the edge serves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServiceManifest {
    /// Name, domains, backends and stores.
    pub service: Service,
    /// The package file in the version directory.
    pub package_file: String,
    /// SHA-256 of the package file (hex).
    pub package_sha256: String,
    /// Its size in bytes.
    pub package_bytes: u64,
    /// Where it came from, for people: `oci://…@sha256:…`, an URL,
    /// `fastly:<service id>/<version>`.
    pub origin: String,
    /// The version on the Fastly API, when the service comes from it.
    #[serde(default)]
    pub fastly_version: Option<u64>,
}

impl ServiceManifest {
    /// The id of the version this manifest describes: the same package and
    /// definition give the same id.
    pub fn version_id(&self) -> String {
        let definition = serde_json::to_vec(&self.service).unwrap_or_default();
        let mut h = Sha256::new();
        h.update(self.package_sha256.as_bytes());
        h.update([0]);
        h.update(&definition);
        h.update([0]);
        h.update(self.fastly_version.unwrap_or(0).to_le_bytes());
        let digest = h.finalize();
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A failure reading or changing the xqd volume.
#[derive(Debug, thiserror::Error)]
pub enum XqdError {
    /// I/O on a path.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A manifest that does not parse.
    #[error("{path}: {message}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> XqdError + '_ {
    move |source| XqdError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The active version of a service, as the pointer names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveVersion {
    /// The version id (the directory name).
    pub id: String,
    /// The version directory.
    pub dir: PathBuf,
}

/// The xqd volume.
#[derive(Debug, Clone)]
pub struct Xqd {
    root: PathBuf,
}

impl Xqd {
    /// The volume mounted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Xqd { root: root.into() }
    }

    /// The volume's root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the services live.
    pub fn services_dir(&self) -> PathBuf {
        self.root.join("services")
    }

    /// One service's directory.
    pub fn service_dir(&self, service: &str) -> PathBuf {
        self.services_dir().join(service)
    }

    /// Where the loader stages downloads.
    pub fn staging_dir(&self) -> PathBuf {
        self.root.join("staging")
    }

    /// Where the edge keeps precompiled modules.
    pub fn compiled_dir(&self) -> PathBuf {
        self.root.join("compiled")
    }

    /// Where the edge keeps KV stores.
    pub fn kv_dir(&self) -> PathBuf {
        self.root.join("kv")
    }

    /// The services that have an active version, by name.
    pub fn active_services(&self) -> Result<Vec<String>, XqdError> {
        let dir = self.services_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&dir)(e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io(&dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.path().join(CURRENT).symlink_metadata().is_ok() {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// The active version of `service`, if the pointer exists.
    pub fn active(&self, service: &str) -> Result<Option<ActiveVersion>, XqdError> {
        let dir = self.service_dir(service);
        let pointer = dir.join(CURRENT);
        let target = match std::fs::read_link(&pointer) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&pointer)(e)),
        };
        let id = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Some(ActiveVersion {
            dir: dir.join("versions").join(&id),
            id,
        }))
    }

    /// Reads the manifest of a version directory.
    pub fn read_manifest(version_dir: &Path) -> Result<ServiceManifest, XqdError> {
        let path = version_dir.join(MANIFEST);
        let text = std::fs::read(&path).map_err(io(&path))?;
        serde_json::from_slice(&text).map_err(|e| XqdError::Manifest {
            path,
            message: e.to_string(),
        })
    }

    /// Moves a complete, verified staged directory (holding the manifest and
    /// the package) into place as version `manifest.version_id()` and points
    /// `current` at it. Returns the version id.
    pub fn activate(&self, staged: &Path, manifest: &ServiceManifest) -> Result<String, XqdError> {
        let id = manifest.version_id();
        let service_dir = self.service_dir(&manifest.service.name);
        let versions = service_dir.join("versions");
        std::fs::create_dir_all(&versions).map_err(io(&versions))?;
        let version_dir = versions.join(&id);
        if version_dir.exists() {
            // The same input again (e.g. a pointer moved back): reuse it.
            std::fs::remove_dir_all(staged).map_err(io(staged))?;
        } else {
            write_file(&staged.join(MANIFEST), &manifest_bytes(manifest))?;
            sync_dir(staged)?;
            std::fs::rename(staged, &version_dir).map_err(io(&version_dir))?;
            sync_dir(&versions)?;
        }
        self.point_at(&service_dir, &id)?;
        Ok(id)
    }

    fn point_at(&self, service_dir: &Path, id: &str) -> Result<(), XqdError> {
        let next = service_dir.join(".current.next");
        let _ = std::fs::remove_file(&next);
        std::os::unix::fs::symlink(Path::new("versions").join(id), &next).map_err(io(&next))?;
        let pointer = service_dir.join(CURRENT);
        std::fs::rename(&next, &pointer).map_err(io(&pointer))?;
        sync_dir(service_dir)
    }

    /// Removes a service that is no longer desired: the pointer first (the
    /// edge stops serving it), then its versions.
    pub fn remove_service(&self, service: &str) -> Result<(), XqdError> {
        let dir = self.service_dir(service);
        let pointer = dir.join(CURRENT);
        match std::fs::remove_file(&pointer) {
            Ok(()) => sync_dir(&dir)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&pointer)(e)),
        }
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&dir)(e)),
        }
    }

    /// Deletes old versions of `service`, keeping the active one and the
    /// `keep` newest others (the edge may still be loading one of them).
    pub fn collect_garbage(&self, service: &str, keep: usize) -> Result<Vec<String>, XqdError> {
        let active = self.active(service)?.map(|a| a.id);
        let versions = self.service_dir(service).join("versions");
        let Ok(entries) = std::fs::read_dir(&versions) else {
            return Ok(Vec::new());
        };
        let mut others: Vec<(std::time::SystemTime, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter(|e| Some(e.file_name().to_string_lossy().as_ref()) != active.as_deref())
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .collect();
        others.sort_by_key(|o| std::cmp::Reverse(o.0));
        let mut removed = Vec::new();
        for (_, path) in others.into_iter().skip(keep) {
            std::fs::remove_dir_all(&path).map_err(io(&path))?;
            removed.push(
                path.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            );
        }
        Ok(removed)
    }

    /// A fresh staging directory; leftovers of a killed loader are removed
    /// by [`Xqd::clear_staging`].
    pub fn new_staging(&self) -> Result<tempfile::TempDir, XqdError> {
        let dir = self.staging_dir();
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        tempfile::Builder::new()
            .prefix("version-")
            .tempdir_in(&dir)
            .map_err(io(&dir))
    }

    /// Empties the staging directory (a loader killed mid-download leaves
    /// its partial files there, never under `services/`).
    pub fn clear_staging(&self) -> Result<(), XqdError> {
        let dir = self.staging_dir();
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&dir)(e)),
        }
    }
}

fn manifest_bytes(manifest: &ServiceManifest) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(manifest).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// Writes `bytes` to `path` and fsyncs it.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), XqdError> {
    use std::io::Write;
    let mut f = std::fs::File::create(path).map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

/// Fsyncs a directory, so that a rename inside it survives a crash.
pub fn sync_dir(dir: &Path) -> Result<(), XqdError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use values_schema::values::PackageSource;

    fn manifest(name: &str, sha: &str) -> ServiceManifest {
        ServiceManifest {
            service: Service {
                name: name.into(),
                domains: vec![format!("{name}.example")],
                package: PackageSource::default(),
                backends: Vec::new(),
                config_stores: Vec::new(),
                kv_stores: Vec::new(),
                dynamic_backends: None,
                log_endpoints: vec![],
            },
            package_file: "main.wasm".into(),
            package_sha256: sha.into(),
            package_bytes: 3,
            origin: "test".into(),
            fastly_version: None,
        }
    }

    fn stage(xqd: &Xqd, body: &[u8]) -> PathBuf {
        let dir = xqd.new_staging().unwrap().keep();
        write_file(&dir.join("main.wasm"), body).unwrap();
        dir
    }

    #[test]
    fn activation_switches_the_pointer_and_gc_keeps_the_active_version() {
        let tmp = tempfile::tempdir().unwrap();
        let xqd = Xqd::new(tmp.path());
        assert!(xqd.active("a").unwrap().is_none());
        let m1 = manifest("a", "11");
        let id1 = xqd.activate(&stage(&xqd, b"one"), &m1).unwrap();
        assert_eq!(xqd.active("a").unwrap().unwrap().id, id1);
        let m2 = manifest("a", "22");
        let id2 = xqd.activate(&stage(&xqd, b"two"), &m2).unwrap();
        assert_ne!(id1, id2);
        let active = xqd.active("a").unwrap().unwrap();
        assert_eq!(active.id, id2);
        assert_eq!(Xqd::read_manifest(&active.dir).unwrap(), m2);
        assert_eq!(std::fs::read(active.dir.join("main.wasm")).unwrap(), b"two");
        assert_eq!(xqd.active_services().unwrap(), vec!["a".to_string()]);
        assert_eq!(xqd.collect_garbage("a", 0).unwrap(), vec![id1]);
        assert!(xqd.active("a").unwrap().unwrap().dir.exists());
        xqd.remove_service("a").unwrap();
        assert!(xqd.active_services().unwrap().is_empty());
    }

    #[test]
    fn the_same_input_gives_the_same_version_id() {
        assert_eq!(
            manifest("a", "11").version_id(),
            manifest("a", "11").version_id()
        );
        assert_ne!(
            manifest("a", "11").version_id(),
            manifest("b", "11").version_id()
        );
    }
}
