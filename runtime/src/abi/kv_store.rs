//! `fastly_kv_store` and the older `fastly_object_store`: lookups, inserts
//! with modes and metadata, deletes and listing, over the redb-backed
//! stores of `crate::host::kv`. Writes run on blocking threads.
//!
//! An insert over a limit (`limits.kvValueSize`, `kvMetadataSize`,
//! `kvStoreSize`, or the request's `bufferedBytes`) answers
//! `PAYLOAD_TOO_LARGE` in `kv_error` where the call has one (the SDKs
//! report it as such), and `LIMITEXCEEDED` as the status of
//! `fastly_object_store::insert`, which has only a status. A value is read
//! from its body only up to its limit: an upload of any size is never
//! collected whole.

use super::layout::Mask;
use super::layout::kv::{KvInsertConfig, KvListConfig, insert_options, list_options};
use super::memory::Mem;
use super::state::GuestState;
use super::{Guest, hostcall};
use crate::host::body::Body;
use crate::host::handles::{BodyHandle, KvOpHandle, StoreHandle};
use crate::host::kv::{InsertMode, InsertOptions, KvError, KvLimits, KvValue};
use crate::host::ledger::Held;
use crate::host::session::{KvOp, KvOutcome, OpenStore, Session};
use crate::host::{HostError, HostLimit, HostResult};
use std::time::Duration;
use wasmtime::Linker;

const INVALID_BODY: u32 = fastly_shared::INVALID_BODY_HANDLE;
const KV_OK: u32 = 1;

pub(super) fn add(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    hostcall!(l, "fastly_kv_store", open(np, nl, out));
    hostcall!(l, "fastly_kv_store", lookup(store, kp, kl, mask, cfg, out));
    hostcall!(l, "fastly_kv_store", async lookup_wait(h, body_out, meta, meta_len, nw, gen_out, err_out));
    hostcall!(l, "fastly_kv_store", async lookup_wait_v2(h, body_out, meta, meta_len, nw, gen_out, err_out));
    hostcall!(
        l,
        "fastly_kv_store",
        insert(store, kp, kl, body, mask, cfg, out)
    );
    hostcall!(l, "fastly_kv_store", async insert_wait(h, err_out));
    hostcall!(l, "fastly_kv_store", delete(store, kp, kl, mask, cfg, out));
    hostcall!(l, "fastly_kv_store", async delete_wait(h, err_out));
    hostcall!(l, "fastly_kv_store", list(store, mask, cfg, out));
    hostcall!(l, "fastly_kv_store", async list_wait(h, body_out, err_out));
    // The object-store names of the same operations, kept by older SDKs.
    hostcall!(l, "fastly_object_store", open(np, nl, out));
    hostcall!(l, "fastly_object_store", lookup(store, kp, kl, body_out) => object_lookup);
    hostcall!(l, "fastly_object_store", lookup_async(store, kp, kl, out));
    hostcall!(l, "fastly_object_store", async pending_lookup_wait(h, body_out));
    hostcall!(l, "fastly_object_store", async insert(store, kp, kl, body) => object_insert);
    hostcall!(
        l,
        "fastly_object_store",
        insert_async(store, kp, kl, body, out)
    );
    hostcall!(l, "fastly_object_store", async pending_insert_wait(h, err_out) => insert_wait);
    hostcall!(l, "fastly_object_store", delete_async(store, kp, kl, out));
    hostcall!(l, "fastly_object_store", async pending_delete_wait(h));
    Ok(())
}

/// The name of the KV store behind `h` (`BADF` for another kind of store).
fn store_name(s: &Session, h: StoreHandle) -> HostResult<String> {
    match s.get(h)? {
        OpenStore::Kv(name) => Ok(name.clone()),
        _ => Err(HostError::BadHandle(h.into())),
    }
}

/// Writes a new body holding `data` to `body_out`, or the invalid body
/// handle when there is no data.
fn write_body(
    m: &mut Mem<'_>,
    s: &mut Session,
    body_out: u32,
    data: Option<Vec<u8>>,
) -> HostResult<()> {
    match data {
        Some(data) => {
            let bh = s.insert::<BodyHandle>(Body::from_bytes(data));
            m.handle(body_out, bh)
        }
        None => m.u32(body_out, INVALID_BODY),
    }
}

