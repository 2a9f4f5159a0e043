//! Linear memory of all instances of the process together
//! (`limits.totalHeapMemory`). Each instance already has its own ceiling
//! (`limits.heapMemory`); at full concurrency those add up to far more than
//! the pod has, so growth also draws on one shared budget. A program whose
//! memory would pass it sees `memory.grow` fail (its allocator reports
//! out of memory) or its instantiation refused, instead of the kernel
//! killing the whole pod.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use wasmtime::{ResourceLimiter, StoreLimits};

/// The shared budget, in bytes.
#[derive(Debug)]
pub struct HeapBudget {
    used: AtomicUsize,
    limit: usize,
}

impl HeapBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(HeapBudget {
            used: AtomicUsize::new(0),
            limit,
        })
    }

    /// The budget for this process: `explicit`, or three quarters of the
    /// container's memory limit (cgroup v2, then v1), or none.
    pub fn for_container(explicit: Option<u64>) -> Option<Arc<Self>> {
        let bytes = explicit.or_else(|| container_memory_limit().map(|m| m / 4 * 3))?;
        Some(Self::new(usize::try_from(bytes).unwrap_or(usize::MAX)))
    }

    /// Bytes of linear memory held now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// The budget.
    pub fn limit(&self) -> usize {
        self.limit
    }

    fn take(&self, n: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                u.checked_add(n).filter(|t| *t <= self.limit)
            })
            .is_ok()
    }

    fn give(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }
}

/// The memory limit of the cgroup this process runs in, if it has one.
fn container_memory_limit() -> Option<u64> {
    let read = |p: &str| std::fs::read_to_string(Path::new(p)).ok();
    let v2 = read("/sys/fs/cgroup/memory.max").and_then(|t| t.trim().parse().ok());
    // cgroup v1 writes a huge number for "no limit".
    let v1 = read("/sys/fs/cgroup/memory/memory.limit_in_bytes")
        .and_then(|t| t.trim().parse::<u64>().ok())
        .filter(|b| *b < 1 << 60);
    v2.or(v1)
}

/// One instance's limits: its own ceiling, then the shared budget.
#[derive(Debug)]
pub struct GuestLimiter {
    own: StoreLimits,
    budget: Option<Arc<HeapBudget>>,
    taken: usize,
}

impl GuestLimiter {
    /// `own` for this instance, drawing on `budget` when there is one.
    pub fn new(own: StoreLimits, budget: Option<Arc<HeapBudget>>) -> Self {
        GuestLimiter {
            own,
            budget,
            taken: 0,
        }
    }
}

impl ResourceLimiter for GuestLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if !self.own.memory_growing(current, desired, maximum)? {
            return Ok(false);
        }
        let Some(budget) = &self.budget else {
            return Ok(true);
        };
        let more = desired.saturating_sub(current);
        if !budget.take(more) {
            tracing::warn!(
                used = budget.used(),
                limit = budget.limit(),
                asked = more,
                "linear memory refused: limits.totalHeapMemory is used up"
            );
            return Ok(false);
        }
        self.taken += more;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.own.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.own.instances()
    }

    fn tables(&self) -> usize {
        self.own.tables()
    }

    fn memories(&self) -> usize {
        self.own.memories()
    }
}

impl Drop for GuestLimiter {
    fn drop(&mut self) {
        if let Some(b) = &self.budget {
            b.give(self.taken);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::StoreLimitsBuilder;

    fn own() -> StoreLimits {
        StoreLimitsBuilder::new().memory_size(100).build()
    }

    #[test]
    fn growth_draws_on_the_shared_budget_and_gives_it_back() {
        let budget = HeapBudget::new(150);
        let mut a = GuestLimiter::new(own(), Some(budget.clone()));
        let mut b = GuestLimiter::new(own(), Some(budget.clone()));
        assert!(a.memory_growing(0, 100, None).unwrap());
        // Within b's own ceiling, but past what the budget has left.
        assert!(!b.memory_growing(0, 60, None).unwrap());
        assert!(b.memory_growing(0, 50, None).unwrap());
        assert_eq!(budget.used(), 150);
        // a's own ceiling still applies first.
        assert!(!a.memory_growing(100, 120, None).unwrap());
        drop(a);
        assert_eq!(budget.used(), 50);
        drop(b);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn an_explicit_budget_wins_over_the_container() {
        let b = HeapBudget::for_container(Some(1 << 30)).unwrap();
        assert_eq!(b.limit(), 1 << 30);
    }
}
