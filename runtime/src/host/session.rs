//! One running instance's state: the handles it holds (requests, responses,
//! bodies, pending backend requests, stores, KV operations, request
//! promises), its current client request and its clock.

use super::backends::SendError;
use super::body::{Body, StreamBody};
use super::clock::ExecClock;
use super::core_cache::{CacheBusy, CacheEntry};
use super::downstream::{DownstreamMeta, DownstreamRequest, DownstreamResponse};
use super::handles::{
    AsyncItemHandle, BodyHandle, CacheBusyHandle, CacheHandle, Handle, HandleCounter,
    HttpCacheHandle, KvOpHandle, PendingRequestHandle, PromiseHandle, RequestHandle,
    ResponseHandle, SecretHandle, StoreHandle, Table,
};
use super::http_cache::HttpCacheEntry;
use super::kv::{KvError, KvListPage, KvValue};
use super::ledger::Ledger;
use super::service::ServiceEnv;
use super::{HostError, HostLimit, HostResult};
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A request handle's contents.
#[derive(Debug)]
pub struct RequestState {
    /// Method, URI, version, headers.
    pub parts: http::request::Parts,
    /// Decompress gzip responses to this request.
    pub auto_decompress_gzip: bool,
    /// The program's `cache_override_*`.
    pub cache_override: crate::cache::freshness::Overrides,
    /// Who frames the body (`framing_headers_mode_set`).
    pub framing: super::framing::FramingMode,
}

impl RequestState {
    /// `GET /`, HTTP/1.1, no headers (what `fastly_http_req::new` makes).
    pub fn new() -> Self {
        RequestState {
            parts: http::Request::new(()).into_parts().0,
            auto_decompress_gzip: false,
            cache_override: Default::default(),
            framing: Default::default(),
        }
    }
}

impl Default for RequestState {
    fn default() -> Self {
        Self::new()
    }
}

/// A response handle's contents.
#[derive(Debug)]
pub struct ResponseState {
    /// Status, version, headers.
    pub parts: http::response::Parts,
    /// The backend address it came from.
    pub remote_addr: Option<SocketAddr>,
    /// Who frames the body (`framing_headers_mode_set`).
    pub framing: super::framing::FramingMode,
    /// Whether the client's connection stays open after it
    /// (`http_keepalive_mode_set`).
    pub keepalive: super::framing::KeepaliveMode,
}

impl ResponseState {
    /// `200`, HTTP/1.1, no headers.
    pub fn new() -> Self {
        ResponseState {
            parts: http::Response::new(()).into_parts().0,
            remote_addr: None,
            framing: Default::default(),
            keepalive: Default::default(),
        }
    }
}

impl Default for ResponseState {
    fn default() -> Self {
        Self::new()
    }
}

/// The outcome of a backend request.
pub type SendOutcome = Result<http::Response<StreamBody>, SendError>;

/// A backend request in flight, or its outcome.
#[derive(Debug)]
pub enum PendingRequest {
    /// Still running.
    Running(JoinHandle<SendOutcome>),
    /// Done.
    Done(SendOutcome),
}

/// The outcome of a KV operation.
#[derive(Debug)]
pub enum KvOutcome {
    /// A lookup.
    Lookup(Result<Option<KvValue>, KvError>),
    /// An insert (the new generation).
    Insert(Result<u64, KvError>),
    /// A delete.
    Delete(Result<(), KvError>),
    /// A page of keys.
    List(Result<KvListPage, KvError>),
}

/// A KV operation in flight, or its outcome.
#[derive(Debug)]
pub enum KvOp {
    /// On a blocking thread.
    Running(JoinHandle<KvOutcome>),
    /// Done.
    Done(KvOutcome),
}

/// A store the program opened.
#[derive(Debug, Clone)]
pub enum OpenStore {
    /// A config store or dictionary.
    Config(String),
    /// A secret store.
    Secret(String),
    /// A KV store.
    Kv(String),
    /// An ACL.
    Acl(String),
}

