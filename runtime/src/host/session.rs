//! One running instance's state: the handles it holds (requests, responses,
//! bodies, pending backend requests, stores, KV operations, request
//! promises), its current client request and its clock.

use super::backends::SendError;
use super::body::{Body, StreamBody};
use super::downstream::{DownstreamMeta, DownstreamRequest, DownstreamResponse};
use super::handles::{HandleCounter, Table};
use super::kv::{KvError, KvListPage, KvValue};
use super::service::ServiceEnv;
use super::{HostError, HostResult};
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A request handle's contents.
#[derive(Debug)]
pub struct RequestState {
    /// Method, URI, version, headers.
    pub parts: http::request::Parts,
    /// Decompress gzip responses to this request.
    pub auto_decompress_gzip: bool,
}

impl RequestState {
    /// `GET /`, HTTP/1.1, no headers (what `fastly_http_req::new` makes).
    pub fn new() -> Self {
        RequestState {
            parts: http::Request::new(()).into_parts().0,
            auto_decompress_gzip: false,
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
}

impl ResponseState {
    /// `200`, HTTP/1.1, no headers.
    pub fn new() -> Self {
        ResponseState {
            parts: http::Response::new(()).into_parts().0,
            remote_addr: None,
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

/// The current thread's CPU time.
fn thread_cpu_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec and CLOCK_THREAD_CPUTIME_ID
    // is supported on every Linux this runs on; on failure `ts` stays zero.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The guest's CPU time and the request's wall-clock time.
///
/// CPU time is summed over the slices in which the guest runs on one
/// thread: from the start of `_start` (or the end of a hostcall that
/// waited) to the next wait or yield. A short slice is timed with the
/// monotonic clock (a vDSO call). A slice that lasts into an epoch tick,
/// the only kind that can approach a limit, switches to the thread's CPU
/// clock, so that time the thread spends descheduled on a busy machine is
/// not counted against the guest; that clock is a real system call, too
/// dear for every hostcall. After a yield the guest resumes on a thread we
/// do not see until the next tick; that gap (at most one tick) counts as a
/// whole tick.
#[derive(Debug, Clone)]
pub struct ExecClock {
    started: Instant,
    cpu: Duration,
    slice: Option<Slice>,
    yielded: bool,
}

/// A running slice: when it began, and once a tick has seen it, the
/// thread's CPU clock at that tick and the time the slice had run before.
#[derive(Debug, Clone, Copy)]
struct Slice {
    began: Instant,
    thread_clock: Option<(Duration, Duration)>,
}

impl Slice {
    fn elapsed(&self) -> Duration {
        match self.thread_clock {
            None => self.began.elapsed(),
            Some((at, before)) => before + thread_cpu_now().saturating_sub(at),
        }
    }
}

impl Default for ExecClock {
    fn default() -> Self {
        ExecClock {
            started: Instant::now(),
            cpu: Duration::ZERO,
            slice: None,
            yielded: false,
        }
    }
}

impl ExecClock {
    /// Restarts the clock (a reused instance took a new request); the
    /// guest is running.
    pub fn restart(&mut self) {
        *self = ExecClock::default();
        self.wait_end();
    }

    /// Closes the running slice, if any.
    fn close_slice(&mut self) {
        if let Some(slice) = self.slice.take() {
            self.cpu += slice.elapsed();
        } else if std::mem::take(&mut self.yielded) {
            self.cpu += crate::engine::EPOCH_TICK;
        }
    }

    /// The guest starts waiting on the host.
    pub fn wait_begin(&mut self) {
        self.close_slice();
    }

    /// The guest runs again (on the current thread).
    pub fn wait_end(&mut self) {
        self.yielded = false;
        self.slice = Some(Slice {
            began: Instant::now(),
            thread_clock: None,
        });
    }

    /// The guest yields its thread to other tasks (epoch callback).
    pub fn yield_begin(&mut self) {
        self.close_slice();
        self.yielded = true;
    }

    /// An epoch tick while the guest runs (on the thread it runs on now):
    /// after a yield, start a new slice; a slice seen by its first tick
    /// switches to the thread's CPU clock.
    pub fn tick(&mut self) {
        if self.slice.is_none() {
            self.close_slice();
            self.wait_end();
        }
        if let Some(slice) = self.slice.as_mut()
            && slice.thread_clock.is_none()
        {
            slice.thread_clock = Some((thread_cpu_now(), slice.began.elapsed()));
        }
    }

    /// Wall time of the current request.
    pub fn wall(&self) -> Duration {
        self.started.elapsed()
    }

    /// Guest CPU time of the current request. Call it on the thread the
    /// guest runs on (hostcalls, the epoch callback).
    pub fn cpu(&self) -> Duration {
        self.cpu + self.slice.map_or(Duration::ZERO, |s| s.elapsed())
    }
}

/// A wait for the next client request (reusable sandboxes).
#[derive(Debug)]
pub struct RequestPromise {
    rx: oneshot::Receiver<Box<DownstreamRequest>>,
    timeout: Duration,
}

/// The client side of the session.
#[derive(Debug, Default)]
pub struct DownstreamState {
    /// Handles of the current client request and its body.
    pub current: Option<(u32, u32)>,
    /// Facts about each client request, by request handle.
    pub meta: HashMap<u32, DownstreamMeta>,
    /// Where the current response goes.
    pub respond: Option<oneshot::Sender<DownstreamResponse>>,
}

/// Everything one instance holds.
#[derive(Debug)]
pub struct Session {
    /// Shared by all instances of the service version.
    pub env: Arc<ServiceEnv>,
    handles: HandleCounter,
    /// Request handles.
    pub requests: Table<RequestState>,
    /// Response handles.
    pub responses: Table<ResponseState>,
    /// Body handles.
    pub bodies: Table<Body>,
    /// Pending backend requests.
    pub pending: Table<PendingRequest>,
    /// Open stores and ACLs.
    pub stores: Table<OpenStore>,
    /// Secret handles.
    pub secrets: Table<Vec<u8>>,
    /// KV operations.
    pub kv_ops: Table<KvOp>,
    /// Request promises.
    pub promises: Table<RequestPromise>,
    /// Log endpoint names; the handle is the index.
    pub log_endpoints: Vec<String>,
    /// The client request.
    pub downstream: DownstreamState,
    /// Backend requests made by this execution.
    pub backend_requests: u32,
    /// CPU and wall time.
    pub clock: ExecClock,
    /// Bumped each time the instance takes a client request, so that a
    /// watchdog can tell whether the request it timed is still running.
    pub request_serial: Arc<std::sync::atomic::AtomicU64>,
}

impl Session {
    /// A session serving `first`.
    pub fn new(env: Arc<ServiceEnv>, first: DownstreamRequest) -> Self {
        let mut s = Session {
            env,
            handles: HandleCounter::default(),
            requests: Table::default(),
            responses: Table::default(),
            bodies: Table::default(),
            pending: Table::default(),
            stores: Table::default(),
            secrets: Table::default(),
            kv_ops: Table::default(),
            promises: Table::default(),
            log_endpoints: Vec::new(),
            downstream: DownstreamState::default(),
            backend_requests: 0,
            clock: ExecClock::default(),
            request_serial: Arc::default(),
        };
        s.accept(first);
        s
    }

    /// Makes `req` the current client request.
    fn accept(&mut self, req: DownstreamRequest) -> (u32, u32) {
        let (parts, body) = req.request.into_parts();
        let rh = self.requests.insert(
            &mut self.handles,
            RequestState {
                parts,
                auto_decompress_gzip: false,
            },
        );
        let bh = self
            .bodies
            .insert(&mut self.handles, Body::from_stream(body));
        self.downstream.meta.insert(rh, req.meta);
        self.downstream.current = Some((rh, bh));
        self.downstream.respond = Some(req.respond);
        self.backend_requests = 0;
        self.clock.restart();
        self.request_serial
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        (rh, bh)
    }

    /// A new handle for `value` in `table`.
    pub fn new_request(&mut self, value: RequestState) -> u32 {
        self.requests.insert(&mut self.handles, value)
    }

    /// A new response handle.
    pub fn new_response(&mut self, value: ResponseState) -> u32 {
        self.responses.insert(&mut self.handles, value)
    }

    /// A new body handle.
    pub fn new_body(&mut self, value: Body) -> u32 {
        self.bodies.insert(&mut self.handles, value)
    }

    /// A new pending-request handle.
    pub fn new_pending(&mut self, value: PendingRequest) -> u32 {
        self.pending.insert(&mut self.handles, value)
    }

    /// A new store handle.
    pub fn new_store(&mut self, value: OpenStore) -> u32 {
        self.stores.insert(&mut self.handles, value)
    }

    /// A new secret handle.
    pub fn new_secret(&mut self, value: Vec<u8>) -> u32 {
        self.secrets.insert(&mut self.handles, value)
    }

    /// A new KV operation handle.
    pub fn new_kv_op(&mut self, value: KvOp) -> u32 {
        self.kv_ops.insert(&mut self.handles, value)
    }

    /// The metadata of client request `req` (or of the current one).
    pub fn downstream_meta(&self, req: Option<u32>) -> HostResult<&DownstreamMeta> {
        let h = match req {
            Some(h) => h,
            None => self.downstream.current.ok_or(HostError::None)?.0,
        };
        self.downstream.meta.get(&h).ok_or(HostError::BadHandle(h))
    }

    /// Counts a backend request against the per-execution limit.
    pub fn count_backend_request(&mut self) -> HostResult<()> {
        if self.backend_requests >= self.env.limits.backend_requests {
            return Err(HostError::LimitExceeded("backend requests per execution"));
        }
        self.backend_requests += 1;
        Ok(())
    }

    /// Registers interest in the next client request.
    pub fn next_request(&mut self, timeout: Option<Duration>) -> HostResult<u32> {
        if self.downstream.respond.is_some() {
            return Err(HostError::Invalid(
                "respond to the current request before asking for the next".into(),
            ));
        }
        let rx = self.env.wait_for_request();
        // Under half the wall limit, so that the wall-clock watchdog never
        // takes an instance that is only waiting for work.
        let timeout = timeout
            .unwrap_or(Duration::from_secs(10))
            .min(self.env.limits.wall_time / 2);
        Ok(self
            .promises
            .insert(&mut self.handles, RequestPromise { rx, timeout }))
    }

    /// Waits for the request promised by `handle`; `NONE` when none came.
    pub async fn next_request_wait(&mut self, handle: u32) -> HostResult<(u32, u32)> {
        let promise = self.promises.take(handle)?;
        match tokio::time::timeout(promise.timeout, promise.rx).await {
            Ok(Ok(req)) => Ok(self.accept(*req)),
            _ => Err(HostError::None),
        }
    }

    /// Gives up a request promise.
    pub fn abandon_promise(&mut self, handle: u32) -> HostResult<()> {
        self.promises.take(handle).map(drop)
    }

    /// Polls whether async item `handle` is ready.
    pub fn poll_item(&mut self, handle: u32, cx: &mut Context<'_>) -> Poll<HostResult<()>> {
        if let Ok(body) = self.bodies.get_mut(handle) {
            return body.poll_ready(cx);
        }
        if let Ok(p) = self.pending.get_mut(handle) {
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
        if let Ok(op) = self.kv_ops.get_mut(handle) {
            if let KvOp::Running(task) = op {
                let Poll::Ready(done) = Pin::new(task).poll(cx) else {
                    return Poll::Pending;
                };
                *op = KvOp::Done(done.unwrap_or(KvOutcome::Insert(Err(KvError::InternalError))));
            }
            return Poll::Ready(Ok(()));
        }
        if self.promises.contains(handle) {
            return Poll::Pending;
        }
        Poll::Ready(Err(HostError::BadHandle(handle)))
    }

    /// Waits for one of `handles`; `None` on timeout.
    pub async fn select(
        &mut self,
        handles: &[u32],
        timeout: Option<Duration>,
    ) -> HostResult<Option<usize>> {
        let ready = std::future::poll_fn(|cx| {
            for (i, h) in handles.iter().enumerate() {
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
    pub async fn wait_pending(&mut self, handle: u32) -> HostResult<SendOutcome> {
        std::future::poll_fn(|cx| self.poll_item(handle, cx)).await?;
        match self.pending.take(handle)? {
            PendingRequest::Done(outcome) => Ok(outcome),
            PendingRequest::Running(_) => Err(HostError::Again),
        }
    }

    /// Waits for a KV operation to finish and takes its outcome.
    pub async fn wait_kv(&mut self, handle: u32) -> HostResult<KvOutcome> {
        std::future::poll_fn(|cx| self.poll_item(handle, cx)).await?;
        match self.kv_ops.take(handle)? {
            KvOp::Done(outcome) => Ok(outcome),
            KvOp::Running(_) => Err(HostError::Again),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spin(d: Duration) {
        let start = Instant::now();
        while start.elapsed() < d {
            std::hint::black_box(0u64);
        }
    }

    #[test]
    fn cpu_clock_counts_running_not_waiting() {
        let mut clock = ExecClock::default();
        clock.restart();
        spin(Duration::from_millis(30));
        clock.wait_begin();
        std::thread::sleep(Duration::from_millis(60));
        clock.wait_end();
        spin(Duration::from_millis(10));
        let cpu = clock.cpu();
        assert!(cpu >= Duration::from_millis(35), "{cpu:?}");
        assert!(
            cpu < Duration::from_millis(65),
            "waiting was counted: {cpu:?}"
        );
        assert!(clock.wall() >= Duration::from_millis(100));
        // A long slice seen by a tick is timed by the thread's CPU clock:
        // sleeping inside it (the thread descheduled) does not count.
        clock.tick();
        let before = clock.cpu();
        std::thread::sleep(Duration::from_millis(50));
        // Burn 10 ms of this thread's CPU (not of wall time: on a busy
        // machine the thread is descheduled, which must not count).
        let burn_from = thread_cpu_now();
        while thread_cpu_now() - burn_from < Duration::from_millis(10) {
            std::hint::black_box(0u64);
        }
        let grown = clock.cpu() - before;
        assert!(
            grown >= Duration::from_millis(8) && grown < Duration::from_millis(30),
            "{grown:?}"
        );
        let cpu = clock.cpu();
        clock.yield_begin();
        std::thread::sleep(Duration::from_millis(20));
        clock.tick();
        let after = clock.cpu();
        assert!(
            after - cpu <= Duration::from_millis(5),
            "a yield counts one tick, not the wait: {:?}",
            after - cpu
        );
    }
}
