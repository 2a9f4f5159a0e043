//! The cache in front of a program's backend sends (Fastly's readthrough
//! cache): lookups by key and Vary, fresh hits, stale-while-revalidate in
//! the background, revalidation with ETag and Last-Modified, stale-if-error,
//! collapsed misses, byte ranges and conditional requests answered from
//! stored objects, and `X-Cache` / `X-Cache-Hits` / `Age` on what it
//! serves.

use super::Cache;
use super::body::{BodyError, CacheBody, byte_range};
use super::fill::{Fill, FillHead, Fills, ResponseHead};
use super::freshness::{Overrides, freshness};
use super::key::{Key, vary_rule};
use super::lookup::Found;
use super::object::{ObjectMeta, Staleness, StoredHead, now_ms};
use super::writer::WriteOp;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::oneshot;

/// How long a key whose response was not cacheable skips collapsing
/// (Fastly's "hit-for-pass").
const HIT_FOR_PASS_MS: u64 = 120_000;

/// A failed backend request, as the host classified it.
#[derive(Debug, Clone)]
pub struct OriginFailure {
    /// The host's error code (its send error tag).
    pub code: u32,
    /// For logs.
    pub message: String,
}

/// A backend response body.
pub type OriginBody = UnsyncBoxBody<Bytes, BodyError>;
/// A backend request in flight.
pub type OriginFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<OriginBody>, OriginFailure>> + Send>>;
/// Sends a request (with an empty body) to the backend.
pub type Origin = Arc<dyn Fn(http::request::Parts) -> OriginFuture + Send + Sync>;

/// A send the program made, as the cache sees it.
#[derive(Debug)]
pub struct ReadRequest {
    /// The service.
    pub service: String,
    /// The primary key (custom, or Host and URL).
    pub primary: Key,
    /// The request as the program built it.
    pub parts: http::request::Parts,
    /// The program's `cache_override`.
    pub overrides: Overrides,
}

/// What the cache made of a send.
#[derive(Debug)]
pub enum Served {
    /// Answered from the cache (a hit, or a fill this request shares).
    Cached(http::Response<CacheBody>),
    /// The backend's own response, not stored.
    Origin(http::Response<OriginBody>),
    /// Not for the cache: send the request yourself.
    Pass(Box<http::request::Parts>),
}

/// The readthrough cache's shared state.
pub struct HttpState {
    fills: Fills<OriginFailure>,
    pass_until: quick_cache::sync::Cache<Key, u64>,
}

impl Default for HttpState {
    fn default() -> Self {
        HttpState {
            fills: Fills::default(),
            pass_until: quick_cache::sync::Cache::new(1 << 16),
        }
    }
}

impl Cache {
    /// Remembers that `primary`'s responses are not cacheable for `ttl`
    /// (hit-for-pass).
    pub fn record_uncacheable(&self, primary: Key, ttl: std::time::Duration) {
        let until = now_ms() + ttl.as_millis() as u64;
        self.inner.http.pass_until.insert(primary, until);
    }

    /// True while `primary` is recorded as not cacheable.
    pub fn is_hit_for_pass(&self, primary: &Key) -> bool {
        self.inner
            .http
            .pass_until
            .get(primary)
            .is_some_and(|until| until > now_ms())
    }
}

/// Whether a send may use the cache at all.
pub fn cacheable_request(method: &Method, overrides: &Overrides) -> bool {
    !overrides.pass && (method == Method::GET || method == Method::HEAD)
}