/// A wait for the next client request (reusable sandboxes).
#[derive(Debug)]
pub struct RequestPromise {
    rx: oneshot::Receiver<Box<DownstreamRequest>>,
    timeout: Duration,
}

/// A secret's plaintext, taken from a secret store.
#[derive(Debug, Clone)]
pub struct Secret(pub Vec<u8>);

/// The kinds of object a session holds: each handle type names its object
/// type and its table, so that `Session::get` and friends are typed by the
/// handle they are given.
pub trait Owned: Handle + 'static {
    /// What the handle refers to.
    type Object;
    #[doc(hidden)]
    fn table(tables: &Tables) -> &Table<Self, Self::Object>;
    #[doc(hidden)]
    fn table_mut(tables: &mut Tables) -> &mut Table<Self, Self::Object>;
}

macro_rules! tables {
    ($($field:ident: $handle:ty => $object:ty),* $(,)?) => {
        /// Every object a session holds, by kind.
        #[derive(Debug, Default)]
        pub struct Tables {
            $($field: Table<$handle, $object>,)*
        }
        impl Tables {
            /// Live objects of every kind.
            fn live(&self) -> usize {
                0 $(+ self.$field.len())*
            }
        }
        $(impl Owned for $handle {
            type Object = $object;
            fn table(tables: &Tables) -> &Table<Self, $object> {
                &tables.$field
            }
            fn table_mut(tables: &mut Tables) -> &mut Table<Self, $object> {
                &mut tables.$field
            }
        })*
    };
}

tables! {
    requests: RequestHandle => RequestState,
    responses: ResponseHandle => ResponseState,
    bodies: BodyHandle => Body,
    pending: PendingRequestHandle => PendingRequest,
    stores: StoreHandle => OpenStore,
    secrets: SecretHandle => Secret,
    kv_ops: KvOpHandle => KvOp,
    promises: PromiseHandle => RequestPromise,
    cache_entries: CacheHandle => CacheEntry,
    cache_busy: CacheBusyHandle => CacheBusy,
    http_cache_entries: HttpCacheHandle => HttpCacheEntry,
}

/// The client side of the session.
#[derive(Debug, Default)]
struct DownstreamState {
    /// Handles of the current client request and its body.
    current: Option<(RequestHandle, BodyHandle)>,
    /// Facts about each client request, by request handle.
    meta: HashMap<RequestHandle, DownstreamMeta>,
    /// Where the current response goes.
    respond: Option<oneshot::Sender<DownstreamResponse>>,
    /// The current request's concurrency slot, given back when the next
    /// request comes or the instance ends.
    slot: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// Everything one instance holds.
#[derive(Debug)]
pub struct Session {
    env: Arc<ServiceEnv>,
    handles: HandleCounter,
    tables: Tables,
    /// Log endpoint names; the handle is the index.
    log_endpoints: Vec<String>,
    downstream: DownstreamState,
    /// Backend requests made by the current execution.
    backend_requests: u32,
    clock: ExecClock,
    /// Bumped each time the instance takes a client request, so that a
    /// watchdog can tell whether the request it timed is still running.
    request_serial: Arc<AtomicU64>,
    /// Bytes the program's bodies hold (`limits.bufferedBytes`).
    ledger: Ledger,
    /// Bytes of header names and values the current request's program
    /// wrote (`limits.bufferedBytes` too).
    header_bytes: usize,
}

impl Drop for Session {
    /// Work the program started ends with it: a backend send it never
    /// waited for stops (and closes its connection), a KV operation or
    /// cache lookup in flight is abandoned. Nothing outlives the instance.
    fn drop(&mut self) {
        for p in self.tables.pending.values() {
            if let PendingRequest::Running(task) = p {
                task.abort();
            }
        }
        for op in self.tables.kv_ops.values() {
            if let KvOp::Running(task) = op {
                task.abort();
            }
        }
        for busy in self.tables.cache_busy.values() {
            if let CacheBusy::Running(task) = busy {
                task.abort();
            }
        }
    }
}

impl Session {
    /// A session serving `first`.
    pub fn new(env: Arc<ServiceEnv>, first: DownstreamRequest) -> Self {
        let ledger = Ledger::new(env.limits.buffered_bytes);
        let mut s = Session {
            env,
            handles: HandleCounter::default(),
            tables: Tables::default(),
            log_endpoints: Vec::new(),
            downstream: DownstreamState::default(),
            backend_requests: 0,
            clock: ExecClock::default(),
            request_serial: Arc::default(),
            ledger,
            header_bytes: 0,
        };
        s.accept(first);
        s
    }

