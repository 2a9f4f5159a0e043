//! Request collapsing: concurrent misses for one key wait on one fill. The
//! fill runs as its own task (it outlives the request that started it) and
//! keeps the body it receives in a shared buffer, so that every waiter
//! reads the body as it arrives instead of waiting for the end.

use super::body::CacheBody;
use super::key::Key;
use super::lookup::Found;
use bytes::Bytes;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use tokio::sync::Notify;
use tokio::sync::futures::OwnedNotified;

/// Status and headers of a response being filled.
#[derive(Debug, Clone)]
pub struct ResponseHead {
    /// Status.
    pub status: http::StatusCode,
    /// Headers as stored.
    pub headers: http::HeaderMap,
}

/// What a fill found out about the response, once it knows.
#[derive(Debug, Clone)]
pub enum FillHead<E> {
    /// A response being stored: its head; the body streams from the fill.
    Streaming(Arc<ResponseHead>),
    /// A stored object to answer from (revalidated, or stale on error).
    Object(Found),
    /// Not stored: the request that started the fill gets the response;
    /// every other waiter sends its own request.
    Uncacheable,
    /// The backend failed; every waiter gets the error.
    Failed(E),
}

#[derive(Debug)]
struct FillState<E> {
    head: Option<FillHead<E>>,
    chunks: Vec<Bytes>,
    /// `Some` once the body ended: `Ok` or the reason it broke.
    end: Option<Result<(), String>>,
}

/// One fill in progress, shared by its waiters.
#[derive(Debug)]
pub struct Fill<E> {
    state: Mutex<FillState<E>>,
    changed: Arc<Notify>,
}

impl<E: Clone> Fill<E> {
    fn new() -> Self {
        Fill {
            state: Mutex::new(FillState {
                head: None,
                chunks: Vec::new(),
                end: None,
            }),
            changed: Arc::new(Notify::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, FillState<E>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A fill outside the collapsing map (a Core Cache insert read back
    /// while it is written).
    pub fn standalone() -> Arc<Self> {
        Arc::new(Fill::new())
    }

    /// Publishes the head.
    pub fn set_head(&self, head: FillHead<E>) {
        self.lock().head = Some(head);
        self.changed.notify_waiters();
    }

    /// Appends body bytes.
    pub fn push(&self, chunk: Bytes) {
        self.lock().chunks.push(chunk);
        self.changed.notify_waiters();
    }

    /// Ends the body.
    pub fn end(&self, outcome: Result<(), String>) {
        self.lock().end = Some(outcome);
        self.changed.notify_waiters();
    }

    /// Waits for the head.
    pub async fn head(&self) -> FillHead<E> {
        loop {
            let notified = self.changed.clone().notified_owned();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(head) = &self.lock().head {
                return head.clone();
            }
            notified.await;
        }
    }
}

impl<E: Clone + Send + Sync + 'static> Fill<E> {
    /// The body as it arrives, from the start.
    pub fn body(self: &Arc<Self>) -> CacheBody {
        CacheBody::from_fill(FillReader {
            fill: self.clone(),
            next: 0,
            wait: None,
        })
    }
}

/// Reads a fill's body, waiting for chunks as they arrive.
pub struct FillReader {
    fill: Arc<dyn ChunkSource>,
    next: usize,
    wait: Option<Pin<Box<OwnedNotified>>>,
}

/// The part of a fill its readers use (so that readers do not carry the
/// fill's error type).
trait ChunkSource: Send + Sync {
    /// Chunk `n`, the end, or nothing yet.
    fn chunk(&self, n: usize) -> ChunkAt;
    fn notify(&self) -> Arc<Notify>;
}

enum ChunkAt {
    Data(Bytes),
    End(Result<(), String>),
    NotYet,
}

impl<E: Clone + Send + Sync> ChunkSource for Fill<E> {
    fn chunk(&self, n: usize) -> ChunkAt {
        let s = self.lock();
        match (s.chunks.get(n), &s.end) {
            (Some(c), _) => ChunkAt::Data(c.clone()),
            (None, Some(end)) => ChunkAt::End(end.clone()),
            (None, None) => ChunkAt::NotYet,
        }
    }

    fn notify(&self) -> Arc<Notify> {
        self.changed.clone()
    }
}

impl FillReader {
    /// The next chunk: `Ready(None)` at the end.
    pub fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, String>>> {
        loop {
            if let Some(wait) = self.wait.as_mut() {
                if wait.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.wait = None;
            }
            match self.fill.chunk(self.next) {
                ChunkAt::Data(c) => {
                    self.next += 1;
                    return Poll::Ready(Some(Ok(c)));
                }
                ChunkAt::End(Ok(())) => return Poll::Ready(None),
                ChunkAt::End(Err(e)) => return Poll::Ready(Some(Err(e))),
                ChunkAt::NotYet => {}
            }
            // Register before looking again, so that a chunk pushed in
            // between wakes us.
            let mut wait = Box::pin(self.fill.notify().notified_owned());
            wait.as_mut().enable();
            if matches!(self.fill.chunk(self.next), ChunkAt::NotYet) {
                self.wait = Some(wait);
            }
        }
    }
}

use std::future::Future as _;

/// Fills in progress, by variant key.
#[derive(Debug)]
pub struct Fills<E> {
    running: Mutex<HashMap<Key, Arc<Fill<E>>>>,
}

impl<E> Default for Fills<E> {
    fn default() -> Self {
        Fills {
            running: Mutex::default(),
        }
    }
}

impl<E: Clone> Fills<E> {
    /// The fill of `key`: an existing one (false) or a new one the caller
    /// must run (true).
    pub fn join(&self, key: Key) -> (Arc<Fill<E>>, bool) {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = running.get(&key) {
            return (f.clone(), false);
        }
        let f = Arc::new(Fill::new());
        running.insert(key, f.clone());
        (f, true)
    }

    /// Removes `fill` from the map (later lookups start a new one or find
    /// the stored object).
    pub fn done(&self, key: &Key, fill: &Arc<Fill<E>>) {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if running.get(key).is_some_and(|f| Arc::ptr_eq(f, fill)) {
            running.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn waiters_read_the_body_as_it_arrives_and_joiners_share_one_fill() {
        let fills: Fills<String> = Fills::default();
        let key = Key([1; 32]);
        let (fill, first) = fills.join(key);
        let (same, second) = fills.join(key);
        assert!(first && !second && Arc::ptr_eq(&fill, &same));
        let mut early = fill.body();
        fill.push(Bytes::from_static(b"ab"));
        let frame = early.frame().await;
        let got = frame.and_then(|f| f.ok()).and_then(|f| f.into_data().ok());
        assert_eq!(got.as_deref(), Some(&b"ab"[..]));
        let writer = fill.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            writer.push(Bytes::from_static(b"cd"));
            writer.end(Ok(()));
        });
        let rest = early.collect().await.map(|c| c.to_bytes());
        assert_eq!(rest.ok().as_deref(), Some(&b"cd"[..]));
        let late = fill.body().collect().await.map(|c| c.to_bytes());
        assert_eq!(late.ok().as_deref(), Some(&b"abcd"[..]));
        fills.done(&key, &fill);
        assert!(fills.join(key).1, "a new fill after done");
    }

    #[tokio::test]
    async fn a_broken_fill_breaks_its_readers() {
        let fill: Arc<Fill<String>> = Arc::new(Fill::new());
        fill.push(Bytes::from_static(b"x"));
        fill.end(Err("origin went away".into()));
        let got = fill.body().collect().await;
        assert!(got.is_err());
    }
}
