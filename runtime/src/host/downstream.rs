//! A client request on its way into an instance, and the channel its
//! response goes back on.

use super::body::{OutgoingBody, StreamBody};
use std::net::{IpAddr, SocketAddr};
use tokio::sync::oneshot;

/// What the guest can ask about the client connection. TLS ends at the
/// Ingress, so TLS fields are absent.
#[derive(Debug, Clone)]
pub struct DownstreamMeta {
    /// The client: the connection's peer, or the address a chain of
    /// trusted proxies put in `X-Forwarded-For`.
    pub client_ip: IpAddr,
    /// Our side of the connection.
    pub server_addr: SocketAddr,
    /// A number unique to this request in this process; the guest sees it
    /// as 16 hex digits (formatted only when asked for).
    pub request_id: u64,
    /// Header names in the order the client sent them.
    pub original_header_names: Vec<String>,
    /// TLS facts the Ingress forwarded.
    pub tls: super::forwarded_tls::ForwardedTls,
}

impl DownstreamMeta {
    /// The request id as the guest sees it.
    pub fn request_id_text(&self) -> String {
        format!("{:016x}", self.request_id)
    }
}

/// The response to a client request.
pub type DownstreamResponse = http::Response<OutgoingBody>;

/// A client request for an instance to handle.
pub struct DownstreamRequest {
    /// The request.
    pub request: http::Request<StreamBody>,
    /// Connection facts.
    pub meta: DownstreamMeta,
    /// Where the response goes. Dropped unsent: the client gets a 500.
    pub respond: oneshot::Sender<DownstreamResponse>,
    /// The request's place under `limits.concurrency`: held by the
    /// instance until its program is done with the request, whatever the
    /// client does (a reset stream or a closed connection frees nothing).
    pub slot: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl std::fmt::Debug for DownstreamRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DownstreamRequest")
            .field("uri", self.request.uri())
            .field("meta", &self.meta)
            .finish()
    }
}

/// Which peers are believed about the client's address: the proxies in
/// front of the POP (`clientAddress.trustedProxies`).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    nets: Vec<ipnet::IpNet>,
    tls: super::forwarded_tls::TlsHeaderNames,
}

impl TrustedProxies {
    /// Proxies in `cidrs`; `key` names the setting in errors.
    pub fn new(cidrs: &[String], key: &str) -> Result<Self, String> {
        let nets = cidrs
            .iter()
            .map(|c| {
                c.trim()
                    .parse()
                    .map_err(|_| format!("{key}: `{c}` is not a CIDR range such as 10.0.0.0/8"))
            })
            .collect::<Result<_, _>>()?;
        Ok(TrustedProxies {
            nets,
            tls: Default::default(),
        })
    }

    /// Believes the proxies' TLS facts in the headers `tls` names.
    pub fn with_tls_headers(mut self, tls: super::forwarded_tls::TlsHeaderNames) -> Self {
        self.tls = tls;
        self
    }

    /// Takes the forwarded TLS headers off `headers`; what they said when
    /// `peer` is a proxy.
    pub fn forwarded_tls(
        &self,
        peer: IpAddr,
        headers: &mut http::HeaderMap,
    ) -> super::forwarded_tls::ForwardedTls {
        self.tls.take(headers, self.trusts(peer))
    }

    /// Whether `ip` is one of the proxies.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// The client's address: starting at the peer, while the address in
    /// hand is a trusted proxy, the next `X-Forwarded-For` entry from the
    /// right. What a client wrote itself sits left of its proxies' entries
    /// and is reached only through a chain of trusted proxies.
    pub fn client_ip(&self, peer: IpAddr, headers: &http::HeaderMap) -> IpAddr {
        let mut client = peer;
        let entries: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect();
        for entry in entries.iter().rev() {
            if !self.trusts(client) {
                break;
            }
            match entry.trim().parse() {
                Ok(ip) => client = ip,
                // A garbled hop: the last proxy is all we know.
                Err(_) => break,
            }
        }
        client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies() -> TrustedProxies {
        TrustedProxies::new(&["10.0.0.0/8".into(), "35.191.0.0/16".into()], "t").unwrap()
    }

    fn xff(value: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert("x-forwarded-for", value.parse().unwrap());
        h
    }

    #[test]
    fn a_spoofed_entry_left_of_the_proxies_is_never_believed() {
        let peer: IpAddr = "10.1.0.5".parse().unwrap();
        // The client wrote 1.2.3.4; the load balancer appended the real
        // address, the Ingress controller the load balancer's.
        let h = xff("1.2.3.4, 198.51.100.7, 35.191.3.3");
        assert_eq!(
            proxies().client_ip(peer, &h),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn an_untrusted_peer_is_the_client() {
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(proxies().client_ip(peer, &xff("1.2.3.4")), peer);
        let none = TrustedProxies::default();
        assert_eq!(
            none.client_ip("10.0.0.1".parse().unwrap(), &xff("1.2.3.4")),
            "10.0.0.1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn garbage_and_all_trusted_chains_stop_sensibly() {
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(proxies().client_ip(peer, &xff("garbage")), peer);
        assert_eq!(
            proxies().client_ip(peer, &xff("10.0.0.2, 10.0.0.3")),
            "10.0.0.2".parse::<IpAddr>().unwrap()
        );
        let mut two = http::HeaderMap::new();
        two.append("x-forwarded-for", "1.2.3.4".parse().unwrap());
        two.append("x-forwarded-for", "198.51.100.1".parse().unwrap());
        assert_eq!(
            proxies().client_ip(peer, &two),
            "198.51.100.1".parse::<IpAddr>().unwrap()
        );
        assert!(
            TrustedProxies::new(&["nope".into()], "clientAddress.trustedProxies")
                .unwrap_err()
                .contains("clientAddress.trustedProxies")
        );
    }
}
