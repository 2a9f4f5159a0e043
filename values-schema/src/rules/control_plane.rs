//! `controlPlane`: the mode against the services that need the Fastly API,
//! the package registry and the registries reached over plain HTTP.

use crate::values::{ControlPlaneMode, FASTLY_API_URL};
use crate::{Code, Finding, KeyPath, Values};

const REGISTRY_EXAMPLE: &str = "oci://registry.example.com/compute-packages";

/// Control-plane rules; `reads` says whether the sections a rule reads are
/// free of schema errors.
pub fn check(v: &Values, reads: &dyn Fn(&[&str]) -> bool) -> Vec<Finding> {
    let mut found = Vec::new();
    if !reads(&["controlPlane"]) {
        return found;
    }
    let cp = &v.control_plane;
    let root = KeyPath::root().key("controlPlane");
    if let Some(registry) = &cp.package_registry
        && let Err((why, fix)) = check_repository(registry)
    {
        found.push(Finding::new(Code::PackageRegistry, root.key("packageRegistry"), why).help(fix));
    }
    for (i, entry) in cp.insecure_registries.iter().enumerate() {
        if let Err(why) = check_host_port(entry) {
            found.push(
                Finding::new(Code::InsecureRegistry, root.key("insecureRegistries").index(i), why)
                    .help("write the registry as host:port, such as registry.registry.svc:5000 (no scheme, no path)"),
            );
        }
    }
    if reads(&["services"]) {
        services_and_mode(v, &mut found);
    }
    if cp.mode == ControlPlaneMode::Offline {
        let unused = [
            (
                "packageRegistry",
                cp.package_registry.is_some(),
                "the loader fetches packages of Fastly API services only",
            ),
            (
                "apiUrl",
                cp.api_url != FASTLY_API_URL,
                "nothing talks to the Fastly API",
            ),
        ];
        for (key, set, why) in unused {
            if set {
                found.push(unused_offline(root.key(key), why));
            }
        }
    }
    found
}

/// A finding about a setting that `offline` mode does not read.
pub fn unused_offline(path: KeyPath, why: &str) -> Finding {
    Finding::new(
        Code::UnusedOffline,
        path.clone(),
        format!("`controlPlane.mode` is offline: {why}, so `{path}` is not used"),
    )
    .also_about(KeyPath::dotted("controlPlane.mode"))
    .help(format!(
        "remove `{path}`, or set `controlPlane.mode: fastly`"
    ))
}

/// Services whose package comes through the Fastly API: impossible offline,
/// and in `fastly` mode only with a registry to fetch the bytes from.
fn services_and_mode(v: &Values, found: &mut Vec<Finding>) {
    let cp = &v.control_plane;
    for (i, service) in v.services.iter().enumerate() {
        if service.package.fastly_service_id.is_none() {
            continue;
        }
        let path = KeyPath::root()
            .key("services")
            .index(i)
            .key("package")
            .key("fastlyServiceId");
        match cp.mode {
            ControlPlaneMode::Offline => found.push(
                Finding::new(
                    Code::ServiceNeedsFastly,
                    path,
                    format!(
                        "service `{}` is loaded through the Fastly API, which `offline` mode never calls",
                        service.name
                    ),
                )
                .help("give its package as `oci` or as `url` with `sha256`, or set `controlPlane.mode: fastly` with both tokens"),
            ),
            ControlPlaneMode::Fastly if cp.package_registry.is_none() => found.push(
                Finding::new(
                    Code::PackageRegistryMissing,
                    path,
                    format!(
                        "the Fastly API describes the package of service `{}` but does not serve it, and `controlPlane.packageRegistry` is not set",
                        service.name
                    ),
                )
                .also_about(KeyPath::dotted("controlPlane.packageRegistry"))
                .help(format!(
                    "set `controlPlane.packageRegistry` to the OCI repository the packages are pushed to (such as {REGISTRY_EXAMPLE}), or give this package as `oci` or `url`"
                )),
            ),
            ControlPlaneMode::Fastly => {}
        }
    }
}

/// Checks an OCI repository the loader appends `/<service id>:<version>`
/// to: an optional `oci://`, a registry host, lowercase path components, no
/// tag and no digest.
fn check_repository(text: &str) -> Result<(), (String, String)> {
    let example = format!("write it as {REGISTRY_EXAMPLE}");
    let bare = text.strip_prefix("oci://").unwrap_or(text);
    if let Some((scheme, _)) = bare.split_once("://") {
        return Err((
            format!("`{text}` is a web address ({scheme}://), not an OCI repository"),
            example,
        ));
    }
    let (host, path) = bare.split_once('/').unwrap_or((bare, ""));
    if let Some((_, digest)) = path.split_once('@') {
        return Err((
            format!(
                "`{text}` names a digest (`@{digest}`): the loader adds `:<version>` per service version"
            ),
            format!("remove `@{digest}`"),
        ));
    }
    if let Some(tag) = path
        .rsplit('/')
        .next()
        .and_then(|last| last.split_once(':'))
        .map(|(_, t)| t)
    {
        return Err((
            format!(
                "`{text}` names a tag (`:{tag}`): the loader adds `:<version>` per service version"
            ),
            format!("remove `:{tag}`"),
        ));
    }
    let names_registry = host.contains('.') || host.contains(':') || host == "localhost";
    if host.is_empty() || !names_registry || check_host_port_or_host(host).is_err() {
        return Err((
            format!(
                "`{text}` does not start with a registry host (such as registry.example.com or registry.svc:5000)"
            ),
            example,
        ));
    }
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "._-".contains(ch))
            && c.starts_with(|ch: char| ch.is_ascii_alphanumeric())
    };
    let path = path.trim_end_matches('/');
    if !path.is_empty() && !path.split('/').all(component_ok) {
        return Err((
            format!(
                "`{text}`: the repository path `{path}` must be lowercase letters, digits, `.`, `_` and `-`, separated by `/`"
            ),
            example,
        ));
    }
    Ok(())
}

