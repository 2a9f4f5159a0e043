//! What the loader wants on the xqd volume: one entry per service, with the
//! definition the edge will serve and where its package bytes come from.

use values_schema::values::{ControlPlane, Service};

/// Where a package's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackageSpec {
    /// An OCI artifact reference.
    Oci(String),
    /// An HTTPS URL pinned by SHA-256 (hex).
    Url {
        /// The URL.
        url: String,
        /// The pinned digest.
        sha256: String,
    },
}

/// A service version that the Fastly API names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastlyPin {
    /// The service id on the API.
    pub service_id: String,
    /// The active version.
    pub version: u64,
    /// The package's hashsum as the API gives it (SHA-512, hex).
    pub hashsum: Option<String>,
}

/// One service as it should be.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredService {
    /// What the edge serves: name, domains, backends, stores.
    pub service: Service,
    /// The package.
    pub package: PackageSpec,
    /// The API version it stands for, in `fastly` mode.
    pub fastly: Option<FastlyPin>,
}

/// The desired services of `services` in values. Those that name a
/// `fastlyServiceId` are resolved through the API (see `fastly.rs`) and are
/// returned apart. A service that names no source is reported.
pub fn from_values(services: &[Service]) -> (Vec<DesiredService>, Vec<Service>, Vec<String>) {
    let mut desired = Vec::new();
    let mut through_api = Vec::new();
    let mut errors = Vec::new();
    for s in services {
        let p = &s.package;
        match (&p.oci, &p.url, &p.sha256, &p.fastly_service_id) {
            (Some(oci), None, _, None) => desired.push(DesiredService {
                service: s.clone(),
                package: PackageSpec::Oci(oci.clone()),
                fastly: None,
            }),
            (None, Some(url), Some(sha), None) => desired.push(DesiredService {
                service: s.clone(),
                package: PackageSpec::Url {
                    url: url.clone(),
                    sha256: sha.to_ascii_lowercase(),
                },
                fastly: None,
            }),
            (None, None, _, Some(_)) => through_api.push(s.clone()),
            (None, Some(_), None, None) => errors.push(format!(
                "services.{}.package: url needs sha256 (the package's SHA-256, 64 hex digits)",
                s.name
            )),
            _ => errors.push(format!(
                "services.{}.package: set exactly one of oci, url (with sha256) or fastlyServiceId",
                s.name
            )),
        }
    }
    (desired, through_api, errors)
}

/// The OCI reference a Fastly service version's package is pushed to:
/// `<packageRegistry>/<service id, lower case>:<version>` (OCI repository
/// names are lower case; Fastly's service ids are not).
pub fn registry_reference(cp: &ControlPlane, service_id: &str, version: u64) -> Option<String> {
    let registry = cp.package_registry.as_deref()?.trim_end_matches('/');
    let registry = registry.strip_prefix("oci://").unwrap_or(registry);
    Some(format!(
        "{registry}/{}:{version}",
        service_id.to_ascii_lowercase()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use values_schema::values::PackageSource;

    fn service(name: &str, package: PackageSource) -> Service {
        Service {
            name: name.into(),
            domains: vec!["a.example".into()],
            package,
            backends: Vec::new(),
            config_stores: Vec::new(),
            kv_stores: Vec::new(),
            dynamic_backends: None,
            log_endpoints: Vec::new(),
        }
    }

    #[test]
    fn each_source_kind_is_sorted_out() {
        let sha = "ab".repeat(32);
        let services = [
            service(
                "o",
                PackageSource {
                    oci: Some("r/x:1".into()),
                    ..Default::default()
                },
            ),
            service(
                "u",
                PackageSource {
                    url: Some("https://p/x.tar.gz".into()),
                    sha256: Some(sha.clone()),
                    ..Default::default()
                },
            ),
            service(
                "f",
                PackageSource {
                    fastly_service_id: Some("SU1Z0isxPaozGVKXdv0eY".into()),
                    ..Default::default()
                },
            ),
            service(
                "bad",
                PackageSource {
                    url: Some("https://p/x.tar.gz".into()),
                    ..Default::default()
                },
            ),
            service("none", PackageSource::default()),
        ];
        let (desired, api, errors) = from_values(&services);
        assert_eq!(desired.len(), 2);
        assert_eq!(
            desired[1].package,
            PackageSpec::Url {
                url: "https://p/x.tar.gz".into(),
                sha256: sha
            }
        );
        assert_eq!(api.len(), 1);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].contains("services.bad.package: url needs sha256"));
    }

    #[test]
    fn registry_references_name_service_and_version() {
        let cp = ControlPlane {
            package_registry: Some("registry.example/compute/".into()),
            ..ControlPlane::default()
        };
        assert_eq!(
            registry_reference(&cp, "abc", 7).as_deref(),
            Some("registry.example/compute/abc:7")
        );
        assert_eq!(registry_reference(&ControlPlane::default(), "abc", 7), None);
    }
}
