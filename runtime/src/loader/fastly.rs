//! `fastly` mode: the desired services from the Fastly API. Every Compute
//! service of the account with an active version is served (the domains it
//! serves come from the API), plus those `services` in values pins by
//! `fastlyServiceId`. The API describes a version's package (its SHA-512
//! hashsum) but does not serve its bytes: they come from
//! `controlPlane.packageRegistry`, `<registry>/<service id>:<version>`, and
//! must match the hashsum. Polls are conditional (ETag / If-None-Match), so
//! a quiet account costs one `304` per service and pass.

use super::desired::{DesiredService, FastlyPin, PackageSpec, registry_reference};
use crate::config::EdgeFile;
use crate::fastly_api::{Client, Conditional, Credentials, ETag, ServiceSnapshot, ServiceSummary};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use values_schema::quantity::GoDuration;
use values_schema::values::{Backend, ConfigStore, PackageSource, Service};

/// What the loader remembers of the API between passes.
#[derive(Default)]
pub struct ApiSource {
    client: Option<(String, Client)>,
    list: Option<(Option<ETag>, Vec<ServiceSummary>)>,
    snapshots: BTreeMap<String, (Option<ETag>, ServiceSnapshot)>,
}

impl ApiSource {
    /// The API client of `file`'s control plane (made once per API URL).
    pub fn client(
        &mut self,
        file: &EdgeFile,
        credentials: Option<&Path>,
    ) -> Result<Client, String> {
        let api_url = file.control_plane.api_url.clone();
        api_client(&mut self.client, &api_url, credentials).cloned()
    }

    /// The services the API names, with their active versions. An error
    /// means the list is incomplete (nothing may be removed).
    pub async fn desired(
        &mut self,
        file: &EdgeFile,
        credentials: Option<&Path>,
        declared: &[Service],
    ) -> Result<Vec<DesiredService>, String> {
        let cp = &file.control_plane;
        let client = api_client(&mut self.client, &cp.api_url, credentials)?;
        let previous = self.list.as_ref().and_then(|(e, _)| e.clone());
        let (list_etag, listed) = match client
            .list_services(previous.as_ref())
            .await
            .map_err(|e| e.to_string())?
        {
            Conditional::Modified(list, etag) => (
                etag,
                list.into_iter()
                    .filter(ServiceSummary::is_compute)
                    .collect(),
            ),
            Conditional::NotModified => self.list.take().unwrap_or_default(),
        };
        let pinned: BTreeMap<&str, &Service> = declared
            .iter()
            .filter_map(|s| Some((s.package.fastly_service_id.as_deref()?, s)))
            .collect();
        let mut ids: BTreeSet<String> = listed
            .iter()
            .filter(|s| s.version.is_some())
            .map(|s| s.id.clone())
            .collect();
        ids.extend(pinned.keys().map(|k| k.to_string()));
        let mut desired = Vec::new();
        let mut errors = Vec::new();
        for id in &ids {
            let previous = self.snapshots.get(id).and_then(|(e, _)| e.clone());
            match client
                .service_snapshot_if_changed(id, previous.as_ref())
                .await
            {
                Ok(Conditional::Modified(snapshot, etag)) => {
                    self.snapshots.insert(id.clone(), (etag, snapshot));
                }
                Ok(Conditional::NotModified) => {}
                Err(e) => errors.push(format!("service {id}: {e}")),
            }
            let Some((_, snapshot)) = self.snapshots.get(id) else {
                continue;
            };
            match to_desired(snapshot, pinned.get(id.as_str()).copied(), file) {
                Ok(d) => desired.push(d),
                Err(e) => errors.push(e),
            }
        }
        self.snapshots.retain(|id, _| ids.contains(id));
        self.list = Some((list_etag, listed));
        if errors.is_empty() {
            Ok(desired)
        } else {
            Err(errors.join("; "))
        }
    }
}

/// The API client for `api_url`, made once from the token the bootstrap
/// wrote.
fn api_client<'a>(
    slot: &'a mut Option<(String, Client)>,
    api_url: &str,
    credentials: Option<&Path>,
) -> Result<&'a Client, String> {
    if slot.as_ref().is_none_or(|(url, _)| url != api_url) {
        let dir = credentials
            .ok_or("fastly mode needs --credentials-dir (what anywhere bootstrap wrote)")?;
        let token = Credentials::read_api_token(dir).map_err(|e| e.to_string())?;
        let client = Client::new(api_url, token).map_err(|e| e.to_string())?;
        *slot = Some((api_url.to_string(), client));
    }
    slot.as_ref()
        .map(|(_, c)| c)
        .ok_or_else(|| "no API client".into())
}

/// A Fastly service name as a DNS label (the edge's service names are).
fn label(name: &str, id: &str) -> String {
    let mut out: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    out = out.trim_matches('-').chars().take(40).collect();
    let id: String = id.to_ascii_lowercase().chars().take(12).collect();
    if out.is_empty() {
        format!("svc-{id}")
    } else {
        format!("{out}-{id}")
    }
}

fn to_desired(
    s: &ServiceSnapshot,
    declared: Option<&Service>,
    file: &EdgeFile,
) -> Result<DesiredService, String> {
    let reference = registry_reference(&file.control_plane, &s.id, u64::from(s.version)).ok_or_else(|| {
        format!(
            "service {} ({}): the Fastly API does not serve package bytes; set controlPlane.packageRegistry to the OCI repository its versions are pushed to",
            s.name, s.id
        )
    })?;
    let mut backends = Vec::new();
    for b in &s.backends {
        let Some(address) = &b.address else {
            return Err(format!(
                "service {}: backend {} has no address",
                s.name, b.name
            ));
        };
        let scheme = if b.use_ssl { "https" } else { "http" };
        let port = b.port.map(|p| format!(":{p}")).unwrap_or_default();
        backends.push(Backend {
            name: b.name.clone(),
            url: format!("{scheme}://{address}{port}"),
            override_host: b.override_host.clone(),
            connect_timeout: b.connect_timeout_ms.map(|ms| GoDuration(format!("{ms}ms"))),
            // The service's health check objects are not read from the API
            // yet: such backends answer "unknown".
            health_check: None,
        });
    }
    let service = Service {
        name: declared.map_or_else(|| label(&s.name, &s.id), |d| d.name.clone()),
        domains: match declared {
            Some(d) if !d.domains.is_empty() => d.domains.clone(),
            _ => s.domains.clone(),
        },
        package: PackageSource {
            oci: Some(reference.clone()),
            ..PackageSource::default()
        },
        backends,
        config_stores: s
            .config_stores
            .iter()
            .map(|(name, items)| ConfigStore {
                name: name.clone(),
                items: items.clone(),
            })
            .collect(),
        kv_stores: s.kv_stores.clone(),
        // A service declared in values may say; otherwise egress.dynamicBackends.
        dynamic_backends: declared.and_then(|d| d.dynamic_backends),
        log_endpoints: declared
            .map(|d| d.log_endpoints.clone())
            .unwrap_or_default(),
    };
    Ok(DesiredService {
        service,
        package: PackageSpec::Oci(reference),
        fastly: Some(FastlyPin {
            service_id: s.id.clone(),
            version: u64::from(s.version),
            hashsum: s.package.as_ref().and_then(|p| p.hashsum.clone()),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names_become_dns_labels() {
        assert_eq!(
            label("My Shop (prod)", "SU1Z0isxPaozGVKXdv0eY"),
            "my-shop--prod-su1z0isxpaoz"
        );
        assert_eq!(label("", "abc"), "svc-abc");
    }
}
