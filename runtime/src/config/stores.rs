//! `config_stores` / `dictionaries`, `kv_stores` and `secret_stores`.

use super::ConfigError;
use super::fastly_toml::Ctx;
use std::collections::BTreeMap;

/// One initial entry of a KV store.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KvEntry {
    /// The value.
    pub data: Vec<u8>,
    /// Metadata returned with lookups.
    pub metadata: Option<String>,
}

/// A KV store's initial contents.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KvStoreConfig {
    /// Entries by key.
    pub entries: BTreeMap<String, KvEntry>,
}

/// A secret store: names to plaintext.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SecretStoreConfig {
    /// Secrets by name.
    pub secrets: BTreeMap<String, Vec<u8>>,
}

fn format_of<'a>(
    ctx: &Ctx<'_>,
    key: &str,
    table: &'a toml::Table,
) -> Result<Option<&'a str>, ConfigError> {
    table
        .get("format")
        .map(|f| ctx.string(&format!("{key}.format"), f))
        .transpose()
}

/// Reads a JSON object file named by `file` into string entries.
fn json_file(
    ctx: &Ctx<'_>,
    key: &str,
    table: &toml::Table,
) -> Result<serde_json::Map<String, serde_json::Value>, ConfigError> {
    let file = table
        .get("file")
        .ok_or_else(|| ctx.err(key, "format \"json\" needs `file = \"path.json\"`"))?;
    let (path, text) = ctx.read(
        &format!("{key}.file"),
        ctx.string(&format!("{key}.file"), file)?,
    )?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        ConfigError::new(
            &path,
            format!("line {}, column {}", e.line(), e.column()),
            format!("{e}; the file must hold a JSON object"),
        )
    })?;
    match value {
        serde_json::Value::Object(map) => Ok(map),
        _ => Err(ConfigError::new(
            &path,
            "(top)",
            "must be a JSON object of key → value",
        )),
    }
}

pub(super) fn parse_config_stores(
    ctx: &Ctx<'_>,
    section: &str,
    value: &toml::Value,
) -> Result<BTreeMap<String, BTreeMap<String, String>>, ConfigError> {
    let mut out = BTreeMap::new();
    for (name, store) in ctx.table(&format!("local_server.{section}"), value)? {
        let key = format!("local_server.{section}.{name}");
        let table = ctx.table(&key, store)?;
        let mut items = BTreeMap::new();
        match format_of(ctx, &key, table)? {
            Some("json") => {
                for (k, v) in json_file(ctx, &key, table)? {
                    let v = v.as_str().ok_or_else(|| {
                        ctx.err(
                            format!("{key}.file"),
                            format!("entry `{k}` must be a string"),
                        )
                    })?;
                    items.insert(k, v.to_owned());
                }
            }
            Some("inline-toml") | None => {
                if let Some(contents) = table.get("contents") {
                    for (k, v) in ctx.table(&format!("{key}.contents"), contents)? {
                        items.insert(
                            k.clone(),
                            ctx.string(&format!("{key}.contents.{k}"), v)?.to_owned(),
                        );
                    }
                }
            }
            Some(other) => {
                return Err(ctx.err(
                    format!("{key}.format"),
                    format!("`{other}` is not a format; use \"inline-toml\" or \"json\""),
                ));
            }
        }
        out.insert(name.clone(), items);
    }
    Ok(out)
}

pub(super) fn parse_kv_stores(
    ctx: &Ctx<'_>,
    section: &str,
    value: &toml::Value,
) -> Result<BTreeMap<String, KvStoreConfig>, ConfigError> {
    let stores = parse_entry_stores::<KvEntry>(ctx, &format!("local_server.{section}"), value)?;
    Ok(stores
        .into_iter()
        .map(|(name, entries)| (name, KvStoreConfig { entries }))
        .collect())
}