impl Cache {
    /// Answers `req` from the cache, sharing a fill with concurrent misses,
    /// or says to pass.
    pub async fn readthrough(
        &self,
        req: ReadRequest,
        origin: Origin,
    ) -> Result<Served, OriginFailure> {
        let metrics = &self.inner.metrics;
        if !cacheable_request(&req.parts.method, &req.overrides) {
            metrics.lookup(&req.service, "pass");
            return Ok(Served::Pass(Box::new(req.parts)));
        }
        let rule = self.inner.index.vary_rule(&req.primary).unwrap_or_default();
        let variant = req.primary.variant(&rule, &req.parts.headers);
        let now = now_ms();
        let mut stale = None;
        if let Some(found) = self
            .lookup(&variant)
            .await
            .filter(|f| f.meta.head.is_some())
        {
            match found.meta.staleness(now) {
                Staleness::Fresh => {
                    metrics.lookup(&req.service, "hit");
                    return Ok(Served::Cached(respond_from(&found, &req.parts, now)));
                }
                Staleness::WithinRevalidate => {
                    metrics.lookup(&req.service, "stale");
                    self.start_fill(&req, variant, Some(found.clone()), origin, None);
                    return Ok(Served::Cached(respond_from(&found, &req.parts, now)));
                }
                Staleness::WithinError | Staleness::Expired => stale = Some(found),
            }
        }
        // A program that sets a TTL wants the object stored whatever the
        // key's last response said.
        let hit_for_pass = req.overrides.ttl.is_none()
            && (self.inner.http.pass_until.get(&req.primary)).is_some_and(|until| until > now);
        if hit_for_pass {
            metrics.lookup(&req.service, "pass");
            return Ok(Served::Pass(Box::new(req.parts)));
        }
        let (creator_tx, creator_rx) = oneshot::channel();
        let (fill, created) = self.start_fill(&req, variant, stale, origin, Some(creator_tx));
        if !created {
            metrics
                .collapsed
                .get_or_create(&crate::metrics::Metrics::service(&req.service))
                .inc();
        }
        match fill.head().await {
            FillHead::Streaming(head) => {
                metrics.lookup(&req.service, "miss");
                Ok(Served::Cached(respond_from_fill(&fill, &head, &req.parts)))
            }
            FillHead::Object(found) => {
                metrics.lookup(&req.service, "revalidated");
                Ok(Served::Cached(respond_from(&found, &req.parts, now_ms())))
            }
            FillHead::Uncacheable if created => match creator_rx.await {
                Ok(resp) => {
                    metrics.lookup(&req.service, "pass");
                    Ok(Served::Origin(resp))
                }
                Err(_) => Err(OriginFailure {
                    code: 0,
                    message: "the cache fill ended without a response".into(),
                }),
            },
            FillHead::Uncacheable => {
                metrics.lookup(&req.service, "pass");
                Ok(Served::Pass(Box::new(req.parts)))
            }
            FillHead::Failed(e) => Err(e),
        }
    }

    /// Joins the fill of `variant`, starting it when there is none.
    fn start_fill(
        &self,
        req: &ReadRequest,
        variant: Key,
        stale: Option<Found>,
        origin: Origin,
        creator: Option<oneshot::Sender<http::Response<OriginBody>>>,
    ) -> (Arc<Fill<OriginFailure>>, bool) {
        let (fill, created) = self.inner.http.fills.join(variant);
        if created {
            let job = FillJob {
                service: req.service.clone(),
                primary: req.primary,
                variant,
                request_headers: req.parts.headers.clone(),
                origin_request: origin_request(&req.parts, stale.as_ref()),
                stale,
                overrides: req.overrides.clone(),
            };
            tokio::spawn(self.clone().run_fill(fill.clone(), job, origin, creator));
        }
        (fill, created)
    }

    async fn run_fill(
        self,
        fill: Arc<Fill<OriginFailure>>,
        job: FillJob,
        origin: Origin,
        creator: Option<oneshot::Sender<http::Response<OriginBody>>>,
    ) {
        let sent = origin(job.origin_request.clone()).await;
        let usable_on_error = job
            .stale
            .as_ref()
            .filter(|s| s.meta.staleness(now_ms()) != Staleness::Expired);
        match sent {
            Err(e) => match usable_on_error {
                Some(stale) => {
                    self.inner.metrics.lookup(&job.service, "stale_if_error");
                    fill.set_head(FillHead::Object(stale.clone()));
                }
                None => fill.set_head(FillHead::Failed(e)),
            },
            Ok(resp) if resp.status() == StatusCode::NOT_MODIFIED && job.stale.is_some() => {
                if let Some(stale) = job.stale.clone() {
                    let found = self.revalidated(&job, stale, resp.headers());
                    fill.set_head(FillHead::Object(found));
                }
            }
            Ok(resp) if resp.status().is_server_error() && usable_on_error.is_some() => {
                if let Some(stale) = usable_on_error {
                    self.inner.metrics.lookup(&job.service, "stale_if_error");
                    fill.set_head(FillHead::Object(stale.clone()));
                }
            }
            Ok(resp) => self.store_response(&fill, &job, resp, creator).await,
        }
        self.inner.http.fills.done(&job.variant, &fill);
    }

