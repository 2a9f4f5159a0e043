//! The Fastly Anywhere runtime. One binary, `anywhere`, runs every
//! container of the POP's pod (`edge` here; `bootstrap`, `loader` and
//! `agent` in later work) and `anywhere serve`, the local developer mode.
//!
//! The edge runs real Fastly Compute programs (built with Fastly's SDKs)
//! unchanged in wasmtime: `config` reads `fastly.toml`, `package` reads
//! Compute packages, `host` implements the platform as typed Rust, `abi`
//! adapts it to the wasm imports the SDKs use, `engine` compiles, caches
//! and instantiates modules under limits, and `server` is the HTTP front.
//!
//! # Layers
//!
//! Dependencies point one way, from the request's entry to the facts
//! below it:
//!
//! ```text
//! edge, serve (subcommands) → server → engine → abi → host → config
//! ```
//!
//! - `server` accepts connections and hands requests to `engine`;
//! - `engine` compiles, instantiates and runs guests, linking `abi`;
//! - `abi` owns the guest's state (`abi::state::GuestState`) and adapts
//!   each hostcall, one named function per import, to `host`;
//! - `host` is the platform as typed Rust (sessions, handles, bodies,
//!   backends, stores, the clock) and knows nothing of wasm;
//! - `config` reads `fastly.toml`.
//!
//! `limits`, `metrics` and `package` are crate-level utilities any layer
//! may use; they use only `config`. Subcommands compose the layers and
//! never reach into one another. `tests/layers.rs` fails on an import
//! against this order.

pub mod abi;
pub mod config;
pub mod edge;
pub mod engine;
pub mod host;
pub mod limits;
pub mod metrics;
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
