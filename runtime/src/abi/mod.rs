//! The Fastly Compute ABI: one file per wasm import module, each a thin
//! adapter from wasm arguments to the typed host API in `crate::host`.
//! Every import of the `fastly_*` modules links: what is not implemented
//! answers `FastlyStatus::UNSUPPORTED` (see docs/compatibility.md).

mod acl;
mod async_io;
mod backend;
mod body;
mod cache;
mod compute_runtime;
mod downstream;
mod erl;
mod geo;
pub(crate) mod headers;
mod http_cache;
mod kv_store;
pub mod layout;
mod log;
pub mod memory;
mod purge;
mod req;
mod req_send;
mod resp;
pub mod state;
mod stores;
#[cfg(test)]
pub(crate) mod testing;
pub mod unsupported;

use crate::host::session::Session;
use crate::host::{HostError, HostResult};
use memory::Mem;
use state::GuestState;
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

/// What a hostcall reaches of its instance: the guest's linear memory and
/// the session. wasmtime's `Caller` is one; the unit tests' in-memory
/// guest (`testing::TestGuest`) is another.
pub trait Guest: Send {
    /// Guest memory and the session, borrowed together.
    fn mem_and_session(&mut self) -> HostResult<(Mem<'_>, &mut Session)>;
    /// The session alone (no memory borrowed, e.g. across an await).
    fn session(&mut self) -> &mut Session;
}

impl Guest for Caller<'_, GuestState> {
    fn mem_and_session(&mut self) -> HostResult<(Mem<'_>, &mut Session)> {
        let memory = self
            .data()
            .memory
            .ok_or_else(|| HostError::Other("the module exports no memory".into()))?;
        let (data, state) = memory.data_and_store_mut(self);
        Ok((Mem(data), &mut state.session))
    }

    fn session(&mut self) -> &mut Session {
        &mut self.data_mut().session
    }
}

/// A hostcall argument: every Fastly hostcall argument is an i32 on the
/// wire (pointers, lengths, handles, flags); the function's parameter type
/// says what it is (`u32`, or a handle type).
pub(crate) fn arg<T: From<u32>>(raw: i32) -> T {
    T::from(raw as u32)
}

/// Maps an argument name to its wasm type (for `hostcall!`'s async form).
macro_rules! i32_of {
    ($x:ident) => {
        i32
    };
}
pub(crate) use i32_of;

/// Links one import to the function of the same name, one line each:
///
/// - `hostcall!(l, "module", name(a, b))`: calls `name(&mut mem, session, a, b)`;
/// - `hostcall!(l, "module", async name(a, b))`: calls `name(&mut guest, a,
///   b).await`; the time it waits does not count as the guest's CPU time,
///   the CPU time the host spends in it does;
/// - `... => path`: the import `name` is implemented by `path` (a function
///   shared by several modules).
///
/// Each function returns `HostResult<()>`, which becomes the guest's status.
macro_rules! hostcall {
    ($l:expr, $module:expr, async $name:ident($($a:ident),*)) => {
        $crate::abi::hostcall!($l, $module, async $name($($a),*) => $name)
    };
    ($l:expr, $module:expr, async $name:ident($($a:ident),*) => $f:path) => {
        $l.func_wrap_async(
            $module,
            stringify!($name),
            |mut c: wasmtime::Caller<'_, $crate::abi::state::GuestState>,
             ($($a,)*): ($($crate::abi::i32_of!($a),)*)| {
                Box::new(async move {
                    $crate::abi::Guest::session(&mut c).clock_mut().wait_begin();
                    let (r, host_work) = $crate::host::clock::HostWork::new(
                        $f(&mut c $(, $crate::abi::arg($a))*),
                    )
                    .await;
                    let clock = $crate::abi::Guest::session(&mut c).clock_mut();
                    clock.wait_end();
                    clock.charge(host_work);
                    $crate::abi::status(r)
                })
            },
        )?
    };
    ($l:expr, $module:expr, $name:ident($($a:ident),*)) => {
        $crate::abi::hostcall!($l, $module, $name($($a),*) => $name)
    };
    ($l:expr, $module:expr, $name:ident($($a:ident),*) => $f:path) => {
        $l.func_wrap(
            $module,
            stringify!($name),
            |mut c: wasmtime::Caller<'_, $crate::abi::state::GuestState> $(, $a: i32)*| -> i32 {
                let r = $crate::abi::Guest::mem_and_session(&mut c)
                    .and_then(|(mut m, s)| $f(&mut m, s $(, $crate::abi::arg($a))*));
                $crate::abi::status(r)
            },
        )?
    };
}
pub(crate) use hostcall;

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
    cache::add(linker)?;
    purge::add(linker)?;
    http_cache::add(linker)?;
    backend::add(linker)?;
    compute_runtime::add(linker)?;
    Ok(())
}
