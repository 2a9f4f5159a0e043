//! Process-wide engine settings chosen on the command line: how a pool slot
//! is reset between instances, and whether wasm functions are named for
//! `perf`.

use std::sync::OnceLock;

/// How a slot's linear memory goes back to the module's image after an
/// instance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum SlotReset {
    /// `PAGEMAP_SCAN` when the kernel has it (Linux 6.7+), else the fallback.
    #[default]
    Auto,
    /// Never use `PAGEMAP_SCAN`: the method every older kernel gets (pages
    /// the instance touched are dropped and faulted in again). For
    /// measuring what nodes before Linux 6.7 see.
    Fallback,
}

/// Engine settings of this process.
#[derive(Debug, Clone, Copy, Default)]
pub struct EngineOptions {
    /// How slots are reset.
    pub slot_reset: SlotReset,
    /// Write `/tmp/perf-<pid>.map` so that `perf report` names the
    /// program's functions.
    pub perf_map: bool,
}

static OPTIONS: OnceLock<EngineOptions> = OnceLock::new();

/// Sets the engine settings of this process, before the first engine is
/// made; a second call is ignored.
pub fn configure(options: EngineOptions) {
    let _ = OPTIONS.set(options);
}

/// The engine settings of this process.
pub fn current() -> EngineOptions {
    OPTIONS.get().copied().unwrap_or_default()
}

/// The slot-reset method engines of this process use, as logs and
/// `/status` name it.
pub fn slot_reset_method() -> &'static str {
    match current().slot_reset {
        SlotReset::Fallback => "fallback (forced)",
        SlotReset::Auto if wasmtime::PoolingAllocationConfig::is_pagemap_scan_available() => {
            "pagemap_scan"
        }
        SlotReset::Auto => "fallback (no PAGEMAP_SCAN: Linux before 6.7)",
    }
}
