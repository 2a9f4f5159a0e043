//! `fastly_http_body`: reading, writing, appending and closing bodies, and
//! their trailers.

use super::{hostcall, hostcall_async, split};
use crate::engine::state::GuestState;
use crate::host::HostError;
use crate::host::body::Body;
use bytes::Bytes;
use wasmtime::Linker;

pub(super) fn add(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    hostcall!(l, "fastly_http_body", "new", |c, out| {
        let (mut m, st) = split(&mut c)?;
        let h = st.session.new_body(Body::default());
        m.u32(out, h)
    });
    hostcall_async!(l, "fastly_http_body", "read", |c, h, buf, len, nread| {
        let mut body = c.data_mut().session.bodies.take(h)?;
        let chunk = body.read(len as usize).await;
        c.data_mut().session.bodies.put(h, body);
        let chunk = chunk?;
        let (mut m, _) = split(&mut c)?;
        m.write(buf, &chunk)?;
        m.u32(nread, chunk.len() as u32)
    });
    hostcall_async!(
        l,
        "fastly_http_body",
        "write",
        |c, h, buf, len, end, nwritten| {
            let data = {
                let (m, _) = split(&mut c)?;
                Bytes::copy_from_slice(m.bytes(buf, len)?)
            };
            let mut body = c.data_mut().session.bodies.take(h)?;
            let written = body.write(data, end == 1).await;
            c.data_mut().session.bodies.put(h, body);
            written?;
            let (mut m, _) = split(&mut c)?;
            m.u32(nwritten, len)
        }
    );
    hostcall_async!(l, "fastly_http_body", "append", |c, dst, src| {
        if dst == src {
            return Err(HostError::Invalid("cannot append a body to itself".into()));
        }
        let s = &mut c.data_mut().session;
        let other = s.bodies.take(src)?;
        let mut body = match s.bodies.take(dst) {
            Ok(b) => b,
            Err(e) => {
                s.bodies.put(src, other);
                return Err(e);
            }
        };
        let r = body.append(other).await;
        c.data_mut().session.bodies.put(dst, body);
        r
    });
    hostcall_async!(l, "fastly_http_body", "close", |c, h| {
        let body = c.data_mut().session.bodies.take(h)?;
        body.close().await;
        Ok(())
    });
    // Abandoning a streaming body drops its sender without trailers: the
    // receiver sees the stream end early.
    hostcall!(l, "fastly_http_body", "abandon", |c, h| {
        c.data_mut().session.bodies.take(h).map(drop)
    });
    hostcall!(l, "fastly_http_body", "known_length", |c, h, out| {
        let (mut m, st) = split(&mut c)?;
        let len = st
            .session
            .bodies
            .get(h)?
            .known_length()
            .ok_or(HostError::None)?;
        m.u64(out, len)
    });
    hostcall!(
        l,
        "fastly_http_body",
        "trailer_append",
        |c, h, np, nl, vp, vl| {
            let (m, st) = split(&mut c)?;
            let name = http::HeaderName::from_bytes(m.bytes(np, nl)?)
                .map_err(|_| HostError::Invalid("bad trailer name".into()))?;
            let value = http::HeaderValue::from_bytes(m.bytes(vp, vl)?)
                .map_err(|_| HostError::Invalid("bad trailer value".into()))?;
            st.session.bodies.get_mut(h)?.append_trailer(name, value);
            Ok(())
        }
    );
    hostcall!(
        l,
        "fastly_http_body",
        "trailer_names_get",
        |c, h, buf, len, cursor, ending, nw| {
            let (mut m, st) = split(&mut c)?;
            let trailers = st.session.bodies.get(h)?.trailers()?;
            super::headers::names_get(trailers, &mut m, buf, len, cursor, ending, nw)
        }
    );
    hostcall!(
        l,
        "fastly_http_body",
        "trailer_value_get",
        |c, h, np, nl, buf, max, nw| {
            let (mut m, st) = split(&mut c)?;
            let trailers = st.session.bodies.get(h)?.trailers()?;
            super::headers::value_get(trailers, &mut m, np, nl, buf, max, nw)
        }
    );
    hostcall!(
        l,
        "fastly_http_body",
        "trailer_values_get",
        |c, h, np, nl, buf, len, cursor, ending, nw| {
            let (mut m, st) = split(&mut c)?;
            let trailers = st.session.bodies.get(h)?.trailers()?;
            super::headers::values_get(trailers, &mut m, np, nl, buf, len, cursor, ending, nw)
        }
    );
    Ok(())
}
