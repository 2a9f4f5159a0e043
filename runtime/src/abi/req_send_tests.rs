//! Unit tests of `req_send.rs`, through the in-memory test guest.

use super::*;
use crate::abi::layout::GuestSlice;
use crate::abi::testing::TestGuest;
use crate::config::{BackendConfig, ProjectConfig};
use crate::host::HostLimit;
use crate::host::backends::SendErrorTag;
use crate::host::body::Body;
use crate::host::handles::ResponseHandle;
use crate::host::session::RequestState;
use crate::limits::Limits;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::future::Future;
use std::mem::offset_of;
use std::net::SocketAddr;

/// The longest a test waits on the network.
const PATIENCE: Duration = Duration::from_secs(10);

/// `f`, which must finish within [`PATIENCE`].
async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, f)
        .await
        .expect("finished in time")
}

/// An origin on loopback. It reads each request to its end, then
/// answers `200`, `x-origin: yes` and a body describing the request:
/// `METHOD PATH?QUERY host=HOST body=BODY`.
async fn start_origin() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = hyper::service::service_fn(
                |req: http::Request<hyper::body::Incoming>| async move {
                    let (parts, body) = req.into_parts();
                    let body = body.collect().await?.to_bytes();
                    let host = parts.headers.get("host").map(|h| h.to_str().unwrap());
                    let text = format!(
                        "{} {} host={} body={}",
                        parts.method,
                        parts.uri.path_and_query().unwrap(),
                        host.unwrap_or_default(),
                        String::from_utf8_lossy(&body)
                    );
                    let resp = http::Response::builder()
                        .header("x-origin", "yes")
                        .body(Full::new(Bytes::from(text)))
                        .unwrap();
                    Ok::<_, hyper::Error>(resp)
                },
            );
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
            );
        }
    });
    addr
}

/// A loopback port nothing listens on (bound, then let go).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A guest with backends `origin` (at `origin`) and `closed` (a
/// loopback port nothing listens on).
fn guest(origin: SocketAddr) -> TestGuest {
    let mut config = ProjectConfig::default();
    let url = format!("http://{origin}").parse().unwrap();
    config
        .backends
        .insert("origin".into(), BackendConfig::new(url));
    let url = format!("http://127.0.0.1:{}", closed_port())
        .parse()
        .unwrap();
    config
        .backends
        .insert("closed".into(), BackendConfig::new(url));
    TestGuest::with_config(config)
}

/// A new request `method path` and a body holding `body`.
fn request(
    g: &mut TestGuest,
    method: &str,
    path: &str,
    body: &'static str,
) -> (RequestHandle, BodyHandle) {
    let mut req = RequestState::new();
    req.parts.method = method.parse().unwrap();
    req.parts.uri = path.parse().unwrap();
    (
        g.session.insert(req),
        g.session.insert(Body::from_bytes(body)),
    )
}

/// Where a send writes its answer.
struct Answer {
    /// The response handle.
    resp: u32,
    /// The response body handle.
    body: u32,
    /// The send error detail (filled with 0xff beforehand).
    detail: u32,
}

impl Answer {
    fn new(g: &mut TestGuest) -> Self {
        let resp = g.alloc(4);
        let body = g.alloc(4);
        let (detail, _) = g.put(&[0xff; 16]);
        Answer { resp, body, detail }
    }

    /// The status and body text of the response the send answered,
    /// which must come from the origin.
    async fn read(&self, g: &mut TestGuest) -> (u16, String) {
        let rh = ResponseHandle::from(g.u32_at(self.resp));
        let bh = BodyHandle::from(g.u32_at(self.body));
        let resp = g.session.get(rh).unwrap();
        assert_eq!(resp.parts.headers.get("x-origin").unwrap(), "yes");
        let status = resp.parts.status.as_u16();
        let body = bounded(g.read_body(bh)).await;
        (status, String::from_utf8(body).unwrap())
    }
}

/// Starts `send_async` of a new request `method path` with `body` to
/// backend `backend`; the pending request.
fn send_async_new(
    g: &mut TestGuest,
    backend: &str,
    method: &str,
    path: &str,
    body: &'static str,
) -> PendingRequestHandle {
    let (req, bh) = request(g, method, path, body);
    let (bp, bl) = g.put(backend.as_bytes());
    let out = g.alloc(4);
    g.call(|m, s| send_async(m, s, req, bh, bp, bl, out))
        .unwrap();
    assert!(!g.session.contains(req) && !g.session.contains(bh));
    PendingRequestHandle::from(g.u32_at(out))
}

