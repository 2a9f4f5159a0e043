//! `fastly_log`: named log endpoints.

use super::{hostcall, split};
use crate::engine::state::GuestState;
use crate::host::HostError;
use wasmtime::Linker;

pub(super) fn add(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    hostcall!(l, "fastly_log", "endpoint_get", |c, np, nl, out| {
        let (mut m, st) = split(&mut c)?;
        let name = m.str(np, nl)?.to_owned();
        if name.is_empty() || name.len() > 255 {
            return Err(HostError::Invalid(
                "log endpoint names are 1 to 255 bytes".into(),
            ));
        }
        let endpoints = &mut st.session.log_endpoints;
        let h = match endpoints.iter().position(|e| *e == name) {
            Some(i) => i,
            None => {
                endpoints.push(name);
                endpoints.len() - 1
            }
        };
        m.u32(out, h as u32)
    });
    hostcall!(l, "fastly_log", "write", |c, h, mp, ml, nw| {
        let (mut m, st) = split(&mut c)?;
        let name = st
            .session
            .log_endpoints
            .get(h as usize)
            .ok_or(HostError::BadHandle(h))?;
        st.session
            .env
            .logs
            .write(name, m.bytes(mp, ml)?)
            .map_err(|e| HostError::Other(format!("log endpoint {name}: {e}")))?;
        m.u32(nw, ml)
    });
    Ok(())
}
