//! `fastly_kv_store` and the older `fastly_object_store`: lookups, inserts
//! with modes and metadata, deletes and listing, over the redb-backed
//! stores of `crate::host::kv`. Writes run on blocking threads.

use super::memory::Mem;
use super::{hostcall, hostcall_async, split};
use crate::engine::state::GuestState;
use crate::host::body::Body;
use crate::host::kv::{InsertMode, InsertOptions, KvError};
use crate::host::session::{KvOp, KvOutcome, OpenStore, Session};
use crate::host::{HostError, HostResult};
use std::time::Duration;
use wasmtime::Linker;

const INVALID_BODY: u32 = fastly_shared::INVALID_BODY_HANDLE;
const KV_OK: u32 = 1;

fn store_name(s: &Session, h: u32) -> HostResult<String> {
    match s.stores.get(h)? {
        OpenStore::Kv(name) => Ok(name.clone()),
        _ => Err(HostError::BadHandle(h)),
    }
}

fn open(m: &mut Mem<'_>, s: &mut Session, np: u32, nl: u32, out: u32) -> HostResult<()> {
    let name = m.str(np, nl)?.to_owned();
    if !s.env.kv_names.contains(&name) {
        return Err(HostError::Invalid(format!("no KV store named `{name}`")));
    }
    let h = s.new_store(OpenStore::Kv(name));
    m.u32(out, h)
}

fn start_lookup(
    m: &mut Mem<'_>,
    s: &mut Session,
    store: u32,
    kp: u32,
    kl: u32,
    out: u32,
) -> HostResult<()> {
    let name = store_name(s, store)?;
    let key = m.str(kp, kl)?;
    // redb reads are served from its page cache; no thread hop needed.
    let result = s.env.kv.lookup(&name, key);
    let h = s.new_kv_op(KvOp::Done(KvOutcome::Lookup(result)));
    m.u32(out, h)
}

/// Reads the whole body (it may still be arriving), then writes on a
/// blocking thread.
#[allow(clippy::too_many_arguments)]
fn start_insert(
    m: &Mem<'_>,
    s: &mut Session,
    store: u32,
    kp: u32,
    kl: u32,
    body: u32,
    options: InsertOptions,
) -> HostResult<u32> {
    let name = store_name(s, store)?;
    let key = m.str(kp, kl)?.to_owned();
    let mut body = s.bodies.take(body)?;
    let kv = s.env.kv.clone();
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
    Ok(s.new_kv_op(KvOp::Running(task)))
}

fn start_delete(
    m: &mut Mem<'_>,
    s: &mut Session,
    store: u32,
    kp: u32,
    kl: u32,
    out: u32,
) -> HostResult<()> {
    let name = store_name(s, store)?;
    let key = m.str(kp, kl)?.to_owned();
    let kv = s.env.kv.clone();
    let task = tokio::task::spawn_blocking(move || KvOutcome::Delete(kv.delete(&name, &key)));
    let h = s.new_kv_op(KvOp::Running(task));
    m.u32(out, h)
}

fn insert_options(m: &Mem<'_>, mask: u32, cfg: u32) -> HostResult<InsertOptions> {
    let bit = |n: u32| mask & (1 << n) != 0;
    let mode = match m.read_u32(cfg)? {
        0 => InsertMode::Overwrite,
        1 => InsertMode::Add,
        2 => InsertMode::Append,
        3 => InsertMode::Prepend,
        other => return Err(HostError::Invalid(format!("unknown insert mode {other}"))),
    };
    Ok(InsertOptions {
        mode,
        metadata: bit(3)
            .then(|| m.slice_field(cfg + 8, cfg + 12).map(<[u8]>::to_vec))
            .transpose()?,
        ttl: bit(4)
            .then(|| m.read_u32(cfg + 16).map(|s| Duration::from_secs(s.into())))
            .transpose()?,
        if_generation_match: bit(5).then(|| m.read_u64(cfg + 24)).transpose()?,
    })
}

fn kv_error(e: KvError) -> u32 {
    e as u32
}

