//! Where programs' backends may connect. Every address is checked after
//! DNS resolution and again on the connected socket, on every new
//! connection, so neither an address literal nor a name that later
//! resolves elsewhere (DNS rebinding) reaches the pod's own ports, the
//! cloud's metadata server or the cluster's private ranges.

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioIo;
use ipnet::IpNet;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::net::TcpStream;

/// Addresses that are refused whatever the configured ranges say, unless
/// an allowed range names them: link-local holds the metadata servers of
/// GKE (169.254.169.254) and other clouds.
fn always_refused(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => {
            if v4.is_loopback() {
                Some("loopback")
            } else if v4.is_link_local() {
                Some("link-local (cloud metadata)")
            } else if v4.is_unspecified() || v4.octets()[0] == 0 {
                Some("unspecified")
            } else if v4.is_multicast() {
                Some("multicast")
            } else if v4.is_broadcast() {
                Some("broadcast")
            } else if v4.octets() == [100, 100, 100, 200] {
                Some("Alibaba Cloud metadata")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return always_refused(IpAddr::V4(v4));
            }
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if v6.is_multicast() {
                Some("multicast")
            } else if v6.is_unicast_link_local() {
                Some("link-local")
            } else if v6.segments() == [0xfd20, 0xce, 0, 0, 0, 0, 0, 0x254] {
                Some("GKE metadata (IPv6)")
            } else {
                None
            }
        }
    }
}

/// The address rules of the edge (`egress` in values).
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    open: bool,
    denied: Vec<IpNet>,
    allowed: Vec<IpNet>,
}

impl AddressPolicy {
    /// Everything allowed: `anywhere serve` on a developer's machine, where
    /// origins often listen on loopback.
    pub fn open() -> Self {
        AddressPolicy {
            open: true,
            ..AddressPolicy::default()
        }
    }

    /// The built-in refusals plus `denied`, less `allowed`. `key` names
    /// the setting in errors.
    pub fn new(denied: &[String], allowed: &[String], key: &str) -> Result<Self, String> {
        let parse = |list: &[String], what: &str| {
            list.iter()
                .map(|c| {
                    c.trim().parse::<IpNet>().map_err(|_| {
                        format!(
                            "{key}.{what}: `{c}` is not a CIDR range such as 10.0.0.0/8 or fc00::/7"
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(AddressPolicy {
            open: false,
            denied: parse(denied, "deniedCidrs")?,
            allowed: parse(allowed, "allowedCidrs")?,
        })
    }

    /// Why `ip` may not be reached, if it may not.
    pub fn refusal(&self, ip: IpAddr) -> Option<String> {
        if self.open {
            return None;
        }
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        if self.allowed.iter().any(|n| n.contains(&ip)) {
            return None;
        }
        if let Some(kind) = always_refused(ip) {
            return Some(format!(
                "{ip} is a {kind} address; backends may not reach it (egress.allowedCidrs can allow it)"
            ));
        }
        self.denied.iter().find(|n| n.contains(&ip)).map(|n| {
            format!("{ip} is inside egress.deniedCidrs ({n}); backends may not reach it (egress.allowedCidrs can allow it)")
        })
    }
}

/// What a service's backends may do.
#[derive(Debug, Clone)]
pub struct EgressPolicy {
    /// Addresses they may connect to.
    pub addresses: Arc<AddressPolicy>,
    /// The program may register backends at run time.
    pub dynamic_backends: bool,
}

impl EgressPolicy {
    /// No restriction (`anywhere serve`, tests).
    pub fn open() -> Self {
        EgressPolicy {
            addresses: Arc::new(AddressPolicy::open()),
            dynamic_backends: true,
        }
    }
}

/// The message of a refused connection; `classify` in backends.rs maps it
/// to the ABI's `destination_ip_unroutable`.
pub const REFUSED_MARK: &str = "egress policy";

fn refused(why: String) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::PermissionDenied,
        format!("{REFUSED_MARK}: {why}"),
    )
}

/// Resolves names through the system resolver and keeps only the
/// addresses the policy allows.
#[derive(Clone)]
pub struct PolicyResolver {
    policy: Arc<AddressPolicy>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Addrs = std::vec::IntoIter<SocketAddr>;

impl tower_service::Service<Name> for PolicyResolver {
    type Response = Addrs;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Addrs, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let policy = self.policy.clone();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let mut why = None;
            let kept: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| match policy.refusal(a.ip()) {
                    Some(w) => {
                        why.get_or_insert(w);
                        false
                    }
                    None => true,
                })
                .collect();
            match (kept.is_empty(), why) {
                (true, Some(why)) => Err(refused(format!("{name} resolves to {why}")).into()),
                _ => Ok(kept.into_iter()),
            }
        })
    }
}

/// The TCP connector of a backend: the policy's resolver for names, the
/// policy itself for address literals and for the socket's peer.
#[derive(Clone)]
pub struct PolicyConnector {
    inner: HttpConnector<PolicyResolver>,
    policy: Arc<AddressPolicy>,
}

impl PolicyConnector {
    /// A connector under `policy`.
    pub fn new(policy: Arc<AddressPolicy>) -> Self {
        let inner = HttpConnector::new_with_resolver(PolicyResolver {
            policy: policy.clone(),
        });
        PolicyConnector { inner, policy }
    }

