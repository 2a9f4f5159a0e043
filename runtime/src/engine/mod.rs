//! xqd: runs Compute programs in wasmtime. One engine per process (pooling
//! allocator, copy-on-write memory images, epoch interruption); modules
//! compiled once per package version and cached on disk; one `InstancePre`
//! per loaded version; a fresh instance per request, or a reused one when
//! the program asks for it.

pub mod cache;
pub mod compact;
pub mod component;
pub mod execute;
pub mod loaded;
pub mod options;
pub mod run_main;

use crate::abi::state::GuestState;
use crate::host::clock::EPOCH_TICK;
use crate::limits::Limits;
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, Linker, OptLevel, PoolingAllocationConfig,
};

/// Space for host frames on a guest's async stack, beyond its wasm stack.
const HOST_STACK: usize = 2 << 20;

/// The process-wide engine and the linker with every hostcall.
#[derive(Clone)]
pub struct Runtime {
    /// The wasmtime engine.
    pub engine: Engine,
    /// WASI and the Fastly ABI.
    pub linker: Linker<GuestState>,
}

impl Runtime {
    /// An engine sized for `limits` (instances in the pool = the
    /// concurrency limit) with a thread that advances its epoch.
    pub fn new(limits: &Limits) -> anyhow::Result<Self> {
        let options = options::current();
        let mut config = Config::new();
        if options.perf_map {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        config.epoch_interruption(true);
        config.cranelift_opt_level(OptLevel::Speed);
        config.max_wasm_stack(limits.stack_bytes);
        config.async_stack_size(limits.stack_bytes + HOST_STACK);
        config.memory_init_cow(true);
        let slots = u32::try_from(limits.concurrency.clamp(16, 10_000)).unwrap_or(1000);
        let mut pool = PoolingAllocationConfig::new();
        pool.total_core_instances(slots)
            .total_memories(slots)
            .total_tables(slots)
            .total_stacks(slots)
            .max_memory_size(limits.heap_bytes)
            .max_memories_per_module(1)
            .max_tables_per_module(4)
            .max_core_instance_size(4 << 20)
            // Keep a slot's pages mapped between instances and reset only
            // the pages the last instance wrote (PAGEMAP_SCAN, Linux 6.7+)
            // back to the module's image. Without this every request of a
            // pre-initialised JS guest takes ~130 copy-on-write faults, and
            // each one a TLB shootdown across cores: half the CPU time.
            .pagemap_scan(match options.slot_reset {
                options::SlotReset::Auto => wasmtime::Enabled::Auto,
                options::SlotReset::Fallback => wasmtime::Enabled::No,
            })
            .linear_memory_keep_resident(64 << 20)
            .table_keep_resident(1 << 20)
            .async_stack_keep_resident(1 << 20);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config)?;
        tracing::info!(
            slot_reset = options::slot_reset_method(),
            "instance pool: {slots} slots"
        );
        let mut linker = Linker::new(&engine);
        crate::abi::add_to_linker(&mut linker)?;
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })?;
        Ok(Runtime { engine, linker })
    }
}
