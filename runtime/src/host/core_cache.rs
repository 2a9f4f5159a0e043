//! The Core Cache as the program holds it: cache handles (the outcome of a
//! lookup, possibly with the obligation to insert), busy handles (a
//! transactional lookup still waiting), and inserts written through a body
//! handle, committed when the program closes it.

use super::body::{Body, StreamBody, boxed};
use super::handles::BodyHandle;
use super::session::Session;
use super::{HostError, HostResult};
use crate::cache::Cache;
use crate::cache::body::CacheBody;
use crate::cache::core::{CoreWrite, Obligation};
use crate::cache::fill::{Fill, FillHead};
use crate::cache::key::Key;
use crate::cache::lookup::Found;
use crate::cache::object::{ObjectMeta, Staleness, now_ms};
use bytes::Bytes;
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// `cache_lookup_state` bits.
pub mod state {
    /// An object was found and may be used.
    pub const FOUND: u32 = 1 << 0;
    /// It may be used (fresh, or within stale-while-revalidate).
    pub const USABLE: u32 = 1 << 1;
    /// It is past its max age.
    pub const STALE: u32 = 1 << 2;
    /// This caller must insert or update.
    pub const MUST_INSERT_OR_UPDATE: u32 = 1 << 3;
    /// A stale object usable only if revalidation fails.
    pub const USABLE_IF_ERROR: u32 = 1 << 4;
}

/// What a cache handle refers to.
#[derive(Debug)]
pub enum CacheObject {
    /// A stored object.
    Stored(Found),
    /// An object this program is inserting, read back as it is written.
    Writing {
        /// Its body so far.
        fill: Arc<Fill<()>>,
        /// Its metadata as written.
        meta: Arc<ObjectMeta>,
    },
}

impl CacheObject {
    /// Its metadata.
    pub fn meta(&self) -> &ObjectMeta {
        match self {
            CacheObject::Stored(f) => &f.meta,
            CacheObject::Writing { meta, .. } => meta,
        }
    }
}

/// A cache handle's contents.
#[derive(Debug)]
pub struct CacheEntry {
    /// The primary key looked up.
    pub primary: Key,
    /// The request headers it was looked up with (for Vary).
    pub headers: http::HeaderMap,
    /// What was found.
    pub object: Option<CacheObject>,
    /// Held when this handle must insert or update.
    pub obligation: Option<Obligation>,
}

impl CacheEntry {
    /// The lookup state bits.
    pub fn state(&self) -> u32 {
        let mut bits = 0;
        match &self.object {
            Some(CacheObject::Writing { .. }) => bits |= state::FOUND | state::USABLE,
            Some(CacheObject::Stored(f)) => match f.meta.staleness(now_ms()) {
                Staleness::Fresh => bits |= state::FOUND | state::USABLE,
                Staleness::WithinRevalidate => bits |= state::FOUND | state::USABLE | state::STALE,
                Staleness::WithinError => bits |= state::STALE | state::USABLE_IF_ERROR,
                Staleness::Expired => {}
            },
            None => {}
        }
        if self.obligation.is_some() {
            bits |= state::MUST_INSERT_OR_UPDATE;
        }
        bits
    }

    /// The object, when one was found (`NONE` otherwise).
    pub fn object(&self) -> HostResult<&CacheObject> {
        self.object.as_ref().ok_or(HostError::None)
    }

    /// Its body, or bytes `from..=to` of it.
    pub fn body(&self, range: Option<(u64, u64)>) -> HostResult<Body> {
        let body: CacheBody = match self.object()? {
            CacheObject::Stored(f) => f.body(),
            CacheObject::Writing { fill, .. } => fill.body(),
        };
        let body = match range {
            Some((from, to)) => body.range(from, to),
            None => body,
        };
        Ok(Body::from_stream(boxed(body)))
    }
}

/// A transactional lookup still waiting on another's obligation.
#[derive(Debug)]
pub enum CacheBusy {
    /// Waiting.
    Running(JoinHandle<CacheEntry>),
    /// Resolved.
    Done(Box<CacheEntry>),
}

impl Session {
    /// The service's cache (`UNSUPPORTED` when it runs without one).
    pub fn http_cache(&self) -> HostResult<Cache> {
        self.env()
            .cache
            .clone()
            .ok_or(HostError::Unsupported("this service runs without a cache"))
    }

    /// Writes a Core Cache object through a new body handle: committed
    /// when the program closes the body, dropped when it abandons it or
    /// writes another length than it announced. The obligation, if any, is
    /// released once the object is stored. With `stream_back`, also a
    /// cache entry reading the object as it is written.
    pub fn core_insert(
        &mut self,
        primary: Key,
        write: CoreWrite,
        headers: http::HeaderMap,
        obligation: Option<Obligation>,
        stream_back: bool,
    ) -> HostResult<(BodyHandle, Option<CacheEntry>)> {
        let cache = self.http_cache()?;
        let service = self.env().name.clone();
        let (body, out, closed) = Body::written_by_guest();
        let handle = self.insert(body);
        let meta = write.meta(&service, primary);
        let fill = stream_back.then(|| {
            let fill = Fill::<()>::standalone();
            fill.set_head(FillHead::Uncacheable);
            fill
        });
        let back = fill.as_ref().map(|fill| CacheEntry {
            primary,
            headers: headers.clone(),
            object: Some(CacheObject::Writing {
                fill: fill.clone(),
                meta: Arc::new(meta.clone()),
            }),
            obligation: None,
        });
        let writer = cache.begin_core_write(primary, &write, &headers);
        tokio::spawn(async move {
            let stored = copy_into_cache(
                boxed(out),
                writer,
                fill.as_ref(),
                closed,
                write.length,
                meta,
            )
            .await;
            if let Err(why) = stored {
                tracing::debug!(%why, "core cache insert not stored");
            }
            drop(obligation);
        });
        Ok((handle, back))
    }
}

/// Copies what the program writes into the cache (and the read-back
/// fill), then commits, or gives up with the reason.
async fn copy_into_cache(
    mut out: StreamBody,
    mut writer: crate::cache::write::ObjectWriter,
    fill: Option<&Arc<Fill<()>>>,
    closed: tokio::sync::oneshot::Receiver<()>,
    announced: Option<u64>,
    meta: ObjectMeta,
) -> Result<(), String> {
    let mut written = 0u64;
    let fail =
        |fill: Option<&Arc<Fill<()>>>, writer: crate::cache::write::ObjectWriter, why: String| {
            if let Some(f) = fill {
                f.end(Err(why.clone()));
            }
            writer.abort();
            Err(why)
        };
    while let Some(frame) = out.frame().await {
        let data: Bytes = match frame {
            Ok(f) => match f.into_data() {
                Ok(d) => d,
                Err(_) => continue,
            },
            Err(e) => return fail(fill, writer, format!("body: {e}")),
        };
        written += data.len() as u64;
        if let Some(f) = fill {
            f.push(data.clone());
        }
        writer.write(data).await;
    }
    if closed.await.is_err() {
        return fail(fill, writer, "the program abandoned the body".into());
    }
    if let Some(n) = announced.filter(|n| *n != written) {
        return fail(
            fill,
            writer,
            format!("{written} bytes written, {n} announced"),
        );
    }
    if let Some(f) = fill {
        f.end(Ok(()));
    }
    writer
        .finish(meta)
        .await
        .map(drop)
        .ok_or_else(|| "the store refused it".into())
}

/// Nanoseconds of `d`, as the ABI counts.
pub fn nanos(ms: u64) -> u64 {
    Duration::from_millis(ms).as_nanos() as u64
}
