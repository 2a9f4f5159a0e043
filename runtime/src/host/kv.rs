//! KV stores kept in redb: one table per store, values with metadata, a
//! generation per key and an optional expiry. `serve` keeps them in memory
//! (seeded from `fastly.toml` on each start, as Fastly's local tools do);
//! the edge keeps them in a file on the xqd volume, which it shares with
//! the packages: so every store is bounded ([`KvLimits`]: value, metadata,
//! and the bytes of the whole store, kept in a stats table updated in the
//! same transaction as each write), and expired entries are removed as
//! inserts come (an index by expiry), not kept for ever.

use super::HostLimit;
use crate::config::KvStoreConfig;
use crate::limits::Limits;
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Largest key the ABI accepts.
pub const MAX_KEY_LEN: usize = 1024;

/// A failed KV operation, in the ABI's `KvError` terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    /// Bad key or arguments.
    #[error("bad request")]
    BadRequest,
    /// No such key.
    #[error("not found")]
    NotFound,
    /// `add` on an existing key, or a generation that does not match.
    #[error("precondition failed")]
    PreconditionFailed,
    /// The value, its metadata, or the store would be over its limit.
    #[error("payload too large: {0}")]
    TooLarge(HostLimit),
    /// Storage failed.
    #[error("internal error")]
    InternalError,
}

impl KvError {
    /// The ABI's `kv_error` code.
    pub fn code(self) -> u32 {
        match self {
            KvError::BadRequest => 2,
            KvError::NotFound => 3,
            KvError::PreconditionFailed => 4,
            KvError::TooLarge(_) => 5,
            KvError::InternalError => 6,
        }
    }
}

/// How large a value, its metadata and a whole store may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvLimits {
    /// `limits.kvValueSize`.
    pub value_bytes: usize,
    /// `limits.kvMetadataSize`.
    pub metadata_bytes: usize,
    /// `limits.kvStoreSize`: keys, values and metadata of one store.
    pub store_bytes: u64,
}

impl From<&Limits> for KvLimits {
    fn from(l: &Limits) -> Self {
        KvLimits {
            value_bytes: usize::try_from(l.kv_value_bytes).unwrap_or(usize::MAX),
            metadata_bytes: l.kv_metadata_bytes,
            store_bytes: l.kv_store_bytes,
        }
    }
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

/// A store's entries by expiry (ms since the epoch, key).
fn expiry_table(name: &str) -> TableDefinition<'_, (u64, &'static str), ()> {
    TableDefinition::new(name)
}

fn expiry_table_name(store: &str) -> String {
    format!("kv-expiry/{store}")
}

/// Bytes each store holds (keys, values and metadata), by store name.
const STORE_BYTES: TableDefinition<'static, &'static str, u64> =
    TableDefinition::new("kv-stats/bytes");

/// Expired entries an insert removes on its way (all of them, up to
/// [`SWEEP_WHEN_FULL`], when the store is full).
const SWEEP_PER_INSERT: usize = 16;
const SWEEP_WHEN_FULL: usize = 10_000;

/// Bytes of the record header before the metadata.
const RECORD_HEADER: usize = 20;

/// What an entry counts towards its store: key, metadata and value.
fn entry_bytes(key: &str, record_len: usize) -> u64 {
    (key.len() + record_len.saturating_sub(RECORD_HEADER)) as u64
}

/// The expiry of a stored record.
fn record_expiry(raw: &[u8]) -> u64 {
    raw.get(8..16)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

/// One store's tables inside a write transaction, keeping its byte count
/// and expiry index in step with every write.
struct StoreWriter<'t> {
    store: String,
    records: redb::Table<'t, &'static str, &'static [u8]>,
    expiry: redb::Table<'t, (u64, &'static str), ()>,
    stats: redb::Table<'t, &'static str, u64>,
    bytes: u64,
}

impl<'t> StoreWriter<'t> {
    /// Opens `store`'s tables; a store without a byte count yet (a
    /// database from before counting) is counted, and its expiry index
    /// built, once.
    fn open(tx: &'t redb::WriteTransaction, store: &str) -> Result<Self, redb::Error> {
        let tname = table_name(store);
        let ename = expiry_table_name(store);
        let records = tx.open_table(table(&tname))?;
        let mut expiry = tx.open_table(expiry_table(&ename))?;
        let stats = tx.open_table(STORE_BYTES)?;
        let counted = stats.get(store)?.map(|v| v.value());
        let bytes = match counted {
            Some(b) => b,
            None => {
                let mut bytes = 0;
                for item in records.iter()? {
                    let (k, v) = item?;
                    bytes += entry_bytes(k.value(), v.value().len());
                    let expires = record_expiry(v.value());
                    if expires != 0 {
                        expiry.insert((expires, k.value()), ())?;
                    }
                }
                bytes
            }
        };
        Ok(StoreWriter {
            store: store.to_owned(),
            records,
            expiry,
            stats,
            bytes,
        })
    }

