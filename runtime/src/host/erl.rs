//! Edge rate limiting: rate counters (requests per second over 1, 10 or 60
//! s windows, counts over 10 to 60 s) and penalty boxes, kept per service
//! in memory, as on one Fastly POP.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Seconds of history a counter keeps.
const HISTORY_SECS: usize = 61;

#[derive(Debug)]
struct Counter {
    /// Count per second, ring-indexed by second since `epoch`.
    buckets: [u32; HISTORY_SECS],
    /// The last second written.
    last: u64,
}

/// Rate counters and penalty boxes of one service.
#[derive(Debug)]
pub struct RateLimiter {
    epoch: Instant,
    counters: Mutex<HashMap<(String, String), Counter>>,
    boxes: Mutex<HashMap<(String, String), Instant>>,
}

impl Default for RateLimiter {
    fn default() -> Self {
        RateLimiter {
            epoch: Instant::now(),
            counters: Mutex::default(),
            boxes: Mutex::default(),
        }
    }
}

impl RateLimiter {
    fn second(&self) -> u64 {
        self.epoch.elapsed().as_secs()
    }

    fn with_counter<R>(&self, rc: &str, entry: &str, f: impl FnOnce(&mut Counter, u64) -> R) -> R {
        let now = self.second();
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        let c = counters
            .entry((rc.to_owned(), entry.to_owned()))
            .or_insert(Counter {
                buckets: [0; HISTORY_SECS],
                last: now,
            });
        // Clear the seconds that passed without a write.
        let gap = now.saturating_sub(c.last).min(HISTORY_SECS as u64);
        for s in 1..=gap {
            c.buckets[((c.last + s) % HISTORY_SECS as u64) as usize] = 0;
        }
        c.last = now;
        f(c, now)
    }

    /// Adds `delta` to `entry` of counter `rc`.
    pub fn increment(&self, rc: &str, entry: &str, delta: u32) {
        self.with_counter(rc, entry, |c, now| {
            let b = &mut c.buckets[(now % HISTORY_SECS as u64) as usize];
            *b = b.saturating_add(delta);
        });
    }

    fn sum(c: &Counter, now: u64, secs: u64) -> u64 {
        // Whole seconds before the current one, so a rate does not drop at
        // the start of each second.
        (1..=secs.min(HISTORY_SECS as u64 - 1))
            .map(|s| {
                c.buckets[((now + HISTORY_SECS as u64 - s) % HISTORY_SECS as u64) as usize] as u64
            })
            .sum()
    }

    /// Requests per second over the last `window` seconds (1, 10 or 60).
    pub fn rate(&self, rc: &str, entry: &str, window: u32) -> u32 {
        let window = u64::from(window.max(1));
        self.with_counter(rc, entry, |c, now| {
            let current = c.buckets[(now % HISTORY_SECS as u64) as usize] as u64;
            ((Self::sum(c, now, window) + current) / window) as u32
        })
    }

    /// Count over the last `duration` seconds (10 to 60).
    pub fn count(&self, rc: &str, entry: &str, duration: u32) -> u32 {
        self.with_counter(rc, entry, |c, now| {
            let current = c.buckets[(now % HISTORY_SECS as u64) as usize] as u64;
            (Self::sum(c, now, u64::from(duration)) + current).min(u32::MAX as u64) as u32
        })
    }

    /// Puts `entry` in penalty box `pb` for `ttl`.
    pub fn penalize(&self, pb: &str, entry: &str, ttl: Duration) {
        let mut boxes = self.boxes.lock().unwrap_or_else(|p| p.into_inner());
        boxes.insert((pb.to_owned(), entry.to_owned()), Instant::now() + ttl);
    }

    /// True while `entry` is in penalty box `pb`.
    pub fn is_penalized(&self, pb: &str, entry: &str) -> bool {
        let mut boxes = self.boxes.lock().unwrap_or_else(|p| p.into_inner());
        let key = (pb.to_owned(), entry.to_owned());
        match boxes.get(&key) {
            Some(until) if *until > Instant::now() => true,
            Some(_) => {
                boxes.remove(&key);
                false
            }
            None => false,
        }
    }

    /// `check_rate`: counts the request and answers true (block) when the
    /// entry is boxed or its rate exceeds `limit`, boxing it for `ttl`.
    // The arguments are the ABI's, one for one.
    #[allow(clippy::too_many_arguments)]
    pub fn check_rate(
        &self,
        rc: &str,
        entry: &str,
        delta: u32,
        window: u32,
        limit: u32,
        pb: &str,
        ttl: Duration,
    ) -> bool {
        if self.is_penalized(pb, entry) {
            return true;
        }
        self.increment(rc, entry, delta);
        if self.rate(rc, entry, window) > limit {
            self.penalize(pb, entry, ttl);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_rate_boxes_an_entry_over_its_limit() {
        let erl = RateLimiter::default();
        let ttl = Duration::from_secs(60);
        assert!(!erl.check_rate("rc", "client", 5, 1, 10, "pb", ttl));
        assert!(!erl.is_penalized("pb", "client"));
        assert!(erl.check_rate("rc", "client", 10, 1, 10, "pb", ttl));
        assert!(erl.is_penalized("pb", "client"));
        assert!(!erl.is_penalized("pb", "other"));
        assert_eq!(erl.count("rc", "client", 10), 15);
    }
}
