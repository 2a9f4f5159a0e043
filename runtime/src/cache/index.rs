//! What the cache keeps in memory: an index of every stored object
//! (weighted by size, so that its capacity is the cache's capacity on disk;
//! S3-FIFO eviction keeps objects that are asked for again), the Vary rule
//! of each primary key, and a hot layer holding small objects whole, so
//! that most hits touch no disk and no blocking thread.

use super::key::Key;
use super::object::ObjectMeta;
use super::writer::Writer;
use bytes::Bytes;
use prometheus_client::metrics::counter::Counter;
use quick_cache::sync::Cache as Qc;
use quick_cache::{DefaultHashBuilder, Lifecycle, Weighter};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

/// Bytes counted for an object beyond its body (its metadata row).
const ROW_OVERHEAD: u64 = 512;
/// Primary keys whose Vary rule is remembered.
const VARY_RULES: usize = 1 << 20;

/// Bytes each shard of an index should hold at least: eviction works per
/// shard, and a shard of a few objects would evict by arrival, not use.
const SHARD_BYTES: u64 = 64 << 20;

/// Options of an index of `items` objects weighing `capacity` bytes: as
/// many shards as the capacity allows (up to quick_cache's default).
fn options(items: usize, capacity: u64) -> quick_cache::Options {
    let most = std::thread::available_parallelism().map_or(4, |n| n.get() * 4);
    let shards = (capacity / SHARD_BYTES).clamp(1, most as u64) as usize;
    let mut b = quick_cache::OptionsBuilder::new();
    b.estimated_items_capacity(items)
        .weight_capacity(capacity.max(1))
        .shards(shards.next_power_of_two());
    // `build` fails only when a size is unset; both are set just above.
    #[allow(clippy::expect_used)]
    b.build().expect("quick_cache options with both sizes set")
}

/// An object the index knows is on disk.
#[derive(Debug, Clone)]
pub struct IndexEntry {
    /// Its object id (the row on disk must still hold it).
    pub object_id: u64,
    /// Body bytes.
    pub length: u64,
    /// Hits since this process started.
    pub hits: Arc<AtomicU64>,
}

/// A small object held whole in memory.
#[derive(Debug)]
pub struct HotObject {
    /// Its metadata.
    pub meta: Arc<ObjectMeta>,
    /// Its body.
    pub body: Bytes,
    /// Hits since this process started.
    pub hits: Arc<AtomicU64>,
}

#[derive(Clone)]
struct BySize;

impl Weighter<Key, IndexEntry> for BySize {
    fn weight(&self, _: &Key, e: &IndexEntry) -> u64 {
        e.length + ROW_OVERHEAD
    }
}

impl Weighter<Key, Arc<HotObject>> for BySize {
    fn weight(&self, _: &Key, o: &Arc<HotObject>) -> u64 {
        o.body.len() as u64 + ROW_OVERHEAD
    }
}

/// Deletes what the index evicts from disk.
#[derive(Clone)]
struct DeleteOnEvict {
    writer: Option<Writer>,
    evictions: Counter,
}

impl Lifecycle<Key, IndexEntry> for DeleteOnEvict {
    type RequestState = ();

    fn on_evict(&self, _: &mut (), key: Key, entry: IndexEntry) {
        self.evictions.inc();
        if let Some(w) = &self.writer {
            w.doom(key, entry.object_id);
        }
    }
}

/// Counts what the hot layer evicts.
#[derive(Clone)]
struct CountEvictions(Counter);

impl Lifecycle<Key, Arc<HotObject>> for CountEvictions {
    type RequestState = ();

    fn on_evict(&self, _: &mut (), _: Key, _: Arc<HotObject>) {
        self.0.inc();
    }
}

/// The in-memory side of the cache.
pub struct Index {
    disk: Qc<Key, IndexEntry, BySize, DefaultHashBuilder, DeleteOnEvict>,
    hot: Qc<Key, Arc<HotObject>, BySize, DefaultHashBuilder, CountEvictions>,
    vary: Qc<Key, Arc<Vec<String>>>,
    /// Largest body the hot layer takes.
    pub hot_object_max: u64,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("objects", &self.disk.len())
            .field("hot", &self.hot.len())
            .finish()
    }
}

