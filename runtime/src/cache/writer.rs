//! The one thread that writes the cache's database. Requests hand it
//! operations over a bounded channel (a slow disk slows the fills that
//! feed it, never the reactor); it applies whatever has queued up in one
//! write transaction, committed without fsync, and makes the database
//! durable at least once a second while there is something to make
//! durable. A crash loses at most that second; redb reopens at the last
//! durable commit, which is consistent by construction.

use super::key::Key;
use super::object::ObjectMeta;
use super::store::{
    CHUNKS, OBJECTS, PENDING, SURROGATE, Store, StoreError, delete_chunks, primary_tag,
    surrogate_entry,
};
use bytes::Bytes;
use redb::{Durability, ReadableTable};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Operations queued before the sender waits.
const QUEUE: usize = 256;
/// Operations applied in one transaction at most.
const BATCH: usize = 1024;
/// Longest time between durable commits while writes arrive.
const DURABLE_EVERY: Duration = Duration::from_secs(1);

/// One change to the database.
#[derive(Debug)]
pub enum WriteOp {
    /// A body chunk of an object being written.
    Chunk {
        /// Object id.
        id: u64,
        /// Chunk index, from 0.
        index: u32,
        /// Bytes.
        bytes: Bytes,
    },
    /// The metadata row that makes object `meta.object_id` visible under
    /// `key` (replacing what was there).
    Commit {
        /// Variant key.
        key: Key,
        /// The row.
        meta: Box<ObjectMeta>,
        /// Told once the row is committed (readable, not yet durable).
        done: Option<oneshot::Sender<()>>,
    },
    /// A write that will not finish: drop its chunks.
    Abort {
        /// Object id.
        id: u64,
    },
    /// Remove `key` if it still holds object `id` (eviction, purge).
    Delete {
        /// Variant key.
        key: Key,
        /// Object id.
        id: u64,
    },
    /// Replace the row of `key` if it still holds `meta.object_id`
    /// (revalidation, soft purge).
    Update {
        /// Variant key.
        key: Key,
        /// The new row.
        meta: Box<ObjectMeta>,
    },
    /// Commit durably now; answer when done.
    Sync(oneshot::Sender<()>),
}

/// Objects the in-memory index evicted, to delete with the next batch.
type Doomed = Arc<Mutex<Vec<(Key, u64)>>>;

/// Sends operations to the writer thread.
#[derive(Debug, Clone)]
pub struct Writer {
    tx: mpsc::Sender<WriteOp>,
    doomed: Doomed,
}

impl Writer {
    /// Starts the writer thread for `store`; `on_error` counts failures.
    pub fn start(store: Store, on_error: impl Fn() + Send + 'static) -> std::io::Result<Writer> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let doomed = Doomed::default();
        let theirs = doomed.clone();
        std::thread::Builder::new()
            .name("cache-writer".into())
            .spawn(move || run(store, rx, theirs, on_error))?;
        Ok(Writer { tx, doomed })
    }

    /// Deletes object `id` under `key` with the next batch (eviction: it
    /// must not wait, and it is undone by nothing).
    pub fn doom(&self, key: Key, id: u64) {
        if let Ok(mut d) = self.doomed.lock() {
            d.push((key, id));
        }
    }

    /// Queues `op`, waiting while the queue is full.
    pub async fn send(&self, op: WriteOp) -> Result<(), StoreError> {
        self.tx.send(op).await.map_err(|_| StoreError::WriterGone)
    }

    /// Queues `op` without waiting; false when the queue is full or the
    /// writer is gone (the caller drops the write: a cache may forget).
    pub fn try_send(&self, op: WriteOp) -> bool {
        self.tx.try_send(op).is_ok()
    }

    /// Waits until everything queued so far is durable.
    pub async fn sync(&self) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.send(WriteOp::Sync(done)).await?;
        wait.await.map_err(|_| StoreError::WriterGone)
    }
}

fn run(store: Store, mut rx: mpsc::Receiver<WriteOp>, doomed: Doomed, on_error: impl Fn()) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cache writer: no timer; the cache stays read-only");
            return;
        }
    };
    let mut dirty = false;
    let mut last_durable = Instant::now();
    loop {
        // While something is not yet durable, wake up in time to make it so.
        let first = rt.block_on(async {
            if dirty {
                let wait = DURABLE_EVERY.saturating_sub(last_durable.elapsed());
                tokio::time::timeout(wait, rx.recv()).await.ok()
            } else {
                Some(rx.recv().await)
            }
        });
        let mut batch = match first {
            None => Vec::new(), // the timer: a durable commit of what is there
            Some(None) => break,
            Some(Some(op)) => vec![op],
        };
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        if let Ok(mut d) = doomed.lock() {
            batch.extend(d.drain(..).map(|(key, id)| WriteOp::Delete { key, id }));
        }
        let wants_sync = batch.iter().any(|op| matches!(op, WriteOp::Sync(_)));
        let durable = wants_sync || last_durable.elapsed() >= DURABLE_EVERY;
        let applied = apply(&store, &mut batch, durable);
        let ok = applied.is_ok();
        match applied {
            Ok(()) => {
                dirty = !durable;
                if durable {
                    last_durable = Instant::now();
                }
            }
            Err(e) => {
                on_error();
                tracing::error!(error = %e, ops = batch.len(), "cache write failed; those objects are not stored");
            }
        }
        for op in batch {
            match op {
                // A failed commit drops its sender: the fill sees the
                // object was not stored.
                WriteOp::Commit {
                    done: Some(done), ..
                } if ok => {
                    let _ = done.send(());
                }
                WriteOp::Sync(done) => {
                    let _ = done.send(());
                }
                _ => {}
            }
        }
    }
    // Every sender is gone: make the last writes durable.
    if dirty && let Err(e) = apply(&store, &mut Vec::new(), true) {
        tracing::error!(error = %e, "final cache commit failed");
    }
}

