//! KV stores kept in redb: one table per store, values with metadata, a
//! generation per key and an optional expiry. `serve` keeps them in memory
//! (seeded from `fastly.toml` on each start, as Fastly's local tools do);
//! the edge keeps them in a file on the xqd volume.

use crate::config::KvStoreConfig;
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Largest key the ABI accepts.
pub const MAX_KEY_LEN: usize = 1024;

/// A failed KV operation, in the ABI's `KvError` terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[repr(u32)]
pub enum KvError {
    /// Bad key or arguments.
    #[error("bad request")]
    BadRequest = 2,
    /// No such key.
    #[error("not found")]
    NotFound = 3,
    /// `add` on an existing key, or a generation that does not match.
    #[error("precondition failed")]
    PreconditionFailed = 4,
    /// Storage failed.
    #[error("internal error")]
    InternalError = 6,
}

/// A stored value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KvValue {
    /// The bytes.
    pub data: Vec<u8>,
    /// Metadata set on insert.
    pub metadata: Vec<u8>,
    /// Incremented on every write of the key.
    pub generation: u64,
}

/// How an insert combines with an existing value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InsertMode {
    /// Replace.
    #[default]
    Overwrite,
    /// Only when the key does not exist.
    Add,
    /// Existing value then new bytes.
    Append,
    /// New bytes then existing value.
    Prepend,
}

/// Options of an insert.
#[derive(Debug, Clone, Default)]
pub struct InsertOptions {
    /// How to combine.
    pub mode: InsertMode,
    /// New metadata.
    pub metadata: Option<Vec<u8>>,
    /// Expire after this long.
    pub ttl: Option<Duration>,
    /// Only when the current generation is this.
    pub if_generation_match: Option<u64>,
}

/// One page of keys.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct KvListPage {
    /// Keys, in order.
    pub data: Vec<String>,
    /// Paging.
    pub meta: KvListMeta,
}

/// Paging facts of a [`KvListPage`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct KvListMeta {
    /// The page size asked for.
    pub limit: u32,
    /// The prefix asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Pass back to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The KV stores of one service.
pub struct KvStores {
    db: redb::Database,
}

impl std::fmt::Debug for KvStores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KvStores")
    }
}

fn table(name: &str) -> TableDefinition<'_, &'static str, &'static [u8]> {
    TableDefinition::new(name)
}