/// `fastly_kv_store::open` and `fastly_object_store::open`: a handle to a
/// configured KV store (`INVAL` for an unknown name).
fn open(m: &mut Mem<'_>, s: &mut Session, np: u32, nl: u32, out: u32) -> HostResult<()> {
    let name = m.str(np, nl)?.to_owned();
    if !s.env().kv_names.contains(&name) {
        return Err(HostError::Invalid(format!("no KV store named `{name}`")));
    }
    let h: StoreHandle = s.try_insert(OpenStore::Kv(name))?;
    m.handle(out, h)
}

/// `fastly_object_store::lookup_async`: starts a lookup; its handle goes
/// to `out`. redb reads are served from its page cache: the lookup is done
/// at once, with no thread hop.
fn lookup_async(
    m: &mut Mem<'_>,
    s: &mut Session,
    store: StoreHandle,
    kp: u32,
    kl: u32,
    out: u32,
) -> HostResult<()> {
    let name = store_name(s, store)?;
    let key = m.str(kp, kl)?;
    let result = s.env().kv.lookup(&name, key);
    let h = s.insert::<KvOpHandle>(KvOp::Done(KvOutcome::Lookup(result)));
    m.handle(out, h)
}

/// `fastly_kv_store::lookup`: starts a lookup (the config and its mask
/// carry nothing this runtime uses).
#[allow(clippy::too_many_arguments)]
fn lookup(
    m: &mut Mem<'_>,
    s: &mut Session,
    store: StoreHandle,
    kp: u32,
    kl: u32,
    _mask: u32,
    _cfg: u32,
    out: u32,
) -> HostResult<()> {
    lookup_async(m, s, store, kp, kl, out)
}

/// How wide the generation a lookup answers is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GenerationWidth {
    /// 32 bits (`lookup_wait`).
    U32,
    /// 64 bits (`lookup_wait_v2`).
    U64,
}

/// `fastly_kv_store::lookup_wait`: the value as a body, its metadata and
/// its generation (32 bits); the outcome in `err_out`.
#[allow(clippy::too_many_arguments)]
async fn lookup_wait(
    g: &mut impl Guest,
    h: KvOpHandle,
    body_out: u32,
    meta: u32,
    meta_len: u32,
    nw: u32,
    gen_out: u32,
    err_out: u32,
) -> HostResult<()> {
    let width = GenerationWidth::U32;
    lookup_wait_as(g, h, body_out, meta, meta_len, nw, gen_out, err_out, width).await
}

/// `fastly_kv_store::lookup_wait_v2`: as `lookup_wait`, with a 64-bit
/// generation.
#[allow(clippy::too_many_arguments)]
async fn lookup_wait_v2(
    g: &mut impl Guest,
    h: KvOpHandle,
    body_out: u32,
    meta: u32,
    meta_len: u32,
    nw: u32,
    gen_out: u32,
    err_out: u32,
) -> HostResult<()> {
    let width = GenerationWidth::U64;
    lookup_wait_as(g, h, body_out, meta, meta_len, nw, gen_out, err_out, width).await
}

/// Waits for a lookup and writes its outcome, the generation `width` wide.
#[allow(clippy::too_many_arguments)]
async fn lookup_wait_as(
    g: &mut impl Guest,
    h: KvOpHandle,
    body_out: u32,
    meta: u32,
    meta_len: u32,
    nw: u32,
    gen_out: u32,
    err_out: u32,
    width: GenerationWidth,
) -> HostResult<()> {
    let outcome = g.session().wait_kv(h).await?;
    let (mut m, s) = g.mem_and_session()?;
    let KvOutcome::Lookup(result) = outcome else {
        return Err(HostError::BadHandle(h.into()));
    };
    match result {
        Ok(Some(value)) => {
            m.out(meta, meta_len, nw, &value.metadata)?;
            match width {
                GenerationWidth::U32 => m.u32(gen_out, value.generation as u32)?,
                GenerationWidth::U64 => m.u64(gen_out, value.generation)?,
            }
            write_body(&mut m, s, body_out, Some(value.data))?;
            m.u32(err_out, KV_OK)
        }
        Ok(None) => {
            write_body(&mut m, s, body_out, None)?;
            m.u32(nw, 0)?;
            m.u32(err_out, KvError::NotFound.code())
        }
        Err(e) => {
            write_body(&mut m, s, body_out, None)?;
            m.u32(nw, 0)?;
            m.u32(err_out, e.code())
        }
    }
}