fn err(e: impl Into<redb::Error>) -> StoreError {
    StoreError::Db(Box::new(e.into()))
}

/// Applies `batch` in one transaction.
fn apply(store: &Store, batch: &mut [WriteOp], durable: bool) -> Result<(), StoreError> {
    let mut txn = store.db().begin_write().map_err(err)?;
    let level = if durable {
        Durability::Immediate
    } else {
        Durability::None
    };
    txn.set_durability(level).map_err(err)?;
    {
        let mut t = Tables {
            objects: txn.open_table(OBJECTS).map_err(err)?,
            chunks: txn.open_table(CHUNKS).map_err(err)?,
            pending: txn.open_table(PENDING).map_err(err)?,
            surrogate: txn.open_multimap_table(SURROGATE).map_err(err)?,
        };
        for op in batch.iter() {
            t.apply(op)?;
        }
    }
    txn.commit().map_err(err)
}

struct Tables<'t> {
    objects: redb::Table<'t, &'static [u8], &'static [u8]>,
    chunks: redb::Table<'t, (u64, u32), &'static [u8]>,
    pending: redb::Table<'t, u64, ()>,
    surrogate: redb::MultimapTable<'t, &'static str, &'static [u8]>,
}

impl Tables<'_> {
    fn apply(&mut self, op: &WriteOp) -> Result<(), StoreError> {
        match op {
            WriteOp::Chunk { id, index, bytes } => {
                if *index == 0 {
                    self.pending.insert(id, ()).map_err(err)?;
                }
                self.chunks
                    .insert((*id, *index), bytes.as_ref())
                    .map_err(err)?;
            }
            WriteOp::Commit { key, meta, .. } => {
                if let Some(old) = self.current(key)?
                    && old.object_id != meta.object_id
                {
                    self.remove_object(key, &old)?;
                }
                self.write_row(key, meta)?;
                self.pending.remove(meta.object_id).map_err(err)?;
            }
            WriteOp::Abort { id } => {
                delete_chunks(&mut self.chunks, *id)?;
                self.pending.remove(id).map_err(err)?;
            }
            WriteOp::Delete { key, id } => match self.current(key)? {
                Some(old) if old.object_id == *id => self.remove_object(key, &old)?,
                _ => {}
            },
            WriteOp::Update { key, meta } => match self.current(key)? {
                Some(old) if old.object_id == meta.object_id => {
                    self.unlink_surrogates(key, &old)?;
                    self.write_row(key, meta)?;
                }
                _ => {}
            },
            WriteOp::Sync(_) => {}
        }
        Ok(())
    }

    fn current(&self, key: &Key) -> Result<Option<ObjectMeta>, StoreError> {
        let row = self.objects.get(key.0.as_slice()).map_err(err)?;
        Ok(row.and_then(|v| ObjectMeta::decode(v.value())))
    }

    fn write_row(&mut self, key: &Key, meta: &ObjectMeta) -> Result<(), StoreError> {
        self.objects
            .insert(key.0.as_slice(), meta.encode().as_slice())
            .map_err(err)?;
        for sk in tags(meta) {
            let entry = surrogate_entry(&meta.service, &sk);
            self.surrogate
                .insert(entry.as_str(), key.0.as_slice())
                .map_err(err)?;
        }
        Ok(())
    }

    fn unlink_surrogates(&mut self, key: &Key, meta: &ObjectMeta) -> Result<(), StoreError> {
        for sk in tags(meta) {
            let entry = surrogate_entry(&meta.service, &sk);
            self.surrogate
                .remove(entry.as_str(), key.0.as_slice())
                .map_err(err)?;
        }
        Ok(())
    }

    fn remove_object(&mut self, key: &Key, meta: &ObjectMeta) -> Result<(), StoreError> {
        self.objects.remove(key.0.as_slice()).map_err(err)?;
        self.unlink_surrogates(key, meta)?;
        delete_chunks(&mut self.chunks, meta.object_id)
    }
}

/// The surrogate keys of `meta` plus the tag of its primary key.
fn tags(meta: &ObjectMeta) -> impl Iterator<Item = String> + '_ {
    std::iter::once(primary_tag(&meta.primary)).chain(meta.surrogate_keys.iter().cloned())
}
