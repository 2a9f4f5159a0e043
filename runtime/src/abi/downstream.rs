//! `fastly_http_downstream`: the client request's metadata by request
//! handle, and the reusable-sandbox calls (`next_request`). TLS ends at the
//! Ingress: the TLS facts it forwards in headers are answered, the others
//! (client hello, certificates, H2 and OH fingerprints) are absent (`NONE`).

use super::layout::Mask;
use super::memory::Mem;
use super::state::GuestState;
use super::{Guest, hostcall};
use crate::host::forwarded_tls::ForwardedTls;
use crate::host::handles::{PromiseHandle, RequestHandle};
use crate::host::session::Session;
use crate::host::{HostError, HostResult};
use std::time::Duration;
use wasmtime::Linker;

/// Option bits of `next_request`'s options (witx
/// `next_request_options_mask`; bit 0 is reserved). The options struct is
/// one little-endian u64, `timeout_ms`.
mod next_request_options {
    /// `timeout_ms` is set.
    pub const TIMEOUT: u32 = 1 << 1;
}

pub(super) fn add(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    const M: &str = "fastly_http_downstream";
    hostcall!(l, M, next_request(mask, options, out));
    hostcall!(l, M, async next_request_wait(h, req_out, body_out));
    hostcall!(l, M, next_request_abandon(h));
    hostcall!(l, M, downstream_client_ip_addr(req, out, nw));
    hostcall!(l, M, downstream_server_ip_addr(req, out, nw));
    hostcall!(l, M, downstream_client_request_id(req, buf, max, nw));
    hostcall!(
        l,
        M,
        downstream_original_header_names(req, buf, len, cursor, ending, nw)
    );
    hostcall!(l, M, downstream_original_header_count(req, out));
    // Facts that exist only where TLS ends or bot and DDoS detection run.
    // What the Ingress forwarded (values `clientAddress.tlsHeaders`).
    hostcall!(l, M, downstream_tls_cipher_openssl_name(req, buf, max, nw) => tls_cipher_of);
    hostcall!(l, M, downstream_tls_protocol(req, buf, max, nw) => tls_protocol_of);
    hostcall!(l, M, downstream_tls_client_servername(req, buf, max, nw) => tls_server_name_of);
    hostcall!(l, M, downstream_tls_ja4(req, buf, max, nw) => tls_ja4_of);
    hostcall!(l, M, downstream_tls_ja3_md5(req, out, nw) => tls_ja3_md5_of);
    hostcall!(l, M, downstream_tls_client_hello(req, buf, max, nw) => absent_text_of);
    hostcall!(l, M, downstream_tls_raw_client_certificate(req, buf, max, nw) => absent_text_of);
    hostcall!(l, M, downstream_client_h2_fingerprint(req, buf, max, nw) => absent_text_of);
    hostcall!(l, M, downstream_client_oh_fingerprint(req, buf, max, nw) => absent_text_of);
    hostcall!(l, M, downstream_bot_name(req, buf, max, nw) => absent_text_of);
    hostcall!(l, M, downstream_bot_category(req, buf, max, nw) => absent_text_of);
    hostcall!(l, M, downstream_compliance_region(req, buf, max, nw) => absent_text_of);
    hostcall!(l, M, downstream_resvpnproxy_vpn_service_name(req, buf, max, nw) => absent_text_of);
    hostcall!(l, M, downstream_bot_category_kind(req, out) => absent_word_of);
    hostcall!(l, M, downstream_tls_client_cert_verify_result(req, out) => absent_word_of);
    hostcall!(l, M, fastly_key_is_valid(req, out) => flag_false_of);
    hostcall!(l, M, downstream_client_ddos_detected(req, out) => flag_false_of);
    hostcall!(l, M, downstream_bot_analyzed(req, out) => flag_false_of);
    hostcall!(l, M, downstream_bot_detected(req, out) => flag_false_of);
    hostcall!(l, M, downstream_bot_verified(req, out) => flag_false_of);
    hostcall!(l, M, downstream_resvpnproxy_is_anonymous(req, out) => flag_false_of);
    hostcall!(l, M, downstream_resvpnproxy_is_anonymous_vpn(req, out) => flag_false_of);
    hostcall!(l, M, downstream_resvpnproxy_is_hosting_provider(req, out) => flag_false_of);
    hostcall!(l, M, downstream_resvpnproxy_is_proxy_over_vpn(req, out) => flag_false_of);
    hostcall!(l, M, downstream_resvpnproxy_is_public_proxy(req, out) => flag_false_of);
    hostcall!(l, M, downstream_resvpnproxy_is_relay_proxy(req, out) => flag_false_of);
    hostcall!(l, M, downstream_resvpnproxy_is_residential_proxy(req, out) => flag_false_of);
    hostcall!(l, M, downstream_resvpnproxy_is_smart_dns_proxy(req, out) => flag_false_of);
    hostcall!(l, M, downstream_resvpnproxy_is_tor_exit_node(req, out) => flag_false_of);
    hostcall!(l, M, downstream_resvpnproxy_is_vpn_datacenter(req, out) => flag_false_of);
    Ok(())
}

