//! `networkPolicy.metricsFrom`: each source must name pods, namespaces or
//! addresses; Kubernetes refuses an empty one.

use crate::{Code, Finding, KeyPath, Values};

/// Network policy rules.
pub fn check(v: &Values) -> Vec<Finding> {
    let root = KeyPath::dotted("networkPolicy.metricsFrom");
    v.network_policy
        .metrics_from
        .iter()
        .enumerate()
        .filter(|(_, peer)| {
            peer.pod_selector.is_none() && peer.namespace_selector.is_none() && peer.ip_block.is_none()
        })
        .map(|(i, _)| {
            Finding::new(
                Code::NetworkPolicyPeer,
                root.index(i),
                "this source names no pods, namespaces or addresses",
            )
            .help("give `podSelector`, `namespaceSelector` or `ipBlock`, such as `namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}`")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::{IpBlock, NetworkPolicyPeer};

    #[test]
    fn empty_sources_are_refused() {
        let mut v = Values::default();
        v.network_policy.metrics_from = vec![
            NetworkPolicyPeer {
                ip_block: Some(IpBlock {
                    cidr: "10.8.0.0/16".into(),
                    except: vec![],
                }),
                ..Default::default()
            },
            NetworkPolicyPeer::default(),
        ];
        let found: Vec<_> = check(&v).into_iter().map(|f| f.path.to_string()).collect();
        assert_eq!(found, ["networkPolicy.metricsFrom[1]"]);
    }
}
