//! The stand-in's answers: authentication, routing, pagination, ETags, and
//! the JSON shapes of Fastly's API reference.

use super::{Fixture, ServiceFixture, State, TokenFixture, VersionFixture, hash_hex};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};
use std::sync::Mutex;

type Answer = Response<Full<Bytes>>;

pub(super) fn answer(state: &Mutex<State>, req: &Request<hyper::body::Incoming>) -> Answer {
    let mut state = state.lock().unwrap();
    let path = req.uri().path().to_owned();
    *state.requests.entry(path.clone()).or_default() += 1;
    let mut seen = vec![req.uri().to_string()];
    seen.extend(
        req.headers()
            .values()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
    );
    state.seen.extend(seen);
    if let Some(status) = state.fail_with {
        return error(status, "Service temporarily unavailable");
    }
    if req.method() != hyper::Method::GET {
        return error(405, "Method not allowed");
    }
    let key = req
        .headers()
        .get("fastly-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(token) = state
        .fixture
        .tokens
        .iter()
        .find(|t| t.token == key)
        .cloned()
    else {
        return error(401, "Provided credentials are missing or invalid");
    };
    let query = req.uri().query().unwrap_or("");
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (status, body, link) = match route(&state.fixture, &token, &segments, query) {
        Ok((body, link)) => (200, body, link),
        Err((status, msg)) => return error(status, msg),
    };
    let bytes = serde_json::to_vec(&body).unwrap();
    let etag = format!("\"{}\"", &hash_hex(&bytes)[..16]);
    let if_none_match = req
        .headers()
        .get("if-none-match")
        .and_then(|v| v.to_str().ok());
    let mut response = Response::builder().header("etag", &etag);
    if let Some(link) = link {
        response = response.header("link", link);
    }
    if if_none_match.is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*")) {
        *state.not_modified.entry(path).or_default() += 1;
        return response.status(304).body(Full::default()).unwrap();
    }
    response
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(bytes)))
        .unwrap()
}