/// `next_request`: registers interest in the next client request (after
/// the current one has its response); its promise handle goes to `out`.
fn next_request(
    m: &mut Mem<'_>,
    s: &mut Session,
    mask: u32,
    options: u32,
    out: u32,
) -> HostResult<()> {
    let timeout = if Mask(mask).has(next_request_options::TIMEOUT) {
        Some(Duration::from_millis(m.read_u64(options)?))
    } else {
        None
    };
    let h = s.next_request(timeout)?;
    m.handle(out, h)
}

/// `next_request_wait`: waits for the promised client request, which
/// becomes the current one (`NONE` when none came in time).
async fn next_request_wait(
    g: &mut impl Guest,
    h: PromiseHandle,
    req_out: u32,
    body_out: u32,
) -> HostResult<()> {
    let (rh, bh) = g.session().next_request_wait(h).await?;
    let (mut m, _) = g.mem_and_session()?;
    m.handle(req_out, rh)?;
    m.handle(body_out, bh)
}

/// `next_request_abandon`: gives up a promise of the next client request.
fn next_request_abandon(_m: &mut Mem<'_>, s: &mut Session, h: PromiseHandle) -> HostResult<()> {
    s.take(h).map(drop)
}

/// `downstream_client_ip_addr`: the client's address.
fn downstream_client_ip_addr(
    m: &mut Mem<'_>,
    s: &mut Session,
    req: RequestHandle,
    out: u32,
    nw: u32,
) -> HostResult<()> {
    let ip = s.downstream_meta(Some(req))?.client_ip;
    m.write_ip(ip, out, nw)
}

/// `downstream_server_ip_addr`: our address on the client's connection.
fn downstream_server_ip_addr(
    m: &mut Mem<'_>,
    s: &mut Session,
    req: RequestHandle,
    out: u32,
    nw: u32,
) -> HostResult<()> {
    let ip = s.downstream_meta(Some(req))?.server_addr.ip();
    m.write_ip(ip, out, nw)
}

/// `downstream_client_request_id`: the request's id, 16 hex digits.
fn downstream_client_request_id(
    m: &mut Mem<'_>,
    s: &mut Session,
    req: RequestHandle,
    buf: u32,
    max: u32,
    nw: u32,
) -> HostResult<()> {
    let id = s.downstream_meta(Some(req))?.request_id_text();
    m.out(buf, max, nw, id.as_bytes())
}

/// `downstream_original_header_names`: the header names as the client
/// sent them, in order.
#[allow(clippy::too_many_arguments)]
fn downstream_original_header_names(
    m: &mut Mem<'_>,
    s: &mut Session,
    req: RequestHandle,
    buf: u32,
    len: u32,
    cursor: u32,
    ending: u32,
    nw: u32,
) -> HostResult<()> {
    let names = &s.downstream_meta(Some(req))?.original_header_names;
    m.multi_value(names, buf, len, cursor, ending, nw)
}

