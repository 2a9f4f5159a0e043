//! `fastly_log`: named log endpoints.

use super::hostcall;
use super::memory::Mem;
use super::state::GuestState;
use crate::host::session::Session;
use crate::host::{HostError, HostResult};
use wasmtime::Linker;

pub(super) fn add(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    hostcall!(l, "fastly_log", endpoint_get(np, nl, out));
    hostcall!(l, "fastly_log", write(h, mp, ml, nw));
    Ok(())
}

/// `fastly_log::endpoint_get`: the handle of the endpoint named `np`
/// (1 to 255 bytes of UTF-8), the same for the same name.
fn endpoint_get(m: &mut Mem<'_>, s: &mut Session, np: u32, nl: u32, out: u32) -> HostResult<()> {
    let name = m.str(np, nl)?;
    if name.is_empty() || name.len() > 255 {
        return Err(HostError::Invalid(
            "log endpoint names are 1 to 255 bytes".into(),
        ));
    }
    let h = s.log_endpoint(name);
    m.u32(out, h)
}

/// `fastly_log::write`: writes one message to endpoint `h`.
fn write(m: &mut Mem<'_>, s: &mut Session, h: u32, mp: u32, ml: u32, nw: u32) -> HostResult<()> {
    let name = s.log_endpoint_name(h)?;
    s.env()
        .logs
        .write(name, m.bytes(mp, ml)?)
        .map_err(|e| HostError::Other(format!("log endpoint {name}: {e}")))?;
    m.u32(nw, ml)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::testing::TestGuest;

    #[test]
    fn endpoint_get_names_each_endpoint_once() {
        let mut g = TestGuest::new();
        let out = g.alloc(4);
        let get = |g: &mut TestGuest, name: &[u8]| {
            let (np, nl) = g.put(name);
            g.call(|m, s| endpoint_get(m, s, np, nl, out))
                .map(|()| g.u32_at(out))
        };
        assert_eq!(get(&mut g, b"access").unwrap(), 0);
        assert_eq!(get(&mut g, b"errors").unwrap(), 1);
        assert_eq!(get(&mut g, b"access").unwrap(), 0);
        for bad in [&b""[..], &[b'a'; 256], b"\xff"] {
            let r = get(&mut g, bad);
            assert!(matches!(r, Err(HostError::Invalid(_))), "{r:?}");
        }
        assert_eq!(g.session.log_endpoint_name(1).unwrap(), "errors");
    }

    #[test]
    fn write_counts_the_message_and_needs_an_endpoint() {
        let mut g = TestGuest::new();
        let h = g.session.log_endpoint("abi-log-test");
        let (mp, ml) = g.put(b"a message from the log.rs unit test");
        let nw = g.alloc(4);
        g.call(|m, s| write(m, s, h, mp, ml, nw)).unwrap();
        assert_eq!(g.u32_at(nw), ml);
        let r = g.call(|m, s| write(m, s, h + 1, mp, ml, nw));
        assert!(matches!(r, Err(HostError::BadHandle(_))), "{r:?}");
    }
}