    /// Makes `req` the current client request.
    fn accept(&mut self, req: DownstreamRequest) -> (RequestHandle, BodyHandle) {
        // A reused instance is done with its previous client request: its
        // handles go (they would otherwise pile up to `limits.handles`
        // over a few thousand requests).
        if let Some((rh, bh)) = self.downstream.current.take() {
            let _ = self.take(rh);
            let _ = self.take(bh);
            self.downstream.meta.remove(&rh);
        }
        let (parts, body) = req.request.into_parts();
        let rh = self.insert(RequestState {
            parts,
            ..RequestState::new()
        });
        let bh = self.insert(Body::from_stream(body));
        self.downstream.meta.insert(rh, req.meta);
        self.downstream.current = Some((rh, bh));
        self.downstream.respond = Some(req.respond);
        self.downstream.slot = req.slot;
        self.backend_requests = 0;
        self.header_bytes = 0;
        self.clock.restart();
        self.request_serial.fetch_add(1, Ordering::Relaxed);
        (rh, bh)
    }

    /// The service version this instance runs.
    pub fn env(&self) -> &Arc<ServiceEnv> {
        &self.env
    }

    /// The guest's CPU and wall clock.
    pub fn clock(&self) -> &ExecClock {
        &self.clock
    }

    /// The guest's clock, to mark waits, yields and ticks.
    pub fn clock_mut(&mut self) -> &mut ExecClock {
        &mut self.clock
    }

    /// The bytes the program's bodies hold.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Counts `n` more bytes of headers written by the program in this
    /// request, or `LIMITEXCEEDED` past `limits.bufferedBytes`.
    pub fn charge_header_bytes(&mut self, n: usize) -> HostResult<()> {
        let total = self.header_bytes.saturating_add(n);
        if total > self.env.limits.buffered_bytes {
            return Err(HostError::LimitExceeded(HostLimit::BufferedBytes));
        }
        self.header_bytes = total;
        Ok(())
    }

    /// Counts client requests taken; a watchdog compares it over time.
    pub fn request_serial(&self) -> Arc<AtomicU64> {
        self.request_serial.clone()
    }

    /// Stores `object` under a new handle of its kind.
    pub fn insert<H: Owned>(&mut self, object: H::Object) -> H {
        H::table_mut(&mut self.tables).insert(&mut self.handles, object)
    }

    /// Stores `object` under a new handle, unless the request already
    /// holds `limits.handles` objects (`LIMITEXCEEDED`): what a program
    /// creates in a loop goes through here.
    pub fn try_insert<H: Owned>(&mut self, object: H::Object) -> HostResult<H> {
        if self.tables.live() >= self.env.limits.handles {
            return Err(HostError::LimitExceeded(HostLimit::Handles));
        }
        Ok(self.insert(object))
    }

    /// Stores `object` again under `handle`, given out before.
    pub fn put<H: Owned>(&mut self, handle: H, object: H::Object) {
        H::table_mut(&mut self.tables).put(handle, object);
    }

    /// The object behind `handle`, or `BADF`.
    pub fn get<H: Owned>(&self, handle: H) -> HostResult<&H::Object> {
        H::table(&self.tables).get(handle)
    }

