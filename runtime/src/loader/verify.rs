//! Checks of a staged package before it may be activated: it reads as a
//! package, its `fastly.toml` parses, and its module validates. Nothing is
//! compiled here: the loader runs in 128 MiB and a tenth of a CPU; the edge
//! compiles.

use crate::config::parse_fastly_toml;
use crate::package::read_package;
use std::path::Path;

/// Why a staged package was refused.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Not a readable package.
    #[error("{0}")]
    Package(String),
    /// Its fastly.toml does not parse.
    #[error("fastly.toml in the package: {0}")]
    Manifest(String),
    /// The module is not valid WebAssembly.
    #[error("bin/main.wasm in the package is not a valid WebAssembly module: {0}")]
    Module(String),
}

/// Verifies the package file at `path` (at most `limit` bytes).
pub fn verify_package(path: &Path, limit: u64) -> Result<(), VerifyError> {
    let package =
        read_package(path, None, limit).map_err(|e| VerifyError::Package(e.to_string()))?;
    if let Some((file, text)) = &package.manifest {
        parse_fastly_toml(file, text).map_err(|e| VerifyError::Manifest(e.to_string()))?;
    }
    // Validation only: the default engine's features are a superset of
    // what the edge accepts for the SDKs' modules.
    let engine = wasmtime::Engine::default();
    wasmtime::Module::validate(&engine, &package.wasm)
        .map_err(|e| VerifyError::Module(format!("{e:#}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_module_that_does_not_validate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.wasm");
        std::fs::write(
            &good,
            wat::parse_str("(module (func (export \"_start\")))").unwrap(),
        )
        .unwrap();
        verify_package(&good, 1 << 20).unwrap();
        let bad = dir.path().join("bad.wasm");
        std::fs::write(&bad, b"\0asm\x01\0\0\0\x01\x05garbage").unwrap();
        assert!(matches!(
            verify_package(&bad, 1 << 20),
            Err(VerifyError::Package(_) | VerifyError::Module(_))
        ));
        assert!(matches!(
            verify_package(&good, 4),
            Err(VerifyError::Package(_))
        ));
    }
}
