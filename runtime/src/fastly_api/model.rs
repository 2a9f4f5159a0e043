//! What the endpoints answer, reduced to the fields the POP uses. Field
//! names are the API's (Fastly's API reference, "Data model" of each
//! resource); everything else the API sends is ignored.

use super::lenient::{
    lenient_bool, lenient_u16, lenient_u32, lenient_u64, list_or_null, required_u32, string_or_null,
};
use super::timestamp::Timestamp;
use serde::Deserialize;
use std::collections::BTreeMap;

/// `GET /tokens/self`: the token the client authenticates with.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TokenInfo {
    /// The token's id (not the token).
    pub id: String,
    /// The name given at creation.
    #[serde(default, deserialize_with = "string_or_null")]
    pub name: String,
    /// Space-separated scopes: `global`, `global:read`, `purge_select`,
    /// `purge_all`.
    #[serde(default, deserialize_with = "string_or_null")]
    pub scope: String,
    /// The services the token may access; empty means all of them.
    #[serde(default, deserialize_with = "list_or_null")]
    pub services: Vec<String>,
    /// When the token stops working; `None`: never.
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
}

impl TokenInfo {
    /// The scopes, one per entry.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split_whitespace()
    }

    /// Whether the token may read service configuration (`global` or
    /// `global:read`; the purge scopes may not).
    pub fn can_read_config(&self) -> bool {
        self.scopes().any(|s| s == "global" || s == "global:read")
    }
}

/// One entry of `GET /service`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ServiceSummary {
    /// Service id.
    pub id: String,
    /// Service name.
    #[serde(default, deserialize_with = "string_or_null")]
    pub name: String,
    /// `wasm` (Compute) or `vcl`.
    #[serde(rename = "type", default, deserialize_with = "string_or_null")]
    pub kind: String,
    /// The active version, `None` when no version is active.
    #[serde(default, deserialize_with = "lenient_u32")]
    pub version: Option<u32>,
}

impl ServiceSummary {
    /// Whether this is a Compute service (type `wasm`).
    pub fn is_compute(&self) -> bool {
        self.kind == "wasm"
    }
}

/// `GET /service/{id}/details`, reduced to the active version.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ServiceDetails {
    /// Service id.
    pub id: String,
    /// Service name.
    #[serde(default, deserialize_with = "string_or_null")]
    pub name: String,
    /// `wasm` (Compute) or `vcl`.
    #[serde(rename = "type", default, deserialize_with = "string_or_null")]
    pub kind: String,
    /// The active version with its domains and backends; `None` when no
    /// version is active.
    #[serde(rename = "active_version", default)]
    pub active: Option<VersionDetail>,
}

/// A service version with the parts of its configuration the POP uses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct VersionDetail {
    /// The version number.
    #[serde(deserialize_with = "required_u32")]
    pub number: u32,
    /// The host names it serves.
    #[serde(default, deserialize_with = "list_or_null")]
    pub domains: Vec<Domain>,
    /// The origins it may send requests to.
    #[serde(default, deserialize_with = "list_or_null")]
    pub backends: Vec<Backend>,
}

/// A domain of a service version.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Domain {
    /// The host name (`www.example.com`, `*.example.com`).
    pub name: String,
}

/// A backend of a service version.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "BackendFields")]
pub struct Backend {
    /// The name the program sends requests to.
    pub name: String,
    /// Host name or IP address: `address`, else the older `hostname`,
    /// `ipv4` or `ipv6`.
    pub address: Option<String>,
    /// Port; `None`: the scheme's default.
    pub port: Option<u16>,
    /// Whether to use TLS.
    pub use_ssl: bool,
    /// The `Host` header to send instead of the client's.
    pub override_host: Option<String>,
    /// Connect timeout in milliseconds.
    pub connect_timeout_ms: Option<u64>,
    /// The host name the origin's certificate must be valid for.
    pub ssl_cert_hostname: Option<String>,
    /// The SNI host name to send.
    pub ssl_sni_hostname: Option<String>,
}

/// A backend as the API sends it: the location may be in any of four
/// fields, and all four are usually present (most of them null).
#[derive(Deserialize)]
struct BackendFields {
    name: String,
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default)]
    ipv4: Option<String>,
    #[serde(default)]
    ipv6: Option<String>,
    #[serde(default, deserialize_with = "lenient_u16")]
    port: Option<u16>,
    #[serde(default, deserialize_with = "lenient_bool")]
    use_ssl: bool,
    #[serde(default)]
    override_host: Option<String>,
    #[serde(default, deserialize_with = "lenient_u64")]
    connect_timeout: Option<u64>,
    #[serde(default)]
    ssl_cert_hostname: Option<String>,
    #[serde(default)]
    ssl_sni_hostname: Option<String>,
}

impl From<BackendFields> for Backend {
    fn from(f: BackendFields) -> Backend {
        let address = [f.address, f.hostname, f.ipv4, f.ipv6]
            .into_iter()
            .flatten()
            .find(|a| !a.is_empty());
        let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
        Backend {
            name: f.name,
            address,
            port: f.port,
            use_ssl: f.use_ssl,
            override_host: non_empty(f.override_host),
            connect_timeout_ms: f.connect_timeout,
            ssl_cert_hostname: non_empty(f.ssl_cert_hostname),
            ssl_sni_hostname: non_empty(f.ssl_sni_hostname),
        }
    }
}

/// `GET /service/{id}/version/{v}/package`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PackageInfo {
    /// Package id.
    #[serde(default, deserialize_with = "string_or_null")]
    pub id: String,
    /// What Fastly extracted from the uploaded package.
    #[serde(default)]
    pub metadata: PackageMetadata,
}

/// A Compute package's metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PackageMetadata {
    /// The package name (`fastly.toml`'s `name`).
    #[serde(default)]
    pub name: Option<String>,
    /// Size of the package archive in bytes.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub size: Option<u64>,
    /// SHA-512 (hex) of the package archive (`.tar.gz`), as the Fastly CLI
    /// computes it. Deprecated by Fastly in favour of `files_hash`, still
    /// sent.
    #[serde(default)]
    pub hashsum: Option<String>,
    /// SHA-512 (hex) of the archive's files' contents, concatenated in the
    /// order of their sorted paths (`fastly compute hash-files`).
    #[serde(default)]
    pub files_hash: Option<String>,
    /// `rust`, `javascript`, `go`, ….
    #[serde(default)]
    pub language: Option<String>,
}

/// A dictionary of a service version (Compute's older config store).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Dictionary {
    /// Dictionary id (items are listed by it).
    pub id: String,
    /// The name the program opens.
    pub name: String,
    /// Items of a write-only dictionary cannot be read through the API.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub write_only: bool,
}

/// A resource link of a service version: a store the version may open.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ResourceLink {
    /// The linked store's id.
    pub resource_id: String,
    /// The name the program opens (may differ from the store's own name).
    pub name: String,
    /// `config`, `kv-store` or `secret-store`.
    #[serde(default, deserialize_with = "string_or_null")]
    pub resource_type: String,
}

/// Key and value of a dictionary or config store item.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Item {
    pub(crate) item_key: String,
    #[serde(default, deserialize_with = "string_or_null")]
    pub(crate) item_value: String,
}

/// Items as a map, later keys winning.
pub(crate) fn items_map(items: Vec<Item>) -> BTreeMap<String, String> {
    items
        .into_iter()
        .map(|i| (i.item_key, i.item_value))
        .collect()
}
