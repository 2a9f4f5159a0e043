//! Cache keys. A primary key names what was asked for (the program's own
//! key, or the request's Host and URL); a variant key adds the values of
//! the request headers the stored response varies on. Both are SHA-256
//! digests that include the service, so services never share objects.

use sha2::{Digest, Sha256};

/// A primary or variant key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(pub [u8; 32]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in &self.0[..6] {
            write!(f, "{b:02x}")?;
        }
        f.write_str("…")
    }
}

impl Key {
    /// The key of `bytes` given by the program (Core Cache API, or the
    /// `fastly-xqd-cache-key` header of a send), in `service`.
    pub fn custom(service: &str, bytes: &[u8]) -> Key {
        digest(&[b"custom", service.as_bytes(), bytes])
    }

    /// The key of a request for `uri` with `host`, in `service`.
    pub fn http(service: &str, host: &[u8], uri: &str) -> Key {
        digest(&[b"http", service.as_bytes(), host, uri.as_bytes()])
    }

    /// The variant of this primary key for a request with `headers`, under
    /// the `vary` rule (lowercase header names).
    pub fn variant(&self, vary: &[String], headers: &http::HeaderMap) -> Key {
        if vary.is_empty() {
            return *self;
        }
        let mut h = Sha256::new();
        h.update(b"variant");
        h.update(self.0);
        for name in vary {
            h.update(name.as_bytes());
            h.update([0]);
            for value in headers.get_all(name.as_str()) {
                h.update(value.as_bytes());
                h.update([1]);
            }
            h.update([0]);
        }
        Key(h.finalize().into())
    }
}

fn digest(parts: &[&[u8]]) -> Key {
    let mut h = Sha256::new();
    for p in parts {
        // Length-prefixed, so that ("ab", "c") and ("a", "bc") differ.
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    Key(h.finalize().into())
}

/// The `Vary` rule of a response: lowercase header names, sorted, without
/// duplicates; `None` for `Vary: *` (never served from the cache).
pub fn vary_rule(headers: &http::HeaderMap) -> Option<Vec<String>> {
    let mut names: Vec<String> = headers
        .get_all(http::header::VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect();
    if names.iter().any(|n| n == "*") {
        return None;
    }
    names.sort();
    names.dedup();
    Some(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_separate_services_kinds_and_boundaries() {
        assert_ne!(Key::http("a", b"h", "/x"), Key::http("b", b"h", "/x"));
        assert_ne!(Key::http("a", b"h", "/x"), Key::custom("a", b"h/x"));
        assert_ne!(Key::http("a", b"ab", "/c"), Key::http("a", b"a", "b/c"));
        assert_eq!(Key::http("a", b"h", "/x"), Key::http("a", b"h", "/x"));
    }

    #[test]
    fn variants_follow_the_vary_rule() {
        let k = Key::http("s", b"h", "/");
        let mut gzip = http::HeaderMap::new();
        gzip.insert("accept-encoding", http::HeaderValue::from_static("gzip"));
        let none = http::HeaderMap::new();
        let rule = vec!["accept-encoding".to_owned()];
        assert_eq!(k.variant(&[], &gzip), k);
        assert_ne!(k.variant(&rule, &gzip), k.variant(&rule, &none));
        assert_eq!(k.variant(&rule, &gzip), k.variant(&rule, &gzip.clone()));
    }

    #[test]
    fn vary_rules_are_normalised_and_star_is_refused() {
        let mut h = http::HeaderMap::new();
        h.append(
            "vary",
            http::HeaderValue::from_static("Accept-Encoding, cookie"),
        );
        h.append("vary", http::HeaderValue::from_static("accept-encoding"));
        assert_eq!(
            vary_rule(&h),
            Some(vec!["accept-encoding".into(), "cookie".into()])
        );
        h.append("vary", http::HeaderValue::from_static("*"));
        assert_eq!(vary_rule(&h), None);
    }
}
