//! Finding a stored object: the hot layer first, then the index and the
//! database (on a blocking thread).

use super::Cache;
use super::body::CacheBody;
use super::index::HotObject;
use super::key::Key;
use super::object::ObjectMeta;
use super::store::ChunkSnapshot;
use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A stored object, ready to be served.
#[derive(Clone)]
pub struct Found {
    /// Its variant key.
    pub key: Key,
    /// Its metadata.
    pub meta: Arc<ObjectMeta>,
    hits: Arc<AtomicU64>,
    body: FoundBody,
}

#[derive(Clone)]
enum FoundBody {
    Whole(Bytes),
    Disk(Arc<ChunkSnapshot>),
}

impl std::fmt::Debug for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Found")
            .field("key", &self.key)
            .field("object_id", &self.meta.object_id)
            .field("length", &self.meta.length)
            .finish()
    }
}

impl Found {
    /// An object held whole in memory.
    pub fn hot(key: Key, object: &HotObject) -> Found {
        Found {
            key,
            meta: object.meta.clone(),
            hits: object.hits.clone(),
            body: FoundBody::Whole(object.body.clone()),
        }
    }

    /// The same object with new metadata (revalidated, soft-purged).
    pub fn with_meta(&self, meta: Arc<ObjectMeta>) -> Found {
        Found {
            meta,
            ..self.clone()
        }
    }

    /// Its body, from the start.
    pub fn body(&self) -> CacheBody {
        match &self.body {
            FoundBody::Whole(b) => CacheBody::whole(b.clone()),
            FoundBody::Disk(s) => CacheBody::from_disk(
                s.clone(),
                self.meta.object_id,
                self.meta.chunks,
                self.meta.length,
            ),
        }
    }

    /// Counts a hit; the hits before this one plus one.
    pub fn record_hit(&self) -> u64 {
        self.hits.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Hits so far.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }
}

impl Cache {
    /// The object stored under variant `key`, if any.
    pub async fn lookup(&self, key: &Key) -> Option<Found> {
        let inner = &self.inner;
        if let Some(object) = inner.index.hot(key) {
            return Some(Found::hot(*key, &object));
        }
        let entry = inner.index.disk_entry(key)?;
        let store = inner.store.clone()?;
        let k = *key;
        let read = tokio::task::spawn_blocking(move || {
            let meta = store.read_meta(&k)?;
            let snapshot = store.chunk_snapshot()?;
            Ok::<_, super::store::StoreError>((meta, snapshot))
        })
        .await;
        let (meta, snapshot) = match read {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cache read failed; answering as a miss");
                return None;
            }
            Err(_) => return None,
        };
        let meta = match meta {
            Some(m) if m.object_id == entry.object_id => Arc::new(m),
            _ => {
                // Replaced, purged or lost since the index learnt of it.
                inner.index.remove(key, entry.object_id);
                return None;
            }
        };
        let found = Found {
            key: *key,
            meta,
            hits: entry.hits.clone(),
            body: FoundBody::Disk(Arc::new(snapshot)),
        };
        if found.meta.length <= inner.index.hot_object_max {
            self.promote(&found).await;
        }
        Some(found)
    }

    /// Reads a small object whole into the hot layer.
    async fn promote(&self, found: &Found) {
        use http_body_util::BodyExt;
        if let Ok(body) = found.body().collect().await {
            let object = HotObject {
                meta: found.meta.clone(),
                body: body.to_bytes(),
                hits: found.hits.clone(),
            };
            self.inner.index.insert_hot(found.key, Arc::new(object));
        }
    }
}
