//! `fastly_http_resp`: response handles and sending the response to the
//! client, whole or streamed.

use super::memory::Mem;
use super::state::GuestState;
use super::{headers, hostcall};
use crate::host::handles::{BodyHandle, ResponseHandle};
use crate::host::session::{ResponseState, Session};
use crate::host::{HostError, HostResult};
use wasmtime::Linker;

pub(super) fn add(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    hostcall!(l, "fastly_http_resp", new(out) => new_response);
    hostcall!(l, "fastly_http_resp", close(h));
    headers::add::<ResponseHandle>(l, "fastly_http_resp")?;
    hostcall!(l, "fastly_http_resp", status_get(h, out));
    hostcall!(l, "fastly_http_resp", status_set(h, status));
    hostcall!(l, "fastly_http_resp", send_downstream(rh, bh, streaming));
    hostcall!(l, "fastly_http_resp", framing_headers_mode_set(h, mode));
    hostcall!(l, "fastly_http_resp", http_keepalive_mode_set(h, mode));
    hostcall!(l, "fastly_http_resp", get_addr_dest_ip(h, out, nw));
    hostcall!(l, "fastly_http_resp", get_addr_dest_port(h, out));
    Ok(())
}

/// `fastly_http_resp::new`: a new response, `200` with no headers.
fn new_response(m: &mut Mem<'_>, s: &mut Session, out: u32) -> HostResult<()> {
    let h: ResponseHandle = s.try_insert(ResponseState::new())?;
    m.handle(out, h)
}

/// `fastly_http_resp::close`: drops a response.
fn close(_m: &mut Mem<'_>, s: &mut Session, h: ResponseHandle) -> HostResult<()> {
    s.take(h).map(drop)
}

/// `fastly_http_resp::status_get`: the response's status code.
fn status_get(m: &mut Mem<'_>, s: &mut Session, h: ResponseHandle, out: u32) -> HostResult<()> {
    let status = s.get(h)?.parts.status.as_u16();
    m.u16(out, status)
}

/// `fastly_http_resp::status_set`: sets the status code (100 to 999).
fn status_set(_m: &mut Mem<'_>, s: &mut Session, h: ResponseHandle, status: u32) -> HostResult<()> {
    let code = u16::try_from(status)
        .ok()
        .and_then(|s| http::StatusCode::from_u16(s).ok())
        .filter(|s| s.as_u16() >= 100)
        .ok_or_else(|| HostError::Invalid(format!("{status} is not an HTTP status")))?;
    s.get_mut(h)?.parts.status = code;
    Ok(())
}

/// `fastly_http_resp::send_downstream`: sends response `rh` with body `bh`
/// to the client; `streaming` 1 keeps `bh` open for the guest to write the
/// rest of the body to.
fn send_downstream(
    _m: &mut Mem<'_>,
    s: &mut Session,
    rh: ResponseHandle,
    bh: BodyHandle,
    streaming: u32,
) -> HostResult<()> {
    if s.responded() {
        return Err(HostError::Invalid(
            "a response was already sent for this request".into(),
        ));
    }
    if !s.contains(bh) {
        return Err(HostError::BadHandle(bh.into()));
    }
    let state = s.take(rh)?;
    let mut parts = state.parts;
    let body = s.take(bh)?;
    let outgoing = if streaming != 0 {
        let (handle_body, out) = body.into_streaming();
        s.put(bh, handle_body);
        out
    } else {
        body.into_outgoing()
    };
    // Framing is ours to decide (as Fastly does by default): the guest's
    // Content-Length or Transfer-Encoding could disagree with the body.
    // Asked for and valid, they are kept; hyper then frames by them, and a
    // body that disagrees ends the connection early.
    if let Err(why) = crate::host::framing::apply(&mut parts.headers, state.framing) {
        tracing::debug!(service = %s.env().name, "response framing headers not kept: {why}");
    }
    parts.headers.remove(http::header::CONNECTION);
    if state.keepalive == crate::host::framing::KeepaliveMode::Close {
        parts.headers.insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
    }
    parts.version = http::Version::HTTP_11;
    let respond = s.take_responder().ok_or(HostError::None)?;
    // The client may have gone; that is not the guest's error.
    let _ = respond.send(http::Response::from_parts(parts, outgoing));
    Ok(())
}