    /// A 304 refreshed a stale object: new headers and freshness, same body.
    fn revalidated(&self, job: &FillJob, stale: Found, fresh_headers: &HeaderMap) -> Found {
        let mut meta = (*stale.meta).clone();
        let (status, mut headers) = meta
            .head
            .as_ref()
            .map(StoredHead::to_http)
            .unwrap_or_default();
        for (name, value) in fresh_headers {
            if !matches!(
                *name,
                header::CONTENT_LENGTH | header::TRANSFER_ENCODING | header::CONTENT_ENCODING
            ) {
                headers.insert(name.clone(), value.clone());
            }
        }
        let Ok(f) = freshness(status, &headers, &job.overrides) else {
            return stale; // no longer storable: serve it this once
        };
        strip_hop_headers(&mut headers);
        meta.head = Some(StoredHead::from_parts(status, &headers));
        meta.set_freshness(&f);
        let meta = Arc::new(meta);
        if let Some(w) = &self.inner.writer
            && !meta.sensitive
        {
            w.try_send(WriteOp::Update {
                key: stale.key,
                meta: Box::new((*meta).clone()),
            });
        }
        self.inner.index.update_hot(&stale.key, meta.clone());
        stale.with_meta(meta)
    }

    /// Streams a backend response to the fill's waiters and, when it may be
    /// stored, into the cache.
    async fn store_response(
        &self,
        fill: &Arc<Fill<OriginFailure>>,
        job: &FillJob,
        resp: http::Response<OriginBody>,
        creator: Option<oneshot::Sender<http::Response<OriginBody>>>,
    ) {
        let (parts, mut body) = resp.into_parts();
        let storable = freshness(parts.status, &parts.headers, &job.overrides)
            .ok()
            .zip(vary_rule(&parts.headers));
        let Some((f, rule)) = storable else {
            let until = now_ms() + HIT_FOR_PASS_MS;
            self.inner.http.pass_until.insert(job.primary, until);
            if let Some(tx) = creator {
                let _ = tx.send(http::Response::from_parts(parts, body));
            }
            fill.set_head(FillHead::Uncacheable);
            return;
        };
        let mut headers = parts.headers;
        strip_hop_headers(&mut headers);
        headers.remove(header::AGE);
        let store_key = job.primary.variant(&rule, &job.request_headers);
        let mut writer = self.begin_write(store_key, f.sensitive);
        fill.set_head(FillHead::Streaming(Arc::new(ResponseHead {
            status: parts.status,
            headers: headers.clone(),
        })));
        loop {
            match body.frame().await {
                None => break,
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        fill.push(data.clone());
                        writer.write(data).await;
                    }
                }
                Some(Err(e)) => {
                    fill.end(Err(format!("backend body: {e}")));
                    writer.abort();
                    return;
                }
            }
        }
        fill.end(Ok(()));
        let mut meta = ObjectMeta {
            object_id: 0,
            service: job.service.clone(),
            primary: job.primary.0,
            length: 0,
            chunks: 0,
            stored_at_ms: 0,
            initial_age_ms: 0,
            max_age_ms: 0,
            swr_ms: 0,
            sie_ms: 0,
            surrogate_keys: Vec::new(),
            vary: rule,
            user_metadata: Vec::new(),
            head: Some(StoredHead::from_parts(parts.status, &headers)),
            invalidated: false,
            sensitive: false,
        };
        meta.set_freshness(&f);
        if writer.finish(meta).await.is_some() {
            self.refresh_gauges();
        }
    }
}

/// What a fill needs.
struct FillJob {
    service: String,
    primary: Key,
    variant: Key,
    request_headers: HeaderMap,
    origin_request: http::request::Parts,
    stale: Option<Found>,
    overrides: Overrides,
}

/// The request a fill sends: a GET for the whole object (never the
/// client's range or conditions), conditional on the stale object's
/// validators when there is one.
pub fn origin_request(parts: &http::request::Parts, stale: Option<&Found>) -> http::request::Parts {
    let mut req = http::Request::new(());
    *req.method_mut() = Method::GET;
    *req.uri_mut() = parts.uri.clone();
    *req.version_mut() = parts.version;
    let mut headers = parts.headers.clone();
    for h in [
        header::RANGE,
        header::IF_RANGE,
        header::IF_NONE_MATCH,
        header::IF_MODIFIED_SINCE,
        header::IF_MATCH,
        header::IF_UNMODIFIED_SINCE,
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
    ] {
        headers.remove(h);
    }
    if let Some(head) = stale.and_then(|s| s.meta.head.as_ref()) {
        let validators = [
            ("etag", header::IF_NONE_MATCH),
            ("last-modified", header::IF_MODIFIED_SINCE),
        ];
        for (have, ask) in validators {
            if let Some(v) = head
                .header(have)
                .and_then(|v| HeaderValue::from_bytes(v).ok())
            {
                headers.insert(ask, v);
            }
        }
    }
    *req.headers_mut() = headers;
    req.into_parts().0
}