/// `downstream_original_header_count`: how many headers the client sent.
fn downstream_original_header_count(
    m: &mut Mem<'_>,
    s: &mut Session,
    req: RequestHandle,
    out: u32,
) -> HostResult<()> {
    let n = s.downstream_meta(Some(req))?.original_header_names.len();
    m.u32(out, n as u32)
}

/// The TLS, fingerprint, bot and compliance texts of client request `req`
/// (`downstream_tls_protocol` and the like): always `NONE` (`BADF` for a
/// handle that is not a client request).
///
/// Fixed answer: `NONE`; TLS ends at the Ingress, and fingerprints, bot
/// and compliance data are not computed.
fn absent_text_of(
    _m: &mut Mem<'_>,
    s: &mut Session,
    req: RequestHandle,
    _buf: u32,
    _max: u32,
    _nw: u32,
) -> HostResult<()> {
    s.downstream_meta(Some(req))?;
    Err(HostError::None)
}

/// A forwarded TLS text of client request `req`, or of the current one
/// (`NONE` when the Ingress did not forward it).
#[allow(clippy::too_many_arguments)]
fn forwarded_text(
    m: &mut Mem<'_>,
    s: &mut Session,
    req: Option<RequestHandle>,
    buf: u32,
    max: u32,
    nw: u32,
    field: fn(&ForwardedTls) -> Option<&String>,
) -> HostResult<()> {
    let meta = s.downstream_meta(req)?;
    let value = field(&meta.tls).ok_or(HostError::None)?;
    m.out(buf, max, nw, value.as_bytes())
}

/// Defines the hostcalls answering one forwarded TLS text: `$of` for a
/// client request handle and, when named, `$current` (the handle-less
/// `fastly_http_req` form) for the current client request.
macro_rules! forwarded_text_calls {
    ($field:ident: $of:ident $(, $current:ident)?) => {
        #[doc = concat!("`", stringify!($field), "` of client request `req`, as the Ingress forwarded it.")]
        fn $of(
            m: &mut Mem<'_>,
            s: &mut Session,
            req: RequestHandle,
            buf: u32,
            max: u32,
            nw: u32,
        ) -> HostResult<()> {
            forwarded_text(m, s, Some(req), buf, max, nw, |t| t.$field.as_ref())
        }
        $(
            #[doc = concat!("`", stringify!($field), "` of the current client request.")]
            pub(super) fn $current(
                m: &mut Mem<'_>,
                s: &mut Session,
                buf: u32,
                max: u32,
                nw: u32,
            ) -> HostResult<()> {
                forwarded_text(m, s, None, buf, max, nw, |t| t.$field.as_ref())
            }
        )?
    };
}

forwarded_text_calls!(protocol: tls_protocol_of, current_tls_protocol);
forwarded_text_calls!(cipher: tls_cipher_of, current_tls_cipher);
forwarded_text_calls!(ja4: tls_ja4_of, current_tls_ja4);
forwarded_text_calls!(server_name: tls_server_name_of);

/// `downstream_tls_ja3_md5` of client request `req`, or of the current
/// one: the 16 bytes the Ingress forwarded as hex (`NONE` without them).
pub(super) fn tls_ja3_md5(
    m: &mut Mem<'_>,
    s: &mut Session,
    req: Option<RequestHandle>,
    out: u32,
    nw: u32,
) -> HostResult<()> {
    let digest = s.downstream_meta(req)?.tls.ja3_md5.ok_or(HostError::None)?;
    m.write(out, &digest)?;
    m.u32(nw, digest.len() as u32)
}

fn tls_ja3_md5_of(
    m: &mut Mem<'_>,
    s: &mut Session,
    req: RequestHandle,
    out: u32,
    nw: u32,
) -> HostResult<()> {
    tls_ja3_md5(m, s, Some(req), out, nw)
}

