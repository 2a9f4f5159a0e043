//! `fastly_http_cache`, the HTTP cache API: the SDK looks a request up,
//! sends it to the backend itself when it must, asks what to do with the
//! response (`prepare_response_for_storage`, `get_suggested_cache_options`)
//! and stores it. The host side is `crate::host::http_cache`; the rules are
//! the readthrough cache's (`crate::cache::freshness`).

use super::layout::GuestSlice;
use super::layout::Mask;
use super::layout::http_cache::{
    HttpCacheLookupOptions, HttpCacheWriteOptions, lookup_options, storage_action, write_options,
};
use super::memory::Mem;
use super::state::GuestState;
use super::{Guest, hostcall};
use crate::cache::Cache;
use crate::cache::core::{CoreWrite, ObjectKind};
use crate::cache::freshness::{Overrides, Uncacheable, freshness, suggestion};
use crate::cache::key::{Key, vary_rule};
use crate::cache::object::{StoredHead, now_ms};
use crate::cache::readthrough::origin_request;
use crate::host::core_cache::{CacheEntry, CacheObject, nanos};
use crate::host::handles::{HttpCacheHandle, RequestHandle, ResponseHandle};
use crate::host::http_cache::{HttpCacheEntry, clone_parts};
use crate::host::send::request_key;
use crate::host::session::{RequestState, ResponseState, Session};
use crate::host::{HostError, HostResult};
use std::time::Duration;
use wasmtime::Linker;
use zerocopy::IntoBytes;

/// How long a key stays uncacheable when the program records it without a
/// max age.
const HIT_FOR_PASS: Duration = Duration::from_secs(120);

pub(super) fn add(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    const M: &str = "fastly_http_cache";
    hostcall!(l, M, is_request_cacheable(req, out));
    hostcall!(l, M, async lookup(req, mask, opts, out));
    hostcall!(l, M, async transaction_lookup(req, mask, opts, out));
    hostcall!(l, M, transaction_insert(h, resp, mask, opts, body_out));
    hostcall!(
        l,
        M,
        transaction_insert_and_stream_back(h, resp, mask, opts, body_out, h_out)
    );
    hostcall!(l, M, async transaction_update(h, resp, mask, opts));
    hostcall!(l, M, async transaction_update_and_return_fresh(h, resp, mask, opts, h_out));
    hostcall!(l, M, transaction_choose_stale(h));
    hostcall!(l, M, transaction_record_not_cacheable(h, mask, opts));
    hostcall!(l, M, transaction_abandon(h));
    hostcall!(l, M, close(h));
    hostcall!(l, M, get_suggested_backend_request(h, out));
    hostcall!(
        l,
        M,
        get_suggested_cache_options(h, resp, wanted, in_opts, mask_out, out_opts)
    );
    hostcall!(
        l,
        M,
        prepare_response_for_storage(h, resp, action_out, resp_out)
    );
    hostcall!(l, M, get_found_response(h, transform, resp_out, body_out));
    hostcall!(l, M, get_state(h, out));
    hostcall!(l, M, get_length(h, out));
    hostcall!(l, M, get_max_age_ns(h, out));
    hostcall!(l, M, get_stale_while_revalidate_ns(h, out));
    hostcall!(l, M, get_stale_if_error_ns(h, out));
    hostcall!(l, M, get_age_ns(h, out));
    hostcall!(l, M, get_hits(h, out));
    hostcall!(l, M, get_sensitive_data(h, out));
    hostcall!(l, M, get_surrogate_keys(h, buf, max, nw));
    hostcall!(l, M, get_vary_rule(h, buf, max, nw));
    Ok(())
}

/// `is_request_cacheable`: 1 for GET and HEAD.
fn is_request_cacheable(
    m: &mut Mem<'_>,
    s: &mut Session,
    req: RequestHandle,
    out: u32,
) -> HostResult<()> {
    let method = &s.get(req)?.parts.method;
    let yes = method == http::Method::GET || method == http::Method::HEAD;
    m.u32(out, u32::from(yes))
}