pub(super) fn add(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    for module in ["fastly_kv_store", "fastly_object_store"] {
        l.func_wrap(
            module,
            "open",
            |mut c: wasmtime::Caller<'_, GuestState>, np: i32, nl: i32, out: i32| -> i32 {
                let r = split(&mut c).and_then(|(mut m, st)| {
                    open(&mut m, &mut st.session, np as u32, nl as u32, out as u32)
                });
                super::status(r)
            },
        )?;
    }
    hostcall!(
        l,
        "fastly_kv_store",
        "lookup",
        |c, store, kp, kl, _mask, _cfg, out| {
            let (mut m, st) = split(&mut c)?;
            start_lookup(&mut m, &mut st.session, store, kp, kl, out)
        }
    );
    hostcall_async!(
        l,
        "fastly_kv_store",
        "lookup_wait",
        |c, h, body_out, meta, meta_len, nw, gen_out, err_out| {
            lookup_wait(
                &mut c, h, body_out, meta, meta_len, nw, gen_out, err_out, false,
            )
            .await
        }
    );
    hostcall_async!(
        l,
        "fastly_kv_store",
        "lookup_wait_v2",
        |c, h, body_out, meta, meta_len, nw, gen_out, err_out| {
            lookup_wait(
                &mut c, h, body_out, meta, meta_len, nw, gen_out, err_out, true,
            )
            .await
        }
    );
    hostcall!(
        l,
        "fastly_kv_store",
        "insert",
        |c, store, kp, kl, body, mask, cfg, out| {
            let (mut m, st) = split(&mut c)?;
            let options = insert_options(&m, mask, cfg)?;
            let h = start_insert(&m, &mut st.session, store, kp, kl, body, options)?;
            m.u32(out, h)
        }
    );
    hostcall_async!(l, "fastly_kv_store", "insert_wait", |c, h, err_out| {
        let outcome = c.data_mut().session.wait_kv(h).await?;
        let (mut m, _) = split(&mut c)?;
        match outcome {
            KvOutcome::Insert(Ok(_)) => m.u32(err_out, KV_OK),
            KvOutcome::Insert(Err(e)) => m.u32(err_out, kv_error(e)),
            _ => Err(HostError::BadHandle(h)),
        }
    });
    hostcall!(
        l,
        "fastly_kv_store",
        "delete",
        |c, store, kp, kl, _mask, _cfg, out| {
            let (mut m, st) = split(&mut c)?;
            start_delete(&mut m, &mut st.session, store, kp, kl, out)
        }
    );
    hostcall_async!(l, "fastly_kv_store", "delete_wait", |c, h, err_out| {
        let outcome = c.data_mut().session.wait_kv(h).await?;
        let (mut m, _) = split(&mut c)?;
        match outcome {
            KvOutcome::Delete(Ok(())) => m.u32(err_out, KV_OK),
            KvOutcome::Delete(Err(e)) => m.u32(err_out, kv_error(e)),
            _ => Err(HostError::BadHandle(h)),
        }
    });
    hostcall!(l, "fastly_kv_store", "list", |c, store, mask, cfg, out| {
        let (mut m, st) = split(&mut c)?;
        let s = &mut st.session;
        let name = store_name(s, store)?;
        let bit = |n: u32| mask & (1 << n) != 0;
        let cursor = if bit(1) {
            Some(String::from_utf8_lossy(m.slice_field(cfg + 4, cfg + 8)?).into_owned())
        } else {
            None
        };
        let limit = if bit(2) { m.read_u32(cfg + 12)? } else { 0 };
        let prefix = if bit(3) {
            Some(String::from_utf8_lossy(m.slice_field(cfg + 16, cfg + 20)?).into_owned())
        } else {
            None
        };
        let page = s.env.kv.list(
            &name,
            prefix.as_deref(),
            cursor.as_deref().filter(|c| !c.is_empty()),
            limit,
        );
        let h = s.new_kv_op(KvOp::Done(KvOutcome::List(page)));
        m.u32(out, h)
    });
    hostcall_async!(
        l,
        "fastly_kv_store",
        "list_wait",
        |c, h, body_out, err_out| {
            let outcome = c.data_mut().session.wait_kv(h).await?;
            let (mut m, st) = split(&mut c)?;
            match outcome {
                KvOutcome::List(Ok(page)) => {
                    let json =
                        serde_json::to_vec(&page).map_err(|e| HostError::Other(e.to_string()))?;
                    let bh = st.session.new_body(Body::from_bytes(json));
                    m.u32(body_out, bh)?;
                    m.u32(err_out, KV_OK)
                }
                KvOutcome::List(Err(e)) => {
                    m.u32(body_out, INVALID_BODY)?;
                    m.u32(err_out, kv_error(e))
                }
                _ => Err(HostError::BadHandle(h)),
            }
        }
    );
    add_object_store(l)
}

#[allow(clippy::too_many_arguments)]
async fn lookup_wait(
    c: &mut wasmtime::Caller<'_, GuestState>,
    h: u32,
    body_out: u32,
    meta: u32,
    meta_len: u32,
    nw: u32,
    gen_out: u32,
    err_out: u32,
    gen64: bool,
) -> HostResult<()> {
    let outcome = c.data_mut().session.wait_kv(h).await?;
    let (mut m, st) = split(c)?;
    let KvOutcome::Lookup(result) = outcome else {
        return Err(HostError::BadHandle(h));
    };
    match result {
        Ok(Some(value)) => {
            if value.metadata.len() > meta_len as usize {
                m.u32(nw, value.metadata.len() as u32)?;
                return Err(HostError::BufferLength {
                    needed: value.metadata.len(),
                });
            }
            m.write(meta, &value.metadata)?;
            m.u32(nw, value.metadata.len() as u32)?;
            if gen64 {
                m.u64(gen_out, value.generation)?;
            } else {
                m.u32(gen_out, value.generation as u32)?;
            }
            let bh = st.session.new_body(Body::from_bytes(value.data));
            m.u32(body_out, bh)?;
            m.u32(err_out, KV_OK)
        }
        Ok(None) => {
            m.u32(body_out, INVALID_BODY)?;
            m.u32(nw, 0)?;
            m.u32(err_out, kv_error(KvError::NotFound))
        }
        Err(e) => {
            m.u32(body_out, INVALID_BODY)?;
            m.u32(nw, 0)?;
            m.u32(err_out, kv_error(e))
        }
    }
}