fn strip_hop_headers(headers: &mut HeaderMap) {
    for h in [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
    ] {
        headers.remove(h);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
}

/// A hit: the stored response with `Age`, `X-Cache` and `X-Cache-Hits`.
fn respond_from(found: &Found, req: &http::request::Parts, now: u64) -> http::Response<CacheBody> {
    let hits = found.record_hit();
    let mut resp = stored_response(found, req, now, true);
    let h = resp.headers_mut();
    h.insert("x-cache", HeaderValue::from_static("HIT"));
    h.insert("x-cache-hits", HeaderValue::from(hits));
    resp
}

/// A stored response with its `Age`; for a client (`for_client`), HEAD
/// gets no body, a range a 206 and a matching `If-None-Match` a 304.
pub fn stored_response(
    found: &Found,
    req: &http::request::Parts,
    now: u64,
    for_client: bool,
) -> http::Response<CacheBody> {
    let (status, mut headers) = found
        .meta
        .head
        .as_ref()
        .map(StoredHead::to_http)
        .unwrap_or_default();
    headers.insert(
        header::AGE,
        HeaderValue::from(found.meta.age(now).as_secs()),
    );
    let length = found.meta.length;
    if !for_client {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        return build(status, headers, found.body());
    }
    if not_modified(status, &headers, req) {
        headers.remove(header::CONTENT_LENGTH);
        return build(StatusCode::NOT_MODIFIED, headers, CacheBody::empty());
    }
    shape(status, headers, req, Some(length), || found.body())
}

/// A client's `If-None-Match` that matches a 200's `ETag` gets a 304,
/// whether the object is stored or still arriving.
fn not_modified(status: StatusCode, headers: &HeaderMap, req: &http::request::Parts) -> bool {
    match (
        headers.get(header::ETAG),
        req.headers.get(header::IF_NONE_MATCH),
    ) {
        (Some(etag), Some(inm)) => status == StatusCode::OK && etag_matches(inm, etag),
        _ => false,
    }
}

/// A miss this request shares: the fill's head, its body as it arrives.
fn respond_from_fill(
    fill: &Arc<Fill<OriginFailure>>,
    head: &ResponseHead,
    req: &http::request::Parts,
) -> http::Response<CacheBody> {
    let mut headers = head.headers.clone();
    headers.insert(header::AGE, HeaderValue::from_static("0"));
    headers.insert("x-cache", HeaderValue::from_static("MISS"));
    headers.insert("x-cache-hits", HeaderValue::from_static("0"));
    if not_modified(head.status, &headers, req) {
        headers.remove(header::CONTENT_LENGTH);
        return build(StatusCode::NOT_MODIFIED, headers, CacheBody::empty());
    }
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    shape(head.status, headers, req, length, || fill.body())
}

/// HEAD gets no body; a satisfiable single `Range` on a 200 of known
/// length gets a 206 (an unsatisfiable one a 416); anything else the
/// whole body.
fn shape(
    status: StatusCode,
    mut headers: HeaderMap,
    req: &http::request::Parts,
    length: Option<u64>,
    body: impl FnOnce() -> CacheBody,
) -> http::Response<CacheBody> {
    if let Some(len) = length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    let range = match (req.headers.get(header::RANGE), length) {
        (Some(r), Some(len)) if status == StatusCode::OK => byte_range(r, len).map(|r| (r, len)),
        _ => None,
    };
    if range.is_some() {
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    }
    let head_only = req.method == Method::HEAD;
    match range {
        None => build(
            status,
            headers,
            if head_only {
                CacheBody::empty()
            } else {
                body()
            },
        ),
        Some((Err(()), len)) => {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                headers.insert(header::CONTENT_RANGE, v);
            }
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(0));
            build(
                StatusCode::RANGE_NOT_SATISFIABLE,
                headers,
                CacheBody::empty(),
            )
        }
        Some((Ok((start, end)), len)) => {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
                headers.insert(header::CONTENT_RANGE, v);
            }
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(end + 1 - start));
            let body = if head_only {
                CacheBody::empty()
            } else {
                body().range(start, end)
            };
            build(StatusCode::PARTIAL_CONTENT, headers, body)
        }
    }
}

fn build(status: StatusCode, headers: HeaderMap, body: CacheBody) -> http::Response<CacheBody> {
    let mut resp = http::Response::new(body);
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    resp
}

/// `If-None-Match` against an `ETag`, weakly (as RFC 9110 says for GET).
fn etag_matches(if_none_match: &HeaderValue, etag: &HeaderValue) -> bool {
    let weak = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let (Ok(inm), Ok(etag)) = (if_none_match.to_str(), etag.to_str()) else {
        return false;
    };
    inm.trim() == "*" || inm.split(',').any(|t| weak(t) == weak(etag))
}
