//! What every instance of one service version shares: its config, backends,
//! stores, rate counters, log endpoints and limits, and the instances
//! waiting for another request (reusable sandboxes).

use super::backends::Backends;
use super::egress::EgressPolicy;
use super::erl::RateLimiter;
use super::heap::HeapBudget;
use super::kv::KvStores;
use super::logs::LogSink;
use super::reuse::ReusePool;
use crate::cache::Cache;
use crate::config::ProjectConfig;
use crate::limits::Limits;
use std::collections::BTreeSet;
use std::sync::Arc;

/// The environment of one service version.
#[derive(Debug)]
pub struct ServiceEnv {
    /// Service name (logs, metrics).
    pub name: String,
    /// Backends, stores and lookup data from config.
    pub config: ProjectConfig,
    /// Backends with their clients.
    pub backends: Backends,
    /// KV stores.
    pub kv: Arc<KvStores>,
    /// Names of the KV stores the service may open.
    pub kv_names: BTreeSet<String>,
    /// Rate counters and penalty boxes.
    pub erl: RateLimiter,
    /// Log endpoints.
    pub logs: LogSink,
    /// Per-request limits.
    pub limits: Limits,
    /// The HTTP cache in front of backend sends (none: every send goes to
    /// the backend).
    pub cache: Option<Cache>,
    /// Linear memory shared by every instance of the process.
    pub heap: Option<Arc<HeapBudget>>,
    /// The program's stdout and stderr become bounded log lines (the
    /// edge) rather than the process's own (`serve`, a developer's
    /// terminal).
    pub log_program_output: bool,
    /// What the platform tells each instance (`FASTLY_*` variables).
    pub platform: super::platform::Platform,
    /// Instances of this version and the requests waiting for them
    /// (reusable sandboxes).
    pub instances: ReusePool,
}

impl ServiceEnv {
    /// Puts the environment together.
    pub fn new(
        name: String,
        config: ProjectConfig,
        kv: Arc<KvStores>,
        logs: LogSink,
        limits: Limits,
        egress: EgressPolicy,
    ) -> Result<Self, String> {
        let backends = Backends::new(&config.backends, limits.dynamic_backends, egress)?;
        let kv_names = config.kv_stores.keys().cloned().collect();
        Ok(ServiceEnv {
            name,
            config,
            backends,
            kv,
            kv_names,
            erl: RateLimiter::new(limits.rate_limit_entries),
            logs,
            cache: None,
            heap: None,
            log_program_output: false,
            platform: super::platform::Platform::local(),
            instances: ReusePool::new(limits.reuse),
            limits,
        })
    }

    /// Sends the program's stdout and stderr to the log, bounded.
    pub fn with_program_output_logged(mut self) -> Self {
        self.log_program_output = true;
        self
    }

    /// Describes the platform to instances as `platform`.
    pub fn with_platform(mut self, platform: super::platform::Platform) -> Self {
        self.platform = platform;
        self
    }

    /// The `FASTLY_*` variables of a new instance.
    pub fn platform_vars(&self) -> Vec<(&'static str, String)> {
        let generation = self.cache.as_ref().map_or(0, |c| c.generation(&self.name));
        self.platform.vars(generation)
    }

    /// Draws instances' memory from `heap`.
    pub fn with_heap_budget(mut self, heap: Option<Arc<HeapBudget>>) -> Self {
        self.heap = heap;
        self
    }

    /// Puts `cache` in front of the backends.
    pub fn with_cache(mut self, cache: Cache) -> Self {
        self.cache = Some(cache);
        self
    }
}
