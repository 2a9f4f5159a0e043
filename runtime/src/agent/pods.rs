//! From pods to peers: what the agent knows of each pod of the StatefulSet,
//! kept up to date from the watcher's events.

use crate::peers::{Peer, PeerList};
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::watcher::Event;
use std::collections::BTreeMap;

/// The peer a pod is, or `None` while it has no IP (nothing could reach it).
pub fn peer_of(pod: &Pod) -> Option<Peer> {
    let name = pod.metadata.name.clone()?;
    let status = pod.status.as_ref()?;
    let ip_text = status.pod_ip.as_deref().filter(|ip| !ip.is_empty())?;
    let Ok(ip) = ip_text.parse() else {
        tracing::warn!(pod = %name, ip = %ip_text, "pod IP is not an IP address; pod skipped");
        return None;
    };
    let ready_condition = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    // A pod being deleted may still report Ready until its containers stop;
    // it must stop owning keys as soon as its deletion starts.
    let deleting = pod.metadata.deletion_timestamp.is_some();
    Some(Peer {
        name,
        ip,
        ready: ready_condition && !deleting,
    })
}

/// The peers known from the watch, by pod name.
#[derive(Debug, Default)]
pub struct PodStore {
    peers: BTreeMap<String, Peer>,
    /// Filled during a (re)list; replaces `peers` when the list is complete.
    relisting: Option<BTreeMap<String, Peer>>,
    listed: bool,
}

impl PodStore {
    /// Applies one watcher event.
    pub fn apply(&mut self, event: Event<Pod>) {
        match event {
            Event::Init => self.relisting = Some(BTreeMap::new()),
            Event::InitApply(pod) => {
                let target = self.relisting.get_or_insert_with(BTreeMap::new);
                if let Some(peer) = peer_of(&pod) {
                    target.insert(peer.name.clone(), peer);
                }
            }
            Event::InitDone => {
                // Pods missing from the new list were deleted while the watch
                // was down: replacing the map forgets them.
                self.peers = self.relisting.take().unwrap_or_default();
                self.listed = true;
            }
            Event::Apply(pod) => {
                let Some(name) = pod.metadata.name.clone() else {
                    return;
                };
                match peer_of(&pod) {
                    Some(peer) => self.peers.insert(name, peer),
                    None => self.peers.remove(&name),
                };
            }
            Event::Delete(pod) => {
                if let Some(name) = &pod.metadata.name {
                    self.peers.remove(name);
                }
            }
        }
    }

    /// The peer list to publish, once a full list is known and while no
    /// relist is half done (a partial list would drop live peers).
    pub fn current(&self) -> Option<PeerList> {
        (self.listed && self.relisting.is_none())
            .then(|| PeerList::new(self.peers.values().cloned().collect()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn pod(name: &str, ip: Option<&str>, ready: bool, deleting: bool) -> Pod {
        let json = serde_json::json!({
            "metadata": {
                "name": name,
                "deletionTimestamp": deleting.then_some("2025-01-01T00:00:00Z"),
            },
            "status": {
                "podIP": ip,
                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
            },
        });
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn ready_needs_the_condition_and_no_deletion() {
        assert!(
            peer_of(&pod("a", Some("10.0.0.1"), true, false))
                .unwrap()
                .ready
        );
        assert!(
            !peer_of(&pod("a", Some("10.0.0.1"), false, false))
                .unwrap()
                .ready
        );
        assert!(
            !peer_of(&pod("a", Some("10.0.0.1"), true, true))
                .unwrap()
                .ready
        );
    }

    #[test]
    fn pods_without_a_usable_ip_are_not_peers() {
        assert!(peer_of(&pod("a", None, true, false)).is_none());
        assert!(peer_of(&pod("a", Some(""), true, false)).is_none());
        assert!(peer_of(&pod("a", Some("not-an-ip"), true, false)).is_none());
    }

    #[test]
    fn nothing_is_published_before_the_first_full_list() {
        let mut store = PodStore::default();
        store.apply(Event::Init);
        store.apply(Event::InitApply(pod("a", Some("10.0.0.1"), true, false)));
        assert!(store.current().is_none());
        store.apply(Event::InitDone);
        assert_eq!(store.current().unwrap().peers().len(), 1);
    }

    #[test]
    fn a_relist_forgets_pods_deleted_meanwhile() {
        let mut store = PodStore::default();
        store.apply(Event::Init);
        store.apply(Event::InitApply(pod("a", Some("10.0.0.1"), true, false)));
        store.apply(Event::InitApply(pod("b", Some("10.0.0.2"), true, false)));
        store.apply(Event::InitDone);
        store.apply(Event::Init);
        store.apply(Event::InitApply(pod("b", Some("10.0.0.2"), true, false)));
        // Mid-relist, the last full list stays.
        assert!(store.current().is_none());
        store.apply(Event::InitDone);
        let names: Vec<_> = store
            .current()
            .unwrap()
            .peers()
            .iter()
            .map(|p| p.name.clone())
            .collect();
        assert_eq!(names, ["b"]);
    }

    #[test]
    fn apply_and_delete_update_one_pod() {
        let mut store = PodStore::default();
        store.apply(Event::Init);
        store.apply(Event::InitDone);
        store.apply(Event::Apply(pod("a", Some("10.0.0.1"), false, false)));
        assert!(!store.current().unwrap().peers()[0].ready);
        store.apply(Event::Apply(pod("a", Some("10.0.0.1"), true, false)));
        assert!(store.current().unwrap().peers()[0].ready);
        // Losing its IP (the pod failed) removes it.
        store.apply(Event::Apply(pod("a", None, false, false)));
        assert!(store.current().unwrap().peers().is_empty());
        store.apply(Event::Apply(pod("a", Some("10.0.0.1"), true, false)));
        store.apply(Event::Delete(pod("a", Some("10.0.0.1"), true, true)));
        assert!(store.current().unwrap().peers().is_empty());
    }
}
