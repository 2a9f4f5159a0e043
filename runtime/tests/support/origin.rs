//! A local origin for the cache tests that go through `anywhere edge`:
//! answers by path from a table, counts its requests by path. (The same
//! small server as the one in tests/cache.rs, which drives the cache
//! in-process.) Include it with `#[path = "support/origin.rs"] mod origin;`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// What the origin answers for one path.
#[derive(Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
}

impl Answer {
    /// A 200 with `headers` and `body`.
    pub fn ok(headers: &[(&'static str, &str)], body: impl Into<Bytes>) -> Answer {
        Answer {
            status: 200,
            headers: headers.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            body: body.into(),
        }
    }
}

/// A local origin: answers by path (404 for a path it has no answer for)
/// and counts requests by path.
#[derive(Clone, Default)]
pub struct OriginServer {
    answers: Arc<Mutex<HashMap<String, Answer>>>,
    counts: Arc<Mutex<HashMap<String, usize>>>,
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
                        async move { Ok::<_, std::convert::Infallible>(s.respond(&req)) }
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

    fn respond(
        &self,
        req: &http::Request<hyper::body::Incoming>,
    ) -> http::Response<http_body_util::Full<Bytes>> {
        let path = req.uri().path().to_owned();
        *self.counts.lock().unwrap().entry(path.clone()).or_default() += 1;
        let a = self.answers.lock().unwrap().get(&path).cloned();
        let Some(a) = a else {
            let mut r =
                http::Response::new(http_body_util::Full::new(Bytes::from_static(b"no answer")));
            *r.status_mut() = http::StatusCode::NOT_FOUND;
            return r;
        };
        let mut r = http::Response::new(http_body_util::Full::new(a.body.clone()));
        *r.status_mut() = http::StatusCode::from_u16(a.status).unwrap();
        for (k, v) in &a.headers {
            r.headers_mut().append(*k, v.parse().unwrap());
        }
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

    /// Requests for every path so far.
    pub fn total(&self) -> usize {
        self.counts.lock().unwrap().values().sum()
    }
}
