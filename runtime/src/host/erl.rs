//! Edge rate limiting: rate counters (requests per second over 1, 10 or 60
//! s windows, counts over 10 to 60 s) and penalty boxes, kept per service
//! in memory, as on one Fastly POP.
//!
//! Bounded, whatever the program asks: an entry (one counter of one rate
//! counter, or one entry of a penalty box) expires a minute after its last
//! increment, or when its penalty ends (an hour at most, as on Fastly), and
//! is then gone; at most `limits.rateLimitEntries` are held per service,
//! the ones written longest ago making room when more come. Lookups
//! never create entries, and names are kept as a 128-bit digest, so a long
//! entry name costs what a short one does.

use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Seconds of history a counter keeps.
const HISTORY_SECS: usize = 61;

/// How long a counter lives after its last increment: its whole history.
const COUNTER_LIFE_MS: u64 = HISTORY_SECS as u64 * 1000;

/// The longest penalty (Fastly's).
pub const MAX_PENALTY: Duration = Duration::from_secs(3600);

/// An entry's name: a digest of its kind, table and entry names.
type Key = [u8; 16];

fn key(kind: u8, table: &str, entry: &str) -> Key {
    let mut h = Sha256::new();
    h.update([kind]);
    h.update((table.len() as u64).to_le_bytes());
    h.update(table.as_bytes());
    h.update(entry.as_bytes());
    let digest = h.finalize();
    let mut k = [0; 16];
    k.copy_from_slice(&digest[..16]);
    k
}

const COUNTER: u8 = 0;
const PENALTY: u8 = 1;

#[derive(Debug)]
struct Counter {
    /// Count per second, ring-indexed by second since the limiter began.
    buckets: [u32; HISTORY_SECS],
    /// The last second written.
    last: u64,
}

impl Counter {
    /// Clears the seconds that passed since the last write.
    fn advance(&mut self, now: u64) {
        let gap = now.saturating_sub(self.last).min(HISTORY_SECS as u64);
        for s in 1..=gap {
            self.buckets[((self.last + s) % HISTORY_SECS as u64) as usize] = 0;
        }
        self.last = self.last.max(now);
    }

    fn at(&self, second: u64) -> u64 {
        u64::from(self.buckets[(second % HISTORY_SECS as u64) as usize])
    }

    /// Whole seconds before the current one, so a rate does not drop at
    /// the start of each second.
    fn sum(&self, now: u64, secs: u64) -> u64 {
        (1..=secs.min(HISTORY_SECS as u64 - 1))
            .map(|s| self.at(now + HISTORY_SECS as u64 - s))
            .sum()
    }
}

#[derive(Debug)]
enum Entry {
    Counter(Box<Counter>),
    Boxed,
}

/// Every entry of one service (with its expiry and when it was last
/// written), and the same keys by expiry and by age.
#[derive(Debug, Default)]
struct Table {
    entries: HashMap<Key, (Entry, u64, u64)>,
    by_expiry: BTreeSet<(u64, Key)>,
    by_age: BTreeSet<(u64, Key)>,
    /// Writes so far: the age of the next one.
    writes: u64,
}

impl Table {
    /// Drops what expired by `now` (ms).
    fn purge(&mut self, now: u64) {
        while let Some(&(expires, k)) = self.by_expiry.first()
            && expires <= now
        {
            self.remove(&k);
        }
    }

    fn remove(&mut self, k: &Key) -> Option<Entry> {
        let (entry, expires, written) = self.entries.remove(k)?;
        self.by_expiry.remove(&(expires, *k));
        self.by_age.remove(&(written, *k));
        Some(entry)
    }

    /// Sets `k`'s entry and expiry; when it is new and the table is full,
    /// the entry written longest ago makes room.
    fn put(&mut self, k: Key, entry: Entry, expires: u64, max: usize) {
        if self.remove(&k).is_none() {
            while self.entries.len() >= max.max(1) {
                let Some(&(_, oldest)) = self.by_age.first() else {
                    break;
                };
                self.remove(&oldest);
            }
        }
        let written = self.writes;
        self.writes += 1;
        self.entries.insert(k, (entry, expires, written));
        self.by_expiry.insert((expires, k));
        self.by_age.insert((written, k));
    }

