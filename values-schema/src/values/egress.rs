//! `egress`: where Compute programs' backends may connect, and
//! `clientAddress`: which proxies in front of the POP are believed about the
//! client's address.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What programs' backends may reach. Loopback, link-local (the cloud
/// metadata servers), unspecified, broadcast and multicast addresses are
/// always refused unless `allowedCidrs` lets one in; so are `deniedCidrs`.
/// The edge checks every address it connects to, after DNS resolution and
/// on every new connection, so a name that resolves somewhere else later
/// cannot move a backend inside.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Egress {
    /// Let programs register backends at run time (Fastly's dynamic
    /// backends) in every service; a service's own `dynamicBackends`
    /// overrides it. Off, registering one fails as it does on Fastly when
    /// the service has not enabled them.
    pub dynamic_backends: bool,
    /// Ranges backends may not reach: the cluster's pod, Service and node
    /// ranges. The defaults are the private ranges that GKE and ACK
    /// clusters are built from.
    pub denied_cidrs: Vec<String>,
    /// Ranges backends may reach even though they are refused above, such
    /// as an origin inside the cluster. More specific than nothing: an
    /// address in both lists is allowed.
    pub allowed_cidrs: Vec<String>,
    /// Add egress rules to the chart's NetworkPolicy that match this policy,
    /// for every container of the POP pods: DNS (port 53) anywhere; TCP 443
    /// and 6443 anywhere but link-local, for the agent's Kubernetes API
    /// server, whose address the chart cannot know; the other POP pods'
    /// cluster port; `allowedCidrs`; and every other address outside
    /// `deniedCidrs`, link-local and the cloud metadata servers. Registries,
    /// origins and log endpoints inside the cluster need `allowedCidrs`.
    /// Needs `networkPolicy.enabled`.
    pub network_policy: bool,
}

/// Private IPv4 and IPv6 ranges: where cluster pods, Services and nodes live
/// on GKE (10/8, 100.64/10 for some pod ranges) and ACK (172.16/12,
/// 192.168/16).
pub const PRIVATE_CIDRS: [&str; 5] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "fc00::/7",
];

impl Default for Egress {
    fn default() -> Self {
        Egress {
            dynamic_backends: false,
            denied_cidrs: PRIVATE_CIDRS.iter().map(|c| c.to_string()).collect(),
            allowed_cidrs: Vec::new(),
            network_policy: false,
        }
    }
}

/// Where the client's address comes from. The edge starts from the address
/// that connected and, while that address is a trusted proxy, takes the
/// next address from the right of `X-Forwarded-For`; the first address
/// that is not a trusted proxy is the client. Entries a client writes
/// itself sit left of the proxies' and are never reached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ClientAddress {
    /// Ranges of the proxies in front of the POP: the Ingress controller's
    /// pods and the cloud load balancer. The defaults are the private
    /// ranges and Google's front ends (35.191.0.0/16, 130.211.0.0/22).
    /// Empty: `X-Forwarded-For` is ignored and the client is the address
    /// that connected.
    pub trusted_proxies: Vec<String>,
    /// Request headers in which the trusted proxies forward the client's
    /// TLS facts (TLS ends at the Ingress). Programs read them through
    /// Fastly's `downstream_tls_*` calls; the headers are taken off every
    /// request and believed only from a trusted proxy.
    pub tls_headers: TlsHeaders,
}

/// Header names for the client's TLS facts, each empty (not forwarded) by
/// default. With ingress-nginx, for example, `proxy_set_header
/// X-TLS-Protocol $ssl_protocol;` in a configuration snippet and
/// `protocol: X-TLS-Protocol` here.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct TlsHeaders {
    /// The protocol, such as `TLSv1.3` (nginx: `$ssl_protocol`).
    pub protocol: Option<String>,
    /// The cipher's OpenSSL name (nginx: `$ssl_cipher`).
    pub cipher: Option<String>,
    /// The SNI server name (nginx: `$ssl_server_name`).
    pub server_name: Option<String>,
    /// The JA3 fingerprint's MD5, 32 hex digits.
    pub ja3_md5: Option<String>,
    /// The JA4 fingerprint.
    pub ja4: Option<String>,
}

impl Default for ClientAddress {
    fn default() -> Self {
        let mut trusted: Vec<String> = PRIVATE_CIDRS.iter().map(|c| c.to_string()).collect();
        trusted.extend(["35.191.0.0/16".to_string(), "130.211.0.0/22".to_string()]);
        ClientAddress {
            trusted_proxies: trusted,
            tls_headers: TlsHeaders::default(),
        }
    }
}
