//! `services`: names, domains, package sources and backends of the Compute
//! services declared in values.

use crate::values::{PackageSource, Service};
use crate::{Code, Finding, KeyPath};
use std::collections::BTreeMap;

/// Service rules.
pub fn check(services: &[Service]) -> Vec<Finding> {
    let mut found = Vec::new();
    let root = KeyPath::root().key("services");
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    let mut domains: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (i, service) in services.iter().enumerate() {
        let here = root.index(i);
        if let Some(first) = names.insert(&service.name, i) {
            found.push(
                Finding::new(
                    Code::DuplicateServiceName,
                    here.key("name"),
                    format!(
                        "service `{}` is also declared at services[{first}]",
                        service.name
                    ),
                )
                .help("give each service its own name"),
            );
        }
        for (j, domain) in service.domains.iter().enumerate() {
            let path = here.key("domains").index(j);
            if let Err(why) = check_domain(domain) {
                found.push(Finding::new(Code::BadDomain, path, why.0).help(why.1));
                continue;
            }
            let key = domain.to_ascii_lowercase();
            if let Some((si, dj)) = domains.get(&key) {
                found.push(
                    Finding::new(
                        Code::DuplicateDomain,
                        path,
                        format!("`{domain}` is already served by services[{si}].domains[{dj}]"),
                    )
                    .help("a Host can route to one service only: remove one of them"),
                );
            } else {
                domains.insert(key, (i, j));
            }
        }
        check_package(&service.package, &here.key("package"), &mut found);
        let mut backends: BTreeMap<&str, usize> = BTreeMap::new();
        for (j, backend) in service.backends.iter().enumerate() {
            let path = here.key("backends").index(j);
            if backends.insert(&backend.name, j).is_some() {
                found.push(duplicate(path.key("name"), "backend", &backend.name));
            }
            if let Err(why) = check_url(&backend.url, &["http", "https"]) {
                found.push(
                    Finding::new(Code::BackendUrl, path.key("url"), why)
                        .help("give the origin as http:// or https:// and a host, such as https://origin.example.com"),
                );
            }
        }
        let mut stores: BTreeMap<&str, usize> = BTreeMap::new();
        for (j, store) in service.config_stores.iter().enumerate() {
            if stores.insert(&store.name, j).is_some() {
                found.push(duplicate(
                    here.key("configStores").index(j).key("name"),
                    "config store",
                    &store.name,
                ));
            }
        }
        let mut kv: BTreeMap<&str, usize> = BTreeMap::new();
        for (j, store) in service.kv_stores.iter().enumerate() {
            if kv.insert(store, j).is_some() {
                found.push(duplicate(here.key("kvStores").index(j), "KV store", store));
            }
        }
    }
    found
}

fn duplicate(path: KeyPath, what: &str, name: &str) -> Finding {
    Finding::new(
        Code::DuplicateName,
        path,
        format!("{what} `{name}` is declared twice in this service"),
    )
    .help("names must be unique within a service")
}

fn check_package(package: &PackageSource, path: &KeyPath, found: &mut Vec<Finding>) {
    let given: Vec<&str> = [
        ("oci", package.oci.is_some()),
        ("url", package.url.is_some()),
        ("fastlyServiceId", package.fastly_service_id.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, set)| set.then_some(k))
    .collect();
    match given.as_slice() {
        [] => found.push(
            Finding::new(Code::PackageSource, path.clone(), "no package source")
                .help("set one of `oci`, `url` (with `sha256`) or `fastlyServiceId`"),
        ),
        [_] => {}
        many => found.push(
            Finding::new(
                Code::PackageSource,
                path.clone(),
                format!("several package sources: {}", many.join(", ")),
            )
            .help("keep exactly one of them"),
        ),
    }
    if let Some(oci) = &package.oci
        && !oci.starts_with("oci://")
    {
        found.push(
            Finding::new(
                Code::PackageSource,
                path.key("oci"),
                format!("`{oci}` is not an OCI reference"),
            )
            .help("write it as oci://registry.example.com/repo/app:1.0.0"),
        );
    }
    match (&package.url, &package.sha256) {
        (Some(url), sha) => {
            if let Err(why) = check_url(url, &["https"]) {
                found.push(
                    Finding::new(Code::PackageUrl, path.key("url"), why)
                        .help("serve packages over https://"),
                );
            }
            if sha.is_none() {
                found.push(
                    Finding::new(Code::PackageUrl, path.key("url"), "a package URL without `sha256` is not pinned: whatever the server returns would run")
                        .help("add `sha256:` with the output of `sha256sum <package>.tar.gz`"),
                );
            }
        }
        (None, Some(_)) => found.push(
            Finding::new(
                Code::PackageSource,
                path.key("sha256"),
                "`sha256` pins a `url`, and there is none",
            )
            .help("add the package's `url`, or remove `sha256`"),
        ),
        (None, None) => {}
    }
}