    /// `k`'s counter, brought to second `second`, if it exists.
    fn counter(&mut self, k: &Key, second: u64) -> Option<&Counter> {
        match self.entries.get_mut(k) {
            Some((Entry::Counter(c), _, _)) => {
                c.advance(second);
                Some(&**c)
            }
            _ => None,
        }
    }
}

/// The limiter's clock: time since it began.
type Clock = Arc<dyn Fn() -> Duration + Send + Sync>;

/// Rate counters and penalty boxes of one service.
pub struct RateLimiter {
    clock: Clock,
    max_entries: usize,
    table: Mutex<Table>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("max_entries", &self.max_entries)
            .finish_non_exhaustive()
    }
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::new(crate::limits::Limits::default().rate_limit_entries)
    }
}

impl RateLimiter {
    /// A limiter holding at most `max_entries` counters and boxed entries.
    pub fn new(max_entries: usize) -> Self {
        let began = Instant::now();
        Self::with_clock(max_entries, Arc::new(move || began.elapsed()))
    }

    /// A limiter reading time from `clock` (time since it began).
    pub fn with_clock(max_entries: usize, clock: Clock) -> Self {
        RateLimiter {
            clock,
            max_entries,
            table: Mutex::default(),
        }
    }

    /// The table with expired entries gone, and the time in ms.
    fn table(&self) -> (std::sync::MutexGuard<'_, Table>, u64) {
        let now = (self.clock)().as_millis() as u64;
        let mut t = self.table.lock().unwrap_or_else(|p| p.into_inner());
        t.purge(now);
        (t, now)
    }

