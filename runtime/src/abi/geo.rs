//! `fastly_geo` and `fastly_device_detection`: lookups in data from config.

use super::{hostcall, split};
use crate::engine::state::GuestState;
use crate::host::HostError;
use std::net::IpAddr;
use wasmtime::Linker;

pub(super) fn add(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    hostcall!(l, "fastly_geo", "lookup", |c, ap, al, buf, max, nw| {
        let (mut m, st) = split(&mut c)?;
        let octets = m.bytes(ap, al)?;
        let ip = match octets.len() {
            4 => IpAddr::from(
                <[u8; 4]>::try_from(octets).map_err(|_| HostError::Invalid("address".into()))?,
            ),
            16 => IpAddr::from(
                <[u8; 16]>::try_from(octets).map_err(|_| HostError::Invalid("address".into()))?,
            ),
            n => {
                return Err(HostError::Invalid(format!(
                    "an IP address has 4 or 16 octets, not {n}"
                )));
            }
        };
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
