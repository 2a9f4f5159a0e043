//! `egress` and `clientAddress`: address ranges that parse, egress rules
//! that have a NetworkPolicy to go into, backends in values that the edge
//! would refuse, and ranges that open a cloud metadata server or believe
//! every client about its address.
//!
//! The edge applies the same policy to every connection
//! (runtime/src/host/egress.rs): an address in `allowedCidrs` passes;
//! otherwise loopback, link-local, unspecified, multicast, broadcast and
//! Alibaba Cloud's metadata address are refused, and so is anything in
//! `deniedCidrs`.

use crate::{Code, Finding, KeyPath, Values};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The cloud metadata servers: GKE's (IPv4 and IPv6) and Alibaba Cloud's.
/// They hand out the node's or the workload's cloud credentials.
pub const METADATA_SERVERS: [IpAddr; 3] = [
    IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
    IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
    IpAddr::V6(Ipv6Addr::new(0xfd20, 0xce, 0, 0, 0, 0, 0, 0x254)),
];

/// An address range: an address whose bits after `prefix` are zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// Why a range did not parse; the message names the text, the help shows
/// a right one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidrError {
    /// What is wrong.
    pub message: String,
    /// A right way to write it.
    pub help: String,
}

const EXAMPLE: &str =
    "write an address, a slash and a prefix length, such as `10.0.0.0/8` or `fc00::/7`";

impl Cidr {
    /// Parses `10.0.0.0/8` or `fc00::/7` (surrounding spaces ignored, as
    /// the edge ignores them). Bits after the prefix must be zero.
    pub fn parse(text: &str) -> Result<Cidr, CidrError> {
        let trimmed = text.trim();
        let bad = |why: String, help: String| CidrError {
            message: format!("`{text}` is not a CIDR range: {why}"),
            help,
        };
        let Some((addr, len)) = trimmed.split_once('/') else {
            return Err(match trimmed.parse::<IpAddr>() {
                Ok(ip) => bad(
                    "it has no prefix length".into(),
                    format!("write `{ip}/{}` for this one address", bits(ip)),
                ),
                Err(_) => bad("it has no `/` and prefix length".into(), EXAMPLE.into()),
            });
        };
        let Ok(ip) = addr.parse::<IpAddr>() else {
            return Err(bad(
                format!("`{addr}` is not an IPv4 or IPv6 address"),
                EXAMPLE.into(),
            ));
        };
        let prefix = match len.parse::<u8>() {
            Ok(p) if len.bytes().all(|b| b.is_ascii_digit()) && p <= bits(ip) => p,
            _ => {
                let family = if ip.is_ipv4() { "IPv4" } else { "IPv6" };
                return Err(bad(
                    format!(
                        "the prefix length `{len}` is not a number from 0 to {} (the bits of an {family} address)",
                        bits(ip)
                    ),
                    EXAMPLE.into(),
                ));
            }
        };
        let network = mask(ip, prefix);
        if network != ip {
            return Err(bad(
                format!("bits are set after its /{prefix} prefix"),
                format!("write `{network}/{prefix}`, the range's first address"),
            ));
        }
        Ok(Cidr { network, prefix })
    }

    /// Whether `ip` lies in the range. An IPv4 address written as IPv6
    /// (`::ffff:10.0.0.1`) counts as IPv4, as the edge counts it.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = unmapped(ip);
        ip.is_ipv4() == self.network.is_ipv4() && mask(ip, self.prefix) == self.network
    }

    /// Whether the range holds every address of its family.
    pub fn is_everything(&self) -> bool {
        self.prefix == 0
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

fn bits(ip: IpAddr) -> u8 {
    if ip.is_ipv4() { 32 } else { 128 }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let keep = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(v4) & keep))
        }
        IpAddr::V6(v6) => {
            let keep = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & keep))
        }
    }
}

fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Why the edge refuses `ip` whatever `deniedCidrs` says (unless
/// `allowedCidrs` lets it in).
fn always_refused(ip: IpAddr) -> Option<&'static str> {
    match unmapped(ip) {
        IpAddr::V4(v4) if v4.is_loopback() => Some("a loopback address (the pod itself)"),
        IpAddr::V4(v4) if v4.is_link_local() => {
            Some("a link-local address (where the cloud metadata server answers)")
        }
        IpAddr::V4(v4) if v4.octets()[0] == 0 => Some("an unspecified address"),
        IpAddr::V4(v4) if v4.is_multicast() => Some("a multicast address"),
        IpAddr::V4(v4) if v4.is_broadcast() => Some("the broadcast address"),
        IpAddr::V4(v4) if v4.octets() == [100, 100, 100, 200] => {
            Some("Alibaba Cloud's metadata server")
        }
        IpAddr::V6(v6) if v6.is_loopback() => Some("a loopback address (the pod itself)"),
        IpAddr::V6(v6) if v6.is_unspecified() => Some("an unspecified address"),
        IpAddr::V6(v6) if v6.is_multicast() => Some("a multicast address"),
        IpAddr::V6(v6) if v6.is_unicast_link_local() => Some("a link-local address"),
        _ => None,
    }
}

/// Names that resolve to a refused address wherever the edge runs.
const WELL_KNOWN_NAMES: [(&str, IpAddr); 2] = [
    ("localhost", IpAddr::V4(Ipv4Addr::LOCALHOST)),
    (
        "metadata.google.internal",
        IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
    ),
];

/// The host of a backend URL and its address, when the URL gives one or
/// names a host from [`WELL_KNOWN_NAMES`] (`*.localhost` included). Other
/// names are resolved by the edge at connection time and cannot be judged
/// here.
fn backend_address(url: &str) -> Option<(String, IpAddr)> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?;
    let host = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next()?,
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some((host.to_owned(), ip));
    }
    let name = host.trim_end_matches('.').to_ascii_lowercase();
    let name = if name.ends_with(".localhost") {
        "localhost"
    } else {
        &name
    };
    WELL_KNOWN_NAMES
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, ip)| (host.to_owned(), *ip))
}

/// Parses each entry of a list of ranges; the bad ones become findings.
fn ranges(list: &[String], root: &KeyPath, found: &mut Vec<Finding>) -> Vec<Cidr> {
    let mut good = Vec::new();
    for (i, text) in list.iter().enumerate() {
        match Cidr::parse(text) {
            Ok(c) => good.push(c),
            Err(e) => {
                found.push(Finding::new(Code::BadCidr, root.index(i), e.message).help(e.help))
            }
        }
    }
    good
}

/// Egress and client-address rules; `reads` says whether the sections a
/// rule reads are free of schema errors.
pub fn check(v: &Values, reads: &dyn Fn(&[&str]) -> bool) -> Vec<Finding> {
    let mut found = Vec::new();
    if reads(&["clientAddress"]) {
        let root = KeyPath::dotted("clientAddress.trustedProxies");
        for (i, c) in ranges(&v.client_address.trusted_proxies, &root, &mut found)
            .iter()
            .enumerate()
        {
            if c.is_everything() {
                found.push(
                    Finding::new(
                        Code::EveryProxyTrusted,
                        root.index(i),
                        format!("`{c}` trusts every address as a proxy: any client can write `X-Forwarded-For` and be believed, so ACLs, rate limits and geolocation see the address it chose"),
                    )
                    .help("list only the ranges of the Ingress controller's pods and of the load balancer, such as `10.0.0.0/8` and `35.191.0.0/16`"),
                );
            }
        }
    }
    if !reads(&["egress"]) {
        return found;
    }
    let denied = ranges(
        &v.egress.denied_cidrs,
        &KeyPath::dotted("egress.deniedCidrs"),
        &mut found,
    );
    let allowed_root = KeyPath::dotted("egress.allowedCidrs");
    let allowed = ranges(&v.egress.allowed_cidrs, &allowed_root, &mut found);
    for (i, c) in v.egress.allowed_cidrs.iter().enumerate() {
        let Ok(c) = Cidr::parse(c) else { continue };
        if let Some(server) = METADATA_SERVERS.iter().find(|s| c.contains(**s)) {
            found.push(
                Finding::new(
                    Code::MetadataAllowed,
                    allowed_root.index(i),
                    format!("`{c}` lets programs reach the cloud metadata server at {server}, which hands out the node's or the workload's cloud credentials"),
                )
                .help("allow only the origins' own addresses and keep the metadata servers out, such as `10.20.0.0/16` rather than `0.0.0.0/0`"),
            );
        }
    }
    if reads(&["networkPolicy"]) && v.egress.network_policy && !v.network_policy.enabled {
        found.push(
            Finding::new(
                Code::EgressPolicyWithoutNetworkPolicy,
                KeyPath::dotted("egress.networkPolicy"),
                "the egress rules go into the chart's NetworkPolicy, and `networkPolicy.enabled` is false: there would be none, and the pods could connect anywhere",
            )
            .also_about(KeyPath::dotted("networkPolicy.enabled"))
            .help("set `networkPolicy.enabled: true`, or remove `egress.networkPolicy`"),
        );
    }
    if reads(&["services"]) {
        backends(v, &denied, &allowed, &mut found);
    }
    found
}