    /// What `key` counts towards the store now (expired or not), and its
    /// value if it has not expired by `now`.
    fn read(&self, key: &str, now: u64) -> Result<(u64, Option<KvValue>), redb::Error> {
        let Some(raw) = self.records.get(key)? else {
            return Ok((0, None));
        };
        let raw = raw.value();
        let value = decode(raw)
            .filter(|(_, exp)| *exp == 0 || *exp > now)
            .map(|(v, _)| v);
        Ok((entry_bytes(key, raw.len()), value))
    }

    /// Removes `key`'s record, whatever its expiry; its value and expiry
    /// when there was one.
    fn remove(&mut self, key: &str) -> Result<Option<(KvValue, u64)>, redb::Error> {
        let Some(raw) = self.records.remove(key)? else {
            return Ok(None);
        };
        let raw = raw.value().to_vec();
        self.bytes = self.bytes.saturating_sub(entry_bytes(key, raw.len()));
        let expires = record_expiry(&raw);
        if expires != 0 {
            self.expiry.remove((expires, key))?;
        }
        Ok(decode(&raw))
    }

    /// Writes `key`, replacing what was there.
    fn put(&mut self, key: &str, value: &KvValue, expires: u64) -> Result<(), redb::Error> {
        self.remove(key)?;
        let record = encode(value, expires);
        self.records.insert(key, record.as_slice())?;
        self.bytes += entry_bytes(key, record.len());
        if expires != 0 {
            self.expiry.insert((expires, key), ())?;
        }
        Ok(())
    }

    /// Removes up to `max` entries that expired by `now`.
    fn sweep(&mut self, now: u64, max: usize) -> Result<(), redb::Error> {
        let mut gone = Vec::new();
        for item in self
            .expiry
            .range::<(u64, &str)>(..(now.saturating_add(1), ""))?
        {
            if gone.len() == max {
                break;
            }
            let (k, _) = item?;
            let (expires, key) = k.value();
            gone.push((expires, key.to_owned()));
        }
        for (expires, key) in gone {
            let record = self
                .records
                .get(key.as_str())?
                .map(|r| record_expiry(r.value()));
            if record == Some(expires) {
                self.remove(&key)?;
            } else {
                // An index row the record no longer matches.
                self.expiry.remove((expires, key.as_str()))?;
            }
        }
        Ok(())
    }

    /// Records the byte count; the caller commits.
    fn finish(mut self) -> Result<(), redb::Error> {
        self.stats.insert(self.store.as_str(), self.bytes)?;
        Ok(())
    }
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
            let mut w = StoreWriter::open(&tx, name)?;
            for (key, entry) in &cfg.entries {
                let value = KvValue {
                    data: entry.data.clone(),
                    metadata: entry.metadata.clone().unwrap_or_default().into_bytes(),
                    generation: 1,
                };
                w.put(key, &value, 0)?;
            }
            w.finish()?;
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

