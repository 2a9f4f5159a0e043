//! `fastly_geo` and `fastly_device_detection`: lookups in data from config.

use super::hostcall;
use super::memory::Mem;
use super::state::GuestState;
use crate::host::session::Session;
use crate::host::{HostError, HostResult};
use wasmtime::Linker;

pub(super) fn add(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    hostcall!(l, "fastly_geo", lookup(ap, al, buf, max, nw) => geo_lookup);
    hostcall!(l, "fastly_device_detection", lookup(up, ul, buf, max, nw) => device_lookup);
    Ok(())
}

/// `fastly_geo::lookup`: the geolocation record of an IP address, as JSON.
fn geo_lookup(
    m: &mut Mem<'_>,
    s: &mut Session,
    ap: u32,
    al: u32,
    buf: u32,
    max: u32,
    nw: u32,
) -> HostResult<()> {
    let ip = m.ip_addr(ap, al)?;
    let record = s
        .env()
        .config
        .geolocation
        .lookup(ip)
        .ok_or(HostError::None)?;
    m.out(buf, max, nw, record.to_string().as_bytes())
}

/// `fastly_device_detection::lookup`: the device record of a User-Agent,
/// as JSON.
fn device_lookup(
    m: &mut Mem<'_>,
    s: &mut Session,
    up: u32,
    ul: u32,
    buf: u32,
    max: u32,
    nw: u32,
) -> HostResult<()> {
    let ua = m.str(up, ul)?;
    let record = s
        .env()
        .config
        .device_detection
        .user_agents
        .get(ua)
        .ok_or(HostError::None)?
        .to_string();
    m.out(buf, max, nw, record.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::testing::{OutBuf, TestGuest};

    #[test]
    fn geo_lookup_answers_the_loopback_record_and_none_elsewhere() {
        let mut g = TestGuest::new();
        let (ap, al) = g.put(&[127, 0, 0, 1]);
        let out = OutBuf::new(&mut g, 4096);
        g.call(|m, s| geo_lookup(m, s, ap, al, out.buf, out.max, out.nwritten))
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(out.read(&g)).unwrap();
        assert!(json.is_object(), "{json}");
        let (ap, al) = g.put(&[203, 0, 113, 9]);
        let r = g.call(|m, s| geo_lookup(m, s, ap, al, out.buf, out.max, out.nwritten));
        assert!(matches!(r, Err(HostError::None)), "{r:?}");
        let (ap, al) = g.put(&[1, 2, 3]);
        let r = g.call(|m, s| geo_lookup(m, s, ap, al, out.buf, out.max, out.nwritten));
        assert!(matches!(r, Err(HostError::Invalid(_))), "{r:?}");
    }

    #[test]
    fn device_lookup_without_data_is_none() {
        let mut g = TestGuest::new();
        let (up, ul) = g.put(b"curl/8");
        let out = OutBuf::new(&mut g, 256);
        let r = g.call(|m, s| device_lookup(m, s, up, ul, out.buf, out.max, out.nwritten));
        assert!(matches!(r, Err(HostError::None)), "{r:?}");
    }
}
