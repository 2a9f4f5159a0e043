//! Reusable sandboxes of one service version: instances that asked for
//! another client request (`next_request`) wait here, and client requests
//! go to them first.
//!
//! A request takes a waiting instance when there is one. Otherwise a new
//! instance starts, unless the program reuses its sandboxes and already
//! has `limits.reusableSandbox.maxInstances` of them: then the request
//! queues and the next instance to ask for work takes it, so that a burst
//! is served by warm instances rather than by cold ones that would sit
//! idle afterwards. Instances retire when they have waited
//! `idleTimeout` for work or served `maxRequests` (whichever the program
//! or the values ask first).

use super::downstream::DownstreamRequest;
use crate::limits::ReuseSettings;
use std::collections::VecDeque;
use std::sync::Mutex;
use tokio::sync::oneshot;

/// Where a request offered to the pool went.
#[derive(Debug)]
pub enum Placement {
    /// A waiting instance has it, or it waits for the next free one.
    Taken,
    /// Start a new instance for it (it is counted already).
    StartNew(Box<DownstreamRequest>),
}

/// An instance's receiver of its next request.
pub type NextRequest = oneshot::Receiver<Box<DownstreamRequest>>;

/// The instances of one service version and the requests waiting for them.
#[derive(Debug)]
pub struct ReusePool {
    settings: ReuseSettings,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Instances waiting in `next_request_wait`, the most recent last.
    idle: Vec<oneshot::Sender<Box<DownstreamRequest>>>,
    /// Requests waiting for an instance, oldest first.
    queued: VecDeque<Box<DownstreamRequest>>,
    /// Instances running (started and not ended).
    instances: usize,
    /// An instance of this version asked for a second request: the program
    /// reuses its sandboxes.
    reuses: bool,
}

impl ReusePool {
    /// An empty pool under `settings`.
    pub fn new(settings: ReuseSettings) -> Self {
        ReusePool {
            settings,
            inner: Mutex::default(),
        }
    }