    /// Bytes store `name` holds: keys, values and metadata, expired
    /// entries included until they are removed.
    pub fn store_bytes(&self, name: &str) -> Result<u64, KvError> {
        let tx = self.db.begin_read().map_err(internal)?;
        match tx.open_table(STORE_BYTES) {
            Ok(stats) => {
                if let Some(b) = stats.get(name).map_err(internal)? {
                    return Ok(b.value());
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(internal(e)),
        }
        // Not counted yet (a database from before counting): count now.
        let t = tx.open_table(table(&table_name(name))).map_err(internal)?;
        let mut bytes = 0;
        for item in t.iter().map_err(internal)? {
            let (k, v) = item.map_err(internal)?;
            bytes += entry_bytes(k.value(), v.value().len());
        }
        Ok(bytes)
    }

    /// Writes `data` under `key` as `options` say, within `limits`: a value
    /// (after an append or prepend) or metadata over its limit, or a store
    /// that would grow past its size, is `TooLarge` and nothing is
    /// written. Blocks on the disk: call it from a blocking thread.
    pub fn insert(
        &self,
        store: &str,
        key: &str,
        data: Vec<u8>,
        options: &InsertOptions,
        limits: &KvLimits,
    ) -> Result<u64, KvError> {
        check_key(key)?;
        if options
            .metadata
            .as_ref()
            .is_some_and(|m| m.len() > limits.metadata_bytes)
        {
            return Err(KvError::TooLarge(HostLimit::KvMetadataSize));
        }
        if data.len() > limits.value_bytes {
            return Err(KvError::TooLarge(HostLimit::KvValueSize));
        }
        let tx = self.db.begin_write().map_err(internal)?;
        let generation;
        {
            let mut w = StoreWriter::open(&tx, store).map_err(internal)?;
            let now = now_ms();
            w.sweep(now, SWEEP_PER_INSERT).map_err(internal)?;
            let (stored, current) = w.read(key, now).map_err(internal)?;
            if let Some(want) = options.if_generation_match
                && current.as_ref().map(|c| c.generation) != Some(want)
            {
                return Err(KvError::PreconditionFailed);
            }
            let data = match (options.mode, &current) {
                (InsertMode::Add, Some(_)) => return Err(KvError::PreconditionFailed),
                (InsertMode::Append | InsertMode::Prepend, Some(c))
                    if c.data.len() + data.len() > limits.value_bytes =>
                {
                    return Err(KvError::TooLarge(HostLimit::KvValueSize));
                }
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
            let expires = options.ttl.map_or(0, |ttl| now + ttl.as_millis() as u64);
            let value = KvValue {
                data,
                metadata,
                generation,
            };
            let new = entry_bytes(key, RECORD_HEADER + value.metadata.len() + value.data.len());
            // A write that does not grow the store is let through even
            // over the limit (which may have been lowered since).
            let too_much = |bytes: u64, old: u64| {
                new > old && bytes.saturating_sub(old) + new > limits.store_bytes
            };
            if too_much(w.bytes, stored) {
                w.sweep(now, SWEEP_WHEN_FULL).map_err(internal)?;
                // The sweep may have removed this very key.
                let (stored, _) = w.read(key, now).map_err(internal)?;
                if too_much(w.bytes, stored) {
                    return Err(KvError::TooLarge(HostLimit::KvStoreSize));
                }
            }
            w.put(key, &value, expires).map_err(internal)?;
            w.finish().map_err(internal)?;
        }
        tx.commit().map_err(internal)?;
        Ok(generation)
    }

    /// Deletes `key`. Deleting a missing key is `NotFound`.
    pub fn delete(&self, store: &str, key: &str) -> Result<(), KvError> {
        check_key(key)?;
        let tx = self.db.begin_write().map_err(internal)?;
        let removed = {
            let mut w = StoreWriter::open(&tx, store).map_err(internal)?;
            let removed = w.remove(key).map_err(internal)?;
            w.finish().map_err(internal)?;
            removed
        };
        tx.commit().map_err(internal)?;
        match removed {
            Some((_, expires)) if live(expires) => Ok(()),
            _ => Err(KvError::NotFound),
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

    /// The default limits.
    const L: KvLimits = KvLimits {
        value_bytes: 25_000_000,
        metadata_bytes: 2000,
        store_bytes: 1 << 30,
    };

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
            kv.insert("s", "a", b"x".to_vec(), &add, &L),
            Err(KvError::PreconditionFailed)
        );
        let append = InsertOptions {
            mode: InsertMode::Append,
            ..Default::default()
        };
        assert_eq!(kv.insert("s", "a", b"2".to_vec(), &append, &L), Ok(2));
        let prepend = InsertOptions {
            mode: InsertMode::Prepend,
            if_generation_match: Some(2),
            ..Default::default()
        };
        assert_eq!(kv.insert("s", "a", b"0".to_vec(), &prepend, &L), Ok(3));
        assert_eq!(kv.lookup("s", "a").unwrap().unwrap().data, b"012");
        let stale = InsertOptions {
            if_generation_match: Some(1),
            ..Default::default()
        };
        assert_eq!(
            kv.insert("s", "a", b"z".to_vec(), &stale, &L),
            Err(KvError::PreconditionFailed)
        );
        assert_eq!(
            kv.insert("s", "bad\nkey", vec![], &InsertOptions::default(), &L),
            Err(KvError::BadRequest)
        );
    }

    #[test]
    fn list_pages_with_prefix_and_cursor() {
        let kv = stores();
        for k in ["p1", "p2", "p3", "q1"] {
            kv.insert("s", k, b"v".to_vec(), &InsertOptions::default(), &L)
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
        kv.insert("s", "t", b"v".to_vec(), &ttl, &L).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(kv.lookup("s", "t").unwrap(), None);
    }

    fn opts(metadata: Option<usize>, ttl: Option<Duration>) -> InsertOptions {
        InsertOptions {
            metadata: metadata.map(|n| vec![b'm'; n]),
            ttl,
            ..Default::default()
        }
    }

    #[test]
    fn a_value_or_metadata_over_its_limit_is_refused() {
        let kv = stores();
        let small = KvLimits {
            value_bytes: 10,
            metadata_bytes: 4,
            store_bytes: 1 << 20,
        };
        assert_eq!(
            kv.insert("s", "k", vec![0; 11], &opts(None, None), &small),
            Err(KvError::TooLarge(HostLimit::KvValueSize))
        );
        assert_eq!(
            kv.insert("s", "k", vec![0; 10], &opts(Some(5), None), &small),
            Err(KvError::TooLarge(HostLimit::KvMetadataSize))
        );
        assert_eq!(
            kv.insert("s", "k", vec![0; 10], &opts(Some(4), None), &small),
            Ok(1)
        );
        // An append that would make the value too large.
        let append = InsertOptions {
            mode: InsertMode::Append,
            ..Default::default()
        };
        assert_eq!(
            kv.insert("s", "k", vec![0; 1], &append, &small),
            Err(KvError::TooLarge(HostLimit::KvValueSize))
        );
        assert_eq!(kv.lookup("s", "k").unwrap().unwrap().data.len(), 10);
        assert_eq!(KvError::TooLarge(HostLimit::KvStoreSize).code(), 5);
    }

    #[test]
    fn a_full_store_refuses_growth_until_a_delete_makes_room() {
        let kv = stores();
        // Seeded: key `a` (1) + value `1` (1) + metadata `m` (1).
        assert_eq!(kv.store_bytes("s").unwrap(), 3);
        let limits = KvLimits {
            store_bytes: 3 + 2 * 101,
            ..L
        };
        // Key (1) + value (100): 101 bytes each.
        assert_eq!(
            kv.insert("s", "b", vec![1; 100], &opts(None, None), &limits),
            Ok(1)
        );
        assert_eq!(
            kv.insert("s", "c", vec![2; 100], &opts(None, None), &limits),
            Ok(1)
        );
        assert_eq!(kv.store_bytes("s").unwrap(), 205);
        assert_eq!(
            kv.insert("s", "d", vec![3; 1], &opts(None, None), &limits),
            Err(KvError::TooLarge(HostLimit::KvStoreSize))
        );
        assert_eq!(kv.lookup("s", "d").unwrap(), None);
        // Replacing with something no larger is fine.
        assert_eq!(
            kv.insert("s", "c", vec![4; 50], &opts(None, None), &limits),
            Ok(2)
        );
        assert_eq!(kv.store_bytes("s").unwrap(), 155);
        assert_eq!(
            kv.insert("s", "d", vec![3; 60], &opts(None, None), &limits),
            Err(KvError::TooLarge(HostLimit::KvStoreSize))
        );
        kv.delete("s", "b").unwrap();
        assert_eq!(kv.store_bytes("s").unwrap(), 54);
        assert_eq!(
            kv.insert("s", "d", vec![3; 60], &opts(None, None), &limits),
            Ok(1)
        );
        assert_eq!(kv.store_bytes("s").unwrap(), 115);
    }

    #[test]
    fn expired_entries_stop_counting_once_swept() {
        let kv = stores();
        let limits = KvLimits {
            store_bytes: 3 + 101,
            ..L
        };
        let ttl = Some(Duration::from_millis(1));
        assert_eq!(
            kv.insert("s", "t", vec![1; 100], &opts(None, ttl), &limits),
            Ok(1)
        );
        assert_eq!(kv.store_bytes("s").unwrap(), 104);
        std::thread::sleep(Duration::from_millis(5));
        // Full of an expired entry: the insert sweeps it and fits.
        assert_eq!(
            kv.insert("s", "u", vec![2; 100], &opts(None, None), &limits),
            Ok(1)
        );
        assert_eq!(kv.store_bytes("s").unwrap(), 104);
        assert_eq!(kv.delete("s", "t"), Err(KvError::NotFound));
    }

    #[test]
    fn a_database_from_before_counting_is_counted_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.redb");
        {
            // Records written as older versions did: no stats, no index.
            let db = redb::Database::create(&path).unwrap();
            let tx = db.begin_write().unwrap();
            {
                let mut t = tx.open_table(table(&table_name("s"))).unwrap();
                let v = KvValue {
                    data: vec![0; 10],
                    metadata: vec![1; 5],
                    generation: 1,
                };
                t.insert("old", encode(&v, 0).as_slice()).unwrap();
                t.insert("gone", encode(&v, 1).as_slice()).unwrap();
            }
            tx.commit().unwrap();
        }
        let kv = KvStores::open(&path).unwrap();
        assert_eq!(kv.store_bytes("s").unwrap(), 18 + 19);
        // The first write counts the store and sweeps the expired record.
        kv.insert("s", "new", vec![0; 7], &opts(None, None), &L)
            .unwrap();
        assert_eq!(kv.store_bytes("s").unwrap(), 18 + 10);
    }
}
