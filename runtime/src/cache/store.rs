//! The cache's database on the `cached` volume (redb): object metadata
//! (with its primary key and Vary rule), body chunks and surrogate keys in
//! separate tables. Reads
//! happen on blocking threads; every write goes through the
//! [`writer`](super::writer), so that many requests share one transaction.
//!
//! Torn objects cannot be seen: a body's chunks are written first (under a
//! fresh object id, recorded as pending), and its metadata row last. An
//! object id still pending when the database opens belonged to a write
//! that never finished; its chunks are deleted then.

use super::key::Key;
use super::object::ObjectMeta;
use redb::{
    Database, MultimapTableDefinition, ReadOnlyTable, ReadableDatabase, ReadableTable,
    TableDefinition,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Variant key → encoded [`ObjectMeta`].
pub(super) const OBJECTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("objects");
/// (object id, chunk index) → bytes.
pub(super) const CHUNKS: TableDefinition<(u64, u32), &[u8]> = TableDefinition::new("chunks");
/// Object ids whose chunks are written but whose metadata is not.
pub(super) const PENDING: TableDefinition<u64, ()> = TableDefinition::new("pending");
/// "service\0surrogate key" → variant keys.
pub(super) const SURROGATE: MultimapTableDefinition<&str, &[u8]> =
    MultimapTableDefinition::new("surrogate");
/// Counters that outlive restarts ("next_object_id").
pub(super) const COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("counters");

/// A failure of the cache's database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Opening or repairing the file.
    #[error("cache database {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// What redb said.
        source: Box<redb::Error>,
    },
    /// A read or write.
    #[error("cache database: {0}")]
    Db(#[from] Box<redb::Error>),
    /// The writer thread is gone.
    #[error("cache writer stopped")]
    WriterGone,
}

pub(super) fn db_err(e: impl Into<redb::Error>) -> StoreError {
    StoreError::Db(Box::new(e.into()))
}

/// The surrogate-key table's key for `key` in `service`.
pub(super) fn surrogate_entry(service: &str, key: &str) -> String {
    format!("{service}\0{key}")
}

/// The surrogate tag every object carries for its primary key, so that a
/// purge by URL (or by custom key) finds each of its variants. A NUL
/// cannot occur in a `Surrogate-Key` header, so no program's key collides.
pub fn primary_tag(primary: &[u8; 32]) -> String {
    let mut tag = String::from("\0key\0");
    for b in primary {
        tag.push_str(&format!("{b:02x}"));
    }
    tag
}

/// The opened database.
#[derive(Clone)]
pub struct Store {
    db: Arc<Database>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

/// What opening found.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Every stored object, to rebuild the in-memory index.
    pub objects: Vec<(Key, ObjectMeta)>,
    /// Unfinished writes whose chunks were deleted.
    pub torn_writes: usize,
    /// Metadata rows that did not decode or whose body did not match
    /// (deleted).
    pub bad_rows: usize,
    /// The next object id to give out.
    pub next_object_id: u64,
}

impl Store {
    /// Opens (or creates) `path` with a page cache of `page_cache` bytes,
    /// removes unfinished writes and returns what is stored.
    pub fn open(path: &Path, page_cache: usize) -> Result<(Store, Recovered), StoreError> {
        let open_err = |e: redb::Error| StoreError::Open {
            path: path.to_path_buf(),
            source: Box::new(e),
        };
        let db = Database::builder()
            .set_cache_size(page_cache)
            .create(path)
            .map_err(|e| open_err(e.into()))?;
        let store = Store { db: Arc::new(db) };
        let recovered = store.recover().map_err(|e| match e {
            StoreError::Db(e) => open_err(*e),
            other => other,
        })?;
        Ok((store, recovered))
    }

