//! `fastly_cache`, the Core Cache: lookups and inserts under the
//! program's keys, transactions (the first to miss must insert; the others
//! wait for it), and the replace API. The host side is
//! `crate::host::core_cache` over `crate::cache`.

use super::layout::Mask;
use super::layout::cache::{
    CacheGetBodyOptions, CacheLookupOptions, CacheWriteOptions, get_body_options, lookup_options,
    write_options,
};
use super::memory::Mem;
use super::state::GuestState;
use super::{Guest, hostcall};
use crate::cache::Cache;
use crate::cache::core::CoreWrite;
use crate::cache::key::Key;
use crate::cache::object::now_ms;
use crate::host::core_cache::{CacheBusy, CacheEntry, CacheObject, nanos};
use crate::host::handles::{CacheBusyHandle, CacheHandle, RequestHandle};
use crate::host::session::Session;
use crate::host::{HostError, HostResult};
use std::time::Duration;
use wasmtime::Linker;

/// Longest key accepted (the JS SDK allows this much).
const MAX_KEY: u32 = 8192;

pub(super) fn add(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    const M: &str = "fastly_cache";
    hostcall!(l, M, async lookup(kp, kl, mask, opts, out));
    hostcall!(l, M, insert(kp, kl, mask, opts, body_out));
    hostcall!(l, M, async transaction_lookup(kp, kl, mask, opts, out));
    hostcall!(l, M, transaction_lookup_async(kp, kl, mask, opts, out));
    hostcall!(l, M, async cache_busy_handle_wait(busy, out));
    hostcall!(l, M, transaction_insert(h, mask, opts, body_out));
    hostcall!(
        l,
        M,
        transaction_insert_and_stream_back(h, mask, opts, body_out, h_out)
    );
    hostcall!(l, M, async transaction_update(h, mask, opts));
    hostcall!(l, M, transaction_cancel(h));
    hostcall!(l, M, close(h));
    hostcall!(l, M, close_busy(busy));
    hostcall!(l, M, get_state(h, out));
    hostcall!(l, M, get_user_metadata(h, buf, max, nw));
    hostcall!(l, M, get_body(h, mask, opts, out));
    hostcall!(l, M, get_length(h, out));
    hostcall!(l, M, get_max_age_ns(h, out));
    hostcall!(l, M, get_stale_while_revalidate_ns(h, out));
    hostcall!(l, M, get_age_ns(h, out));
    hostcall!(l, M, get_hits(h, out));
    // The replace API: a replace handle is a cache handle whose lookup
    // never waits on another's obligation.
    hostcall!(l, M, async replace(kp, kl, mask, opts, out) => lookup);
    hostcall!(l, M, replace_insert(h, mask, opts, body_out));
    hostcall!(l, M, replace_get_state(h, out) => get_state);
    hostcall!(l, M, replace_get_user_metadata(h, buf, max, nw) => get_user_metadata);
    hostcall!(l, M, replace_get_body(h, mask, opts, out) => get_body);
    hostcall!(l, M, replace_get_length(h, out) => get_length);
    hostcall!(l, M, replace_get_max_age_ns(h, out) => get_max_age_ns);
    hostcall!(l, M, replace_get_stale_while_revalidate_ns(h, out) => get_stale_while_revalidate_ns);
    hostcall!(l, M, replace_get_age_ns(h, out) => get_age_ns);
    hostcall!(l, M, replace_get_hits(h, out) => get_hits);
    Ok(())
}

/// The key, primary key and request headers of a lookup.
fn lookup_args(
    m: &Mem<'_>,
    s: &Session,
    kp: u32,
    kl: u32,
    mask: u32,
    opts: u32,
) -> HostResult<(Cache, Key, http::HeaderMap)> {
    if kl > MAX_KEY {
        return Err(HostError::Invalid(format!(
            "cache keys are at most {MAX_KEY} bytes"
        )));
    }
    let cache = s.http_cache()?;
    let key = Cache::core_key(&s.env().name, m.bytes(kp, kl)?);
    let mask = Mask(mask);
    if mask.has(lookup_options::SERVICE) {
        return Err(HostError::Unsupported("looking up another service's cache"));
    }
    let mut headers = http::HeaderMap::new();
    if mask.has(lookup_options::REQUEST_HEADERS) {
        let o: CacheLookupOptions = m.read_struct_prefix(opts)?;
        headers = request_headers(s, o.request_headers.get())?;
    }
    Ok((cache, key, headers))
}

fn request_headers(s: &Session, h: u32) -> HostResult<http::HeaderMap> {
    Ok(s.get(RequestHandle::from(h))?.parts.headers.clone())
}

