//! Precompiled modules on disk, keyed by the module's SHA-256 and the
//! engine's compatibility hash (wasmtime version and config), so that a
//! restart serves without compiling.
//!
//! A precompiled module is native code: deserializing a file someone else
//! wrote runs their code in this process. So every file is sealed with an
//! HMAC-SHA256, under a key ([`ModuleKey`]) the writer of the directory
//! does not have, over the wasm's SHA-256, the engine's fingerprint and
//! the module bytes. Before a file is deserialized its seal is checked (in
//! constant time) on the very bytes that are then deserialized; a file that
//! is not sealed, sealed with another key, or sealed for another module is
//! logged, deleted and compiled again. See [`ModuleKey`] for where the key
//! is kept.

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
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

/// The name of the key file in a key directory.
pub const KEY_FILE: &str = "module-key";

/// Bytes of a key.
const KEY_BYTES: usize = 32;

/// The secret that seals the modules this process caches.
///
/// Where it is kept decides who can make this process load native code:
/// - `anywhere edge --private-dir DIR` keeps it in `DIR/module-key`
///   (created on the first start, mode 0600). The chart puts DIR on the
///   `cached` volume, which only the edge container mounts: the loader,
///   which shares the xqd volume (and the uid) with the edge, can write
///   `xqd/compiled/` but cannot seal what it writes. The volume outlives
///   the pod, so a restarted edge finds the same key and its modules.
/// - `anywhere edge` without `--private-dir` keeps a random key in memory
///   ([`ModuleKey::random`]): modules cached by an earlier process are not
///   trusted, and are compiled again.
/// - A process that installed no key ([`set_process_key`]), such as
///   `anywhere serve`, keeps it in `module-key` inside its cache directory
///   (`~/.cache/fastly-anywhere/modules`): the directory is the
///   developer's own, so the seal there protects against damaged files and
///   modules swapped between packages, not against someone who can
///   already write as the developer.
pub struct ModuleKey(hmac::Key);

impl std::fmt::Debug for ModuleKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ModuleKey(..)")
    }
}

/// A key that cannot be read or made.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file or its directory.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The system gave no random bytes.
    #[error("the system's random number generator failed")]
    Random,
    /// The key file kept changing under us.
    #[error("{0}: replaced again and again while being read; is another process writing it?")]
    Unstable(PathBuf),
}

impl ModuleKey {
    /// A new random key, kept in memory only.
    pub fn random() -> Result<Self, KeyError> {
        Ok(Self::from_bytes(&random_bytes()?))
    }

    fn from_bytes(bytes: &[u8; KEY_BYTES]) -> Self {
        ModuleKey(hmac::Key::new(hmac::HMAC_SHA256, bytes))
    }