    /// Deletes unfinished writes and rows that do not check out, then
    /// lists what is left.
    fn recover(&self) -> Result<Recovered, StoreError> {
        let txn = self.db.begin_write().map_err(db_err)?;
        let mut found = Recovered::default();
        {
            let mut pending = txn.open_table(PENDING).map_err(db_err)?;
            let mut chunks = txn.open_table(CHUNKS).map_err(db_err)?;
            let mut objects = txn.open_table(OBJECTS).map_err(db_err)?;
            txn.open_multimap_table(SURROGATE).map_err(db_err)?;
            let mut counters = txn.open_table(COUNTERS).map_err(db_err)?;
            let torn: Vec<u64> = pending
                .iter()
                .map_err(db_err)?
                .filter_map(|r| r.ok().map(|(k, _)| k.value()))
                .collect();
            for id in &torn {
                delete_chunks(&mut chunks, *id)?;
                pending.remove(id).map_err(db_err)?;
            }
            found.torn_writes = torn.len();
            let mut bad = Vec::new();
            for row in objects.iter().map_err(db_err)? {
                let (k, v) = row.map_err(db_err)?;
                let key = <[u8; 32]>::try_from(k.value()).ok().map(Key);
                match (key, ObjectMeta::decode(v.value())) {
                    (Some(key), Some(meta)) if body_matches(&chunks, &meta)? => {
                        found.objects.push((key, meta));
                    }
                    (_, meta) => bad.push((k.value().to_vec(), meta)),
                }
            }
            for (k, meta) in &bad {
                objects.remove(k.as_slice()).map_err(db_err)?;
                if let Some(meta) = meta {
                    delete_chunks(&mut chunks, meta.object_id)?;
                }
            }
            found.bad_rows = bad.len();
            let stored_next = counters
                .get("next_object_id")
                .map_err(db_err)?
                .map_or(1, |v| v.value());
            let max_seen = found
                .objects
                .iter()
                .map(|(_, m)| m.object_id)
                .max()
                .unwrap_or(0);
            let max_torn = torn.iter().copied().max().unwrap_or(0);
            found.next_object_id = stored_next.max(max_seen + 1).max(max_torn + 1);
            counters
                .insert("next_object_id", found.next_object_id)
                .map_err(db_err)?;
        }
        txn.commit().map_err(db_err)?;
        Ok(found)
    }

    /// The database, for the writer.
    pub(super) fn db(&self) -> &Arc<Database> {
        &self.db
    }

    /// The metadata of `key` (blocking).
    pub fn read_meta(&self, key: &Key) -> Result<Option<ObjectMeta>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let table = txn.open_table(OBJECTS).map_err(db_err)?;
        let row = table.get(key.0.as_slice()).map_err(db_err)?;
        Ok(row.and_then(|v| ObjectMeta::decode(v.value())))
    }

    /// A snapshot of the chunk table: a body read through it stays whole
    /// even if the object is replaced or evicted meanwhile.
    pub fn chunk_snapshot(&self) -> Result<ChunkSnapshot, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        Ok(ChunkSnapshot {
            table: txn.open_table(CHUNKS).map_err(db_err)?,
        })
    }

    /// Variant keys tagged with surrogate `key` in `service` (blocking).
    pub fn keys_with_surrogate(&self, service: &str, key: &str) -> Result<Vec<Key>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let table = txn.open_multimap_table(SURROGATE).map_err(db_err)?;
        let mut keys = Vec::new();
        for v in table
            .get(surrogate_entry(service, key).as_str())
            .map_err(db_err)?
        {
            let v = v.map_err(db_err)?;
            if let Ok(k) = <[u8; 32]>::try_from(v.value()) {
                keys.push(Key(k));
            }
        }
        Ok(keys)
    }

    /// Every stored object of `service` (blocking; a full scan).
    pub fn keys_of_service(&self, service: &str) -> Result<Vec<(Key, u64)>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let table = txn.open_table(OBJECTS).map_err(db_err)?;
        let mut keys = Vec::new();
        for row in table.iter().map_err(db_err)? {
            let (k, v) = row.map_err(db_err)?;
            if let (Ok(k), Some(meta)) = (
                <[u8; 32]>::try_from(k.value()),
                ObjectMeta::decode(v.value()),
            ) && meta.service == service
            {
                keys.push((Key(k), meta.object_id));
            }
        }
        Ok(keys)
    }
}

/// Reads body chunks from one snapshot of the database.
pub struct ChunkSnapshot {
    table: ReadOnlyTable<(u64, u32), &'static [u8]>,
}

impl ChunkSnapshot {
    /// Chunk `index` of object `id` (blocking).
    pub fn chunk(&self, id: u64, index: u32) -> Result<Option<bytes::Bytes>, StoreError> {
        let row = self.table.get((id, index)).map_err(db_err)?;
        Ok(row.map(|v| bytes::Bytes::copy_from_slice(v.value())))
    }
}

/// Deletes every chunk of object `id`.
pub(super) fn delete_chunks(
    chunks: &mut redb::Table<(u64, u32), &[u8]>,
    id: u64,
) -> Result<(), StoreError> {
    chunks
        .retain_in((id, 0)..=(id, u32::MAX), |_, _| false)
        .map_err(db_err)
}

/// True when the last chunk of `meta` is there and no chunk follows it (a
/// cheap check at open; lengths are checked as bodies are read).
fn body_matches(
    chunks: &redb::Table<(u64, u32), &[u8]>,
    meta: &ObjectMeta,
) -> Result<bool, StoreError> {
    let id = meta.object_id;
    if meta.chunks == 0 {
        return Ok(meta.length == 0);
    }
    let last = chunks.get((id, meta.chunks - 1)).map_err(db_err)?.is_some();
    let beyond = chunks.get((id, meta.chunks)).map_err(db_err)?.is_some();
    Ok(last && !beyond)
}
