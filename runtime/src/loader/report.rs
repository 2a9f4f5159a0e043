//! Service management data for the control plane (`fastly` mode): after
//! each pass the loader sends one document saying what this pod runs and
//! how it fares — its own activation record and the edge's `/status`
//! (services, active versions, refused versions, limits hit, readiness,
//! runtime version) — to
//! `POST {apiUrl}/anywhere/v1/clusters/{cluster id}/pods/{pod}/status`.
//! Fastly publishes no such endpoint: this is ours, for a control plane
//! that speaks the Fastly API and collects it.
//!
//! Never blocking: the send runs in a task of its own, at most one at a
//! time (a pass while one is still out sends nothing: the next pass's
//! document supersedes it); bounded (the edge's document is read up to
//! 256 KiB, the whole is cut to fit 512 KiB); retried by the next pass; a
//! failure is logged once until the next success.

use crate::fastly_api::Client;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::task::JoinHandle;

/// Largest edge `/status` document read.
const EDGE_STATUS_BYTES: usize = 256 << 10;
/// Largest report sent.
const REPORT_BYTES: usize = 512 << 10;

/// Sends reports, one at a time.
#[derive(Default)]
pub struct Reporter {
    sending: Option<JoinHandle<()>>,
    failing: Arc<AtomicBool>,
}

/// What one report is made of.
pub struct Report {
    /// The API.
    pub client: Client,
    /// The cluster's id (from the bootstrap's credentials).
    pub cluster_id: String,
    /// This pod.
    pub pod: String,
    /// The loader's `/status` document.
    pub loader: serde_json::Value,
    /// The edge's admin port on this pod.
    pub edge_admin: u16,
}

impl Reporter {
    /// Starts sending `report` unless the previous one is still out.
    pub fn send(&mut self, report: Report) {
        if self.sending.as_ref().is_some_and(|t| !t.is_finished()) {
            tracing::debug!("the previous status report is still being sent; skipping this one");
            return;
        }
        let failing = self.failing.clone();
        self.sending = Some(tokio::spawn(async move {
            match deliver(report).await {
                Ok(()) => {
                    if failing.swap(false, Ordering::Relaxed) {
                        tracing::info!("status reports reach the control plane again");
                    }
                }
                Err(why) => {
                    if !failing.swap(true, Ordering::Relaxed) {
                        tracing::warn!(error = %why, "status report not delivered (retried after each pass; logged once until it works)");
                    }
                }
            }
        }));
    }
}

async fn deliver(report: Report) -> Result<(), String> {
    let edge = edge_status(report.edge_admin).await;
    let body = document(&report, edge);
    let path = format!(
        "/anywhere/v1/clusters/{}/pods/{}/status",
        path_segment(&report.cluster_id),
        path_segment(&report.pod)
    );
    tokio::time::timeout(
        Duration::from_secs(20),
        report.client.post_json(&path, body),
    )
    .await
    .map_err(|_| "timed out after 20 s".to_string())?
    .map_err(|e| e.to_string())
}

/// The report's JSON, cut to [`REPORT_BYTES`] by dropping the edge's
/// per-service detail first.
fn document(report: &Report, edge: serde_json::Value) -> Vec<u8> {
    let mut doc = serde_json::json!({
        "pod": report.pod,
        "runtime_version": env!("CARGO_PKG_VERSION"),
        "loader": report.loader,
        "edge": edge,
    });
    let mut body = serde_json::to_vec(&doc).unwrap_or_default();
    if body.len() > REPORT_BYTES {
        doc["edge"] = serde_json::json!({"truncated": true});
        doc["loader"]["services"] = serde_json::json!({"truncated": true});
        body = serde_json::to_vec(&doc).unwrap_or_default();
    }
    body
}

/// The edge's `/status`, or what kept it from being read.
async fn edge_status(port: u16) -> serde_json::Value {
    let url = format!("http://127.0.0.1:{port}/status");
    let read = async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| e.to_string())?;
        let mut response = client.get(&url).send().await.map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("{url} answered {}", response.status()));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
            if bytes.len() + chunk.len() > EDGE_STATUS_BYTES {
                return Err(format!("{url} is larger than {EDGE_STATUS_BYTES} bytes"));
            }
            bytes.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&bytes).map_err(|e| format!("{url}: {e}"))
    };
    read.await
        .unwrap_or_else(|why: String| serde_json::json!({ "unreachable": why }))
}

/// Keeps a value to the characters a URL path segment may hold as is.
fn path_segment(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        .take(253)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_cannot_leave_their_place() {
        assert_eq!(path_segment("../../admin?x=1"), "....adminx1");
        assert_eq!(path_segment("fastly-anywhere-0"), "fastly-anywhere-0");
    }
}