/// The cache, the key and a copy of the request a lookup is for.
fn lookup_args(
    m: &Mem<'_>,
    s: &Session,
    req: RequestHandle,
    mask: u32,
    opts: u32,
) -> HostResult<(Cache, Key, http::request::Parts)> {
    let cache = s.http_cache()?;
    let parts = clone_parts(&s.get(req)?.parts);
    let mask = Mask(mask);
    let service = &s.env().name;
    let o = if mask.has(lookup_options::OVERRIDE_KEY) || mask.has(lookup_options::BACKEND_NAME) {
        Some(m.read_struct_prefix::<HttpCacheLookupOptions>(opts)?)
    } else {
        None
    };
    let key = match o {
        Some(o) if mask.has(lookup_options::OVERRIDE_KEY) => {
            Key::custom(service, m.slice(o.override_key)?)
        }
        Some(o) if mask.has(lookup_options::BACKEND_NAME) => {
            let name = m.lossy_text(o.backend_name)?;
            let backend = s.env().backends.get(&name);
            request_key(service, &parts, backend.as_deref())
        }
        _ => request_key(service, &parts, None),
    };
    Ok((cache, key, parts))
}

fn put_entry(m: &mut Mem<'_>, s: &mut Session, entry: HttpCacheEntry, out: u32) -> HostResult<()> {
    let h: HttpCacheHandle = s.try_insert(entry)?;
    m.handle(out, h)
}

/// `lookup`: the stored response, without waiting on transactions.
async fn lookup(
    g: &mut impl Guest,
    req: RequestHandle,
    mask: u32,
    opts: u32,
    out: u32,
) -> HostResult<()> {
    let (cache, primary, parts) = {
        let (m, s) = g.mem_and_session()?;
        lookup_args(&m, s, req, mask, opts)?
    };
    let found = cache
        .lookup_kind(&primary, &parts.headers, ObjectKind::Http)
        .await;
    let entry = entry(primary, parts, found, None);
    let (mut m, s) = g.mem_and_session()?;
    put_entry(&mut m, s, entry, out)
}

fn entry(
    primary: Key,
    request: http::request::Parts,
    found: Option<crate::cache::lookup::Found>,
    obligation: Option<crate::cache::core::Obligation>,
) -> HttpCacheEntry {
    if let Some(f) = &found {
        f.record_hit();
    }
    HttpCacheEntry {
        entry: CacheEntry {
            primary,
            headers: request.headers.clone(),
            object: found.map(CacheObject::Stored),
            obligation,
        },
        request,
        chose_stale: false,
    }
}

/// `transaction_lookup`: as `lookup`, but the first to miss must insert
/// and the others wait for it. A key recorded as not cacheable answers
/// nothing and no obligation: the SDK then sends uncached.
async fn transaction_lookup(
    g: &mut impl Guest,
    req: RequestHandle,
    mask: u32,
    opts: u32,
    out: u32,
) -> HostResult<()> {
    let (cache, primary, parts) = {
        let (m, s) = g.mem_and_session()?;
        lookup_args(&m, s, req, mask, opts)?
    };
    let entry = if cache.is_hit_for_pass(&primary) {
        entry(primary, parts, None, None)
    } else {
        let t = cache
            .transaction(primary, &parts.headers, ObjectKind::Http)
            .await;
        entry(primary, parts, t.found, t.obligation)
    };
    let (mut m, s) = g.mem_and_session()?;
    put_entry(&mut m, s, entry, out)
}