pub(super) fn parse_secret_stores(
    ctx: &Ctx<'_>,
    value: &toml::Value,
) -> Result<BTreeMap<String, SecretStoreConfig>, ConfigError> {
    let stores = parse_entry_stores::<Vec<u8>>(ctx, "local_server.secret_stores", value)?;
    Ok(stores
        .into_iter()
        .map(|(name, secrets)| (name, SecretStoreConfig { secrets }))
        .collect())
}

/// What KV and secret stores read differently. Everything else, the
/// array-of-entries and JSON-file forms, their keys and their error
/// messages, is shared by [`parse_entry_stores`] so that the two cannot
/// drift apart.
trait StoreEntry: Sized {
    /// An entry may name its file with `path` as well as `file` (KV
    /// stores only).
    const PATH_ALIAS: bool;
    /// An entry may take its bytes from `env = "VAR"` (secret stores).
    const ENV: bool;
    /// The error when an entry names not exactly one source of bytes.
    const EXACTLY_ONE: &'static str;
    /// The fix when a store is a table but not a JSON file.
    const SHAPES: &'static str;

    /// The entry of array item `t` (at `ekey`) whose bytes are `data`.
    fn from_item(
        ctx: &Ctx<'_>,
        ekey: &str,
        t: &toml::Table,
        data: Vec<u8>,
    ) -> Result<Self, ConfigError>;

    /// The entry of value `v` under `k` in the JSON file of store `key`.
    fn from_json(
        ctx: &Ctx<'_>,
        key: &str,
        k: &str,
        v: serde_json::Value,
    ) -> Result<Self, ConfigError>;
}

impl StoreEntry for KvEntry {
    const PATH_ALIAS: bool = true;
    const ENV: bool = false;
    const EXACTLY_ONE: &'static str = "needs exactly one of `data` or `file`";
    const SHAPES: &'static str = "give an array of { key, data | file, metadata } or { file = \"x.json\", format = \"json\" }";

    fn from_item(
        ctx: &Ctx<'_>,
        ekey: &str,
        t: &toml::Table,
        data: Vec<u8>,
    ) -> Result<Self, ConfigError> {
        let metadata = t
            .get("metadata")
            .map(|m| {
                ctx.string(&format!("{ekey}.metadata"), m)
                    .map(str::to_owned)
            })
            .transpose()?;
        Ok(KvEntry { data, metadata })
    }

    fn from_json(
        ctx: &Ctx<'_>,
        key: &str,
        k: &str,
        v: serde_json::Value,
    ) -> Result<Self, ConfigError> {
        match v {
            serde_json::Value::String(s) => Ok(KvEntry {
                data: s.into_bytes(),
                metadata: None,
            }),
            serde_json::Value::Object(o) => Ok(KvEntry {
                data: o
                    .get("data")
                    .and_then(|d| d.as_str())
                    .unwrap_or_default()
                    .as_bytes()
                    .to_vec(),
                metadata: o
                    .get("metadata")
                    .and_then(|m| m.as_str())
                    .map(str::to_owned),
            }),
            _ => Err(ctx.err(
                format!("{key}.file"),
                format!("entry `{k}` must be a string or {{\"data\", \"metadata\"}}"),
            )),
        }
    }
}

/// A secret is its plaintext.
impl StoreEntry for Vec<u8> {
    const PATH_ALIAS: bool = false;
    const ENV: bool = true;
    const EXACTLY_ONE: &'static str = "needs exactly one of `data`, `file` or `env`";
    const SHAPES: &'static str =
        "give an array of { key, data | file | env } or { file = \"x.json\", format = \"json\" }";

    fn from_item(
        _ctx: &Ctx<'_>,
        _ekey: &str,
        _t: &toml::Table,
        data: Vec<u8>,
    ) -> Result<Self, ConfigError> {
        Ok(data)
    }

