//! Flags the chart passes for work that comes later (cluster forwarding):
//! each is checked now, so that a pod that would fail then fails today,
//! and reported on `/readyz` as not used yet. None is silently ignored.

use anyhow::{Context, bail};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// `--peers-file`, `--tls-dir`, `--cluster-addr`.
#[derive(Debug, Clone, Default)]
pub struct PendingFlags {
    /// The peer list the agent writes.
    pub peers_file: Option<PathBuf>,
    /// The mTLS folder (cert-manager's Secret: tls.crt, tls.key, ca.crt).
    pub tls_dir: Option<PathBuf>,
    /// The address for cluster forwarding.
    pub cluster_addr: Option<SocketAddr>,
}

impl PendingFlags {
    /// Checks each flag given; returns the report lines for `/readyz`.
    pub fn check(&self) -> anyhow::Result<String> {
        let mut report = String::new();
        if let Some(file) = &self.peers_file {
            let state = match crate::peers::PeerList::read(file) {
                Ok(list) => format!("{} peers, {} ready", list.peers().len(), list.ready_count()),
                Err(e) if !file.exists() => format!("not written yet ({e})"),
                Err(e) => format!("unreadable: {e}"),
            };
            let _ = writeln!(
                report,
                "peers-file {}: {state}; cluster forwarding is not built yet",
                file.display()
            );
        }
        if let Some(dir) = &self.tls_dir {
            for name in ["tls.crt", "tls.key", "ca.crt"] {
                pem_file(&dir.join(name))
                    .with_context(|| format!("--tls-dir {}", dir.display()))?;
            }
            let _ = writeln!(
                report,
                "tls-dir {}: certificate, key and CA read; cluster forwarding is not built yet",
                dir.display()
            );
        }
        if let Some(addr) = &self.cluster_addr {
            let _ = writeln!(
                report,
                "cluster-addr {addr}: not listened on; cluster forwarding is not built yet"
            );
        }
        for line in report.lines() {
            tracing::info!("{line}");
        }
        Ok(report)
    }
}

/// Fails unless `dir` is a directory this user can write.
pub fn writable_dir(dir: &Path) -> anyhow::Result<()> {
    if !dir.is_dir() {
        bail!("not a directory; mount the cached volume there");
    }
    let probe = dir.join(".anywhere-write-check");
    std::fs::write(&probe, b"").context("not writable by this user; check the pod's fsGroup")?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

fn pem_file(path: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: missing", path.display()))?;
    let mut reader = bytes.as_slice();
    let found = rustls_pemfile::read_one(&mut reader)
        .with_context(|| format!("{}: not PEM", path.display()))?;
    if found.is_none() {
        bail!(
            "{}: no PEM block; is this cert-manager's Secret?",
            path.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_flags_are_refused_and_good_ones_reported() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            format!(
                "{:#}",
                writable_dir(&dir.path().join("missing")).unwrap_err()
            )
            .contains("not a directory")
        );
        let flags = PendingFlags {
            tls_dir: Some(dir.path().to_path_buf()),
            ..PendingFlags::default()
        };
        assert!(format!("{:#}", flags.check().unwrap_err()).contains("tls.crt: missing"));
        let flags = PendingFlags {
            cluster_addr: Some("0.0.0.0:7443".parse().unwrap()),
            ..PendingFlags::default()
        };
        let report = flags.check().unwrap();
        assert!(report.contains("cluster-addr 0.0.0.0:7443"), "{report}");
    }
}