/// What the program stores with a response, from its options.
fn write_args(m: &Mem<'_>, mask: u32, opts: u32) -> HostResult<CoreWrite> {
    let mask = Mask(mask);
    let o: HttpCacheWriteOptions = m.read_struct_prefix(opts)?;
    let ns = |v: u64| Duration::from_nanos(v);
    let mut w = CoreWrite {
        max_age: ns(o.max_age_ns.get()),
        ..CoreWrite::default()
    };
    if mask.has(write_options::VARY_RULE) {
        w.vary = m.words(o.vary_rule)?;
    }
    if mask.has(write_options::INITIAL_AGE_NS) {
        w.initial_age = ns(o.initial_age_ns.get());
    }
    if mask.has(write_options::STALE_WHILE_REVALIDATE_NS) {
        w.stale_while_revalidate = ns(o.stale_while_revalidate_ns.get());
    }
    if mask.has(write_options::SURROGATE_KEYS) {
        w.surrogate_keys = m.words(o.surrogate_keys)?;
    }
    if mask.has(write_options::LENGTH) {
        w.length = Some(o.length.get());
    }
    if mask.has(write_options::STALE_IF_ERROR_NS) {
        w.stale_if_error = ns(o.stale_if_error_ns.get());
    }
    w.sensitive = mask.has(write_options::SENSITIVE_DATA);
    Ok(w)
}

/// Runs `f` on the entry of `h`, taken out of the session meanwhile.
fn with_entry<T>(
    s: &mut Session,
    h: HttpCacheHandle,
    f: impl FnOnce(&mut Session, &mut HttpCacheEntry) -> HostResult<T>,
) -> HostResult<T> {
    let mut entry = s.take(h)?;
    let r = f(s, &mut entry);
    s.put(h, entry);
    r
}

/// `transaction_insert`: stores `resp` with the body the program writes.
fn transaction_insert(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: HttpCacheHandle,
    resp: ResponseHandle,
    mask: u32,
    opts: u32,
    body_out: u32,
) -> HostResult<()> {
    let write = write_args(m, mask, opts)?;
    let (body, _) = with_entry(s, h, |s, e| s.http_insert(e, resp, write, false))?;
    m.handle(body_out, body)
}

/// `transaction_insert_and_stream_back`: the same, and a new handle whose
/// found response streams the body as it is written.
#[allow(clippy::too_many_arguments)]
fn transaction_insert_and_stream_back(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: HttpCacheHandle,
    resp: ResponseHandle,
    mask: u32,
    opts: u32,
    body_out: u32,
    h_out: u32,
) -> HostResult<()> {
    let write = write_args(m, mask, opts)?;
    let (body, back) = with_entry(s, h, |s, e| s.http_insert(e, resp, write, true))?;
    let back = back.ok_or_else(|| HostError::Other("no read-back entry".into()))?;
    m.handle(body_out, body)?;
    put_entry(m, s, back, h_out)
}

/// Refreshes the found object with `resp`'s head and the options; the
/// updated entry.
async fn update(
    g: &mut impl Guest,
    h: HttpCacheHandle,
    resp: ResponseHandle,
    mask: u32,
    opts: u32,
) -> HostResult<HttpCacheEntry> {
    let (cache, found, mut write, obligation) = {
        let (m, s) = g.mem_and_session()?;
        let mut write = write_args(&m, mask, opts)?;
        write.head = Some(s.response_head(resp)?);
        let found = s.get(h)?.found()?.clone();
        let obligation = s.get_mut(h)?.entry.obligation.take();
        s.take(resp)?;
        (s.http_cache()?, found, write, obligation)
    };
    let obligation = obligation.ok_or_else(|| {
        HostError::Invalid("this lookup does not hold the obligation to update".into())
    })?;
    write.length = None;
    let updated = cache.core_update(&found, &write).await;
    drop(obligation);
    let s = g.session();
    let e = s.get(h)?;
    let mut fresh = entry(
        e.entry.primary,
        clone_parts(&e.request),
        Some(updated),
        None,
    );
    fresh.chose_stale = false;
    Ok(fresh)
}

/// `transaction_update`: new head and freshness for the found object.
async fn transaction_update(
    g: &mut impl Guest,
    h: HttpCacheHandle,
    resp: ResponseHandle,
    mask: u32,
    opts: u32,
) -> HostResult<()> {
    let fresh = update(g, h, resp, mask, opts).await?;
    g.session().get_mut(h)?.entry.object = fresh.entry.object;
    Ok(())
}

