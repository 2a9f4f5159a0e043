//! Backend health checks: a probe task per checked backend sends `GET path`
//! through the backend's own client (so the egress policy applies) every
//! interval and keeps the last `window` results; the backend is healthy
//! while `threshold` of them succeeded. Programs read the verdict through
//! `fastly_backend::is_healthy`; without a check it stays "unknown".

use super::backends::Backend;
use super::body::OutgoingBody;
pub use crate::config::HealthCheck;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// `fastly_backend::is_healthy`'s answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Health {
    /// No check configured (or not run yet).
    Unknown = 0,
    /// Enough recent probes succeeded.
    Healthy = 1,
    /// Too few did.
    Unhealthy = 2,
}

/// A backend's verdict and its recent probes.
#[derive(Debug, Default)]
pub struct HealthState {
    verdict: AtomicU8,
    /// The last probes, newest last (true: succeeded).
    recent: Mutex<Vec<bool>>,
}

impl HealthState {
    /// The current verdict.
    pub fn get(&self) -> Health {
        match self.verdict.load(Ordering::Relaxed) {
            1 => Health::Healthy,
            2 => Health::Unhealthy,
            _ => Health::Unknown,
        }
    }

    /// Starts from `check.initial` assumed successes.
    fn start(&self, check: &HealthCheck) {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        *recent = vec![true; usize::from(check.initial.min(check.window))];
        self.judge(&recent, check);
    }

    /// Records one probe's result.
    pub fn record(&self, ok: bool, check: &HealthCheck) {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.push(ok);
        let excess = recent
            .len()
            .saturating_sub(usize::from(check.window.max(1)));
        recent.drain(..excess);
        self.judge(&recent, check);
    }

    fn judge(&self, recent: &[bool], check: &HealthCheck) {
        let good = recent.iter().filter(|ok| **ok).count();
        let verdict = if good >= usize::from(check.threshold) {
            Health::Healthy
        } else {
            Health::Unhealthy
        };
        self.verdict.store(verdict as u8, Ordering::Relaxed);
    }
}

/// Starts probing `backend` by its `check`, on the current tokio runtime.
/// The task ends when the backend is dropped (its service version
/// replaced).
pub fn spawn_prober(backend: &Arc<Backend>, check: HealthCheck) {
    backend.health.start(&check);
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!(backend = %backend.config.url, "no runtime to run its health check on");
        return;
    };
    let weak: Weak<Backend> = Arc::downgrade(backend);
    runtime.spawn(async move {
        loop {
            tokio::time::sleep(check.interval).await;
            let Some(backend) = weak.upgrade() else {
                return;
            };
            let ok = probe(&backend, &check).await;
            backend.health.record(ok, &check);
        }
    });
}

/// One probe: whether `GET path` answered the expected status in time.
async fn probe(backend: &Backend, check: &HealthCheck) -> bool {
    let Ok(req) = http::Request::get(check.path.as_str()).body(OutgoingBody::default()) else {
        return false;
    };
    match tokio::time::timeout(check.timeout, backend.send(req)).await {
        Ok(Ok(resp)) => resp.status().as_u16() == check.expected_status,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthy_while_enough_of_the_window_succeeded() {
        let check = HealthCheck::new("/".into());
        let state = HealthState::default();
        assert_eq!(state.get(), Health::Unknown);
        state.start(&check);
        assert_eq!(state.get(), Health::Healthy, "4 assumed, 3 needed");
        state.record(false, &check);
        assert_eq!(state.get(), Health::Healthy, "4 of 5");
        state.record(false, &check);
        assert_eq!(state.get(), Health::Healthy, "3 of 5");
        state.record(false, &check);
        assert_eq!(state.get(), Health::Unhealthy, "2 of the last 5");
        for _ in 0..2 {
            state.record(true, &check);
        }
        assert_eq!(state.get(), Health::Unhealthy, "2 of the last 5");
        state.record(true, &check);
        assert_eq!(state.get(), Health::Healthy, "3 of the last 5");
    }
}
