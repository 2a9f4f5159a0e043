//! The admin port: `/healthz` (the process runs), `/readyz` (every active
//! service is compiled) and `/metrics` (Prometheus text).

use super::front::error;
use crate::host::body::OutgoingBody;
use crate::metrics::Metrics;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::sync::Arc;
use tokio::net::TcpListener;

/// Answers readiness.
pub type ReadyCheck = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// Serves the admin endpoints on `listener` for ever.
pub async fn serve_admin(listener: TcpListener, metrics: Option<Arc<Metrics>>, ready: ReadyCheck) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let metrics = metrics.clone();
        let ready = ready.clone();
        let service =
            hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let metrics = metrics.clone();
                let ready = ready.clone();
                async move {
                    Ok::<_, std::convert::Infallible>(answer(
                        req.uri().path(),
                        metrics.as_deref(),
                        &ready,
                    ))
                }
            });
        tokio::spawn(async move {
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn answer(
    path: &str,
    metrics: Option<&Metrics>,
    ready: &ReadyCheck,
) -> http::Response<OutgoingBody> {
    match (path, metrics) {
        ("/healthz", _) => error(200, "ok"),
        ("/readyz", _) => match ready() {
            Ok(()) => error(200, "ready"),
            Err(why) => error(503, &format!("not ready: {why}")),
        },
        ("/metrics", Some(m)) => {
            let mut resp = http::Response::new(OutgoingBody::full(m.render()));
            resp.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            resp
        }
        _ => error(404, "not found; try /healthz, /readyz or /metrics"),
    }
}
