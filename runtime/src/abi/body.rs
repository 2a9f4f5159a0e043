//! `fastly_http_body`: reading, writing, appending and closing bodies, and
//! their trailers.

use super::memory::Mem;
use super::state::GuestState;
use super::{Guest, hostcall};
use crate::host::body::Body;
use crate::host::handles::BodyHandle;
use crate::host::session::Session;
use crate::host::{HostError, HostResult};
use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use wasmtime::Linker;

pub(super) fn add(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    hostcall!(l, "fastly_http_body", new(out) => new_body);
    hostcall!(l, "fastly_http_body", async read(h, buf, len, nread));
    hostcall!(l, "fastly_http_body", async write(h, buf, len, end, nwritten));
    hostcall!(l, "fastly_http_body", async append(dest, src));
    hostcall!(l, "fastly_http_body", async close(h));
    hostcall!(l, "fastly_http_body", abandon(h));
    hostcall!(l, "fastly_http_body", known_length(h, out));
    hostcall!(l, "fastly_http_body", trailer_append(h, np, nl, vp, vl));
    hostcall!(
        l,
        "fastly_http_body",
        trailer_names_get(h, buf, len, cursor, ending, nw)
    );
    hostcall!(
        l,
        "fastly_http_body",
        trailer_value_get(h, np, nl, buf, max, nw)
    );
    hostcall!(
        l,
        "fastly_http_body",
        trailer_values_get(h, np, nl, buf, len, cursor, ending, nw)
    );
    Ok(())
}

/// A trailer name from guest memory.
fn trailer_name(m: &Mem<'_>, np: u32, nl: u32) -> HostResult<HeaderName> {
    HeaderName::from_bytes(m.bytes(np, nl)?)
        .map_err(|_| HostError::Invalid("bad trailer name".into()))
}

/// `fastly_http_body::new`: a new empty body.
fn new_body(m: &mut Mem<'_>, s: &mut Session, out: u32) -> HostResult<()> {
    let mut body = Body::default();
    body.attach(s.ledger());
    let h: BodyHandle = s.try_insert(body)?;
    m.handle(out, h)
}

/// `fastly_http_body::read`: up to `len` bytes, waiting for them when the
/// body streams in; none at the end of the body.
async fn read(g: &mut impl Guest, h: BodyHandle, buf: u32, len: u32, nread: u32) -> HostResult<()> {
    let mut body = g.session().take(h)?;
    let chunk = body.read(len as usize).await;
    g.session().put(h, body);
    let chunk = chunk?;
    let (mut m, _) = g.mem_and_session()?;
    m.write(buf, &chunk)?;
    m.u32(nread, chunk.len() as u32)
}

/// `fastly_http_body::write`: appends `len` bytes (`end` 1: at the front),
/// waiting for room when the body streams out.
async fn write(
    g: &mut impl Guest,
    h: BodyHandle,
    buf: u32,
    len: u32,
    end: u32,
    nwritten: u32,
) -> HostResult<()> {
    let data = {
        let (m, _) = g.mem_and_session()?;
        Bytes::copy_from_slice(m.bytes(buf, len)?)
    };
    let s = g.session();
    let mut body = s.take(h)?;
    body.attach(s.ledger());
    let written = body.write(data, end == 1).await;
    g.session().put(h, body);
    written?;
    let (mut m, _) = g.mem_and_session()?;
    m.u32(nwritten, len)
}

/// `fastly_http_body::append`: moves all of body `src` to the end of body
/// `dest` (`src` is closed).
async fn append(g: &mut impl Guest, dest: BodyHandle, src: BodyHandle) -> HostResult<()> {
    if dest == src {
        return Err(HostError::Invalid("cannot append a body to itself".into()));
    }
    let s = g.session();
    let other = s.take(src)?;
    let mut body = match s.take(dest) {
        Ok(b) => b,
        Err(e) => {
            s.put(src, other);
            return Err(e);
        }
    };
    body.attach(s.ledger());
    let mut other = other;
    other.attach(s.ledger());
    let r = body.append(other).await;
    g.session().put(dest, body);
    r
}

/// `fastly_http_body::close`: closes a body; a streaming body sends its
/// trailers and ends.
async fn close(g: &mut impl Guest, h: BodyHandle) -> HostResult<()> {
    let body = g.session().take(h)?;
    body.close().await;
    Ok(())
}