    /// The key in `dir/module-key`, made (random, mode 0600, never
    /// overwriting a file that appeared meanwhile) when there is none. A
    /// file that is not a private regular file of 32 bytes (a symbolic
    /// link, readable by others, cut short by a crash) is replaced: every
    /// module sealed with the old key is then compiled again.
    pub fn in_dir(dir: &Path) -> Result<Self, KeyError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| KeyError::Io { path, source }
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io(dir))?;
        let path = dir.join(KEY_FILE);
        for _ in 0..3 {
            match read_key_file(&path).map_err(io(&path))? {
                KeyFile::Good(bytes) => return Ok(Self::from_bytes(&bytes)),
                KeyFile::Missing => {}
                KeyFile::Unfit(why) => {
                    tracing::warn!(path = %path.display(), why, "module key replaced; cached modules will be compiled again");
                    remove_if_there(&path).map_err(io(&path))?;
                }
            }
            let bytes = random_bytes()?;
            let mut tmp = tempfile::Builder::new()
                .prefix(".module-key")
                .tempfile_in(dir)
                .map_err(io(dir))?;
            tmp.as_file_mut()
                .write_all(&bytes)
                .map_err(io(tmp.path()))?;
            tmp.as_file().sync_all().map_err(io(tmp.path()))?;
            match tmp.persist_noclobber(&path) {
                Ok(_) => return Ok(Self::from_bytes(&bytes)),
                // Another process made one first: read that one.
                Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return Err(KeyError::Io {
                        path,
                        source: e.error,
                    });
                }
            }
        }
        Err(KeyError::Unstable(path))
    }

    /// Seals `module`, the precompiled form of the wasm whose SHA-256 is
    /// `module_sha256`, for an engine of fingerprint `engine`: the bytes of
    /// a cache file.
    fn seal(&self, module_sha256: &str, engine: &str, module: &[u8]) -> Vec<u8> {
        let mut file = Vec::with_capacity(HEADER_BYTES + module.len());
        file.extend_from_slice(&[0; TAG_BYTES]);
        file.extend_from_slice(MAGIC);
        file.extend_from_slice(module_sha256.as_bytes());
        file.extend_from_slice(engine.as_bytes());
        file.extend_from_slice(module);
        let tag = hmac::sign(&self.0, &file[TAG_BYTES..]);
        file[..TAG_BYTES].copy_from_slice(tag.as_ref());
        file
    }

    /// The module bytes of a cache file, if this key sealed it for this
    /// module and engine.
    fn unseal<'f>(
        &self,
        module_sha256: &str,
        engine: &str,
        file: &'f [u8],
    ) -> Result<&'f [u8], Refusal> {
        if file.len() < HEADER_BYTES || &file[TAG_BYTES..TAG_BYTES + MAGIC.len()] != MAGIC {
            return Err(Refusal::NotSealed);
        }
        // Constant time: nothing learnt from how long a wrong tag takes.
        hmac::verify(&self.0, &file[TAG_BYTES..], &file[..TAG_BYTES])
            .map_err(|_| Refusal::BadSeal)?;
        let fields = &file[TAG_BYTES + MAGIC.len()..HEADER_BYTES];
        if fields != [module_sha256.as_bytes(), engine.as_bytes()].concat() {
            return Err(Refusal::OtherModule);
        }
        Ok(&file[HEADER_BYTES..])
    }
}

/// A cache file: tag (32) | magic (16) | wasm SHA-256, hex (64) | engine
/// fingerprint, hex (16) | module. The tag covers everything after it.
const TAG_BYTES: usize = 32;
const MAGIC: &[u8; 16] = b"anywhere-cwasm1\n";
const SHA_HEX: usize = 64;
const ENGINE_HEX: usize = 16;
const HEADER_BYTES: usize = TAG_BYTES + MAGIC.len() + SHA_HEX + ENGINE_HEX;

/// The largest cache file read for a wasm of `wasm_len` bytes: native
/// code is a few times its wasm; a larger file is not ours.
fn max_file_bytes(wasm_len: usize) -> u64 {
    (64 << 20) + 16 * wasm_len as u64
}

/// Why a cache file was not loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No seal at all: an older cache, or a file someone put there.
    #[error("not sealed (an older cache, or written by something else)")]
    NotSealed,
    /// A seal this key did not make, or bytes changed since.
    #[error("its seal does not verify (written without this process's key, or altered)")]
    BadSeal,
    /// Sealed by us, for another module or engine (a file moved).
    #[error("sealed for another module or engine")]
    OtherModule,
    /// Not a regular file (a symbolic link, a FIFO, a directory).
    #[error("not a regular file")]
    NotRegular,
    /// Far larger than the module compiles to.
    #[error("far larger than its module compiles to")]
    TooLarge,
    /// Sealed and checked, but wasmtime would not take it.
    #[error("not a module this engine can load")]
    Undeserializable,
}

/// The key installed by [`set_process_key`].
static PROCESS_KEY: RwLock<Option<Arc<ModuleKey>>> = RwLock::new(None);

/// From now on, this process seals the modules it caches with `key`, and
/// loads only modules sealed with it, whatever the cache directory.
pub fn set_process_key(key: ModuleKey) {
    *PROCESS_KEY.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(key));
}

/// The edge's key: the one in `private_dir` (see [`ModuleKey`]), or without
/// one a random key for this process only; installed for the process.
pub fn install_edge_key(private_dir: Option<&Path>) -> Result<(), KeyError> {
    let key = match private_dir {
        Some(dir) => ModuleKey::in_dir(dir)?,
        None => {
            tracing::info!(
                "no --private-dir: precompiled modules are trusted only within this process and compiled again after a restart"
            );
            ModuleKey::random()?
        }
    };
    set_process_key(key);
    Ok(())
}

