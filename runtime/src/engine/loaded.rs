//! A service version ready to serve: its compiled module, pre-linked, and
//! its environment.

use super::Runtime;
use super::cache::{self, Origin};
use crate::abi::state::GuestState;
use crate::host::service::ServiceEnv;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};
use wasmtime::InstancePre;

/// A loaded service version.
pub struct LoadedService {
    /// Config, backends, stores, limits.
    pub env: Arc<ServiceEnv>,
    /// Linked and ready to instantiate.
    pub pre: InstancePre<GuestState>,
    /// SHA-256 of the module.
    pub module_sha256: String,
    /// Imports answered "unsupported" (or trapping) rather than implemented.
    pub unsupported_imports: Vec<String>,
    /// Whether the module came from the precompiled cache.
    pub origin: Origin,
    /// Time to compile or load it.
    pub load_time: Duration,
    /// Instances started, to pace the compaction of their slots.
    pub started: AtomicU64,
}

impl std::fmt::Debug for LoadedService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedService")
            .field("service", &self.env.name)
            .field("module_sha256", &self.module_sha256)
            .field("origin", &self.origin)
            .finish()
    }
}

impl LoadedService {
    /// Compiles (or loads from `cache_dir`) and links `wasm`. Slow: call on
    /// a blocking thread.
    pub fn load(
        runtime: &Runtime,
        wasm: &[u8],
        env: ServiceEnv,
        cache_dir: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let started = Instant::now();
        if super::component::is_component(wasm) {
            return Err(super::component::refusal(&runtime.engine, wasm));
        }
        let sha = cache::sha256_hex(wasm);
        let (module, origin) = cache::load_or_compile(&runtime.engine, wasm, &sha, cache_dir)?;
        if module.get_export("_start").is_none() {
            anyhow::bail!("the module exports no `_start`; build it with a Fastly Compute SDK");
        }
        let mut linker = runtime.linker.clone();
        let unsupported_imports = crate::abi::unsupported::link_missing(&mut linker, &module)?;
        let pre = linker.instantiate_pre(&module)?;
        Ok(LoadedService {
            env: Arc::new(env),
            pre,
            module_sha256: sha,
            unsupported_imports,
            origin,
            load_time: started.elapsed(),
            started: AtomicU64::new(0),
        })
    }
}
