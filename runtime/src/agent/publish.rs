//! Writes the peer list file when, and only when, its content changes: the
//! edge re-reads the file on every change, and pod status updates that do
//! not touch name, IP or readiness (most of them) must not make it work.

use crate::peers::{PeerList, PeersError};
use std::path::PathBuf;

/// The peers file and what was last written to it.
#[derive(Debug)]
pub struct Publisher {
    path: PathBuf,
    last: Option<PeerList>,
}

impl Publisher {
    /// Writes to `path`; the first list is always written, so a restarted
    /// agent replaces whatever an earlier one left.
    pub fn new(path: PathBuf) -> Self {
        Self { path, last: None }
    }

    /// Writes `list` unless it is what the file holds. `Ok(true)` when the
    /// file was replaced.
    pub async fn publish(&mut self, list: PeerList) -> Result<bool, PeersError> {
        if self.last.as_ref() == Some(&list) {
            return Ok(false);
        }
        let path = self.path.clone();
        let to_write = list.clone();
        // fsync of the file and the directory: not on the reactor.
        tokio::task::spawn_blocking(move || to_write.write_atomic(&path))
            .await
            .map_err(|e| PeersError::Write {
                path: self.path.clone(),
                error: std::io::Error::other(e),
            })??;
        tracing::info!(
            file = %self.path.display(),
            peers = list.peers().len(),
            ready = list.ready_count(),
            "peer list written"
        );
        self.last = Some(list);
        Ok(true)
    }
}
