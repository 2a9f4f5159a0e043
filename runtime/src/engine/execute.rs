//! Running a request: hand it to an instance waiting in `next_request`, or
//! create a new one from the pool, run `_start` with CPU, wall-clock and
//! memory limits, and answer 500 when the guest fails before responding.

use super::loaded::LoadedService;
use crate::abi::state::GuestState;
use crate::host::body::OutgoingBody;
use crate::host::downstream::DownstreamRequest;
use crate::host::heap::GuestLimiter;
use crate::host::program_output::ProgramOutput;
use crate::host::session::Session;
use crate::limits::InstanceLimit;
use crate::metrics::Metrics;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;
use wasmtime::{Store, StoreLimitsBuilder, UpdateDeadline};

/// Epoch ticks a guest runs before it yields its thread.
const YIELD_EVERY_TICKS: u32 = 5;

/// How an instance ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `_start` returned (or the guest exited with status 0).
    Completed,
    /// Stopped by a limit.
    Limit(InstanceLimit),
    /// The guest trapped: what kind of trap, and the message.
    Trap(TrapKind, String),
}

impl Outcome {
    /// How the instance ended, for logs.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Limit(limit) => limit.label(),
            Outcome::Trap(kind, _) => kind.label(),
        }
    }
}

/// Runs `req` on `service`: on a warm instance waiting for it, queued for
/// the next free one, or on a new instance.
pub fn dispatch(service: &Arc<LoadedService>, req: DownstreamRequest, metrics: &Arc<Metrics>) {
    use crate::host::reuse::Placement;
    if let Placement::StartNew(req) = service.env.instances.offer(Box::new(req)) {
        start_instance(service.clone(), req, metrics.clone());
    }
}

/// Runs a new instance for `req` (already counted by the pool) and, when
/// it ends, one for any request still queued with no instance to take it.
fn start_instance(service: Arc<LoadedService>, req: Box<DownstreamRequest>, metrics: Arc<Metrics>) {
    tokio::spawn(async move {
        let mut next = Some(req);
        while let Some(req) = next.take() {
            metrics.live_instances.inc();
            let outcome = run_instance(&service, *req, &metrics).await;
            metrics.live_instances.dec();
            count_outcome(&service.env.name, &outcome, &metrics);
            next = service.env.instances.ended();
        }
    });
}

/// Counts limits hit and traps by kind.
fn count_outcome(name: &str, outcome: &Outcome, metrics: &Metrics) {
    let (family, kind) = match outcome {
        Outcome::Completed => return,
        Outcome::Limit(limit) => (&metrics.limit_kills, limit.label()),
        Outcome::Trap(kind, _) => (&metrics.traps, kind.label()),
    };
    family.get_or_create(&Metrics::kind(name, kind)).inc();
    let event = match outcome {
        Outcome::Limit(_) => "limit",
        _ => "trap",
    };
    metrics.events.count(name, &format!("{event}:{kind}"));
}

/// Why a guest trapped, as the metrics count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrapKind {
    /// The wasm call stack overflowed.
    StackOverflow,
    /// A load or store outside linear memory.
    MemoryOutOfBounds,
    /// `unreachable` (what most languages compile a panic or abort to).
    Unreachable,
    /// An allocation larger than the instance may have.
    OutOfMemory,
    /// The instance could not be created (e.g. its initial memory exceeds
    /// the heap limit, or the pool is exhausted).
    Instantiation,
    /// Any other trap.
    Other,
}

impl TrapKind {
    /// Classifies an error from running a guest by its wasmtime trap code.
    pub fn of(error: &wasmtime::Error) -> Self {
        match error.downcast_ref::<wasmtime::Trap>() {
            Some(wasmtime::Trap::StackOverflow) => TrapKind::StackOverflow,
            Some(wasmtime::Trap::MemoryOutOfBounds) => TrapKind::MemoryOutOfBounds,
            Some(wasmtime::Trap::UnreachableCodeReached) => TrapKind::Unreachable,
            Some(wasmtime::Trap::AllocationTooLarge) => TrapKind::OutOfMemory,
            _ => TrapKind::Other,
        }
    }

