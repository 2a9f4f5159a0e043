//! What crosses the wire, below the endpoints: TLS setup, bodies read
//! within a size limit, Fastly's error bodies, `Link` and rate-limit
//! headers.

use reqwest::header::{HeaderMap, RETRY_AFTER};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// rustls with the ring provider and the Mozilla roots compiled in: the
/// runtime image has no CA bundle of its own to trust.
pub fn tls_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let roots = rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The innermost error's text (`Connection refused (os error 111)`), which
/// says more than reqwest's outer "error sending request".
pub fn lowest_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// Why a body could not be read.
pub(super) enum ReadError {
    /// Longer than the limit.
    TooLarge,
    /// The connection failed midway.
    Transport(reqwest::Error),
}

/// The body, refused as soon as it passes `limit` bytes (before reading
/// when `Content-Length` says so).
pub(super) async fn read_bounded(
    response: &mut reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, ReadError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(ReadError::TooLarge);
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(ReadError::Transport)? {
        if bytes.len() + chunk.len() > limit {
            return Err(ReadError::TooLarge);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Fastly's error bodies are `{"msg": "...", "detail": "..."}`; anything
/// else is quoted up to 200 characters, on one line.
pub(crate) fn error_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct FastlyError {
        msg: Option<String>,
        detail: Option<String>,
    }
    let text = match serde_json::from_slice::<FastlyError>(body) {
        Ok(FastlyError {
            msg: Some(msg),
            detail: Some(detail),
        }) if !detail.is_empty() => {
            format!("{msg} ({detail})")
        }
        Ok(FastlyError { msg: Some(msg), .. }) => msg,
        _ => String::from_utf8_lossy(body).into_owned(),
    };
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    let one_line = one_line.trim();
    if one_line.is_empty() {
        "no details".into()
    } else {
        one_line.to_owned()
    }
}

/// Whether a `Link` header has a `rel="next"` entry.
pub(crate) fn link_has_next(link: &str) -> bool {
    link.split(',').any(|entry| {
        entry.split(';').skip(1).any(|param| {
            let param = param.trim().to_ascii_lowercase();
            param == "rel=\"next\"" || param == "rel=next"
        })
    })
}

/// `Retry-After` (seconds) or `Fastly-RateLimit-Reset` (Unix seconds).
pub(super) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let number =
        |name: &str| -> Option<u64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
    if let Some(secs) = number(RETRY_AFTER.as_str()) {
        return Some(Duration::from_secs(secs));
    }
    let reset = number("fastly-ratelimit-reset")?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(reset.saturating_sub(now)))
}
