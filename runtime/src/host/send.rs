//! Sending a request the program built to a backend: taking the request
//! and body out of their handles, through the HTTP cache unless the send
//! is uncached or passes, now or in the background, and turning the
//! outcome into response and body handles.

use super::backends::{Backend, SendError, SendErrorTag, gunzip_if, send_to};
use super::body::{Body, OutgoingBody, StreamBody, boxed};
use super::handles::{BodyHandle, PendingRequestHandle, RequestHandle, ResponseHandle};
use super::session::{PendingRequest, ResponseState, SendOutcome, Session};
use super::{HostError, HostResult};
use crate::cache::Cache;
use crate::cache::freshness::Overrides;
use crate::cache::key::Key;
use crate::cache::readthrough::{Origin, OriginFailure, ReadRequest, Served, cacheable_request};
use http::{HeaderValue, header};
use std::sync::Arc;

/// The request header a program sets its own cache key with (the SDKs
/// write the key's bytes in hex).
pub const CACHE_KEY_HEADER: &str = "fastly-xqd-cache-key";

/// How a send treats the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendMode {
    /// Through the readthrough cache (`send`, `send_v2`, `send_async`).
    Cached,
    /// The program's body is still being written (`send_async_streaming`):
    /// never looked up.
    Streaming,
    /// Straight to the backend, ignoring overrides (`send_v3`,
    /// `send_async_v2`).
    Uncached {
        /// The program keeps writing the body.
        streaming: bool,
    },
}

/// A request taken out of its handles, ready to go.
pub struct PreparedSend {
    backend: Arc<Backend>,
    request: http::Request<OutgoingBody>,
    gunzip: bool,
    cache: Option<(Cache, String, Overrides)>,
}

impl PreparedSend {
    /// Sends it (through the cache when it may) and waits for the head.
    pub async fn send(self) -> SendOutcome {
        let Some((cache, service, overrides)) = self.cache else {
            return send_to(&self.backend, self.request, self.gunzip).await;
        };
        let (mut parts, body) = self.request.into_parts();
        let primary = primary_key(&service, &self.backend, &mut parts);
        let keep_surrogate = keeps_surrogate_headers(&parts.headers);
        let read = ReadRequest {
            service,
            primary,
            parts,
            overrides,
        };
        let served = cache.readthrough(read, origin(self.backend.clone())).await;
        let resp = match served {
            Ok(Served::Cached(resp)) => resp.map(boxed),
            Ok(Served::Origin(resp)) => miss_headers(resp.map(boxed)),
            Ok(Served::Pass(parts)) => {
                let req = http::Request::from_parts(*parts, body);
                miss_headers(self.backend.send(req).await?)
            }
            Err(f) => {
                return Err(SendError {
                    tag: SendErrorTag::from_code(f.code),
                    message: f.message,
                });
            }
        };
        let mut resp = gunzip_if(resp, self.gunzip);
        if !keep_surrogate {
            resp.headers_mut().remove("surrogate-key");
            resp.headers_mut().remove("surrogate-control");
        }
        Ok(resp)
    }
}

/// The backend as the cache's origin: a body-less request, its response
/// or its classified failure.
fn origin(backend: Arc<Backend>) -> Origin {
    Arc::new(move |parts| {
        let backend = backend.clone();
        Box::pin(async move {
            let req = http::Request::from_parts(parts, OutgoingBody::default());
            backend.send(req).await.map_err(|e| OriginFailure {
                code: e.tag as u32,
                message: e.message,
            })
        })
    })
}

/// The key a send is cached under: the program's (`fastly-xqd-cache-key`,
/// taken off the request), or Host and URL.
fn primary_key(service: &str, backend: &Backend, parts: &mut http::request::Parts) -> Key {
    if let Some(custom) = parts.headers.remove(CACHE_KEY_HEADER) {
        // The SDKs send the key's bytes in hex; the HTTP cache API gets the
        // same bytes raw, so both paths find one object.
        let raw = hex_bytes(custom.as_bytes());
        return Key::custom(service, raw.as_deref().unwrap_or(custom.as_bytes()));
    }
    request_key(service, parts, Some(backend))
}

