//! Compute packages: a bare `.wasm` or `.wat` (with an optional `fastly.toml` beside
//! it or named with `-C`), or a `pkg/<name>.tar.gz` holding
//! `<name>/bin/main.wasm` and `<name>/fastly.toml`.

use flate2::read::GzDecoder;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A package's program and manifest.
#[derive(Debug, Clone)]
pub struct Package {
    /// Where it came from (for messages).
    pub source: PathBuf,
    /// The wasm module.
    pub wasm: Vec<u8>,
    /// The `fastly.toml` text, if any, and the path its relative paths
    /// start from.
    pub manifest: Option<(PathBuf, String)>,
}

/// Why a package could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// I/O.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Not a package.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong and the fix.
        message: String,
    },
}

fn invalid(path: &Path, message: impl Into<String>) -> PackageError {
    PackageError::Invalid {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PackageError + '_ {
    move |source| PackageError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads a package, refusing anything over `max_bytes`.
pub fn read_package(
    path: &Path,
    manifest: Option<&Path>,
    max_bytes: u64,
) -> Result<Package, PackageError> {
    let meta = std::fs::metadata(path).map_err(io(path))?;
    if meta.len() > max_bytes {
        return Err(invalid(
            path,
            format!(
                "{} bytes is over the package size limit of {max_bytes}",
                meta.len()
            ),
        ));
    }
    let bytes = std::fs::read(path).map_err(io(path))?;
    let is_text = path.extension().is_some_and(|e| e == "wat");
    let mut package = if is_text {
        let wasm = wat::parse_bytes(&bytes).map_err(|e| invalid(path, format!("{e}")))?;
        Package {
            source: path.to_path_buf(),
            wasm: wasm.into_owned(),
            manifest: None,
        }
    } else if bytes.starts_with(b"\0asm") {
        Package {
            source: path.to_path_buf(),
            wasm: bytes,
            manifest: None,
        }
    } else if bytes.starts_with(&[0x1f, 0x8b]) {
        from_tar_gz(path, &bytes, max_bytes)?
    } else {
        return Err(invalid(
            path,
            "neither a wasm module nor a .tar.gz Compute package (build one with `fastly compute pack`)",
        ));
    };
    if let Some(m) = manifest {
        let text = std::fs::read_to_string(m).map_err(io(m))?;
        package.manifest = Some((m.to_path_buf(), text));
    } else if package.manifest.is_none() {
        let beside = path.parent().map(|p| p.join("fastly.toml"));
        if let Some(b) = beside.filter(|b| b.is_file()) {
            let text = std::fs::read_to_string(&b).map_err(io(&b))?;
            package.manifest = Some((b, text));
        }
    }
    Ok(package)
}

fn from_tar_gz(path: &Path, bytes: &[u8], max_bytes: u64) -> Result<Package, PackageError> {
    let mut archive = tar::Archive::new(GzDecoder::new(bytes));
    let mut wasm = None;
    let mut manifest = None;
    let entries = archive.entries().map_err(io(path))?;
    for entry in entries {
        let entry = entry.map_err(io(path))?;
        let name = entry
            .path()
            .map_err(io(path))?
            .to_string_lossy()
            .into_owned();
        let parts: Vec<&str> = name.trim_start_matches("./").split('/').collect();
        let is_wasm = matches!(parts.as_slice(), [_, "bin", "main.wasm"]);
        let is_manifest = matches!(parts.as_slice(), [_, "fastly.toml"]);
        if !is_wasm && !is_manifest {
            continue;
        }
        let mut content = Vec::new();
        entry
            .take(max_bytes + 1)
            .read_to_end(&mut content)
            .map_err(io(path))?;
        if content.len() as u64 > max_bytes {
            return Err(invalid(
                path,
                format!("{name} unpacks to more than the package size limit of {max_bytes} bytes"),
            ));
        }
        if is_wasm {
            wasm = Some(content);
        } else {
            let text = String::from_utf8(content)
                .map_err(|_| invalid(path, format!("{name} is not UTF-8")))?;
            manifest = Some((path.with_file_name("fastly.toml"), text));
        }
    }
    let wasm = wasm.ok_or_else(|| {
        invalid(
            path,
            "no <name>/bin/main.wasm inside; is this a Compute package?",
        )
    })?;
    if !wasm.starts_with(b"\0asm") {
        return Err(invalid(path, "bin/main.wasm is not a wasm module"));
    }
    Ok(Package {
        source: path.to_path_buf(),
        wasm,
        manifest,
    })
}
