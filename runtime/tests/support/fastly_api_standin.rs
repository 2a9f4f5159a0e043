//! A stand-in for the Fastly API endpoints the POP uses: a real HTTP/1.1
//! server (hyper) on `127.0.0.1:<free port>` answering with the JSON shapes
//! Fastly's API reference documents, for tests of `anywhere bootstrap`, the
//! loader and the `fastly_api` client.
//!
//! ```ignore
//! #[path = "support/fastly_api_standin.rs"]
//! mod fastly_api_standin;
//! use fastly_api_standin::{Fixture, StandIn, GOOD_TOKEN, SERVICE_A};
//!
//! let api = StandIn::start(Fixture::standard()); // sync; runs its own thread
//! // point the code under test at api.base_url, with GOOD_TOKEN
//! api.set_active_version(SERVICE_A, 2);          // a new version goes live
//! assert_eq!(api.request_count("/service/<id>/details"), 2);
//! assert_eq!(api.not_modified_count("/service/<id>/details"), 1);
//! ```
//!
//! Served (GET only): `/tokens/self`, `/service` (`page`, `per_page`, a
//! `Link: <…>; rel="next"` header while pages remain), `/service/{id}/details`,
//! `/service/{id}/version/{v}/package`, `/service/{id}/version/{v}/dictionary`,
//! `/service/{id}/dictionary/{dictionary_id}/items`,
//! `/service/{id}/version/{v}/resource`, `/resources/stores/config/{id}/items`.
//! Every 200 carries an `ETag` (a hash of the body); a request whose
//! `If-None-Match` matches gets `304` with no body.
//!
//! Tokens (`Fastly-Key`): [`GOOD_TOKEN`] (scope `global:read`) reads
//! everything; [`EXPIRED_TOKEN`] gets its own `/tokens/self` (with an
//! `expires_at` in the past) and `401` elsewhere; [`UNDER_SCOPED_TOKEN`]
//! (scope `purge_select`) gets its `/tokens/self` and `403` elsewhere; any
//! other token, or none, gets `401 {"msg":"Provided credentials are missing
//! or invalid"}`. A token with a `services` list sees only those services.
//!
//! [`Fixture::standard`] has two Compute services, [`SERVICE_A`] (version 1
//! active: two domains, two backends, a dictionary, a linked config store,
//! a KV store link, a package) and [`SERVICE_B`] (one domain, a package).
//! Build your own [`Fixture`] for other cases; [`StandIn::set_version`],
//! [`StandIn::set_active_version`] and [`StandIn::fail_with`] (503, 429…)
//! change what it serves while it runs, and [`StandIn::received`] tells
//! whether a value (a token that must not be sent) ever reached it.
//!
//! Files: this one (fixture types, [`StandIn`]), `fastly_api_standin/
//! answers.rs` (routing, pagination, ETags, JSON shapes) and
//! `fastly_api_standin/standard.rs` ([`Fixture::standard`]).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

#[path = "fastly_api_standin/answers.rs"]
mod answers;
#[path = "fastly_api_standin/standard.rs"]
mod standard;

/// A token with scope `global:read` and no expiry.
pub const GOOD_TOKEN: &str = "standin-good-0123456789abcdef";
/// A token whose `expires_at` is in the past.
pub const EXPIRED_TOKEN: &str = "standin-expired-0123456789abcdef";
/// A token with scope `purge_select` only.
pub const UNDER_SCOPED_TOKEN: &str = "standin-purge-0123456789abcdef";
/// A token the stand-in does not know.
pub const UNKNOWN_TOKEN: &str = "standin-unknown-0123456789abcdef";
/// The first service of [`Fixture::standard`].
pub const SERVICE_A: &str = "SU1Z0isxPaozGVKXdv0eY";
/// The second service of [`Fixture::standard`].
pub const SERVICE_B: &str = "7i6HN3TK9wS159v2gPAZ8A";
/// SHA-512 hex the standard fixture gives service A's version 1 package.
pub const PACKAGE_A_HASHSUM: &str = "a1f0000000000000000000000000000000000000000000000000000000000000a1f0000000000000000000000000000000000000000000000000000000000000";

/// An API token the stand-in knows.
#[derive(Debug, Clone)]
pub struct TokenFixture {
    /// The `Fastly-Key` value.
    pub token: String,
    /// `id` in `/tokens/self`.
    pub id: String,
    /// `name`.
    pub name: String,
    /// `scope`, space-separated.
    pub scope: String,
    /// `services`: empty means all.
    pub services: Vec<String>,
    /// `expires_at` (RFC 3339) or `None`.
    pub expires_at: Option<String>,
}

/// A backend of a version.
#[derive(Debug, Clone)]
pub struct BackendFixture {
    /// `name`.
    pub name: String,
    /// `address`.
    pub address: String,
    /// `port`.
    pub port: u16,
    /// `use_ssl`.
    pub use_ssl: bool,
    /// `override_host`.
    pub override_host: Option<String>,
}

