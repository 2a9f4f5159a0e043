//! `fastly_backend`: what a program can learn about a backend by name.

use super::memory::Mem;
use super::split;
use crate::config::BackendConfig;
use crate::engine::state::GuestState;
use crate::host::{HostError, HostResult};
use wasmtime::{Caller, Linker};

/// Looks the backend up and answers with `f`.
fn with_backend(
    c: &mut Caller<'_, GuestState>,
    np: u32,
    nl: u32,
    f: impl FnOnce(&mut Mem<'_>, &BackendConfig) -> HostResult<()>,
) -> HostResult<()> {
    let (mut m, st) = split(c)?;
    let name = m.str(np, nl)?.to_owned();
    let backend = st
        .session
        .env
        .backends
        .get(&name)
        .ok_or_else(|| HostError::Invalid(format!("no backend named `{name}`")))?;
    f(&mut m, &backend.config)
}

fn tls_code(v: Option<u8>, default: u32) -> u32 {
    match v {
        Some(12) => 2,
        Some(13) => 3,
        _ => default,
    }
}

pub(super) fn add(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    macro_rules! backend_u32 {
        ($name:literal, |$m:ident, $b:ident, $out:ident| $body:expr) => {
            l.func_wrap(
                "fastly_backend",
                $name,
                |mut c: Caller<'_, GuestState>, np: i32, nl: i32, out: i32| -> i32 {
                    let r = with_backend(&mut c, np as u32, nl as u32, |$m, $b| {
                        let $out = out as u32;
                        $body
                    });
                    super::status(r)
                },
            )?;
        };
    }
    l.func_wrap(
        "fastly_backend",
        "exists",
        |mut c: Caller<'_, GuestState>, np: i32, nl: i32, out: i32| -> i32 {
            let r = split(&mut c).and_then(|(mut m, st)| {
                let exists = st
                    .session
                    .env
                    .backends
                    .get(m.str(np as u32, nl as u32)?)
                    .is_some();
                m.u32(out as u32, u32::from(exists))
            });
            super::status(r)
        },
    )?;
    // No health checks run here: health is "unknown" (0), as Fastly
    // answers for a backend without a health check.
    backend_u32!("is_healthy", |m, _b, out| m.u32(out, 0));
    backend_u32!("is_dynamic", |m, b, out| m.u32(out, u32::from(b.dynamic)));
    backend_u32!("get_port", |m, b, out| m.u16(out, b.port()));
    backend_u32!("get_connect_timeout_ms", |m, b, out| m
        .u32(out, b.connect_timeout.as_millis() as u32));
    backend_u32!("get_first_byte_timeout_ms", |m, b, out| m
        .u32(out, b.first_byte_timeout.as_millis() as u32));
    backend_u32!("get_between_bytes_timeout_ms", |m, b, out| m
        .u32(out, b.between_bytes_timeout.as_millis() as u32));
    backend_u32!("get_http_keepalive_time", |m, _b, out| m.u32(out, 30_000));
    backend_u32!("get_tcp_keepalive_enable", |m, _b, out| m.u32(out, 0));
    backend_u32!("get_tcp_keepalive_interval", |_m, _b, _out| Err(
        HostError::None
    ));
    backend_u32!("get_tcp_keepalive_probes", |_m, _b, _out| Err(
        HostError::None
    ));
    backend_u32!("get_tcp_keepalive_time", |_m, _b, _out| Err(
        HostError::None
    ));
    backend_u32!("is_ssl", |m, b, out| m.u32(out, u32::from(b.is_tls())));
    backend_u32!("get_ssl_min_version", |m, b, out| if b.is_tls() {
        m.u32(out, tls_code(b.tls.min_version, 2))
    } else {
        Err(HostError::None)
    });
    backend_u32!("get_ssl_max_version", |m, b, out| if b.is_tls() {
        m.u32(out, tls_code(b.tls.max_version, 3))
    } else {
        Err(HostError::None)
    });
    for (name, override_host) in [("get_host", false), ("get_override_host", true)] {
        l.func_wrap(
            "fastly_backend",
            name,
            move |mut c: Caller<'_, GuestState>,
                  np: i32,
                  nl: i32,
                  buf: i32,
                  max: i32,
                  nw: i32|
                  -> i32 {
                let r = with_backend(&mut c, np as u32, nl as u32, |m, b| {
                    let value = if override_host {
                        b.override_host.clone().ok_or(HostError::None)?
                    } else {
                        b.host().to_owned()
                    };
                    m.out(buf as u32, max as u32, nw as u32, value.as_bytes())
                });
                super::status(r)
            },
        )?;
    }
    Ok(())
}
