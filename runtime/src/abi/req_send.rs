//! `fastly_http_req`, sending: to a backend now or in the background
//! (`send*`, `send_async*`), pending requests (`pending_req_*`), and
//! registering dynamic backends.

use super::layout::Mask;
use super::layout::backend::{DynamicBackendConfig, options, tls_version};
use super::memory::Mem;
use super::state::GuestState;
use super::{Guest, hostcall};
use crate::host::backends::{DynamicBackendSpec, SendError};
use crate::host::handles::{
    AsyncItemHandle, BodyHandle, PendingRequestHandle, RequestHandle, SecretHandle,
};
use crate::host::send::SendMode;
use crate::host::session::{SendOutcome, Session};
use crate::host::{HostError, HostResult};
use std::time::Duration;
use wasmtime::Linker;

const INVALID: u32 = fastly_shared::INVALID_REQUEST_HANDLE;

pub(super) fn add(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    const M: &str = "fastly_http_req";
    hostcall!(l, M, async send(req, body, bp, bl, resp_out, body_out));
    hostcall!(l, M, async send_v2(req, body, bp, bl, detail, resp_out, body_out));
    hostcall!(l, M, async send_v3(req, body, bp, bl, detail, resp_out, body_out));
    hostcall!(l, M, send_async(req, body, bp, bl, out));
    hostcall!(l, M, send_async_streaming(req, body, bp, bl, out));
    hostcall!(l, M, send_async_v2(req, body, bp, bl, streaming, out));
    hostcall!(l, M, pending_req_poll(h, done_out, resp_out, body_out));
    hostcall!(
        l,
        M,
        pending_req_poll_v2(h, detail, done_out, resp_out, body_out)
    );
    hostcall!(l, M, async pending_req_wait(h, resp_out, body_out));
    hostcall!(l, M, async pending_req_wait_v2(h, detail, resp_out, body_out));
    hostcall!(l, M, async pending_req_select(hp, hl, index_out, resp_out, body_out));
    hostcall!(l, M, async pending_req_select_v2(hp, hl, detail, index_out, resp_out, body_out));
    hostcall!(l, M, register_dynamic_backend(np, nl, tp, tl, mask, cfg));
    Ok(())
}

/// Writes a send error detail: tag (u32) then mask (u32), rest zero. A
/// null pointer means the guest does not want one.
fn write_detail(m: &mut Mem<'_>, at: Option<u32>, err: Option<&SendError>) -> HostResult<()> {
    if let Some(at) = at.filter(|p| *p != 0) {
        let tag = err.map_or(1, |e| e.tag as u32);
        m.u32(at, tag)?;
        m.u32(at + 4, 0)?;
    }
    Ok(())
}

/// Turns a finished send into response and body handles for the guest.
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
            let (rh, bh) = s.accept_response(resp);
            m.handle(resp_out, rh)?;
            m.handle(body_out, bh)
        }
        Err(e) => {
            tracing::debug!(service = %s.env().name, error = %e, "backend request failed");
            write_detail(m, detail, Some(&e))?;
            m.u32(resp_out, INVALID)?;
            m.u32(body_out, INVALID)?;
            Err(HostError::Send(e))
        }
    }
}

/// Sends and waits for the response head.
#[allow(clippy::too_many_arguments)]
async fn send_and_wait(
    g: &mut impl Guest,
    req: RequestHandle,
    body: BodyHandle,
    bp: u32,
    bl: u32,
    detail: Option<u32>,
    resp_out: u32,
    body_out: u32,
    mode: SendMode,
) -> HostResult<()> {
    let prepared = {
        let (m, s) = g.mem_and_session()?;
        s.prepare_send(m.str(bp, bl)?, req, body, mode)?
    };
    let outcome = prepared.send().await;
    let (mut m, s) = g.mem_and_session()?;
    finish_send(&mut m, s, outcome, detail, resp_out, body_out)
}

/// `send`: sends to the named backend and waits for the response head.
async fn send(
    g: &mut impl Guest,
    req: RequestHandle,
    body: BodyHandle,
    bp: u32,
    bl: u32,
    resp_out: u32,
    body_out: u32,
) -> HostResult<()> {
    send_and_wait(
        g,
        req,
        body,
        bp,
        bl,
        None,
        resp_out,
        body_out,
        SendMode::Cached,
    )
    .await
}

/// `send_v2`: as `send`, with an error detail.
#[allow(clippy::too_many_arguments)]
async fn send_v2(
    g: &mut impl Guest,
    req: RequestHandle,
    body: BodyHandle,
    bp: u32,
    bl: u32,
    detail: u32,
    resp_out: u32,
    body_out: u32,
) -> HostResult<()> {
    send_and_wait(
        g,
        req,
        body,
        bp,
        bl,
        Some(detail),
        resp_out,
        body_out,
        SendMode::Cached,
    )
    .await
}