/// What a program writes with an object, from its options.
fn write_args(
    m: &Mem<'_>,
    s: &Session,
    mask: u32,
    opts: u32,
) -> HostResult<(CoreWrite, http::HeaderMap)> {
    let mask = Mask(mask);
    if mask.has(write_options::SERVICE) {
        return Err(HostError::Unsupported("writing another service's cache"));
    }
    let o: CacheWriteOptions = m.read_struct_prefix(opts)?;
    let ns = |v: u64| Duration::from_nanos(v);
    let mut w = CoreWrite {
        max_age: ns(o.max_age_ns.get()),
        ..CoreWrite::default()
    };
    if mask.has(write_options::EDGE_MAX_AGE_NS) {
        let edge = ns(o.edge_max_age_ns.get());
        if edge > w.max_age {
            return Err(HostError::Invalid(
                "edge_max_age_ns is larger than max_age_ns".into(),
            ));
        }
        // One POP: the edge's own max age is the one that counts here.
        w.max_age = edge;
    }
    if mask.has(write_options::INITIAL_AGE_NS) {
        w.initial_age = ns(o.initial_age_ns.get());
    }
    if mask.has(write_options::STALE_WHILE_REVALIDATE_NS) {
        w.stale_while_revalidate = ns(o.stale_while_revalidate_ns.get());
    }
    if mask.has(write_options::VARY_RULE) {
        w.vary = m.words(o.vary_rule)?;
    }
    if mask.has(write_options::SURROGATE_KEYS) {
        w.surrogate_keys = m.words(o.surrogate_keys)?;
        if w.surrogate_keys.iter().any(|k| k.len() > 1024) {
            return Err(HostError::Invalid(
                "a surrogate key is longer than 1024 bytes".into(),
            ));
        }
    }
    if mask.has(write_options::USER_METADATA) {
        w.user_metadata = m.slice(o.user_metadata)?.to_vec();
    }
    if mask.has(write_options::LENGTH) {
        w.length = Some(o.length.get());
    }
    w.sensitive = mask.has(write_options::SENSITIVE_DATA);
    let mut headers = http::HeaderMap::new();
    if mask.has(write_options::REQUEST_HEADERS) {
        headers = request_headers(s, o.request_headers.get())?;
    }
    Ok((w, headers))
}

/// `lookup` (and `replace`): the object under the key, without waiting on
/// transactions.
async fn lookup(
    g: &mut impl Guest,
    kp: u32,
    kl: u32,
    mask: u32,
    opts: u32,
    out: u32,
) -> HostResult<()> {
    let (cache, primary, headers) = {
        let (m, s) = g.mem_and_session()?;
        lookup_args(&m, s, kp, kl, mask, opts)?
    };
    let found = cache.core_lookup(&primary, &headers).await;
    if let Some(f) = &found {
        f.record_hit();
    }
    let entry = CacheEntry {
        primary,
        headers,
        object: found.map(CacheObject::Stored),
        obligation: None,
    };
    let (mut m, s) = g.mem_and_session()?;
    let h: CacheHandle = s.try_insert(entry)?;
    m.handle(out, h)
}

/// `insert`: a body handle whose bytes become the object when closed.
fn insert(
    m: &mut Mem<'_>,
    s: &mut Session,
    kp: u32,
    kl: u32,
    mask: u32,
    opts: u32,
    body_out: u32,
) -> HostResult<()> {
    if kl > MAX_KEY {
        return Err(HostError::Invalid(format!(
            "cache keys are at most {MAX_KEY} bytes"
        )));
    }
    let primary = Cache::core_key(&s.env().name, m.bytes(kp, kl)?);
    let (write, headers) = write_args(m, s, mask, opts)?;
    let (body, _) = s.core_insert(primary, write, headers, None, false)?;
    m.handle(body_out, body)
}

/// `transaction_lookup`: waits, if another transaction holds the key,
/// until it inserts or gives up.
async fn transaction_lookup(
    g: &mut impl Guest,
    kp: u32,
    kl: u32,
    mask: u32,
    opts: u32,
    out: u32,
) -> HostResult<()> {
    let (cache, primary, headers) = {
        let (m, s) = g.mem_and_session()?;
        lookup_args(&m, s, kp, kl, mask, opts)?
    };
    let entry = transaction(cache, primary, headers).await;
    let (mut m, s) = g.mem_and_session()?;
    let h: CacheHandle = s.try_insert(entry)?;
    m.handle(out, h)
}

async fn transaction(cache: Cache, primary: Key, headers: http::HeaderMap) -> CacheEntry {
    let t = cache.core_transaction(primary, &headers).await;
    if let Some(f) = &t.found {
        f.record_hit();
    }
    CacheEntry {
        primary,
        headers,
        object: t.found.map(CacheObject::Stored),
        obligation: t.obligation,
    }
}

