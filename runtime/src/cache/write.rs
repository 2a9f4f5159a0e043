//! Writing one object: its body in chunks as it arrives (so that large
//! objects are never held whole), then its metadata row, which makes it
//! visible. Small objects are also kept whole for the hot layer; sensitive
//! ones only there.

use super::Cache;
use super::index::{HotObject, IndexEntry};
use super::key::Key;
use super::lookup::Found;
use super::object::ObjectMeta;
use super::writer::WriteOp;
use bytes::{Bytes, BytesMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::oneshot;

/// Bytes per stored chunk.
pub const CHUNK: usize = 64 * 1024;

/// An object being written.
pub struct ObjectWriter {
    cache: Cache,
    key: Key,
    id: u64,
    /// Chunks go to disk (not sensitive, and a database is open).
    to_disk: bool,
    next_index: u32,
    buffer: BytesMut,
    length: u64,
    /// The whole body while it stays small enough for the hot layer.
    whole: Option<Vec<Bytes>>,
    /// A disk write failed: the object will not be stored.
    broken: bool,
    /// The purge epoch when the write began.
    epoch: u64,
}

impl std::fmt::Debug for ObjectWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectWriter")
            .field("key", &self.key)
            .field("id", &self.id)
            .field("length", &self.length)
            .finish()
    }
}

impl Cache {
    /// Starts writing an object under variant `key`.
    pub fn begin_write(&self, key: Key, sensitive: bool) -> ObjectWriter {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        ObjectWriter {
            cache: self.clone(),
            key,
            id,
            to_disk: !sensitive && self.inner.writer.is_some(),
            next_index: 0,
            buffer: BytesMut::new(),
            length: 0,
            whole: Some(Vec::new()),
            broken: false,
            epoch: self.inner.purge_epoch.load(Ordering::Acquire),
        }
    }
}

impl ObjectWriter {
    /// Appends body bytes (waits while the writer's queue is full).
    pub async fn write(&mut self, bytes: Bytes) {
        self.length += bytes.len() as u64;
        if let Some(whole) = self.whole.as_mut() {
            if self.length <= self.cache.inner.index.hot_object_max {
                whole.push(bytes.clone());
            } else {
                self.whole = None;
            }
        }
        if !self.to_disk || self.broken {
            return;
        }
        self.buffer.extend_from_slice(&bytes);
        while self.buffer.len() >= CHUNK {
            let chunk = self.buffer.split_to(CHUNK).freeze();
            self.send_chunk(chunk).await;
        }
    }

    async fn send_chunk(&mut self, bytes: Bytes) {
        let Some(writer) = &self.cache.inner.writer else {
            return;
        };
        let op = WriteOp::Chunk {
            id: self.id,
            index: self.next_index,
            bytes,
        };
        if writer.send(op).await.is_err() {
            self.broken = true;
        }
        self.next_index += 1;
    }

    /// Makes the object visible with `meta` (its id, length and chunk
    /// count are filled in here); `None` when it could not be stored.
    pub async fn finish(mut self, mut meta: ObjectMeta) -> Option<Found> {
        if self.cache.inner.purge_epoch.load(Ordering::Acquire) != self.epoch {
            // A purge came while this object was being fetched.
            self.abort();
            return None;
        }
        meta.object_id = self.id;
        meta.length = self.length;
        let hits = Arc::new(AtomicU64::new(0));
        let whole = self.whole.take().map(|parts| {
            let mut b = BytesMut::with_capacity(self.length as usize);
            parts.iter().for_each(|p| b.extend_from_slice(p));
            b.freeze()
        });
        let cache = self.cache.clone();
        let index = &cache.inner.index;
        if self.to_disk && !self.broken {
            if !self.buffer.is_empty() {
                let rest = std::mem::take(&mut self.buffer).freeze();
                self.send_chunk(rest).await;
            }
            meta.chunks = self.next_index;
            let writer = self.cache.inner.writer.clone()?;
            let (done, committed) = oneshot::channel();
            let op = WriteOp::Commit {
                key: self.key,
                meta: Box::new(meta.clone()),
                done: Some(done),
            };
            if writer.send(op).await.is_err() || committed.await.is_err() {
                return None;
            }
            index.insert_disk(
                self.key,
                IndexEntry {
                    object_id: self.id,
                    length: self.length,
                    hits: hits.clone(),
                },
            );
        } else if self.broken || whole.is_none() {
            self.abort();
            return None;
        }
        cache.inner.metrics.stored(&meta.service, self.length);
        index.set_vary_rule(Key(meta.primary), &meta.vary);
        let meta = Arc::new(meta);
        let hot = HotObject {
            meta,
            body: whole.unwrap_or_default(),
            hits,
        };
        let found = Found::hot(self.key, &hot);
        if hot.body.len() as u64 == self.length {
            index.insert_hot(self.key, Arc::new(hot));
            Some(found)
        } else {
            // Too large for memory: read it back from disk when served.
            cache.lookup(&self.key).await
        }
    }

    /// Gives up: drops whatever chunks were written.
    pub fn abort(self) {
        if self.to_disk
            && self.next_index > 0
            && let Some(w) = &self.cache.inner.writer
            && !w.try_send(WriteOp::Abort { id: self.id })
        {
            // The queue is full: the chunks stay pending and are removed
            // when the database next opens.
            tracing::debug!(id = self.id, "cache abort deferred to the next open");
        }
    }
}
