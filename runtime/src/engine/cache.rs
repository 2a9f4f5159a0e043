//! Precompiled modules on disk, keyed by the module's SHA-256 and the
//! engine's compatibility hash (wasmtime version and config), so that a
//! restart serves without compiling.

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::{Engine, Module};

/// How a module was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Read from the cache.
    Cached,
    /// Compiled now (and written to the cache when there is one).
    Compiled,
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn engine_key(engine: &Engine) -> String {
    // FNV-1a: stable across Rust versions, unlike DefaultHasher.
    struct Fnv(u64);
    impl Hasher for Fnv {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            for b in bytes {
                self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
            }
        }
    }
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    engine.precompile_compatibility_hash().hash(&mut h);
    format!("{:016x}", h.finish())
}

/// The cache file for `wasm` under `dir`.
pub fn cache_path(engine: &Engine, dir: &Path, module_sha256: &str) -> PathBuf {
    dir.join(format!("{module_sha256}-{}.cwasm", engine_key(engine)))
}

/// Loads `wasm` from the cache in `dir`, or compiles it and stores it
/// there. Compilation is slow: call this on a blocking thread.
pub fn load_or_compile(
    engine: &Engine,
    wasm: &[u8],
    module_sha256: &str,
    dir: Option<&Path>,
) -> anyhow::Result<(Module, Origin)> {
    let Some(dir) = dir else {
        return Ok((Module::from_binary(engine, wasm)?, Origin::Compiled));
    };
    let path = cache_path(engine, dir, module_sha256);
    if path.exists() {
        // SAFETY: the file was written by `Module::serialize` of an engine
        // with the same compatibility hash (it is in the file name, and
        // wasmtime checks it again in the header), into a directory this
        // process owns. A file there that someone else forged could run
        // arbitrary code; the cache directory must be writable only by us.
        #[allow(unsafe_code)]
        let cached = unsafe { Module::deserialize_file(engine, &path) };
        match cached {
            Ok(module) => return Ok((module, Origin::Cached)),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "precompiled module unusable; compiling again")
            }
        }
    }
    let module = Module::from_binary(engine, wasm)?;
    if let Err(e) = write_atomically(dir, &path, &module.serialize()?) {
        tracing::warn!(path = %path.display(), error = %e, "could not cache the precompiled module");
    }
    Ok((module, Origin::Compiled))
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::fs::write(tmp.path(), bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
