//! The Fastly Compute ABI: one file per wasm import module, each a thin
//! adapter from wasm arguments to the typed host API in `crate::host`.
//! Every import of the `fastly_*` modules links: what is not implemented
//! answers `FastlyStatus::UNSUPPORTED` (see docs/compatibility.md).

mod acl;
mod async_io;
mod backend;
mod body;
mod compute_runtime;
mod downstream;
mod erl;
mod geo;
pub(crate) mod headers;
mod kv_store;
mod log;
pub mod memory;
mod req;
mod resp;
mod stores;
pub mod unsupported;

use crate::engine::state::GuestState;
use crate::host::{HostError, HostResult};
use memory::Mem;
use wasmtime::{Caller, Linker};

/// Converts a host result to the status code the guest sees.
pub(crate) fn status(r: HostResult<()>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => {
            if matches!(e, HostError::Unsupported(_)) {
                tracing::debug!(error = %e, "hostcall unsupported");
            } else {
                tracing::trace!(error = %e, "hostcall failed");
            }
            e.status()
        }
    }
}

/// Guest memory and store data, borrowed together.
pub(crate) fn split<'a>(
    caller: &'a mut Caller<'_, GuestState>,
) -> HostResult<(Mem<'a>, &'a mut GuestState)> {
    let memory = caller
        .data()
        .memory
        .ok_or_else(|| HostError::Other("the module exports no memory".into()))?;
    let (data, state) = memory.data_and_store_mut(caller);
    Ok((Mem(data), state))
}

/// Maps an argument name to its wasm type: every Fastly hostcall argument
/// is an i32 (pointers, lengths, handles, flags).
macro_rules! i32_of {
    ($x:ident) => {
        i32
    };
}
pub(crate) use i32_of;

/// Registers a synchronous hostcall: `hostcall!(linker, "module", "name",
/// |caller, a, b| body)`; the body returns `HostResult<()>`.
macro_rules! hostcall {
    ($linker:expr, $module:literal, $name:literal, |$c:ident $(, $a:ident)*| $body:expr) => {
        $linker.func_wrap($module, $name, |mut $c: wasmtime::Caller<'_, $crate::engine::state::GuestState> $(, $a: i32)*| -> i32 {
            $(let $a = $a as u32;)*
            #[allow(clippy::redundant_closure_call)]
            let r: $crate::host::HostResult<()> = (|| $body)();
            let _ = &mut $c;
            $crate::abi::status(r)
        })?;
    };
}
pub(crate) use hostcall;

/// Registers a hostcall that may wait (backends, bodies, KV, timers). The
/// time it waits does not count as the guest's CPU time.
macro_rules! hostcall_async {
    ($linker:expr, $module:literal, $name:literal, |$c:ident $(, $a:ident)*| $body:expr) => {
        $linker.func_wrap_async($module, $name, |mut $c: wasmtime::Caller<'_, $crate::engine::state::GuestState>, ($($a,)*): ($($crate::abi::i32_of!($a),)*)| {
            Box::new(async move {
                $(let $a = $a as u32;)*
                $c.data_mut().session.clock.wait_begin();
                let r: $crate::host::HostResult<()> = async { $body }.await;
                $c.data_mut().session.clock.wait_end();
                $crate::abi::status(r)
            })
        })?;
    };
}
pub(crate) use hostcall_async;

/// Adds WASI preview 1 and every implemented Fastly hostcall to `linker`.
pub fn add_to_linker(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p1::add_to_linker_async(linker, |s| &mut s.wasi)?;
    linker.func_wrap(
        "fastly_abi",
        "init",
        |_: Caller<'_, GuestState>, version: i64| -> i32 {
            if version as u64 == fastly_shared::FASTLY_ABI_VERSION {
                0
            } else {
                fastly_shared::FastlyStatus::UNSUPPORTED.code
            }
        },
    )?;
    req::add(linker)?;
    resp::add(linker)?;
    body::add(linker)?;
    downstream::add(linker)?;
    log::add(linker)?;
    stores::add(linker)?;
    kv_store::add(linker)?;
    geo::add(linker)?;
    erl::add(linker)?;
    acl::add(linker)?;
    async_io::add(linker)?;
    backend::add(linker)?;
    compute_runtime::add(linker)?;
    Ok(())
}