fn table_name(store: &str) -> String {
    format!("kv/{store}")
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Record layout: generation (8) | expires at, ms since the epoch, 0 = never (8) |
/// metadata length (4) | metadata | data.
fn encode(value: &KvValue, expires_ms: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(20 + value.metadata.len() + value.data.len());
    out.extend_from_slice(&value.generation.to_le_bytes());
    out.extend_from_slice(&expires_ms.to_le_bytes());
    out.extend_from_slice(&(value.metadata.len() as u32).to_le_bytes());
    out.extend_from_slice(&value.metadata);
    out.extend_from_slice(&value.data);
    out
}

fn decode(raw: &[u8]) -> Option<(KvValue, u64)> {
    let generation = u64::from_le_bytes(raw.get(0..8)?.try_into().ok()?);
    let expires = u64::from_le_bytes(raw.get(8..16)?.try_into().ok()?);
    let meta_len = u32::from_le_bytes(raw.get(16..20)?.try_into().ok()?) as usize;
    let metadata = raw.get(20..20 + meta_len)?.to_vec();
    let data = raw.get(20 + meta_len..)?.to_vec();
    Some((
        KvValue {
            data,
            metadata,
            generation,
        },
        expires,
    ))
}

fn live(expires: u64) -> bool {
    expires == 0 || expires > now_ms()
}

fn internal(e: impl std::fmt::Display) -> KvError {
    tracing::error!(error = %e, "KV store");
    KvError::InternalError
}

impl KvStores {
    /// Stores kept in memory for this process only.
    pub fn in_memory() -> Result<Self, redb::Error> {
        let db =
            redb::Database::builder().create_with_backend(redb::backends::InMemoryBackend::new())?;
        Ok(KvStores { db })
    }

    /// Stores kept in the redb file at `path`.
    pub fn open(path: &Path) -> Result<Self, redb::Error> {
        Ok(KvStores {
            db: redb::Database::create(path)?,
        })
    }

    /// Creates `names` and writes their initial entries (existing keys are
    /// overwritten with the configured value).
    pub fn seed(&self, stores: &BTreeMap<String, KvStoreConfig>) -> Result<(), redb::Error> {
        let tx = self.db.begin_write()?;
        for (name, cfg) in stores {
            let tname = table_name(name);
            let mut t = tx.open_table(table(&tname))?;
            for (key, entry) in &cfg.entries {
                let value = KvValue {
                    data: entry.data.clone(),
                    metadata: entry.metadata.clone().unwrap_or_default().into_bytes(),
                    generation: 1,
                };
                t.insert(key.as_str(), encode(&value, 0).as_slice())?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// True when a store called `name` exists.
    pub fn exists(&self, name: &str) -> bool {
        let Ok(tx) = self.db.begin_read() else {
            return false;
        };
        tx.open_table(table(&table_name(name))).is_ok()
    }

    /// The value of `key`, if it exists and has not expired.
    pub fn lookup(&self, store: &str, key: &str) -> Result<Option<KvValue>, KvError> {
        check_key(key)?;
        let tx = self.db.begin_read().map_err(internal)?;
        let tname = table_name(store);
        let t = tx.open_table(table(&tname)).map_err(internal)?;
        let Some(raw) = t.get(key).map_err(internal)? else {
            return Ok(None);
        };
        Ok(decode(raw.value())
            .filter(|(_, exp)| live(*exp))
            .map(|(v, _)| v))
    }

    /// Writes `data` under `key` as `options` say. Blocks on the disk: call
    /// it from a blocking thread.
    pub fn insert(
        &self,
        store: &str,
        key: &str,
        data: Vec<u8>,
        options: &InsertOptions,
    ) -> Result<u64, KvError> {
        check_key(key)?;
        let tx = self.db.begin_write().map_err(internal)?;
        let generation;
        {
            let tname = table_name(store);
            let mut t = tx.open_table(table(&tname)).map_err(internal)?;
            let current = t
                .get(key)
                .map_err(internal)?
                .and_then(|raw| decode(raw.value()))
                .filter(|(_, exp)| live(*exp))
                .map(|(v, _)| v);
            if let Some(want) = options.if_generation_match
                && current.as_ref().map(|c| c.generation) != Some(want)
            {
                return Err(KvError::PreconditionFailed);
            }
            let data = match (options.mode, &current) {
                (InsertMode::Add, Some(_)) => return Err(KvError::PreconditionFailed),
                (InsertMode::Append, Some(c)) => [c.data.as_slice(), &data].concat(),
                (InsertMode::Prepend, Some(c)) => [data.as_slice(), &c.data].concat(),
                _ => data,
            };
            generation = current.as_ref().map_or(1, |c| c.generation + 1);
            let metadata = options
                .metadata
                .clone()
                .or_else(|| current.map(|c| c.metadata))
                .unwrap_or_default();
            let expires = options
                .ttl
                .map_or(0, |ttl| now_ms() + ttl.as_millis() as u64);
            let value = KvValue {
                data,
                metadata,
                generation,
            };
            t.insert(key, encode(&value, expires).as_slice())
                .map_err(internal)?;
        }
        tx.commit().map_err(internal)?;
        Ok(generation)
    }

    /// Deletes `key`. Deleting a missing key is `NotFound`.
    pub fn delete(&self, store: &str, key: &str) -> Result<(), KvError> {
        check_key(key)?;
        let tx = self.db.begin_write().map_err(internal)?;
        let removed = {
            let tname = table_name(store);
            let mut t = tx.open_table(table(&tname)).map_err(internal)?;
            t.remove(key).map_err(internal)?.is_some()
        };
        tx.commit().map_err(internal)?;
        if removed {
            Ok(())
        } else {
            Err(KvError::NotFound)
        }
    }

    /// Keys in order, after `cursor`, starting with `prefix`, at most
    /// `limit` (default 100, at most 1000).
    pub fn list(
        &self,
        store: &str,
        prefix: Option<&str>,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<KvListPage, KvError> {
        let limit = if limit == 0 { 100 } else { limit.min(1000) };
        let tx = self.db.begin_read().map_err(internal)?;
        let tname = table_name(store);
        let t = tx.open_table(table(&tname)).map_err(internal)?;
        let start = cursor.or(prefix).unwrap_or("");
        let mut keys = Vec::new();
        let mut more = false;
        for item in t.range(start..).map_err(internal)? {
            let (k, v) = item.map_err(internal)?;
            let key = k.value();
            if Some(key) == cursor {
                continue;
            }
            if let Some(p) = prefix
                && !key.starts_with(p)
            {
                break;
            }
            if !decode(v.value()).is_some_and(|(_, exp)| live(exp)) {
                continue;
            }
            if keys.len() == limit as usize {
                more = true;
                break;
            }
            keys.push(key.to_owned());
        }
        let next_cursor = if more { keys.last().cloned() } else { None };
        Ok(KvListPage {
            data: keys,
            meta: KvListMeta {
                limit,
                prefix: prefix.map(str::to_owned),
                next_cursor,
            },
        })
    }
}

fn check_key(key: &str) -> Result<(), KvError> {
    let bad = key.is_empty()
        || key.len() > MAX_KEY_LEN
        || key == "."
        || key == ".."
        || key.starts_with(".well-known/acme-challenge/")
        || key
            .chars()
            .any(|c| matches!(c, '\r' | '\n' | '#' | ';' | '?' | '^' | '|') || c.is_control());
    if bad {
        Err(KvError::BadRequest)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KvEntry;

    fn stores() -> KvStores {
        let kv = KvStores::in_memory().unwrap();
        let mut cfg = KvStoreConfig::default();
        cfg.entries.insert(
            "a".into(),
            KvEntry {
                data: b"1".to_vec(),
                metadata: Some("m".into()),
            },
        );
        kv.seed(&BTreeMap::from([("s".to_string(), cfg)])).unwrap();
        kv
    }

    #[test]
    fn modes_generations_and_metadata() {
        let kv = stores();
        let a = kv.lookup("s", "a").unwrap().unwrap();
        assert_eq!(
            (a.data.as_slice(), a.metadata.as_slice(), a.generation),
            (&b"1"[..], &b"m"[..], 1)
        );
        let add = InsertOptions {
            mode: InsertMode::Add,
            ..Default::default()
        };
        assert_eq!(
            kv.insert("s", "a", b"x".to_vec(), &add),
            Err(KvError::PreconditionFailed)
        );
        let append = InsertOptions {
            mode: InsertMode::Append,
            ..Default::default()
        };
        assert_eq!(kv.insert("s", "a", b"2".to_vec(), &append), Ok(2));
        let prepend = InsertOptions {
            mode: InsertMode::Prepend,
            if_generation_match: Some(2),
            ..Default::default()
        };
        assert_eq!(kv.insert("s", "a", b"0".to_vec(), &prepend), Ok(3));
        assert_eq!(kv.lookup("s", "a").unwrap().unwrap().data, b"012");
        let stale = InsertOptions {
            if_generation_match: Some(1),
            ..Default::default()
        };
        assert_eq!(
            kv.insert("s", "a", b"z".to_vec(), &stale),
            Err(KvError::PreconditionFailed)
        );
        assert_eq!(
            kv.insert("s", "bad\nkey", vec![], &InsertOptions::default()),
            Err(KvError::BadRequest)
        );
    }

    #[test]
    fn list_pages_with_prefix_and_cursor() {
        let kv = stores();
        for k in ["p1", "p2", "p3", "q1"] {
            kv.insert("s", k, b"v".to_vec(), &InsertOptions::default())
                .unwrap();
        }
        let page = kv.list("s", Some("p"), None, 2).unwrap();
        assert_eq!(page.data, ["p1", "p2"]);
        assert_eq!(page.meta.next_cursor.as_deref(), Some("p2"));
        let page = kv.list("s", Some("p"), Some("p2"), 2).unwrap();
        assert_eq!(page.data, ["p3"]);
        assert_eq!(page.meta.next_cursor, None);
        kv.delete("s", "p1").unwrap();
        assert_eq!(kv.delete("s", "p1"), Err(KvError::NotFound));
        assert_eq!(
            kv.list("s", None, None, 0).unwrap().data,
            ["a", "p2", "p3", "q1"]
        );
    }

    #[test]
    fn expired_values_are_gone() {
        let kv = stores();
        let ttl = InsertOptions {
            ttl: Some(Duration::from_millis(1)),
            ..Default::default()
        };
        kv.insert("s", "t", b"v".to_vec(), &ttl).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(kv.lookup("s", "t").unwrap(), None);
    }
}