/// Checks that `url` has one of `schemes` and a host.
pub fn check_url(url: &str, schemes: &[&str]) -> Result<(), String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!("`{url}` is not a URL"));
    };
    if !schemes.contains(&scheme) {
        return Err(format!(
            "`{url}`: scheme `{scheme}` is not one of {}",
            schemes.join(", ")
        ));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    let host = match host.rsplit_once(':') {
        Some((h, port)) if !h.ends_with(']') || host.starts_with('[') => {
            if !port.is_empty() && port.parse::<u16>().is_err() {
                return Err(format!(
                    "`{url}`: port `{port}` is not a number up to 65535"
                ));
            }
            h
        }
        _ => host,
    };
    if host.is_empty() {
        return Err(format!("`{url}` has no host"));
    }
    Ok(())
}

/// Whether a service domain (`*.` may lead and matches one label) answers
/// `host`, case-insensitively.
pub(super) fn domain_matches(domain: &str, host: &str) -> bool {
    let (domain, host) = (domain.to_ascii_lowercase(), host.to_ascii_lowercase());
    match domain.strip_prefix("*.") {
        Some(parent) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
        None => domain == host,
    }
}

/// Checks a host name the service answers; `*.` may lead.
pub(super) fn check_domain(domain: &str) -> Result<(), (String, String)> {
    let host_only = "write the host name only, such as cafe.example.com";
    if domain.contains("://") || domain.contains('/') {
        return Err((
            format!("`{domain}` is a URL, not a host name"),
            host_only.into(),
        ));
    }
    if domain.contains(':') {
        return Err((
            format!("`{domain}` has a port"),
            "the Host is matched without its port: remove it".into(),
        ));
    }
    let name = domain.strip_prefix("*.").unwrap_or(domain);
    let labels_ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if labels_ok {
        Ok(())
    } else {
        Err((
            format!("`{domain}` is not a valid host name"),
            host_only.into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::Backend;

    fn service(name: &str, domains: &[&str]) -> Service {
        Service {
            name: name.into(),
            domains: domains.iter().map(|d| d.to_string()).collect(),
            package: PackageSource {
                oci: Some("oci://r.example/app:1".into()),
                ..Default::default()
            },
            backends: vec![],
            config_stores: vec![],
            kv_stores: vec![],
            dynamic_backends: None,
            log_endpoints: vec![],
        }
    }

    fn codes(s: &[Service]) -> Vec<(String, &'static str)> {
        check(s)
            .into_iter()
            .map(|f| (f.path.to_string(), f.code.as_str()))
            .collect()
    }

    #[test]
    fn collisions_between_services() {
        let s = [
            service("a", &["x.example.com"]),
            service("a", &["X.example.com", "*.example.com"]),
        ];
        assert_eq!(
            codes(&s),
            [
                ("services[1].name".into(), "E0500"),
                ("services[1].domains[0]".into(), "E0501")
            ]
        );
    }

    #[test]
    fn domains_are_host_names() {
        let s = [service(
            "a",
            &[
                "https://x.example.com",
                "x.example.com:443",
                "bad_name.com",
                "ok.example",
            ],
        )];
        assert_eq!(codes(&s).iter().filter(|c| c.1 == "E0502").count(), 3);
    }

    #[test]
    fn package_sources_are_exclusive_and_pinned() {
        let mut s = service("a", &["a.example"]);
        s.package.url = Some("http://pkgs.example/app.tar.gz".into());
        let c: Vec<_> = codes(&[s]).into_iter().map(|c| c.1).collect();
        assert_eq!(c, ["E0503", "E0504", "E0504"]);
    }

    #[test]
    fn backend_urls() {
        let mut s = service("a", &["a.example"]);
        for (n, url) in [
            ("a", "https://origin.example"),
            ("b", "origin.example"),
            ("a", "ftp://x"),
            ("c", "http://:80"),
        ] {
            s.backends.push(Backend {
                name: n.into(),
                url: url.into(),
                override_host: None,
                connect_timeout: None,
                health_check: None,
            });
        }
        let c: Vec<_> = codes(&[s]).into_iter().map(|c| c.1).collect();
        assert_eq!(c, ["E0505", "E0506", "E0505", "E0505"]);
    }
}
