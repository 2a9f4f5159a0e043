//! `fastly_http_resp`: response handles and sending the response to the
//! client, whole or streamed.

use super::headers;
use super::{hostcall, split};
use crate::engine::state::GuestState;
use crate::host::session::ResponseState;
use crate::host::{HostError, HostResult};
use wasmtime::Linker;

/// Sends response `rh` with body `bh` to the client.
fn send_downstream(
    s: &mut crate::host::session::Session,
    rh: u32,
    bh: u32,
    streaming: bool,
) -> HostResult<()> {
    if s.downstream.respond.is_none() {
        return Err(HostError::Invalid(
            "a response was already sent for this request".into(),
        ));
    }
    if !s.bodies.contains(bh) {
        return Err(HostError::BadHandle(bh));
    }
    let mut parts = s.responses.take(rh)?.parts;
    let body = s.bodies.take(bh)?;
    let outgoing = if streaming {
        let (handle_body, out) = body.into_streaming();
        s.bodies.put(bh, handle_body);
        out
    } else {
        body.into_outgoing()
    };
    // Framing is ours to decide (as Fastly does by default): the guest's
    // Content-Length or Transfer-Encoding could disagree with the body.
    parts.headers.remove(http::header::CONTENT_LENGTH);
    parts.headers.remove(http::header::TRANSFER_ENCODING);
    parts.headers.remove(http::header::CONNECTION);
    parts.version = http::Version::HTTP_11;
    let respond = s.downstream.respond.take().ok_or(HostError::None)?;
    // The client may have gone; that is not the guest's error.
    let _ = respond.send(http::Response::from_parts(parts, outgoing));
    Ok(())
}

pub(super) fn add(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    hostcall!(l, "fastly_http_resp", "new", |c, out| {
        let (mut m, st) = split(&mut c)?;
        let h = st.session.new_response(ResponseState::new());
        m.u32(out, h)
    });
    hostcall!(l, "fastly_http_resp", "close", |c, h| {
        c.data_mut().session.responses.take(h).map(drop)
    });
    headers::header_hostcalls!(l, "fastly_http_resp", responses);

    hostcall!(l, "fastly_http_resp", "status_get", |c, h, out| {
        let (mut m, st) = split(&mut c)?;
        let status = st.session.responses.get(h)?.parts.status.as_u16();
        m.u16(out, status)
    });
    hostcall!(l, "fastly_http_resp", "status_set", |c, h, status| {
        let code = u16::try_from(status)
            .ok()
            .and_then(|s| http::StatusCode::from_u16(s).ok())
            .filter(|s| s.as_u16() >= 100)
            .ok_or_else(|| HostError::Invalid(format!("{status} is not an HTTP status")))?;
        c.data_mut().session.responses.get_mut(h)?.parts.status = code;
        Ok(())
    });

    hostcall!(
        l,
        "fastly_http_resp",
        "send_downstream",
        |c, rh, bh, streaming| {
            send_downstream(&mut c.data_mut().session, rh, bh, streaming != 0)
        }
    );
    hostcall!(
        l,
        "fastly_http_resp",
        "framing_headers_mode_set",
        |c, h, _mode| { c.data().session.responses.get(h).map(drop) }
    );
    hostcall!(
        l,
        "fastly_http_resp",
        "http_keepalive_mode_set",
        |c, h, _mode| { c.data().session.responses.get(h).map(drop) }
    );
    hostcall!(
        l,
        "fastly_http_resp",
        "get_addr_dest_ip",
        |c, h, out, nw| {
            let (mut m, st) = split(&mut c)?;
            let addr = st
                .session
                .responses
                .get(h)?
                .remote_addr
                .ok_or(HostError::None)?;
            super::req::write_ip(&mut m, addr.ip(), out, nw)
        }
    );
    hostcall!(l, "fastly_http_resp", "get_addr_dest_port", |c, h, out| {
        let (mut m, st) = split(&mut c)?;
        let addr = st
            .session
            .responses
            .get(h)?
            .remote_addr
            .ok_or(HostError::None)?;
        m.u16(out, addr.port())
    });
    Ok(())
}