    fn from_json(
        ctx: &Ctx<'_>,
        key: &str,
        k: &str,
        v: serde_json::Value,
    ) -> Result<Self, ConfigError> {
        v.as_str().map(|s| s.as_bytes().to_vec()).ok_or_else(|| {
            ctx.err(
                format!("{key}.file"),
                format!("secret `{k}` must be a string"),
            )
        })
    }
}

/// Stores of entries under `section` (`local_server.kv_stores`, …): each is
/// an array of `{ key, data | file | … }` or `{ file, format = "json" }`.
fn parse_entry_stores<E: StoreEntry>(
    ctx: &Ctx<'_>,
    section: &str,
    value: &toml::Value,
) -> Result<BTreeMap<String, BTreeMap<String, E>>, ConfigError> {
    let mut out = BTreeMap::new();
    for (name, store) in ctx.table(section, value)? {
        let key = format!("{section}.{name}");
        let entries = match store {
            toml::Value::Array(items) => array_entries(ctx, &key, items)?,
            toml::Value::Table(t) => match format_of(ctx, &key, t)? {
                Some("json") => json_entries(ctx, &key, t)?,
                _ => return Err(ctx.err(&key, E::SHAPES)),
            },
            other => {
                return Err(ctx.err(
                    &key,
                    format!("must be an array or a table, found {}", other.type_str()),
                ));
            }
        };
        out.insert(name.clone(), entries);
    }
    Ok(out)
}

/// The entries of store `key` given as an array of tables.
fn array_entries<E: StoreEntry>(
    ctx: &Ctx<'_>,
    key: &str,
    items: &[toml::Value],
) -> Result<BTreeMap<String, E>, ConfigError> {
    let mut entries = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        let ekey = format!("{key}[{i}]");
        let t = ctx.table(&ekey, item)?;
        let k = t
            .get("key")
            .ok_or_else(|| ctx.err(&ekey, "has no `key`"))
            .and_then(|v| ctx.string(&format!("{ekey}.key"), v))?;
        let data = item_bytes::<E>(ctx, &ekey, t)?;
        entries.insert(k.to_owned(), E::from_item(ctx, &ekey, t, data)?);
    }
    Ok(entries)
}

/// The bytes of array item `t`: inline `data`, a `file` relative to
/// fastly.toml, or (where `E` allows it) an environment variable.
fn item_bytes<E: StoreEntry>(
    ctx: &Ctx<'_>,
    ekey: &str,
    t: &toml::Table,
) -> Result<Vec<u8>, ConfigError> {
    let file = t
        .get("file")
        .or_else(|| t.get("path").filter(|_| E::PATH_ALIAS));
    let env = t.get("env").filter(|_| E::ENV);
    match (t.get("data"), file, env) {
        (Some(d), None, None) => Ok(ctx.string(&format!("{ekey}.data"), d)?.as_bytes().to_vec()),
        (None, Some(f), None) => {
            let path = ctx.base.join(ctx.string(&format!("{ekey}.file"), f)?);
            std::fs::read(&path).map_err(|e| {
                ctx.err(
                    format!("{ekey}.file"),
                    format!("cannot read {}: {e}", path.display()),
                )
            })
        }
        (None, None, Some(e)) => {
            let var = ctx.string(&format!("{ekey}.env"), e)?;
            std::env::var(var).map(String::into_bytes).map_err(|_| {
                ctx.err(
                    format!("{ekey}.env"),
                    format!("environment variable {var} is not set"),
                )
            })
        }
        _ => Err(ctx.err(ekey, E::EXACTLY_ONE)),
    }
}

/// The entries of store `key` given as `{ file = "x.json", format = "json" }`.
fn json_entries<E: StoreEntry>(
    ctx: &Ctx<'_>,
    key: &str,
    t: &toml::Table,
) -> Result<BTreeMap<String, E>, ConfigError> {
    let mut entries = BTreeMap::new();
    for (k, v) in json_file(ctx, key, t)? {
        let entry = E::from_json(ctx, key, &k, v)?;
        entries.insert(k, entry);
    }
    Ok(entries)
}