/// The key for modules cached in `dir`: the process's, else the one kept
/// in `dir`. None (and a warning) when there is none to be had.
fn key_for(dir: &Path) -> Option<Arc<ModuleKey>> {
    if let Some(key) = PROCESS_KEY
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
    {
        return Some(key.clone());
    }
    match ModuleKey::in_dir(dir) {
        Ok(key) => Some(Arc::new(key)),
        Err(e) => {
            tracing::warn!(error = %e, "no key for the module cache; compiling without it");
            None
        }
    }
}

/// Loads `wasm` from the cache in `dir`, or compiles it and stores it
/// there, sealed. Compilation is slow: call this on a blocking thread.
pub fn load_or_compile(
    engine: &Engine,
    wasm: &[u8],
    module_sha256: &str,
    dir: Option<&Path>,
) -> anyhow::Result<(Module, Origin)> {
    let compile = || Module::from_binary(engine, wasm);
    let well_formed = module_sha256.len() == SHA_HEX
        && module_sha256
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let (Some(dir), true) = (dir, well_formed) else {
        return Ok((compile()?, Origin::Compiled));
    };
    let Some(key) = key_for(dir) else {
        return Ok((compile()?, Origin::Compiled));
    };
    let fingerprint = engine_key(engine);
    let path = dir.join(format!("{module_sha256}-{fingerprint}.cwasm"));
    let max = max_file_bytes(wasm.len());
    match load_sealed(engine, &key, module_sha256, &fingerprint, &path, max) {
        Ok(Some(module)) => return Ok((module, Origin::Cached)),
        Ok(None) => {}
        Err(Refused::Refused(why)) => {
            tracing::warn!(path = %path.display(), why = %why, "precompiled module refused; deleting it and compiling again");
            if let Err(e) = remove_if_there(&path) {
                tracing::warn!(path = %path.display(), error = %e, "could not delete the refused module");
            }
        }
        Err(Refused::Io(e)) => {
            tracing::warn!(path = %path.display(), error = %e, "precompiled module unreadable; compiling again");
        }
    }
    let module = compile()?;
    let sealed = key.seal(module_sha256, &fingerprint, &module.serialize()?);
    if let Err(e) = write_atomically(dir, &path, &sealed) {
        tracing::warn!(path = %path.display(), error = %e, "could not cache the precompiled module");
    }
    Ok((module, Origin::Compiled))
}

/// Why [`load_sealed`] did not load.
enum Refused {
    Refused(Refusal),
    Io(std::io::Error),
}

/// The module in `path` when it is there and sealed with `key` for this
/// module and engine.
fn load_sealed(
    engine: &Engine,
    key: &ModuleKey,
    module_sha256: &str,
    fingerprint: &str,
    path: &Path,
    max: u64,
) -> Result<Option<Module>, Refused> {
    let Some(file) = read_regular_file(path, max)? else {
        return Ok(None);
    };
    let bytes = key
        .unseal(module_sha256, fingerprint, &file)
        .map_err(Refused::Refused)?;
    // SAFETY: `bytes` are exactly what this process's key sealed after
    // `Module::serialize` of an engine with the same compatibility hash
    // (in the sealed header; wasmtime checks it again), and the seal was
    // verified on these very bytes in memory, not on a file that could
    // change between the check and the load. Nobody without the key can
    // produce them.
    #[allow(unsafe_code)]
    let module = unsafe { Module::deserialize(engine, bytes) };
    module
        .map(Some)
        .map_err(|_| Refused::Refused(Refusal::Undeserializable))
}

