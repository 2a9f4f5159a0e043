//! Header and version operations shared by `fastly_http_req` and
//! `fastly_http_resp`.

use super::memory::Mem;
use crate::host::{HostError, HostResult};
use http::{HeaderMap, HeaderName, HeaderValue};

fn name(m: &Mem<'_>, ptr: u32, len: u32) -> HostResult<HeaderName> {
    HeaderName::from_bytes(m.bytes(ptr, len)?)
        .map_err(|_| HostError::Invalid("bad header name".into()))
}

fn value(bytes: &[u8]) -> HostResult<HeaderValue> {
    HeaderValue::from_bytes(bytes).map_err(|_| HostError::Invalid("bad header value".into()))
}

/// `header_names_get`: each name once, in order of first appearance.
pub fn names_get(
    h: &HeaderMap,
    m: &mut Mem<'_>,
    buf: u32,
    len: u32,
    cursor: u32,
    ending: u32,
    nw: u32,
) -> HostResult<()> {
    m.multi_value(
        h.keys().map(|k| k.as_str().as_bytes()),
        buf,
        len,
        cursor,
        ending,
        nw,
    )
}

/// `header_values_get`: every value of one name, in order.
#[allow(clippy::too_many_arguments)]
pub fn values_get(
    h: &HeaderMap,
    m: &mut Mem<'_>,
    np: u32,
    nl: u32,
    buf: u32,
    len: u32,
    cursor: u32,
    ending: u32,
    nw: u32,
) -> HostResult<()> {
    let n = name(m, np, nl)?;
    let values: Vec<Vec<u8>> = h
        .get_all(&n)
        .iter()
        .map(|v| v.as_bytes().to_vec())
        .collect();
    m.multi_value(values, buf, len, cursor, ending, nw)
}

/// `header_value_get`: the first value of one name (`INVAL` when absent,
/// as Fastly answers).
pub fn value_get(
    h: &HeaderMap,
    m: &mut Mem<'_>,
    np: u32,
    nl: u32,
    buf: u32,
    max: u32,
    nw: u32,
) -> HostResult<()> {
    let n = name(m, np, nl)?;
    let v = h
        .get(&n)
        .ok_or(HostError::Invalid("no such header".into()))?
        .as_bytes()
        .to_vec();
    m.out(buf, max, nw, &v)
}

/// `header_values_set`: replaces all values with a NUL-separated list.
pub fn values_set(
    h: &mut HeaderMap,
    m: &Mem<'_>,
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
    h.remove(&n);
    for v in values {
        h.append(n.clone(), v);
    }
    Ok(())
}

/// `header_insert` (replace) and `header_append` (add).
pub fn set(
    h: &mut HeaderMap,
    m: &Mem<'_>,
    np: u32,
    nl: u32,
    vp: u32,
    vl: u32,
    append: bool,
) -> HostResult<()> {
    let n = name(m, np, nl)?;
    let v = value(m.bytes(vp, vl)?)?;
    if append {
        h.append(n, v);
    } else {
        h.insert(n, v);
    }
    Ok(())
}

/// `header_remove`: `INVAL` when the header is absent, as on Fastly.
pub fn remove(h: &mut HeaderMap, m: &Mem<'_>, np: u32, nl: u32) -> HostResult<()> {
    let n = name(m, np, nl)?;
    h.remove(&n)
        .map(drop)
        .ok_or(HostError::Invalid("no such header".into()))
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

/// Registers the header hostcalls of `$module` over the handles in
/// `Session::$table` (requests or responses): one implementation for both.
macro_rules! header_hostcalls {
    ($l:expr, $module:literal, $table:ident) => {
        $crate::abi::hostcall!(
            $l,
            $module,
            "header_names_get",
            |c, h, buf, len, cursor, ending, nw| {
                let (mut m, st) = $crate::abi::split(&mut c)?;
                let headers = &st.session.$table.get(h)?.parts.headers;
                $crate::abi::headers::names_get(headers, &mut m, buf, len, cursor, ending, nw)
            }
        );
        $crate::abi::hostcall!(
            $l,
            $module,
            "header_values_get",
            |c, h, np, nl, buf, len, cursor, ending, nw| {
                let (mut m, st) = $crate::abi::split(&mut c)?;
                let headers = &st.session.$table.get(h)?.parts.headers;
                $crate::abi::headers::values_get(
                    headers, &mut m, np, nl, buf, len, cursor, ending, nw,
                )
            }
        );
        $crate::abi::hostcall!(
            $l,
            $module,
            "header_value_get",
            |c, h, np, nl, buf, max, nw| {
                let (mut m, st) = $crate::abi::split(&mut c)?;
                let headers = &st.session.$table.get(h)?.parts.headers;
                $crate::abi::headers::value_get(headers, &mut m, np, nl, buf, max, nw)
            }
        );
        $crate::abi::hostcall!($l, $module, "header_values_set", |c, h, np, nl, vp, vl| {
            let (m, st) = $crate::abi::split(&mut c)?;
            let headers = &mut st.session.$table.get_mut(h)?.parts.headers;
            $crate::abi::headers::values_set(headers, &m, np, nl, vp, vl)
        });
        $crate::abi::hostcall!($l, $module, "header_insert", |c, h, np, nl, vp, vl| {
            let (m, st) = $crate::abi::split(&mut c)?;
            let headers = &mut st.session.$table.get_mut(h)?.parts.headers;
            $crate::abi::headers::set(headers, &m, np, nl, vp, vl, false)
        });
        $crate::abi::hostcall!($l, $module, "header_append", |c, h, np, nl, vp, vl| {
            let (m, st) = $crate::abi::split(&mut c)?;
            let headers = &mut st.session.$table.get_mut(h)?.parts.headers;
            $crate::abi::headers::set(headers, &m, np, nl, vp, vl, true)
        });
        $crate::abi::hostcall!($l, $module, "header_remove", |c, h, np, nl| {
            let (m, st) = $crate::abi::split(&mut c)?;
            let headers = &mut st.session.$table.get_mut(h)?.parts.headers;
            $crate::abi::headers::remove(headers, &m, np, nl)
        });
        $crate::abi::hostcall!($l, $module, "version_get", |c, h, out| {
            let (mut m, st) = $crate::abi::split(&mut c)?;
            let v = $crate::abi::headers::version_code(st.session.$table.get(h)?.parts.version);
            m.u32(out, v)
        });
        $crate::abi::hostcall!($l, $module, "version_set", |c, h, v| {
            let version = $crate::abi::headers::version_from_code(v)?;
            c.data_mut().session.$table.get_mut(h)?.parts.version = version;
            Ok(())
        });
    };
}
pub(crate) use header_hostcalls;
