//! How long a backend response may be served from the cache, read from its
//! headers the way Fastly reads them, then adjusted by the program's
//! overrides.
//!
//! Precedence of the time to live: `Surrogate-Control: max-age`, then
//! `Cache-Control: s-maxage`, then `Cache-Control: max-age`, then
//! `Expires` (against `Date`), then a default of one hour. A response is
//! not stored when its status is not one Fastly caches by default, when it
//! sets a cookie, or when `Cache-Control` says `private`, `no-store` or
//! `no-cache` (unless `Surrogate-Control` gives a `max-age`, which is meant
//! for the cache alone). The program's overrides win over all of this;
//! its surrogate keys add to the response's.

use http::{HeaderMap, StatusCode, header};
use std::time::{Duration, SystemTime};

/// The time to live of a response that says nothing about it.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);

/// Statuses stored by default.
const CACHEABLE_STATUSES: [u16; 7] = [200, 203, 300, 301, 302, 404, 410];

/// What the program asked for with `cache_override_*`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// Never look up or store: straight to the backend.
    pub pass: bool,
    /// Time to live instead of the headers'.
    pub ttl: Option<Duration>,
    /// Stale-while-revalidate instead of the headers'.
    pub stale_while_revalidate: Option<Duration>,
    /// Surrogate keys added to the `Surrogate-Key` header's.
    pub surrogate_keys: Vec<String>,
    /// Sensitive data (PCI): never written to disk.
    pub pci: bool,
}

/// Why a response is not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uncacheable {
    /// A status Fastly does not cache by default.
    Status(u16),
    /// `Set-Cookie`.
    SetCookie,
    /// `Cache-Control: private`, `no-store` or `no-cache`.
    CacheControl,
    /// A time to live of zero.
    ZeroTtl,
}

/// How long a stored response stays fresh and may be served stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Freshness {
    /// Fresh for this long after it was generated.
    pub max_age: Duration,
    /// Age it already had when it arrived (`Age`).
    pub initial_age: Duration,
    /// Served stale while one revalidation runs, for this long after
    /// `max_age`.
    pub stale_while_revalidate: Duration,
    /// Served stale when the backend fails, for this long after `max_age`.
    pub stale_if_error: Duration,
    /// Purge groups.
    pub surrogate_keys: Vec<String>,
    /// Kept in memory only.
    pub sensitive: bool,
}

/// The directives of one `Cache-Control`-like header.
#[derive(Debug, Default)]
struct Directives {
    max_age: Option<u64>,
    s_maxage: Option<u64>,
    stale_while_revalidate: Option<u64>,
    stale_if_error: Option<u64>,
    private: bool,
    no_store: bool,
    no_cache: bool,
}

fn directives(headers: &HeaderMap, name: &str) -> Directives {
    let mut d = Directives::default();
    for value in headers.get_all(name) {
        let Ok(text) = value.to_str() else { continue };
        for item in text.split(',') {
            let (key, arg) = match item.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim().trim_matches('"'))),
                None => (item.trim(), None),
            };
            let seconds = arg.and_then(|v| v.parse::<u64>().ok());
            match key.to_ascii_lowercase().as_str() {
                "max-age" => d.max_age = d.max_age.or(seconds),
                "s-maxage" => d.s_maxage = d.s_maxage.or(seconds),
                "stale-while-revalidate" => {
                    d.stale_while_revalidate = d.stale_while_revalidate.or(seconds);
                }
                "stale-if-error" => d.stale_if_error = d.stale_if_error.or(seconds),
                "private" => d.private = true,
                "no-store" => d.no_store = true,
                "no-cache" => d.no_cache = true,
                _ => {}
            }
        }
    }
    d
}

fn date(headers: &HeaderMap, name: header::HeaderName) -> Option<SystemTime> {
    let text = headers.get(name)?.to_str().ok()?;
    httpdate::parse_http_date(text).ok()
}

