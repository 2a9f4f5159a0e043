//! How long the agent waits before it asks the Kubernetes API again after
//! an error: exponential, capped, and jittered so that the pods of a
//! StatefulSet that lost the API server together do not come back together.

use std::time::Duration;

/// Exponential backoff with "equal jitter": each delay is half the
/// exponential step plus a random part of the other half.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    failures: u32,
}

impl Default for Backoff {
    /// 0.5 s after the first error, doubling up to 30 s.
    fn default() -> Self {
        Self::new(Duration::from_millis(500), Duration::from_secs(30))
    }
}

impl Backoff {
    /// Starts at `first` and doubles up to `max`.
    pub fn new(first: Duration, max: Duration) -> Self {
        Self {
            first,
            max: max.max(first),
            failures: 0,
        }
    }

    /// The delay before the next attempt, after one more failure.
    pub fn next_delay(&mut self) -> Duration {
        // 2^16 times any sensible first step is beyond any sensible cap.
        let factor = 1u32 << self.failures.min(16);
        self.failures = self.failures.saturating_add(1);
        let step = self.first.saturating_mul(factor).min(self.max);
        let half = step / 2;
        let jitter_nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(rand::random_range(0..=jitter_nanos))
    }

    /// Back to the first step, after the API answered.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_stays_under_the_cap() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let delays: Vec<Duration> = (0..8).map(|_| b.next_delay()).collect();
        for (i, d) in delays.iter().enumerate() {
            let step = Duration::from_millis(100 << i).min(Duration::from_secs(1));
            assert!(
                *d >= step / 2 && *d <= step,
                "delay {i}: {d:?} not in [{:?}, {step:?}]",
                step / 2
            );
        }
    }

    #[test]
    fn reset_starts_over() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
        for _ in 0..5 {
            b.next_delay();
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn many_failures_do_not_overflow() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        for _ in 0..100 {
            assert!(b.next_delay() <= Duration::from_secs(30));
        }
    }
}
