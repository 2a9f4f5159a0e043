//! Header and version operations shared by `fastly_http_req` and
//! `fastly_http_resp`.

use super::hostcall;
use super::memory::Mem;
use super::state::GuestState;
use crate::host::handles::{RequestHandle, ResponseHandle};
use crate::host::session::{Owned, RequestState, ResponseState, Session};
use crate::host::{HostError, HostLimit, HostResult};
use http::{HeaderMap, HeaderName, HeaderValue};
use wasmtime::Linker;

fn name(m: &Mem<'_>, ptr: u32, len: u32) -> HostResult<HeaderName> {
    HeaderName::from_bytes(m.bytes(ptr, len)?)
        .map_err(|_| HostError::Invalid("bad header name".into()))
}

fn value(bytes: &[u8]) -> HostResult<HeaderValue> {
    HeaderValue::from_bytes(bytes).map_err(|_| HostError::Invalid("bad header value".into()))
}

/// Header fields one message may carry. Fastly's own limits are lower
/// (255 request and 96 response headers in VCL); the header map itself
/// panics past 32,768, which a program must never reach.
pub const MAX_HEADER_FIELDS: usize = 1000;

/// Room for `adding` more fields in `headers`, and the bytes the program
/// writes charged to its request (`limits.bufferedBytes`): a program that
/// copies one large value into many headers stops there.
fn make_room(s: &mut Session, fields: usize, adding: usize, bytes: usize) -> HostResult<()> {
    if fields + adding > MAX_HEADER_FIELDS {
        return Err(HostError::LimitExceeded(HostLimit::HeaderFields));
    }
    s.charge_header_bytes(bytes)
}

/// HTTP version as the ABI numbers it.
pub fn version_code(v: http::Version) -> u32 {
    match v {
        http::Version::HTTP_09 => 0,
        http::Version::HTTP_10 => 1,
        http::Version::HTTP_2 => 3,
        http::Version::HTTP_3 => 4,
        _ => 2,
    }
}

/// The ABI's version number as an HTTP version.
pub fn version_from_code(code: u32) -> HostResult<http::Version> {
    Ok(match code {
        0 => http::Version::HTTP_09,
        1 => http::Version::HTTP_10,
        2 => http::Version::HTTP_11,
        3 => http::Version::HTTP_2,
        4 => http::Version::HTTP_3,
        _ => return Err(HostError::Invalid(format!("unknown HTTP version {code}"))),
    })
}

/// What requests and responses share: headers and a version.
pub trait MessageHead {
    /// The header map.
    fn headers(&self) -> &HeaderMap;
    /// The header map, mutably.
    fn headers_mut(&mut self) -> &mut HeaderMap;
    /// The HTTP version.
    fn version(&self) -> http::Version;
    /// The HTTP version, mutably.
    fn version_mut(&mut self) -> &mut http::Version;
}

impl MessageHead for RequestState {
    fn version(&self) -> http::Version {
        self.parts.version
    }
    fn headers(&self) -> &HeaderMap {
        &self.parts.headers
    }
    fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.parts.headers
    }
    fn version_mut(&mut self) -> &mut http::Version {
        &mut self.parts.version
    }
}

impl MessageHead for ResponseState {
    fn version(&self) -> http::Version {
        self.parts.version
    }
    fn headers(&self) -> &HeaderMap {
        &self.parts.headers
    }
    fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.parts.headers
    }
    fn version_mut(&mut self) -> &mut http::Version {
        &mut self.parts.version
    }
}

/// A request or response handle.
pub trait HeadHandle: Owned<Object: MessageHead> + 'static {}
impl HeadHandle for RequestHandle {}
impl HeadHandle for ResponseHandle {}

/// Links the header and version hostcalls of `module` (`fastly_http_req`
/// or `fastly_http_resp`) over handles of kind `H`.
pub(super) fn add<H: HeadHandle>(
    l: &mut Linker<GuestState>,
    module: &'static str,
) -> wasmtime::Result<()> {
    hostcall!(l, module, header_names_get(h, buf, len, cursor, ending, nw) => header_names_get::<H>);
    hostcall!(l, module, header_values_get(h, np, nl, buf, len, cursor, ending, nw) => header_values_get::<H>);
    hostcall!(l, module, header_value_get(h, np, nl, buf, max, nw) => header_value_get::<H>);
    hostcall!(l, module, header_values_set(h, np, nl, vp, vl) => header_values_set::<H>);
    hostcall!(l, module, header_insert(h, np, nl, vp, vl) => header_insert::<H>);
    hostcall!(l, module, header_append(h, np, nl, vp, vl) => header_append::<H>);
    hostcall!(l, module, header_remove(h, np, nl) => header_remove::<H>);
    hostcall!(l, module, version_get(h, out) => version_get::<H>);
    hostcall!(l, module, version_set(h, v) => version_set::<H>);
    Ok(())
}

