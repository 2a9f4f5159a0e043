//! Opening the HTTP cache the edge's services share: on the `cached`
//! volume when the chart mounts one (`--cache-dir`), in memory otherwise.

use super::pending::writable_dir;
use crate::cache::capacity::parse_capacity;
use crate::cache::{Cache, CacheConfig};
use crate::metrics::CacheMetrics;
use anyhow::Context;
use std::path::PathBuf;

/// `--cache-dir`, `--cache-capacity`, `--cache-memory`.
#[derive(Debug, Clone)]
pub struct CacheFlags {
    /// The `cached` volume.
    pub dir: Option<PathBuf>,
    /// `cached.capacity`: "80%" of the volume or a quantity.
    pub capacity: String,
    /// Bytes of small objects held whole in memory.
    pub memory: u64,
}

impl Default for CacheFlags {
    fn default() -> Self {
        CacheFlags {
            dir: None,
            capacity: "80%".into(),
            memory: CacheConfig::default().memory,
        }
    }
}

/// Opens the cache; the line `/readyz` reports about it.
pub fn open_cache(flags: &CacheFlags, metrics: CacheMetrics) -> anyhow::Result<(Cache, String)> {
    if let Some(dir) = &flags.dir {
        writable_dir(dir).with_context(|| format!("--cache-dir {}", dir.display()))?;
    }
    let capacity = parse_capacity(&flags.capacity, flags.dir.as_deref()).with_context(|| {
        format!(
            "--cache-capacity {} (values: cached.capacity)",
            flags.capacity
        )
    })?;
    let config = CacheConfig {
        dir: flags.dir.clone(),
        capacity,
        memory: flags.memory,
        ..CacheConfig::default()
    };
    let (cache, report, set_aside) = open_or_start_afresh(&config, metrics)?;
    let line = match &flags.dir {
        Some(dir) => format!(
            "cache {}: {} objects, capacity {} MiB{}\n",
            dir.display(),
            report.objects,
            capacity >> 20,
            if report.torn_writes + report.bad_rows > 0 {
                format!(
                    ", {} unfinished writes and {} bad rows removed at open",
                    report.torn_writes, report.bad_rows
                )
            } else {
                String::new()
            }
        ),
        None => format!("cache: memory only ({} MiB)\n", flags.memory >> 20),
    };
    let line = match set_aside {
        Some(path) => format!(
            "{}; an unreadable database was set aside as {}\n",
            line.trim_end(),
            path.display()
        ),
        None => line,
    };
    tracing::info!("{}", line.trim_end());
    Ok((cache, line))
}

/// Opens the cache; a database that cannot be opened (a cache is only ever
/// a copy of what origins serve) is renamed aside and a new one started,
/// so that a damaged volume never keeps the edge from serving.
fn open_or_start_afresh(
    config: &CacheConfig,
    metrics: CacheMetrics,
) -> anyhow::Result<(Cache, crate::cache::OpenReport, Option<PathBuf>)> {
    match Cache::open(config, metrics.clone()) {
        Ok((cache, report)) => Ok((cache, report, None)),
        Err(e @ crate::cache::StoreError::Open { .. }) => {
            let Some(dir) = &config.dir else {
                return Err(anyhow::Error::new(e).context("opening the HTTP cache"));
            };
            let file = dir.join(crate::cache::DB_FILE);
            let aside = dir.join(format!("{}.unreadable", crate::cache::DB_FILE));
            tracing::error!(error = %e, aside = %aside.display(), "the cache database cannot be opened; starting an empty one");
            std::fs::rename(&file, &aside)
                .with_context(|| format!("setting {} aside", file.display()))?;
            let (cache, report) =
                Cache::open(config, metrics).context("opening a new HTTP cache")?;
            Ok((cache, report, Some(aside)))
        }
        Err(e) => Err(anyhow::Error::new(e).context("opening the HTTP cache")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_dir_or_a_bad_capacity_is_refused_with_the_flag() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let flags = CacheFlags {
            dir: Some(dir.path().join("missing")),
            ..CacheFlags::default()
        };
        let err = open_cache(&flags, CacheMetrics::default())
            .err()
            .map(|e| format!("{e:#}"));
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("--cache-dir") && e.contains("not a directory")),
            "{err:?}"
        );
        let flags = CacheFlags {
            dir: Some(dir.path().to_path_buf()),
            capacity: "lots".into(),
            ..CacheFlags::default()
        };
        let err = open_cache(&flags, CacheMetrics::default())
            .err()
            .map(|e| format!("{e:#}"));
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("cached.capacity")),
            "{err:?}"
        );
        let flags = CacheFlags {
            dir: Some(dir.path().to_path_buf()),
            capacity: "64Mi".into(),
            ..CacheFlags::default()
        };
        let (_, line) =
            open_cache(&flags, CacheMetrics::default()).unwrap_or_else(|e| panic!("{e:#}"));
        assert!(line.contains("0 objects, capacity 64 MiB"), "{line}");
    }

    #[test]
    fn an_unreadable_database_is_set_aside_and_the_edge_starts_with_an_empty_one() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(
            dir.path().join(crate::cache::DB_FILE),
            b"this is not a redb file at all, just noise",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let flags = CacheFlags {
            dir: Some(dir.path().to_path_buf()),
            capacity: "64Mi".into(),
            ..CacheFlags::default()
        };
        let (_, line) =
            open_cache(&flags, CacheMetrics::default()).unwrap_or_else(|e| panic!("{e:#}"));
        assert!(
            line.contains("0 objects") && line.contains("set aside"),
            "{line}"
        );
        assert!(dir.path().join("cache.redb.unreadable").exists());
    }
}