/// The `Age` header, in seconds.
pub fn age_header(headers: &HeaderMap) -> Duration {
    let secs = headers
        .get(header::AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    Duration::from_secs(secs)
}

/// The `Surrogate-Key` header's keys.
pub fn surrogate_key_header(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all("surrogate-key")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(str::split_ascii_whitespace)
        .map(str::to_owned)
        .collect()
}

/// The freshness of a response with `status` and `headers`, or why it is
/// not stored.
pub fn freshness(
    status: StatusCode,
    headers: &HeaderMap,
    overrides: &Overrides,
) -> Result<Freshness, Uncacheable> {
    if !CACHEABLE_STATUSES.contains(&status.as_u16()) {
        return Err(Uncacheable::Status(status.as_u16()));
    }
    let surrogate = directives(headers, "surrogate-control");
    let cache_control = directives(headers, "cache-control");
    let initial_age = age_header(headers);
    let max_age = match overrides.ttl {
        // The override counts from when the response arrived.
        Some(ttl) => ttl + initial_age,
        None => {
            if headers.contains_key(header::SET_COOKIE) {
                return Err(Uncacheable::SetCookie);
            }
            let forbidden =
                cache_control.private || cache_control.no_store || cache_control.no_cache;
            if forbidden && surrogate.max_age.is_none() {
                return Err(Uncacheable::CacheControl);
            }
            header_ttl(headers, &surrogate, &cache_control)
        }
    };
    if max_age.is_zero() {
        return Err(Uncacheable::ZeroTtl);
    }
    let secs = |v: Option<u64>| Duration::from_secs(v.unwrap_or(0));
    let stale_while_revalidate = overrides.stale_while_revalidate.unwrap_or_else(|| {
        secs(
            surrogate
                .stale_while_revalidate
                .or(cache_control.stale_while_revalidate),
        )
    });
    Ok(Freshness {
        max_age,
        initial_age,
        stale_while_revalidate,
        stale_if_error: secs(surrogate.stale_if_error.or(cache_control.stale_if_error)),
        surrogate_keys: {
            let mut keys = surrogate_key_header(headers);
            keys.extend(overrides.surrogate_keys.iter().cloned());
            keys.dedup();
            keys
        },
        sensitive: overrides.pci,
    })
}

/// What the headers suggest for a response, stored or not: its freshness,
/// or, when it may not be stored, a max age of zero with the rest as the
/// headers give it (the HTTP cache API reports both).
pub fn suggestion(status: StatusCode, headers: &HeaderMap, overrides: &Overrides) -> Freshness {
    freshness(status, headers, overrides).unwrap_or_else(|_| {
        let mut keys = surrogate_key_header(headers);
        keys.extend(overrides.surrogate_keys.iter().cloned());
        Freshness {
            max_age: Duration::ZERO,
            initial_age: age_header(headers),
            stale_while_revalidate: Duration::ZERO,
            stale_if_error: Duration::ZERO,
            surrogate_keys: keys,
            sensitive: overrides.pci,
        }
    })
}

fn header_ttl(headers: &HeaderMap, surrogate: &Directives, cache_control: &Directives) -> Duration {
    if let Some(s) = surrogate
        .max_age
        .or(cache_control.s_maxage)
        .or(cache_control.max_age)
    {
        return Duration::from_secs(s);
    }
    if let Some(expires) = date(headers, header::EXPIRES) {
        let now = date(headers, header::DATE).unwrap_or_else(SystemTime::now);
        return expires.duration_since(now).unwrap_or(Duration::ZERO);
    }
    if headers.contains_key(header::EXPIRES) {
        // An Expires that does not parse (often "0" or "-1") means expired.
        return Duration::ZERO;
    }
    DEFAULT_TTL
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap_or(header::WARNING),
                http::HeaderValue::from_str(v).unwrap_or(http::HeaderValue::from_static("x")),
            );
        }
        h
    }

    fn ttl(pairs: &[(&str, &str)]) -> Result<u64, Uncacheable> {
        freshness(StatusCode::OK, &headers(pairs), &Overrides::default())
            .map(|f| f.max_age.as_secs())
    }

    #[test]
    fn surrogate_control_beats_s_maxage_beats_max_age_beats_expires() {
        let expires = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(500));
        let all = [
            ("surrogate-control", "max-age=40"),
            ("cache-control", "s-maxage=30, max-age=20"),
            ("expires", expires.as_str()),
        ];
        assert_eq!(ttl(&all), Ok(40));
        assert_eq!(ttl(&all[1..]), Ok(30));
        assert_eq!(ttl(&[("cache-control", "max-age=20")]), Ok(20));
        let from_expires = ttl(&all[2..]).unwrap_or(0);
        assert!((498..=500).contains(&from_expires), "{from_expires}");
        assert_eq!(ttl(&[]), Ok(3600));
        assert_eq!(ttl(&[("expires", "0")]), Err(Uncacheable::ZeroTtl));
    }

    #[test]
    fn private_no_store_no_cache_and_cookies_are_not_stored() {
        for cc in ["private", "no-store", "no-cache", "max-age=60, private"] {
            assert_eq!(
                ttl(&[("cache-control", cc)]),
                Err(Uncacheable::CacheControl),
                "{cc}"
            );
        }
        assert_eq!(
            ttl(&[
                ("cache-control", "private"),
                ("surrogate-control", "max-age=9")
            ]),
            Ok(9)
        );
        assert_eq!(ttl(&[("set-cookie", "a=b")]), Err(Uncacheable::SetCookie));
        assert_eq!(
            ttl(&[("cache-control", "max-age=0")]),
            Err(Uncacheable::ZeroTtl)
        );
    }

    #[test]
    fn statuses_outside_the_default_set_are_not_stored() {
        for (code, stored) in [
            (200, true),
            (404, true),
            (410, true),
            (500, false),
            (206, false),
            (304, false),
        ] {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
            let got = freshness(status, &HeaderMap::new(), &Overrides::default());
            assert_eq!(got.is_ok(), stored, "{code}");
        }
    }

    #[test]
    fn stale_windows_age_and_keys_come_from_headers() {
        let f = freshness(
            StatusCode::OK,
            &headers(&[
                (
                    "cache-control",
                    "max-age=10, stale-while-revalidate=20, stale-if-error=30",
                ),
                ("age", "4"),
                ("surrogate-key", "a  b"),
                ("surrogate-key", "c"),
            ]),
            &Overrides::default(),
        );
        let f = f.unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(f.stale_while_revalidate, Duration::from_secs(20));
        assert_eq!(f.stale_if_error, Duration::from_secs(30));
        assert_eq!(f.initial_age, Duration::from_secs(4));
        assert_eq!(f.surrogate_keys, ["a", "b", "c"]);
    }

    #[test]
    fn overrides_win_over_headers() {
        let o = Overrides {
            ttl: Some(Duration::from_secs(7)),
            stale_while_revalidate: Some(Duration::from_secs(3)),
            surrogate_keys: vec!["k".into()],
            pci: true,
            ..Overrides::default()
        };
        let h = headers(&[
            ("cache-control", "private"),
            ("surrogate-key", "x"),
            ("age", "2"),
        ]);
        let f = freshness(StatusCode::OK, &h, &o).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            f.max_age,
            Duration::from_secs(9),
            "the TTL counts from arrival"
        );
        assert_eq!(f.stale_while_revalidate, Duration::from_secs(3));
        assert_eq!(
            f.surrogate_keys,
            ["x", "k"],
            "override keys add to the header's"
        );
        assert!(f.sensitive);
    }
}