    /// The object behind `handle`, mutably, or `BADF`.
    pub fn get_mut<H: Owned>(&mut self, handle: H) -> HostResult<&mut H::Object> {
        H::table_mut(&mut self.tables).get_mut(handle)
    }

    /// Takes the object out (the handle is closed), or `BADF`.
    pub fn take<H: Owned>(&mut self, handle: H) -> HostResult<H::Object> {
        H::table_mut(&mut self.tables).take(handle)
    }

    /// True when `handle` is live.
    pub fn contains<H: Owned>(&self, handle: H) -> bool {
        H::table(&self.tables).contains(handle)
    }

    /// The current client request and its body.
    pub fn downstream_current(&self) -> HostResult<(RequestHandle, BodyHandle)> {
        self.downstream.current.ok_or(HostError::None)
    }

    /// True once the current client request has its response.
    pub fn responded(&self) -> bool {
        self.downstream.respond.is_none()
    }

    /// Takes the channel the current response goes to; `None` once a
    /// response was sent.
    pub fn take_responder(&mut self) -> Option<oneshot::Sender<DownstreamResponse>> {
        self.downstream.respond.take()
    }

    /// The handle of log endpoint `name`, opened on first use.
    pub fn log_endpoint(&mut self, name: &str) -> u32 {
        let index = match self.log_endpoints.iter().position(|n| n == name) {
            Some(i) => i,
            None => {
                self.log_endpoints.push(name.to_owned());
                self.log_endpoints.len() - 1
            }
        };
        index as u32
    }

    /// The name of log endpoint `handle`.
    pub fn log_endpoint_name(&self, handle: u32) -> HostResult<&str> {
        self.log_endpoints
            .get(handle as usize)
            .map(String::as_str)
            .ok_or(HostError::BadHandle(handle))
    }

    /// The metadata of client request `req` (or of the current one).
    pub fn downstream_meta(&self, req: Option<RequestHandle>) -> HostResult<&DownstreamMeta> {
        let h = match req {
            Some(h) => h,
            None => self.downstream_current()?.0,
        };
        self.downstream
            .meta
            .get(&h)
            .ok_or(HostError::BadHandle(h.into()))
    }

    /// Counts a backend request against the per-execution limit.
    pub fn count_backend_request(&mut self) -> HostResult<()> {
        if self.backend_requests >= self.env.limits.backend_requests {
            return Err(HostError::LimitExceeded(
                HostLimit::BackendRequestsPerExecution,
            ));
        }
        self.backend_requests += 1;
        Ok(())
    }

    /// Registers interest in the next client request.
    pub fn next_request(&mut self, timeout: Option<Duration>) -> HostResult<PromiseHandle> {
        if self.downstream.respond.is_some() {
            return Err(HostError::Invalid(
                "respond to the current request before asking for the next".into(),
            ));
        }
        let reuse = self.env.limits.reuse;
        let served = self.request_serial.load(Ordering::Relaxed);
        let rx = if reuse.max_requests.is_some_and(|max| served >= max) {
            // Served all it may: a promise no request will keep, so the
            // program's wait answers "none" and the instance retires.
            oneshot::channel().1
        } else {
            self.env.instances.wait_for_request()
        };
        // Under half the wall limit, so that the wall-clock watchdog never
        // takes an instance that is only waiting for work.
        let timeout = timeout
            .unwrap_or(reuse.idle_timeout)
            .min(reuse.idle_timeout)
            .min(self.env.limits.wall_time / 2);
        self.try_insert(RequestPromise { rx, timeout })
    }

    /// Waits for the request promised by `handle`; `NONE` when none came.
    pub async fn next_request_wait(
        &mut self,
        handle: PromiseHandle,
    ) -> HostResult<(RequestHandle, BodyHandle)> {
        let promise = self.take(handle)?;
        match tokio::time::timeout(promise.timeout, promise.rx).await {
            Ok(Ok(req)) => Ok(self.accept(*req)),
            _ => Err(HostError::None),
        }
    }

