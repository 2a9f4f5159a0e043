//! `helmTest.host`: a host name, and in `offline` mode one that a service
//! in values answers (in `fastly` mode the Fastly API may add services).

use super::services::{check_domain, domain_matches};
use crate::values::ControlPlaneMode;
use crate::{Code, Finding, KeyPath, Values};

/// The `helm test` rules.
pub fn check(v: &Values) -> Vec<Finding> {
    let Some(host) = &v.helm_test.host else {
        return Vec::new();
    };
    let path = KeyPath::dotted("helmTest.host");
    if host.starts_with("*.") {
        return vec![
            Finding::new(
                Code::BadDomain,
                path,
                format!("`{host}` is a wildcard; a request needs one host name"),
            )
            .help("name one host the wildcard matches, such as www.example.com"),
        ];
    }
    if let Err((why, fix)) = check_domain(host) {
        return vec![Finding::new(Code::BadDomain, path, why).help(fix)];
    }
    let served = v
        .services
        .iter()
        .flat_map(|s| &s.domains)
        .any(|d| domain_matches(d, host));
    if v.control_plane.mode == ControlPlaneMode::Offline && !served {
        return vec![
            Finding::new(
                Code::HelmTestHost,
                path,
                format!("no service in `services` answers `{host}`: `helm test` would get the unknown-domain error"),
            )
            .help("use one of the services' domains, or remove `helmTest.host` to use the first one"),
        ];
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::{PackageSource, Service};

    fn codes(v: &Values) -> Vec<&'static str> {
        check(v).iter().map(|f| f.code.as_str()).collect()
    }

    #[test]
    fn hosts_are_names_a_service_answers() {
        let mut v = Values::default();
        assert!(codes(&v).is_empty());
        v.helm_test.host = Some("https://www.example.com".into());
        assert_eq!(codes(&v), ["E0502"]);
        v.helm_test.host = Some("*.example.com".into());
        assert_eq!(codes(&v), ["E0502"]);
        v.helm_test.host = Some("www.example.com".into());
        assert!(codes(&v).is_empty(), "fastly mode: the API may serve it");
        v.control_plane.mode = ControlPlaneMode::Offline;
        assert_eq!(codes(&v), ["W0690"]);
        v.services = vec![Service {
            name: "site".into(),
            domains: vec!["*.EXAMPLE.com".into()],
            package: PackageSource::default(),
            backends: vec![],
            config_stores: vec![],
            kv_stores: vec![],
            dynamic_backends: None,
            log_endpoints: vec![],
        }];
        assert!(codes(&v).is_empty());
    }
}