/// The object store's answer to a lookup: the value as a body, or, for a
/// missing key, success with the invalid body handle (what the Rust SDK
/// reads as `Ok(None)`; `NONE` would be an error to it).
fn object_lookup_answer(
    m: &mut Mem<'_>,
    s: &mut Session,
    body_out: u32,
    result: Result<Option<KvValue>, KvError>,
) -> HostResult<()> {
    match result {
        Ok(Some(value)) => write_body(m, s, body_out, Some(value.data)),
        Ok(None) => write_body(m, s, body_out, None),
        Err(e) => Err(status_of(e)),
    }
}

/// A KV error as the status of a call that has no `kv_error`.
fn status_of(e: KvError) -> HostError {
    match e {
        KvError::TooLarge(limit) => HostError::LimitExceeded(limit),
        e => HostError::Other(e.to_string()),
    }
}

/// `fastly_object_store::lookup`: the value as a body, looked up at once.
fn object_lookup(
    m: &mut Mem<'_>,
    s: &mut Session,
    store: StoreHandle,
    kp: u32,
    kl: u32,
    body_out: u32,
) -> HostResult<()> {
    let name = store_name(s, store)?;
    let result = s.env().kv.lookup(&name, m.str(kp, kl)?);
    object_lookup_answer(m, s, body_out, result)
}

/// `fastly_object_store::pending_lookup_wait`: the value of a lookup
/// started by `lookup_async`, as a body.
async fn pending_lookup_wait(g: &mut impl Guest, h: KvOpHandle, body_out: u32) -> HostResult<()> {
    let outcome = g.session().wait_kv(h).await?;
    let (mut m, s) = g.mem_and_session()?;
    let KvOutcome::Lookup(result) = outcome else {
        return Err(HostError::BadHandle(h.into()));
    };
    object_lookup_answer(&mut m, s, body_out, result)
}

/// The options of `fastly_kv_store::insert`, from its config struct and
/// the mask of the fields set. Metadata longer than `max_metadata` is
/// `LIMITEXCEEDED` (and never copied out of guest memory).
fn read_insert_options(
    m: &Mem<'_>,
    mask: u32,
    cfg: u32,
    max_metadata: usize,
) -> HostResult<InsertOptions> {
    let config: KvInsertConfig = m.read_struct(cfg)?;
    let mask = Mask(mask);
    let mode = match config.mode.get() {
        0 => InsertMode::Overwrite,
        1 => InsertMode::Add,
        2 => InsertMode::Append,
        3 => InsertMode::Prepend,
        other => return Err(HostError::Invalid(format!("unknown insert mode {other}"))),
    };
    let metadata = if mask.has(insert_options::METADATA) {
        let bytes = m.slice(config.metadata)?;
        if bytes.len() > max_metadata {
            return Err(HostError::LimitExceeded(HostLimit::KvMetadataSize));
        }
        Some(bytes.to_vec())
    } else {
        None
    };
    Ok(InsertOptions {
        mode,
        metadata,
        ttl: mask
            .has(insert_options::TIME_TO_LIVE_SEC)
            .then(|| Duration::from_secs(config.time_to_live_sec.get().into())),
        if_generation_match: mask
            .has(insert_options::IF_GENERATION_MATCH)
            .then(|| config.if_generation_match.get()),
    })
}

/// Reads `body` to its end, refusing it (and reading no further) as soon
/// as it is longer than `max` bytes, or than what the request may still
/// hold (`held`, on the request's ledger).
async fn read_value(mut body: Body, max: usize, held: &mut Held) -> Result<Vec<u8>, KvError> {
    // A length announced (Content-Length) over the limit: not read at all.
    // Nothing is reserved ahead on the announcement's word.
    if body.known_length().is_some_and(|n| n > max as u64) {
        return Err(KvError::TooLarge(HostLimit::KvValueSize));
    }
    let mut data = Vec::new();
    loop {
        // One byte past the limit is enough to know.
        let room = max.saturating_sub(data.len()).saturating_add(1);
        match body.read(room).await {
            Ok(chunk) if chunk.is_empty() => return Ok(data),
            Ok(chunk) => {
                if data.len() + chunk.len() > max {
                    return Err(KvError::TooLarge(HostLimit::KvValueSize));
                }
                held.hold(chunk.len())
                    .map_err(|_| KvError::TooLarge(HostLimit::BufferedBytes))?;
                data.extend_from_slice(&chunk);
            }
            Err(HostError::LimitExceeded(limit)) => return Err(KvError::TooLarge(limit)),
            Err(_) => return Err(KvError::BadRequest),
        }
    }
}

