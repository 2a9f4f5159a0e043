//! `fastly_http_req`: request handles, sending to backends (blocking,
//! async, streaming), pending requests, dynamic backends, and the older
//! handle-less downstream queries.

use super::headers;
use super::memory::Mem;
use super::{hostcall, hostcall_async, split};
use crate::config::BackendConfig;
use crate::engine::state::GuestState;
use crate::host::backends::{Backend, SendError};
use crate::host::body::Body;
use crate::host::session::{PendingRequest, RequestState, ResponseState, SendOutcome, Session};
use crate::host::{HostError, HostResult};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::Linker;

const INVALID: u32 = fastly_shared::INVALID_REQUEST_HANDLE;

/// Takes the request and body handles and the backend for a send.
fn prepare_send(
    m: &Mem<'_>,
    s: &mut Session,
    req: u32,
    body: u32,
    bp: u32,
    bl: u32,
    streaming: bool,
) -> HostResult<(
    Arc<Backend>,
    http::Request<crate::host::body::OutgoingBody>,
    bool,
)> {
    let name = m.str(bp, bl)?;
    let backend = s
        .env
        .backends
        .get(name)
        .ok_or_else(|| HostError::Invalid(format!("no backend named `{name}`")))?;
    if !s.requests.contains(req) {
        return Err(HostError::BadHandle(req));
    }
    if !s.bodies.contains(body) {
        return Err(HostError::BadHandle(body));
    }
    s.count_backend_request()?;
    let state = s.requests.take(req)?;
    let (parts, gunzip) = (state.parts, state.auto_decompress_gzip);
    let b = s.bodies.take(body)?;
    let outgoing = if streaming {
        let (handle_body, out) = b.into_streaming();
        s.bodies.put(body, handle_body);
        out
    } else {
        b.into_outgoing()
    };
    Ok((backend, http::Request::from_parts(parts, outgoing), gunzip))
}