/// `transaction_update_and_return_fresh`: the same; a new handle on the
/// refreshed object.
async fn transaction_update_and_return_fresh(
    g: &mut impl Guest,
    h: HttpCacheHandle,
    resp: ResponseHandle,
    mask: u32,
    opts: u32,
    h_out: u32,
) -> HostResult<()> {
    let fresh = update(g, h, resp, mask, opts).await?;
    let (mut m, s) = g.mem_and_session()?;
    put_entry(&mut m, s, fresh, h_out)
}

/// `transaction_choose_stale`: the backend failed; serve the stale object.
fn transaction_choose_stale(
    _m: &mut Mem<'_>,
    s: &mut Session,
    h: HttpCacheHandle,
) -> HostResult<()> {
    let e = s.get_mut(h)?;
    e.found()?;
    e.chose_stale = true;
    e.entry.obligation = None;
    Ok(())
}

/// `transaction_record_not_cacheable`: the key skips the cache for the
/// options' max age (two minutes without one).
fn transaction_record_not_cacheable(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: HttpCacheHandle,
    mask: u32,
    opts: u32,
) -> HostResult<()> {
    let write = write_args(m, mask, opts)?;
    let cache = s.http_cache()?;
    let e = s.get_mut(h)?;
    let ttl = if write.max_age.is_zero() {
        HIT_FOR_PASS
    } else {
        write.max_age
    };
    cache.record_uncacheable(e.entry.primary, ttl);
    e.entry.obligation = None;
    Ok(())
}

/// `transaction_abandon`: gives the obligation up.
fn transaction_abandon(_m: &mut Mem<'_>, s: &mut Session, h: HttpCacheHandle) -> HostResult<()> {
    s.get_mut(h)?.entry.obligation = None;
    Ok(())
}

/// `close`.
fn close(_m: &mut Mem<'_>, s: &mut Session, h: HttpCacheHandle) -> HostResult<()> {
    s.take(h).map(drop)
}

/// `get_suggested_backend_request`: the request to send: a GET for the
/// whole object, conditional on the stale object's validators.
fn get_suggested_backend_request(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: HttpCacheHandle,
    out: u32,
) -> HostResult<()> {
    let e = s.get(h)?;
    let stale = e.found().ok();
    let parts = origin_request(&e.request, stale);
    let rh: RequestHandle = s.insert(RequestState {
        parts,
        ..RequestState::new()
    });
    m.handle(out, rh)
}

/// A response handle holding `head`.
fn response_of(s: &mut Session, head: &StoredHead) -> ResponseHandle {
    let (status, headers) = head.to_http();
    let mut parts = http::Response::new(()).into_parts().0;
    parts.status = status;
    parts.headers = headers;
    s.insert(ResponseState {
        parts,
        ..ResponseState::new()
    })
}

/// `prepare_response_for_storage`: what to do with the backend's response
/// (`resp`, consumed), and the response to store or serve: a 304 becomes
/// the stored response with the new headers.
fn prepare_response_for_storage(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: HttpCacheHandle,
    resp: ResponseHandle,
    action_out: u32,
    resp_out: u32,
) -> HostResult<()> {
    let head = s.response_head(resp)?;
    let (status, headers) = head.to_http();
    let stored = s.get(h)?.found().ok().and_then(|f| f.meta.head.clone());
    let (action, out_head) = match stored {
        Some(old) if status == http::StatusCode::NOT_MODIFIED => {
            (storage_action::UPDATE, merged(&old, &headers))
        }
        _ => {
            let action = match (
                freshness(status, &headers, &Overrides::default()),
                vary_rule(&headers),
            ) {
                (Ok(_), Some(_)) => storage_action::INSERT,
                (Err(Uncacheable::SetCookie | Uncacheable::CacheControl), _) => {
                    storage_action::RECORD_UNCACHEABLE
                }
                _ => storage_action::DO_NOT_STORE,
            };
            (action, head)
        }
    };
    s.take(resp)?;
    let rh = response_of(s, &out_head);
    m.u32(action_out, action)?;
    m.handle(resp_out, rh)
}

