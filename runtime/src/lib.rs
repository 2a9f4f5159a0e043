//! The Fastly Anywhere runtime. One binary, `anywhere`, runs every
//! container of the POP's pod (`edge` here; `bootstrap`, `loader` and
//! `agent` in later work) and `anywhere serve`, the local developer mode.
//!
//! The edge runs real Fastly Compute programs (built with Fastly's SDKs)
//! unchanged in wasmtime: `config` reads `fastly.toml`, `package` reads
//! Compute packages, `host` implements the platform as typed Rust, `abi`
//! adapts it to the wasm imports the SDKs use, `engine` compiles, caches
//! and instantiates modules under limits, and `server` is the HTTP front.

pub mod abi;
pub mod config;
pub mod edge;
pub mod engine;
pub mod host;
pub mod limits;
pub mod package;
pub mod serve;
pub mod server;

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutdown requested");
}
