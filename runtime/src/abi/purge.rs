//! `fastly_purge`: a program purges its own service's objects by
//! surrogate key, hard or soft.

use super::layout::Mask;
use super::layout::cache::{PurgeOptions, purge_options};
use super::state::GuestState;
use super::{Guest, hostcall};
use crate::cache::purge::PurgeTarget;
use crate::host::HostResult;
use wasmtime::Linker;

pub(super) fn add(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    hostcall!(l, "fastly_purge", async purge_surrogate_key(kp, kl, mask, opts));
    Ok(())
}

/// `purge_surrogate_key`: purges the objects tagged `key`; with `RET_BUF`,
/// writes the JSON answer of Fastly's purge API into the guest's buffer.
pub(super) async fn purge_surrogate_key(
    g: &mut impl Guest,
    kp: u32,
    kl: u32,
    mask: u32,
    opts: u32,
) -> HostResult<()> {
    let mask = Mask(mask);
    let (cache, service, key, ret) = {
        let (m, s) = g.mem_and_session()?;
        let key = String::from_utf8_lossy(m.bytes(kp, kl)?).trim().to_owned();
        let ret = if mask.has(purge_options::RET_BUF) {
            Some(m.read_struct::<PurgeOptions>(opts)?)
        } else {
            None
        };
        (s.http_cache()?, s.env().name.clone(), key, ret)
    };
    let soft = mask.has(purge_options::SOFT_PURGE);
    cache
        .purge(&service, PurgeTarget::Surrogate(key), soft)
        .await
        .map_err(|e| crate::host::HostError::Other(format!("purge: {e}")))?;
    if let Some(o) = ret {
        let answer = format!(r#"{{"status":"ok","id":"{:016x}"}}"#, rand::random::<u64>());
        let (mut m, _) = g.mem_and_session()?;
        m.out(
            o.ret_buf.ptr.get(),
            o.ret_buf.len.get(),
            o.ret_buf_nwritten_out.get(),
            answer.as_bytes(),
        )?;
    }
    Ok(())
}