/// A stored head refreshed by a 304's headers.
fn merged(old: &StoredHead, fresh: &http::HeaderMap) -> StoredHead {
    let (status, mut headers) = old.to_http();
    for (name, value) in fresh {
        if !matches!(
            *name,
            http::header::CONTENT_LENGTH
                | http::header::TRANSFER_ENCODING
                | http::header::CONTENT_ENCODING
        ) {
            headers.insert(name.clone(), value.clone());
        }
    }
    StoredHead::from_parts(status, &headers)
}

#[allow(clippy::too_many_arguments)]
/// `get_suggested_cache_options`: the options the headers of `resp` call
/// for, written into the guest's struct; text options into the guest's own
/// buffers (too small: `BUFLEN`, with the lengths needed).
fn get_suggested_cache_options(
    m: &mut Mem<'_>,
    s: &mut Session,
    _h: HttpCacheHandle,
    resp: ResponseHandle,
    wanted: u32,
    in_opts: u32,
    mask_out: u32,
    out_opts: u32,
) -> HostResult<()> {
    let head = s.response_head(resp)?;
    let (status, headers) = head.to_http();
    let f = suggestion(status, &headers, &Overrides::default());
    let wanted = Mask(wanted);
    let buffers: HttpCacheWriteOptions =
        if wanted.has(write_options::VARY_RULE) || wanted.has(write_options::SURROGATE_KEYS) {
            m.read_struct_prefix(in_opts)?
        } else {
            HttpCacheWriteOptions::default()
        };
    let mut out = HttpCacheWriteOptions::default();
    out.max_age_ns.set(f.max_age.as_nanos() as u64);
    let mut mask = 0;
    let mut short = None;
    let mut text = |bit: u32,
                    value: String,
                    buf: GuestSlice,
                    field: &mut GuestSlice,
                    m: &mut Mem<'_>|
     -> HostResult<()> {
        if !wanted.has(bit) {
            return Ok(());
        }
        mask |= bit;
        field.ptr = buf.ptr;
        field.len.set(value.len() as u32);
        if value.len() > buf.len.get() as usize {
            short = Some(value.len());
        } else {
            m.write(buf.ptr.get(), value.as_bytes())?;
        }
        Ok(())
    };
    let vary = vary_rule(&headers).unwrap_or_default().join(" ");
    text(
        write_options::VARY_RULE,
        vary,
        buffers.vary_rule,
        &mut out.vary_rule,
        m,
    )?;
    text(
        write_options::SURROGATE_KEYS,
        f.surrogate_keys.join(" "),
        buffers.surrogate_keys,
        &mut out.surrogate_keys,
        m,
    )?;
    if wanted.has(write_options::INITIAL_AGE_NS) {
        mask |= write_options::INITIAL_AGE_NS;
        out.initial_age_ns.set(f.initial_age.as_nanos() as u64);
    }
    if wanted.has(write_options::STALE_WHILE_REVALIDATE_NS) {
        mask |= write_options::STALE_WHILE_REVALIDATE_NS;
        out.stale_while_revalidate_ns
            .set(f.stale_while_revalidate.as_nanos() as u64);
    }
    if wanted.has(write_options::STALE_IF_ERROR_NS) {
        mask |= write_options::STALE_IF_ERROR_NS;
        out.stale_if_error_ns
            .set(f.stale_if_error.as_nanos() as u64);
    }
    let length = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let (true, Some(len)) = (wanted.has(write_options::LENGTH), length) {
        mask |= write_options::LENGTH;
        out.length.set(len);
    }
    if f.sensitive && wanted.has(write_options::SENSITIVE_DATA) {
        mask |= write_options::SENSITIVE_DATA;
    }
    m.write(out_opts, out.as_bytes())?;
    m.u32(mask_out, mask)?;
    match short {
        Some(needed) => Err(HostError::BufferLength { needed }),
        None => Ok(()),
    }
}

