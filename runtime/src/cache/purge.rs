//! Purges: by surrogate key, by primary key (a URL or a program's key,
//! every variant) or everything of a service; hard (gone at once) or soft
//! (marked stale, still usable within its stale windows while it is
//! refetched). When a purge returns, no lookup serves what it purged.

use super::Cache;
use super::key::Key;
use super::object::ObjectMeta;
use super::store::{StoreError, primary_tag};
use super::writer::WriteOp;
use std::sync::Arc;

/// What to purge.
#[derive(Debug, Clone)]
pub enum PurgeTarget {
    /// Objects tagged with this surrogate key.
    Surrogate(String),
    /// Every variant stored under this primary key.
    Primary(Key),
    /// Everything of the service.
    All,
}

impl PurgeTarget {
    /// The metric label.
    fn label(&self, soft: bool) -> &'static str {
        match (self, soft) {
            (PurgeTarget::Surrogate(_), false) => "surrogate",
            (PurgeTarget::Surrogate(_), true) => "soft_surrogate",
            (PurgeTarget::Primary(_), false) => "key",
            (PurgeTarget::Primary(_), true) => "soft_key",
            (PurgeTarget::All, _) => "all",
        }
    }
}

impl Cache {
    /// Purges `target` in `service`; the number of objects purged.
    pub async fn purge(
        &self,
        service: &str,
        target: PurgeTarget,
        soft: bool,
    ) -> Result<usize, StoreError> {
        self.inner
            .purge_epoch
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        let m = &self.inner.metrics;
        m.purges
            .get_or_create(&crate::metrics::Metrics::kind(service, target.label(soft)))
            .inc();
        let mut victims = self.disk_victims(service, &target).await?;
        let in_target = |meta: &ObjectMeta| {
            meta.service == service
                && match &target {
                    PurgeTarget::Surrogate(k) => meta.surrogate_keys.iter().any(|s| s == k),
                    PurgeTarget::Primary(p) => meta.primary == p.0,
                    PurgeTarget::All => true,
                }
        };
        for (key, id) in self.inner.index.hot_keys_matching(in_target) {
            if let Some(object) = self.inner.index.hot(&key)
                && !victims.iter().any(|(k, _)| *k == key)
                && object.meta.object_id == id
            {
                victims.push((key, (*object.meta).clone()));
            }
        }
        let count = victims.len();
        for (key, mut meta) in victims {
            if soft && !matches!(target, PurgeTarget::All) {
                meta.invalidated = true;
                let meta = Arc::new(meta);
                self.inner.index.update_hot(&key, meta.clone());
                if let Some(w) = &self.inner.writer {
                    w.send(WriteOp::Update {
                        key,
                        meta: Box::new((*meta).clone()),
                    })
                    .await?;
                }
            } else {
                self.inner.index.remove(&key, meta.object_id);
                if let Some(w) = &self.inner.writer {
                    w.send(WriteOp::Delete {
                        key,
                        id: meta.object_id,
                    })
                    .await?;
                }
            }
        }
        self.sync().await?;
        if matches!(target, PurgeTarget::All) {
            self.next_generation(service).await?;
        }
        m.purged_objects
            .get_or_create(&crate::metrics::Metrics::service(service))
            .inc_by(count as u64);
        self.refresh_gauges();
        Ok(count)
    }

    /// The stored objects `target` names, read on a blocking thread.
    async fn disk_victims(
        &self,
        service: &str,
        target: &PurgeTarget,
    ) -> Result<Vec<(Key, ObjectMeta)>, StoreError> {
        let Some(store) = self.inner.store.clone() else {
            return Ok(Vec::new());
        };
        let (service, target) = (service.to_owned(), target.clone());
        let read = tokio::task::spawn_blocking(move || {
            let keys: Vec<Key> = match &target {
                PurgeTarget::Surrogate(k) => store.keys_with_surrogate(&service, k)?,
                PurgeTarget::Primary(p) => {
                    store.keys_with_surrogate(&service, &primary_tag(&p.0))?
                }
                PurgeTarget::All => store
                    .keys_of_service(&service)?
                    .into_iter()
                    .map(|(k, _)| k)
                    .collect(),
            };
            let mut out = Vec::new();
            for key in keys {
                if let Some(meta) = store.read_meta(&key)?
                    && meta.service == service
                {
                    out.push((key, meta));
                }
            }
            Ok(out)
        })
        .await;
        read.unwrap_or_else(|e| {
            Err(StoreError::Db(Box::new(redb::Error::Io(
                std::io::Error::other(e),
            ))))
        })
    }
}