    /// Counters and boxed entries held now.
    pub fn len(&self) -> usize {
        self.table().0.entries.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn increment_in(&self, t: &mut Table, now: u64, rc: &str, entry: &str, delta: u32) {
        let k = key(COUNTER, rc, entry);
        let second = now / 1000;
        let mut counter = match t.remove(&k) {
            Some(Entry::Counter(c)) => c,
            _ => Box::new(Counter {
                buckets: [0; HISTORY_SECS],
                last: second,
            }),
        };
        counter.advance(second);
        let b = &mut counter.buckets[(second % HISTORY_SECS as u64) as usize];
        *b = b.saturating_add(delta);
        t.put(
            k,
            Entry::Counter(counter),
            now + COUNTER_LIFE_MS,
            self.max_entries,
        );
    }

    fn rate_in(t: &mut Table, now: u64, rc: &str, entry: &str, window: u32) -> u32 {
        let window = u64::from(window.max(1));
        let second = now / 1000;
        t.counter(&key(COUNTER, rc, entry), second).map_or(0, |c| {
            ((c.sum(second, window) + c.at(second)) / window) as u32
        })
    }

    /// Adds `delta` to `entry` of counter `rc`.
    pub fn increment(&self, rc: &str, entry: &str, delta: u32) {
        let (mut t, now) = self.table();
        self.increment_in(&mut t, now, rc, entry, delta);
    }

    /// Requests per second over the last `window` seconds (1, 10 or 60).
    pub fn rate(&self, rc: &str, entry: &str, window: u32) -> u32 {
        let (mut t, now) = self.table();
        Self::rate_in(&mut t, now, rc, entry, window)
    }

    /// Count over the last `duration` seconds (10 to 60).
    pub fn count(&self, rc: &str, entry: &str, duration: u32) -> u32 {
        let (mut t, now) = self.table();
        let second = now / 1000;
        t.counter(&key(COUNTER, rc, entry), second).map_or(0, |c| {
            (c.sum(second, u64::from(duration)) + c.at(second)).min(u64::from(u32::MAX)) as u32
        })
    }

    fn penalize_in(&self, t: &mut Table, now: u64, pb: &str, entry: &str, ttl: Duration) {
        let ttl = ttl.min(MAX_PENALTY).as_millis() as u64;
        t.put(
            key(PENALTY, pb, entry),
            Entry::Boxed,
            now + ttl,
            self.max_entries,
        );
    }

    /// Puts `entry` in penalty box `pb` for `ttl` (an hour at most).
    pub fn penalize(&self, pb: &str, entry: &str, ttl: Duration) {
        let (mut t, now) = self.table();
        self.penalize_in(&mut t, now, pb, entry, ttl);
    }

    /// True while `entry` is in penalty box `pb`.
    pub fn is_penalized(&self, pb: &str, entry: &str) -> bool {
        let (t, _) = self.table();
        t.entries.contains_key(&key(PENALTY, pb, entry))
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
        let (mut t, now) = self.table();
        if t.entries.contains_key(&key(PENALTY, pb, entry)) {
            return true;
        }
        self.increment_in(&mut t, now, rc, entry, delta);
        if Self::rate_in(&mut t, now, rc, entry, window) > limit {
            self.penalize_in(&mut t, now, pb, entry, ttl);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A limiter and the hand that moves its clock (ms).
    fn manual(max: usize) -> (RateLimiter, Arc<AtomicU64>) {
        let ms = Arc::new(AtomicU64::new(0));
        let read = ms.clone();
        let clock: Clock = Arc::new(move || Duration::from_millis(read.load(Ordering::Relaxed)));
        (RateLimiter::with_clock(max, clock), ms)
    }

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

    #[test]
    fn two_hundred_thousand_entries_stay_within_the_limit() {
        let (erl, ms) = manual(100_000);
        for i in 0..200_000u32 {
            if i % 1000 == 0 {
                ms.fetch_add(1, Ordering::Relaxed);
            }
            let entry = format!("client-{i}");
            if i % 2 == 0 {
                erl.increment("rc", &entry, 1);
            } else {
                erl.penalize("pb", &entry, Duration::from_secs(600));
            }
            assert!(erl.len() <= 100_000);
        }
        assert_eq!(erl.len(), 100_000);
        // The newest are kept, the oldest went first.
        assert_eq!(erl.count("rc", "client-199998", 10), 1);
        assert!(erl.is_penalized("pb", "client-199999"));
        assert_eq!(erl.count("rc", "client-0", 10), 0);
        assert!(!erl.is_penalized("pb", "client-1"));
    }

    #[test]
    fn lookups_create_nothing_and_a_long_name_costs_a_digest() {
        let (erl, _) = manual(10);
        let long = "x".repeat(1 << 20);
        for i in 0..100 {
            assert_eq!(erl.rate("rc", &format!("{i}{long}"), 10), 0);
            assert_eq!(erl.count("rc", &format!("{i}"), 10), 0);
            assert!(!erl.is_penalized("pb", &format!("{i}")));
        }
        assert!(erl.is_empty());
    }

    #[test]
    fn counters_and_penalties_expire_after_their_time() {
        let (erl, ms) = manual(100);
        erl.increment("rc", "a", 3);
        erl.penalize("pb", "a", Duration::from_secs(60));
        erl.penalize("pb", "forever", Duration::from_secs(u64::from(u32::MAX)));
        assert_eq!(erl.len(), 3);
        ms.store(59_999, Ordering::Relaxed);
        assert!(erl.is_penalized("pb", "a"));
        assert_eq!(erl.count("rc", "a", 60), 3);
        ms.store(60_000, Ordering::Relaxed);
        assert!(!erl.is_penalized("pb", "a"), "the penalty ended");
        assert_eq!(erl.len(), 2);
        ms.store(61_000, Ordering::Relaxed);
        assert_eq!(erl.len(), 1, "the counter's whole history has passed");
        assert_eq!(erl.count("rc", "a", 60), 0);
        ms.store(3_600_000, Ordering::Relaxed);
        assert!(erl.is_empty(), "no penalty outlives an hour");
    }

    #[test]
    fn the_entry_written_longest_ago_makes_room() {
        let (erl, ms) = manual(3);
        for (t, e) in [(0, "a"), (1000, "b"), (2000, "c")] {
            ms.store(t, Ordering::Relaxed);
            erl.increment("rc", e, 1);
        }
        ms.store(3000, Ordering::Relaxed);
        erl.increment("rc", "a", 1); // a now expires last
        erl.increment("rc", "d", 1);
        assert_eq!(erl.count("rc", "b", 10), 0, "b was the oldest");
        assert_eq!(erl.count("rc", "a", 10), 2);
        assert_eq!(erl.count("rc", "c", 10), 1);
        assert_eq!(erl.count("rc", "d", 10), 1);
    }
}
