//! Jittered exponential backoff, per service: a failing source is asked
//! less and less often, and many pods do not ask in step.

use std::time::{Duration, Instant};

/// The retry state of one source.
#[derive(Debug, Clone, Default)]
pub struct Backoff {
    failures: u32,
    next: Option<Instant>,
}

/// The longest wait between two attempts.
pub const MAX_WAIT: Duration = Duration::from_secs(600);

impl Backoff {
    /// Whether an attempt is due at `now`.
    pub fn due(&self, now: Instant) -> bool {
        self.next.is_none_or(|n| now >= n)
    }

    /// Records a failure: the next attempt waits `base` × 2^failures (capped),
    /// ± 20 %.
    pub fn failed(&mut self, now: Instant, base: Duration) {
        self.failures = self.failures.saturating_add(1);
        let factor = 2u32.saturating_pow(self.failures.min(16));
        let wait = base.saturating_mul(factor).min(MAX_WAIT);
        self.next = Some(now + jitter(wait));
    }

    /// Records a success.
    pub fn succeeded(&mut self) {
        *self = Backoff::default();
    }

    /// Failures in a row.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

/// `wait` ± 20 %.
pub fn jitter(wait: Duration) -> Duration {
    let spread = rand::random_range(0.8..1.2);
    wait.mul_f64(spread)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_and_are_capped() {
        let now = Instant::now();
        let mut b = Backoff::default();
        assert!(b.due(now));
        b.failed(now, Duration::from_secs(10));
        assert!(!b.due(now + Duration::from_secs(15)));
        assert!(b.due(now + Duration::from_secs(25)));
        for _ in 0..20 {
            b.failed(now, Duration::from_secs(10));
        }
        assert!(b.due(now + MAX_WAIT.mul_f64(1.21)));
        b.succeeded();
        assert!(b.due(now) && b.failures() == 0);
    }
}
