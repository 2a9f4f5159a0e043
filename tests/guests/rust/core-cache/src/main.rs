//! A Compute program built with Fastly's Rust SDK (`fastly` 0.9.4) that
//! uses the Core Cache, surrogate-key purges and a cache override on a
//! backend send, for runtime/tests/serve_rust.rs:
//!
//! - `GET /core/<key>`: a transactional lookup of `<key>`. Found: 200 with
//!   the cached body, `x-core: hit` and `x-core-hits`. Otherwise it inserts
//!   `value-of-<key>-<unix millis>` for 60 s with surrogate key `grp-<key>`
//!   and answers that body with `x-core: miss`.
//! - `POST /purge/<surrogate key>`: `purge_surrogate_key`, then 200.
//! - `GET /proxy/<path>`: `GET /<path>` to backend `origin` with a TTL
//!   override of 60 s, its response back.
//! - `GET /plain/<path>`: the same without an override (the control).
//! - `GET /env`: the platform's `FASTLY_*` variables, `NAME=value` lines.

use fastly::cache::core::{CacheKey, Transaction};
use fastly::http::{Method, StatusCode};
use fastly::{Error, Request, Response};
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[fastly::main]
fn main(req: Request) -> Result<Response, Error> {
    let path = req.get_path().to_owned();
    let method = req.get_method().clone();
    if path == "/env" {
        return Ok(Response::from_status(StatusCode::OK).with_body_text_plain(&platform_env()));
    }
    if let Some(key) = path.strip_prefix("/core/") {
        if method == Method::GET {
            return core(key);
        }
    }
    if let Some(surrogate_key) = path.strip_prefix("/purge/") {
        if method == Method::POST {
            return Ok(
                match fastly::http::purge::purge_surrogate_key(surrogate_key) {
                    Ok(()) => Response::from_status(StatusCode::OK)
                        .with_body_text_plain(&format!("purged {surrogate_key}\n")),
                    Err(e) => Response::from_status(StatusCode::INTERNAL_SERVER_ERROR)
                        .with_body_text_plain(&format!("purge failed: {e}\n")),
                },
            );
        }
    }
    for (prefix, ttl) in [("/proxy/", Some(60)), ("/plain/", None)] {
        if let Some(rest) = path.strip_prefix(prefix) {
            let mut bereq = req.clone_without_body();
            bereq.set_path(&format!("/{rest}"));
            if let Some(ttl) = ttl {
                bereq.set_ttl(ttl);
            }
            return Ok(bereq.send("origin")?);
        }
    }
    Ok(Response::from_status(StatusCode::NOT_FOUND).with_body_text_plain("no such route\n"))
}

fn core(key: &str) -> Result<Response, Error> {
    let tx = Transaction::lookup(CacheKey::copy_from_slice(key.as_bytes())).execute()?;
    if let Some(found) = tx.found() {
        if !tx.must_insert_or_update() {
            let body = found.to_stream()?.into_string();
            return Ok(Response::from_status(StatusCode::OK)
                .with_header("x-core", "hit")
                .with_header("x-core-hits", found.hits().to_string())
                .with_body_text_plain(&body));
        }
    }
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let value = format!("value-of-{key}-{millis}");
    let surrogate_key = format!("grp-{key}");
    let mut body = tx
        .insert(Duration::from_secs(60))
        .surrogate_keys([surrogate_key.as_str()])
        .known_length(value.len() as u64)
        .execute()?;
    body.write_all(value.as_bytes())?;
    body.finish()?;
    Ok(Response::from_status(StatusCode::OK)
        .with_header("x-core", "miss")
        .with_body_text_plain(&value))
}

/// The nine variables Fastly sets in every instance, one per line.
fn platform_env() -> String {
    let names = [
        "FASTLY_CACHE_GENERATION",
        "FASTLY_CUSTOMER_ID",
        "FASTLY_HOSTNAME",
        "FASTLY_IS_STAGING",
        "FASTLY_POP",
        "FASTLY_REGION",
        "FASTLY_SERVICE_ID",
        "FASTLY_SERVICE_VERSION",
        "FASTLY_TRACE_ID",
    ];
    let mut out = String::new();
    for name in names {
        let value = std::env::var(name).unwrap_or_else(|_| "<unset>".to_owned());
        out.push_str(&format!("{name}={value}\n"));
    }
    out
}
