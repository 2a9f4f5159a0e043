//! Writing the credentials volume: each file whole or not at all (temp
//! file, fsync, rename, fsync of the directory), readable by its owner
//! only (0400), so that the loader never reads half a token.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A credentials file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}: {error}", path.display())]
pub struct WriteError {
    /// The file (or directory).
    pub path: PathBuf,
    /// Why.
    pub error: std::io::Error,
}

fn at(path: &Path) -> impl FnOnce(std::io::Error) -> WriteError + '_ {
    move |error| WriteError {
        path: path.to_owned(),
        error,
    }
}

/// Writes `bytes` to `dir/name` atomically with mode 0400.
pub fn write_private(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), WriteError> {
    let path = dir.join(name);
    // The temp file is created 0600 in the same directory, so the rename
    // stays on one file system and no one else can open it meanwhile.
    let mut file = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(at(dir))?;
    file.write_all(bytes).map_err(at(&path))?;
    file.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o400))
        .map_err(at(&path))?;
    file.as_file().sync_all().map_err(at(&path))?;
    file.persist(&path).map_err(|e| at(&path)(e.error))?;
    sync_dir(dir)
}

/// Removes `dir/name` if it is there (a file a previous run in another
/// mode left behind).
pub fn remove_stale(dir: &Path, name: &str) -> Result<(), WriteError> {
    let path = dir.join(name);
    match std::fs::remove_file(&path) {
        Ok(()) => {
            tracing::info!(file = %path.display(), "removed a credential the offline mode does not use");
            sync_dir(dir)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(at(&path)(e)),
    }
}

/// Creates the credentials directory if needed (the chart mounts it; a
/// local run may not).
pub fn ensure_dir(dir: &Path) -> Result<(), WriteError> {
    std::fs::create_dir_all(dir).map_err(at(dir))
}

fn sync_dir(dir: &Path) -> Result<(), WriteError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(at(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_0400_and_replaces_read_only_files() {
        let dir = tempfile::tempdir().unwrap();
        write_private(dir.path(), "f", b"one").unwrap();
        write_private(dir.path(), "f", b"two").unwrap();
        let path = dir.path().join("f");
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o400);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, ["f"], "no temp file left behind");
        remove_stale(dir.path(), "f").unwrap();
        remove_stale(dir.path(), "f").unwrap();
        assert!(!path.exists());
    }
}