/// Writes `fields` (byte offset, little-endian u32) into an otherwise
/// zero `DynamicBackendConfig` in guest memory; its address.
fn backend_config(g: &mut TestGuest, fields: &[(usize, u32)]) -> u32 {
    let mut raw = vec![0u8; size_of::<DynamicBackendConfig>()];
    for (at, v) in fields {
        raw[*at..*at + 4].copy_from_slice(&v.to_le_bytes());
    }
    g.put(&raw).0
}

#[tokio::test]
async fn send_answers_the_origin_response_through_handles() {
    let origin = start_origin().await;
    let mut g = guest(origin);
    let (req, body) = request(&mut g, "POST", "/hello?x=1", "ping");
    let (bp, bl) = g.put(b"origin");
    let a = Answer::new(&mut g);
    bounded(send(&mut g, req, body, bp, bl, a.resp, a.body))
        .await
        .unwrap();
    assert!(!g.session.contains(req) && !g.session.contains(body));
    let (status, text) = a.read(&mut g).await;
    assert_eq!(status, 200);
    assert_eq!(text, format!("POST /hello?x=1 host={origin} body=ping"));
    // The request is gone: sending it again is BADF.
    let r = bounded(send(&mut g, req, body, bp, bl, a.resp, a.body)).await;
    assert!(matches!(r, Err(HostError::BadHandle(_))), "{r:?}");
}

#[tokio::test]
async fn send_v2_to_an_unknown_backend_is_inval_and_keeps_the_request() {
    let mut g = guest(start_origin().await);
    let (req, body) = request(&mut g, "GET", "/", "");
    let (bp, bl) = g.put(b"nope");
    let a = Answer::new(&mut g);
    let r = bounded(send_v2(&mut g, req, body, bp, bl, a.detail, a.resp, a.body)).await;
    assert!(matches!(r, Err(HostError::Invalid(_))), "{r:?}");
    assert!(g.session.contains(req) && g.session.contains(body));
}