/// `transaction_lookup_async`: the same, in the background; a busy handle.
fn transaction_lookup_async(
    m: &mut Mem<'_>,
    s: &mut Session,
    kp: u32,
    kl: u32,
    mask: u32,
    opts: u32,
    out: u32,
) -> HostResult<()> {
    let (cache, primary, headers) = lookup_args(m, s, kp, kl, mask, opts)?;
    let task = tokio::spawn(transaction(cache, primary, headers));
    let h: CacheBusyHandle = s.try_insert(CacheBusy::Running(task))?;
    m.handle(out, h)
}

/// `cache_busy_handle_wait`: the busy handle's cache handle, once resolved.
async fn cache_busy_handle_wait(
    g: &mut impl Guest,
    busy: CacheBusyHandle,
    out: u32,
) -> HostResult<()> {
    let entry = match g.session().take(busy)? {
        CacheBusy::Done(entry) => *entry,
        CacheBusy::Running(task) => task
            .await
            .map_err(|e| HostError::Other(format!("cache lookup: {e}")))?,
    };
    let (mut m, s) = g.mem_and_session()?;
    let h: CacheHandle = s.try_insert(entry)?;
    m.handle(out, h)
}

/// The obligation of `h`, taken (`INVAL` when it has none).
fn take_obligation(s: &mut Session, h: CacheHandle) -> HostResult<crate::cache::core::Obligation> {
    s.get_mut(h)?.obligation.take().ok_or_else(|| {
        HostError::Invalid("this lookup does not hold the obligation to insert".into())
    })
}

/// `transaction_insert`: inserts under the obligation.
fn transaction_insert(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: CacheHandle,
    mask: u32,
    opts: u32,
    body_out: u32,
) -> HostResult<()> {
    let (write, _) = write_args(m, s, mask & !write_options::REQUEST_HEADERS, opts)?;
    let (primary, headers) = {
        let e = s.get(h)?;
        (e.primary, e.headers.clone())
    };
    let obligation = take_obligation(s, h)?;
    let (body, _) = s.core_insert(primary, write, headers, Some(obligation), false)?;
    m.handle(body_out, body)
}

/// `transaction_insert_and_stream_back`: inserts, and a new cache handle
/// reads the object as it is written.
#[allow(clippy::too_many_arguments)]
fn transaction_insert_and_stream_back(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: CacheHandle,
    mask: u32,
    opts: u32,
    body_out: u32,
    h_out: u32,
) -> HostResult<()> {
    let (write, _) = write_args(m, s, mask & !write_options::REQUEST_HEADERS, opts)?;
    let (primary, headers) = {
        let e = s.get(h)?;
        (e.primary, e.headers.clone())
    };
    let obligation = take_obligation(s, h)?;
    let (body, back) = s.core_insert(primary, write, headers, Some(obligation), true)?;
    let back = back.ok_or_else(|| HostError::Other("no read-back entry".into()))?;
    let bh: CacheHandle = s.insert(back);
    m.handle(body_out, body)?;
    m.handle(h_out, bh)
}

/// `transaction_update`: new freshness and metadata for the found object,
/// body kept.
async fn transaction_update(
    g: &mut impl Guest,
    h: CacheHandle,
    mask: u32,
    opts: u32,
) -> HostResult<()> {
    let (write, found, cache) = {
        let (m, s) = g.mem_and_session()?;
        let (write, _) = write_args(&m, s, mask & !write_options::REQUEST_HEADERS, opts)?;
        let found = match s.get(h)?.object()? {
            CacheObject::Stored(f) => f.clone(),
            CacheObject::Writing { .. } => {
                return Err(HostError::Invalid(
                    "the object is still being written".into(),
                ));
            }
        };
        (write, found, s.http_cache()?)
    };
    let obligation = take_obligation(g.session(), h)?;
    let updated = cache.core_update(&found, &write).await;
    drop(obligation);
    g.session().get_mut(h)?.object = Some(CacheObject::Stored(updated));
    Ok(())
}

/// `transaction_cancel`: gives the obligation up (the next waiter gets it).
fn transaction_cancel(_m: &mut Mem<'_>, s: &mut Session, h: CacheHandle) -> HostResult<()> {
    s.get_mut(h)?.obligation = None;
    Ok(())
}

/// `close`: drops the handle (and an unfulfilled obligation).
fn close(_m: &mut Mem<'_>, s: &mut Session, h: CacheHandle) -> HostResult<()> {
    s.take(h).map(drop)
}

/// `close_busy`: drops a busy handle.
fn close_busy(_m: &mut Mem<'_>, s: &mut Session, busy: CacheBusyHandle) -> HostResult<()> {
    if let CacheBusy::Running(task) = s.take(busy)? {
        task.abort();
    }
    Ok(())
}

