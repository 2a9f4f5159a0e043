//! A program on a developer's machine: its package, its `fastly.toml`
//! and its limits, loaded into a service as `serve` and `run` both need.

use crate::config::{ProjectConfig, parse_fastly_toml};
use crate::engine::Runtime;
use crate::engine::loaded::LoadedService;
use crate::host::kv::KvStores;
use crate::host::logs::LogSink;
use crate::host::service::ServiceEnv;
use crate::limits::Limits;
use anyhow::Context;
use std::path::PathBuf;
use std::sync::Arc;

/// A program on a developer's machine, as `serve` and `run` take it.
#[derive(Debug, Clone)]
pub struct ProgramConfig {
    /// A `.wasm` or a Compute package `.tar.gz`.
    pub package: PathBuf,
    /// `fastly.toml` to use instead of the package's own or the one beside
    /// the wasm.
    pub manifest: Option<PathBuf>,
    /// Where precompiled modules are kept; none: compile on every start.
    pub cache_dir: Option<PathBuf>,
    /// Log endpoints write `<dir>/<endpoint>.log` instead of stdout.
    pub log_dir: Option<PathBuf>,
    /// Per-request limits.
    pub limits: Limits,
}

/// Reads the package and its `fastly.toml` and loads the service.
pub fn load(config: &ProgramConfig, runtime: &Runtime) -> anyhow::Result<LoadedService> {
    let package = crate::package::read_package(
        &config.package,
        config.manifest.as_deref(),
        config.limits.package_bytes,
    )?;
    let (project, name) = match &package.manifest {
        Some((path, text)) => {
            let parsed = parse_fastly_toml(path, text)?;
            for w in &parsed.warnings {
                tracing::warn!("{w}");
            }
            let name = parsed.config.name.clone();
            (parsed.config, name)
        }
        None => (ProjectConfig::default(), None),
    };
    let name = name.unwrap_or_else(|| {
        config
            .package
            .file_stem()
            .map(|s| s.to_string_lossy().trim_end_matches(".tar").to_owned())
            .unwrap_or_else(|| "app".into())
    });
    let kv = KvStores::in_memory().context("creating the in-memory KV stores")?;
    kv.seed(&project.kv_stores)
        .context("loading the KV stores from fastly.toml")?;
    let logs = LogSink::new(&name, Default::default(), config.log_dir.clone());
    // The HTTP cache in memory (256 MiB, objects up to 32 MiB), as a POP
    // would cache (Fastly's own local tool does not cache at all).
    // A developer's origins often listen on loopback: serve does not
    // restrict where backends connect, and dynamic backends are on.
    let egress = crate::host::egress::EgressPolicy::open();
    let env = ServiceEnv::new(
        name,
        project,
        Arc::new(kv),
        logs,
        config.limits.clone(),
        egress,
    )
    .map_err(anyhow::Error::msg)?
    .with_cache(crate::cache::Cache::memory_only(256 << 20, 32 << 20));
    LoadedService::load(runtime, &package.wasm, env, config.cache_dir.as_deref())
        .with_context(|| format!("loading {}", config.package.display()))
}