/// `fastly_http_req::downstream_tls_ja3_md5`.
pub(super) fn current_tls_ja3_md5(
    m: &mut Mem<'_>,
    s: &mut Session,
    out: u32,
    nw: u32,
) -> HostResult<()> {
    tls_ja3_md5(m, s, None, out, nw)
}

/// `downstream_bot_category_kind` and
/// `downstream_tls_client_cert_verify_result` of client request `req`:
/// always `NONE`.
///
/// Fixed answer: `NONE`; TLS ends at the Ingress and bots are not
/// classified.
fn absent_word_of(
    _m: &mut Mem<'_>,
    s: &mut Session,
    req: RequestHandle,
    _out: u32,
) -> HostResult<()> {
    s.downstream_meta(Some(req))?;
    Err(HostError::None)
}

/// The yes-or-no facts of client request `req` (`fastly_key_is_valid`,
/// `downstream_client_ddos_detected`, `downstream_bot_*`,
/// `downstream_resvpnproxy_is_*`): always 0.
///
/// Fixed answer: 0; no bot, DDoS or VPN detection and no Fastly keys here.
fn flag_false_of(m: &mut Mem<'_>, s: &mut Session, req: RequestHandle, out: u32) -> HostResult<()> {
    s.downstream_meta(Some(req))?;
    m.u32(out, 0)
}

/// The handle-less TLS and fingerprint texts of the current client request
/// (`fastly_http_req::downstream_tls_protocol` and the like): always
/// `NONE`, as TLS ends at the Ingress.
///
/// Fixed answer: `NONE`; TLS ends at the Ingress.
pub(super) fn absent_text(
    _m: &mut Mem<'_>,
    s: &mut Session,
    _buf: u32,
    _max: u32,
    _nw: u32,
) -> HostResult<()> {
    s.downstream_meta(None)?;
    Err(HostError::None)
}