/// `fastly_http_resp::framing_headers_mode_set`: whether the response keeps
/// the program's own `Content-Length` or `Transfer-Encoding` (1, when they
/// are valid HTTP/1.1) or is framed from its body (0).
fn framing_headers_mode_set(
    _m: &mut Mem<'_>,
    s: &mut Session,
    h: ResponseHandle,
    mode: u32,
) -> HostResult<()> {
    let mode = crate::host::framing::FramingMode::from_abi(mode)?;
    s.get_mut(h)?.framing = mode;
    Ok(())
}

/// `fastly_http_resp::http_keepalive_mode_set`: 1 closes the client's
/// HTTP/1 connection after this response (`Connection: close`).
fn http_keepalive_mode_set(
    _m: &mut Mem<'_>,
    s: &mut Session,
    h: ResponseHandle,
    mode: u32,
) -> HostResult<()> {
    let mode = crate::host::framing::KeepaliveMode::from_abi(mode)?;
    s.get_mut(h)?.keepalive = mode;
    Ok(())
}

/// `fastly_http_resp::get_addr_dest_ip`: the address of the backend the
/// response came from (`NONE` for a response the guest made).
fn get_addr_dest_ip(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: ResponseHandle,
    out: u32,
    nw: u32,
) -> HostResult<()> {
    let addr = s.get(h)?.remote_addr.ok_or(HostError::None)?;
    m.write_ip(addr.ip(), out, nw)
}

