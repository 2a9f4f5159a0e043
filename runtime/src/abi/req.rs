//! `fastly_http_req`: request handles (method, URI, headers, cache and
//! framing settings) and the older handle-less queries about the client
//! request. Sending is in `req_send.rs`.

use super::headers;
use super::hostcall;
use super::layout::cache::{CacheOverrideConfig, tag as cache_tag};
use super::memory::Mem;
use super::state::GuestState;
use crate::cache::freshness::Overrides;
use crate::host::HostError;
use crate::host::HostResult;
use crate::host::handles::RequestHandle;
use crate::host::session::{RequestState, Session};
use std::time::Duration;
use wasmtime::Linker;

pub(super) fn add(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    const M: &str = "fastly_http_req";
    hostcall!(l, M, body_downstream_get(req_out, body_out));
    hostcall!(l, M, new(out) => new_request);
    hostcall!(l, M, close(h));
    headers::add::<RequestHandle>(l, M)?;
    hostcall!(l, M, method_get(h, buf, max, nw));
    hostcall!(l, M, method_set(h, p, len));
    hostcall!(l, M, uri_get(h, buf, max, nw));
    hostcall!(l, M, uri_set(h, p, len));
    hostcall!(l, M, auto_decompress_response_set(h, encodings));
    hostcall!(l, M, cache_override_set(h, tag, ttl, swr));
    hostcall!(l, M, cache_override_v2_set(h, tag, ttl, swr, sk, skl));
    hostcall!(l, M, cache_override_v3_set(h, tag, cfg));
    hostcall!(l, M, framing_headers_mode_set(h, mode));
    super::req_send::add(l)?;
    hostcall!(l, M, downstream_client_ip_addr(out, nw));
    hostcall!(l, M, downstream_server_ip_addr(out, nw));
    hostcall!(l, M, downstream_client_request_id(buf, max, nw));
    hostcall!(
        l,
        M,
        original_header_names_get(buf, len, cursor, ending, nw)
    );
    hostcall!(l, M, original_header_count(out));
    link_absent(l)?;
    hostcall!(l, M, downstream_client_ddos_detected(out) => fixed_zero);
    hostcall!(l, M, fastly_key_is_valid(out) => fixed_zero);
    Ok(())
}

/// The handle-less forms of the TLS and fingerprint queries: absent, as
/// TLS ends at the Ingress (the same answers as `fastly_http_downstream`).
fn link_absent(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    use super::downstream::{
        absent_text, absent_word, current_tls_cipher, current_tls_ja3_md5, current_tls_ja4,
        current_tls_protocol,
    };
    const M: &str = "fastly_http_req";
    hostcall!(l, M, downstream_tls_cipher_openssl_name(buf, max, nw) => current_tls_cipher);
    hostcall!(l, M, downstream_tls_protocol(buf, max, nw) => current_tls_protocol);
    hostcall!(l, M, downstream_tls_client_hello(buf, max, nw) => absent_text);
    hostcall!(l, M, downstream_tls_raw_client_certificate(buf, max, nw) => absent_text);
    hostcall!(l, M, downstream_tls_ja4(buf, max, nw) => current_tls_ja4);
    hostcall!(l, M, downstream_client_h2_fingerprint(buf, max, nw) => absent_text);
    hostcall!(l, M, downstream_client_oh_fingerprint(buf, max, nw) => absent_text);
    hostcall!(l, M, downstream_compliance_region(buf, max, nw) => absent_text);
    hostcall!(l, M, downstream_tls_ja3_md5(out, nw) => current_tls_ja3_md5);
    hostcall!(l, M, downstream_tls_client_cert_verify_result(out) => absent_word);
    Ok(())
}

/// `body_downstream_get`: the client request and its body.
fn body_downstream_get(
    m: &mut Mem<'_>,
    s: &mut Session,
    req_out: u32,
    body_out: u32,
) -> HostResult<()> {
    let (rh, bh) = s.downstream_current()?;
    m.handle(req_out, rh)?;
    m.handle(body_out, bh)
}

/// `new`: a request `GET /`, HTTP/1.1, no headers.
fn new_request(m: &mut Mem<'_>, s: &mut Session, out: u32) -> HostResult<()> {
    let h: RequestHandle = s.try_insert(RequestState::new())?;
    m.handle(out, h)
}

/// `close`: drops a request.
fn close(_m: &mut Mem<'_>, s: &mut Session, h: RequestHandle) -> HostResult<()> {
    s.take(h).map(drop)
}

