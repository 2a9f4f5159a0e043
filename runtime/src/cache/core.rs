//! The Core Cache (Fastly's `fastly_cache`): objects under keys the program
//! chooses, with its own freshness, user metadata, surrogate keys and Vary
//! rule, looked up alone or in transactions. A transaction that finds
//! nothing usable takes the key's obligation to insert (or update): later
//! transactions on the key wait until that one inserts, updates or gives
//! up, then look again; this is request collapsing for programs.

use super::Cache;
use super::key::Key;
use super::lookup::Found;
use super::object::{ObjectMeta, Staleness, StoredHead, now_ms};
use super::write::ObjectWriter;
use super::writer::WriteOp;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OwnedMutexGuard;

/// What a program writes with an object.
#[derive(Debug, Clone, Default)]
pub struct CoreWrite {
    /// Fresh for this long.
    pub max_age: Duration,
    /// Age it already has.
    pub initial_age: Duration,
    /// Usable while revalidated, this long after `max_age`.
    pub stale_while_revalidate: Duration,
    /// Request header names it varies on.
    pub vary: Vec<String>,
    /// Purge groups.
    pub surrogate_keys: Vec<String>,
    /// Bytes the program attaches.
    pub user_metadata: Vec<u8>,
    /// Kept in memory only.
    pub sensitive: bool,
    /// The body length the program announced.
    pub length: Option<u64>,
    /// Usable when revalidation fails, this long after `max_age` (HTTP
    /// cache API).
    pub stale_if_error: Duration,
    /// The response head, for objects of the HTTP cache API.
    pub head: Option<StoredHead>,
}

impl CoreWrite {
    /// Metadata for an object under `primary` in `service`.
    pub fn meta(&self, service: &str, primary: Key) -> ObjectMeta {
        let mut vary: Vec<String> = self.vary.iter().map(|v| v.to_ascii_lowercase()).collect();
        vary.sort();
        vary.dedup();
        ObjectMeta {
            object_id: 0,
            service: service.to_owned(),
            primary: primary.0,
            length: 0,
            chunks: 0,
            stored_at_ms: now_ms(),
            initial_age_ms: self.initial_age.as_millis() as u64,
            max_age_ms: self.max_age.as_millis() as u64,
            swr_ms: self.stale_while_revalidate.as_millis() as u64,
            sie_ms: self.stale_if_error.as_millis() as u64,
            surrogate_keys: self.surrogate_keys.clone(),
            vary,
            user_metadata: self.user_metadata.clone(),
            head: self.head.clone(),
            invalidated: false,
            sensitive: self.sensitive,
        }
    }

    /// Applies its freshness and metadata to an existing object's `meta`.
    pub fn update(&self, meta: &ObjectMeta) -> ObjectMeta {
        let mut new = self.meta(&meta.service, Key(meta.primary));
        if new.head.is_none() {
            new.head.clone_from(&meta.head);
        }
        new.object_id = meta.object_id;
        new.length = meta.length;
        new.chunks = meta.chunks;
        new
    }
}

/// The obligation to insert or update a key; dropping it lets the next
/// waiting transaction look again.
pub struct Obligation {
    _guard: OwnedMutexGuard<()>,
}

impl std::fmt::Debug for Obligation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Obligation")
    }
}

/// The per-key locks of transactions in progress.
#[derive(Default)]
pub struct TransactionLocks {
    locks: Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>,
}

impl TransactionLocks {
    fn lock_of(&self, key: Key) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        // Forget locks nobody holds or waits on, so the map stays small.
        if locks.len() > 1024 {
            locks.retain(|_, l| Arc::strong_count(l) > 1);
        }
        locks.entry(key).or_default().clone()
    }
}

/// Objects of the Core Cache (no response head) or of the HTTP cache (a
/// stored response).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// `fastly_cache`.
    Core,
    /// The readthrough cache and `fastly_http_cache`.
    Http,
}