/// `host` or `host:port`.
fn check_host_port_or_host(text: &str) -> Result<(), String> {
    if text.contains(':') {
        check_host_port(text)
    } else if host_ok(text) {
        Ok(())
    } else {
        Err(format!("`{text}` is not a host name"))
    }
}

/// Checks `host:port`: a host name, IPv4 address or `[IPv6]` address and a
/// port from 1 to 65535.
fn check_host_port(text: &str) -> Result<(), String> {
    if text.contains("://") || text.contains('/') {
        return Err(format!("`{text}` is not host:port"));
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!("`{text}` has no port: write host:port"));
    };
    let port_ok = port.parse::<u16>().is_ok_and(|p| p > 0);
    if !port_ok {
        return Err(format!(
            "`{text}`: port `{port}` is not a number from 1 to 65535"
        ));
    }
    let ipv6 = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok());
    if ipv6 || host_ok(host) {
        Ok(())
    } else {
        Err(format!("`{text}`: `{host}` is not a host name"))
    }
}

/// A DNS name or an IPv4 address.
fn host_ok(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::{PackageSource, Service};

    fn codes(v: &Values) -> Vec<(String, &'static str)> {
        check(v, &|_| true)
            .into_iter()
            .map(|f| (f.path.to_string(), f.code.as_str()))
            .collect()
    }

    fn service_through_api() -> Service {
        Service {
            name: "shop".into(),
            domains: vec!["shop.example.com".into()],
            package: PackageSource {
                fastly_service_id: Some("SU1Z0isxPaozGVKXdv0eY".into()),
                ..Default::default()
            },
            backends: vec![],
            config_stores: vec![],
            kv_stores: vec![],
            dynamic_backends: None,
            log_endpoints: vec![],
        }
    }

    #[test]
    fn defaults_pass() {
        assert!(codes(&Values::default()).is_empty());
    }

    #[test]
    fn offline_mode_refuses_services_through_the_api() {
        let mut v = Values::default();
        v.control_plane.mode = ControlPlaneMode::Offline;
        v.services = vec![service_through_api()];
        assert_eq!(
            codes(&v),
            [("services[0].package.fastlyServiceId".into(), "E0660")]
        );
    }

    #[test]
    fn fastly_mode_needs_a_registry_for_services_through_the_api() {
        let mut v = Values {
            services: vec![service_through_api()],
            ..Values::default()
        };
        assert_eq!(
            codes(&v),
            [("services[0].package.fastlyServiceId".into(), "E0663")]
        );
        v.control_plane.package_registry = Some("oci://registry.example.com/compute".into());
        assert!(codes(&v).is_empty());
    }

    #[test]
    fn package_registries_are_oci_repositories() {
        for good in [
            "oci://registry.example.com/compute-packages",
            "registry.example.com",
            "registry.registry.svc:5000/compute/",
            "localhost:5000/x",
            "oci://[::1]:5000/x",
        ] {
            assert!(check_repository(good).is_ok(), "{good}");
        }
        for bad in [
            "https://registry.example.com/x",
            "oci://registry.example.com/x:1.0",
            "registry.example.com/x@sha256:00",
            "compute-packages",
            "registry.example.com/Compute",
            "registry.example.com:http/x",
            "",
        ] {
            assert!(check_repository(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn insecure_registries_are_host_and_port() {
        for good in ["registry.svc:5000", "127.0.0.1:5000", "[::1]:5000"] {
            assert!(check_host_port(good).is_ok(), "{good}");
        }
        for bad in [
            "http://registry:5000",
            "registry",
            "registry:0",
            "registry:99999",
            "reg_istry:80",
            "registry:5000/path",
            ":5000",
        ] {
            assert!(check_host_port(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn offline_mode_reports_what_only_fastly_mode_reads() {
        let mut v = Values::default();
        v.control_plane.mode = ControlPlaneMode::Offline;
        v.control_plane.package_registry = Some("registry.example.com/x".into());
        v.control_plane.api_url = "https://api.example.com".into();
        assert_eq!(
            codes(&v),
            [
                ("controlPlane.packageRegistry".into(), "W0664"),
                ("controlPlane.apiUrl".into(), "W0664")
            ]
        );
    }
}