type Routed = Result<(Value, Option<String>), (u16, &'static str)>;

fn route(fixture: &Fixture, token: &TokenFixture, segments: &[&str], query: &str) -> Routed {
    if segments == ["tokens", "self"] {
        return Ok((token_json(token), None));
    }
    if token.expires_at.is_some() {
        return Err((401, "Provided credentials are missing or invalid"));
    }
    if !token
        .scope
        .split(' ')
        .any(|s| s == "global" || s == "global:read")
    {
        return Err((403, "Forbidden"));
    }
    let visible = |s: &&ServiceFixture| token.services.is_empty() || token.services.contains(&s.id);
    let services: Vec<&ServiceFixture> = fixture.services.iter().filter(visible).collect();
    let service = |id: &str| {
        services
            .iter()
            .copied()
            .find(|s| s.id == id)
            .ok_or((404, "Record not found"))
    };
    let version =
        |s: &ServiceFixture, v: &str| -> Result<(u32, VersionFixture), (u16, &'static str)> {
            let n: u32 = v.parse().map_err(|_| (400, "Bad version"))?;
            s.versions
                .get(&n)
                .cloned()
                .map(|f| (n, f))
                .ok_or((404, "Record not found"))
        };
    match segments {
        ["service"] => Ok(page(
            services.iter().map(|s| service_json(s)).collect(),
            "/service",
            query,
        )),
        ["service", id, "details"] => Ok((details_json(service(id)?), None)),
        ["service", id, "version", v, "package"] => {
            let s = service(id)?;
            let (n, f) = version(s, v)?;
            let hashsum = f.package_hashsum.ok_or((404, "Record not found"))?;
            Ok((package_json(s, n, &hashsum), None))
        }
        ["service", id, "version", v, "dictionary"] => {
            let s = service(id)?;
            let (n, f) = version(s, v)?;
            let dicts = f
                .dictionaries
                .keys()
                .map(|name| dictionary_json(s, n, name))
                .collect();
            Ok((Value::Array(dicts), None))
        }
        ["service", id, "dictionary", dict, "items"] => {
            let s = service(id)?;
            let items = s
                .versions
                .values()
                .flat_map(|v| &v.dictionaries)
                .find(|(name, _)| dictionary_id(&s.id, name) == *dict);
            let (_, items) = items.ok_or((404, "Record not found"))?;
            let list = items.iter().map(|(k, v)| json!({"dictionary_id": dict, "service_id": s.id, "item_key": k, "item_value": v, "created_at": CREATED, "updated_at": CREATED, "deleted_at": null})).collect();
            Ok(page(
                list,
                &format!("/service/{id}/dictionary/{dict}/items"),
                query,
            ))
        }
        ["service", id, "version", v, "resource"] => {
            let s = service(id)?;
            let (n, f) = version(s, v)?;
            let config = f
                .config_stores
                .keys()
                .map(|name| link_json(s, n, name, "config"));
            let kv = f
                .kv_stores
                .iter()
                .map(|name| link_json(s, n, name, "kv-store"));
            Ok((Value::Array(config.chain(kv).collect()), None))
        }
        ["resources", "stores", "config", store, "items"] => {
            let all = services
                .iter()
                .flat_map(|s| s.versions.values())
                .flat_map(|v| &v.config_stores);
            let (_, items) = all
                .into_iter()
                .find(|(name, _)| store_id(name) == *store)
                .ok_or((404, "Record not found"))?;
            let list = items.iter().map(|(k, v)| json!({"store_id": store, "item_key": k, "item_value": v, "created_at": CREATED, "updated_at": CREATED, "deleted_at": null})).collect();
            Ok((Value::Array(list), None))
        }
        _ => Err((404, "Record not found")),
    }
}

const CREATED: &str = "2024-05-01T10:00:00Z";

/// One page of `all` as `page` and `per_page` (default 20, as Fastly's)
/// ask, with a `Link: rel="next"` header while more remain.
fn page(all: Vec<Value>, path: &str, query: &str) -> (Value, Option<String>) {
    let param = |name: &str| {
        query.split('&').find_map(|kv| {
            kv.strip_prefix(name)?
                .strip_prefix('=')?
                .parse::<usize>()
                .ok()
        })
    };
    let (page, per_page) = (
        param("page").unwrap_or(1).max(1),
        param("per_page").unwrap_or(20).max(1),
    );
    let start = ((page - 1) * per_page).min(all.len());
    let end = (start + per_page).min(all.len());
    let link = (end < all.len()).then(|| {
        format!(
            "<{path}?page={}&per_page={per_page}>; rel=\"next\"",
            page + 1
        )
    });
    (Value::Array(all[start..end].to_vec()), link)
}

fn error(status: u16, msg: &str) -> Answer {
    let body = json!({"msg": msg});
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

fn dictionary_id(service_id: &str, name: &str) -> String {
    format!(
        "dict{}",
        &hash_hex(format!("{service_id}/{name}").as_bytes())[..18]
    )
}

fn store_id(name: &str) -> String {
    format!("cfg{}", &hash_hex(name.as_bytes())[..19])
}

fn token_json(t: &TokenFixture) -> Value {
    json!({"id": t.id, "user_id": "u1Z0isxPaozGVKXdv0eY", "customer_id": "x4xCwxxJxGCx123Rx5xTx", "name": t.name, "scope": t.scope, "services": t.services, "created_at": CREATED, "last_used_at": CREATED, "expires_at": t.expires_at, "ip": "127.0.0.1", "user_agent": "fastly-anywhere"})
}

fn service_json(s: &ServiceFixture) -> Value {
    let versions: Vec<Value> = s.versions.keys().map(|n| json!({"number": n, "active": s.active == Some(*n), "locked": true, "service_id": s.id})).collect();
    json!({"id": s.id, "name": s.name, "type": s.kind, "version": s.active, "customer_id": "x4xCwxxJxGCx123Rx5xTx", "comment": "", "created_at": CREATED, "updated_at": CREATED, "deleted_at": null, "versions": versions})
}

fn details_json(s: &ServiceFixture) -> Value {
    let active = s.active.and_then(|n| s.versions.get(&n).map(|v| (n, v))).map(|(n, v)| {
        let domains: Vec<Value> = v.domains.iter().map(|d| json!({"name": d, "comment": "", "service_id": s.id, "version": n})).collect();
        let backends: Vec<Value> = v.backends.iter().map(|b| json!({"name": b.name, "address": b.address, "hostname": b.address, "ipv4": null, "ipv6": null, "port": b.port, "use_ssl": b.use_ssl, "override_host": b.override_host, "connect_timeout": 1000, "first_byte_timeout": 15000, "between_bytes_timeout": 10000, "ssl_cert_hostname": b.use_ssl.then(|| b.address.clone()), "ssl_sni_hostname": null, "service_id": s.id, "version": n})).collect();
        json!({"number": n, "active": true, "locked": true, "service_id": s.id, "domains": domains, "backends": backends, "healthchecks": [], "snippets": []})
    });
    let mut body = service_json(s);
    body["active_version"] = active.clone().unwrap_or(Value::Null);
    body["version"] = active.unwrap_or(Value::Null);
    body["paused"] = json!(false);
    body
}

fn package_json(s: &ServiceFixture, version: u32, hashsum: &str) -> Value {
    json!({"id": format!("pkg{}", &hash_hex(hashsum.as_bytes())[..19]), "service_id": s.id, "version": version, "created_at": CREATED, "updated_at": CREATED, "deleted_at": null,
        "metadata": {"name": s.name, "description": "", "authors": ["dev@example.com"], "language": "rust", "size": 2_097_152, "hashsum": hashsum, "files_hash": hash_hex(hashsum.as_bytes()).repeat(2)}})
}

fn dictionary_json(s: &ServiceFixture, version: u32, name: &str) -> Value {
    json!({"id": dictionary_id(&s.id, name), "name": name, "service_id": s.id, "version": version, "write_only": false, "created_at": CREATED, "updated_at": CREATED, "deleted_at": null})
}

fn link_json(s: &ServiceFixture, version: u32, name: &str, kind: &str) -> Value {
    let id = store_id(name);
    json!({"id": format!("rl{}", &id[3..]), "resource_id": id, "name": name, "resource_type": kind, "href": format!("/resources/stores/{kind}/{id}"), "service_id": s.id, "version": version, "created_at": CREATED, "updated_at": CREATED, "deleted_at": null})
}
