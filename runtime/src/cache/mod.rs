//! The HTTP cache: objects kept in redb on the `cached` volume, with an
//! in-memory index and hot layer, shared by every service of the edge
//! (keys include the service, so services never see each other's objects).
//!
//! - [`store`] and [`writer`]: the database, read on blocking threads and
//!   written by one thread in batched transactions;
//! - [`index`]: eviction by size (S3-FIFO) and the hot layer;
//! - [`freshness`], [`key`], [`object`]: HTTP semantics, keys and metadata;
//! - [`fill`]: request collapsing with a shared streaming buffer;
//! - [`readthrough`]: the cache in front of a program's backend sends;
//! - [`purge`]: by key, surrogate key, or all of a service's objects;
//! - [`generation`]: each service's count of purge-alls.
//!
//! Below `host` in the layering: it knows HTTP, not wasm or sessions.

pub mod body;
pub mod capacity;
pub mod core;
pub mod fill;
pub mod freshness;
pub mod generation;
pub mod index;
pub mod key;
pub mod lookup;
pub mod object;
pub mod purge;
pub mod readthrough;
pub mod store;
pub mod write;
pub mod writer;

use crate::metrics::CacheMetrics;
use index::{Index, IndexEntry, IndexSizes};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use store::Store;
pub use store::StoreError;
use writer::Writer;

/// Where and how big.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// The directory of the database; `None`: memory only.
    pub dir: Option<PathBuf>,
    /// Bytes of objects kept on disk at most.
    pub capacity: u64,
    /// Bytes of small objects kept whole in memory.
    pub memory: u64,
    /// Largest body kept whole in memory.
    pub hot_object_max: u64,
    /// redb's page cache, bytes (its default would be 1 GiB).
    pub page_cache: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            dir: None,
            capacity: 1 << 30,
            memory: 64 << 20,
            hot_object_max: 1 << 20,
            page_cache: 32 << 20,
        }
    }
}

/// The cache's database file in `dir`.
pub const DB_FILE: &str = "cache.redb";

/// What opening the cache found.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenReport {
    /// Objects found on disk.
    pub objects: usize,
    /// Unfinished writes removed.
    pub torn_writes: usize,
    /// Rows that did not check out, removed.
    pub bad_rows: usize,
}

/// The cache, cheap to clone.
#[derive(Clone)]
pub struct Cache {
    inner: Arc<CacheInner>,
}

struct CacheInner {
    store: Option<Store>,
    writer: Option<Writer>,
    index: Index,
    next_id: AtomicU64,
    metrics: CacheMetrics,
    http: readthrough::HttpState,
    core_locks: core::TransactionLocks,
    /// Bumped by every purge: a write that began before a purge is not
    /// stored, so a fill in flight cannot bring purged content back.
    purge_epoch: AtomicU64,
    /// Purge-alls per service (`FASTLY_CACHE_GENERATION`).
    generations: generation::Generations,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("disk", &self.inner.store.is_some())
            .field("index", &self.inner.index)
            .finish()
    }
}

impl Cache {
    /// Opens the cache in `config.dir` (or in memory without one),
    /// recovering from an interrupted run.
    pub fn open(
        config: &CacheConfig,
        metrics: CacheMetrics,
    ) -> Result<(Cache, OpenReport), StoreError> {
        let sizes = IndexSizes {
            disk_capacity: config.capacity,
            hot_capacity: config.memory,
            hot_object_max: config.hot_object_max,
        };
        let Some(dir) = &config.dir else {
            let cache = Cache::assemble(
                None,
                None,
                Index::new(sizes, None, metrics.evictions.clone()),
                1,
                metrics,
                generation::Generations::default(),
            );
            return Ok((cache, OpenReport::default()));
        };
        let (store, recovered) = Store::open(&dir.join(DB_FILE), config.page_cache)?;
        let generations = generation::Generations::load(&store)?;
        let errors = metrics.write_errors.clone();
        let writer = Writer::start(store.clone(), move || {
            errors.inc();
        })
        .map_err(|e| StoreError::Db(Box::new(redb::Error::Io(e))))?;
        let index = Index::new(sizes, Some(writer.clone()), metrics.evictions.clone());
        let report = OpenReport {
            objects: recovered.objects.len(),
            torn_writes: recovered.torn_writes,
            bad_rows: recovered.bad_rows,
        };
        let mut objects = recovered.objects;
        // Oldest first, so that the index's queues see the newest as the
        // most recent.
        objects.sort_by_key(|(_, m)| m.stored_at_ms);
        for (key, meta) in objects {
            index.set_vary_rule(key::Key(meta.primary), &meta.vary);
            index.insert_disk(
                key,
                IndexEntry {
                    object_id: meta.object_id,
                    length: meta.length,
                    hits: Arc::default(),
                },
            );
        }
        let cache = Cache::assemble(
            Some(store),
            Some(writer),
            index,
            recovered.next_object_id,
            metrics,
            generations,
        );
        cache.refresh_gauges();
        Ok((cache, report))
    }

    fn assemble(
        store: Option<Store>,
        writer: Option<Writer>,
        index: Index,
        next_id: u64,
        metrics: CacheMetrics,
        generations: generation::Generations,
    ) -> Cache {
        Cache {
            inner: Arc::new(CacheInner {
                store,
                writer,
                index,
                next_id: AtomicU64::new(next_id),
                metrics,
                http: readthrough::HttpState::default(),
                core_locks: core::TransactionLocks::default(),
                purge_epoch: AtomicU64::new(0),
                generations,
            }),
        }
    }

    /// A memory-only cache of default size (64 MiB, objects up to 1 MiB).
    pub fn in_memory() -> Cache {
        let config = CacheConfig::default();
        Cache::memory_only(config.memory, config.hot_object_max)
    }

    /// A memory-only cache of `memory` bytes holding objects up to
    /// `object_max` bytes (`anywhere serve`).
    pub fn memory_only(memory: u64, object_max: u64) -> Cache {
        let sizes = IndexSizes {
            disk_capacity: memory,
            hot_capacity: memory,
            hot_object_max: object_max,
        };
        let metrics = CacheMetrics::default();
        let index = Index::new(sizes, None, metrics.evictions.clone());
        Cache::assemble(
            None,
            None,
            index,
            1,
            metrics,
            generation::Generations::default(),
        )
    }

    /// Waits until every write so far is durable on disk.
    pub async fn sync(&self) -> Result<(), StoreError> {
        match &self.inner.writer {
            Some(w) => w.sync().await,
            None => Ok(()),
        }
    }

    /// Sets the size gauges from the index.
    pub fn refresh_gauges(&self) {
        let m = &self.inner.metrics;
        m.disk_bytes.set(self.inner.index.disk_bytes() as i64);
        m.disk_objects.set(self.inner.index.disk_objects() as i64);
    }

    /// The metrics it counts into.
    pub fn metrics(&self) -> &CacheMetrics {
        &self.inner.metrics
    }
}
