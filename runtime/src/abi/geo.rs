//! `fastly_geo` and `fastly_device_detection`: lookups in data from config.

use super::{hostcall, split};
use crate::engine::state::GuestState;
use crate::host::HostError;
use wasmtime::Linker;

pub(super) fn add(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    hostcall!(l, "fastly_geo", "lookup", |c, ap, al, buf, max, nw| {
        let (mut m, st) = split(&mut c)?;
        let ip = m.ip_addr(ap, al)?;
        let record = st
            .session
            .env
            .config
            .geolocation
            .lookup(ip)
            .ok_or(HostError::None)?;
        m.out(buf, max, nw, record.to_string().as_bytes())
    });
    hostcall!(
        l,
        "fastly_device_detection",
        "lookup",
        |c, up, ul, buf, max, nw| {
            let (mut m, st) = split(&mut c)?;
            let ua = m.str(up, ul)?;
            let record = st
                .session
                .env
                .config
                .device_detection
                .user_agents
                .get(ua)
                .ok_or(HostError::None)?
                .to_string();
            m.out(buf, max, nw, record.as_bytes())
        }
    );
    Ok(())
}
