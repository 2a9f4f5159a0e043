//! `fastly_backend`: what a program can learn about a backend by name.

use super::hostcall;
use super::memory::Mem;
use super::state::GuestState;
use crate::host::backends::Backend;
use crate::host::session::Session;
use crate::host::{HostError, HostResult};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::Linker;

pub(super) fn add(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    hostcall!(l, "fastly_backend", exists(np, nl, out));
    hostcall!(l, "fastly_backend", is_healthy(np, nl, out));
    hostcall!(l, "fastly_backend", is_dynamic(np, nl, out));
    hostcall!(l, "fastly_backend", get_port(np, nl, out));
    hostcall!(l, "fastly_backend", get_connect_timeout_ms(np, nl, out));
    hostcall!(l, "fastly_backend", get_first_byte_timeout_ms(np, nl, out));
    hostcall!(
        l,
        "fastly_backend",
        get_between_bytes_timeout_ms(np, nl, out)
    );
    hostcall!(l, "fastly_backend", get_http_keepalive_time(np, nl, out));
    hostcall!(l, "fastly_backend", get_tcp_keepalive_enable(np, nl, out));
    hostcall!(l, "fastly_backend", get_tcp_keepalive_interval(np, nl, out) => tcp_keepalive_unset);
    hostcall!(l, "fastly_backend", get_tcp_keepalive_probes(np, nl, out) => tcp_keepalive_unset);
    hostcall!(l, "fastly_backend", get_tcp_keepalive_time(np, nl, out) => tcp_keepalive_unset);
    hostcall!(l, "fastly_backend", is_ssl(np, nl, out));
    hostcall!(l, "fastly_backend", get_ssl_min_version(np, nl, out));
    hostcall!(l, "fastly_backend", get_ssl_max_version(np, nl, out));
    hostcall!(l, "fastly_backend", get_host(np, nl, buf, max, nw));
    hostcall!(l, "fastly_backend", get_override_host(np, nl, buf, max, nw));
    Ok(())
}

/// The backend the guest names (`INVAL` when there is none).
fn named(m: &Mem<'_>, s: &Session, np: u32, nl: u32) -> HostResult<Arc<Backend>> {
    let name = m.str(np, nl)?;
    s.env()
        .backends
        .get(name)
        .ok_or_else(|| HostError::Invalid(format!("no backend named `{name}`")))
}

/// The ABI's `tls_version` code of a TLS version, or `default`.
fn tls_code(v: Option<u8>, default: u32) -> u32 {
    match v {
        Some(12) => 2,
        Some(13) => 3,
        _ => default,
    }
}

/// A timeout as the ABI's milliseconds.
fn millis(d: Duration) -> u32 {
    d.as_millis() as u32
}

/// `fastly_backend::exists`: 1 in `out` when a backend has the name.
fn exists(m: &mut Mem<'_>, s: &mut Session, np: u32, nl: u32, out: u32) -> HostResult<()> {
    let exists = s.env().backends.get(m.str(np, nl)?).is_some();
    m.u32(out, u32::from(exists))
}

/// `fastly_backend::is_healthy`: what the backend's health check found
/// (values `healthCheck`): 1 healthy, 2 unhealthy; 0 "unknown" without a
/// check, as Fastly answers for a backend without one.
fn is_healthy(m: &mut Mem<'_>, s: &mut Session, np: u32, nl: u32, out: u32) -> HostResult<()> {
    let b = named(m, s, np, nl)?;
    m.u32(out, b.health.get() as u32)
}

/// `fastly_backend::is_dynamic`: 1 for a backend the program registered.
fn is_dynamic(m: &mut Mem<'_>, s: &mut Session, np: u32, nl: u32, out: u32) -> HostResult<()> {
    let b = named(m, s, np, nl)?;
    m.u32(out, u32::from(b.config.dynamic))
}

/// `fastly_backend::get_port`: the origin's port.
fn get_port(m: &mut Mem<'_>, s: &mut Session, np: u32, nl: u32, out: u32) -> HostResult<()> {
    let b = named(m, s, np, nl)?;
    m.u16(out, b.config.port())
}

/// `fastly_backend::get_connect_timeout_ms`: the connect timeout.
fn get_connect_timeout_ms(
    m: &mut Mem<'_>,
    s: &mut Session,
    np: u32,
    nl: u32,
    out: u32,
) -> HostResult<()> {
    let b = named(m, s, np, nl)?;
    m.u32(out, millis(b.config.connect_timeout))
}

/// `fastly_backend::get_first_byte_timeout_ms`: the first-byte timeout.
fn get_first_byte_timeout_ms(
    m: &mut Mem<'_>,
    s: &mut Session,
    np: u32,
    nl: u32,
    out: u32,
) -> HostResult<()> {
    let b = named(m, s, np, nl)?;
    m.u32(out, millis(b.config.first_byte_timeout))
}

/// `fastly_backend::get_between_bytes_timeout_ms`: the between-bytes
/// timeout.
fn get_between_bytes_timeout_ms(
    m: &mut Mem<'_>,
    s: &mut Session,
    np: u32,
    nl: u32,
    out: u32,
) -> HostResult<()> {
    let b = named(m, s, np, nl)?;
    m.u32(out, millis(b.config.between_bytes_timeout))
}

