//! Cache generations: how many times each service's cache was purged
//! whole. Programs see the count as `FASTLY_CACHE_GENERATION` and may
//! fold it into their own keys. With a database, the counts live in its
//! counters table and survive restarts.

use super::Cache;
use super::store::{COUNTERS, Store, StoreError, db_err};
use redb::{ReadableDatabase, ReadableTable};
use std::collections::HashMap;
use std::sync::Mutex;

/// The counters-table key of `service`'s generation.
fn row(service: &str) -> String {
    format!("generation/{service}")
}

/// Every service's generation, in memory.
#[derive(Debug, Default)]
pub struct Generations(Mutex<HashMap<String, u64>>);

impl Generations {
    /// The generations stored in `store`.
    pub fn load(store: &Store) -> Result<Self, StoreError> {
        let txn = store.db().begin_read().map_err(db_err)?;
        let counters = txn.open_table(COUNTERS).map_err(db_err)?;
        let mut map = HashMap::new();
        for entry in counters.range("generation/"..).map_err(db_err)? {
            let (k, v) = entry.map_err(db_err)?;
            let Some(service) = k.value().strip_prefix("generation/") else {
                break;
            };
            map.insert(service.to_owned(), v.value());
        }
        Ok(Generations(Mutex::new(map)))
    }

    fn get(&self, service: &str) -> u64 {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(service).copied().unwrap_or(0)
    }

    fn bump(&self, service: &str) -> u64 {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(service.to_owned()).or_insert(0);
        *n += 1;
        *n
    }
}

impl Cache {
    /// How many times `service`'s cache was purged whole.
    pub fn generation(&self, service: &str) -> u64 {
        self.inner.generations.get(service)
    }

    /// Counts a purge-all of `service`, on disk too when there is a
    /// database.
    pub(super) async fn next_generation(&self, service: &str) -> Result<u64, StoreError> {
        let n = self.inner.generations.bump(service);
        let Some(store) = self.inner.store.clone() else {
            return Ok(n);
        };
        let key = row(service);
        let write = tokio::task::spawn_blocking(move || -> Result<(), StoreError> {
            let txn = store.db().begin_write().map_err(db_err)?;
            {
                let mut counters = txn.open_table(COUNTERS).map_err(db_err)?;
                let stored = counters
                    .get(key.as_str())
                    .map_err(db_err)?
                    .map(|v| v.value());
                counters
                    .insert(key.as_str(), stored.unwrap_or(0).max(n - 1) + 1)
                    .map_err(db_err)?;
            }
            txn.commit().map_err(db_err)
        });
        match write.await {
            Ok(r) => r.map(|()| n),
            Err(e) => Err(StoreError::Db(Box::new(redb::Error::Io(
                std::io::Error::other(e),
            )))),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::cache::purge::PurgeTarget;
    use crate::cache::{Cache, CacheConfig};
    use crate::metrics::CacheMetrics;

    #[tokio::test]
    async fn purge_all_counts_generations_that_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let config = CacheConfig {
            dir: Some(dir.path().to_path_buf()),
            ..CacheConfig::default()
        };
        {
            let (cache, _) = Cache::open(&config, CacheMetrics::default()).unwrap();
            assert_eq!(cache.generation("shop"), 0);
            cache.purge("shop", PurgeTarget::All, false).await.unwrap();
            cache.purge("shop", PurgeTarget::All, false).await.unwrap();
            cache
                .purge("shop", PurgeTarget::Surrogate("k".into()), false)
                .await
                .unwrap();
            assert_eq!(cache.generation("shop"), 2);
            assert_eq!(cache.generation("blog"), 0);
        }
        // The writer thread lets go of the file once its last sender is gone.
        let mut reopened = Cache::open(&config, CacheMetrics::default());
        for _ in 0..50 {
            if reopened.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            reopened = Cache::open(&config, CacheMetrics::default());
        }
        let (cache, _) = reopened.unwrap();
        assert_eq!(cache.generation("shop"), 2);
        cache.purge("blog", PurgeTarget::All, true).await.unwrap();
        assert_eq!(cache.generation("blog"), 1);
    }
}