/// `method_get`: the request's method.
fn method_get(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: RequestHandle,
    buf: u32,
    max: u32,
    nw: u32,
) -> HostResult<()> {
    let method = s.get(h)?.parts.method.clone();
    m.out(buf, max, nw, method.as_str().as_bytes())
}

/// `method_set`: sets the request's method.
fn method_set(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: RequestHandle,
    p: u32,
    len: u32,
) -> HostResult<()> {
    let method = http::Method::from_bytes(m.bytes(p, len)?)
        .map_err(|_| HostError::Invalid("bad method".into()))?;
    s.get_mut(h)?.parts.method = method;
    Ok(())
}

/// `uri_get`: the request's URI.
fn uri_get(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: RequestHandle,
    buf: u32,
    max: u32,
    nw: u32,
) -> HostResult<()> {
    let uri = s.get(h)?.parts.uri.to_string();
    m.out(buf, max, nw, uri.as_bytes())
}

/// `uri_set`: sets the request's URI.
fn uri_set(m: &mut Mem<'_>, s: &mut Session, h: RequestHandle, p: u32, len: u32) -> HostResult<()> {
    let uri: http::Uri = m
        .str(p, len)?
        .parse()
        .map_err(|_| HostError::Invalid("bad URI".into()))?;
    s.get_mut(h)?.parts.uri = uri;
    Ok(())
}

/// `auto_decompress_response_set`: decompress gzip responses (bit 0).
fn auto_decompress_response_set(
    _m: &mut Mem<'_>,
    s: &mut Session,
    h: RequestHandle,
    encodings: u32,
) -> HostResult<()> {
    s.get_mut(h)?.auto_decompress_gzip = encodings & 1 != 0;
    Ok(())
}

/// The overrides of `tag`, `ttl` and `swr` (seconds) and space-separated
/// surrogate keys.
fn overrides(tag: u32, ttl: u32, swr: u32, keys: &[u8]) -> HostResult<Overrides> {
    if tag & !cache_tag::KNOWN != 0 {
        return Err(HostError::Invalid(format!(
            "unknown cache override bits {tag:#x}"
        )));
    }
    if tag & cache_tag::PASS != 0 {
        return Ok(Overrides {
            pass: true,
            ..Overrides::default()
        });
    }
    let secs = |bit: u32, v: u32| (tag & bit != 0).then(|| Duration::from_secs(u64::from(v)));
    Ok(Overrides {
        pass: false,
        ttl: secs(cache_tag::TTL, ttl),
        stale_while_revalidate: secs(cache_tag::STALE_WHILE_REVALIDATE, swr),
        surrogate_keys: String::from_utf8_lossy(keys)
            .split_ascii_whitespace()
            .map(str::to_owned)
            .collect(),
        pci: tag & cache_tag::PCI != 0,
    })
}

/// `cache_override_set`: pass, TTL, stale-while-revalidate, PCI.
fn cache_override_set(
    _m: &mut Mem<'_>,
    s: &mut Session,
    h: RequestHandle,
    tag: u32,
    ttl: u32,
    swr: u32,
) -> HostResult<()> {
    let o = overrides(tag, ttl, swr, &[])?;
    s.get_mut(h)?.cache_override = o;
    Ok(())
}

/// `cache_override_v2_set`: as v1, plus surrogate keys.
#[allow(clippy::too_many_arguments)]
fn cache_override_v2_set(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: RequestHandle,
    tag: u32,
    ttl: u32,
    swr: u32,
    sk: u32,
    skl: u32,
) -> HostResult<()> {
    let o = overrides(tag, ttl, swr, m.bytes(sk, skl)?)?;
    s.get_mut(h)?.cache_override = o;
    Ok(())
}

/// `cache_override_v3_set`: the same, from a config struct (the Rust SDK
/// calls it on every send, with tag 0 when there is no override).
fn cache_override_v3_set(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: RequestHandle,
    tag: u32,
    cfg: u32,
) -> HostResult<()> {
    s.get(h)?;
    let o = if tag == 0 {
        Overrides::default()
    } else {
        let c: CacheOverrideConfig = m.read_struct(cfg)?;
        let keys = if c.surrogate_keys.len.get() > 0 {
            m.slice(c.surrogate_keys)?
        } else {
            &[]
        };
        overrides(tag, c.ttl.get(), c.stale_while_revalidate.get(), keys)?
    };
    s.get_mut(h)?.cache_override = o;
    Ok(())
}