/// The bytes of the regular file at `path`, not following a symbolic link
/// and not waiting on a FIFO, if no larger than `max`; None when there is
/// no file.
fn read_regular_file(path: &Path, max: u64) -> Result<Option<Vec<u8>>, Refused> {
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path);
    let file = match opened {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(Refused::Refused(Refusal::NotRegular));
        }
        Err(e) => return Err(Refused::Io(e)),
    };
    let meta = file.metadata().map_err(Refused::Io)?;
    if !meta.is_file() {
        return Err(Refused::Refused(Refusal::NotRegular));
    }
    if meta.len() > max {
        return Err(Refused::Refused(Refusal::TooLarge));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(Refused::Io)?;
    if bytes.len() as u64 > max {
        return Err(Refused::Refused(Refusal::TooLarge));
    }
    Ok(Some(bytes))
}

/// What a key file holds.
enum KeyFile {
    Good([u8; KEY_BYTES]),
    Missing,
    Unfit(&'static str),
}

fn read_key_file(path: &Path) -> std::io::Result<KeyFile> {
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path);
    let file = match opened {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(KeyFile::Missing),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Ok(KeyFile::Unfit("a symbolic link"));
        }
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok(KeyFile::Unfit("not a regular file"));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        return Ok(KeyFile::Unfit("readable or writable by others"));
    }
    let mut bytes = Vec::with_capacity(KEY_BYTES);
    file.take(KEY_BYTES as u64 + 1).read_to_end(&mut bytes)?;
    match <[u8; KEY_BYTES]>::try_from(bytes.as_slice()) {
        Ok(key) => Ok(KeyFile::Good(key)),
        Err(_) => Ok(KeyFile::Unfit("not 32 bytes long")),
    }
}

fn random_bytes() -> Result<[u8; KEY_BYTES], KeyError> {
    let mut bytes = [0; KEY_BYTES];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| KeyError::Random)?;
    Ok(bytes)
}

fn remove_if_there(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Writes through the temporary file's own handle (never reopened by
/// name), then renames it over `path` (a link there is replaced, not
/// followed).
fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.as_file_mut().write_all(bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const ENGINE: &str = "00112233deadbeef";

    #[test]
    fn a_seal_holds_for_its_module_only() {
        let key = ModuleKey::random().unwrap();
        let file = key.seal(SHA, ENGINE, b"native code");
        assert_eq!(key.unseal(SHA, ENGINE, &file), Ok(&b"native code"[..]));

        let other_sha = SHA.replace('0', "1");
        assert_eq!(
            key.unseal(&other_sha, ENGINE, &file),
            Err(Refusal::OtherModule)
        );
        let mut flipped = file.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(key.unseal(SHA, ENGINE, &flipped), Err(Refusal::BadSeal));
        let stranger = ModuleKey::random().unwrap();
        assert_eq!(stranger.unseal(SHA, ENGINE, &file), Err(Refusal::BadSeal));
        assert_eq!(
            key.unseal(SHA, ENGINE, b"\0asm raw module"),
            Err(Refusal::NotSealed)
        );
    }

    #[test]
    fn a_key_file_is_made_private_kept_and_replaced_when_unfit() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("private");
        let first = ModuleKey::in_dir(&keys).unwrap();
        let path = keys.join(KEY_FILE);
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(meta.len(), KEY_BYTES as u64);
        let sealed = first.seal(SHA, ENGINE, b"m");
        let again = ModuleKey::in_dir(&keys).unwrap();
        assert!(
            again.unseal(SHA, ENGINE, &sealed).is_ok(),
            "same key read back"
        );

        // Made readable by others: not trusted, replaced.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let replaced = ModuleKey::in_dir(&keys).unwrap();
        assert_eq!(replaced.unseal(SHA, ENGINE, &sealed), Err(Refusal::BadSeal));

        // A link to a key someone else chose: not followed.
        let planted = dir.path().join("planted");
        std::fs::write(&planted, [7u8; KEY_BYTES]).unwrap();
        std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(&planted, &path).unwrap();
        let fresh = ModuleKey::in_dir(&keys).unwrap();
        let theirs = ModuleKey::from_bytes(&[7u8; KEY_BYTES]);
        assert_eq!(
            fresh.unseal(SHA, ENGINE, &theirs.seal(SHA, ENGINE, b"m")),
            Err(Refusal::BadSeal)
        );
        assert!(!std::fs::symlink_metadata(&path).unwrap().is_symlink());
    }
}