/// `fastly_http_req::downstream_tls_client_cert_verify_result` of the
/// current client request: always `NONE`.
///
/// Fixed answer: `NONE`; TLS ends at the Ingress.
pub(super) fn absent_word(_m: &mut Mem<'_>, s: &mut Session, _out: u32) -> HostResult<()> {
    s.downstream_meta(None)?;
    Err(HostError::None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::testing::{OutBuf, TestGuest, next_client_request};
    use crate::host::handles::BodyHandle;

    /// The current client request's handle.
    fn client(g: &TestGuest) -> RequestHandle {
        g.session.downstream_current().unwrap().0
    }

    /// A promise of the next request, waiting at most `timeout_ms`.
    fn promise(g: &mut TestGuest, timeout_ms: u64) -> PromiseHandle {
        drop(g.session.take_responder());
        let (opts, _) = g.put(&timeout_ms.to_le_bytes());
        let out = g.alloc(4);
        g.call(|m, s| next_request(m, s, next_request_options::TIMEOUT, opts, out))
            .unwrap();
        PromiseHandle::from(g.u32_at(out))
    }

    #[test]
    fn next_request_needs_a_response_first() {
        let mut g = TestGuest::new();
        let out = g.alloc(4);
        let r = g.call(|m, s| next_request(m, s, 0, 0, out));
        assert!(matches!(r, Err(HostError::Invalid(_))), "{r:?}");
        drop(g.session.take_responder());
        g.call(|m, s| next_request(m, s, 0, 0, out)).unwrap();
        assert!(g.session.contains(PromiseHandle::from(g.u32_at(out))));
        // With the timeout bit, the options must be in memory.
        let r = g.call(|m, s| next_request(m, s, next_request_options::TIMEOUT, u32::MAX, out));
        assert!(matches!(r, Err(HostError::Invalid(_))), "{r:?}");
    }

    #[tokio::test]
    async fn next_request_wait_makes_the_next_request_current() {
        let mut g = TestGuest::new();
        let (first, first_body) = g.session.downstream_current().unwrap();
        let p = promise(&mut g, 5_000);
        let (req, _response) = next_client_request("second body");
        let placed = g.session.env().instances.offer(Box::new(req));
        assert!(
            matches!(placed, crate::host::reuse::Placement::Taken),
            "{placed:?}"
        );
        let (req_out, body_out) = (g.alloc(4), g.alloc(4));
        next_request_wait(&mut g, p, req_out, body_out)
            .await
            .unwrap();
        let (rh, bh) = (
            RequestHandle::from(g.u32_at(req_out)),
            BodyHandle::from(g.u32_at(body_out)),
        );
        assert_eq!(g.session.downstream_current().unwrap(), (rh, bh));
        assert_eq!(g.read_body(bh).await, b"second body");
        assert!(!g.session.contains(p));
        // The first request's handles are gone: a reused instance does not
        // pile them up request after request.
        assert!(!g.session.contains(first) && !g.session.contains(first_body));
    }

    #[tokio::test]
    async fn next_request_wait_without_a_request_is_none() {
        let mut g = TestGuest::new();
        let p = promise(&mut g, 1);
        let (req_out, body_out) = (g.alloc(4), g.alloc(4));
        let r = next_request_wait(&mut g, p, req_out, body_out).await;
        assert!(matches!(r, Err(HostError::None)), "{r:?}");
        let r = next_request_wait(&mut g, p, req_out, body_out).await;
        assert!(matches!(r, Err(HostError::BadHandle(_))), "{r:?}");
    }

    #[test]
    fn next_request_abandon_closes_the_promise() {
        let mut g = TestGuest::new();
        let p = promise(&mut g, 1);
        g.call(|m, s| next_request_abandon(m, s, p)).unwrap();
        assert!(!g.session.contains(p));
        let r = g.call(|m, s| next_request_abandon(m, s, p));
        assert!(matches!(r, Err(HostError::BadHandle(_))), "{r:?}");
    }

    #[test]
    fn downstream_client_ip_addr_is_the_peer() {
        let mut g = TestGuest::new();
        let req = client(&g);
        let (out, nw) = (g.alloc(16), g.alloc(4));
        g.call(|m, s| downstream_client_ip_addr(m, s, req, out, nw))
            .unwrap();
        assert_eq!(g.bytes(out, g.u32_at(nw)), [192, 0, 2, 1]);
        let r = g.call(|m, s| downstream_client_ip_addr(m, s, RequestHandle::from(999), out, nw));
        assert!(matches!(r, Err(HostError::BadHandle(999))), "{r:?}");
    }

    #[test]
    fn downstream_server_ip_addr_is_ours() {
        let mut g = TestGuest::new();
        let req = client(&g);
        let (out, nw) = (g.alloc(16), g.alloc(4));
        g.call(|m, s| downstream_server_ip_addr(m, s, req, out, nw))
            .unwrap();
        assert_eq!(g.bytes(out, g.u32_at(nw)), [127, 0, 0, 1]);
    }

    #[test]
    fn downstream_client_request_id_is_16_hex_digits() {
        let mut g = TestGuest::new();
        let req = client(&g);
        let out = OutBuf::new(&mut g, 32);
        g.call(|m, s| downstream_client_request_id(m, s, req, out.buf, out.max, out.nwritten))
            .unwrap();
        assert_eq!(out.read(&g), b"0000000000000abc");
        let small = OutBuf::new(&mut g, 4);
        let r = g.call(|m, s| {
            downstream_client_request_id(m, s, req, small.buf, small.max, small.nwritten)
        });
        assert!(
            matches!(r, Err(HostError::BufferLength { needed: 16 })),
            "{r:?}"
        );
    }

    #[test]
    fn downstream_original_header_names_keep_the_client_spelling() {
        let mut g = TestGuest::new();
        let req = client(&g);
        let out = OutBuf::new(&mut g, 64);
        let ending = g.alloc(8);
        g.call(|m, s| {
            downstream_original_header_names(m, s, req, out.buf, out.max, 0, ending, out.nwritten)
        })
        .unwrap();
        assert_eq!(out.read(&g), b"Host\0X-Test\0");
        assert_eq!(g.u64_at(ending) as i64, -1);
    }

    #[test]
    fn downstream_original_header_count_counts_them() {
        let mut g = TestGuest::new();
        let req = client(&g);
        let out = g.alloc(4);
        g.call(|m, s| downstream_original_header_count(m, s, req, out))
            .unwrap();
        assert_eq!(g.u32_at(out), 2);
    }

    /// Fixed answers: `absent_text_of`, `absent_word_of` (`NONE`) and
    /// `flag_false_of` (0) for a client request, `BADF` for any other
    /// handle; the handle-less `absent_text` and `absent_word` (`NONE`);
    /// and the TLS facts when the Ingress forwarded none.
    #[test]
    fn tls_and_detection_facts_are_absent() {
        let mut g = TestGuest::new();
        let req = client(&g);
        let bad = RequestHandle::from(999);
        let out = OutBuf::new(&mut g, 64);
        let (b, x, n) = (out.buf, out.max, out.nwritten);
        let none = [
            g.call(|m, s| absent_text_of(m, s, req, b, x, n)),
            g.call(|m, s| tls_ja3_md5_of(m, s, req, b, n)),
            g.call(|m, s| tls_protocol_of(m, s, req, b, x, n)),
            g.call(|m, s| current_tls_cipher(m, s, b, x, n)),
            g.call(|m, s| absent_word_of(m, s, req, b)),
            g.call(|m, s| absent_text(m, s, b, x, n)),
            g.call(|m, s| current_tls_ja3_md5(m, s, b, n)),
            g.call(|m, s| absent_word(m, s, b)),
        ];
        for r in none {
            assert!(matches!(r, Err(HostError::None)), "{r:?}");
        }
        let badf = [
            g.call(|m, s| absent_text_of(m, s, bad, b, x, n)),
            g.call(|m, s| tls_ja3_md5_of(m, s, bad, b, n)),
            g.call(|m, s| absent_word_of(m, s, bad, b)),
            g.call(|m, s| flag_false_of(m, s, bad, b)),
        ];
        for r in badf {
            assert!(matches!(r, Err(HostError::BadHandle(999))), "{r:?}");
        }
        g.mem[b as usize] = 7;
        g.call(|m, s| flag_false_of(m, s, req, b)).unwrap();
        assert_eq!(g.u32_at(b), 0);
    }

    #[test]
    fn forwarded_tls_facts_are_answered() {
        let tls = ForwardedTls {
            protocol: Some("TLSv1.3".into()),
            cipher: Some("TLS_AES_128_GCM_SHA256".into()),
            server_name: Some("shop.example".into()),
            ja3_md5: Some([7; 16]),
            ja4: Some("t13d1516h2_8daaf6152771_02713d6af862".into()),
        };
        let mut g = TestGuest::with_forwarded_tls(tls);
        let req = client(&g);
        let out = OutBuf::new(&mut g, 64);
        let (b, x, n) = (out.buf, out.max, out.nwritten);
        g.call(|m, s| tls_protocol_of(m, s, req, b, x, n)).unwrap();
        assert_eq!(out.read(&g), b"TLSv1.3");
        g.call(|m, s| current_tls_cipher(m, s, b, x, n)).unwrap();
        assert_eq!(out.read(&g), b"TLS_AES_128_GCM_SHA256");
        g.call(|m, s| tls_server_name_of(m, s, req, b, x, n))
            .unwrap();
        assert_eq!(out.read(&g), b"shop.example");
        g.call(|m, s| current_tls_ja4(m, s, b, x, n)).unwrap();
        assert!(out.read(&g).starts_with(b"t13d"));
        g.call(|m, s| tls_ja3_md5_of(m, s, req, b, n)).unwrap();
        assert_eq!(out.read(&g), [7; 16]);
        let small = OutBuf::new(&mut g, 3);
        let r = g.call(|m, s| tls_protocol_of(m, s, req, small.buf, small.max, small.nwritten));
        assert!(
            matches!(r, Err(HostError::BufferLength { needed: 7 })),
            "{r:?}"
        );
    }
}