    /// The metric label (`anywhere_guest_traps_total{kind=...}`).
    pub fn label(self) -> &'static str {
        match self {
            TrapKind::StackOverflow => "stack_overflow",
            TrapKind::MemoryOutOfBounds => "memory_out_of_bounds",
            TrapKind::Unreachable => "unreachable",
            TrapKind::OutOfMemory => "out_of_memory",
            TrapKind::Instantiation => "instantiation",
            TrapKind::Other => "other",
        }
    }
}

/// Creates an instance for `req` and runs it to the end, inside a span that
/// carries the service and the trace id the program sees
/// (`FASTLY_TRACE_ID`), so that every log line about the request names it.
pub async fn run_instance(
    service: &LoadedService,
    req: DownstreamRequest,
    metrics: &Metrics,
) -> Outcome {
    let env = service.env.clone();
    let mut wasi = wasmtime_wasi::WasiCtxBuilder::new();
    if env.log_program_output {
        wasi.stdout(ProgramOutput::new(&env.name, "stdout"))
            .stderr(ProgramOutput::new(&env.name, "stderr"));
    } else {
        wasi.inherit_stdout().inherit_stderr();
    }
    let mut trace_id = String::new();
    for (name, value) in env.platform_vars() {
        if name == "FASTLY_TRACE_ID" {
            trace_id.clone_from(&value);
        }
        wasi.env(name, value);
    }
    let span = tracing::info_span!("request", service = %env.name, trace_id = %trace_id);
    let outcome = run_in_span(service, wasi, req, metrics)
        .instrument(span)
        .await;
    tracing::debug!(
        service = %env.name,
        trace_id = %trace_id,
        outcome = outcome.label(),
        "request done"
    );
    outcome
}

async fn run_in_span(
    service: &LoadedService,
    mut wasi: wasmtime_wasi::WasiCtxBuilder,
    req: DownstreamRequest,
    metrics: &Metrics,
) -> Outcome {
    let env = service.env.clone();
    let mut store = new_store(service, wasi.build_p1(), req);
    let wall_limit = env.limits.wall_time;
    let started = Instant::now();
    let instance = match service.pre.instantiate_async(&mut store).await {
        Ok(i) => i,
        Err(e) => {
            let message = format!("instantiation failed: {e:#}");
            fail(&mut store, &env.name, 500, &message);
            return Outcome::Trap(TrapKind::Instantiation, message);
        }
    };
    metrics
        .instantiation
        .get_or_create(&Metrics::service(&env.name))
        .observe(started.elapsed().as_secs_f64());
    store.data_mut().memory = instance.get_memory(&mut store, "memory");
    let start = match instance.get_typed_func::<(), ()>(&mut store, "_start") {
        Ok(f) => f,
        Err(e) => {
            let message = format!("no _start: {e}");
            fail(&mut store, &env.name, 500, &message);
            return Outcome::Trap(TrapKind::Other, message);
        }
    };
    store.data_mut().session.clock_mut().wait_end();
    let serial = store.data().session.request_serial();
    // The epoch callback enforces the wall-clock limit while the guest
    // runs; this watchdog enforces it while the guest waits on the host.
    // Dropping the call future stops the guest where it is.
    let result = tokio::select! {
        r = start.call_async(&mut store, ()) => Some(r),
        () = wall_watchdog(&serial, wall_limit) => None,
    };
    compact_slot_now_and_then(service, &mut store);
    let outcome = match result {
        None => Outcome::Limit(InstanceLimit::Wall),
        Some(Ok(())) => Outcome::Completed,
        Some(Err(e)) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
            Some(exit) if exit.0 == 0 => Outcome::Completed,
            _ => match store.data().interrupted {
                Some(limit) => Outcome::Limit(limit),
                None => Outcome::Trap(TrapKind::of(&e), format!("{e:#}")),
            },
        },
    };
    match &outcome {
        Outcome::Completed => fail(
            &mut store,
            &env.name,
            500,
            "the program ended without sending a response",
        ),
        Outcome::Limit(limit) => {
            let what = limit.describe();
            tracing::warn!(service = %env.name, limit = limit.label(), "guest stopped at its {what} limit");
            fail(
                &mut store,
                &env.name,
                500,
                &format!("the program exceeded its {what} limit"),
            );
        }
        Outcome::Trap(_, message) => {
            tracing::warn!(service = %env.name, error = %message, "guest trapped");
            fail(&mut store, &env.name, 500, "the program failed (trap)");
        }
    }
    outcome
}

