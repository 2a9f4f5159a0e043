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
    let mut out = BTreeMap::new();
    for (name, store) in ctx.table(&format!("local_server.{section}"), value)? {
        let key = format!("local_server.{section}.{name}");
        let mut cfg = KvStoreConfig::default();
        match store {
            toml::Value::Array(entries) => {
                for (i, entry) in entries.iter().enumerate() {
                    let ekey = format!("{key}[{i}]");
                    let t = ctx.table(&ekey, entry)?;
                    let k = t
                        .get("key")
                        .ok_or_else(|| ctx.err(&ekey, "has no `key`"))
                        .and_then(|v| ctx.string(&format!("{ekey}.key"), v))?;
                    let data = match (t.get("data"), t.get("file").or_else(|| t.get("path"))) {
                        (Some(d), None) => ctx.string(&format!("{ekey}.data"), d)?.as_bytes().to_vec(),
                        (None, Some(f)) => {
                            let path = ctx.base.join(ctx.string(&format!("{ekey}.file"), f)?);
                            std::fs::read(&path).map_err(|e| ctx.err(format!("{ekey}.file"), format!("cannot read {}: {e}", path.display())))?
                        }
                        _ => return Err(ctx.err(&ekey, "needs exactly one of `data` or `file`")),
                    };
                    let metadata = t
                        .get("metadata")
                        .map(|m| ctx.string(&format!("{ekey}.metadata"), m).map(str::to_owned))
                        .transpose()?;
                    cfg.entries.insert(k.to_owned(), KvEntry { data, metadata });
                }
            }
            toml::Value::Table(t) => match format_of(ctx, &key, t)? {
                Some("json") => {
                    for (k, v) in json_file(ctx, &key, t)? {
                        let entry = match v {
                            serde_json::Value::String(s) => KvEntry { data: s.into_bytes(), metadata: None },
                            serde_json::Value::Object(o) => KvEntry {
                                data: o.get("data").and_then(|d| d.as_str()).unwrap_or_default().as_bytes().to_vec(),
                                metadata: o.get("metadata").and_then(|m| m.as_str()).map(str::to_owned),
                            },
                            _ => return Err(ctx.err(format!("{key}.file"), format!("entry `{k}` must be a string or {{\"data\", \"metadata\"}}"))),
                        };
                        cfg.entries.insert(k, entry);
                    }
                }
                _ => return Err(ctx.err(&key, "give an array of { key, data | file, metadata } or { file = \"x.json\", format = \"json\" }")),
            },
            other => return Err(ctx.err(&key, format!("must be an array or a table, found {}", other.type_str()))),
        }
        out.insert(name.clone(), cfg);
    }
    Ok(out)
}

pub(super) fn parse_secret_stores(
    ctx: &Ctx<'_>,
    value: &toml::Value,
) -> Result<BTreeMap<String, SecretStoreConfig>, ConfigError> {
    let mut out = BTreeMap::new();
    for (name, store) in ctx.table("local_server.secret_stores", value)? {
        let key = format!("local_server.secret_stores.{name}");
        let mut cfg = SecretStoreConfig::default();
        match store {
            toml::Value::Array(entries) => {
                for (i, entry) in entries.iter().enumerate() {
                    let ekey = format!("{key}[{i}]");
                    let t = ctx.table(&ekey, entry)?;
                    let k = t
                        .get("key")
                        .ok_or_else(|| ctx.err(&ekey, "has no `key`"))
                        .and_then(|v| ctx.string(&format!("{ekey}.key"), v))?;
                    let data = match (t.get("data"), t.get("file"), t.get("env")) {
                        (Some(d), None, None) => ctx.string(&format!("{ekey}.data"), d)?.as_bytes().to_vec(),
                        (None, Some(f), None) => {
                            let path = ctx.base.join(ctx.string(&format!("{ekey}.file"), f)?);
                            std::fs::read(&path).map_err(|e| ctx.err(format!("{ekey}.file"), format!("cannot read {}: {e}", path.display())))?
                        }
                        (None, None, Some(e)) => {
                            let var = ctx.string(&format!("{ekey}.env"), e)?;
                            std::env::var(var)
                                .map_err(|_| ctx.err(format!("{ekey}.env"), format!("environment variable {var} is not set")))?
                                .into_bytes()
                        }
                        _ => return Err(ctx.err(&ekey, "needs exactly one of `data`, `file` or `env`")),
                    };
                    cfg.secrets.insert(k.to_owned(), data);
                }
            }
            toml::Value::Table(t) => match format_of(ctx, &key, t)? {
                Some("json") => {
                    for (k, v) in json_file(ctx, &key, t)? {
                        let s = v
                            .as_str()
                            .ok_or_else(|| ctx.err(format!("{key}.file"), format!("secret `{k}` must be a string")))?;
                        cfg.secrets.insert(k, s.as_bytes().to_vec());
                    }
                }
                _ => return Err(ctx.err(&key, "give an array of { key, data | file | env } or { file = \"x.json\", format = \"json\" }")),
            },
            other => return Err(ctx.err(&key, format!("must be an array or a table, found {}", other.type_str()))),
        }
        out.insert(name.clone(), cfg);
    }
    Ok(out)
}