/// The object-store names of the same operations, kept by older SDKs.
fn add_object_store(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    hostcall!(
        l,
        "fastly_object_store",
        "lookup",
        |c, store, kp, kl, body_out| {
            let (mut m, st) = split(&mut c)?;
            let s = &mut st.session;
            let name = store_name(s, store)?;
            match s.env.kv.lookup(&name, m.str(kp, kl)?) {
                Ok(Some(v)) => {
                    let bh = s.new_body(Body::from_bytes(v.data));
                    m.u32(body_out, bh)
                }
                Ok(None) => {
                    m.u32(body_out, INVALID_BODY)?;
                    Err(HostError::None)
                }
                Err(e) => Err(HostError::Other(e.to_string())),
            }
        }
    );
    hostcall!(
        l,
        "fastly_object_store",
        "lookup_async",
        |c, store, kp, kl, out| {
            let (mut m, st) = split(&mut c)?;
            start_lookup(&mut m, &mut st.session, store, kp, kl, out)
        }
    );
    hostcall_async!(
        l,
        "fastly_object_store",
        "pending_lookup_wait",
        |c, h, body_out| {
            let outcome = c.data_mut().session.wait_kv(h).await?;
            let (mut m, st) = split(&mut c)?;
            match outcome {
                KvOutcome::Lookup(Ok(Some(v))) => {
                    let bh = st.session.new_body(Body::from_bytes(v.data));
                    m.u32(body_out, bh)
                }
                KvOutcome::Lookup(Ok(None)) => {
                    m.u32(body_out, INVALID_BODY)?;
                    Err(HostError::None)
                }
                KvOutcome::Lookup(Err(e)) => Err(HostError::Other(e.to_string())),
                _ => Err(HostError::BadHandle(h)),
            }
        }
    );
    hostcall_async!(
        l,
        "fastly_object_store",
        "insert",
        |c, store, kp, kl, body| {
            let h = {
                let (m, st) = split(&mut c)?;
                start_insert(
                    &m,
                    &mut st.session,
                    store,
                    kp,
                    kl,
                    body,
                    InsertOptions::default(),
                )?
            };
            match c.data_mut().session.wait_kv(h).await? {
                KvOutcome::Insert(Ok(_)) => Ok(()),
                KvOutcome::Insert(Err(e)) => Err(HostError::Other(e.to_string())),
                _ => Err(HostError::BadHandle(h)),
            }
        }
    );
    hostcall!(
        l,
        "fastly_object_store",
        "insert_async",
        |c, store, kp, kl, body, out| {
            let (mut m, st) = split(&mut c)?;
            let h = start_insert(
                &m,
                &mut st.session,
                store,
                kp,
                kl,
                body,
                InsertOptions::default(),
            )?;
            m.u32(out, h)
        }
    );
    hostcall_async!(
        l,
        "fastly_object_store",
        "pending_insert_wait",
        |c, h, err_out| {
            let outcome = c.data_mut().session.wait_kv(h).await?;
            let (mut m, _) = split(&mut c)?;
            match outcome {
                KvOutcome::Insert(Ok(_)) => m.u32(err_out, KV_OK),
                KvOutcome::Insert(Err(e)) => m.u32(err_out, kv_error(e)),
                _ => Err(HostError::BadHandle(h)),
            }
        }
    );
    hostcall!(
        l,
        "fastly_object_store",
        "delete_async",
        |c, store, kp, kl, out| {
            let (mut m, st) = split(&mut c)?;
            start_delete(&mut m, &mut st.session, store, kp, kl, out)
        }
    );
    hostcall_async!(l, "fastly_object_store", "pending_delete_wait", |c, h| {
        match c.data_mut().session.wait_kv(h).await? {
            KvOutcome::Delete(Ok(())) => Ok(()),
            KvOutcome::Delete(Err(KvError::NotFound)) => Err(HostError::None),
            KvOutcome::Delete(Err(e)) => Err(HostError::Other(e.to_string())),
            _ => Err(HostError::BadHandle(h)),
        }
    });
    Ok(())
}
