//! `fastly_kv_store` and the older `fastly_object_store`: lookups, inserts
//! with modes and metadata, deletes and listing, over the redb-backed
//! stores of `crate::host::kv`. Writes run on blocking threads.

use super::layout::Mask;
use super::layout::kv::{KvInsertConfig, KvListConfig, insert_options, list_options};
use super::memory::Mem;
use super::state::GuestState;
use super::{Guest, hostcall};
use crate::host::body::Body;
use crate::host::handles::{BodyHandle, KvOpHandle, StoreHandle};
use crate::host::kv::{InsertMode, InsertOptions, KvError, KvValue};
use crate::host::session::{KvOp, KvOutcome, OpenStore, Session};
use crate::host::{HostError, HostResult};
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
    let h: StoreHandle = s.insert(OpenStore::Kv(name));
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
            m.u32(err_out, KvError::NotFound as u32)
        }
        Err(e) => {
            write_body(&mut m, s, body_out, None)?;
            m.u32(nw, 0)?;
            m.u32(err_out, e as u32)
        }
    }
}

/// The object store's answer to a lookup: the value as a body, or the
/// invalid body handle and `NONE`.
fn object_lookup_answer(
    m: &mut Mem<'_>,
    s: &mut Session,
    body_out: u32,
    result: Result<Option<KvValue>, KvError>,
) -> HostResult<()> {
    match result {
        Ok(Some(value)) => write_body(m, s, body_out, Some(value.data)),
        Ok(None) => {
            write_body(m, s, body_out, None)?;
            Err(HostError::None)
        }
        Err(e) => Err(HostError::Other(e.to_string())),
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
/// the mask of the fields set.
fn read_insert_options(m: &Mem<'_>, mask: u32, cfg: u32) -> HostResult<InsertOptions> {
    let config: KvInsertConfig = m.read_struct(cfg)?;
    let mask = Mask(mask);
    let mode = match config.mode.get() {
        0 => InsertMode::Overwrite,
        1 => InsertMode::Add,
        2 => InsertMode::Append,
        3 => InsertMode::Prepend,
        other => return Err(HostError::Invalid(format!("unknown insert mode {other}"))),
    };
    Ok(InsertOptions {
        mode,
        metadata: mask
            .has(insert_options::METADATA)
            .then(|| m.slice(config.metadata).map(<[u8]>::to_vec))
            .transpose()?,
        ttl: mask
            .has(insert_options::TIME_TO_LIVE_SEC)
            .then(|| Duration::from_secs(config.time_to_live_sec.get().into())),
        if_generation_match: mask
            .has(insert_options::IF_GENERATION_MATCH)
            .then(|| config.if_generation_match.get()),
    })
}

/// Starts an insert: reads the whole body (it may still be arriving), then
/// writes on a blocking thread.
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
    let mut body = s.take(body)?;
    let kv = s.env().kv.clone();
    let task = tokio::spawn(async move {
        let mut data = Vec::new();
        loop {
            match body.read(usize::MAX).await {
                Ok(chunk) if chunk.is_empty() => break,
                Ok(chunk) => data.extend_from_slice(&chunk),
                Err(_) => return KvOutcome::Insert(Err(KvError::BadRequest)),
            }
        }
        let written =
            tokio::task::spawn_blocking(move || kv.insert(&name, &key, data, &options)).await;
        KvOutcome::Insert(written.unwrap_or(Err(KvError::InternalError)))
    });
    Ok(s.insert(KvOp::Running(task)))
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
    let options = read_insert_options(m, mask, cfg)?;
    let h = start_insert(m, s, store, kp, kl, body, options)?;
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
        KvOutcome::Insert(Err(e)) => Err(HostError::Other(e.to_string())),
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
        KvOutcome::Insert(Err(e)) => m.u32(err_out, e as u32),
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
        KvOutcome::Delete(Err(e)) => m.u32(err_out, e as u32),
        _ => Err(HostError::BadHandle(h.into())),
    }
}