/// Every instance for the first 256 of a version, then one in 32: joins
/// the runs of pages the instance wrote so that its slot's next reset
/// keeps them (see `compact`). Slots settle on the pages their program
/// writes, so a slot needs this only until it has.
fn compact_slot_now_and_then(service: &LoadedService, store: &mut Store<GuestState>) {
    let n = service
        .started
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if n >= 256 && !n.is_multiple_of(32) {
        return;
    }
    if super::options::current().slot_reset != super::options::SlotReset::Auto {
        return;
    }
    let Some(memory) = store.data().memory else {
        return;
    };
    if let Some(done) = super::compact::compact(memory.data_mut(&mut *store))
        && done.filled_bytes > 0
    {
        tracing::debug!(
            service = %service.env.name,
            runs_before = done.runs_before,
            runs_after = done.runs_after,
            filled_bytes = done.filled_bytes,
            "joined the runs of written pages in a slot"
        );
    }
}

/// A store for one instance of `service` handling `req`, with its memory
/// limits and the epoch callback that enforces its CPU and wall-clock
/// limits and makes it yield its thread now and then.
pub fn new_store(
    service: &LoadedService,
    wasi: wasmtime_wasi::p1::WasiP1Ctx,
    req: DownstreamRequest,
) -> Store<GuestState> {
    let env = service.env.clone();
    let limits = env.limits.clone();
    let state = GuestState {
        wasi,
        session: Session::new(env.clone(), req),
        limits: GuestLimiter::new(
            StoreLimitsBuilder::new()
                .memory_size(limits.heap_bytes)
                .instances(1)
                .build(),
            env.heap.clone(),
        ),
        memory: None,
        interrupted: None,
    };
    let mut store = Store::new(service.pre.module().engine(), state);
    store.limiter(|s| &mut s.limits);
    store.set_epoch_deadline(1);
    let (cpu_limit, wall_limit) = (limits.cpu_time, limits.wall_time);
    let mut ticks: u32 = 0;
    store.epoch_deadline_callback(move |mut ctx| {
        let st = ctx.data_mut();
        st.session.clock_mut().tick();
        if st.session.clock().cpu() > cpu_limit {
            st.interrupted = Some(InstanceLimit::Cpu);
            return Ok(UpdateDeadline::Interrupt);
        }
        if st.session.clock().wall() > wall_limit {
            st.interrupted = Some(InstanceLimit::Wall);
            return Ok(UpdateDeadline::Interrupt);
        }
        // Every few ticks, give the thread back to other requests: a guest
        // that computes must not starve the tasks queued behind it.
        ticks = ticks.wrapping_add(1);
        if ticks.is_multiple_of(YIELD_EVERY_TICKS) {
            st.session.clock_mut().yield_begin();
            return Ok(UpdateDeadline::Yield(1));
        }
        Ok(UpdateDeadline::Continue(1))
    });
    store
}

/// Resolves when one client request has lasted longer than `limit` (at
/// most twice `limit` after it began, for a reused instance): each request
/// the instance takes restarts the count.
pub(crate) async fn wall_watchdog(
    serial: &std::sync::atomic::AtomicU64,
    limit: std::time::Duration,
) {
    loop {
        let timed = serial.load(std::sync::atomic::Ordering::Relaxed);
        tokio::time::sleep(limit).await;
        if serial.load(std::sync::atomic::Ordering::Relaxed) == timed {
            return;
        }
    }
}

/// Answers the client, if the guest has not, with an error of ours.
fn fail(store: &mut Store<GuestState>, service: &str, status: u16, message: &str) {
    let Some(respond) = store.data_mut().session.take_responder() else {
        return;
    };
    tracing::debug!(service, status, message, "answering for the guest");
    let resp = http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header("x-anywhere-error", "guest")
        .body(OutgoingBody::full(format!("Fastly Anywhere: {message}\n")));
    if let Ok(resp) = resp {
        let _ = respond.send(resp);
    }
}
