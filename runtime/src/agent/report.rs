//! What the agent reports on its admin port: Prometheus metrics and
//! readiness.

use crate::peers::PeerList;
use crate::server::admin::{MetricsText, ReadyCheck};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

/// The agent's metrics (`anywhere_agent_*`) and readiness.
pub struct Report {
    registry: Registry,
    peers: Gauge,
    ready_peers: Gauge,
    watch_restarts: Counter,
    peer_file_writes: Counter,
    /// The first full list was written.
    written: AtomicBool,
    // Kept beside the gauges so that readiness does not depend on metrics.
    peer_count: AtomicI64,
    ready_count: AtomicI64,
}

impl Default for Report {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("anywhere_agent");
        let peers = Gauge::default();
        let ready_peers = Gauge::default();
        let watch_restarts = Counter::default();
        let peer_file_writes = Counter::default();
        registry.register("peers", "Pods in the peer list", peers.clone());
        registry.register(
            "ready_peers",
            "Pods in the peer list that are ready",
            ready_peers.clone(),
        );
        registry.register(
            "watch_restarts",
            "Times the pod watch failed and was restarted after a backoff",
            watch_restarts.clone(),
        );
        registry.register(
            "peer_file_writes",
            "Times the peer list file was replaced",
            peer_file_writes.clone(),
        );
        Self {
            registry,
            peers,
            ready_peers,
            watch_restarts,
            peer_file_writes,
            written: AtomicBool::new(false),
            peer_count: AtomicI64::new(0),
            ready_count: AtomicI64::new(0),
        }
    }
}

impl Report {
    /// The peer list `list` is now in the file.
    pub fn written(&self, list: &PeerList) {
        let peers = i64::try_from(list.peers().len()).unwrap_or(i64::MAX);
        let ready = i64::try_from(list.ready_count()).unwrap_or(i64::MAX);
        self.peers.set(peers);
        self.ready_peers.set(ready);
        self.peer_count.store(peers, Ordering::Relaxed);
        self.ready_count.store(ready, Ordering::Relaxed);
        self.peer_file_writes.inc();
        self.written.store(true, Ordering::Release);
    }

    /// The watch failed and will restart.
    pub fn watch_restarted(&self) {
        self.watch_restarts.inc();
    }

    /// The metrics in the OpenMetrics text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    /// `/metrics` for the admin port.
    pub fn metrics_text(self: &Arc<Self>) -> MetricsText {
        let report = self.clone();
        Arc::new(move || report.render())
    }

    /// `/readyz` for the admin port: ready once the first full list is
    /// written, and ready from then on. A watch that fails later keeps the
    /// last list in the file, which is still the best answer; turning the
    /// agent unready would turn the whole pod unready and take it out of
    /// the Service because the API server is slow.
    pub fn ready_check(self: &Arc<Self>) -> ReadyCheck {
        let report = self.clone();
        Arc::new(move || {
            if !report.written.load(Ordering::Acquire) {
                return Err("the pods were not listed yet".into());
            }
            Ok(format!(
                "{} peers, {} ready",
                report.peer_count.load(Ordering::Relaxed),
                report.ready_count.load(Ordering::Relaxed)
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::peers::Peer;

    #[test]
    fn not_ready_until_written_then_counts_peers() {
        let report = Arc::new(Report::default());
        let ready = report.ready_check();
        assert!(ready().is_err());
        let list = PeerList::new(vec![
            Peer {
                name: "a".into(),
                ip: "10.0.0.1".parse().unwrap(),
                ready: true,
            },
            Peer {
                name: "b".into(),
                ip: "10.0.0.2".parse().unwrap(),
                ready: false,
            },
        ]);
        report.written(&list);
        assert_eq!(ready().unwrap(), "2 peers, 1 ready");
        let text = report.render();
        for line in [
            "anywhere_agent_peers 2",
            "anywhere_agent_ready_peers 1",
            "anywhere_agent_peer_file_writes_total 1",
            "anywhere_agent_watch_restarts_total 0",
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
    }
}
