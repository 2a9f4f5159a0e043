//! Framing headers (`Content-Length`, `Transfer-Encoding`) of the messages
//! a program sends: ours to decide from the body unless the program asks
//! for its own (`framing_headers_mode_set`), and then only when they are
//! valid HTTP/1.1; and whether a client's connection stays open
//! (`http_keepalive_mode_set`).

use super::{HostError, HostResult};
use http::{HeaderMap, header};

/// Who frames a message's body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FramingMode {
    /// From the body: a length when it is known before sending, chunked
    /// otherwise; the program's framing headers are dropped.
    #[default]
    Automatic,
    /// The program's own headers, when they are valid HTTP/1.1.
    FromHeaders,
}

impl FramingMode {
    /// The ABI's `FramingHeadersMode`.
    pub fn from_abi(mode: u32) -> HostResult<Self> {
        match mode {
            0 => Ok(FramingMode::Automatic),
            1 => Ok(FramingMode::FromHeaders),
            _ => Err(HostError::Invalid(format!("framing headers mode {mode}"))),
        }
    }
}

/// Whether the client's connection stays open after a response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum KeepaliveMode {
    /// As the client and the front end agree.
    #[default]
    Automatic,
    /// Closed after this response (`Connection: close` in HTTP/1; HTTP/2
    /// streams are not connections of their own and are unaffected).
    Close,
}

impl KeepaliveMode {
    /// The ABI's `HttpKeepaliveMode`.
    pub fn from_abi(mode: u32) -> HostResult<Self> {
        match mode {
            0 => Ok(KeepaliveMode::Automatic),
            1 => Ok(KeepaliveMode::Close),
            _ => Err(HostError::Invalid(format!("keepalive mode {mode}"))),
        }
    }
}

/// Leaves the program's framing headers in `headers` when `mode` asks for
/// them and they are valid, else removes them so that the body frames the
/// message. The error says why headers asked for were not kept.
pub fn apply(headers: &mut HeaderMap, mode: FramingMode) -> Result<(), String> {
    let verdict = match mode {
        FramingMode::Automatic => Ok(false),
        FramingMode::FromHeaders => valid(headers).map(|()| true),
    };
    if !matches!(verdict, Ok(true)) {
        headers.remove(header::CONTENT_LENGTH);
        headers.remove(header::TRANSFER_ENCODING);
    }
    verdict.map(drop)
}

/// Whether the framing headers are ones HTTP/1.1 permits: one length (or
/// the same one repeated) of decimal digits, or `chunked` alone; not both.
fn valid(headers: &HeaderMap) -> Result<(), String> {
    let lengths: Vec<_> = headers.get_all(header::CONTENT_LENGTH).iter().collect();
    let codings: Vec<_> = headers.get_all(header::TRANSFER_ENCODING).iter().collect();
    match (lengths.as_slice(), codings.as_slice()) {
        ([], []) => Ok(()),
        ([_, ..], [_, ..]) => Err("both Content-Length and Transfer-Encoding".into()),
        ([first, rest @ ..], []) => {
            let digits = |v: &http::HeaderValue| {
                !v.is_empty() && v.len() <= 19 && v.as_bytes().iter().all(u8::is_ascii_digit)
            };
            if !digits(first) {
                return Err(format!("Content-Length {first:?} is not a number"));
            }
            if rest.iter().any(|v| v != first) {
                return Err("Content-Length values differ".into());
            }
            Ok(())
        }
        ([], [only]) if only.as_bytes().eq_ignore_ascii_case(b"chunked") => Ok(()),
        ([], _) => Err("Transfer-Encoding other than `chunked` alone".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn kept(pairs: &[(&str, &str)], mode: FramingMode) -> (Vec<String>, bool) {
        let mut h = headers(pairs);
        let ok = apply(&mut h, mode).is_ok();
        let left = h
            .iter()
            .map(|(n, v)| format!("{n}: {}", v.to_str().unwrap()))
            .collect();
        (left, ok)
    }

    #[test]
    fn automatic_drops_the_programs_framing() {
        let (left, ok) = kept(
            &[("content-length", "5"), ("x-a", "1")],
            FramingMode::Automatic,
        );
        assert_eq!((left, ok), (vec!["x-a: 1".to_owned()], true));
    }

    #[test]
    fn from_headers_keeps_valid_framing() {
        let from = FramingMode::FromHeaders;
        assert_eq!(
            kept(&[("content-length", "5")], from).0,
            ["content-length: 5"]
        );
        assert!(kept(&[("content-length", "5"), ("content-length", "5")], from).1);
        assert_eq!(
            kept(&[("transfer-encoding", "Chunked")], from).0,
            ["transfer-encoding: Chunked"]
        );
    }

    #[test]
    fn from_headers_falls_back_to_automatic_when_invalid() {
        let from = FramingMode::FromHeaders;
        for bad in [
            vec![("content-length", "5"), ("transfer-encoding", "chunked")],
            vec![("content-length", "five")],
            vec![("content-length", "-1")],
            vec![("content-length", "5"), ("content-length", "6")],
            vec![("transfer-encoding", "gzip, chunked")],
        ] {
            let (left, ok) = kept(&bad, from);
            assert!(left.is_empty() && !ok, "{bad:?} left {left:?}");
        }
    }

    #[test]
    fn unknown_modes_are_invalid() {
        assert_eq!(FramingMode::from_abi(1).unwrap(), FramingMode::FromHeaders);
        assert!(FramingMode::from_abi(2).is_err());
        assert_eq!(KeepaliveMode::from_abi(1).unwrap(), KeepaliveMode::Close);
        assert!(KeepaliveMode::from_abi(7).is_err());
    }
}