/// `fastly_object_store::pending_delete_wait`: the outcome of a delete as
/// a status (`NONE` when the key did not exist).
async fn pending_delete_wait(g: &mut impl Guest, h: KvOpHandle) -> HostResult<()> {
    match g.session().wait_kv(h).await? {
        KvOutcome::Delete(Ok(())) => Ok(()),
        KvOutcome::Delete(Err(KvError::NotFound)) => Err(HostError::None),
        KvOutcome::Delete(Err(e)) => Err(HostError::Other(e.to_string())),
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
            m.u32(err_out, e as u32)
        }
        _ => Err(HostError::BadHandle(h.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::testing::{OutBuf, TestGuest};
    use crate::config::{KvEntry, KvStoreConfig, ProjectConfig};

    /// A guest with KV store `kv` holding `a` = `1` (metadata `m`) and
    /// `p1`, `p2`, `q1`.
    fn guest() -> TestGuest {
        let mut store = KvStoreConfig::default();
        let entry = |data: &[u8], metadata: Option<&str>| KvEntry {
            data: data.to_vec(),
            metadata: metadata.map(str::to_owned),
        };
        store.entries.insert("a".into(), entry(b"1", Some("m")));
        for key in ["p1", "p2", "q1"] {
            store.entries.insert(key.into(), entry(b"v", None));
        }
        let mut config = ProjectConfig::default();
        config.kv_stores.insert("kv".into(), store);
        TestGuest::with_config(config)
    }

    /// Opens store `kv`.
    fn open_kv(g: &mut TestGuest) -> StoreHandle {
        let (np, nl) = g.put(b"kv");
        let out = g.alloc(4);
        g.call(|m, s| open(m, s, np, nl, out)).unwrap();
        StoreHandle::from(g.u32_at(out))
    }

    /// A new body holding `data`.
    fn body(g: &mut TestGuest, data: &'static [u8]) -> BodyHandle {
        g.session.insert(Body::from_bytes(data))
    }

    /// Starts `fastly_kv_store::lookup` of `key`.
    fn start_lookup(g: &mut TestGuest, store: StoreHandle, key: &[u8]) -> KvOpHandle {
        let (kp, kl) = g.put(key);
        let out = g.alloc(4);
        g.call(|m, s| lookup(m, s, store, kp, kl, 0, 0, out))
            .unwrap();
        KvOpHandle::from(g.u32_at(out))
    }

    /// Where `lookup_wait` writes.
    struct LookupOut {
        body: u32,
        meta: OutBuf,
        generation: u32,
        err: u32,
    }

    impl LookupOut {
        fn new(g: &mut TestGuest, meta_len: u32) -> Self {
            let body = g.alloc(4);
            let meta = OutBuf::new(g, meta_len);
            let generation = g.alloc(8);
            g.mem[generation as usize..generation as usize + 8].fill(0xff);
            let err = g.alloc(4);
            LookupOut {
                body,
                meta,
                generation,
                err,
            }
        }
    }

    /// A `KvInsertConfig` in guest memory, written field by field.
    fn insert_config(
        g: &mut TestGuest,
        mode: u32,
        metadata: (u32, u32),
        ttl: u32,
        generation: u64,
    ) -> u32 {
        let mut raw = Vec::new();
        for word in [mode, 0, metadata.0, metadata.1, ttl, 0] {
            raw.extend_from_slice(&word.to_le_bytes());
        }
        raw.extend_from_slice(&generation.to_le_bytes());
        assert_eq!(raw.len(), size_of::<KvInsertConfig>());
        g.put(&raw).0
    }

    /// A `KvListConfig` in guest memory, written field by field.
    fn list_config(g: &mut TestGuest, cursor: &[u8], limit: u32, prefix: &[u8]) -> u32 {
        let (cp, cl) = g.put(cursor);
        let (pp, pl) = g.put(prefix);
        let mut raw = Vec::new();
        for word in [0, cp, cl, limit, pp, pl] {
            raw.extend_from_slice(&word.to_le_bytes());
        }
        assert_eq!(raw.len(), size_of::<KvListConfig>());
        g.put(&raw).0
    }

    #[test]
    fn open_knows_the_configured_stores_only() {
        let mut g = guest();
        let h = open_kv(&mut g);
        assert!(matches!(g.session.get(h), Ok(OpenStore::Kv(name)) if name == "kv"));
        let (np, nl) = g.put(b"other");
        let out = g.alloc(4);
        let r = g.call(|m, s| open(m, s, np, nl, out));
        assert!(matches!(r, Err(HostError::Invalid(_))), "{r:?}");
    }

    #[tokio::test]
    async fn lookup_wait_answers_value_metadata_and_generation() {
        let mut g = guest();
        let store = open_kv(&mut g);
        let h = start_lookup(&mut g, store, b"a");
        let o = LookupOut::new(&mut g, 16);
        let (meta, nw) = (o.meta.buf, o.meta.nwritten);
        lookup_wait(&mut g, h, o.body, meta, 16, nw, o.generation, o.err)
            .await
            .unwrap();
        assert_eq!(g.u32_at(o.err), KV_OK);
        assert_eq!(o.meta.read(&g), b"m");
        assert_eq!(
            g.u64_at(o.generation),
            0xffff_ffff_0000_0001,
            "32 bits written"
        );
        let bh = BodyHandle::from(g.u32_at(o.body));
        assert_eq!(g.read_body(bh).await, b"1");

        let h = start_lookup(&mut g, store, b"missing");
        lookup_wait(&mut g, h, o.body, meta, 16, nw, o.generation, o.err)
            .await
            .unwrap();
        assert_eq!(g.u32_at(o.body), INVALID_BODY);
        assert_eq!(g.u32_at(nw), 0);
        assert_eq!(g.u32_at(o.err), KvError::NotFound as u32);

        let h = start_lookup(&mut g, store, b"bad\nkey");
        lookup_wait(&mut g, h, o.body, meta, 16, nw, o.generation, o.err)
            .await
            .unwrap();
        assert_eq!(g.u32_at(o.err), KvError::BadRequest as u32);
    }

    #[tokio::test]
    async fn lookup_wait_v2_writes_a_64_bit_generation_and_needs_room_for_metadata() {
        let mut g = guest();
        let store = open_kv(&mut g);
        let h = start_lookup(&mut g, store, b"a");
        let o = LookupOut::new(&mut g, 16);
        let (meta, nw) = (o.meta.buf, o.meta.nwritten);
        lookup_wait_v2(&mut g, h, o.body, meta, 16, nw, o.generation, o.err)
            .await
            .unwrap();
        assert_eq!(g.u64_at(o.generation), 1);
        assert_eq!(g.u32_at(o.err), KV_OK);

        let h = start_lookup(&mut g, store, b"a");
        let r = lookup_wait_v2(&mut g, h, o.body, meta, 0, nw, o.generation, o.err).await;
        assert!(
            matches!(r, Err(HostError::BufferLength { needed: 1 })),
            "{r:?}"
        );
        assert_eq!(g.u32_at(nw), 1);
    }

    #[test]
    fn lookup_of_another_kind_of_store_is_badf() {
        let mut g = guest();
        let config: StoreHandle = g.session.insert(OpenStore::Config("kv".into()));
        let (kp, kl) = g.put(b"a");
        let out = g.alloc(4);
        let r = g.call(|m, s| lookup(m, s, config, kp, kl, 0, 0, out));
        assert!(
            matches!(r, Err(HostError::BadHandle(n)) if n == u32::from(config)),
            "{r:?}"
        );
    }

    #[tokio::test]
    async fn insert_honours_mode_metadata_and_generation() {
        let mut g = guest();
        let store = open_kv(&mut g);
        let (kp, kl) = g.put(b"a");
        let (out, err) = (g.alloc(4), g.alloc(4));
        let all = insert_options::METADATA
            | insert_options::TIME_TO_LIVE_SEC
            | insert_options::IF_GENERATION_MATCH;

        // `add` of an existing key fails.
        let cfg = insert_config(&mut g, 1, (0, 0), 0, 0);
        let b = body(&mut g, b"x");
        g.call(|m, s| insert(m, s, store, kp, kl, b, 0, cfg, out))
            .unwrap();
        let h = KvOpHandle::from(g.u32_at(out));
        insert_wait(&mut g, h, err).await.unwrap();
        assert_eq!(g.u32_at(err), KvError::PreconditionFailed as u32);

        // `append` at generation 1 with new metadata and a TTL.
        let (mp, ml) = g.put(b"meta");
        let cfg = insert_config(&mut g, 2, (mp, ml), 60, 1);
        let b = body(&mut g, b"2");
        g.call(|m, s| insert(m, s, store, kp, kl, b, all, cfg, out))
            .unwrap();
        let h = KvOpHandle::from(g.u32_at(out));
        insert_wait(&mut g, h, err).await.unwrap();
        assert_eq!(g.u32_at(err), KV_OK);
        let value = g.session.env().kv.lookup("kv", "a").unwrap().unwrap();
        assert_eq!(
            (
                value.data.as_slice(),
                value.metadata.as_slice(),
                value.generation
            ),
            (&b"12"[..], &b"meta"[..], 2)
        );

        // The generation no longer matches; the options unset are ignored.
        let b = body(&mut g, b"3");
        g.call(|m, s| insert(m, s, store, kp, kl, b, all, cfg, out))
            .unwrap();
        let h = KvOpHandle::from(g.u32_at(out));
        insert_wait(&mut g, h, err).await.unwrap();
        assert_eq!(g.u32_at(err), KvError::PreconditionFailed as u32);
        let b = body(&mut g, b"3");
        g.call(|m, s| insert(m, s, store, kp, kl, b, 0, cfg, out))
            .unwrap();
        let h = KvOpHandle::from(g.u32_at(out));
        insert_wait(&mut g, h, err).await.unwrap();
        assert_eq!(g.u32_at(err), KV_OK);
        let value = g.session.env().kv.lookup("kv", "a").unwrap().unwrap();
        assert_eq!((value.data.as_slice(), value.generation), (&b"123"[..], 3));

        // An unknown mode is refused before the body is taken.
        let cfg = insert_config(&mut g, 9, (0, 0), 0, 0);
        let b = body(&mut g, b"x");
        let r = g.call(|m, s| insert(m, s, store, kp, kl, b, 0, cfg, out));
        assert!(matches!(r, Err(HostError::Invalid(_))), "{r:?}");
        assert!(g.session.contains(b));
    }

    #[tokio::test]
    async fn delete_then_delete_wait_answers_ok_then_not_found() {
        let mut g = guest();
        let store = open_kv(&mut g);
        let (kp, kl) = g.put(b"a");
        let (out, err) = (g.alloc(4), g.alloc(4));
        for expected in [KV_OK, KvError::NotFound as u32] {
            g.call(|m, s| delete(m, s, store, kp, kl, 0, 0, out))
                .unwrap();
            let h = KvOpHandle::from(g.u32_at(out));
            delete_wait(&mut g, h, err).await.unwrap();
            assert_eq!(g.u32_at(err), expected);
        }
        // A delete's handle is not an insert's.
        g.call(|m, s| delete(m, s, store, kp, kl, 0, 0, out))
            .unwrap();
        let h = KvOpHandle::from(g.u32_at(out));
        let r = insert_wait(&mut g, h, err).await;
        assert!(matches!(r, Err(HostError::BadHandle(_))), "{r:?}");
    }

    #[tokio::test]
    async fn list_pages_by_prefix_limit_and_cursor() {
        let mut g = guest();
        let store = open_kv(&mut g);
        let (out, body_out, err) = (g.alloc(4), g.alloc(4), g.alloc(4));
        let mask = list_options::PREFIX | list_options::LIMIT;
        let page = async |g: &mut TestGuest, mask: u32, cfg: u32| {
            g.call(|m, s| list(m, s, store, mask, cfg, out)).unwrap();
            let h = KvOpHandle::from(g.u32_at(out));
            list_wait(g, h, body_out, err).await.unwrap();
            assert_eq!(g.u32_at(err), KV_OK);
            let bh = BodyHandle::from(g.u32_at(body_out));
            serde_json::from_slice::<serde_json::Value>(&g.read_body(bh).await).unwrap()
        };

        let cfg = list_config(&mut g, b"", 1, b"p");
        let json = page(&mut g, mask, cfg).await;
        assert_eq!(
            json,
            serde_json::json!({"data": ["p1"], "meta": {"limit": 1, "prefix": "p", "next_cursor": "p1"}})
        );
        let cfg = list_config(&mut g, b"p1", 1, b"p");
        let json = page(&mut g, mask | list_options::CURSOR, cfg).await;
        assert_eq!(json["data"], serde_json::json!(["p2"]));
        // Without options the config is not read at all.
        let json = page(&mut g, 0, u32::MAX).await;
        assert_eq!(json["data"], serde_json::json!(["a", "p1", "p2", "q1"]));
    }

    #[test]
    fn object_lookup_answers_a_body_or_none() {
        let mut g = guest();
        let store = open_kv(&mut g);
        let body_out = g.alloc(4);
        let (kp, kl) = g.put(b"a");
        g.call(|m, s| object_lookup(m, s, store, kp, kl, body_out))
            .unwrap();
        assert!(g.session.contains(BodyHandle::from(g.u32_at(body_out))));
        let (kp, kl) = g.put(b"missing");
        let r = g.call(|m, s| object_lookup(m, s, store, kp, kl, body_out));
        assert!(matches!(r, Err(HostError::None)), "{r:?}");
        assert_eq!(g.u32_at(body_out), INVALID_BODY);
        let (kp, kl) = g.put(b"bad\nkey");
        let r = g.call(|m, s| object_lookup(m, s, store, kp, kl, body_out));
        assert!(matches!(r, Err(HostError::Other(_))), "{r:?}");
    }

    #[tokio::test]
    async fn lookup_async_then_pending_lookup_wait() {
        let mut g = guest();
        let store = open_kv(&mut g);
        let (out, body_out) = (g.alloc(4), g.alloc(4));
        let (kp, kl) = g.put(b"a");
        g.call(|m, s| lookup_async(m, s, store, kp, kl, out))
            .unwrap();
        let h = KvOpHandle::from(g.u32_at(out));
        pending_lookup_wait(&mut g, h, body_out).await.unwrap();
        let bh = BodyHandle::from(g.u32_at(body_out));
        assert_eq!(g.read_body(bh).await, b"1");
        let (kp, kl) = g.put(b"missing");
        g.call(|m, s| lookup_async(m, s, store, kp, kl, out))
            .unwrap();
        let h = KvOpHandle::from(g.u32_at(out));
        let r = pending_lookup_wait(&mut g, h, body_out).await;
        assert!(matches!(r, Err(HostError::None)), "{r:?}");
        assert_eq!(g.u32_at(body_out), INVALID_BODY);
    }

    #[tokio::test]
    async fn object_insert_and_insert_async_overwrite() {
        let mut g = guest();
        let store = open_kv(&mut g);
        let (kp, kl) = g.put(b"new");
        let b = body(&mut g, b"one");
        object_insert(&mut g, store, kp, kl, b).await.unwrap();
        assert!(!g.session.contains(b), "the body is consumed");
        let value = g.session.env().kv.lookup("kv", "new").unwrap().unwrap();
        assert_eq!((value.data.as_slice(), value.generation), (&b"one"[..], 1));

        let (out, err) = (g.alloc(4), g.alloc(4));
        let b = body(&mut g, b"two");
        g.call(|m, s| insert_async(m, s, store, kp, kl, b, out))
            .unwrap();
        let h = KvOpHandle::from(g.u32_at(out));
        insert_wait(&mut g, h, err).await.unwrap();
        assert_eq!(g.u32_at(err), KV_OK);
        let value = g.session.env().kv.lookup("kv", "new").unwrap().unwrap();
        assert_eq!((value.data.as_slice(), value.generation), (&b"two"[..], 2));

        let (kp, kl) = g.put(b"bad\nkey");
        let b = body(&mut g, b"x");
        let r = object_insert(&mut g, store, kp, kl, b).await;
        assert!(matches!(r, Err(HostError::Other(_))), "{r:?}");
    }

    #[tokio::test]
    async fn delete_async_then_pending_delete_wait_answers_ok_then_none() {
        let mut g = guest();
        let store = open_kv(&mut g);
        let (kp, kl) = g.put(b"a");
        let out = g.alloc(4);
        g.call(|m, s| delete_async(m, s, store, kp, kl, out))
            .unwrap();
        let h = KvOpHandle::from(g.u32_at(out));
        pending_delete_wait(&mut g, h).await.unwrap();
        g.call(|m, s| delete_async(m, s, store, kp, kl, out))
            .unwrap();
        let h = KvOpHandle::from(g.u32_at(out));
        let r = pending_delete_wait(&mut g, h).await;
        assert!(matches!(r, Err(HostError::None)), "{r:?}");
    }
}