/// E0702: a backend whose URL names an address (or `localhost`) the edge
/// would refuse to connect to.
fn backends(v: &Values, denied: &[Cidr], allowed: &[Cidr], found: &mut Vec<Finding>) {
    for (i, service) in v.services.iter().enumerate() {
        for (j, backend) in service.backends.iter().enumerate() {
            let Some((host, ip)) = backend_address(&backend.url) else {
                continue;
            };
            if allowed.iter().any(|c| c.contains(ip)) {
                continue;
            }
            let ip = unmapped(ip);
            let Some(what) = always_refused(ip).map(String::from).or_else(|| {
                denied
                    .iter()
                    .find(|c| c.contains(ip))
                    .map(|c| format!("inside `{c}` of egress.deniedCidrs"))
            }) else {
                continue;
            };
            let why = if host.parse::<IpAddr>().is_ok() {
                format!("{ip} is {what}")
            } else {
                format!("`{host}` resolves to {ip}, {what}")
            };
            let range = format!("{ip}/{}", bits(ip));
            found.push(
                Finding::new(
                    Code::BackendRefused,
                    KeyPath::root()
                        .key("services")
                        .index(i)
                        .key("backends")
                        .index(j)
                        .key("url"),
                    format!(
                        "the edge will refuse to connect to backend `{}`: {why}",
                        backend.name
                    ),
                )
                .help(format!(
                    "if this origin is meant to be reached, add `{range}` to egress.allowedCidrs"
                )),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::{Backend, PackageSource, Service};

    fn codes(v: &Values) -> Vec<(String, &'static str)> {
        check(v, &|_| true)
            .into_iter()
            .map(|f| (f.path.to_string(), f.code.as_str()))
            .collect()
    }

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn with_backends(urls: &[&str]) -> Values {
        let backends = urls
            .iter()
            .enumerate()
            .map(|(i, url)| Backend {
                name: format!("b{i}"),
                url: url.to_string(),
                override_host: None,
                connect_timeout: None,
                health_check: None,
            })
            .collect();
        Values {
            services: vec![Service {
                name: "site".into(),
                domains: vec!["site.example".into()],
                package: PackageSource {
                    oci: Some("oci://r.example/site:1".into()),
                    ..Default::default()
                },
                backends,
                config_stores: vec![],
                kv_stores: vec![],
                dynamic_backends: None,
                log_endpoints: vec![],
            }],
            ..Values::default()
        }
    }

    #[test]
    fn defaults_pass() {
        assert_eq!(codes(&Values::default()), []);
    }

    #[test]
    fn ranges_parse_like_kubernetes_writes_them() {
        for good in [
            "10.0.0.0/8",
            "0.0.0.0/0",
            "192.168.1.7/32",
            "fc00::/7",
            "::/0",
            "2001:db8::1/128",
            " 172.16.0.0/12 ",
        ] {
            assert!(Cidr::parse(good).is_ok(), "{good}");
        }
        let help = |text: &str| Cidr::parse(text).unwrap_err().help;
        assert_eq!(
            help("10.1.2.3/8"),
            "write `10.0.0.0/8`, the range's first address"
        );
        assert_eq!(
            help("fc00::1/7"),
            "write `fc00::/7`, the range's first address"
        );
        assert_eq!(help("10.1.2.3"), "write `10.1.2.3/32` for this one address");
        assert_eq!(help("::1"), "write `::1/128` for this one address");
        for bad in [
            "10.0.0.0/33",
            "fc00::/129",
            "10.0.0/8",
            "10.0.0.0/+8",
            "10.0.0.0/",
            "ten/8",
            "",
            "10.0.0.0/8/9",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
        let c = Cidr::parse("100.64.0.0/10").unwrap();
        assert!(c.contains("100.100.100.200".parse().unwrap()));
        assert!(c.contains("::ffff:100.64.0.1".parse().unwrap()));
        assert!(!c.contains("100.128.0.0".parse().unwrap()));
        assert!(!c.contains("fc00::1".parse().unwrap()));
    }

    #[test]
    fn every_list_of_ranges_is_checked() {
        let mut v = Values::default();
        v.egress.denied_cidrs = strings(&["10.0.0.0/8", "10.96.0.1/12"]);
        v.egress.allowed_cidrs = strings(&["10.96.0.10"]);
        v.client_address.trusted_proxies = strings(&["35.191.0.0/16", "ingress-nginx"]);
        assert_eq!(
            codes(&v),
            [
                ("clientAddress.trustedProxies[1]".into(), "E0700"),
                ("egress.deniedCidrs[1]".into(), "E0700"),
                ("egress.allowedCidrs[0]".into(), "E0700"),
            ]
        );
    }

    #[test]
    fn trusting_every_address_lets_clients_spoof_theirs() {
        let mut v = Values::default();
        v.client_address.trusted_proxies = strings(&["10.0.0.0/8", "::/0"]);
        assert_eq!(
            codes(&v),
            [("clientAddress.trustedProxies[1]".into(), "W0703")]
        );
    }

    #[test]
    fn allowing_a_metadata_server_is_warned_about() {
        let mut v = Values::default();
        v.egress.allowed_cidrs = strings(&[
            "10.20.0.0/16",
            "0.0.0.0/0",
            "100.100.100.200/32",
            "fd20:ce::/64",
            "169.254.20.10/32",
        ]);
        let found: Vec<_> = codes(&v).into_iter().map(|c| c.0).collect();
        assert_eq!(
            found,
            [
                "egress.allowedCidrs[1]",
                "egress.allowedCidrs[2]",
                "egress.allowedCidrs[3]"
            ]
        );
    }

    #[test]
    fn egress_rules_need_the_network_policy() {
        let mut v = Values::default();
        v.egress.network_policy = true;
        assert_eq!(codes(&v), []);
        v.network_policy.enabled = false;
        assert_eq!(codes(&v), [("egress.networkPolicy".into(), "E0701")]);
    }

    #[test]
    fn ssrf_backends_in_values_are_refused() {
        let v = with_backends(&[
            "http://127.0.0.1:9090/metrics",
            "http://169.254.169.254/computeMetadata/v1/",
            "http://100.100.100.200/latest/meta-data/",
            "http://10.96.0.1",
            "https://[::1]:8443",
            "http://[::ffff:127.0.0.1]/",
            "http://LOCALHOST:9090",
            "http://admin.localhost",
            "http://metadata.google.internal./computeMetadata/v1/",
            "http://0.0.0.0:8080",
            "http://224.0.0.1",
            "http://user@192.168.0.10:80/x",
            "https://[fd00::5]/",
        ]);
        let found = codes(&v);
        assert_eq!(found.len(), 13, "{found:?}");
        assert!(found.iter().all(|c| c.1 == "E0702"));
        let first = &check(&v, &|_| true)[0];
        assert_eq!(
            first.message,
            "the edge will refuse to connect to backend `b0`: 127.0.0.1 is a loopback address (the pod itself)"
        );
        assert_eq!(
            first.help.as_deref(),
            Some(
                "if this origin is meant to be reached, add `127.0.0.1/32` to egress.allowedCidrs"
            )
        );
    }

    #[test]
    fn public_names_and_allowed_addresses_pass() {
        let mut v = with_backends(&[
            "https://origin.example.com",
            "http://203.0.113.7:8080",
            "https://[2001:db8::7]/",
            "http://10.20.1.5",
            "http://origin.internal.example",
        ]);
        v.egress.allowed_cidrs = strings(&["10.20.0.0/16"]);
        assert_eq!(codes(&v), []);
        // A range the user took out of deniedCidrs is reachable too.
        let mut v = with_backends(&["http://192.168.3.4"]);
        v.egress.denied_cidrs = strings(&["10.0.0.0/8"]);
        assert_eq!(codes(&v), []);
    }
}