    /// The wrapped connector, for its settings.
    pub fn http(&mut self) -> &mut HttpConnector<PolicyResolver> {
        &mut self.inner
    }
}

/// The address literal of `uri`'s host, if it is one.
pub fn literal_host(uri: &http::Uri) -> Option<IpAddr> {
    let host = uri.host()?;
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

impl tower_service::Service<http::Uri> for PolicyConnector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let policy = self.policy.clone();
        if let Some(why) = literal_host(&uri).and_then(|ip| policy.refusal(ip)) {
            return Box::pin(async move { Err(refused(why).into()) });
        }
        let connecting = self.inner.call(uri);
        Box::pin(async move {
            let io = connecting.await?;
            let peer = io.inner().peer_addr()?;
            if let Some(why) = policy.refusal(peer.ip()) {
                return Err(refused(why).into());
            }
            Ok(io)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> AddressPolicy {
        AddressPolicy::new(&["10.0.0.0/8".into()], &["10.9.0.0/16".into()], "egress").unwrap()
    }

    #[test]
    fn built_in_ranges_are_refused() {
        let p = policy();
        for ip in [
            "127.0.0.1",
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "fd20:ce::254",
        ] {
            assert!(p.refusal(ip.parse().unwrap()).is_some(), "{ip}");
        }
    }

    #[test]
    fn denied_ranges_are_refused_unless_allowed() {
        let p = policy();
        assert!(p.refusal("10.1.2.3".parse().unwrap()).is_some());
        assert!(p.refusal("::ffff:10.1.2.3".parse().unwrap()).is_some());
        assert!(p.refusal("10.9.1.1".parse().unwrap()).is_none());
        assert!(p.refusal("203.0.113.9".parse().unwrap()).is_none());
    }

    #[test]
    fn an_allowed_range_lets_loopback_in() {
        let p = AddressPolicy::new(&[], &["127.0.0.1/32".into()], "egress").unwrap();
        assert!(p.refusal("127.0.0.1".parse().unwrap()).is_none());
        assert!(p.refusal("127.0.0.2".parse().unwrap()).is_some());
    }

    #[test]
    fn open_allows_everything_and_bad_ranges_are_named() {
        assert!(
            AddressPolicy::open()
                .refusal("127.0.0.1".parse().unwrap())
                .is_none()
        );
        let e = AddressPolicy::new(&["10.0.0.0/33".into()], &[], "egress").unwrap_err();
        assert!(
            e.contains("egress.deniedCidrs") && e.contains("10.0.0.0/33"),
            "{e}"
        );
    }
}
