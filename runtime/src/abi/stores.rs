//! `fastly_dictionary`, `fastly_config_store` and `fastly_secret_store`.

use super::{hostcall, split};
use crate::engine::state::GuestState;
use crate::host::HostError;
use crate::host::session::OpenStore;
use wasmtime::Linker;

pub(super) fn add(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    hostcall!(l, "fastly_dictionary", "open", |c, np, nl, out| {
        open_config(&mut c, np, nl, out)
    });
    hostcall!(l, "fastly_config_store", "open", |c, np, nl, out| {
        open_config(&mut c, np, nl, out)
    });
    hostcall!(
        l,
        "fastly_dictionary",
        "get",
        |c, h, kp, kl, buf, max, nw| { config_get(&mut c, h, kp, kl, buf, max, nw) }
    );
    hostcall!(
        l,
        "fastly_config_store",
        "get",
        |c, h, kp, kl, buf, max, nw| { config_get(&mut c, h, kp, kl, buf, max, nw) }
    );
    hostcall!(l, "fastly_secret_store", "open", |c, np, nl, out| {
        let (mut m, st) = split(&mut c)?;
        let name = m.str(np, nl)?.to_owned();
        if !st.session.env.config.secret_stores.contains_key(&name) {
            return Err(HostError::None);
        }
        let h = st.session.new_store(OpenStore::Secret(name));
        m.u32(out, h)
    });
    hostcall!(l, "fastly_secret_store", "get", |c, h, np, nl, out| {
        let (mut m, st) = split(&mut c)?;
        let OpenStore::Secret(store) = st.session.stores.get(h)? else {
            return Err(HostError::BadHandle(h));
        };
        let key = m.str(np, nl)?;
        let value = st
            .session
            .env
            .config
            .secret_stores
            .get(store)
            .and_then(|s| s.secrets.get(key))
            .cloned()
            .ok_or(HostError::None)?;
        let sh = st.session.new_secret(value);
        m.u32(out, sh)
    });
    hostcall!(
        l,
        "fastly_secret_store",
        "plaintext",
        |c, h, buf, max, nw| {
            let (mut m, st) = split(&mut c)?;
            let value = st.session.secrets.get(h)?.clone();
            m.out(buf, max, nw, &value)
        }
    );
    hostcall!(l, "fastly_secret_store", "from_bytes", |c, p, len, out| {
        let (mut m, st) = split(&mut c)?;
        let value = m.bytes(p, len)?.to_vec();
        let h = st.session.new_secret(value);
        m.u32(out, h)
    });
    Ok(())
}

fn open_config(
    c: &mut wasmtime::Caller<'_, GuestState>,
    np: u32,
    nl: u32,
    out: u32,
) -> crate::host::HostResult<()> {
    let (mut m, st) = split(c)?;
    let name = m.str(np, nl)?.to_owned();
    if !st.session.env.config.config_stores.contains_key(&name) {
        return Err(HostError::BadHandle(u32::MAX));
    }
    let h = st.session.new_store(OpenStore::Config(name));
    m.u32(out, h)
}

#[allow(clippy::too_many_arguments)]
fn config_get(
    c: &mut wasmtime::Caller<'_, GuestState>,
    h: u32,
    kp: u32,
    kl: u32,
    buf: u32,
    max: u32,
    nw: u32,
) -> crate::host::HostResult<()> {
    let (mut m, st) = split(c)?;
    let OpenStore::Config(store) = st.session.stores.get(h)? else {
        return Err(HostError::BadHandle(h));
    };
    let key = m.str(kp, kl)?;
    let value = st
        .session
        .env
        .config
        .config_stores
        .get(store)
        .and_then(|s| s.get(key))
        .cloned()
        .ok_or(HostError::None)?;
    m.out(buf, max, nw, value.as_bytes())
}