/// `header_names_get`: each name once, in order of first appearance.
#[allow(clippy::too_many_arguments)]
pub fn header_names_get<H: HeadHandle>(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: H,
    buf: u32,
    len: u32,
    cursor: u32,
    ending: u32,
    nw: u32,
) -> HostResult<()> {
    let names = s.get(h)?.headers().keys().map(|k| k.as_str().as_bytes());
    m.multi_value(names, buf, len, cursor, ending, nw)
}

/// `header_values_get`: every value of one name, in order.
#[allow(clippy::too_many_arguments)]
pub fn header_values_get<H: HeadHandle>(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: H,
    np: u32,
    nl: u32,
    buf: u32,
    len: u32,
    cursor: u32,
    ending: u32,
    nw: u32,
) -> HostResult<()> {
    let n = name(m, np, nl)?;
    let values: Vec<Vec<u8>> = s
        .get(h)?
        .headers()
        .get_all(&n)
        .iter()
        .map(|v| v.as_bytes().to_vec())
        .collect();
    m.multi_value(values, buf, len, cursor, ending, nw)
}

/// `header_value_get`: the first value of one name (`INVAL` when absent,
/// as Fastly answers).
#[allow(clippy::too_many_arguments)]
pub fn header_value_get<H: HeadHandle>(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: H,
    np: u32,
    nl: u32,
    buf: u32,
    max: u32,
    nw: u32,
) -> HostResult<()> {
    let n = name(m, np, nl)?;
    let headers = s.get(h)?.headers();
    let v = headers
        .get(&n)
        .ok_or(HostError::Invalid("no such header".into()))?;
    m.out(buf, max, nw, v.as_bytes())
}

/// `header_values_set`: replaces all values with a NUL-separated list.
pub fn header_values_set<H: HeadHandle>(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: H,
    np: u32,
    nl: u32,
    vp: u32,
    vl: u32,
) -> HostResult<()> {
    let n = name(m, np, nl)?;
    let raw = m.bytes(vp, vl)?;
    let raw = raw.strip_suffix(&[0]).unwrap_or(raw);
    let values = raw
        .split(|b| *b == 0)
        .map(value)
        .collect::<HostResult<Vec<_>>>()?;
    let fields = s.get_mut(h)?.headers_mut().len();
    make_room(s, fields, values.len(), raw.len())?;
    let headers = s.get_mut(h)?.headers_mut();
    headers.remove(&n);
    for v in values {
        headers.append(n.clone(), v);
    }
    Ok(())
}

/// `header_insert`: replaces every value of one name with one value.
pub fn header_insert<H: HeadHandle>(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: H,
    np: u32,
    nl: u32,
    vp: u32,
    vl: u32,
) -> HostResult<()> {
    let (n, v) = (name(m, np, nl)?, value(m.bytes(vp, vl)?)?);
    let fields = s.get_mut(h)?.headers_mut().len();
    make_room(s, fields, 1, (nl + vl) as usize)?;
    s.get_mut(h)?.headers_mut().insert(n, v);
    Ok(())
}

/// `header_append`: adds a value after those of the same name.
pub fn header_append<H: HeadHandle>(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: H,
    np: u32,
    nl: u32,
    vp: u32,
    vl: u32,
) -> HostResult<()> {
    let (n, v) = (name(m, np, nl)?, value(m.bytes(vp, vl)?)?);
    let fields = s.get_mut(h)?.headers_mut().len();
    make_room(s, fields, 1, (nl + vl) as usize)?;
    s.get_mut(h)?.headers_mut().append(n, v);
    Ok(())
}

/// `header_remove`: `INVAL` when the header is absent, as on Fastly.
pub fn header_remove<H: HeadHandle>(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: H,
    np: u32,
    nl: u32,
) -> HostResult<()> {
    let n = name(m, np, nl)?;
    s.get_mut(h)?
        .headers_mut()
        .remove(&n)
        .map(drop)
        .ok_or(HostError::Invalid("no such header".into()))
}

