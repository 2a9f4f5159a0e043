//! `fastly_http_req`: request handles (method, URI, headers, cache and
//! framing settings) and the older handle-less queries about the client
//! request. Sending is in `req_send.rs`.

use super::headers;
use super::hostcall;
use super::memory::Mem;
use super::state::GuestState;
use crate::host::HostError;
use crate::host::HostResult;
use crate::host::handles::RequestHandle;
use crate::host::session::{RequestState, Session};
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
    use super::downstream::{absent_digest, absent_text, absent_word};
    const M: &str = "fastly_http_req";
    hostcall!(l, M, downstream_tls_cipher_openssl_name(buf, max, nw) => absent_text);
    hostcall!(l, M, downstream_tls_protocol(buf, max, nw) => absent_text);
    hostcall!(l, M, downstream_tls_client_hello(buf, max, nw) => absent_text);
    hostcall!(l, M, downstream_tls_raw_client_certificate(buf, max, nw) => absent_text);
    hostcall!(l, M, downstream_tls_ja4(buf, max, nw) => absent_text);
    hostcall!(l, M, downstream_client_h2_fingerprint(buf, max, nw) => absent_text);
    hostcall!(l, M, downstream_client_oh_fingerprint(buf, max, nw) => absent_text);
    hostcall!(l, M, downstream_compliance_region(buf, max, nw) => absent_text);
    hostcall!(l, M, downstream_tls_ja3_md5(out, nw) => absent_digest);
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
    let h: RequestHandle = s.insert(RequestState::new());
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

// The HTTP cache is not implemented yet (the cache issue): requests always
// pass, so cache overrides and the framing mode are accepted (on a live
// handle) and have no effect. docs/compatibility.md lists them as fixed.

/// `cache_override_set`: accepted, no effect yet.
fn cache_override_set(
    _m: &mut Mem<'_>,
    s: &mut Session,
    h: RequestHandle,
    _tag: u32,
    _ttl: u32,
    _swr: u32,
) -> HostResult<()> {
    s.get(h).map(drop)
}

/// `cache_override_v2_set`: accepted, no effect yet.
#[allow(clippy::too_many_arguments)]
fn cache_override_v2_set(
    _m: &mut Mem<'_>,
    s: &mut Session,
    h: RequestHandle,
    _tag: u32,
    _ttl: u32,
    _swr: u32,
    _sk: u32,
    _skl: u32,
) -> HostResult<()> {
    s.get(h).map(drop)
}

/// `cache_override_v3_set`: accepted, no effect yet.
fn cache_override_v3_set(
    _m: &mut Mem<'_>,
    s: &mut Session,
    h: RequestHandle,
    _tag: u32,
    _cfg: u32,
) -> HostResult<()> {
    s.get(h).map(drop)
}

/// `framing_headers_mode_set`: accepted; framing is always ours.
fn framing_headers_mode_set(
    _m: &mut Mem<'_>,
    s: &mut Session,
    h: RequestHandle,
    _mode: u32,
) -> HostResult<()> {
    s.get(h).map(drop)
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
fn fixed_zero(m: &mut Mem<'_>, _s: &mut Session, out: u32) -> HostResult<()> {
    m.u32(out, 0)
}
