//! `anywhere run`: run a program once, as a command: the runner for test
//! binaries built for wasm (`go test -exec`, Cargo's target runner), with
//! the Compute hostcalls and the `[local_server]` configuration of its
//! `fastly.toml`, as Fastly's local tool does in its run mode.

use super::program::{ProgramConfig, load};
use crate::engine::Runtime;
use crate::engine::run_main::{RunError, run_main};
use std::sync::Arc;

/// What `anywhere run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The program and its configuration.
    pub program: ProgramConfig,
    /// Its arguments, after its name.
    pub args: Vec<String>,
}

/// Loads the program and runs it; its exit status.
pub async fn run(config: RunConfig) -> anyhow::Result<i32> {
    let runtime = Runtime::new(&config.program.limits)?;
    let program = config.program.clone();
    let rt = runtime.clone();
    let service = Arc::new(tokio::task::spawn_blocking(move || load(&program, &rt)).await??);
    // The program's name as its first argument, as a shell would give it.
    let mut args = vec![config.program.package.display().to_string()];
    args.extend(config.args.iter().cloned());
    match run_main(&service, &args).await {
        Ok(status) => Ok(status),
        Err(e @ RunError::Start(_)) => Err(e.into()),
        Err(e) => {
            // Reported, and a failed status: a test runner counts it as a
            // failure rather than an error of the runner.
            let hint = match &e {
                RunError::Limit(what) if what.starts_with("CPU") => format!(
                    " of {} ms (a request's, as on Fastly; a longer run needs --cpu-time-ms)",
                    config.program.limits.cpu_time.as_millis()
                ),
                _ => String::new(),
            };
            eprintln!("anywhere run: {e}{hint}");
            Ok(1)
        }
    }
}
