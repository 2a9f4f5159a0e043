//! The purge API on loopback, in the shape of Fastly's: `POST
//! /service/{service}/purge/{surrogate_key}` (soft with
//! `Fastly-Soft-Purge: 1`), `POST /service/{service}/purge` with
//! `{"surrogate_keys": [...]}`, `POST /service/{service}/purge_all`, and
//! `PURGE /path` with the object's `Host` for one URL. It listens on
//! loopback only (reachable from the pod's own containers); purges from
//! the rest of the cluster come with cluster forwarding.

use super::front::error;
use crate::cache::Cache;
use crate::cache::key::Key;
use crate::cache::purge::PurgeTarget;
use crate::host::body::OutgoingBody;
use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::sync::Arc;
use tokio::net::TcpListener;

/// Largest bulk purge body.
const MAX_BODY: usize = 1 << 20;

/// Which services exist, by name and by domain.
pub trait ServiceLookup: Send + Sync {
    /// True when a service of this name is configured.
    fn has_service(&self, name: &str) -> bool;
    /// The service serving `host`.
    fn service_for_host(&self, host: &str) -> Option<String>;
}

/// Serves the purge API on `listener` (bind it to loopback) for ever.
pub async fn serve_purge(listener: TcpListener, cache: Cache, services: Arc<dyn ServiceLookup>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (cache, services) = (cache.clone(), services.clone());
        let service = hyper::service::service_fn(
            move |req: http::Request<hyper::body::Incoming>| {
                let (cache, services) = (cache.clone(), services.clone());
                async move { Ok::<_, std::convert::Infallible>(answer(req, &cache, &*services).await) }
            },
        );
        tokio::spawn(async move {
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn json(status: u16, value: serde_json::Value) -> http::Response<OutgoingBody> {
    let mut resp = http::Response::new(OutgoingBody::full(value.to_string()));
    *resp.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

/// An id for a purge, as Fastly answers one.
fn purge_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

async fn answer(
    req: http::Request<hyper::body::Incoming>,
    cache: &Cache,
    services: &dyn ServiceLookup,
) -> http::Response<OutgoingBody> {
    let soft = req
        .headers()
        .get("fastly-soft-purge")
        .is_some_and(|v| v.as_bytes() == b"1");
    if req.method().as_str() == "PURGE" {
        return purge_url(&req, cache, services, soft).await;
    }
    let path = req.uri().path().to_owned();
    let parts: Vec<&str> = path.trim_start_matches('/').splitn(4, '/').collect();
    let (service, action, key) = match parts.as_slice() {
        ["service", s, a] => (*s, *a, None),
        ["service", s, a, k] => (*s, *a, Some(*k)),
        _ => {
            return error(
                404,
                "not found; try POST /service/{service}/purge/{key}, POST /service/{service}/purge_all or PURGE /path",
            );
        }
    };
    if req.method() != http::Method::POST {
        return error(405, "purges are POST (or PURGE for a URL)");
    }
    if !services.has_service(service) {
        return json(
            404,
            serde_json::json!({"msg": "no such service", "detail": service}),
        );
    }
    let service = service.to_owned();
    match (action, key) {
        ("purge_all", None) => match cache.purge(&service, PurgeTarget::All, false).await {
            Ok(_) => json(200, serde_json::json!({"status": "ok"})),
            Err(e) => error(500, &format!("purge failed: {e}")),
        },
        ("purge", Some(key)) => {
            let key = percent_decode(key);
            match cache
                .purge(&service, PurgeTarget::Surrogate(key), soft)
                .await
            {
                Ok(_) => json(200, serde_json::json!({"status": "ok", "id": purge_id()})),
                Err(e) => error(500, &format!("purge failed: {e}")),
            }
        }
        ("purge", None) => bulk(req, cache, &service, soft).await,
        _ => error(
            404,
            "not found; the actions are purge/{key}, purge (bulk) and purge_all",
        ),
    }
}

async fn bulk(
    req: http::Request<hyper::body::Incoming>,
    cache: &Cache,
    service: &str,
    soft: bool,
) -> http::Response<OutgoingBody> {
    let limited = http_body_util::Limited::new(req.into_body(), MAX_BODY);
    let Ok(body) = limited.collect().await.map(|c| c.to_bytes()) else {
        return error(413, "the body is larger than 1 MiB or broke off");
    };
    #[derive(serde::Deserialize)]
    struct Bulk {
        surrogate_keys: Vec<String>,
    }
    let Ok(keys) = serde_json::from_slice::<Bulk>(&body) else {
        return error(400, r#"expected {"surrogate_keys": ["key", ...]}"#);
    };
    let mut ids = serde_json::Map::new();
    for key in keys.surrogate_keys {
        if let Err(e) = cache
            .purge(service, PurgeTarget::Surrogate(key.clone()), soft)
            .await
        {
            return error(500, &format!("purge of {key} failed: {e}"));
        }
        ids.insert(key, purge_id().into());
    }
    json(200, serde_json::Value::Object(ids))
}

async fn purge_url(
    req: &http::Request<hyper::body::Incoming>,
    cache: &Cache,
    services: &dyn ServiceLookup,
    soft: bool,
) -> http::Response<OutgoingBody> {
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let Some(service) = services.service_for_host(host.split(':').next().unwrap_or_default())
    else {
        return json(
            404,
            serde_json::json!({"msg": "no service serves this host", "detail": host}),
        );
    };
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let key = Key::http(&service, host.as_bytes(), path);
    match cache.purge(&service, PurgeTarget::Primary(key), soft).await {
        Ok(_) => json(200, serde_json::json!({"status": "ok", "id": purge_id()})),
        Err(e) => error(500, &format!("purge failed: {e}")),
    }
}

/// `%XX` escapes decoded (surrogate keys may contain anything but spaces).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