/// A service version.
#[derive(Debug, Clone, Default)]
pub struct VersionFixture {
    /// Domain names.
    pub domains: Vec<String>,
    /// Backends.
    pub backends: Vec<BackendFixture>,
    /// Dictionaries: name → items.
    pub dictionaries: BTreeMap<String, BTreeMap<String, String>>,
    /// Linked config stores: link name → items (the store id is derived
    /// from the name).
    pub config_stores: BTreeMap<String, BTreeMap<String, String>>,
    /// Linked KV store names.
    pub kv_stores: Vec<String>,
    /// The package's `metadata.hashsum`; `None`: no package (404).
    pub package_hashsum: Option<String>,
}

/// A service.
#[derive(Debug, Clone)]
pub struct ServiceFixture {
    /// Service id.
    pub id: String,
    /// Service name.
    pub name: String,
    /// `wasm` or `vcl`.
    pub kind: String,
    /// The active version, `None` for none.
    pub active: Option<u32>,
    /// Versions by number.
    pub versions: BTreeMap<u32, VersionFixture>,
}

/// What the stand-in serves.
#[derive(Debug, Clone, Default)]
pub struct Fixture {
    /// Known tokens.
    pub tokens: Vec<TokenFixture>,
    /// Services, in `/service` order.
    pub services: Vec<ServiceFixture>,
}

#[derive(Default)]
struct State {
    fixture: Fixture,
    requests: HashMap<String, usize>,
    not_modified: HashMap<String, usize>,
    seen: Vec<String>,
    fail_with: Option<u16>,
    posts: Vec<(String, Vec<u8>)>,
}

/// A running stand-in. Stops when dropped.
pub struct StandIn {
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub base_url: String,
    state: Arc<Mutex<State>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl StandIn {
    /// Binds a free loopback port and serves `fixture` from a thread of its
    /// own (so that it works from sync and async tests alike).
    pub fn start(fixture: Fixture) -> StandIn {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            fixture,
            ..State::default()
        }));
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let served = state.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(serve(listener, served, stopped));
        });
        StandIn {
            base_url,
            state,
            stop: Some(stop),
        }
    }

    /// Makes `version` the service's active version, creating it as a copy
    /// of the currently active one when it does not exist yet.
    pub fn set_active_version(&self, service_id: &str, version: u32) {
        self.with_service(service_id, |s| {
            if !s.versions.contains_key(&version) {
                let current = s
                    .active
                    .and_then(|v| s.versions.get(&v))
                    .cloned()
                    .unwrap_or_default();
                s.versions.insert(version, current);
            }
            s.active = Some(version);
        });
    }

    /// Adds or replaces a version (without activating it).
    pub fn set_version(&self, service_id: &str, version: u32, fixture: VersionFixture) {
        self.with_service(service_id, |s| {
            s.versions.insert(version, fixture);
        });
    }

    /// Requests received for `path` (without the query), any status.
    pub fn request_count(&self, path: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .requests
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// `304` answers given for `path`.
    pub fn not_modified_count(&self, path: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .not_modified
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// From now on every request gets this status (e.g. 503, 429) with a
    /// Fastly error body; `None` restores normal answers.
    pub fn fail_with(&self, status: Option<u16>) {
        self.state.lock().unwrap().fail_with = status;
    }

    /// Whether `needle` appeared in any request's path, query or header
    /// value (to check that a secret was never sent).
    pub fn received(&self, needle: &str) -> bool {
        self.state
            .lock()
            .unwrap()
            .seen
            .iter()
            .any(|s| s.contains(needle))
    }

    /// The POSTs received (path, body), oldest first; each was answered 204.
    pub fn posts(&self) -> Vec<(String, Vec<u8>)> {
        self.state.lock().unwrap().posts.clone()
    }

    fn with_service(&self, service_id: &str, f: impl FnOnce(&mut ServiceFixture)) {
        let mut state = self.state.lock().unwrap();
        let service = state
            .fixture
            .services
            .iter_mut()
            .find(|s| s.id == service_id);
        f(service.unwrap_or_else(|| panic!("the fixture has no service {service_id}")));
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    state: Arc<Mutex<State>>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted { Ok((s, _)) => s, Err(_) => continue },
            _ = &mut stopped => return,
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let state = state.clone();
                    async move {
                        if req.method() == hyper::Method::POST {
                            return Ok::<_, std::convert::Infallible>(take_post(&state, req).await);
                        }
                        Ok(answers::answer(&state, &req))
                    }
                });
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await;
        });
    }
}

/// Keeps a POST (the pod's status reports) and answers 204, or the
/// failure status set by `fail_with`.
async fn take_post(
    state: &Arc<Mutex<State>>,
    req: hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
    use http_body_util::BodyExt;
    let path = req.uri().path().to_owned();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec());
    let mut state = state.lock().unwrap();
    let status = state.fail_with.unwrap_or(204);
    if status == 204 {
        state.posts.push((path, body.unwrap_or_default()));
    }
    hyper::Response::builder()
        .status(status)
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap()
}

/// Lower-case hex SHA-256, for ids and ETags derived from content.
fn hash_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