/// `send_v3`: as `send_v2`, but never through the cache (the SDKs use it
/// when they run the cache logic themselves).
#[allow(clippy::too_many_arguments)]
async fn send_v3(
    g: &mut impl Guest,
    req: RequestHandle,
    body: BodyHandle,
    bp: u32,
    bl: u32,
    detail: u32,
    resp_out: u32,
    body_out: u32,
) -> HostResult<()> {
    let mode = SendMode::Uncached { streaming: false };
    send_and_wait(g, req, body, bp, bl, Some(detail), resp_out, body_out, mode).await
}

/// Starts a send in the background and writes its pending-request handle.
#[allow(clippy::too_many_arguments)]
fn start(
    m: &mut Mem<'_>,
    s: &mut Session,
    req: RequestHandle,
    body: BodyHandle,
    bp: u32,
    bl: u32,
    mode: SendMode,
    out: u32,
) -> HostResult<()> {
    let prepared = s.prepare_send(m.str(bp, bl)?, req, body, mode)?;
    let h = s.start_send(prepared);
    m.handle(out, h)
}

/// `send_async`: sends in the background.
fn send_async(
    m: &mut Mem<'_>,
    s: &mut Session,
    req: RequestHandle,
    body: BodyHandle,
    bp: u32,
    bl: u32,
    out: u32,
) -> HostResult<()> {
    start(m, s, req, body, bp, bl, SendMode::Cached, out)
}

/// `send_async_streaming`: sends in the background while the program
/// keeps writing the body.
fn send_async_streaming(
    m: &mut Mem<'_>,
    s: &mut Session,
    req: RequestHandle,
    body: BodyHandle,
    bp: u32,
    bl: u32,
    out: u32,
) -> HostResult<()> {
    start(m, s, req, body, bp, bl, SendMode::Streaming, out)
}

/// `send_async_v2`: in the background, streaming or not, never through the
/// cache.
#[allow(clippy::too_many_arguments)]
fn send_async_v2(
    m: &mut Mem<'_>,
    s: &mut Session,
    req: RequestHandle,
    body: BodyHandle,
    bp: u32,
    bl: u32,
    streaming: u32,
    out: u32,
) -> HostResult<()> {
    let mode = SendMode::Uncached {
        streaming: streaming != 0,
    };
    start(m, s, req, body, bp, bl, mode, out)
}

/// Answers a poll: done (with handles) or not yet.
fn poll(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: PendingRequestHandle,
    detail: Option<u32>,
    done_out: u32,
    resp_out: u32,
    body_out: u32,
) -> HostResult<()> {
    match s.poll_pending(h)? {
        None => {
            m.u32(done_out, 0)?;
            m.u32(resp_out, INVALID)?;
            m.u32(body_out, INVALID)
        }
        Some(outcome) => {
            m.u32(done_out, 1)?;
            finish_send(m, s, outcome, detail, resp_out, body_out)
        }
    }
}

/// `pending_req_poll`: the response if the request has finished.
fn pending_req_poll(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: PendingRequestHandle,
    done_out: u32,
    resp_out: u32,
    body_out: u32,
) -> HostResult<()> {
    poll(m, s, h, None, done_out, resp_out, body_out)
}

/// `pending_req_poll_v2`: as `pending_req_poll`, with an error detail.
fn pending_req_poll_v2(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: PendingRequestHandle,
    detail: u32,
    done_out: u32,
    resp_out: u32,
    body_out: u32,
) -> HostResult<()> {
    poll(m, s, h, Some(detail), done_out, resp_out, body_out)
}

/// Waits for a pending request and hands out its response.
async fn wait(
    g: &mut impl Guest,
    h: PendingRequestHandle,
    detail: Option<u32>,
    resp_out: u32,
    body_out: u32,
) -> HostResult<()> {
    let outcome = g.session().wait_pending(h).await?;
    let (mut m, s) = g.mem_and_session()?;
    finish_send(&mut m, s, outcome, detail, resp_out, body_out)
}

/// `pending_req_wait`: waits for the response head.
async fn pending_req_wait(
    g: &mut impl Guest,
    h: PendingRequestHandle,
    resp_out: u32,
    body_out: u32,
) -> HostResult<()> {
    wait(g, h, None, resp_out, body_out).await
}

/// `pending_req_wait_v2`: as `pending_req_wait`, with an error detail.
async fn pending_req_wait_v2(
    g: &mut impl Guest,
    h: PendingRequestHandle,
    detail: u32,
    resp_out: u32,
    body_out: u32,
) -> HostResult<()> {
    wait(g, h, Some(detail), resp_out, body_out).await
}