/// `replace_insert`: inserts unconditionally under the handle's key.
fn replace_insert(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: CacheHandle,
    mask: u32,
    opts: u32,
    body_out: u32,
) -> HostResult<()> {
    let (write, headers) = write_args(m, s, mask, opts)?;
    let primary = s.get(h)?.primary;
    let (body, _) = s.core_insert(primary, write, headers, None, false)?;
    m.handle(body_out, body)
}

/// `get_state`: the lookup state bits.
fn get_state(m: &mut Mem<'_>, s: &mut Session, h: CacheHandle, out: u32) -> HostResult<()> {
    let bits = s.get(h)?.state();
    m.u32(out, bits)
}

/// `get_user_metadata`: the bytes attached by the inserter.
fn get_user_metadata(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: CacheHandle,
    buf: u32,
    max: u32,
    nw: u32,
) -> HostResult<()> {
    let value = s.get(h)?.object()?.meta().user_metadata.clone();
    m.out(buf, max, nw, &value)
}

/// `get_body`: the body, or a range of it (`to` inclusive; `to` alone is
/// a suffix length; a range that does not fit answers the whole body).
fn get_body(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: CacheHandle,
    mask: u32,
    opts: u32,
    out: u32,
) -> HostResult<()> {
    let entry = s.get(h)?;
    let object = entry.object()?;
    let mask = Mask(mask);
    let range = if mask.has(get_body_options::FROM) || mask.has(get_body_options::TO) {
        let o: CacheGetBodyOptions = m.read_struct_prefix(opts)?;
        let length = match object {
            CacheObject::Stored(f) => Some(f.meta.length),
            CacheObject::Writing { .. } => None,
        };
        body_range(mask, o.from.get(), o.to.get(), length)
    } else {
        None
    };
    let body = entry.body(range)?;
    let bh: crate::host::handles::BodyHandle = s.insert(body);
    m.handle(out, bh)
}

/// The inclusive range `get_body` asks for, when it fits an object of
/// `length` bytes.
fn body_range(mask: Mask, from: u64, to: u64, length: Option<u64>) -> Option<(u64, u64)> {
    let len = length?;
    let last = len.checked_sub(1)?;
    let (start, end) = match (
        mask.has(get_body_options::FROM),
        mask.has(get_body_options::TO),
    ) {
        (true, true) => (from, to.min(last)),
        (true, false) => (from, last),
        (false, true) => (len.saturating_sub(to), last),
        (false, false) => return None,
    };
    (start <= end && end <= last).then_some((start, end))
}

/// `get_length`: the body's length, when known.
fn get_length(m: &mut Mem<'_>, s: &mut Session, h: CacheHandle, out: u32) -> HostResult<()> {
    let len = match s.get(h)?.object()? {
        CacheObject::Stored(f) => f.meta.length,
        CacheObject::Writing { .. } => return Err(HostError::None),
    };
    m.u64(out, len)
}

/// `get_max_age_ns`.
fn get_max_age_ns(m: &mut Mem<'_>, s: &mut Session, h: CacheHandle, out: u32) -> HostResult<()> {
    let v = nanos(s.get(h)?.object()?.meta().max_age_ms);
    m.u64(out, v)
}

/// `get_stale_while_revalidate_ns`.
fn get_stale_while_revalidate_ns(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: CacheHandle,
    out: u32,
) -> HostResult<()> {
    let v = nanos(s.get(h)?.object()?.meta().swr_ms);
    m.u64(out, v)
}

/// `get_age_ns`: its age now.
fn get_age_ns(m: &mut Mem<'_>, s: &mut Session, h: CacheHandle, out: u32) -> HostResult<()> {
    let age = s.get(h)?.object()?.meta().age(now_ms());
    m.u64(out, age.as_nanos() as u64)
}

/// `get_hits`: hits on this object here since the edge started.
fn get_hits(m: &mut Mem<'_>, s: &mut Session, h: CacheHandle, out: u32) -> HostResult<()> {
    let hits = match s.get(h)?.object()? {
        CacheObject::Stored(f) => f.hits(),
        CacheObject::Writing { .. } => 0,
    };
    m.u64(out, hits)
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod cache_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_ranges_follow_the_abi() {
        let both = Mask(get_body_options::FROM | get_body_options::TO);
        assert_eq!(body_range(both, 2, 5, Some(10)), Some((2, 5)));
        assert_eq!(body_range(both, 2, 50, Some(10)), Some((2, 9)));
        assert_eq!(
            body_range(Mask(get_body_options::FROM), 7, 0, Some(10)),
            Some((7, 9))
        );
        assert_eq!(
            body_range(Mask(get_body_options::TO), 0, 3, Some(10)),
            Some((7, 9))
        );
        assert_eq!(
            body_range(both, 8, 2, Some(10)),
            None,
            "inverted: the whole body"
        );
        assert_eq!(
            body_range(both, 0, 2, None),
            None,
            "unknown length: the whole body"
        );
    }
}
