//! The peer list: written by `anywhere agent`, read by `anywhere edge`.
//!
//! The two containers share an in-memory volume and talk through this one
//! file, never through an RPC: the agent writes it atomically (a reader sees
//! the old list or the new one, never half of either), the edge reads it
//! whenever it changes. The format is JSON, sorted by pod name so that two
//! writes of the same peers are byte-identical:
//!
//! ```json
//! {"peers":[{"name":"fastly-anywhere-0","ip":"10.1.2.3","ready":true}]}
//! ```

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// One pod of the StatefulSet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    /// The pod's name (stable across restarts in a StatefulSet).
    pub name: String,
    /// The pod's IP.
    pub ip: IpAddr,
    /// The pod is Ready and not being deleted: it may own cache keys.
    pub ready: bool,
}

/// Every pod of the StatefulSet that has an IP, sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerList {
    peers: Vec<Peer>,
}

/// Why the peer list could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PeersError {
    /// The file could not be read.
    #[error("peer list {path}: cannot read: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        error: std::io::Error,
    },
    /// The file is not a peer list.
    #[error("peer list {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the position when the JSON is malformed.
        message: String,
    },
    /// The file could not be written.
    #[error("peer list {path}: cannot write: {error}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What the system said.
        error: std::io::Error,
    },
}

impl PeerList {
    /// A list of `peers` in the file's order (by name). When two peers have
    /// the same name the first one is kept, since names are unique in a
    /// namespace and a duplicate can only be a stale copy.
    pub fn new(mut peers: Vec<Peer>) -> Self {
        peers.sort_by(|a, b| a.name.cmp(&b.name));
        peers.dedup_by(|later, first| later.name == first.name);
        Self { peers }
    }

    /// The peers, sorted by name.
    pub fn peers(&self) -> &[Peer] {
        &self.peers
    }

    /// How many peers are ready.
    pub fn ready_count(&self) -> usize {
        self.peers.iter().filter(|p| p.ready).count()
    }

    /// The file's bytes: compact JSON and a final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        // A struct of strings, an IP and a bool always serializes.
        let mut bytes = serde_json::to_vec(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// Reads and checks the peer list at `path`.
    pub fn read(path: &Path) -> Result<Self, PeersError> {
        let bytes = std::fs::read(path).map_err(|error| PeersError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        Self::parse(path, &bytes)
    }

    /// Parses `bytes`, the content of `path` (named in errors).
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self, PeersError> {
        let invalid = |message: String| PeersError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let list: PeerList = serde_json::from_slice(bytes).map_err(|e| {
            invalid(format!(
                "line {} column {}: {e}; expected {{\"peers\":[{{\"name\":…,\"ip\":…,\"ready\":…}}]}}",
                e.line(),
                e.column()
            ))
        })?;
        let mut names = BTreeSet::new();
        for peer in &list.peers {
            if peer.name.is_empty() {
                return Err(invalid("a peer has an empty name".into()));
            }
            if !names.insert(peer.name.as_str()) {
                return Err(invalid(format!("peer {:?} is listed twice", peer.name)));
            }
        }
        // A hand-written file need not be sorted; every reader sees it sorted.
        Ok(Self::new(list.peers))
    }

    /// Replaces the file at `path` atomically: readers see the old list or
    /// this one, and after a crash the file is one of the two. Blocking: call
    /// it from a blocking thread in async code.
    pub fn write_atomic(&self, path: &Path) -> Result<(), PeersError> {
        let error = |error: std::io::Error| PeersError::Write {
            path: path.to_path_buf(),
            error,
        };
        // The temporary file must be in the same directory (the same file
        // system) for the rename to be atomic.
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let mut tmp = tempfile::Builder::new()
            .prefix(".peers-")
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(error)?;
        tmp.write_all(&self.to_bytes()).map_err(error)?;
        set_readable(tmp.as_file()).map_err(error)?;
        // Data on disk before the name points at it.
        tmp.as_file().sync_all().map_err(error)?;
        tmp.persist(path).map_err(|e| error(e.error))?;
        // The rename itself on disk.
        sync_dir(dir).map_err(error)
    }
}

/// The edge runs as the same user but may not share the agent's umask
/// expectations: the list is world-readable (it holds no secret).
fn set_readable(file: &std::fs::File) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn peer(name: &str, ip: &str, ready: bool) -> Peer {
        Peer {
            name: name.into(),
            ip: ip.parse().unwrap(),
            ready,
        }
    }

    #[test]
    fn new_sorts_by_name_and_drops_duplicates() {
        let list = PeerList::new(vec![
            peer("pop-2", "10.0.0.2", true),
            peer("pop-0", "10.0.0.1", false),
            peer("pop-2", "10.0.0.9", false),
        ]);
        let names: Vec<_> = list.peers().iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["pop-0", "pop-2"]);
        assert_eq!(list.ready_count(), 1);
    }

    #[test]
    fn the_format_is_the_documented_one() {
        let list = PeerList::new(vec![peer("fastly-anywhere-0", "10.1.2.3", true)]);
        assert_eq!(
            String::from_utf8(list.to_bytes()).unwrap(),
            "{\"peers\":[{\"name\":\"fastly-anywhere-0\",\"ip\":\"10.1.2.3\",\"ready\":true}]}\n"
        );
    }

    #[test]
    fn write_then_read_round_trips_with_mode_0644() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peers.json");
        let list = PeerList::new(vec![
            peer("pop-1", "fd00::1", false),
            peer("pop-0", "10.0.0.1", true),
        ]);
        list.write_atomic(&path).unwrap();
        assert_eq!(PeerList::read(&path).unwrap(), list);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o644);
        }
        // Replacing leaves no temporary file behind.
        PeerList::default().write_atomic(&path).unwrap();
        assert_eq!(PeerList::read(&path).unwrap(), PeerList::default());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_missing_file_names_the_file() {
        let e = PeerList::read(Path::new("/nonexistent/peers.json")).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("peer list /nonexistent/peers.json: cannot read:"),
            "{text}"
        );
    }

    #[test]
    fn malformed_json_names_the_file_and_position() {
        let path = Path::new("peers.json");
        let e = PeerList::parse(
            path,
            b"{\"peers\":[{\"name\":\"a\",\"ip\":\"nope\",\"ready\":true}]}",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("peer list peers.json: line 1 column"), "{e}");
        assert!(e.contains("invalid IP address syntax"), "{e}");
        let e = PeerList::parse(path, b"[]").unwrap_err().to_string();
        assert!(e.contains("expected {\"peers\""), "{e}");
    }

    #[test]
    fn duplicates_and_empty_names_are_refused() {
        let path = Path::new("p.json");
        let twice = br#"{"peers":[{"name":"a","ip":"10.0.0.1","ready":true},{"name":"a","ip":"10.0.0.2","ready":true}]}"#;
        let e = PeerList::parse(path, twice).unwrap_err().to_string();
        assert_eq!(e, "peer list p.json: peer \"a\" is listed twice");
        let empty = br#"{"peers":[{"name":"","ip":"10.0.0.1","ready":true}]}"#;
        let e = PeerList::parse(path, empty).unwrap_err().to_string();
        assert_eq!(e, "peer list p.json: a peer has an empty name");
    }

    #[test]
    fn an_unsorted_hand_written_file_reads_sorted() {
        let text = br#"{"peers":[{"name":"b","ip":"10.0.0.2","ready":true},{"name":"a","ip":"10.0.0.1","ready":false}]}"#;
        let list = PeerList::parse(Path::new("p.json"), text).unwrap();
        assert_eq!(list.peers()[0].name, "a");
    }
}
