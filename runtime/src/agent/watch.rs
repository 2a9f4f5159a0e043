//! The watch loop: pod events in, peer list file out.

use super::backoff::Backoff;
use super::pods::PodStore;
use super::publish::Publisher;
use super::report::Report;
use crate::peers::PeersError;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::runtime::watcher::{self, Event};

/// Watches the pods `api` selects and publishes the peer list on every
/// change, for ever. Returns only when the file cannot be written: the
/// container then restarts, which is louder than a stale list.
pub async fn watch_pods(
    api: Api<Pod>,
    selector: &str,
    mut publisher: Publisher,
    report: &Report,
    mut backoff: Backoff,
) -> Result<(), PeersError> {
    let config = watcher::Config::default().labels(selector);
    let mut events = std::pin::pin!(watcher::watcher(api, config));
    let mut store = PodStore::default();
    while let Some(item) = events.next().await {
        match item {
            Ok(event) => {
                // `Init` comes before the list request is even sent: only an
                // event with content proves the API server answered.
                if !matches!(event, Event::Init) {
                    backoff.reset();
                }
                store.apply(event);
                if let Some(list) = store.current()
                    && publisher.publish(list.clone()).await?
                {
                    report.written(&list);
                }
            }
            Err(error) => {
                report.watch_restarted();
                let delay = backoff.next_delay();
                tracing::warn!(
                    error = %error,
                    retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    "pod watch failed; restarting it"
                );
                // The watcher restarts itself (relisting when it must) on the
                // next poll; not polling is the backoff.
                tokio::time::sleep(delay).await;
            }
        }
    }
    Ok(())
}
