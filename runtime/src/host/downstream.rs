//! A client request on its way into an instance, and the channel its
//! response goes back on.

use super::body::{OutgoingBody, StreamBody};
use std::net::{IpAddr, SocketAddr};
use tokio::sync::oneshot;

/// What the guest can ask about the client connection. TLS ends at the
/// Ingress, so TLS fields are absent.
#[derive(Debug, Clone)]
pub struct DownstreamMeta {
    /// The client: the connection's peer, or the first address of a
    /// trusted `X-Forwarded-For`.
    pub client_ip: IpAddr,
    /// Our side of the connection.
    pub server_addr: SocketAddr,
    /// A number unique to this request in this process; the guest sees it
    /// as 16 hex digits (formatted only when asked for).
    pub request_id: u64,
    /// Header names in the order the client sent them.
    pub original_header_names: Vec<String>,
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
}

impl std::fmt::Debug for DownstreamRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DownstreamRequest")
            .field("uri", self.request.uri())
            .field("meta", &self.meta)
            .finish()
    }
}

/// The client IP to report: the peer, unless the peer is a trusted proxy
/// (the Ingress) that put the client in `X-Forwarded-For`.
pub fn client_ip(peer: IpAddr, headers: &http::HeaderMap, trust_forwarded: bool) -> IpAddr {
    if !trust_forwarded {
        return peer;
    }
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .and_then(|first| first.trim().parse().ok())
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_only_when_trusted() {
        let mut h = http::HeaderMap::new();
        h.insert("x-forwarded-for", "203.0.113.7, 10.0.0.1".parse().unwrap());
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(client_ip(peer, &h, false), peer);
        assert_eq!(
            client_ip(peer, &h, true),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
        h.insert("x-forwarded-for", "garbage".parse().unwrap());
        assert_eq!(client_ip(peer, &h, true), peer);
    }
}
