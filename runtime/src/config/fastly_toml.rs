//! Reads `fastly.toml` the way Fastly's local tools do: the project's name
//! and the `[local_server]` section. Unknown keys are warnings that name
//! the key, never silently dropped.

use super::{
    Acl, BackendConfig, ConfigError, DeviceDetection, Geolocation, KvStoreConfig,
    SecretStoreConfig, acls, backends, geo, stores,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Top-level keys of `fastly.toml` that the Fastly CLI defines. We read
/// only `name` and `local_server`; the rest is known and ignored.
const TOP_LEVEL_KEYS: &[&str] = &[
    "manifest_version",
    "name",
    "description",
    "authors",
    "language",
    "service_id",
    "scripts",
    "local_server",
    "setup",
    "profile",
    "cloned_from",
];

const LOCAL_SERVER_KEYS: &[&str] = &[
    "backends",
    "config_stores",
    "dictionaries",
    "kv_stores",
    "object_stores",
    "secret_stores",
    "geolocation",
    "device_detection",
    "acls",
    "viceroy_version",
];

/// Everything a program's environment holds, read from `fastly.toml`.
#[derive(Debug, Clone, Default)]
pub struct ProjectConfig {
    /// The package name (`name`), used in logs and metrics.
    pub name: Option<String>,
    /// Static backends by name.
    pub backends: BTreeMap<String, BackendConfig>,
    /// Config stores and legacy dictionaries (one namespace, as on Fastly).
    pub config_stores: BTreeMap<String, BTreeMap<String, String>>,
    /// KV stores with their initial entries.
    pub kv_stores: BTreeMap<String, KvStoreConfig>,
    /// Secret stores.
    pub secret_stores: BTreeMap<String, SecretStoreConfig>,
    /// Geolocation data by IP address.
    pub geolocation: Geolocation,
    /// Device detection data by User-Agent.
    pub device_detection: DeviceDetection,
    /// ACLs by name.
    pub acls: BTreeMap<String, Acl>,
}

/// A parsed `fastly.toml` plus the warnings found while reading it.
#[derive(Debug, Clone, Default)]
pub struct FastlyToml {
    /// The project's environment.
    pub config: ProjectConfig,
    /// `file: key: message` lines for keys we do not know.
    pub warnings: Vec<String>,
}

/// Parses `fastly.toml` text. `path` names the file in errors and is the
/// base for the relative paths inside it.
pub fn parse_fastly_toml(path: &Path, text: &str) -> Result<FastlyToml, ConfigError> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let place = e
            .span()
            .map(|span| line_col(text, span.start))
            .map(|(l, c)| format!("line {l}, column {c}"))
            .unwrap_or_else(|| "syntax".into());
        ConfigError::new(path, place, format!("{}; fix the TOML syntax", e.message()))
    })?;
    let base: PathBuf = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut out = FastlyToml::default();
    warn_unknown(path, "", &table, TOP_LEVEL_KEYS, &mut out.warnings);
    out.config.name = table
        .get("name")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    let Some(local) = table.get("local_server") else {
        return Ok(out);
    };
    let local = local.as_table().ok_or_else(|| {
        ConfigError::new(path, "local_server", "must be a table ([local_server])")
    })?;
    warn_unknown(
        path,
        "local_server.",
        local,
        LOCAL_SERVER_KEYS,
        &mut out.warnings,
    );
    let ctx = Ctx {
        file: path,
        base: &base,
    };
    let cfg = &mut out.config;
    if let Some(v) = local.get("backends") {
        cfg.backends = backends::parse(&ctx, v, &mut out.warnings)?;
    }
    for section in ["config_stores", "dictionaries"] {
        if let Some(v) = local.get(section) {
            for (name, store) in stores::parse_config_stores(&ctx, section, v)? {
                cfg.config_stores.insert(name, store);
            }
        }
    }
    for section in ["kv_stores", "object_stores"] {
        if let Some(v) = local.get(section) {
            cfg.kv_stores
                .extend(stores::parse_kv_stores(&ctx, section, v)?);
        }
    }
    if let Some(v) = local.get("secret_stores") {
        cfg.secret_stores = stores::parse_secret_stores(&ctx, v)?;
    }
    if let Some(v) = local.get("geolocation") {
        cfg.geolocation = geo::parse_geolocation(&ctx, v)?;
    }
    if let Some(v) = local.get("device_detection") {
        cfg.device_detection = geo::parse_device_detection(&ctx, v)?;
    }
    if let Some(v) = local.get("acls") {
        cfg.acls = acls::parse(&ctx, v)?;
    }
    Ok(out)
}

/// Where a section is being read: the file for errors and the folder that
/// relative paths start from.
pub(super) struct Ctx<'a> {
    pub file: &'a Path,
    pub base: &'a Path,
}

impl Ctx<'_> {
    pub fn err(&self, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::new(self.file, key, message)
    }

    pub fn table<'v>(
        &self,
        key: &str,
        value: &'v toml::Value,
    ) -> Result<&'v toml::Table, ConfigError> {
        value
            .as_table()
            .ok_or_else(|| self.err(key, format!("must be a table, found {}", value.type_str())))
    }

    pub fn string<'v>(&self, key: &str, value: &'v toml::Value) -> Result<&'v str, ConfigError> {
        value
            .as_str()
            .ok_or_else(|| self.err(key, format!("must be a string, found {}", value.type_str())))
    }

    pub fn read(&self, key: &str, name: &str) -> Result<(PathBuf, String), ConfigError> {
        super::read_relative(self.base, self.file, key, name)
    }
}

pub(super) fn warn_unknown(
    file: &Path,
    prefix: &str,
    table: &toml::Table,
    known: &[&str],
    warnings: &mut Vec<String>,
) {
    for key in table.keys() {
        if !known.contains(&key.as_str()) {
            warnings.push(format!(
                "{}: {prefix}{key}: unknown key, ignored (known keys: {})",
                file.display(),
                known.join(", ")
            ));
        }
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}
