//! The data a wasmtime `Store` carries for one instance.

use crate::host::heap::GuestLimiter;
use crate::host::session::Session;
use crate::limits::InstanceLimit;
use wasmtime::Memory;
use wasmtime_wasi::p1::WasiP1Ctx;

/// Store data of one instance.
pub struct GuestState {
    /// WASI preview 1 (clocks, random, stdout and stderr; no files).
    pub wasi: WasiP1Ctx,
    /// Fastly ABI handles and the client request.
    pub session: Session,
    /// Memory and table limits, and the process's shared heap budget.
    pub limits: GuestLimiter,
    /// The guest's exported memory, set after instantiation.
    pub memory: Option<Memory>,
    /// Why the epoch callback stopped the guest, for the error answer.
    pub interrupted: Option<InstanceLimit>,
}
