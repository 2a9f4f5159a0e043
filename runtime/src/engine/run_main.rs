//! Running a program once, as a command rather than a request handler:
//! `anywhere run`, the runner for test binaries built for wasm. The
//! program gets its arguments and the platform's variables, writes to the
//! process's stdout and stderr, and its exit status becomes ours.

use super::execute::{new_store, wall_watchdog};
use super::loaded::LoadedService;
use crate::host::body::StreamBody;
use crate::host::downstream::{DownstreamMeta, DownstreamRequest, DownstreamResponse};
use anyhow::Context;
use http_body_util::BodyExt;
use tokio::sync::oneshot;

/// How a run ended, when it did not end with an exit status.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Stopped by a limit.
    #[error("the program exceeded its {0} limit")]
    Limit(&'static str),
    /// The program trapped (a Rust test's panic ends this way: wasm has no
    /// unwinding).
    #[error("the program failed: {0}")]
    Trap(String),
    /// It could not be started.
    #[error("the program could not start: {0}")]
    Start(String),
}

/// The downstream request a run has: none really, so the downstream
/// hostcalls describe a placeholder, as Fastly's local tool does in its
/// run mode: `GET http://example.com/` from 127.0.0.1, id 0.
fn placeholder_request()
-> anyhow::Result<(DownstreamRequest, oneshot::Receiver<DownstreamResponse>)> {
    let (respond, response) = oneshot::channel();
    let body: StreamBody = http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed_unsync();
    let request = http::Request::builder()
        .uri("http://example.com/")
        .header(http::header::HOST, "example.com")
        .body(body)
        .context("building the placeholder request")?;
    let meta = DownstreamMeta {
        client_ip: std::net::Ipv4Addr::LOCALHOST.into(),
        server_addr: (std::net::Ipv4Addr::LOCALHOST, 80).into(),
        request_id: 0,
        original_header_names: vec!["Host".into()],
        tls: Default::default(),
    };
    let req = DownstreamRequest {
        request,
        meta,
        respond,
        slot: None,
    };
    Ok((req, response))
}

/// Runs `service`'s `_start` once with `args` (the program's name first);
/// its exit status (0 when `_start` returns).
pub async fn run_main(service: &LoadedService, args: &[String]) -> Result<i32, RunError> {
    let mut wasi = wasmtime_wasi::WasiCtxBuilder::new();
    wasi.inherit_stdout().inherit_stderr().args(args);
    for (name, value) in service.env.platform_vars() {
        wasi.env(name, value);
    }
    let (req, _response) = placeholder_request().map_err(|e| RunError::Start(format!("{e:#}")))?;
    let mut store = new_store(service, wasi.build_p1(), req);
    let instance = service
        .pre
        .instantiate_async(&mut store)
        .await
        .map_err(|e| RunError::Start(format!("{e:#}")))?;
    store.data_mut().memory = instance.get_memory(&mut store, "memory");
    let start = instance
        .get_typed_func::<(), ()>(&mut store, "_start")
        .map_err(|e| RunError::Start(format!("{e:#}")))?;
    store.data_mut().session.clock_mut().wait_end();
    let serial = store.data().session.request_serial();
    let wall_limit = service.env.limits.wall_time;
    let result = tokio::select! {
        r = start.call_async(&mut store, ()) => r,
        () = wall_watchdog(&serial, wall_limit) => {
            return Err(RunError::Limit(crate::limits::InstanceLimit::Wall.describe()));
        }
    };
    match result {
        Ok(()) => Ok(0),
        Err(e) => {
            if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
                return Ok(exit.0);
            }
            match store.data().interrupted {
                Some(limit) => Err(RunError::Limit(limit.describe())),
                None => Err(RunError::Trap(format!("{e:?}"))),
            }
        }
    }
}