/// Starts an insert: reads the body (it may still be arriving) up to the
/// value limit, then writes on a blocking thread.
#[allow(clippy::too_many_arguments)]
fn start_insert(
    m: &Mem<'_>,
    s: &mut Session,
    store: StoreHandle,
    kp: u32,
    kl: u32,
    body: BodyHandle,
    options: InsertOptions,
) -> HostResult<KvOpHandle> {
    let name = store_name(s, store)?;
    let key = m.str(kp, kl)?.to_owned();
    let body = s.take(body)?;
    let kv = s.env().kv.clone();
    let limits = KvLimits::from(&s.env().limits);
    let mut held = Held::default();
    held.attach(s.ledger());
    let task = tokio::spawn(async move {
        let data = match read_value(body, limits.value_bytes, &mut held).await {
            Ok(data) => data,
            Err(e) => return KvOutcome::Insert(Err(e)),
        };
        let written = tokio::task::spawn_blocking(move || {
            let written = kv.insert(&name, &key, data, &options, &limits);
            drop(held);
            written
        })
        .await;
        KvOutcome::Insert(written.unwrap_or(Err(KvError::InternalError)))
    });
    s.try_insert(KvOp::Running(task))
}

/// An insert refused before it starts: its body is consumed (as an insert
/// would) and its outcome is `error`.
fn refuse_insert(
    s: &mut Session,
    store: StoreHandle,
    body: BodyHandle,
    error: KvError,
) -> HostResult<KvOpHandle> {
    store_name(s, store)?;
    drop(s.take(body)?);
    s.try_insert(KvOp::Done(KvOutcome::Insert(Err(error))))
}

/// `fastly_kv_store::insert`: starts an insert with the options of `cfg`;
/// its handle goes to `out`.
#[allow(clippy::too_many_arguments)]
fn insert(
    m: &mut Mem<'_>,
    s: &mut Session,
    store: StoreHandle,
    kp: u32,
    kl: u32,
    body: BodyHandle,
    mask: u32,
    cfg: u32,
    out: u32,
) -> HostResult<()> {
    let max_metadata = s.env().limits.kv_metadata_bytes;
    let h = match read_insert_options(m, mask, cfg, max_metadata) {
        Ok(options) => start_insert(m, s, store, kp, kl, body, options)?,
        Err(HostError::LimitExceeded(limit)) => {
            refuse_insert(s, store, body, KvError::TooLarge(limit))?
        }
        Err(e) => return Err(e),
    };
    m.handle(out, h)
}

/// `fastly_object_store::insert_async`: starts an overwrite; its handle
/// goes to `out`.
fn insert_async(
    m: &mut Mem<'_>,
    s: &mut Session,
    store: StoreHandle,
    kp: u32,
    kl: u32,
    body: BodyHandle,
    out: u32,
) -> HostResult<()> {
    let h = start_insert(m, s, store, kp, kl, body, InsertOptions::default())?;
    m.handle(out, h)
}

/// `fastly_object_store::insert`: an overwrite, waited for.
async fn object_insert(
    g: &mut impl Guest,
    store: StoreHandle,
    kp: u32,
    kl: u32,
    body: BodyHandle,
) -> HostResult<()> {
    let h = {
        let (m, s) = g.mem_and_session()?;
        start_insert(&m, s, store, kp, kl, body, InsertOptions::default())?
    };
    match g.session().wait_kv(h).await? {
        KvOutcome::Insert(Ok(_)) => Ok(()),
        KvOutcome::Insert(Err(e)) => Err(status_of(e)),
        _ => Err(HostError::BadHandle(h.into())),
    }
}

/// `fastly_kv_store::insert_wait` and `fastly_object_store::
/// pending_insert_wait`: the outcome of an insert in `err_out`.
async fn insert_wait(g: &mut impl Guest, h: KvOpHandle, err_out: u32) -> HostResult<()> {
    let outcome = g.session().wait_kv(h).await?;
    let (mut m, _) = g.mem_and_session()?;
    match outcome {
        KvOutcome::Insert(Ok(_)) => m.u32(err_out, KV_OK),
        KvOutcome::Insert(Err(e)) => m.u32(err_out, e.code()),
        _ => Err(HostError::BadHandle(h.into())),
    }
}

