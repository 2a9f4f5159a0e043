//! [`ServiceSnapshot`]: everything the loader needs of one service's
//! active version, gathered from the endpoints in one call.

use super::client::Client;
use super::conditional::{Conditional, ETag};
use super::error::ApiError;
use super::model::{Backend, PackageMetadata, ServiceDetails, VersionDetail};
use std::collections::BTreeMap;

/// A service's active version as the POP runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSnapshot {
    /// Service id.
    pub id: String,
    /// Service name.
    pub name: String,
    /// The active version.
    pub version: u32,
    /// The host names it serves.
    pub domains: Vec<String>,
    /// Its backends.
    pub backends: Vec<Backend>,
    /// Its dictionaries and linked config stores, by the name the program
    /// opens them with: name → key → value. (A dictionary is Compute's
    /// older form of a config store; the program reads both the same way.)
    pub config_stores: BTreeMap<String, BTreeMap<String, String>>,
    /// The names of its linked KV stores.
    pub kv_stores: Vec<String>,
    /// The package's metadata (its `hashsum` is the SHA-512 the package
    /// bytes must match); `None` when the version has no package.
    pub package: Option<PackageMetadata>,
}

impl Client {
    /// The active version of `service_id`, with its stores' items and its
    /// package metadata.
    pub async fn service_snapshot(&self, service_id: &str) -> Result<ServiceSnapshot, ApiError> {
        match self.service_snapshot_if_changed(service_id, None).await? {
            Conditional::Modified(snapshot, _) => Ok(snapshot),
            Conditional::NotModified => Err(ApiError::BadResponse {
                url: self.url(&format!("/service/{service_id}/details")),
                reason: "304 to an unconditional request".into(),
            }),
        }
    }

    /// Like [`Client::service_snapshot`], but only when the service's
    /// details changed since `etag` (the ETag of `/service/{id}/details`
    /// returned with the previous snapshot): a poll that finds nothing new
    /// costs one request answered `304`.
    pub async fn service_snapshot_if_changed(
        &self,
        service_id: &str,
        etag: Option<&ETag>,
    ) -> Result<Conditional<ServiceSnapshot>, ApiError> {
        let (details, etag) = match self.service_details(service_id, etag).await? {
            Conditional::NotModified => return Ok(Conditional::NotModified),
            Conditional::Modified(details, etag) => (details, etag),
        };
        let ServiceDetails {
            id, name, active, ..
        } = details;
        let Some(VersionDetail {
            number,
            domains,
            backends,
        }) = active
        else {
            return Err(ApiError::NoActiveVersion { service_id: id });
        };
        let package = match self.package(&id, number).await {
            Ok(info) => Some(info.metadata),
            Err(ApiError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        let (config_stores, kv_stores) = self.stores(&id, number).await?;
        let snapshot = ServiceSnapshot {
            id,
            name,
            version: number,
            domains: domains.into_iter().map(|d| d.name).collect(),
            backends,
            config_stores,
            kv_stores,
            package,
        };
        Ok(Conditional::Modified(snapshot, etag))
    }

    /// Dictionaries and linked config stores with their items (a config
    /// store wins over a dictionary of the same name), and KV store names.
    async fn stores(
        &self,
        service_id: &str,
        version: u32,
    ) -> Result<(BTreeMap<String, BTreeMap<String, String>>, Vec<String>), ApiError> {
        let mut config = BTreeMap::new();
        for dict in self.dictionaries(service_id, version).await? {
            let items = if dict.write_only {
                tracing::warn!(service = service_id, dictionary = %dict.name, "write-only dictionary: its items cannot be read through the API; it is loaded empty");
                BTreeMap::new()
            } else {
                self.dictionary_items(service_id, &dict.id).await?
            };
            config.insert(dict.name, items);
        }
        let mut kv = Vec::new();
        for link in self.resource_links(service_id, version).await? {
            match link.resource_type.as_str() {
                "config" => {
                    let items = self.config_store_items(&link.resource_id).await?;
                    if config.insert(link.name.clone(), items).is_some() {
                        tracing::warn!(service = service_id, store = %link.name, "a config store and a dictionary share a name; the config store is used");
                    }
                }
                "kv-store" => kv.push(link.name),
                other => {
                    tracing::debug!(service = service_id, link = %link.name, kind = other, "resource link not loaded")
                }
            }
        }
        Ok((config, kv))
    }
}
