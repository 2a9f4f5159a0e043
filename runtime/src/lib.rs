//! The Fastly Anywhere runtime. One binary, `anywhere`, runs every
//! container of the POP's pod (`bootstrap`, `loader`, `agent`, `edge`, and
//! `probe` for `helm test`), and `local`: `anywhere serve` and `anywhere
//! run`, the developer's modes.
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
//! edge, local (serve, run), bootstrap, loader, agent, probe (subcommands)
//!   → server → engine → abi → host → config
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
//! `limits`, `metrics`, `package`, `xqd` (the xqd volume's layout, written
//! by the loader and read by the edge), `peers` (the peer list, written by
//! the agent and read by the edge) and `fastly_api` (the Fastly API client
//! of bootstrap and loader) are crate-level utilities any layer may use;
//! they use only `config` and one another. Subcommands compose the layers and
//! never reach into one another. `tests/layers.rs` fails on an import
//! against this order.

pub mod abi;
pub mod agent;
pub mod bootstrap;
pub mod cache;
pub mod config;
pub mod edge;
pub mod engine;
pub mod fastly_api;
pub mod host;
pub mod limits;
pub mod loader;
pub mod local;
pub mod metrics;
pub mod otlp;
pub mod package;
pub mod peers;
pub mod probe;
pub mod server;
pub mod xqd;

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
        () = ctrl_c => INTERRUPTED.store(true, std::sync::atomic::Ordering::Relaxed),
        () = term => {}
    }
    tracing::info!("shutdown requested");
}

/// Set when the shutdown came from SIGINT (Ctrl-C).
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// After a graceful stop asked for by SIGINT, ends the process by that
/// signal, as a program that does not catch it would: the parent learns it
/// was interrupted. The Fastly CLI starts a runtime that exits with status
/// 0 again, so a Ctrl-C that reaches both would otherwise leave `anywhere
/// serve` running.
#[allow(unsafe_code)]
pub fn end_as_interrupted_if_it_was() {
    if !INTERRUPTED.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    // SAFETY: restoring the default disposition of SIGINT and raising it
    // are async-signal-safe libc calls with valid constant arguments; no
    // Rust state is touched, and the process ends here.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
        libc::raise(libc::SIGINT);
    }
}