/// `fastly_object_store::delete_async`: starts a delete on a blocking
/// thread; its handle goes to `out`.
fn delete_async(
    m: &mut Mem<'_>,
    s: &mut Session,
    store: StoreHandle,
    kp: u32,
    kl: u32,
    out: u32,
) -> HostResult<()> {
    let name = store_name(s, store)?;
    let key = m.str(kp, kl)?.to_owned();
    let kv = s.env().kv.clone();
    let task = tokio::task::spawn_blocking(move || KvOutcome::Delete(kv.delete(&name, &key)));
    let h = s.insert::<KvOpHandle>(KvOp::Running(task));
    m.handle(out, h)
}

/// `fastly_kv_store::delete`: starts a delete (the config and its mask
/// carry nothing this runtime uses).
#[allow(clippy::too_many_arguments)]
fn delete(
    m: &mut Mem<'_>,
    s: &mut Session,
    store: StoreHandle,
    kp: u32,
    kl: u32,
    _mask: u32,
    _cfg: u32,
    out: u32,
) -> HostResult<()> {
    delete_async(m, s, store, kp, kl, out)
}

/// `fastly_kv_store::delete_wait`: the outcome of a delete in `err_out`.
async fn delete_wait(g: &mut impl Guest, h: KvOpHandle, err_out: u32) -> HostResult<()> {
    let outcome = g.session().wait_kv(h).await?;
    let (mut m, _) = g.mem_and_session()?;
    match outcome {
        KvOutcome::Delete(Ok(())) => m.u32(err_out, KV_OK),
        KvOutcome::Delete(Err(e)) => m.u32(err_out, e.code()),
        _ => Err(HostError::BadHandle(h.into())),
    }
}

/// `fastly_object_store::pending_delete_wait`: the outcome of a delete as
/// a status (`NONE` when the key did not exist).
async fn pending_delete_wait(g: &mut impl Guest, h: KvOpHandle) -> HostResult<()> {
    match g.session().wait_kv(h).await? {
        KvOutcome::Delete(Ok(())) => Ok(()),
        KvOutcome::Delete(Err(KvError::NotFound)) => Err(HostError::None),
        KvOutcome::Delete(Err(e)) => Err(status_of(e)),
        _ => Err(HostError::BadHandle(h.into())),
    }
}

/// `fastly_kv_store::list`: starts listing a page of keys with the options
/// of `cfg`; its handle goes to `out`.
fn list(
    m: &mut Mem<'_>,
    s: &mut Session,
    store: StoreHandle,
    mask: u32,
    cfg: u32,
    out: u32,
) -> HostResult<()> {
    let name = store_name(s, store)?;
    let mask = Mask(mask);
    // The config is read only for an option the mask sets.
    let set = |bit: u32| -> HostResult<Option<KvListConfig>> {
        mask.has(bit).then(|| m.read_struct(cfg)).transpose()
    };
    let cursor = set(list_options::CURSOR)?
        .map(|c| m.lossy_text(c.cursor))
        .transpose()?;
    let limit = set(list_options::LIMIT)?.map_or(0, |c| c.limit.get());
    let prefix = set(list_options::PREFIX)?
        .map(|c| m.lossy_text(c.prefix))
        .transpose()?;
    let page = s.env().kv.list(
        &name,
        prefix.as_deref(),
        cursor.as_deref().filter(|c| !c.is_empty()),
        limit,
    );
    let h = s.insert::<KvOpHandle>(KvOp::Done(KvOutcome::List(page)));
    m.handle(out, h)
}

/// `fastly_kv_store::list_wait`: the page as a JSON body; the outcome in
/// `err_out`.
async fn list_wait(
    g: &mut impl Guest,
    h: KvOpHandle,
    body_out: u32,
    err_out: u32,
) -> HostResult<()> {
    let outcome = g.session().wait_kv(h).await?;
    let (mut m, s) = g.mem_and_session()?;
    match outcome {
        KvOutcome::List(Ok(page)) => {
            let json = serde_json::to_vec(&page).map_err(|e| HostError::Other(e.to_string()))?;
            write_body(&mut m, s, body_out, Some(json))?;
            m.u32(err_out, KV_OK)
        }
        KvOutcome::List(Err(e)) => {
            write_body(&mut m, s, body_out, None)?;
            m.u32(err_out, e.code())
        }
        _ => Err(HostError::BadHandle(h.into())),
    }
}

#[cfg(test)]
#[path = "kv_store_tests.rs"]
mod tests;
