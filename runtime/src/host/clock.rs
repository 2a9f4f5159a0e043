//! Time as the limits see it: the epoch tick, a thread's CPU clock, and
//! each request's guest CPU and wall-clock time.

use std::time::{Duration, Instant};

/// How often the engine's epoch advances; CPU and wall limits are checked
/// at this granularity.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

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

/// The most a slice no tick has seen can have run on a CPU: the epoch
/// callback comes within about a tick of running guest code, so anything
/// beyond is time the thread spent descheduled (a busy machine must not
/// push a guest over its CPU limit).
const UNTICKED_SLICE_MAX: Duration = Duration::from_millis(4);

impl Slice {
    fn elapsed(&self) -> Duration {
        match self.thread_clock {
            None => self.began.elapsed().min(UNTICKED_SLICE_MAX),
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
            self.cpu += EPOCH_TICK;
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
            let before = slice.began.elapsed().min(UNTICKED_SLICE_MAX);
            slice.thread_clock = Some((thread_cpu_now(), before));
        }
    }

    /// Adds CPU time the host spent on the guest's behalf inside a hostcall
    /// that waited (copies, decompression, polling many handles).
    pub fn charge(&mut self, host_work: Duration) {
        self.cpu += host_work;
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

/// A hostcall's future, with the CPU time its polls take on whatever
/// threads they run: the host work done for the guest, without the time it
/// spends waiting for the network or a timer.
pub struct HostWork<F> {
    inner: std::pin::Pin<Box<F>>,
    spent: Duration,
}

impl<F: Future> HostWork<F> {
    /// Measures `inner`.
    pub fn new(inner: F) -> Self {
        HostWork {
            inner: Box::pin(inner),
            spent: Duration::ZERO,
        }
    }
}

impl<F: Future> Future for HostWork<F> {
    type Output = (F::Output, Duration);

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let before = thread_cpu_now();
        let polled = self.inner.as_mut().poll(cx);
        self.spent += thread_cpu_now().saturating_sub(before);
        polled.map(|out| (out, self.spent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs guest-like code for `d`, with the epoch ticks the engine
    /// would deliver.
    fn spin(clock: &mut ExecClock, d: Duration) {
        let start = Instant::now();
        let mut next_tick = start + EPOCH_TICK;
        while start.elapsed() < d {
            std::hint::black_box(0u64);
            if Instant::now() >= next_tick {
                clock.tick();
                next_tick += EPOCH_TICK;
            }
        }
    }

    #[test]
    fn cpu_clock_counts_running_not_waiting() {
        let mut clock = ExecClock::default();
        clock.restart();
        // Running counts: spin until the clock has seen 30 ms (by wall
        // time a busy machine would give this thread less CPU than that).
        let deadline = Instant::now() + Duration::from_secs(10);
        while clock.cpu() < Duration::from_millis(30) {
            assert!(Instant::now() < deadline, "running never counted");
            spin(&mut clock, Duration::from_millis(5));
        }
        // Waiting does not: 60 ms asleep adds (almost) nothing.
        let before_wait = clock.cpu();
        clock.wait_begin();
        std::thread::sleep(Duration::from_millis(60));
        clock.wait_end();
        spin(&mut clock, Duration::from_millis(10));
        let added = clock.cpu() - before_wait;
        assert!(
            added < Duration::from_millis(40),
            "waiting was counted: {added:?}"
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

    #[test]
    fn a_slice_no_tick_saw_counts_no_more_than_a_guest_could_run() {
        // The thread is descheduled (here: asleep) before any tick comes:
        // on a busy node that must not count as the guest's CPU time.
        let mut clock = ExecClock::default();
        clock.restart();
        std::thread::sleep(Duration::from_millis(40));
        assert!(clock.cpu() <= UNTICKED_SLICE_MAX, "{:?}", clock.cpu());
        clock.tick();
        clock.wait_begin();
        assert!(
            clock.cpu() <= UNTICKED_SLICE_MAX + Duration::from_millis(1),
            "{:?}",
            clock.cpu()
        );
    }

    #[tokio::test]
    async fn host_work_counts_cpu_spent_in_polls_not_waits() {
        let (_, waited) = HostWork::new(tokio::time::sleep(Duration::from_millis(50))).await;
        assert!(waited < Duration::from_millis(5), "{waited:?}");
        let busy = async {
            let start = Instant::now();
            while start.elapsed() < Duration::from_millis(30) {
                std::hint::black_box(0u64);
            }
            tokio::task::yield_now().await;
        };
        let (_, worked) = HostWork::new(busy).await;
        // Thread CPU time: at least most of the 30 ms, even on a busy machine
        // (less only if the thread was descheduled, which is the point).
        assert!(worked > Duration::from_millis(10), "{worked:?}");
        let mut clock = ExecClock::default();
        clock.restart();
        clock.wait_begin();
        let before = clock.cpu();
        clock.charge(worked);
        assert!(clock.cpu() >= before + worked);
    }
}