/// `fastly_backend::get_http_keepalive_time`: the connection pool's idle
/// time, 30 s.
fn get_http_keepalive_time(
    m: &mut Mem<'_>,
    s: &mut Session,
    np: u32,
    nl: u32,
    out: u32,
) -> HostResult<()> {
    named(m, s, np, nl)?;
    m.u32(out, 30_000)
}

/// `fastly_backend::get_tcp_keepalive_enable`: 0, TCP keepalive is off.
///
/// Fixed answer: 0; TCP keepalive settings are not applied.
fn get_tcp_keepalive_enable(
    m: &mut Mem<'_>,
    s: &mut Session,
    np: u32,
    nl: u32,
    out: u32,
) -> HostResult<()> {
    named(m, s, np, nl)?;
    m.u32(out, 0)
}

/// `fastly_backend::get_tcp_keepalive_interval`, `_probes` and `_time`:
/// `NONE`, as TCP keepalive is off.
///
/// Fixed answer: `NONE`; TCP keepalive settings are not applied.
fn tcp_keepalive_unset(
    m: &mut Mem<'_>,
    s: &mut Session,
    np: u32,
    nl: u32,
    _out: u32,
) -> HostResult<()> {
    named(m, s, np, nl)?;
    Err(HostError::None)
}

/// `fastly_backend::is_ssl`: 1 when requests go over TLS.
fn is_ssl(m: &mut Mem<'_>, s: &mut Session, np: u32, nl: u32, out: u32) -> HostResult<()> {
    let b = named(m, s, np, nl)?;
    m.u32(out, u32::from(b.config.is_tls()))
}

/// `fastly_backend::get_ssl_min_version`: the lowest TLS version (`NONE`
/// without TLS).
fn get_ssl_min_version(
    m: &mut Mem<'_>,
    s: &mut Session,
    np: u32,
    nl: u32,
    out: u32,
) -> HostResult<()> {
    let b = named(m, s, np, nl)?;
    if !b.config.is_tls() {
        return Err(HostError::None);
    }
    m.u32(out, tls_code(b.config.tls.min_version, 2))
}

/// `fastly_backend::get_ssl_max_version`: the highest TLS version (`NONE`
/// without TLS).
fn get_ssl_max_version(
    m: &mut Mem<'_>,
    s: &mut Session,
    np: u32,
    nl: u32,
    out: u32,
) -> HostResult<()> {
    let b = named(m, s, np, nl)?;
    if !b.config.is_tls() {
        return Err(HostError::None);
    }
    m.u32(out, tls_code(b.config.tls.max_version, 3))
}

/// `fastly_backend::get_host`: the origin's host name or IP.
fn get_host(
    m: &mut Mem<'_>,
    s: &mut Session,
    np: u32,
    nl: u32,
    buf: u32,
    max: u32,
    nw: u32,
) -> HostResult<()> {
    let b = named(m, s, np, nl)?;
    m.out(buf, max, nw, b.config.host().as_bytes())
}