/// What a transactional lookup found.
#[derive(Debug)]
pub struct Transaction {
    /// The object, if any (usable, or usable only if revalidation fails).
    pub found: Option<Found>,
    /// Held when this lookup must insert or update.
    pub obligation: Option<Obligation>,
}

impl Cache {
    /// The primary key of a program's `key` in `service`.
    pub fn core_key(service: &str, key: &[u8]) -> Key {
        Key::custom(service, key)
    }

    /// The Core Cache object under `primary` matching request `headers`,
    /// when one is stored (fresh or stale).
    pub async fn core_lookup(&self, primary: &Key, headers: &http::HeaderMap) -> Option<Found> {
        self.lookup_kind(primary, headers, ObjectKind::Core).await
    }

    /// The object of `kind` under `primary` matching request `headers`.
    pub async fn lookup_kind(
        &self,
        primary: &Key,
        headers: &http::HeaderMap,
        kind: ObjectKind,
    ) -> Option<Found> {
        let rule = self.inner.index.vary_rule(primary).unwrap_or_default();
        let found = self.lookup(&primary.variant(&rule, headers)).await?;
        (found.meta.head.is_some() == (kind == ObjectKind::Http)).then_some(found)
    }

    /// A transactional lookup: usable objects are answered at once (one
    /// caller per stale object gets the obligation to revalidate it);
    /// otherwise the caller waits for the key's obligation.
    pub async fn core_transaction(&self, primary: Key, headers: &http::HeaderMap) -> Transaction {
        self.transaction(primary, headers, ObjectKind::Core).await
    }

    /// A transactional lookup of objects of `kind`.
    pub async fn transaction(
        &self,
        primary: Key,
        headers: &http::HeaderMap,
        kind: ObjectKind,
    ) -> Transaction {
        let lock = self.inner.core_locks.lock_of(primary);
        if let Some(found) = self.lookup_kind(&primary, headers, kind).await {
            match found.meta.staleness(now_ms()) {
                Staleness::Fresh => {
                    return Transaction {
                        found: Some(found),
                        obligation: None,
                    };
                }
                Staleness::WithinRevalidate => {
                    let obligation = lock.try_lock_owned().ok().map(|g| Obligation { _guard: g });
                    return Transaction {
                        found: Some(found),
                        obligation,
                    };
                }
                Staleness::WithinError | Staleness::Expired => {}
            }
        }
        let guard = lock.lock_owned().await;
        let again = self.lookup_kind(&primary, headers, kind).await;
        let usable = again.as_ref().map(|f| f.meta.staleness(now_ms()));
        match usable {
            Some(Staleness::Fresh | Staleness::WithinRevalidate) => Transaction {
                found: again,
                obligation: None,
            },
            _ => Transaction {
                found: again.filter(|_| usable == Some(Staleness::WithinError)),
                obligation: Some(Obligation { _guard: guard }),
            },
        }
    }

    /// Starts writing a Core Cache object under `primary`; its variant
    /// follows `write.vary` and the request `headers`.
    pub fn begin_core_write(
        &self,
        primary: Key,
        write: &CoreWrite,
        headers: &http::HeaderMap,
    ) -> ObjectWriter {
        let meta = write.meta("", primary);
        self.begin_write(primary.variant(&meta.vary, headers), write.sensitive)
    }

    /// Replaces the metadata of a stored object (`transaction_update`).
    pub async fn core_update(&self, found: &Found, write: &CoreWrite) -> Found {
        let meta = Arc::new(write.update(&found.meta));
        if let Some(w) = &self.inner.writer
            && !meta.sensitive
        {
            let op = WriteOp::Update {
                key: found.key,
                meta: Box::new((*meta).clone()),
            };
            let _ = w.send(op).await;
            let _ = w.sync().await;
        }
        self.inner.index.update_hot(&found.key, meta.clone());
        found.with_meta(meta)
    }
}
