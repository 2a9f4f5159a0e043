//! TLS facts the Ingress forwards: TLS ends there, so the POP learns the
//! client's protocol, cipher, server name and fingerprints only from
//! request headers the Ingress sets (values `clientAddress.tlsHeaders`).
//! They are believed from a trusted proxy only, and taken off every request
//! either way, so that a client cannot pass its own off as the Ingress's
//! and programs do not see the POP's plumbing.

use http::{HeaderMap, HeaderName};

/// What the Ingress said about the client's TLS connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForwardedTls {
    /// `TLSv1.3` and the like.
    pub protocol: Option<String>,
    /// The cipher's OpenSSL name.
    pub cipher: Option<String>,
    /// The SNI server name.
    pub server_name: Option<String>,
    /// The JA3 fingerprint's MD5 (from 32 hex digits).
    pub ja3_md5: Option<[u8; 16]>,
    /// The JA4 fingerprint.
    pub ja4: Option<String>,
}

/// The request headers that carry [`ForwardedTls`]; none by default.
#[derive(Debug, Clone, Default)]
pub struct TlsHeaderNames {
    protocol: Option<HeaderName>,
    cipher: Option<HeaderName>,
    server_name: Option<HeaderName>,
    ja3_md5: Option<HeaderName>,
    ja4: Option<HeaderName>,
}

impl TlsHeaderNames {
    /// From values' `clientAddress.tlsHeaders`; errors name the key.
    pub fn new(v: &values_schema::values::TlsHeaders) -> Result<Self, String> {
        let name = |key: &str, n: &Option<String>| -> Result<Option<HeaderName>, String> {
            n.as_deref()
                .filter(|n| !n.is_empty())
                .map(|n| {
                    HeaderName::from_bytes(n.as_bytes()).map_err(|_| {
                        format!("clientAddress.tlsHeaders.{key}: `{n}` is not a header name")
                    })
                })
                .transpose()
        };
        Ok(TlsHeaderNames {
            protocol: name("protocol", &v.protocol)?,
            cipher: name("cipher", &v.cipher)?,
            server_name: name("serverName", &v.server_name)?,
            ja3_md5: name("ja3Md5", &v.ja3_md5)?,
            ja4: name("ja4", &v.ja4)?,
        })
    }

    /// Takes the headers off `headers`; what they said when `trusted`.
    pub fn take(&self, headers: &mut HeaderMap, trusted: bool) -> ForwardedTls {
        let mut text = |name: &Option<HeaderName>| {
            let value = headers.remove(name.as_ref()?)?;
            let text = value.to_str().ok()?.trim().to_owned();
            (trusted && !text.is_empty()).then_some(text)
        };
        ForwardedTls {
            protocol: text(&self.protocol),
            cipher: text(&self.cipher),
            server_name: text(&self.server_name),
            ja3_md5: text(&self.ja3_md5).and_then(|h| md5_hex(&h)),
            ja4: text(&self.ja4),
        }
    }
}

/// 32 hex digits as 16 bytes.
fn md5_hex(text: &str) -> Option<[u8; 16]> {
    if text.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use values_schema::values::TlsHeaders;

    fn names() -> TlsHeaderNames {
        TlsHeaderNames::new(&TlsHeaders {
            protocol: Some("X-TLS-Protocol".into()),
            cipher: Some("x-tls-cipher".into()),
            server_name: None,
            ja3_md5: Some("x-ja3".into()),
            ja4: Some(String::new()),
        })
        .unwrap()
    }

    fn headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-tls-protocol", "TLSv1.3".parse().unwrap());
        h.insert("x-tls-cipher", "TLS_AES_128_GCM_SHA256".parse().unwrap());
        h.insert("x-ja3", "0123456789abcdef0123456789ABCDEF".parse().unwrap());
        h.insert("x-other", "kept".parse().unwrap());
        h
    }

    #[test]
    fn a_trusted_proxys_headers_are_believed_and_taken_off() {
        let mut h = headers();
        let tls = names().take(&mut h, true);
        assert_eq!(tls.protocol.as_deref(), Some("TLSv1.3"));
        assert_eq!(tls.cipher.as_deref(), Some("TLS_AES_128_GCM_SHA256"));
        assert_eq!(tls.server_name, None);
        assert_eq!(tls.ja3_md5.unwrap()[..2], [0x01, 0x23]);
        assert_eq!(tls.ja3_md5.unwrap()[15], 0xef);
        assert_eq!(h.len(), 1, "only x-other is left: {h:?}");
    }

    #[test]
    fn anyone_elses_are_taken_off_and_ignored() {
        let mut h = headers();
        assert_eq!(names().take(&mut h, false), ForwardedTls::default());
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn bad_names_and_fingerprints_are_refused() {
        let bad = TlsHeaders {
            protocol: Some("bad name".into()),
            ..TlsHeaders::default()
        };
        let e = TlsHeaderNames::new(&bad).unwrap_err();
        assert!(e.contains("clientAddress.tlsHeaders.protocol"), "{e}");
        assert_eq!(md5_hex("zz"), None);
        assert_eq!(md5_hex(&"g".repeat(32)), None);
    }
}