/// `fastly_http_body::abandon`: drops a body. A streaming body's sender
/// goes without trailers: the receiver sees the stream end early.
fn abandon(_m: &mut Mem<'_>, s: &mut Session, h: BodyHandle) -> HostResult<()> {
    s.take(h).map(drop)
}

/// `fastly_http_body::known_length`: the body's length when it is known
/// without reading (`NONE` otherwise).
fn known_length(m: &mut Mem<'_>, s: &mut Session, h: BodyHandle, out: u32) -> HostResult<()> {
    let len = s.get(h)?.known_length().ok_or(HostError::None)?;
    m.u64(out, len)
}

/// `fastly_http_body::trailer_append`: adds a trailer to send.
fn trailer_append(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: BodyHandle,
    np: u32,
    nl: u32,
    vp: u32,
    vl: u32,
) -> HostResult<()> {
    let name = trailer_name(m, np, nl)?;
    let value = HeaderValue::from_bytes(m.bytes(vp, vl)?)
        .map_err(|_| HostError::Invalid("bad trailer value".into()))?;
    s.get_mut(h)?.append_trailer(name, value);
    Ok(())
}

/// `fastly_http_body::trailer_names_get`: each trailer name once, in order
/// of first appearance (`AGAIN` before the body was read to its end).
#[allow(clippy::too_many_arguments)]
fn trailer_names_get(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: BodyHandle,
    buf: u32,
    len: u32,
    cursor: u32,
    ending: u32,
    nw: u32,
) -> HostResult<()> {
    let names = s.get(h)?.trailers()?.keys().map(|k| k.as_str().as_bytes());
    m.multi_value(names, buf, len, cursor, ending, nw)
}

/// `fastly_http_body::trailer_value_get`: the first value of one trailer
/// (`INVAL` when absent, as for headers).
#[allow(clippy::too_many_arguments)]
fn trailer_value_get(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: BodyHandle,
    np: u32,
    nl: u32,
    buf: u32,
    max: u32,
    nw: u32,
) -> HostResult<()> {
    let trailers = s.get(h)?.trailers()?;
    let n = trailer_name(m, np, nl)?;
    let v = trailers
        .get(&n)
        .ok_or(HostError::Invalid("no such header".into()))?;
    m.out(buf, max, nw, v.as_bytes())
}