    /// The settings it runs under.
    pub fn settings(&self) -> &ReuseSettings {
        &self.settings
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Places `req`: with a waiting instance, in the queue, or on a new
    /// instance (counted from now until [`ReusePool::ended`]).
    pub fn offer(&self, req: Box<DownstreamRequest>) -> Placement {
        let mut inner = self.lock();
        let req = match hand_to_idle(&mut inner.idle, req) {
            Ok(()) => return Placement::Taken,
            Err(req) => req,
        };
        if inner.reuses && self.at_most(inner.instances) {
            inner.queued.push_back(req);
            return Placement::Taken;
        }
        inner.instances += 1;
        Placement::StartNew(req)
    }

    /// Whether `instances` running is as many as may run.
    fn at_most(&self, instances: usize) -> bool {
        self.settings
            .max_instances
            .is_some_and(|max| instances >= max)
    }

    /// An instance asks for its next request: a queued one at once, else
    /// the receiver gets the next request offered.
    pub fn wait_for_request(&self) -> NextRequest {
        let (tx, rx) = oneshot::channel();
        let mut inner = self.lock();
        inner.reuses = true;
        // Instances that stopped waiting (timed out) leave their sender.
        inner.idle.retain(|tx| !tx.is_closed());
        match inner.queued.pop_front() {
            // The receiver is alive (it is returned below): this cannot fail.
            Some(req) => drop(tx.send(req)),
            None => inner.idle.push(tx),
        }
        rx
    }

    /// An instance ended. A request still queued, with no instance left
    /// to take it soon, gets a new instance (returned, already counted).
    pub fn ended(&self) -> Option<Box<DownstreamRequest>> {
        let mut inner = self.lock();
        inner.instances = inner.instances.saturating_sub(1);
        // Instances waiting now would have taken a queued request already;
        // a queued request needs a new instance only when none waits.
        if inner.queued.is_empty() || self.at_most(inner.instances) {
            return None;
        }
        let req = inner.queued.pop_front()?;
        inner.instances += 1;
        Some(req)
    }

    /// Instances running now.
    pub fn instances(&self) -> usize {
        self.lock().instances
    }

    /// Requests waiting for an instance now.
    pub fn queued(&self) -> usize {
        self.lock().queued.len()
    }
}

/// Gives `req` to the most recently idle instance still waiting.
fn hand_to_idle(
    idle: &mut Vec<oneshot::Sender<Box<DownstreamRequest>>>,
    mut req: Box<DownstreamRequest>,
) -> Result<(), Box<DownstreamRequest>> {
    while let Some(tx) = idle.pop() {
        // An instance that stopped waiting dropped its receiver: try the next.
        match tx.send(req) {
            Ok(()) => return Ok(()),
            Err(back) => req = back,
        }
    }
    Err(req)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::downstream::DownstreamMeta;
    use http_body_util::BodyExt;
    use std::time::Duration;

    fn pool(max_instances: Option<usize>) -> ReusePool {
        ReusePool::new(ReuseSettings {
            max_instances,
            max_requests: None,
            idle_timeout: Duration::from_secs(10),
        })
    }

    fn request(body: &'static str) -> Box<DownstreamRequest> {
        let body = http_body_util::Full::new(bytes::Bytes::from_static(body.as_bytes()))
            .map_err(|never| match never {})
            .boxed_unsync();
        Box::new(DownstreamRequest {
            request: http::Request::new(body),
            meta: DownstreamMeta {
                client_ip: [192, 0, 2, 1].into(),
                server_addr: ([127, 0, 0, 1], 7676).into(),
                request_id: 1,
                original_header_names: Vec::new(),
                tls: Default::default(),
            },
            respond: oneshot::channel().0,
            slot: None,
        })
    }

    fn starts_new(p: Placement) -> bool {
        matches!(p, Placement::StartNew(_))
    }

    #[test]
    fn a_program_that_never_reuses_gets_a_new_instance_each_time() {
        let p = pool(Some(1));
        assert!(starts_new(p.offer(request("a"))));
        assert!(
            starts_new(p.offer(request("b"))),
            "no queueing before reuse is known"
        );
        assert_eq!(p.instances(), 2);
        assert!(p.ended().is_none());
        assert!(p.ended().is_none());
        assert_eq!(p.instances(), 0);
    }

    #[tokio::test]
    async fn a_waiting_instance_takes_the_next_request() {
        let p = pool(None);
        assert!(starts_new(p.offer(request("first"))));
        let rx = p.wait_for_request();
        assert!(matches!(p.offer(request("second")), Placement::Taken));
        assert!(rx.await.is_ok());
        assert_eq!(p.instances(), 1);
    }

    #[tokio::test]
    async fn at_the_instance_cap_requests_queue_for_the_next_free_one() {
        let p = pool(Some(1));
        assert!(starts_new(p.offer(request("first"))));
        drop(p.wait_for_request()); // the instance has shown it reuses
        assert!(matches!(p.offer(request("queued")), Placement::Taken));
        assert_eq!(p.queued(), 1);
        // The instance asks again: it gets the queued request at once.
        let rx = p.wait_for_request();
        assert!(rx.await.is_ok());
        assert_eq!(p.queued(), 0);
    }

    #[test]
    fn a_request_left_queued_when_the_last_instance_ends_gets_a_new_one() {
        let p = pool(Some(1));
        assert!(starts_new(p.offer(request("first"))));
        drop(p.wait_for_request());
        assert!(matches!(p.offer(request("queued")), Placement::Taken));
        let rescued = p.ended();
        assert!(rescued.is_some(), "the queued request must not be stranded");
        assert_eq!(p.instances(), 1, "the new instance is counted");
        assert_eq!(p.queued(), 0);
    }

    #[test]
    fn without_a_cap_a_busy_reusing_program_still_starts_instances() {
        let p = pool(None);
        assert!(starts_new(p.offer(request("first"))));
        drop(p.wait_for_request());
        assert!(starts_new(p.offer(request("second"))));
        assert_eq!(p.instances(), 2);
    }

    #[test]
    fn instances_that_stopped_waiting_are_skipped_and_pruned() {
        let p = pool(None);
        assert!(starts_new(p.offer(request("first"))));
        for _ in 0..100 {
            drop(p.wait_for_request()); // each timed out
        }
        let _alive = p.wait_for_request();
        assert_eq!(p.lock().idle.len(), 1);
        assert!(matches!(p.offer(request("next")), Placement::Taken));
    }
}
