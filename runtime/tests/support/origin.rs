//! A local origin for the cache tests: answers by path from a table,
//! counts its requests by path, remembers the last request headers, and
//! answers 304 to an `If-None-Match` that matches the answer's `ETag`.
//! Include it with `#[path = "support/origin.rs"] mod origin;`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The origin's response bodies.
pub type OriginBody = BoxBody<Bytes, Infallible>;

/// What the origin answers for one path.
#[derive(Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
    /// Sends the body in pieces of this many bytes with this pause before
    /// each but the first (with a `Content-Length`); `None`: at once.
    pub pace: Option<(usize, Duration)>,
    /// Waits this long before answering.
    pub delay: Duration,
}

impl Answer {
    /// A 200 with `headers` and `body`.
    pub fn ok(headers: &[(&'static str, &str)], body: impl Into<Bytes>) -> Answer {
        Answer {
            status: 200,
            headers: headers.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            body: body.into(),
            pace: None,
            delay: Duration::ZERO,
        }
    }

    /// The same answer with another status.
    pub fn status(mut self, status: u16) -> Answer {
        self.status = status;
        self
    }

    /// The same answer, sent after `delay`.
    pub fn delayed(mut self, delay: Duration) -> Answer {
        self.delay = delay;
        self
    }

    /// The same answer, its body sent `piece` bytes at a time with `pause`
    /// between pieces.
    pub fn paced(mut self, piece: usize, pause: Duration) -> Answer {
        self.pace = Some((piece.max(1), pause));
        self
    }
}

/// A local origin: answers by path (404 for a path it has no answer for)
/// and counts requests by path.
#[derive(Clone, Default)]
pub struct OriginServer {
    answers: Arc<Mutex<HashMap<String, Answer>>>,
    counts: Arc<Mutex<HashMap<String, usize>>>,
    last_headers: Arc<Mutex<HashMap<String, http::HeaderMap>>>,
}

impl OriginServer {
    /// Listens on a loopback port.
    pub async fn start() -> (OriginServer, SocketAddr) {
        let server = OriginServer::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let s = server.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let s = s.clone();
                let svc =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let s = s.clone();
                        async move { Ok::<_, Infallible>(s.respond(&req).await) }
                    });
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        (server, addr)
    }

    async fn respond(
        &self,
        req: &http::Request<hyper::body::Incoming>,
    ) -> http::Response<OriginBody> {
        let path = req.uri().path().to_owned();
        *self.counts.lock().unwrap().entry(path.clone()).or_default() += 1;
        self.last_headers
            .lock()
            .unwrap()
            .insert(path.clone(), req.headers().clone());
        let a = self.answers.lock().unwrap().get(&path).cloned();
        let Some(a) = a else {
            let mut r = http::Response::new(Full::new(Bytes::from_static(b"no answer")).boxed());
            *r.status_mut() = http::StatusCode::NOT_FOUND;
            return r;
        };
        tokio::time::sleep(a.delay).await;
        let etag = a
            .headers
            .iter()
            .find(|(k, _)| *k == "etag")
            .map(|(_, v)| v.as_str());
        let inm = req
            .headers()
            .get("if-none-match")
            .and_then(|v| v.to_str().ok());
        if etag.is_some() && inm == etag {
            let mut r = http::Response::new(Full::new(Bytes::new()).boxed());
            *r.status_mut() = http::StatusCode::NOT_MODIFIED;
            for (k, v) in &a.headers {
                r.headers_mut().append(*k, v.parse().unwrap());
            }
            return r;
        }
        let body = match a.pace {
            None => Full::new(a.body.clone()).boxed(),
            Some((piece, pause)) => {
                let pieces = futures::stream::unfold(
                    (a.body.clone(), true),
                    move |(mut rest, first)| async move {
                        if rest.is_empty() {
                            return None;
                        }
                        if !first {
                            tokio::time::sleep(pause).await;
                        }
                        let piece = rest.split_to(piece.min(rest.len()));
                        Some((Ok(http_body::Frame::data(piece)), (rest, false)))
                    },
                );
                StreamBody::new(pieces).boxed()
            }
        };
        let mut r = http::Response::new(body);
        *r.status_mut() = http::StatusCode::from_u16(a.status).unwrap();
        for (k, v) in &a.headers {
            r.headers_mut().append(*k, v.parse().unwrap());
        }
        r.headers_mut()
            .insert(http::header::CONTENT_LENGTH, a.body.len().into());
        r
    }

    /// Answers `a` for `path` from now on.
    pub fn set(&self, path: &str, a: Answer) {
        self.answers.lock().unwrap().insert(path.into(), a);
    }

    /// Requests for `path` so far.
    pub fn count(&self, path: &str) -> usize {
        self.counts.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    /// The headers of the last request for `path`.
    pub fn last_headers(&self, path: &str) -> http::HeaderMap {
        self.last_headers
            .lock()
            .unwrap()
            .get(path)
            .cloned()
            .unwrap_or_default()
    }

    /// Requests for every path so far.
    pub fn total(&self) -> usize {
        self.counts.lock().unwrap().values().sum()
    }
}
