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

/// Entries a package may hold (Fastly's CLI packs two).
const MAX_ENTRIES: usize = 1000;

/// Bytes the whole archive may unpack to: twice the package limit plus room
/// for headers. The tar reader holds long names and PAX extensions whole,
/// so without this bound a few MB of gzip could ask for gigabytes.
fn unpacked_limit(max_bytes: u64) -> u64 {
    max_bytes.saturating_mul(2).saturating_add(1 << 20)
}

/// Reads at most `left` bytes of `inner`, then fails (and says so).
struct Bounded<R> {
    inner: R,
    left: u64,
    exceeded: std::rc::Rc<std::cell::Cell<bool>>,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            // One byte more tells "at the limit" from "over it".
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? == 0 {
                return Ok(0);
            }
            self.exceeded.set(true);
            return Err(std::io::Error::other(
                "the package unpacks to more than its limit",
            ));
        }
        let want = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

fn from_tar_gz(path: &Path, bytes: &[u8], max_bytes: u64) -> Result<Package, PackageError> {
    let exceeded = std::rc::Rc::new(std::cell::Cell::new(false));
    let limit = unpacked_limit(max_bytes);
    let bounded = Bounded {
        inner: GzDecoder::new(bytes),
        left: limit,
        exceeded: exceeded.clone(),
    };
    let too_big = || {
        invalid(
            path,
            format!(
                "unpacks to more than {limit} bytes (twice the package size limit): not a Compute package"
            ),
        )
    };
    let read_err = |e: std::io::Error| {
        if exceeded.get() {
            too_big()
        } else {
            io(path)(e)
        }
    };
    let mut archive = tar::Archive::new(bounded);
    let mut wasm = None;
    let mut manifest = None;
    let entries = archive.entries().map_err(read_err)?;
    for (n, entry) in entries.enumerate() {
        if n >= MAX_ENTRIES {
            return Err(invalid(
                path,
                format!("more than {MAX_ENTRIES} entries: not a Compute package"),
            ));
        }
        let entry = entry.map_err(read_err)?;
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
            .map_err(read_err)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn write_package(dir: &Path, gz: Vec<u8>) -> PathBuf {
        let path = dir.join("bomb.tar.gz");
        std::fs::write(&path, gz).unwrap_or_else(|e| panic!("{e}"));
        path
    }

    #[test]
    fn a_long_name_bomb_is_refused_without_unpacking_it() {
        // A GNU long-name entry claiming 256 MiB of name: a few hundred KB
        // of gzip. The tar reader would hold the whole name in memory.
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::GNULongName);
        header.set_size(256 << 20);
        header
            .set_path("././@LongLink")
            .unwrap_or_else(|e| panic!("{e}"));
        header.set_cksum();
        let mut gz = GzEncoder::new(Vec::new(), Compression::best());
        gz.write_all(header.as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        let zeros = vec![b'a'; 1 << 20];
        for _ in 0..256 {
            gz.write_all(&zeros).unwrap_or_else(|e| panic!("{e}"));
        }
        let bytes = gz.finish().unwrap_or_else(|e| panic!("{e}"));
        assert!(
            bytes.len() < 2 << 20,
            "the bomb is small: {} bytes",
            bytes.len()
        );
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = write_package(dir.path(), bytes);
        let err = read_package(&path, None, 4 << 20)
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("unpacks to more than")),
            "{err:?}"
        );
    }

    #[test]
    fn a_package_of_many_entries_is_refused() {
        let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
        for n in 0..=MAX_ENTRIES {
            let mut h = tar::Header::new_gnu();
            h.set_size(0);
            h.set_cksum();
            tar.append_data(&mut h, format!("app/f{n}"), std::io::empty())
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let gz = tar.into_inner().unwrap_or_else(|e| panic!("{e}"));
        let bytes = gz.finish().unwrap_or_else(|e| panic!("{e}"));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = write_package(dir.path(), bytes);
        let err = read_package(&path, None, 1 << 20)
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref().is_some_and(|e| e.contains("entries")),
            "{err:?}"
        );
    }
}