/// `framing_headers_mode_set`: whether the request keeps the program's own
/// `Content-Length` or `Transfer-Encoding` when it goes to the backend (1,
/// when they are valid HTTP/1.1) or is framed from its body (0).
fn framing_headers_mode_set(
    _m: &mut Mem<'_>,
    s: &mut Session,
    h: RequestHandle,
    mode: u32,
) -> HostResult<()> {
    let mode = crate::host::framing::FramingMode::from_abi(mode)?;
    s.get_mut(h)?.framing = mode;
    Ok(())
}

/// `downstream_client_ip_addr`: the client's address.
fn downstream_client_ip_addr(
    m: &mut Mem<'_>,
    s: &mut Session,
    out: u32,
    nw: u32,
) -> HostResult<()> {
    m.write_ip(s.downstream_meta(None)?.client_ip, out, nw)
}

/// `downstream_server_ip_addr`: our address on the client's connection.
fn downstream_server_ip_addr(
    m: &mut Mem<'_>,
    s: &mut Session,
    out: u32,
    nw: u32,
) -> HostResult<()> {
    m.write_ip(s.downstream_meta(None)?.server_addr.ip(), out, nw)
}

/// `downstream_client_request_id`: the client request's id.
fn downstream_client_request_id(
    m: &mut Mem<'_>,
    s: &mut Session,
    buf: u32,
    max: u32,
    nw: u32,
) -> HostResult<()> {
    let id = s.downstream_meta(None)?.request_id_text();
    m.out(buf, max, nw, id.as_bytes())
}

/// `original_header_names_get`: header names as the client sent them.
fn original_header_names_get(
    m: &mut Mem<'_>,
    s: &mut Session,
    buf: u32,
    len: u32,
    cursor: u32,
    ending: u32,
    nw: u32,
) -> HostResult<()> {
    let names = &s.downstream_meta(None)?.original_header_names;
    m.multi_value(names, buf, len, cursor, ending, nw)
}

/// `original_header_count`: how many headers the client sent.
fn original_header_count(m: &mut Mem<'_>, s: &mut Session, out: u32) -> HostResult<()> {
    let n = s.downstream_meta(None)?.original_header_names.len();
    m.u32(out, n as u32)
}