/// `fastly_http_resp::get_addr_dest_port`: the port of the backend the
/// response came from (`NONE` for a response the guest made).
fn get_addr_dest_port(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: ResponseHandle,
    out: u32,
) -> HostResult<()> {
    let addr = s.get(h)?.remote_addr.ok_or(HostError::None)?;
    m.u16(out, addr.port())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::testing::TestGuest;
    use crate::host::body::Body;
    use bytes::Bytes;
    use http_body_util::BodyExt;

    /// The u16 at `at`.
    fn u16_at(g: &TestGuest, at: u32) -> u16 {
        u16::from_le_bytes(g.bytes(at, 2).try_into().unwrap())
    }

    /// A new response handle.
    fn response(g: &mut TestGuest) -> ResponseHandle {
        let out = g.alloc(4);
        g.call(|m, s| new_response(m, s, out)).unwrap();
        ResponseHandle::from(g.u32_at(out))
    }

    #[test]
    fn new_response_is_200() {
        let mut g = TestGuest::new();
        let h = response(&mut g);
        let out = g.alloc(4);
        g.call(|m, s| status_get(m, s, h, out)).unwrap();
        assert_eq!(u16_at(&g, out), 200);
    }

    #[test]
    fn close_drops_the_response() {
        let mut g = TestGuest::new();
        let h = response(&mut g);
        g.call(|m, s| close(m, s, h)).unwrap();
        let r = g.call(|m, s| close(m, s, h));
        assert!(matches!(r, Err(HostError::BadHandle(_))), "{r:?}");
    }

    #[test]
    fn status_get_and_set_round_trip() {
        let mut g = TestGuest::new();
        let h = response(&mut g);
        let out = g.alloc(4);
        g.call(|m, s| status_set(m, s, h, 404)).unwrap();
        g.call(|m, s| status_get(m, s, h, out)).unwrap();
        assert_eq!(u16_at(&g, out), 404);
        for bad in [99, 1000, 70_000] {
            let r = g.call(|m, s| status_set(m, s, h, bad));
            assert!(matches!(r, Err(HostError::Invalid(_))), "{bad}: {r:?}");
        }
        let r = g.call(|m, s| status_get(m, s, ResponseHandle::from(999), out));
        assert!(matches!(r, Err(HostError::BadHandle(999))), "{r:?}");
    }

    #[tokio::test]
    async fn send_downstream_sends_once_with_our_framing() {
        let mut g = TestGuest::new();
        let rh = response(&mut g);
        let resp = g.session.get_mut(rh).unwrap();
        resp.parts.status = http::StatusCode::CREATED;
        resp.parts
            .headers
            .insert("content-length", "999".parse().unwrap());
        resp.parts.headers.insert("x-kept", "yes".parse().unwrap());
        resp.parts.version = http::Version::HTTP_2;
        let bh: BodyHandle = g.session.insert(Body::from_bytes("hello"));
        // A bad body handle sends nothing and keeps the response.
        let r = g.call(|m, s| send_downstream(m, s, rh, BodyHandle::from(999), 0));
        assert!(matches!(r, Err(HostError::BadHandle(999))), "{r:?}");
        assert!(g.session.contains(rh));
        g.call(|m, s| send_downstream(m, s, rh, bh, 0)).unwrap();
        assert!(!g.session.contains(rh) && !g.session.contains(bh));
        let sent = g.response.take().unwrap().await.unwrap();
        assert_eq!(sent.status(), 201);
        assert_eq!(sent.version(), http::Version::HTTP_11);
        assert!(sent.headers().get("content-length").is_none());
        assert_eq!(sent.headers().get("x-kept").unwrap(), "yes");
        let body = sent.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "hello");
        let (rh, bh) = (response(&mut g), g.session.insert(Body::default()));
        let r = g.call(|m, s| send_downstream(m, s, rh, bh, 0));
        assert!(matches!(r, Err(HostError::Invalid(_))), "{r:?}");
    }

    #[tokio::test]
    async fn modes_keep_the_programs_length_and_close_the_connection() {
        let mut g = TestGuest::new();
        let rh = response(&mut g);
        g.session
            .get_mut(rh)
            .unwrap()
            .parts
            .headers
            .insert("content-length", "5".parse().unwrap());
        let r = g.call(|m, s| framing_headers_mode_set(m, s, rh, 2));
        assert!(matches!(r, Err(HostError::Invalid(_))), "{r:?}");
        g.call(|m, s| framing_headers_mode_set(m, s, rh, 1))
            .unwrap();
        g.call(|m, s| http_keepalive_mode_set(m, s, rh, 1)).unwrap();
        let bh: BodyHandle = g.session.insert(Body::from_bytes("hello"));
        g.call(|m, s| send_downstream(m, s, rh, bh, 0)).unwrap();
        let sent = g.response.take().unwrap().await.unwrap();
        assert_eq!(sent.headers().get("content-length").unwrap(), "5");
        assert_eq!(sent.headers().get("connection").unwrap(), "close");
    }

    #[tokio::test]
    async fn send_downstream_streaming_keeps_the_body_open() {
        let mut g = TestGuest::new();
        let rh = response(&mut g);
        let bh: BodyHandle = g.session.insert(Body::from_bytes("first "));
        g.call(|m, s| send_downstream(m, s, rh, bh, 1)).unwrap();
        let sent = g.response.take().unwrap().await.unwrap();
        let mut body = g.session.take(bh).unwrap();
        body.write(Bytes::from_static(b"then more"), false)
            .await
            .unwrap();
        body.close().await;
        let all = sent.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(all, "first then more");
    }

    #[test]
    fn modes_are_set_on_live_responses_only() {
        let mut g = TestGuest::new();
        let h = response(&mut g);
        g.call(|m, s| framing_headers_mode_set(m, s, h, 1)).unwrap();
        let r = g.call(|m, s| framing_headers_mode_set(m, s, ResponseHandle::from(999), 0));
        assert!(matches!(r, Err(HostError::BadHandle(999))), "{r:?}");
        let r = g.call(|m, s| http_keepalive_mode_set(m, s, ResponseHandle::from(999), 0));
        assert!(matches!(r, Err(HostError::BadHandle(999))), "{r:?}");
    }

    #[test]
    fn get_addr_dest_ip_is_the_backend_address_or_none() {
        let mut g = TestGuest::new();
        let h = response(&mut g);
        let (out, nw) = (g.alloc(16), g.alloc(4));
        let r = g.call(|m, s| get_addr_dest_ip(m, s, h, out, nw));
        assert!(matches!(r, Err(HostError::None)), "{r:?}");
        g.session.get_mut(h).unwrap().remote_addr = Some(([198, 51, 100, 7], 8443).into());
        g.call(|m, s| get_addr_dest_ip(m, s, h, out, nw)).unwrap();
        assert_eq!(g.bytes(out, g.u32_at(nw)), [198, 51, 100, 7]);
    }

    #[test]
    fn get_addr_dest_port_is_the_backend_port_or_none() {
        let mut g = TestGuest::new();
        let h = response(&mut g);
        let out = g.alloc(4);
        let r = g.call(|m, s| get_addr_dest_port(m, s, h, out));
        assert!(matches!(r, Err(HostError::None)), "{r:?}");
        g.session.get_mut(h).unwrap().remote_addr = Some(([198, 51, 100, 7], 8443).into());
        g.call(|m, s| get_addr_dest_port(m, s, h, out)).unwrap();
        assert_eq!(u16_at(&g, out), 8443);
    }
}
