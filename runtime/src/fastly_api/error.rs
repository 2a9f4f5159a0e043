//! [`ApiError`]: what can go wrong talking to the Fastly API.

use std::time::Duration;

/// A failed call to the Fastly API. Each variant names the URL it called
/// (base URL and path, never the token). [`ApiError::is_transient`] tells
/// the loader which ones to retry.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The base URL is not an `http(s)://host[:port][/path]` URL.
    #[error("{url} is not a usable Fastly API URL: {reason}")]
    BadBaseUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTPS client could not be built (TLS setup).
    #[error("cannot set up the HTTPS client: {reason}")]
    ClientSetup {
        /// Why.
        reason: String,
    },
    /// An id that would change the request's path (a `/`, `?`, `..`).
    #[error("{what} {id:?} is not an id the Fastly API uses (letters, digits, - and _ only)")]
    BadId {
        /// Which id (service, dictionary, config store).
        what: &'static str,
        /// The id.
        id: String,
    },
    /// No connection: DNS, TCP, TLS.
    #[error("cannot reach {url}: {reason}")]
    Unreachable {
        /// What was called.
        url: String,
        /// The lowest-level cause (e.g. `Connection refused`).
        reason: String,
    },
    /// Connected, but no complete answer in time.
    #[error("{url} did not answer within {} s", timeout.as_secs())]
    Timeout {
        /// What was called.
        url: String,
        /// The limit that passed.
        timeout: Duration,
    },
    /// 401 or 403: the token is unknown, revoked, expired, or lacks the
    /// scope or the service access this call needs.
    #[error("{url} refused the token (HTTP {status}): {message}")]
    Refused {
        /// What was called.
        url: String,
        /// 401 or 403.
        status: u16,
        /// Fastly's `msg` (and `detail`), or the start of the body.
        message: String,
    },
    /// 404: no such service, version, dictionary or store (or the token
    /// may not see it).
    #[error("{url}: not found (HTTP 404): {message}")]
    NotFound {
        /// What was called.
        url: String,
        /// Fastly's `msg`, or the start of the body.
        message: String,
    },
    /// 429: too many requests.
    #[error("{url}: rate limited (HTTP 429){}", retry_after.map(|d| format!(", retry after {} s", d.as_secs())).unwrap_or_default())]
    RateLimited {
        /// What was called.
        url: String,
        /// From `Retry-After` or `Fastly-RateLimit-Reset`, when given.
        retry_after: Option<Duration>,
    },
    /// 5xx: the API is failing.
    #[error("{url}: server error (HTTP {status}): {message}")]
    Server {
        /// What was called.
        url: String,
        /// 500..=599.
        status: u16,
        /// Fastly's `msg`, or the start of the body.
        message: String,
    },
    /// Any other status (a 400, a redirect: redirects are not followed so
    /// that the token is never sent to another host).
    #[error("{url}: unexpected HTTP {status}: {message}")]
    Unexpected {
        /// What was called.
        url: String,
        /// The status.
        status: u16,
        /// Fastly's `msg`, or the start of the body.
        message: String,
    },
    /// The service has no active version to load.
    #[error("service {service_id} has no active version")]
    NoActiveVersion {
        /// The service.
        service_id: String,
    },
    /// The response is larger than the client accepts.
    #[error("{url}: the response is larger than {limit} bytes")]
    TooLarge {
        /// What was called.
        url: String,
        /// The limit.
        limit: usize,
    },
    /// The response is not the JSON this endpoint documents.
    #[error("{url}: the response is not what the API documents: {reason}")]
    BadResponse {
        /// What was called.
        url: String,
        /// The parse error.
        reason: String,
    },
}

impl ApiError {
    /// Whether trying again later may succeed without anyone changing
    /// anything: no connection, a timeout, 429 and 5xx. A refused token, a
    /// 404 or a malformed answer need a person.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ApiError::Unreachable { .. }
                | ApiError::Timeout { .. }
                | ApiError::RateLimited { .. }
                | ApiError::Server { .. }
        )
    }

    /// How long the API asked us to wait, for a 429.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}