/// `version_get`: the message's HTTP version as the ABI numbers it.
pub fn version_get<H: HeadHandle>(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: H,
    out: u32,
) -> HostResult<()> {
    let code = version_code(s.get(h)?.version());
    m.u32(out, code)
}

/// `version_set`: sets the message's HTTP version.
pub fn version_set<H: HeadHandle>(
    _m: &mut Mem<'_>,
    s: &mut Session,
    h: H,
    code: u32,
) -> HostResult<()> {
    let version = version_from_code(code)?;
    *s.get_mut(h)?.version_mut() = version;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::testing::{OutBuf, TestGuest};

    /// The client request (headers `host: example.com`, `x-test: one`).
    fn client(g: &TestGuest) -> RequestHandle {
        g.session.downstream_current().unwrap().0
    }

    /// A new response (200, HTTP/1.1) with headers `x-a: 1`, `x-b: 2`,
    /// `x-a: 3`.
    fn response(g: &mut TestGuest) -> ResponseHandle {
        let mut resp = ResponseState::new();
        for (n, v) in [("x-a", "1"), ("x-b", "2"), ("x-a", "3")] {
            resp.parts
                .headers
                .append(HeaderName::from_static(n), HeaderValue::from_static(v));
        }
        g.session.insert(resp)
    }

    /// The values of header `name` of `h`, as text.
    fn values<H: HeadHandle>(g: &TestGuest, h: H, name: &str) -> Vec<String> {
        g.session
            .get(h)
            .unwrap()
            .headers()
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn header_names_get_pages_with_a_cursor_and_answers_buflen() {
        let mut g = TestGuest::new();
        let h = client(&g);
        let ending = g.alloc(8);
        // "host\0" fits in 8 bytes, "x-test\0" does not: continue at 1.
        let out = OutBuf::new(&mut g, 8);
        g.call(|m, s| header_names_get(m, s, h, out.buf, out.max, 0, ending, out.nwritten))
            .unwrap();
        assert_eq!(out.read(&g), b"host\0");
        assert_eq!(g.u64_at(ending) as i64, 1);
        g.call(|m, s| header_names_get(m, s, h, out.buf, out.max, 1, ending, out.nwritten))
            .unwrap();
        assert_eq!(out.read(&g), b"x-test\0");
        assert_eq!(g.u64_at(ending) as i64, -1);
        // Not even the first name fits: BUFLEN with the length it needs.
        let small = OutBuf::new(&mut g, 4);
        let r = g.call(|m, s| {
            header_names_get(m, s, h, small.buf, small.max, 0, ending, small.nwritten)
        });
        assert!(
            matches!(r, Err(HostError::BufferLength { needed: 5 })),
            "{r:?}"
        );
        assert_eq!(g.u32_at(small.nwritten), 5);
        // A response lists each name once.
        let rh = response(&mut g);
        let big = OutBuf::new(&mut g, 64);
        g.call(|m, s| header_names_get(m, s, rh, big.buf, big.max, 0, ending, big.nwritten))
            .unwrap();
        assert_eq!(big.read(&g), b"x-a\0x-b\0");
        assert_eq!(g.u64_at(ending) as i64, -1);
        let dead = ResponseHandle::from(999);
        let r =
            g.call(|m, s| header_names_get(m, s, dead, big.buf, big.max, 0, ending, big.nwritten));
        assert!(matches!(r, Err(HostError::BadHandle(999))), "{r:?}");
    }

    #[test]
    fn header_values_get_lists_every_value_in_order() {
        let mut g = TestGuest::new();
        let h = response(&mut g);
        let out = OutBuf::new(&mut g, 64);
        let ending = g.alloc(8);
        let (np, nl) = g.put(b"x-a");
        g.call(|m, s| {
            header_values_get(m, s, h, np, nl, out.buf, out.max, 0, ending, out.nwritten)
        })
        .unwrap();
        assert_eq!(out.read(&g), b"1\x003\0");
        assert_eq!(g.u64_at(ending) as i64, -1);
        // From cursor 1: the second value only.
        g.call(|m, s| {
            header_values_get(m, s, h, np, nl, out.buf, out.max, 1, ending, out.nwritten)
        })
        .unwrap();
        assert_eq!(out.read(&g), b"3\0");
        // An absent header has no values.
        let (np, nl) = g.put(b"x-none");
        g.call(|m, s| {
            header_values_get(m, s, h, np, nl, out.buf, out.max, 0, ending, out.nwritten)
        })
        .unwrap();
        assert_eq!(out.read(&g), b"");
        assert_eq!(g.u64_at(ending) as i64, -1);
        // On a request.
        let rq = client(&g);
        let (np, nl) = g.put(b"x-test");
        g.call(|m, s| {
            header_values_get(m, s, rq, np, nl, out.buf, out.max, 0, ending, out.nwritten)
        })
        .unwrap();
        assert_eq!(out.read(&g), b"one\0");
        let (np, nl) = g.put(b"bad name");
        let r = g.call(|m, s| {
            header_values_get(m, s, rq, np, nl, out.buf, out.max, 0, ending, out.nwritten)
        });
        assert!(matches!(r, Err(HostError::Invalid(_))), "{r:?}");
    }

    #[test]
    fn header_value_get_answers_the_first_value_or_inval_when_absent() {
        let mut g = TestGuest::new();
        let h = client(&g);
        let out = OutBuf::new(&mut g, 32);
        let (np, nl) = g.put(b"host");
        g.call(|m, s| header_value_get(m, s, h, np, nl, out.buf, out.max, out.nwritten))
            .unwrap();
        assert_eq!(out.read(&g), b"example.com");
        // Too small a buffer: BUFLEN and the length needed.
        let r = g.call(|m, s| header_value_get(m, s, h, np, nl, out.buf, 3, out.nwritten));
        assert!(
            matches!(r, Err(HostError::BufferLength { needed: 11 })),
            "{r:?}"
        );
        assert_eq!(g.u32_at(out.nwritten), 11);
        let (np, nl) = g.put(b"x-none");
        let r = g.call(|m, s| header_value_get(m, s, h, np, nl, out.buf, out.max, out.nwritten));
        assert!(matches!(r, Err(HostError::Invalid(_))), "{r:?}");
        // On a response: the first of several values.
        let rh = response(&mut g);
        let (np, nl) = g.put(b"x-a");
        g.call(|m, s| header_value_get(m, s, rh, np, nl, out.buf, out.max, out.nwritten))
            .unwrap();
        assert_eq!(out.read(&g), b"1");
    }

    #[test]
    fn header_values_set_replaces_with_a_nul_separated_list() {
        let mut g = TestGuest::new();
        let h = response(&mut g);
        let (np, nl) = g.put(b"x-a");
        let (vp, vl) = g.put(b"p\0q\0r\0");
        g.call(|m, s| header_values_set(m, s, h, np, nl, vp, vl))
            .unwrap();
        assert_eq!(values(&g, h, "x-a"), ["p", "q", "r"]);
        assert_eq!(values(&g, h, "x-b"), ["2"]);
        // Without the final NUL, on a request.
        let rq = client(&g);
        let (np, nl) = g.put(b"x-test");
        let (vp, vl) = g.put(b"two\0three");
        g.call(|m, s| header_values_set(m, s, rq, np, nl, vp, vl))
            .unwrap();
        assert_eq!(values(&g, rq, "x-test"), ["two", "three"]);
        // A bad value changes nothing.
        let (vp, vl) = g.put(b"ok\0bad\nvalue\0");
        let r = g.call(|m, s| header_values_set(m, s, rq, np, nl, vp, vl));
        assert!(matches!(r, Err(HostError::Invalid(_))), "{r:?}");
        assert_eq!(values(&g, rq, "x-test"), ["two", "three"]);
    }

    #[test]
    fn header_insert_replaces_and_header_append_adds() {
        let mut g = TestGuest::new();
        let h = response(&mut g);
        let (np, nl) = g.put(b"x-a");
        let (vp, vl) = g.put(b"new");
        g.call(|m, s| header_append(m, s, h, np, nl, vp, vl))
            .unwrap();
        assert_eq!(values(&g, h, "x-a"), ["1", "3", "new"]);
        g.call(|m, s| header_insert(m, s, h, np, nl, vp, vl))
            .unwrap();
        assert_eq!(values(&g, h, "x-a"), ["new"]);
        // On a request, a name it did not have.
        let rq = client(&g);
        let (np, nl) = g.put(b"x-added");
        g.call(|m, s| header_insert(m, s, rq, np, nl, vp, vl))
            .unwrap();
        g.call(|m, s| header_append(m, s, rq, np, nl, vp, vl))
            .unwrap();
        assert_eq!(values(&g, rq, "x-added"), ["new", "new"]);
        let (bp, bl) = g.put(b"bad name");
        let r = g.call(|m, s| header_insert(m, s, rq, bp, bl, vp, vl));
        assert!(matches!(r, Err(HostError::Invalid(_))), "{r:?}");
        let (bp, bl) = g.put(b"bad\r\nvalue");
        let r = g.call(|m, s| header_append(m, s, rq, np, nl, bp, bl));
        assert!(matches!(r, Err(HostError::Invalid(_))), "{r:?}");
        let r = g.call(|m, s| header_append(m, s, RequestHandle::from(999), np, nl, vp, vl));
        assert!(matches!(r, Err(HostError::BadHandle(999))), "{r:?}");
    }

    #[test]
    fn header_remove_removes_every_value_or_is_inval_when_absent() {
        let mut g = TestGuest::new();
        let h = response(&mut g);
        let (np, nl) = g.put(b"x-a");
        g.call(|m, s| header_remove(m, s, h, np, nl)).unwrap();
        assert!(values(&g, h, "x-a").is_empty());
        assert_eq!(values(&g, h, "x-b"), ["2"]);
        let r = g.call(|m, s| header_remove(m, s, h, np, nl));
        assert!(matches!(r, Err(HostError::Invalid(_))), "{r:?}");
        let rq = client(&g);
        let (np, nl) = g.put(b"x-test");
        g.call(|m, s| header_remove(m, s, rq, np, nl)).unwrap();
        assert!(values(&g, rq, "x-test").is_empty());
    }

    #[test]
    fn version_get_and_set_round_trip_codes_0_to_4() {
        let mut g = TestGuest::new();
        let rq = client(&g);
        let rh = response(&mut g);
        let out = g.alloc(4);
        g.call(|m, s| version_get(m, s, rh, out)).unwrap();
        assert_eq!(g.u32_at(out), 2, "a new response is HTTP/1.1");
        for code in 0..=4 {
            g.call(|m, s| version_set(m, s, rq, code)).unwrap();
            g.call(|m, s| version_get(m, s, rq, out)).unwrap();
            assert_eq!(g.u32_at(out), code);
            g.call(|m, s| version_set(m, s, rh, code)).unwrap();
            g.call(|m, s| version_get(m, s, rh, out)).unwrap();
            assert_eq!(g.u32_at(out), code);
        }
        assert_eq!(g.session.get(rh).unwrap().version(), http::Version::HTTP_3);
        let r = g.call(|m, s| version_set(m, s, rh, 9));
        assert!(matches!(r, Err(HostError::Invalid(_))), "{r:?}");
        g.call(|m, s| version_get(m, s, rh, out)).unwrap();
        assert_eq!(g.u32_at(out), 4, "unchanged");
        let r = g.call(|m, s| version_get(m, s, ResponseHandle::from(999), out));
        assert!(matches!(r, Err(HostError::BadHandle(999))), "{r:?}");
    }

    #[test]
    fn thirty_thousand_header_names_stop_at_the_field_limit_without_a_panic() {
        let mut g = TestGuest::new();
        let h = client(&g);
        let (vp, vl) = g.put(b"v");
        let mut refused = 0;
        for i in 0..30_000 {
            let (np, nl) = g.put(format!("x-h-{i}").as_bytes());
            match g.call(|m, s| header_append(m, s, h, np, nl, vp, vl)) {
                Ok(()) => {}
                Err(HostError::LimitExceeded(HostLimit::HeaderFields)) => refused += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(g.session.get(h).unwrap().headers().len(), MAX_HEADER_FIELDS);
        assert_eq!(refused, 30_000 - (MAX_HEADER_FIELDS - 2));
    }

    #[test]
    fn one_large_value_copied_into_many_headers_hits_the_byte_limit() {
        let mut g = TestGuest::new();
        let h = response(&mut g);
        let big = vec![b'a'; 1 << 20];
        let (vp, vl) = g.put(&big);
        let (np, nl) = g.put(b"x-big");
        let mut ok = 0;
        let r = loop {
            match g.call(|m, s| header_append(m, s, h, np, nl, vp, vl)) {
                Ok(()) => ok += 1,
                Err(e) => break e,
            }
        };
        assert!(
            matches!(r, HostError::LimitExceeded(HostLimit::BufferedBytes)),
            "{r}"
        );
        assert_eq!(ok, 63, "64 MiB of header bytes per request");
    }
}

#[cfg(test)]
#[path = "headers_fuzz_tests.rs"]
mod fuzz_tests;