/// A fixed answer of 0: `downstream_client_ddos_detected` (no DDoS
/// detection here) and `fastly_key_is_valid` (no Fastly keys here).
///
/// Fixed answer: 0; no DDoS detection and no Fastly keys here.
fn fixed_zero(m: &mut Mem<'_>, _s: &mut Session, out: u32) -> HostResult<()> {
    m.u32(out, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::testing::{OutBuf, TestGuest};
    use crate::host::handles::BodyHandle;

    /// A new request handle (`new`).
    fn request(g: &mut TestGuest) -> RequestHandle {
        let out = g.alloc(4);
        g.call(|m, s| new_request(m, s, out)).unwrap();
        RequestHandle::from(g.u32_at(out))
    }

    /// The client request.
    fn client(g: &TestGuest) -> RequestHandle {
        g.session.downstream_current().unwrap().0
    }

    #[tokio::test]
    async fn body_downstream_get_answers_the_client_request_and_body() {
        let mut g = TestGuest::new();
        let (req_out, body_out) = (g.alloc(4), g.alloc(4));
        g.call(|m, s| body_downstream_get(m, s, req_out, body_out))
            .unwrap();
        let rh = RequestHandle::from(g.u32_at(req_out));
        let bh = BodyHandle::from(g.u32_at(body_out));
        assert_eq!((rh, bh), g.session.downstream_current().unwrap());
        let req = g.session.get(rh).unwrap();
        assert_eq!(req.parts.uri, "http://example.com/path");
        assert_eq!(req.parts.headers.get("x-test").unwrap(), "one");
        assert_eq!(g.read_body(bh).await, b"client body");
    }

    #[test]
    fn new_request_is_get_slash_http_1_1_without_headers() {
        let mut g = TestGuest::new();
        let h = request(&mut g);
        assert_ne!(h, client(&g));
        let req = g.session.get(h).unwrap();
        assert_eq!(req.parts.method, http::Method::GET);
        assert_eq!(req.parts.uri, "/");
        assert_eq!(req.parts.version, http::Version::HTTP_11);
        assert!(req.parts.headers.is_empty());
        assert!(!req.auto_decompress_gzip);
    }

    #[test]
    fn close_drops_the_request_then_is_badf() {
        let mut g = TestGuest::new();
        let h = request(&mut g);
        g.call(|m, s| close(m, s, h)).unwrap();
        assert!(!g.session.contains(h));
        let r = g.call(|m, s| close(m, s, h));
        assert!(matches!(r, Err(HostError::BadHandle(_))), "{r:?}");
        let out = OutBuf::new(&mut g, 16);
        let r = g.call(|m, s| method_get(m, s, h, out.buf, out.max, out.nwritten));
        assert!(matches!(r, Err(HostError::BadHandle(_))), "{r:?}");
    }

    #[test]
    fn method_get_and_set_round_trip_and_reject_bad_methods() {
        let mut g = TestGuest::new();
        let h = client(&g);
        let out = OutBuf::new(&mut g, 16);
        g.call(|m, s| method_get(m, s, h, out.buf, out.max, out.nwritten))
            .unwrap();
        assert_eq!(out.read(&g), b"GET");
        let (p, l) = g.put(b"PURGE");
        g.call(|m, s| method_set(m, s, h, p, l)).unwrap();
        g.call(|m, s| method_get(m, s, h, out.buf, out.max, out.nwritten))
            .unwrap();
        assert_eq!(out.read(&g), b"PURGE");
        let r = g.call(|m, s| method_get(m, s, h, out.buf, 2, out.nwritten));
        assert!(
            matches!(r, Err(HostError::BufferLength { needed: 5 })),
            "{r:?}"
        );
        for bad in [&b"BAD METHOD"[..], b"", b"G\nET"] {
            let (p, l) = g.put(bad);
            let r = g.call(|m, s| method_set(m, s, h, p, l));
            assert!(matches!(r, Err(HostError::Invalid(_))), "{bad:?}: {r:?}");
        }
        assert_eq!(g.session.get(h).unwrap().parts.method.as_str(), "PURGE");
    }

    #[test]
    fn uri_get_and_set_round_trip_and_reject_bad_uris() {
        let mut g = TestGuest::new();
        let h = client(&g);
        let out = OutBuf::new(&mut g, 64);
        g.call(|m, s| uri_get(m, s, h, out.buf, out.max, out.nwritten))
            .unwrap();
        assert_eq!(out.read(&g), b"http://example.com/path");
        let (p, l) = g.put(b"https://other.example:8443/a/b?c=d");
        g.call(|m, s| uri_set(m, s, h, p, l)).unwrap();
        g.call(|m, s| uri_get(m, s, h, out.buf, out.max, out.nwritten))
            .unwrap();
        assert_eq!(out.read(&g), b"https://other.example:8443/a/b?c=d");
        let r = g.call(|m, s| uri_get(m, s, h, out.buf, 4, out.nwritten));
        assert!(matches!(r, Err(HostError::BufferLength { .. })), "{r:?}");
        assert_eq!(g.u32_at(out.nwritten), 34);
        let (p, l) = g.put(b"http://bad host/");
        let r = g.call(|m, s| uri_set(m, s, h, p, l));
        assert!(matches!(r, Err(HostError::Invalid(_))), "{r:?}");
        assert_eq!(
            g.session.get(h).unwrap().parts.uri,
            "https://other.example:8443/a/b?c=d"
        );
    }

    #[test]
    fn auto_decompress_response_set_follows_the_gzip_bit() {
        let mut g = TestGuest::new();
        let h = request(&mut g);
        g.call(|m, s| auto_decompress_response_set(m, s, h, 1))
            .unwrap();
        assert!(g.session.get(h).unwrap().auto_decompress_gzip);
        g.call(|m, s| auto_decompress_response_set(m, s, h, 2))
            .unwrap();
        assert!(!g.session.get(h).unwrap().auto_decompress_gzip);
        g.call(|m, s| auto_decompress_response_set(m, s, h, 3))
            .unwrap();
        assert!(g.session.get(h).unwrap().auto_decompress_gzip);
        let r = g.call(|m, s| auto_decompress_response_set(m, s, RequestHandle::from(999), 1));
        assert!(matches!(r, Err(HostError::BadHandle(999))), "{r:?}");
    }

    #[test]
    fn cache_overrides_and_framing_mode_accept_live_handles_only() {
        let mut g = TestGuest::new();
        let live = request(&mut g);
        let dead = request(&mut g);
        g.call(|m, s| close(m, s, dead)).unwrap();
        let (sk, skl) = g.put(b"surrogate");
        let cfg = g.alloc(64);
        type Setter = fn(&mut Mem<'_>, &mut Session, RequestHandle, u32, u32) -> HostResult<()>;
        let setters: [Setter; 4] = [
            |m, s, h, _, _| cache_override_set(m, s, h, 1, 60, 0),
            |m, s, h, sk, skl| cache_override_v2_set(m, s, h, 1, 60, 0, sk, skl),
            |m, s, h, cfg, _| cache_override_v3_set(m, s, h, 1, cfg),
            |m, s, h, _, _| framing_headers_mode_set(m, s, h, 1),
        ];
        for (i, set) in setters.into_iter().enumerate() {
            let (a, b) = if i == 2 { (cfg, 0) } else { (sk, skl) };
            g.call(|m, s| set(m, s, live, a, b))
                .unwrap_or_else(|e| panic!("setter {i}: {e}"));
            let r = g.call(|m, s| set(m, s, dead, a, b));
            assert!(
                matches!(r, Err(HostError::BadHandle(_))),
                "setter {i}: {r:?}"
            );
        }
        // Nothing changed on the live request.
        let req = g.session.get(live).unwrap();
        assert_eq!(req.parts.uri, "/");
        assert!(req.parts.headers.is_empty());
    }

    #[test]
    fn downstream_client_ip_addr_is_the_client_address() {
        let mut g = TestGuest::new();
        let (out, nw) = (g.alloc(16), g.alloc(4));
        g.call(|m, s| downstream_client_ip_addr(m, s, out, nw))
            .unwrap();
        assert_eq!(g.u32_at(nw), 4);
        assert_eq!(g.bytes(out, 4), [192, 0, 2, 1]);
    }

    #[test]
    fn downstream_server_ip_addr_is_our_address() {
        let mut g = TestGuest::new();
        let (out, nw) = (g.alloc(16), g.alloc(4));
        g.call(|m, s| downstream_server_ip_addr(m, s, out, nw))
            .unwrap();
        assert_eq!(g.u32_at(nw), 4);
        assert_eq!(g.bytes(out, 4), [127, 0, 0, 1]);
    }

    #[test]
    fn downstream_client_request_id_is_16_hex_digits() {
        let mut g = TestGuest::new();
        let out = OutBuf::new(&mut g, 32);
        g.call(|m, s| downstream_client_request_id(m, s, out.buf, out.max, out.nwritten))
            .unwrap();
        assert_eq!(out.read(&g), b"0000000000000abc");
        let r = g.call(|m, s| downstream_client_request_id(m, s, out.buf, 8, out.nwritten));
        assert!(
            matches!(r, Err(HostError::BufferLength { needed: 16 })),
            "{r:?}"
        );
    }

    #[test]
    fn original_header_names_get_answers_names_as_sent_with_a_cursor() {
        let mut g = TestGuest::new();
        let out = OutBuf::new(&mut g, 64);
        let ending = g.alloc(8);
        g.call(|m, s| original_header_names_get(m, s, out.buf, out.max, 0, ending, out.nwritten))
            .unwrap();
        assert_eq!(out.read(&g), b"Host\0X-Test\0");
        assert_eq!(g.u64_at(ending) as i64, -1);
        // Room for "Host\0" only.
        g.call(|m, s| original_header_names_get(m, s, out.buf, 6, 0, ending, out.nwritten))
            .unwrap();
        assert_eq!(out.read(&g), b"Host\0");
        assert_eq!(g.u64_at(ending) as i64, 1);
        g.call(|m, s| original_header_names_get(m, s, out.buf, 8, 1, ending, out.nwritten))
            .unwrap();
        assert_eq!(out.read(&g), b"X-Test\0");
        assert_eq!(g.u64_at(ending) as i64, -1);
        let r = g.call(|m, s| original_header_names_get(m, s, out.buf, 2, 0, ending, out.nwritten));
        assert!(
            matches!(r, Err(HostError::BufferLength { needed: 5 })),
            "{r:?}"
        );
    }

    #[test]
    fn original_header_count_counts_the_client_headers() {
        let mut g = TestGuest::new();
        let out = g.alloc(4);
        g.call(|m, s| original_header_count(m, s, out)).unwrap();
        assert_eq!(g.u32_at(out), 2);
    }

    #[test]
    fn fixed_zero_writes_zero() {
        let mut g = TestGuest::new();
        let (out, _) = g.put(&[0xff; 4]);
        g.call(|m, s| fixed_zero(m, s, out)).unwrap();
        assert_eq!(g.u32_at(out), 0);
    }
}