#[tokio::test]
async fn send_v2_writes_ok_or_the_error_detail_of_a_refused_connection() {
    let origin = start_origin().await;
    let mut g = guest(origin);
    let (req, body) = request(&mut g, "GET", "/refused", "");
    let (bp, bl) = g.put(b"closed");
    let a = Answer::new(&mut g);
    let r = bounded(send_v2(&mut g, req, body, bp, bl, a.detail, a.resp, a.body)).await;
    match &r {
        Err(HostError::Send(e)) => assert_eq!(e.tag, SendErrorTag::ConnectionRefused, "{e}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        crate::abi::status(r),
        fastly_shared::FastlyStatus::ERROR.code
    );
    assert_eq!(g.u32_at(a.detail), SendErrorTag::ConnectionRefused as u32);
    assert_eq!(g.u32_at(a.detail + 4), 0, "mask");
    assert_eq!(g.u32_at(a.resp), INVALID);
    assert_eq!(g.u32_at(a.body), INVALID);
    // A success writes tag 1 (ok).
    let (req, body) = request(&mut g, "GET", "/fine", "");
    let (bp, bl) = g.put(b"origin");
    bounded(send_v2(&mut g, req, body, bp, bl, a.detail, a.resp, a.body))
        .await
        .unwrap();
    assert_eq!(g.u32_at(a.detail), 1);
    assert_eq!(g.u32_at(a.detail + 4), 0);
    let (status, text) = a.read(&mut g).await;
    assert_eq!(
        (status, text.as_str()),
        (200, &*format!("GET /fine host={origin} body="))
    );
}

#[tokio::test]
async fn send_async_then_pending_req_wait_answers_the_response() {
    let origin = start_origin().await;
    let mut g = guest(origin);
    let ph = send_async_new(&mut g, "origin", "PUT", "/async", "data");
    let a = Answer::new(&mut g);
    bounded(pending_req_wait(&mut g, ph, a.resp, a.body))
        .await
        .unwrap();
    let (status, text) = a.read(&mut g).await;
    assert_eq!(status, 200);
    assert_eq!(text, format!("PUT /async host={origin} body=data"));
    // The pending request is used up.
    let r = bounded(pending_req_wait(&mut g, ph, a.resp, a.body)).await;
    assert!(matches!(r, Err(HostError::BadHandle(_))), "{r:?}");
}

#[tokio::test]
async fn send_async_then_pending_req_poll_until_done() {
    let origin = start_origin().await;
    let mut g = guest(origin);
    let ph = send_async_new(&mut g, "origin", "GET", "/polled", "");
    let a = Answer::new(&mut g);
    let done = g.alloc(4);
    // The send task has not run yet (this runtime has one thread and
    // the test has not yielded): not done.
    g.call(|m, s| pending_req_poll(m, s, ph, done, a.resp, a.body))
        .unwrap();
    assert_eq!(g.u32_at(done), 0);
    assert_eq!(g.u32_at(a.resp), INVALID);
    assert_eq!(g.u32_at(a.body), INVALID);
    let mut polls = 0;
    loop {
        g.call(|m, s| pending_req_poll(m, s, ph, done, a.resp, a.body))
            .unwrap();
        if g.u32_at(done) == 1 {
            break;
        }
        assert_eq!(g.u32_at(a.resp), INVALID);
        polls += 1;
        assert!(polls < 1000, "still pending after 1000 polls");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, text) = a.read(&mut g).await;
    assert_eq!(status, 200);
    assert_eq!(text, format!("GET /polled host={origin} body="));
    let r = g.call(|m, s| pending_req_poll(m, s, ph, done, a.resp, a.body));
    assert!(matches!(r, Err(HostError::BadHandle(_))), "{r:?}");
}

#[tokio::test]
async fn pending_req_select_answers_the_first_to_finish() {
    let origin = start_origin().await;
    let mut g = guest(origin);
    // A streaming send whose body stays open: the origin reads to the
    // end before answering, so this one cannot finish first.
    let (req, body) = request(&mut g, "POST", "/slow", "first ");
    let (bp, bl) = g.put(b"origin");
    let out = g.alloc(4);
    g.call(|m, s| send_async_streaming(m, s, req, body, bp, bl, out))
        .unwrap();
    let slow = PendingRequestHandle::from(g.u32_at(out));
    assert!(!g.session.contains(req));
    assert!(g.session.contains(body), "a streaming body stays open");
    let fast = send_async_new(&mut g, "origin", "GET", "/fast", "");
    let mut list = Vec::new();
    for h in [slow, fast] {
        list.extend_from_slice(&u32::from(h).to_le_bytes());
    }
    let (hp, _) = g.put(&list);
    let index = g.alloc(4);
    let a = Answer::new(&mut g);
    bounded(pending_req_select(&mut g, hp, 2, index, a.resp, a.body))
        .await
        .unwrap();
    assert_eq!(g.u32_at(index), 1);
    let (_, text) = a.read(&mut g).await;
    assert_eq!(text, format!("GET /fast host={origin} body="));
    assert!(g.session.contains(slow) && !g.session.contains(fast));
    // Finish the slow one's body; then it answers.
    let mut streaming = g.session.take(body).unwrap();
    bounded(streaming.write(Bytes::from_static(b"then more"), false))
        .await
        .unwrap();
    streaming.close().await;
    bounded(pending_req_wait(&mut g, slow, a.resp, a.body))
        .await
        .unwrap();
    let (_, text) = a.read(&mut g).await;
    assert_eq!(
        text,
        format!("POST /slow host={origin} body=first then more")
    );
    // Selecting among no requests is INVAL.
    let r = bounded(pending_req_select(&mut g, hp, 0, index, a.resp, a.body)).await;
    assert!(matches!(r, Err(HostError::Invalid(_))), "{r:?}");
}

#[tokio::test]
async fn send_async_v2_streams_the_body_when_asked() {
    let origin = start_origin().await;
    let mut g = guest(origin);
    let (bp, bl) = g.put(b"origin");
    let out = g.alloc(4);
    let a = Answer::new(&mut g);
    // Streaming: the body handle stays open for more writes.
    let (req, body) = request(&mut g, "POST", "/streamed", "start ");
    g.call(|m, s| send_async_v2(m, s, req, body, bp, bl, 1, out))
        .unwrap();
    let ph = PendingRequestHandle::from(g.u32_at(out));
    assert!(!g.session.contains(req) && g.session.contains(body));
    let mut streaming = g.session.take(body).unwrap();
    bounded(streaming.write(Bytes::from_static(b"end"), false))
        .await
        .unwrap();
    streaming.close().await;
    bounded(pending_req_wait(&mut g, ph, a.resp, a.body))
        .await
        .unwrap();
    let (_, text) = a.read(&mut g).await;
    assert_eq!(text, format!("POST /streamed host={origin} body=start end"));
    // Not streaming: the body goes with the request.
    let (req, body) = request(&mut g, "PUT", "/whole", "all of it");
    g.call(|m, s| send_async_v2(m, s, req, body, bp, bl, 0, out))
        .unwrap();
    let ph = PendingRequestHandle::from(g.u32_at(out));
    assert!(!g.session.contains(req) && !g.session.contains(body));
    bounded(pending_req_wait(&mut g, ph, a.resp, a.body))
        .await
        .unwrap();
    let (_, text) = a.read(&mut g).await;
    assert_eq!(text, format!("PUT /whole host={origin} body=all of it"));
}

#[tokio::test]
async fn register_dynamic_backend_reads_the_masked_fields() {
    let origin = start_origin().await;
    let mut g = guest(origin);
    let (hp, hl) = g.put(b"dyn.example");
    let host_override = offset_of!(DynamicBackendConfig, host_override);
    let cfg = backend_config(
        &mut g,
        &[
            (host_override + offset_of!(GuestSlice, ptr), hp),
            (host_override + offset_of!(GuestSlice, len), hl),
            (offset_of!(DynamicBackendConfig, connect_timeout_ms), 1234),
            // Not in the mask: ignored.
            (offset_of!(DynamicBackendConfig, first_byte_timeout_ms), 777),
        ],
    );
    let mask = options::HOST_OVERRIDE | options::CONNECT_TIMEOUT;
    let (np, nl) = g.put(b"dyn");
    let (tp, tl) = g.put(origin.to_string().as_bytes());
    g.call(|m, s| register_dynamic_backend(m, s, np, nl, tp, tl, mask, cfg))
        .unwrap();
    let mut want = BackendConfig::new(format!("http://{origin}").parse().unwrap());
    want.dynamic = true;
    want.override_host = Some("dyn.example".into());
    want.connect_timeout = Duration::from_millis(1234);
    let got = g.session.env().backends.get("dyn").unwrap();
    assert_eq!(got.config, want);
    assert_eq!(got.config.first_byte_timeout, Duration::from_secs(15));
    // A name taken, by a dynamic or a static backend, is INVAL.
    let r = g.call(|m, s| register_dynamic_backend(m, s, np, nl, tp, tl, mask, cfg));
    assert!(matches!(r, Err(HostError::Invalid(_))), "{r:?}");
    let (sp, sl) = g.put(b"origin");
    let r = g.call(|m, s| register_dynamic_backend(m, s, sp, sl, tp, tl, mask, cfg));
    assert!(matches!(r, Err(HostError::Invalid(_))), "{r:?}");
    // Requests to it go to the origin with the overriding Host.
    let (req, body) = request(&mut g, "GET", "/dynamic", "");
    let a = Answer::new(&mut g);
    bounded(send(&mut g, req, body, np, nl, a.resp, a.body))
        .await
        .unwrap();
    let (_, text) = a.read(&mut g).await;
    assert_eq!(text, "GET /dynamic host=dyn.example body=");
}

#[test]
fn register_dynamic_backend_rejects_an_unknown_tls_version() {
    let mut g = guest(([127, 0, 0, 1], closed_port()).into());
    let (tp, tl) = g.put(b"tls.example:443");
    let mask = options::USE_SSL | options::SSL_MIN_VERSION;
    let min = offset_of!(DynamicBackendConfig, ssl_min_version);
    let bad = backend_config(&mut g, &[(min, 9)]);
    let (np, nl) = g.put(b"bad-tls");
    let r = g.call(|m, s| register_dynamic_backend(m, s, np, nl, tp, tl, mask, bad));
    assert!(matches!(r, Err(HostError::Invalid(_))), "{r:?}");
    assert!(g.session.env().backends.get("bad-tls").is_none());
    // Code 3 is TLS 1.3.
    let good = backend_config(&mut g, &[(min, 3)]);
    let (np, nl) = g.put(b"tls");
    g.call(|m, s| register_dynamic_backend(m, s, np, nl, tp, tl, mask, good))
        .unwrap();
    let got = g.session.env().backends.get("tls").unwrap();
    assert!(got.config.is_tls());
    assert_eq!(got.config.tls.min_version, Some(13));
    assert_eq!(got.config.tls.max_version, None);
}

#[tokio::test]
async fn backend_requests_per_execution_are_limited() {
    let mut g = guest(start_origin().await);
    let limit = Limits::default().backend_requests;
    assert!(limit > 0);
    // The limit is counted before connecting: failed sends count too.
    for _ in 0..limit {
        send_async_new(&mut g, "closed", "GET", "/", "");
    }
    let (req, body) = request(&mut g, "GET", "/", "");
    let (bp, bl) = g.put(b"closed");
    let out = g.alloc(4);
    let r = g.call(|m, s| send_async(m, s, req, body, bp, bl, out));
    assert!(
        matches!(
            r,
            Err(HostError::LimitExceeded(
                HostLimit::BackendRequestsPerExecution
            ))
        ),
        "{r:?}"
    );
    assert!(g.session.contains(req) && g.session.contains(body));
    let a = Answer::new(&mut g);
    let (bp, bl) = g.put(b"origin");
    let r = bounded(send(&mut g, req, body, bp, bl, a.resp, a.body)).await;
    assert!(
        matches!(
            r,
            Err(HostError::LimitExceeded(
                HostLimit::BackendRequestsPerExecution
            ))
        ),
        "{r:?}"
    );
}