/// Waits for the first of several pending requests.
async fn select(
    g: &mut impl Guest,
    hp: u32,
    hl: u32,
    detail: Option<u32>,
    index_out: u32,
    resp_out: u32,
    body_out: u32,
) -> HostResult<()> {
    let handles: Vec<u32> = {
        let (m, _) = g.mem_and_session()?;
        (0..hl)
            .map(|i| m.read_u32(hp + 4 * i))
            .collect::<HostResult<_>>()?
    };
    if handles.is_empty() {
        return Err(HostError::Invalid("select on no pending requests".into()));
    }
    let items: Vec<AsyncItemHandle> = handles.iter().map(|h| (*h).into()).collect();
    let i = g
        .session()
        .select(&items, None)
        .await?
        .ok_or(HostError::Again)?;
    let outcome = g.session().wait_pending(handles[i].into()).await?;
    let (mut m, s) = g.mem_and_session()?;
    m.u32(index_out, i as u32)?;
    finish_send(&mut m, s, outcome, detail, resp_out, body_out)
}

/// `pending_req_select`: the first of several pending requests to finish.
async fn pending_req_select(
    g: &mut impl Guest,
    hp: u32,
    hl: u32,
    index_out: u32,
    resp_out: u32,
    body_out: u32,
) -> HostResult<()> {
    select(g, hp, hl, None, index_out, resp_out, body_out).await
}

/// `pending_req_select_v2`: as `pending_req_select`, with an error detail.
#[allow(clippy::too_many_arguments)]
async fn pending_req_select_v2(
    g: &mut impl Guest,
    hp: u32,
    hl: u32,
    detail: u32,
    index_out: u32,
    resp_out: u32,
    body_out: u32,
) -> HostResult<()> {
    select(g, hp, hl, Some(detail), index_out, resp_out, body_out).await
}

/// Reads the guest's dynamic backend config: the fields its mask sets.
fn dynamic_backend_spec(
    m: &Mem<'_>,
    s: &Session,
    target: String,
    mask: u32,
    cfg: u32,
) -> HostResult<DynamicBackendSpec> {
    let mask = Mask(mask);
    let c: DynamicBackendConfig = m.read_struct(cfg)?;
    let text = |set: u32, field| mask.has(set).then(|| m.lossy_text(field)).transpose();
    // No timeout outlives the request: a program asking for 2^32-1 ms
    // gets the wall-time limit.
    let longest = s.env().limits.wall_time;
    let ms = |set: u32, field: zerocopy::little_endian::U32| {
        mask.has(set)
            .then(|| Duration::from_millis(field.get().into()).min(longest))
    };
    let tls = |set: u32, field: zerocopy::little_endian::U32| {
        mask.has(set)
            .then(|| {
                tls_version(field.get()).ok_or_else(|| {
                    HostError::Invalid(format!("unknown TLS version {}", field.get()))
                })
            })
            .transpose()
    };
    let client_certificate = match text(options::CLIENT_CERT, c.client_certificate)? {
        Some(cert) => {
            let key = &s.get(SecretHandle::from(c.client_key.get()))?.0;
            Some((cert, String::from_utf8_lossy(key).into_owned()))
        }
        None => None,
    };
    Ok(DynamicBackendSpec {
        target,
        use_tls: mask.has(options::USE_SSL),
        override_host: text(options::HOST_OVERRIDE, c.host_override)?,
        connect_timeout: ms(options::CONNECT_TIMEOUT, c.connect_timeout_ms),
        first_byte_timeout: ms(options::FIRST_BYTE_TIMEOUT, c.first_byte_timeout_ms),
        between_bytes_timeout: ms(options::BETWEEN_BYTES_TIMEOUT, c.between_bytes_timeout_ms),
        tls_min_version: tls(options::SSL_MIN_VERSION, c.ssl_min_version)?,
        tls_max_version: tls(options::SSL_MAX_VERSION, c.ssl_max_version)?,
        cert_host: text(options::CERT_HOSTNAME, c.cert_hostname)?,
        ca_certificate: text(options::CA_CERT, c.ca_cert)?,
        sni_host: text(options::SNI_HOSTNAME, c.sni_hostname)?,
        client_certificate,
        grpc: mask.has(options::GRPC),
    })
}

/// `register_dynamic_backend`: a backend the program names at run time.
#[allow(clippy::too_many_arguments)]
fn register_dynamic_backend(
    m: &mut Mem<'_>,
    s: &mut Session,
    np: u32,
    nl: u32,
    tp: u32,
    tl: u32,
    mask: u32,
    cfg: u32,
) -> HostResult<()> {
    let name = m.str(np, nl)?.to_owned();
    let target = m.str(tp, tl)?.to_owned();
    let config = dynamic_backend_spec(m, s, target, mask, cfg)?.into_config()?;
    s.env().backends.register(name, config)
}

#[cfg(test)]
#[path = "req_send_tests.rs"]
mod tests;