/// `fastly_http_body::trailer_values_get`: every value of one trailer, in
/// order.
#[allow(clippy::too_many_arguments)]
fn trailer_values_get(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: BodyHandle,
    np: u32,
    nl: u32,
    buf: u32,
    len: u32,
    cursor: u32,
    ending: u32,
    nw: u32,
) -> HostResult<()> {
    let trailers = s.get(h)?.trailers()?;
    let n = trailer_name(m, np, nl)?;
    let values = trailers.get_all(&n).iter().map(HeaderValue::as_bytes);
    m.multi_value(values, buf, len, cursor, ending, nw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::testing::{OutBuf, TestGuest};
    use crate::host::HostLimit;

    /// A new body holding `data`.
    fn body_of(g: &mut TestGuest, data: &'static [u8]) -> BodyHandle {
        g.session.insert(Body::from_bytes(data))
    }

    #[test]
    fn new_body_is_empty_with_known_length_zero() {
        let mut g = TestGuest::new();
        let out = g.alloc(8);
        g.call(|m, s| new_body(m, s, out)).unwrap();
        let h = BodyHandle::from(g.u32_at(out));
        let len = g.alloc(8);
        g.call(|m, s| known_length(m, s, h, len)).unwrap();
        assert_eq!(g.u64_at(len), 0);
    }

    #[tokio::test]
    async fn read_answers_up_to_len_then_nothing_at_the_end() {
        let mut g = TestGuest::new();
        let (_, bh) = g.session.downstream_current().unwrap();
        let (buf, nread) = (g.alloc(64), g.alloc(4));
        read(&mut g, bh, buf, 6, nread).await.unwrap();
        assert_eq!(g.bytes(buf, g.u32_at(nread)), b"client");
        read(&mut g, bh, buf, 64, nread).await.unwrap();
        assert_eq!(g.bytes(buf, g.u32_at(nread)), b" body");
        read(&mut g, bh, buf, 64, nread).await.unwrap();
        assert_eq!(g.u32_at(nread), 0);
        let r = read(&mut g, BodyHandle::from(999), buf, 64, nread).await;
        assert!(matches!(r, Err(HostError::BadHandle(999))), "{r:?}");
    }

    #[tokio::test]
    async fn write_appends_or_prepends() {
        let mut g = TestGuest::new();
        let h = body_of(&mut g, b"middle");
        let nw = g.alloc(4);
        let (p, l) = g.put(b" back");
        write(&mut g, h, p, l, 0, nw).await.unwrap();
        assert_eq!(g.u32_at(nw), 5);
        let (p, l) = g.put(b"front ");
        write(&mut g, h, p, l, 1, nw).await.unwrap();
        assert_eq!(g.read_body(h).await, b"front middle back");
        let r = write(&mut g, BodyHandle::from(999), p, l, 0, nw).await;
        assert!(matches!(r, Err(HostError::BadHandle(999))), "{r:?}");
    }

    #[tokio::test]
    async fn append_moves_src_to_the_end_of_dest() {
        let mut g = TestGuest::new();
        let (_, client) = g.session.downstream_current().unwrap();
        let dest = body_of(&mut g, b"first ");
        append(&mut g, dest, client).await.unwrap();
        assert!(!g.session.contains(client));
        assert_eq!(g.read_body(dest).await, b"first client body");
        let r = append(&mut g, dest, dest).await;
        assert!(matches!(r, Err(HostError::Invalid(_))), "{r:?}");
        // A bad destination leaves the source alone.
        let src = body_of(&mut g, b"kept");
        let r = append(&mut g, BodyHandle::from(999), src).await;
        assert!(matches!(r, Err(HostError::BadHandle(999))), "{r:?}");
        assert_eq!(g.read_body(src).await, b"kept");
    }

    #[tokio::test]
    async fn close_and_abandon_end_the_handle() {
        let mut g = TestGuest::new();
        let h = body_of(&mut g, b"x");
        close(&mut g, h).await.unwrap();
        assert!(!g.session.contains(h));
        let r = close(&mut g, h).await;
        assert!(matches!(r, Err(HostError::BadHandle(_))), "{r:?}");
        let h = body_of(&mut g, b"y");
        g.call(|m, s| abandon(m, s, h)).unwrap();
        assert!(!g.session.contains(h));
        let r = g.call(|m, s| abandon(m, s, h));
        assert!(matches!(r, Err(HostError::BadHandle(_))), "{r:?}");
    }

    #[test]
    fn known_length_counts_buffered_and_exactly_sized_streams() {
        let mut g = TestGuest::new();
        let (_, client) = g.session.downstream_current().unwrap();
        let out = g.alloc(8);
        g.call(|m, s| known_length(m, s, client, out)).unwrap();
        assert_eq!(g.u64_at(out), "client body".len() as u64);
        let h = body_of(&mut g, b"abc");
        g.call(|m, s| known_length(m, s, h, out)).unwrap();
        assert_eq!(g.u64_at(out), 3);
        // A body streaming out has no known length.
        let (streaming, _out) = g.session.take(h).unwrap().into_streaming();
        g.session.put(h, streaming);
        let r = g.call(|m, s| known_length(m, s, h, out));
        assert!(matches!(r, Err(HostError::None)), "{r:?}");
    }

    #[test]
    fn trailer_append_rejects_bad_names_and_values() {
        let mut g = TestGuest::new();
        let h = body_of(&mut g, b"");
        let (np, nl) = g.put(b"x-sum");
        let (vp, vl) = g.put(b"abc");
        g.call(|m, s| trailer_append(m, s, h, np, nl, vp, vl))
            .unwrap();
        let trailers = g.session.get(h).unwrap().trailers().unwrap();
        assert_eq!(trailers.get("x-sum").unwrap(), "abc");
        let (bp, bl) = g.put(b"bad name");
        let r = g.call(|m, s| trailer_append(m, s, h, bp, bl, vp, vl));
        assert!(matches!(r, Err(HostError::Invalid(_))), "{r:?}");
        let (bp, bl) = g.put(b"bad\nvalue");
        let r = g.call(|m, s| trailer_append(m, s, h, np, nl, bp, bl));
        assert!(matches!(r, Err(HostError::Invalid(_))), "{r:?}");
    }

    /// A body with trailers `x-a: 1`, `x-b: 2`, `x-a: 3`.
    fn body_with_trailers(g: &mut TestGuest) -> BodyHandle {
        let h = body_of(g, b"");
        let body = g.session.get_mut(h).unwrap();
        for (n, v) in [("x-a", "1"), ("x-b", "2"), ("x-a", "3")] {
            body.append_trailer(HeaderName::from_static(n), HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn trailer_names_get_lists_each_name_once_and_waits_for_the_end() {
        let mut g = TestGuest::new();
        let h = body_with_trailers(&mut g);
        let out = OutBuf::new(&mut g, 64);
        let ending = g.alloc(8);
        g.call(|m, s| trailer_names_get(m, s, h, out.buf, out.max, 0, ending, out.nwritten))
            .unwrap();
        assert_eq!(out.read(&g), b"x-a\0x-b\0");
        assert_eq!(g.u64_at(ending) as i64, -1);
        // The client body has not been read to its end.
        let (_, client) = g.session.downstream_current().unwrap();
        let r = g.call(|m, s| {
            trailer_names_get(m, s, client, out.buf, out.max, 0, ending, out.nwritten)
        });
        assert!(matches!(r, Err(HostError::Again)), "{r:?}");
    }

    #[test]
    fn trailer_value_get_answers_the_first_value_or_inval() {
        let mut g = TestGuest::new();
        let h = body_with_trailers(&mut g);
        let out = OutBuf::new(&mut g, 16);
        let (np, nl) = g.put(b"x-a");
        g.call(|m, s| trailer_value_get(m, s, h, np, nl, out.buf, out.max, out.nwritten))
            .unwrap();
        assert_eq!(out.read(&g), b"1");
        let (np, nl) = g.put(b"x-none");
        let r = g.call(|m, s| trailer_value_get(m, s, h, np, nl, out.buf, out.max, out.nwritten));
        assert!(matches!(r, Err(HostError::Invalid(_))), "{r:?}");
    }

    #[test]
    fn trailer_values_get_lists_every_value() {
        let mut g = TestGuest::new();
        let h = body_with_trailers(&mut g);
        let out = OutBuf::new(&mut g, 16);
        let ending = g.alloc(8);
        let (np, nl) = g.put(b"x-a");
        g.call(|m, s| {
            trailer_values_get(m, s, h, np, nl, out.buf, out.max, 0, ending, out.nwritten)
        })
        .unwrap();
        assert_eq!(out.read(&g), b"1\x003\0");
        assert_eq!(g.u64_at(ending) as i64, -1);
    }

    #[tokio::test]
    async fn a_16_mib_per_call_write_loop_stops_at_the_buffered_limit() {
        let mut g = TestGuest::new();
        let out = g.alloc(8);
        g.call(|m, s| new_body(m, s, out)).unwrap();
        let h = BodyHandle::from(g.u32_at(out));
        let chunk = vec![7u8; 16 << 20];
        let (p, l) = g.put(&chunk);
        let nw = g.alloc(4);
        for _ in 0..4 {
            write(&mut g, h, p, l, 0, nw).await.unwrap();
        }
        let r = write(&mut g, h, p, l, 0, nw).await;
        assert!(
            matches!(r, Err(HostError::LimitExceeded(HostLimit::BufferedBytes))),
            "{r:?}"
        );
        assert_eq!(g.session.ledger().used(), 64 << 20);
        // The same bytes written into the client's body count too.
        let (_, client) = g.session.downstream_current().unwrap();
        let r = write(&mut g, client, p, l, 0, nw).await;
        assert!(matches!(r, Err(HostError::LimitExceeded(_))), "{r:?}");
        // Reading gives the room back; dropping the body gives back the rest.
        let (buf, nread) = (g.alloc(1 << 20), g.alloc(4));
        read(&mut g, h, buf, 1 << 20, nread).await.unwrap();
        assert_eq!(g.session.ledger().used(), (64 << 20) - (1 << 20));
        drop(g.session.take(h).unwrap());
        assert_eq!(g.session.ledger().used(), 0);
    }

    #[test]
    fn a_new_body_loop_stops_at_the_handle_limit() {
        let mut g = TestGuest::new();
        let out = g.alloc(8);
        let mut made = 0;
        let r = loop {
            match g.call(|m, s| new_body(m, s, out)) {
                Ok(()) => made += 1,
                Err(e) => break e,
            }
        };
        assert!(
            matches!(r, HostError::LimitExceeded(HostLimit::Handles)),
            "{r}"
        );
        // The client request and its body are two of the 8192.
        assert_eq!(made, 8190);
    }
}