/// Sizes of the in-memory side.
#[derive(Debug, Clone, Copy)]
pub struct IndexSizes {
    /// Bytes on disk at most.
    pub disk_capacity: u64,
    /// Bytes of the hot layer.
    pub hot_capacity: u64,
    /// Largest body the hot layer takes.
    pub hot_object_max: u64,
}

impl Index {
    /// An empty index; evictions from disk go to `writer`.
    pub fn new(sizes: IndexSizes, writer: Option<Writer>, evictions: Counter) -> Index {
        let disk_items = (sizes.disk_capacity / 16_384).clamp(1024, 1 << 22) as usize;
        let hot_items = (sizes.hot_capacity / 4096).clamp(64, 1 << 20) as usize;
        Index {
            disk: Qc::with_options(
                options(disk_items, sizes.disk_capacity),
                BySize,
                DefaultHashBuilder::default(),
                DeleteOnEvict {
                    writer,
                    evictions: evictions.clone(),
                },
            ),
            hot: Qc::with_options(
                options(hot_items, sizes.hot_capacity),
                BySize,
                DefaultHashBuilder::default(),
                CountEvictions(evictions),
            ),
            vary: Qc::new(VARY_RULES),
            hot_object_max: sizes.hot_object_max,
        }
    }

    /// The Vary rule of primary key `key` (none known: no Vary).
    pub fn vary_rule(&self, key: &Key) -> Option<Arc<Vec<String>>> {
        self.vary.get(key)
    }

    /// Remembers the Vary rule of primary key `key`.
    pub fn set_vary_rule(&self, key: Key, rule: &[String]) {
        if rule.is_empty() {
            self.vary.remove(&key);
        } else {
            self.vary.insert(key, Arc::new(rule.to_vec()));
        }
    }

    /// The object on disk under variant `key`.
    pub fn disk_entry(&self, key: &Key) -> Option<IndexEntry> {
        self.disk.get(key)
    }

    /// Records an object on disk (evicting colder ones when over capacity).
    pub fn insert_disk(&self, key: Key, entry: IndexEntry) {
        self.disk.insert(key, entry);
    }

    /// Forgets `key` if it still names object `id`; true when it did.
    pub fn remove(&self, key: &Key, id: u64) -> bool {
        self.hot.remove_if(key, |o| o.meta.object_id == id);
        self.disk.remove_if(key, |e| e.object_id == id).is_some()
    }

    /// The small object held whole under `key`.
    pub fn hot(&self, key: &Key) -> Option<Arc<HotObject>> {
        self.hot.get(key)
    }

    /// Holds a small object whole.
    pub fn insert_hot(&self, key: Key, object: Arc<HotObject>) {
        if object.body.len() as u64 <= self.hot_object_max {
            self.hot.insert(key, object);
        }
    }

    /// Replaces the metadata of a hot object (revalidation, soft purge).
    pub fn update_hot(&self, key: &Key, meta: Arc<ObjectMeta>) {
        if let Some(old) = self.hot.peek(key)
            && old.meta.object_id == meta.object_id
        {
            let new = HotObject {
                meta,
                body: old.body.clone(),
                hits: old.hits.clone(),
            };
            self.hot.insert(*key, Arc::new(new));
        }
    }

    /// Bytes the index accounts for on disk.
    pub fn disk_bytes(&self) -> u64 {
        self.disk.weight()
    }

    /// Objects on disk.
    pub fn disk_objects(&self) -> usize {
        self.disk.len()
    }

    /// Objects held in memory that `matches`, for purges (memory-only ones
    /// are found nowhere else).
    pub fn hot_keys_matching(&self, matches: impl Fn(&ObjectMeta) -> bool) -> Vec<(Key, u64)> {
        self.hot
            .iter()
            .filter(|(_, o)| matches(&o.meta))
            .map(|(k, o)| (k, o.meta.object_id))
            .collect()
    }
}