    /// Polls whether async item `item` is ready.
    pub fn poll_item(
        &mut self,
        item: AsyncItemHandle,
        cx: &mut Context<'_>,
    ) -> Poll<HostResult<()>> {
        let n = u32::from(item);
        if let Ok(body) = self.get_mut(BodyHandle::from(n)) {
            return body.poll_ready(cx);
        }
        if let Ok(p) = self.get_mut(PendingRequestHandle::from(n)) {
            if let PendingRequest::Running(task) = p {
                let Poll::Ready(done) = Pin::new(task).poll(cx) else {
                    return Poll::Pending;
                };
                *p = PendingRequest::Done(done.unwrap_or_else(|e| {
                    Err(SendError {
                        tag: super::backends::SendErrorTag::InternalError,
                        message: e.to_string(),
                    })
                }));
            }
            return Poll::Ready(Ok(()));
        }
        if let Ok(op) = self.get_mut(KvOpHandle::from(n)) {
            if let KvOp::Running(task) = op {
                let Poll::Ready(done) = Pin::new(task).poll(cx) else {
                    return Poll::Pending;
                };
                *op = KvOp::Done(done.unwrap_or(KvOutcome::Insert(Err(KvError::InternalError))));
            }
            return Poll::Ready(Ok(()));
        }
        if self.contains(CacheHandle::from(n)) || self.contains(HttpCacheHandle::from(n)) {
            // A cache handle exists only once its lookup has resolved.
            return Poll::Ready(Ok(()));
        }
        if let Ok(busy) = self.get_mut(CacheBusyHandle::from(n)) {
            if let CacheBusy::Running(task) = busy {
                let Poll::Ready(done) = Pin::new(task).poll(cx) else {
                    return Poll::Pending;
                };
                let entry = done.map_err(|e| HostError::Other(format!("cache lookup: {e}")))?;
                *busy = CacheBusy::Done(Box::new(entry));
            }
            return Poll::Ready(Ok(()));
        }
        if self.contains(PromiseHandle::from(n)) {
            return Poll::Pending;
        }
        Poll::Ready(Err(HostError::BadHandle(n)))
    }

    /// Waits for one of `items`; `None` on timeout.
    pub async fn select(
        &mut self,
        items: &[AsyncItemHandle],
        timeout: Option<Duration>,
    ) -> HostResult<Option<usize>> {
        let ready = std::future::poll_fn(|cx| {
            for (i, h) in items.iter().enumerate() {
                match self.poll_item(*h, cx) {
                    Poll::Ready(Ok(())) => return Poll::Ready(Ok(i)),
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {}
                }
            }
            Poll::Pending
        });
        match timeout {
            None => ready.await.map(Some),
            Some(t) => match tokio::time::timeout(t, ready).await {
                Ok(r) => r.map(Some),
                Err(_) => Ok(None),
            },
        }
    }

    /// Waits for a pending backend request to finish and takes its outcome.
    pub async fn wait_pending(&mut self, handle: PendingRequestHandle) -> HostResult<SendOutcome> {
        let item = AsyncItemHandle::from(u32::from(handle));
        std::future::poll_fn(|cx| self.poll_item(item, cx)).await?;
        match self.take(handle)? {
            PendingRequest::Done(outcome) => Ok(outcome),
            PendingRequest::Running(_) => Err(HostError::Again),
        }
    }

    /// Waits for a KV operation to finish and takes its outcome.
    pub async fn wait_kv(&mut self, handle: KvOpHandle) -> HostResult<KvOutcome> {
        let item = AsyncItemHandle::from(u32::from(handle));
        std::future::poll_fn(|cx| self.poll_item(item, cx)).await?;
        match self.take(handle)? {
            KvOp::Done(outcome) => Ok(outcome),
            KvOp::Running(_) => Err(HostError::Again),
        }
    }
}