/// `fastly_backend::get_override_host`: the Host header sent instead of
/// the request's (`NONE` when unset).
fn get_override_host(
    m: &mut Mem<'_>,
    s: &mut Session,
    np: u32,
    nl: u32,
    buf: u32,
    max: u32,
    nw: u32,
) -> HostResult<()> {
    let b = named(m, s, np, nl)?;
    let host = b.config.override_host.as_deref().ok_or(HostError::None)?;
    m.out(buf, max, nw, host.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::testing::{OutBuf, TestGuest};
    use crate::config::{BackendConfig, ProjectConfig};

    /// A hostcall asking one question of a named backend.
    type Question = fn(&mut Mem<'_>, &mut Session, u32, u32, u32) -> HostResult<()>;

    /// A guest with backends `secure` (https://origin.example:8443, TLS 1.3
    /// at least, Host `host.example`, a 2 s connect timeout) and `plain`
    /// (http://127.0.0.1).
    fn guest() -> TestGuest {
        let mut secure = BackendConfig::new("https://origin.example:8443/".parse().unwrap());
        secure.override_host = Some("host.example".into());
        secure.tls.min_version = Some(13);
        secure.connect_timeout = Duration::from_secs(2);
        let plain = BackendConfig::new("http://127.0.0.1/".parse().unwrap());
        let mut config = ProjectConfig::default();
        config.backends.insert("secure".into(), secure);
        config.backends.insert("plain".into(), plain);
        TestGuest::with_config(config)
    }

    /// Asks `q` about backend `name`: the u32 it answers.
    fn ask(g: &mut TestGuest, q: Question, name: &str) -> HostResult<u32> {
        let (np, nl) = g.put(name.as_bytes());
        let out = g.alloc(4);
        g.call(|m, s| q(m, s, np, nl, out))?;
        Ok(g.u32_at(out))
    }

    #[test]
    fn exists_answers_whether_a_backend_has_the_name() {
        let mut g = guest();
        assert_eq!(ask(&mut g, exists, "plain").unwrap(), 1);
        assert_eq!(ask(&mut g, exists, "nope").unwrap(), 0);
    }

    #[test]
    fn an_unknown_backend_is_invalid_for_every_other_question() {
        let mut g = guest();
        let questions: [Question; 14] = [
            is_healthy,
            is_dynamic,
            get_port,
            get_connect_timeout_ms,
            get_first_byte_timeout_ms,
            get_between_bytes_timeout_ms,
            get_http_keepalive_time,
            get_tcp_keepalive_enable,
            tcp_keepalive_unset,
            is_ssl,
            get_ssl_min_version,
            get_ssl_max_version,
            |m, s, np, nl, out| get_host(m, s, np, nl, out, 64, out + 4),
            |m, s, np, nl, out| get_override_host(m, s, np, nl, out, 64, out + 4),
        ];
        for q in questions {
            let r = ask(&mut g, q, "nope");
            assert!(matches!(r, Err(HostError::Invalid(_))), "{r:?}");
        }
    }

    #[test]
    fn settings_come_from_the_backend_config() {
        let mut g = guest();
        assert_eq!(ask(&mut g, is_dynamic, "secure").unwrap(), 0);
        assert_eq!(ask(&mut g, get_port, "secure").unwrap() & 0xffff, 8443);
        assert_eq!(ask(&mut g, get_port, "plain").unwrap() & 0xffff, 80);
        assert_eq!(
            ask(&mut g, get_connect_timeout_ms, "secure").unwrap(),
            2_000
        );
        assert_eq!(
            ask(&mut g, get_first_byte_timeout_ms, "secure").unwrap(),
            15_000
        );
        assert_eq!(
            ask(&mut g, get_between_bytes_timeout_ms, "secure").unwrap(),
            10_000
        );
        assert_eq!(ask(&mut g, is_ssl, "secure").unwrap(), 1);
        assert_eq!(ask(&mut g, is_ssl, "plain").unwrap(), 0);
        // Fixed answers: no health checks, no TCP keepalive.
        assert_eq!(ask(&mut g, is_healthy, "plain").unwrap(), 0);
        assert_eq!(
            ask(&mut g, get_http_keepalive_time, "plain").unwrap(),
            30_000
        );
        assert_eq!(ask(&mut g, get_tcp_keepalive_enable, "plain").unwrap(), 0);
        let r = ask(&mut g, tcp_keepalive_unset, "plain");
        assert!(matches!(r, Err(HostError::None)), "{r:?}");
    }

    #[test]
    fn is_dynamic_answers_one_for_a_registered_backend() {
        let mut g = guest();
        let mut config = BackendConfig::new("http://192.0.2.1/".parse().unwrap());
        config.dynamic = true;
        g.session
            .env()
            .backends
            .register("dyn".into(), config)
            .unwrap();
        assert_eq!(ask(&mut g, is_dynamic, "dyn").unwrap(), 1);
    }

    #[test]
    fn ssl_versions_default_or_none_without_tls() {
        let mut g = guest();
        assert_eq!(ask(&mut g, get_ssl_min_version, "secure").unwrap(), 3);
        assert_eq!(ask(&mut g, get_ssl_max_version, "secure").unwrap(), 3);
        for q in [get_ssl_min_version, get_ssl_max_version] {
            let r = ask(&mut g, q, "plain");
            assert!(matches!(r, Err(HostError::None)), "{r:?}");
        }
        let mut config = BackendConfig::new("https://192.0.2.1/".parse().unwrap());
        config.dynamic = true;
        g.session
            .env()
            .backends
            .register("tls".into(), config)
            .unwrap();
        assert_eq!(ask(&mut g, get_ssl_min_version, "tls").unwrap(), 2);
        assert_eq!(ask(&mut g, get_ssl_max_version, "tls").unwrap(), 3);
    }

    #[test]
    fn host_and_override_host() {
        let mut g = guest();
        let (np, nl) = g.put(b"secure");
        let out = OutBuf::new(&mut g, 64);
        g.call(|m, s| get_host(m, s, np, nl, out.buf, out.max, out.nwritten))
            .unwrap();
        assert_eq!(out.read(&g), b"origin.example");
        g.call(|m, s| get_override_host(m, s, np, nl, out.buf, out.max, out.nwritten))
            .unwrap();
        assert_eq!(out.read(&g), b"host.example");
        let r = g.call(|m, s| get_override_host(m, s, np, nl, out.buf, 4, out.nwritten));
        assert!(
            matches!(r, Err(HostError::BufferLength { needed: 12 })),
            "{r:?}"
        );
        let (np, nl) = g.put(b"plain");
        let r = g.call(|m, s| get_override_host(m, s, np, nl, out.buf, out.max, out.nwritten));
        assert!(matches!(r, Err(HostError::None)), "{r:?}");
        g.call(|m, s| get_host(m, s, np, nl, out.buf, out.max, out.nwritten))
            .unwrap();
        assert_eq!(out.read(&g), b"127.0.0.1");
    }
}