/// Sends to the backend; with `gunzip`, a gzip-encoded response comes back
/// decompressed, without its Content-Encoding and Content-Length.
async fn send(
    backend: &Backend,
    request: http::Request<crate::host::body::OutgoingBody>,
    gunzip: bool,
) -> SendOutcome {
    let resp = backend.send(request).await?;
    let gzipped = resp
        .headers()
        .get(http::header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    if !(gunzip && gzipped) {
        return Ok(resp);
    }
    let (mut parts, body) = resp.into_parts();
    parts.headers.remove(http::header::CONTENT_ENCODING);
    parts.headers.remove(http::header::CONTENT_LENGTH);
    Ok(http::Response::from_parts(
        parts,
        crate::host::body::gunzip(body),
    ))
}

/// Writes a send error detail: tag (u32) then mask (u32), rest zero.
fn write_detail(m: &mut Mem<'_>, at: Option<u32>, err: Option<&SendError>) -> HostResult<()> {
    if let Some(at) = at.filter(|p| *p != 0) {
        let tag = err.map_or(1, |e| e.tag as u32);
        m.u32(at, tag)?;
        m.u32(at + 4, 0)?;
    }
    Ok(())
}

/// Turns a finished send into response and body handles.
fn finish_send(
    m: &mut Mem<'_>,
    s: &mut Session,
    outcome: SendOutcome,
    detail: Option<u32>,
    resp_out: u32,
    body_out: u32,
) -> HostResult<()> {
    match outcome {
        Ok(resp) => {
            write_detail(m, detail, None)?;
            let (parts, body) = resp.into_parts();
            // The connector records the origin's address on the response.
            let remote_addr = parts
                .extensions
                .get::<hyper_util::client::legacy::connect::HttpInfo>()
                .map(|info| info.remote_addr());
            let rh = s.new_response(ResponseState { parts, remote_addr });
            let bh = s.new_body(Body::from_stream(body));
            m.u32(resp_out, rh)?;
            m.u32(body_out, bh)
        }
        Err(e) => {
            tracing::debug!(service = %s.env.name, error = %e, "backend request failed");
            write_detail(m, detail, Some(&e))?;
            m.u32(resp_out, INVALID)?;
            m.u32(body_out, INVALID)?;
            Err(HostError::Send(e))
        }
    }
}

fn start_async(
    c: &mut wasmtime::Caller<'_, GuestState>,
    req: u32,
    body: u32,
    bp: u32,
    bl: u32,
    streaming: bool,
    out: u32,
) -> HostResult<()> {
    let (mut m, st) = split(c)?;
    let s = &mut st.session;
    let (backend, request, gunzip) = prepare_send(&m, s, req, body, bp, bl, streaming)?;
    let task = tokio::spawn(async move { send(&backend, request, gunzip).await });
    let h = s.new_pending(PendingRequest::Running(task));
    m.u32(out, h)
}

#[allow(clippy::too_many_arguments)]
async fn select(
    c: &mut wasmtime::Caller<'_, GuestState>,
    hp: u32,
    hl: u32,
    detail: Option<u32>,
    index_out: u32,
    resp_out: u32,
    body_out: u32,
) -> HostResult<()> {
    let handles: Vec<u32> = {
        let (m, _) = split(c)?;
        (0..hl)
            .map(|i| m.read_u32(hp + 4 * i))
            .collect::<HostResult<_>>()?
    };
    if handles.is_empty() {
        return Err(HostError::Invalid("select on no pending requests".into()));
    }
    let i = c
        .data_mut()
        .session
        .select(&handles, None)
        .await?
        .ok_or(HostError::Again)?;
    let outcome = c.data_mut().session.wait_pending(handles[i]).await?;
    let (mut m, st) = split(c)?;
    m.u32(index_out, i as u32)?;
    finish_send(&mut m, &mut st.session, outcome, detail, resp_out, body_out)
}

fn dynamic_backend(
    m: &Mem<'_>,
    s: &Session,
    target: &str,
    mask: u32,
    cfg: u32,
) -> HostResult<BackendConfig> {
    let bit = |n: u32| mask & (1 << n) != 0;
    let tls = bit(5);
    let url = crate::config::parse_backend_url(&format!(
        "{}://{target}",
        if tls { "https" } else { "http" }
    ))
    .map_err(HostError::Invalid)?;
    let mut b = BackendConfig::new(url);
    b.dynamic = true;
    let text = |off: u32| -> HostResult<String> {
        Ok(String::from_utf8_lossy(m.slice_field(cfg + off, cfg + off + 4)?).into_owned())
    };
    let ms = |off: u32| -> HostResult<Duration> {
        Ok(Duration::from_millis(m.read_u32(cfg + off)?.into()))
    };
    if bit(1) {
        b.override_host = Some(text(0)?);
    }
    if bit(2) {
        b.connect_timeout = ms(8)?;
    }
    if bit(3) {
        b.first_byte_timeout = ms(12)?;
    }
    if bit(4) {
        b.between_bytes_timeout = ms(16)?;
    }
    let tls_version = |off: u32| -> HostResult<u8> {
        match m.read_u32(cfg + off)? {
            0..=2 => Ok(12),
            3 => Ok(13),
            v => Err(HostError::Invalid(format!("unknown TLS version {v}"))),
        }
    };
    if bit(6) {
        b.tls.min_version = Some(tls_version(20)?);
    }
    if bit(7) {
        b.tls.max_version = Some(tls_version(24)?);
    }
    if bit(8) {
        b.tls.cert_host = Some(text(28)?);
    }
    if bit(9) {
        b.tls.ca_certificates = vec![text(36)?];
    }
    if bit(11) && b.tls.cert_host.is_none() {
        b.tls.cert_host = Some(text(52)?);
    }
    if bit(13) {
        let cert = text(60)?;
        let key = s.secrets.get(m.read_u32(cfg + 68)?)?.clone();
        b.tls.client_certificate = Some((cert, String::from_utf8_lossy(&key).into_owned()));
    }
    b.grpc = bit(14);
    Ok(b)
}

pub(super) fn write_ip(m: &mut Mem<'_>, ip: std::net::IpAddr, out: u32, nw: u32) -> HostResult<()> {
    let octets = match ip {
        std::net::IpAddr::V4(v4) => v4.octets().to_vec(),
        std::net::IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    m.write(out, &octets)?;
    m.u32(nw, octets.len() as u32)
}

pub(super) fn add(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    hostcall!(
        l,
        "fastly_http_req",
        "body_downstream_get",
        |c, req_out, body_out| {
            let (mut m, st) = split(&mut c)?;
            let (rh, bh) = st.session.downstream.current.ok_or(HostError::None)?;
            m.u32(req_out, rh)?;
            m.u32(body_out, bh)
        }
    );
    hostcall!(l, "fastly_http_req", "new", |c, out| {
        let (mut m, st) = split(&mut c)?;
        let h = st.session.new_request(RequestState::new());
        m.u32(out, h)
    });
    hostcall!(l, "fastly_http_req", "close", |c, h| {
        c.data_mut().session.requests.take(h).map(drop)
    });
    headers::header_hostcalls!(l, "fastly_http_req", requests);

    hostcall!(l, "fastly_http_req", "method_get", |c, h, buf, max, nw| {
        let (mut m, st) = split(&mut c)?;
        let method = st.session.requests.get(h)?.parts.method.clone();
        m.out(buf, max, nw, method.as_str().as_bytes())
    });
    hostcall!(l, "fastly_http_req", "method_set", |c, h, p, len| {
        let (m, st) = split(&mut c)?;
        let method = http::Method::from_bytes(m.bytes(p, len)?)
            .map_err(|_| HostError::Invalid("bad method".into()))?;
        st.session.requests.get_mut(h)?.parts.method = method;
        Ok(())
    });
    hostcall!(l, "fastly_http_req", "uri_get", |c, h, buf, max, nw| {
        let (mut m, st) = split(&mut c)?;
        let uri = st.session.requests.get(h)?.parts.uri.to_string();
        m.out(buf, max, nw, uri.as_bytes())
    });
    hostcall!(l, "fastly_http_req", "uri_set", |c, h, p, len| {
        let (m, st) = split(&mut c)?;
        let uri: http::Uri = m
            .str(p, len)?
            .parse()
            .map_err(|_| HostError::Invalid("bad URI".into()))?;
        st.session.requests.get_mut(h)?.parts.uri = uri;
        Ok(())
    });

    hostcall!(
        l,
        "fastly_http_req",
        "auto_decompress_response_set",
        |c, h, encodings| {
            c.data_mut()
                .session
                .requests
                .get_mut(h)?
                .auto_decompress_gzip = encodings & 1 != 0;
            Ok(())
        }
    );
    // The HTTP cache is not implemented yet (the Cache issue): requests
    // always pass, so cache overrides are accepted and have no effect.
    hostcall!(
        l,
        "fastly_http_req",
        "cache_override_set",
        |c, h, _tag, _ttl, _swr| { c.data().session.requests.get(h).map(drop) }
    );
    hostcall!(
        l,
        "fastly_http_req",
        "cache_override_v2_set",
        |c, h, _tag, _ttl, _swr, _sk, _skl| { c.data().session.requests.get(h).map(drop) }
    );
    hostcall!(
        l,
        "fastly_http_req",
        "cache_override_v3_set",
        |c, h, _tag, _ptr| { c.data().session.requests.get(h).map(drop) }
    );
    hostcall!(
        l,
        "fastly_http_req",
        "framing_headers_mode_set",
        |c, h, _mode| { c.data().session.requests.get(h).map(drop) }
    );
    hostcall_async!(
        l,
        "fastly_http_req",
        "send",
        |c, req, body, bp, bl, resp_out, body_out| {
            send_now(&mut c, req, body, bp, bl, None, resp_out, body_out).await
        }
    );
    hostcall_async!(
        l,
        "fastly_http_req",
        "send_v2",
        |c, req, body, bp, bl, detail, resp_out, body_out| {
            send_now(&mut c, req, body, bp, bl, Some(detail), resp_out, body_out).await
        }
    );
    hostcall_async!(
        l,
        "fastly_http_req",
        "send_v3",
        |c, req, body, bp, bl, detail, resp_out, body_out| {
            send_now(&mut c, req, body, bp, bl, Some(detail), resp_out, body_out).await
        }
    );
    hostcall!(
        l,
        "fastly_http_req",
        "send_async",
        |c, req, body, bp, bl, out| { start_async(&mut c, req, body, bp, bl, false, out) }
    );
    hostcall!(
        l,
        "fastly_http_req",
        "send_async_streaming",
        |c, req, body, bp, bl, out| { start_async(&mut c, req, body, bp, bl, true, out) }
    );
    hostcall!(
        l,
        "fastly_http_req",
        "send_async_v2",
        |c, req, body, bp, bl, streaming, out| {
            start_async(&mut c, req, body, bp, bl, streaming != 0, out)
        }
    );
    hostcall!(
        l,
        "fastly_http_req",
        "pending_req_poll",
        |c, h, done_out, resp_out, body_out| {
            poll(&mut c, h, None, done_out, resp_out, body_out)
        }
    );
    hostcall!(
        l,
        "fastly_http_req",
        "pending_req_poll_v2",
        |c, h, detail, done_out, resp_out, body_out| {
            poll(&mut c, h, Some(detail), done_out, resp_out, body_out)
        }
    );
    hostcall_async!(
        l,
        "fastly_http_req",
        "pending_req_wait",
        |c, h, resp_out, body_out| {
            let outcome = c.data_mut().session.wait_pending(h).await?;
            let (mut m, st) = split(&mut c)?;
            finish_send(&mut m, &mut st.session, outcome, None, resp_out, body_out)
        }
    );
    hostcall_async!(
        l,
        "fastly_http_req",
        "pending_req_wait_v2",
        |c, h, detail, resp_out, body_out| {
            let outcome = c.data_mut().session.wait_pending(h).await?;
            let (mut m, st) = split(&mut c)?;
            finish_send(
                &mut m,
                &mut st.session,
                outcome,
                Some(detail),
                resp_out,
                body_out,
            )
        }
    );
    hostcall_async!(
        l,
        "fastly_http_req",
        "pending_req_select",
        |c, hp, hl, index_out, resp_out, body_out| {
            select(&mut c, hp, hl, None, index_out, resp_out, body_out).await
        }
    );
    hostcall_async!(
        l,
        "fastly_http_req",
        "pending_req_select_v2",
        |c, hp, hl, detail, index_out, resp_out, body_out| {
            select(&mut c, hp, hl, Some(detail), index_out, resp_out, body_out).await
        }
    );
    hostcall!(
        l,
        "fastly_http_req",
        "register_dynamic_backend",
        |c, np, nl, tp, tl, mask, cfg| {
            let (m, st) = split(&mut c)?;
            let name = m.str(np, nl)?.to_owned();
            let target = m.str(tp, tl)?.to_owned();
            let backend = dynamic_backend(&m, &st.session, &target, mask, cfg)?;
            st.session.env.backends.register(name, backend)
        }
    );
    hostcall!(
        l,
        "fastly_http_req",
        "downstream_client_ip_addr",
        |c, out, nw| {
            let (mut m, st) = split(&mut c)?;
            let ip = st.session.downstream_meta(None)?.client_ip;
            write_ip(&mut m, ip, out, nw)
        }
    );
    hostcall!(
        l,
        "fastly_http_req",
        "downstream_server_ip_addr",
        |c, out, nw| {
            let (mut m, st) = split(&mut c)?;
            let ip = st.session.downstream_meta(None)?.server_addr.ip();
            write_ip(&mut m, ip, out, nw)
        }
    );
    hostcall!(
        l,
        "fastly_http_req",
        "downstream_client_request_id",
        |c, buf, max, nw| {
            let (mut m, st) = split(&mut c)?;
            let id = st.session.downstream_meta(None)?.request_id_text();
            m.out(buf, max, nw, id.as_bytes())
        }
    );
    hostcall!(
        l,
        "fastly_http_req",
        "original_header_names_get",
        |c, buf, len, cursor, ending, nw| {
            let (mut m, st) = split(&mut c)?;
            let names = st
                .session
                .downstream_meta(None)?
                .original_header_names
                .clone();
            m.multi_value(names, buf, len, cursor, ending, nw)
        }
    );
    hostcall!(l, "fastly_http_req", "original_header_count", |c, out| {
        let (mut m, st) = split(&mut c)?;
        let n = st
            .session
            .downstream_meta(None)?
            .original_header_names
            .len();
        m.u32(out, n as u32)
    });
    // The handle-less forms of the TLS and fingerprint queries: absent,
    // as TLS ends at the Ingress.
    macro_rules! absent {
        ($($name:literal),*) => {$(
            hostcall!(l, "fastly_http_req", $name, |c, _buf, _max, _nw| {
                c.data().session.downstream_meta(None)?;
                Err(HostError::None)
            });
        )*};
    }
    absent!(
        "downstream_tls_cipher_openssl_name",
        "downstream_tls_protocol",
        "downstream_tls_client_hello",
        "downstream_tls_raw_client_certificate",
        "downstream_tls_ja4",
        "downstream_client_h2_fingerprint",
        "downstream_client_oh_fingerprint",
        "downstream_compliance_region"
    );
    hostcall!(
        l,
        "fastly_http_req",
        "downstream_tls_ja3_md5",
        |c, _out, _nw| {
            c.data().session.downstream_meta(None)?;
            Err(HostError::None)
        }
    );
    hostcall!(
        l,
        "fastly_http_req",
        "downstream_tls_client_cert_verify_result",
        |c, _out| {
            c.data().session.downstream_meta(None)?;
            Err(HostError::None)
        }
    );
    hostcall!(
        l,
        "fastly_http_req",
        "downstream_client_ddos_detected",
        |c, out| {
            let (mut m, _) = split(&mut c)?;
            m.u32(out, 0)
        }
    );
    hostcall!(l, "fastly_http_req", "fastly_key_is_valid", |c, out| {
        let (mut m, _) = split(&mut c)?;
        m.u32(out, 0)
    });
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn send_now(
    c: &mut wasmtime::Caller<'_, GuestState>,
    req: u32,
    body: u32,
    bp: u32,
    bl: u32,
    detail: Option<u32>,
    resp_out: u32,
    body_out: u32,
) -> HostResult<()> {
    let (backend, request, gunzip) = {
        let (m, st) = split(c)?;
        prepare_send(&m, &mut st.session, req, body, bp, bl, false)?
    };
    let outcome = send(&backend, request, gunzip).await;
    let (mut m, st) = split(c)?;
    finish_send(&mut m, &mut st.session, outcome, detail, resp_out, body_out)
}

fn poll(
    c: &mut wasmtime::Caller<'_, GuestState>,
    h: u32,
    detail: Option<u32>,
    done_out: u32,
    resp_out: u32,
    body_out: u32,
) -> HostResult<()> {
    let (mut m, st) = split(c)?;
    let s = &mut st.session;
    let ready = match s.pending.get(h)? {
        PendingRequest::Done(_) => true,
        PendingRequest::Running(task) => task.is_finished(),
    };
    if !ready {
        m.u32(done_out, 0)?;
        m.u32(resp_out, INVALID)?;
        return m.u32(body_out, INVALID);
    }
    let outcome = match s.pending.take(h)? {
        PendingRequest::Done(o) => o,
        PendingRequest::Running(task) => futures::FutureExt::now_or_never(task)
            .ok_or(HostError::Again)?
            .unwrap_or_else(|e| {
                Err(SendError {
                    tag: crate::host::backends::SendErrorTag::InternalError,
                    message: e.to_string(),
                })
            }),
    };
    m.u32(done_out, 1)?;
    finish_send(&mut m, s, outcome, detail, resp_out, body_out)
}
