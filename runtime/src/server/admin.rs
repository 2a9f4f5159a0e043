//! The admin port every long-running container serves: `/healthz` (the
//! process runs), `/readyz` (what the process says), `/metrics`
//! (Prometheus text from the process's own registry) and, where the process
//! has one, `/status` (what it runs and how it fares, as JSON).

use super::front::error;
use crate::host::body::OutgoingBody;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::sync::Arc;
use tokio::net::TcpListener;

/// Answers readiness: `Ok(detail)` or `Err(why not)`. Both are shown to
/// whoever reaches the admin port (the kubelet, and anyone the network
/// lets through): states, version ids and counts, never error text, which
/// can carry paths, URLs and program output and belongs in the log.
/// Loopback is not a trust boundary here: `kubectl port-forward` and every
/// container of the pod arrive from it, so no fuller answer is given there.
pub type ReadyCheck = Arc<dyn Fn() -> Result<String, String> + Send + Sync>;

/// Renders the process's metrics as Prometheus text.
pub type MetricsText = Arc<dyn Fn() -> String + Send + Sync>;

/// Renders the process's `/status` document (JSON). Like readiness, it
/// holds states, versions and counts, never error text.
pub type StatusJson = Arc<dyn Fn() -> String + Send + Sync>;

/// Serves the admin endpoints on `listener` for ever.
pub async fn serve_admin(listener: TcpListener, metrics: Option<MetricsText>, ready: ReadyCheck) {
    serve_admin_with_status(listener, metrics, ready, None).await;
}

/// Serves the admin endpoints, `/status` included, on `listener` for ever.
pub async fn serve_admin_with_status(
    listener: TcpListener,
    metrics: Option<MetricsText>,
    ready: ReadyCheck,
    status: Option<StatusJson>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let metrics = metrics.clone();
        let ready = ready.clone();
        let status = status.clone();
        let service =
            hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let metrics = metrics.clone();
                let ready = ready.clone();
                let status = status.clone();
                async move {
                    if req.uri().path() == "/status"
                        && let Some(status) = status
                    {
                        return Ok::<_, std::convert::Infallible>(json(status()));
                    }
                    Ok(answer(req.uri().path(), metrics.as_ref(), &ready))
                }
            });
        tokio::spawn(async move {
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn json(body: String) -> http::Response<OutgoingBody> {
    let mut resp = http::Response::new(OutgoingBody::full(body));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

fn answer(
    path: &str,
    metrics: Option<&MetricsText>,
    ready: &ReadyCheck,
) -> http::Response<OutgoingBody> {
    match (path, metrics) {
        ("/healthz", _) => error(200, "ok"),
        ("/readyz", _) => match ready() {
            Ok(detail) if detail.is_empty() => error(200, "ready"),
            Ok(detail) => error(200, &format!("ready\n{detail}")),
            Err(why) => error(503, &format!("not ready: {why}")),
        },
        ("/metrics", Some(m)) => {
            let mut resp = http::Response::new(OutgoingBody::full(m()));
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
