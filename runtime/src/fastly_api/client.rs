//! [`Client`]: one GET against the API, with the token, the time limits,
//! the size limit and the status → [`ApiError`] mapping every endpoint
//! shares.

use super::conditional::ETag;
use super::error::ApiError;
use super::secret::Secret;
use super::wire::{
    ReadError, error_message, link_has_next, lowest_cause, read_bounded, retry_after, tls_config,
};
use super::{CONNECT_TIMEOUT, MAX_RESPONSE_BYTES, TOTAL_TIMEOUT};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, ETAG, HeaderMap, HeaderValue, IF_NONE_MATCH, LINK};
use std::sync::Arc;

/// A client of the Fastly API for one token. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base_url: Arc<str>,
    token: Secret,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url)
            .field("token", &self.token)
            .finish()
    }
}

/// What a GET brought back.
pub(crate) enum Fetched {
    /// A 2xx with its body.
    Body {
        bytes: Vec<u8>,
        etag: Option<ETag>,
        /// Whether a `Link` header announced a next page.
        has_next: Option<bool>,
    },
    /// A 304 to our `If-None-Match`.
    NotModified,
}

impl Client {
    /// A client of the API at `base_url` (`https://api.fastly.com`, or a
    /// stand-in's `http://127.0.0.1:port`) authenticating with `token`.
    pub fn new(base_url: &str, token: Secret) -> Result<Client, ApiError> {
        let base = check_base_url(base_url)?;
        let bad = |reason: String| ApiError::BadBaseUrl {
            url: base_url.to_owned(),
            reason,
        };
        let mut key = HeaderValue::from_str(token.expose())
            .map_err(|_| bad("the token cannot be sent as a header".into()))?;
        // Keeps the value out of any Debug print of the request's headers.
        key.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert("fastly-key", key);
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let setup = |reason: String| ApiError::ClientSetup { reason };
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config().map_err(|e| setup(e.to_string()))?)
            .default_headers(headers)
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(TOTAL_TIMEOUT)
            // A redirect would carry Fastly-Key to wherever it points.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("fastly-anywhere/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| setup(lowest_cause(&e)))?;
        Ok(Client {
            http,
            base_url: base.into(),
            token,
        })
    }

    /// The base URL, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The full URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// GETs `path_and_query`, conditionally when `etag` is given.
    pub(crate) async fn get(
        &self,
        path_and_query: &str,
        etag: Option<&ETag>,
    ) -> Result<Fetched, ApiError> {
        let url = self.url(path_and_query);
        let mut request = self.http.get(&url);
        if let Some(tag) = etag.and_then(|t| HeaderValue::from_str(t.as_str()).ok()) {
            request = request.header(IF_NONE_MATCH, tag);
        }
        tracing::debug!(%url, conditional = etag.is_some(), "Fastly API GET");
        let mut response = request
            .send()
            .await
            .map_err(|e| self.transport_error(&url, &e))?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED && etag.is_some() {
            return Ok(Fetched::NotModified);
        }
        if !status.is_success() {
            return Err(self.status_error(url, response).await);
        }
        let headers = response.headers();
        let etag = headers
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .and_then(ETag::new);
        let has_next = headers
            .get(LINK)
            .and_then(|v| v.to_str().ok())
            .map(link_has_next);
        let bytes = read_bounded(&mut response, MAX_RESPONSE_BYTES)
            .await
            .map_err(|e| match e {
                ReadError::TooLarge => ApiError::TooLarge {
                    url: url.clone(),
                    limit: MAX_RESPONSE_BYTES,
                },
                ReadError::Transport(e) => self.transport_error(&url, &e),
            })?;
        Ok(Fetched::Body {
            bytes,
            etag,
            has_next,
        })
    }

    /// POSTs `body` (JSON) to `path`; any 2xx is success.
    pub async fn post_json(&self, path: &str, body: Vec<u8>) -> Result<(), ApiError> {
        let url = self.url(path);
        tracing::debug!(%url, bytes = body.len(), "Fastly API POST");
        let response = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| self.transport_error(&url, &e))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(self.status_error(url, response).await)
        }
    }

    /// GETs `path` and parses its JSON body as `T`.
    pub(crate) async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<T, ApiError> {
        match self.get(path, None).await? {
            Fetched::Body { bytes, .. } => self.parse(path, &bytes),
            Fetched::NotModified => Err(ApiError::BadResponse {
                url: self.url(path),
                reason: "304 to an unconditional request".into(),
            }),
        }
    }

    /// Parses a body as `T`, naming the URL when it does not fit.
    pub(crate) fn parse<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        bytes: &[u8],
    ) -> Result<T, ApiError> {
        serde_json::from_slice(bytes).map_err(|e| ApiError::BadResponse {
            url: self.url(path),
            reason: self.redact(&e.to_string()),
        })
    }

    fn transport_error(&self, url: &str, e: &reqwest::Error) -> ApiError {
        if e.is_timeout() {
            let timeout = if e.is_connect() {
                CONNECT_TIMEOUT
            } else {
                TOTAL_TIMEOUT
            };
            return ApiError::Timeout {
                url: url.to_owned(),
                timeout,
            };
        }
        ApiError::Unreachable {
            url: url.to_owned(),
            reason: self.redact(&lowest_cause(e)),
        }
    }

    async fn status_error(&self, url: String, mut response: reqwest::Response) -> ApiError {
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers());
        // Error bodies are small; a bounded read keeps a hostile one so.
        let body = read_bounded(&mut response, 64 * 1024)
            .await
            .unwrap_or_default();
        let message = self.redact(&error_message(&body));
        match status {
            401 | 403 => ApiError::Refused {
                url,
                status,
                message,
            },
            404 => ApiError::NotFound { url, message },
            429 => ApiError::RateLimited { url, retry_after },
            500..=599 => ApiError::Server {
                url,
                status,
                message,
            },
            _ => ApiError::Unexpected {
                url,
                status,
                message,
            },
        }
    }

    /// Removes the token from text that came from elsewhere (an error
    /// body could echo a header).
    fn redact(&self, text: &str) -> String {
        text.replace(self.token.expose(), "***")
    }
}

/// Checks and normalises the base URL (no trailing `/`).
fn check_base_url(base_url: &str) -> Result<String, ApiError> {
    let bad = |reason: &str| ApiError::BadBaseUrl {
        url: base_url.to_owned(),
        reason: reason.to_owned(),
    };
    let url = reqwest::Url::parse(base_url).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(
            "the scheme must be https (or http for a local stand-in)",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("credentials do not belong in the URL"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("a query or fragment does not belong in the base URL"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}