/// The key of a request by Host and URL. The Host is the one the backend
/// will receive: its override, the request's, or the backend's own.
pub fn request_key(service: &str, parts: &http::request::Parts, backend: Option<&Backend>) -> Key {
    let override_host = backend.and_then(|b| b.config.override_host.as_deref());
    let host = match (override_host, parts.headers.get(header::HOST)) {
        (Some(h), _) => h.to_ascii_lowercase(),
        (None, Some(h)) => String::from_utf8_lossy(h.as_bytes()).to_ascii_lowercase(),
        (None, None) => parts
            .uri
            .authority()
            .or(backend.and_then(|b| b.config.url.authority()))
            .map(|a| a.as_str().to_ascii_lowercase())
            .unwrap_or_default(),
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    Key::http(service, host.as_bytes(), path)
}

/// The bytes of an even-length hex string.
fn hex_bytes(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}

/// Whether the program sees `Surrogate-Key` and `Surrogate-Control` (it
/// asked with `Fastly-FF` or `Fastly-Debug`, as at Fastly).
fn keeps_surrogate_headers(headers: &http::HeaderMap) -> bool {
    headers.contains_key("fastly-ff") || headers.contains_key("fastly-debug")
}

/// What the cache did not answer is a miss to the program.
fn miss_headers(mut resp: http::Response<StreamBody>) -> http::Response<StreamBody> {
    let h = resp.headers_mut();
    h.insert("x-cache", HeaderValue::from_static("MISS"));
    h.insert("x-cache-hits", HeaderValue::from_static("0"));
    resp
}

impl Session {
    /// Takes request `req` and body `body` for sending to `backend`. A
    /// streaming send leaves `body` open for the program to write to.
    pub fn prepare_send(
        &mut self,
        backend: &str,
        req: RequestHandle,
        body: BodyHandle,
        mode: SendMode,
    ) -> HostResult<PreparedSend> {
        let backend = self
            .env()
            .backends
            .get(backend)
            .ok_or_else(|| HostError::Invalid(format!("no backend named `{backend}`")))?;
        if !self.contains(req) {
            return Err(HostError::BadHandle(req.into()));
        }
        if !self.contains(body) {
            return Err(HostError::BadHandle(body.into()));
        }
        self.count_backend_request()?;
        let state = self.take(req)?;
        let b = self.take(body)?;
        let streaming = matches!(
            mode,
            SendMode::Streaming | SendMode::Uncached { streaming: true }
        );
        let outgoing = if streaming {
            let (handle_body, out) = b.into_streaming();
            self.put(body, handle_body);
            out
        } else {
            b.into_outgoing()
        };
        let cache = match (&self.env().cache, mode) {
            (Some(cache), SendMode::Cached)
                if cacheable_request(&state.parts.method, &state.cache_override) =>
            {
                Some((cache.clone(), self.env().name.clone(), state.cache_override))
            }
            _ => None,
        };
        let mut parts = state.parts;
        if let Err(why) = super::framing::apply(&mut parts.headers, state.framing) {
            tracing::debug!(service = %self.env().name, "request framing headers not kept: {why}");
        }
        Ok(PreparedSend {
            backend,
            request: http::Request::from_parts(parts, outgoing),
            gunzip: state.auto_decompress_gzip,
            cache,
        })
    }

    /// Sends in the background; the handle of the pending request.
    pub fn start_send(&mut self, prepared: PreparedSend) -> PendingRequestHandle {
        let task = tokio::spawn(prepared.send());
        self.insert(PendingRequest::Running(task))
    }

    /// The outcome of pending request `h` if it has finished (the handle is
    /// then closed), or `None` while it runs.
    pub fn poll_pending(&mut self, h: PendingRequestHandle) -> HostResult<Option<SendOutcome>> {
        let ready = match self.get(h)? {
            PendingRequest::Done(_) => true,
            PendingRequest::Running(task) => task.is_finished(),
        };
        if !ready {
            return Ok(None);
        }
        let outcome = match self.take(h)? {
            PendingRequest::Done(o) => o,
            PendingRequest::Running(task) => futures::FutureExt::now_or_never(task)
                .ok_or(HostError::Again)?
                .unwrap_or_else(|e| {
                    Err(SendError {
                        tag: SendErrorTag::InternalError,
                        message: e.to_string(),
                    })
                }),
        };
        Ok(Some(outcome))
    }

    /// Gives a successful backend response handles for its head and body.
    pub fn accept_response(
        &mut self,
        resp: http::Response<StreamBody>,
    ) -> (ResponseHandle, BodyHandle) {
        let (parts, body) = resp.into_parts();
        // The connector records the origin's address on the response.
        let remote_addr = parts
            .extensions
            .get::<hyper_util::client::legacy::connect::HttpInfo>()
            .map(|info| info.remote_addr());
        let rh = self.insert(ResponseState {
            parts,
            remote_addr,
            ..ResponseState::new()
        });
        let bh = self.insert(Body::from_stream(body));
        (rh, bh)
    }
}