/// `get_found_response`: the usable response and its body; transformed
/// for the client (ranges, conditions, HEAD) when `transform` is 1.
fn get_found_response(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: HttpCacheHandle,
    transform: u32,
    resp_out: u32,
    body_out: u32,
) -> HostResult<()> {
    let (rh, bh) = with_entry(s, h, |s, e| s.found_response(e, transform != 0))?;
    m.handle(resp_out, rh)?;
    m.handle(body_out, bh)
}

/// `get_state`.
fn get_state(m: &mut Mem<'_>, s: &mut Session, h: HttpCacheHandle, out: u32) -> HostResult<()> {
    let e = s.get(h)?;
    let mut bits = e.state();
    if e.chose_stale {
        bits |= crate::host::core_cache::state::FOUND | crate::host::core_cache::state::USABLE;
    }
    m.u32(out, bits)
}

/// The metadata of the handle's object (`NONE` without one).
fn meta(s: &Session, h: HttpCacheHandle) -> HostResult<crate::cache::object::ObjectMeta> {
    Ok(s.get(h)?.entry.object()?.meta().clone())
}

/// `get_length`: known once the object is stored.
fn get_length(m: &mut Mem<'_>, s: &mut Session, h: HttpCacheHandle, out: u32) -> HostResult<()> {
    let len = s.get(h)?.found()?.meta.length;
    m.u64(out, len)
}

/// `get_max_age_ns`.
fn get_max_age_ns(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: HttpCacheHandle,
    out: u32,
) -> HostResult<()> {
    m.u64(out, nanos(meta(s, h)?.max_age_ms))
}

/// `get_stale_while_revalidate_ns`.
fn get_stale_while_revalidate_ns(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: HttpCacheHandle,
    out: u32,
) -> HostResult<()> {
    m.u64(out, nanos(meta(s, h)?.swr_ms))
}

/// `get_stale_if_error_ns`.
fn get_stale_if_error_ns(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: HttpCacheHandle,
    out: u32,
) -> HostResult<()> {
    m.u64(out, nanos(meta(s, h)?.sie_ms))
}

/// `get_age_ns`.
fn get_age_ns(m: &mut Mem<'_>, s: &mut Session, h: HttpCacheHandle, out: u32) -> HostResult<()> {
    m.u64(out, meta(s, h)?.age(now_ms()).as_nanos() as u64)
}

/// `get_hits`.
fn get_hits(m: &mut Mem<'_>, s: &mut Session, h: HttpCacheHandle, out: u32) -> HostResult<()> {
    let hits = s.get(h)?.found().map_or(0, |f| f.hits());
    s.get(h)?.entry.object()?;
    m.u64(out, hits)
}

/// `get_sensitive_data`.
fn get_sensitive_data(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: HttpCacheHandle,
    out: u32,
) -> HostResult<()> {
    m.u32(out, u32::from(meta(s, h)?.sensitive))
}

/// `get_surrogate_keys`: separated by spaces.
fn get_surrogate_keys(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: HttpCacheHandle,
    buf: u32,
    max: u32,
    nw: u32,
) -> HostResult<()> {
    let keys = meta(s, h)?.surrogate_keys.join(" ");
    m.out(buf, max, nw, keys.as_bytes())
}

/// `get_vary_rule`: header names separated by spaces.
fn get_vary_rule(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: HttpCacheHandle,
    buf: u32,
    max: u32,
    nw: u32,
) -> HostResult<()> {
    let rule = meta(s, h)?.vary.join(" ");
    m.out(buf, max, nw, rule.as_bytes())
}

#[cfg(test)]
#[path = "http_cache_tests.rs"]
mod http_cache_tests;
