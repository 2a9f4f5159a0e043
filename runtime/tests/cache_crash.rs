//! The HTTP cache of `anywhere edge` across process ends: an object cached
//! before a SIGTERM is a hit after the restart, and a hundred SIGKILLs in
//! the middle of cache fills never leave an object whose body differs
//! from what the origin sent (checked through the edge while it runs, on
//! the next start's report, and at the end by opening the database
//! in-process and reading every object back).
//!
//! The edge runs `tests/guests/wat/proxy.wat`, which sends each client
//! request to the backend `origin` with `send` (so through the cache).
//! `CACHE_CRASH_ITERATIONS` lowers the number of kills for a quick local
//! run (default 100); `CACHE_CRASH_SEED` replays one run's random choices.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

#[path = "support/origin.rs"]
mod origin;

use anywhere::cache::key::Key;
use anywhere::cache::{Cache, CacheConfig};
use anywhere::metrics::CacheMetrics;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use origin::{Answer, OriginServer};
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{free_port, send, wat_guest};

/// The service the edge runs, and the Host clients send it.
const SERVICE: &str = "cachecrash";
const DOMAIN: &str = "crash.example";
/// Paths /o/0 … /o/{OBJECTS-1}.
const OBJECTS: usize = 200;
/// Requests in flight at once during a crash iteration.
const IN_FLIGHT: usize = 16;
/// How long an edge of the crash loop serves before its SIGKILL, ms after
/// it is ready: a random time in this range. The cache's writer commits
/// without fsync and makes its writes durable about once a second, counted
/// from when the database opens (~0.1 s before the edge is ready), and
/// redb reopens at the last durable commit. So a kill in the first ~0.9 s
/// loses all of the run's writes (with 50–400 ms alone, nothing would ever
/// reach the disk and the check at the end would verify an empty cache),
/// and a later kill leaves durable objects and the durable chunks of fills
/// still under way (pending ids, removed at the next open). The range
/// covers both.
const KILL_AFTER_MS: (u64, u64) = (50, 1500);
/// The crash loop's cache capacity: a fifth of the objects' bytes, so that
/// every run misses, writes, and evicts (deletes are writes too), instead
/// of serving only hits once every object is stored.
const CRASH_CAPACITY: &str = "8Mi";
/// The origin sends each body of the crash loop in pieces of `PIECE` bytes
/// `PAUSE` apart (an object takes up to ~250 ms), so that fills are under
/// way when the writer commits durably and when the kill comes.
const PIECE: usize = 16 * 1024;
const PAUSE: Duration = Duration::from_millis(10);

/// The directories one test's edges share.
struct Dirs {
    _root: tempfile::TempDir,
    config: PathBuf,
    xqd: PathBuf,
    cache: PathBuf,
    logs: PathBuf,
}

impl Dirs {
    /// An edge.yaml with no declared service and an xqd volume where the
    /// proxy is activated with its backend `origin` at `origin`.
    fn new(origin: SocketAddr) -> Dirs {
        let root = tempfile::tempdir().unwrap();
        let dirs = Dirs {
            config: root.path().join("edge.yaml"),
            xqd: root.path().join("xqd"),
            cache: root.path().join("cached"),
            logs: root.path().join("logs"),
            _root: root,
        };
        // The CPU limit is raised from Fastly's 50 ms: these tests load a
        // two-core machine with an origin, clients and the edge at once, and
        // what they test is the cache, not the limit.
        std::fs::write(
            &dirs.config,
            "services: []\nlimits:\n  cpuTime: 1s\negress:\n  allowedCidrs: [127.0.0.0/8]\n",
        )
        .unwrap();
        std::fs::create_dir_all(&dirs.cache).unwrap();
        std::fs::create_dir_all(&dirs.logs).unwrap();
        activate(&dirs.xqd, origin);
        dirs
    }
}

/// What the loader does: stage the proxy's version, switch to it.
fn activate(xqd: &Path, origin: SocketAddr) {
    let xqd = anywhere::xqd::Xqd::new(xqd);
    let staged = xqd.new_staging().unwrap().keep();
    let wasm = wat::parse_str(std::fs::read_to_string(wat_guest("proxy")).unwrap()).unwrap();
    std::fs::write(staged.join("main.wasm"), &wasm).unwrap();
    let manifest = anywhere::xqd::ServiceManifest {
        service: serde_yaml::from_str(&format!(
            "{{name: {SERVICE}, domains: [{DOMAIN}], package: {{oci: test/{SERVICE}:1}}, \
             backends: [{{name: origin, url: \"http://{origin}\"}}]}}"
        ))
        .unwrap(),
        package_file: "main.wasm".into(),
        package_sha256: "00".into(),
        package_bytes: wasm.len() as u64,
        origin: "test".into(),
        fastly_version: None,
    };
    xqd.activate(&staged, &manifest).unwrap();
}

/// A running `anywhere edge`; killed on drop.
struct Edge {
    child: Child,
    admin: SocketAddr,
    stderr: PathBuf,
    listening: std::sync::mpsc::Receiver<SocketAddr>,
}

/// What a started edge says once it is ready.
struct Ready {
    http: SocketAddr,
    /// `/readyz`'s body.
    report: String,
    /// From start to ready.
    took: Duration,
}

impl Edge {
    /// Starts an edge on `dirs` whose cache holds `capacity` (a quantity);
    /// `tag` names its stderr file.
    fn start(dirs: &Dirs, capacity: &str, tag: &str) -> Edge {
        let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let stderr = dirs.logs.join(format!("edge-{tag}.stderr"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_anywhere"))
            .args(["edge", "--purge-addr", "127.0.0.1:0", "--config"])
            .arg(&dirs.config)
            .arg("--xqd-dir")
            .arg(&dirs.xqd)
            .arg("--cache-dir")
            .arg(&dirs.cache)
            .args(["--cache-capacity", capacity])
            .args(["--http-addr", "127.0.0.1:0", "--admin-addr"])
            .arg(admin.to_string())
            .args(["--drain-delay-seconds", "0", "--grace-seconds", "5"])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, listening) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Reads to the end, so that the edge never writes to a closed
            // pipe.
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(addr) = line.trim().strip_prefix("Listening on http://")
                    && let Ok(addr) = addr.parse()
                {
                    let _ = tx.send(addr);
                }
            }
        });
        Edge {
            child,
            admin,
            stderr,
            listening,
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Starts an edge and waits until it is ready, again (at most three
    /// times) when another process took its admin port between
    /// `free_port` and the edge's bind: a race of the test, not the cache.
    async fn launch(dirs: &Dirs, capacity: &str, tag: &str) -> (Edge, Ready) {
        for attempt in 1.. {
            let mut edge = Edge::start(dirs, capacity, &format!("{tag}-{attempt}"));
            match edge.try_ready().await {
                Ok(ready) => return (edge, ready),
                Err(why) if attempt < 3 && why.contains("Address already in use") => {}
                Err(why) => panic!("{why}"),
            }
        }
        unreachable!("the loop returns or panics")
    }

    /// Waits until it listens and its `/readyz` reports the service
    /// serving; an edge that exited first is an error with its stderr, one
    /// that hangs fails the test.
    async fn try_ready(&mut self) -> Result<Ready, String> {
        let started = Instant::now();
        let deadline = started + Duration::from_secs(60);
        let mut http = None;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Err(format!(
                    "the edge exited with {status} before it was ready; its stderr:\n{}",
                    self.stderr()
                ));
            }
            if http.is_none() {
                http = self.listening.try_recv().ok();
            }
            if let Some(http) = http
                && let Ok((200, _, body)) = fetch(self.admin, "/readyz", "localhost").await
            {
                let report = String::from_utf8_lossy(&body).into_owned();
                if report.contains(&format!("{SERVICE}: serving")) {
                    return Ok(Ready {
                        http,
                        report,
                        took: started.elapsed(),
                    });
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "the edge was not ready within 60 s; its stderr:\n{}",
                    self.stderr()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// SIGKILL, and waits for the exit; fails the test if the edge had
    /// already exited.
    fn kill(&mut self) {
        use std::os::unix::process::ExitStatusExt;
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!(
                "the edge had exited ({status}) before it was killed; its stderr:\n{}",
                self.stderr()
            );
        }
        self.child.kill().unwrap();
        let status = self.child.wait().unwrap();
        assert_eq!(status.signal(), Some(9), "{status}");
    }

    /// SIGTERM, and waits (30 s at most) for the exit.
    async fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "the edge did not exit within 30 s of SIGTERM; its stderr:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One GET with a fresh client: status, headers, whole body; `Err` when the
/// request or its body failed (or took over 10 s).
async fn fetch(
    addr: SocketAddr,
    path: &str,
    host: &str,
) -> Result<(u16, http::HeaderMap, Bytes), String> {
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    get_with(&client, addr, path, host).await
}

async fn get_with(
    client: &Client<HttpConnector, Empty<Bytes>>,
    addr: SocketAddr,
    path: &str,
    host: &str,
) -> Result<(u16, http::HeaderMap, Bytes), String> {
    let req = http::Request::get(format!("http://{addr}{path}"))
        .header("host", host)
        .body(Empty::new())
        .unwrap();
    let exchange = async {
        let resp = client.request(req).await.map_err(|e| format!("{e:?}"))?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.map_err(|e| format!("body: {e:?}"))?;
        Ok((parts.status.as_u16(), parts.headers, body.to_bytes()))
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .map_err(|_| "no answer within 10 s".to_owned())?
}

fn header<'a>(h: &'a http::HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// The `cache <dir>: N objects, capacity …` line of a `/readyz` report.
fn cache_line(report: &str) -> &str {
    report
        .lines()
        .find(|l| l.starts_with("cache ") && l.contains(" objects, capacity "))
        .unwrap_or_else(|| panic!("no cache line in /readyz:\n{report}"))
}

/// The numbers of a cache line: objects, unfinished writes removed, bad
/// rows removed.
fn cache_counts(line: &str) -> (usize, usize, usize) {
    let number_before = |suffix: &str| -> usize {
        line.split(suffix)
            .next()
            .filter(|head| head.len() < line.len())
            .and_then(|head| head.rsplit(' ').next())
            .map(|n| {
                n.parse()
                    .unwrap_or_else(|_| panic!("`{n}` in the cache line: {line}"))
            })
            .unwrap_or(0)
    };
    let objects = line
        .split(": ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no object count in the cache line: {line}"));
    (
        objects,
        number_before(" unfinished writes"),
        number_before(" bad rows"),
    )
}

/// splitmix64: small, seedable, good enough to shuffle and to make bodies.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// In `lo..=hi`.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.between(0, i as u64) as usize;
            items.swap(i, j);
        }
    }
}

/// The body of /o/{i}: bytes no other object or offset shares, from 1 KiB
/// to 400 KiB, including sizes at and just past the 64 KiB chunk size.
fn object_body(i: usize) -> Bytes {
    const KIB: u64 = 1024;
    let mut rng = Rng(0x00c0_ffee_0000_0000 ^ i as u64);
    let len = match i {
        0 => 64 * KIB,
        1 => 128 * KIB,
        2 => 64 * KIB + 1,
        3 => KIB,
        4 => 400 * KIB,
        _ => rng.between(KIB, 400 * KIB),
    } as usize;
    let mut body = Vec::with_capacity(len + 8);
    while body.len() < len {
        body.extend_from_slice(&rng.next().to_le_bytes());
    }
    body.truncate(len);
    Bytes::from(body)
}

fn object_path(i: usize) -> String {
    format!("/o/{i}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(viceroy, ignore = "`anywhere edge` has no Viceroy counterpart")]
async fn an_object_cached_before_a_restart_is_a_hit_after_it() {
    let (origin, origin_addr) = OriginServer::start().await;
    let body = "the object at /x, cached for an hour";
    origin.set("/x", Answer::ok(&[("cache-control", "max-age=3600")], body));
    let dirs = Dirs::new(origin_addr);

    let (mut edge, ready) = Edge::launch(&dirs, "512Mi", "first").await;
    let (objects, _, _) = cache_counts(cache_line(&ready.report));
    assert_eq!(objects, 0, "{}", ready.report);
    let r = send(ready.http, "GET", "/x", DOMAIN, &[], "").await;
    assert_eq!(
        (r.status, header(&r.headers, "x-cache"), r.body.as_str()),
        (200, "MISS", body)
    );
    assert_eq!(origin.count("/x"), 1);
    // Once its fill has finished (a request meanwhile shares the fill and
    // says MISS), the same edge answers it from the cache.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = send(ready.http, "GET", "/x", DOMAIN, &[], "").await;
        assert_eq!((r.status, r.body.as_str()), (200, body));
        assert_eq!(origin.count("/x"), 1, "the origin was asked again");
        if header(&r.headers, "x-cache") == "HIT" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still no HIT 10 s after the fill: {:?}",
            r.headers
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // SIGTERM at once: no time for the writer's once-a-second durable
    // commit, so only a clean shutdown keeps the object.
    let exit = edge.terminate().await;
    assert!(
        exit.success(),
        "the edge exited with {exit} after SIGTERM; its stderr:\n{}",
        edge.stderr()
    );
    drop(edge);

    let (mut edge, ready) = Edge::launch(&dirs, "512Mi", "second").await;
    let line = cache_line(&ready.report);
    assert!(
        line.contains(": 1 objects, capacity "),
        "the restarted edge does not report the object: {line}"
    );
    let r = send(ready.http, "GET", "/x", DOMAIN, &[], "").await;
    assert_eq!(
        (r.status, header(&r.headers, "x-cache"), r.body.as_str()),
        (200, "HIT", body),
        "after the restart"
    );
    assert_eq!(origin.count("/x"), 1, "the origin was asked again");
    // The edge's /metrics counts the hit and the object on disk.
    let metrics = send(edge.admin, "GET", "/metrics", "admin", &[], "")
        .await
        .body;
    let hit = format!("anywhere_cache_lookups_total{{service=\"{SERVICE}\",kind=\"hit\"}} 1");
    assert!(
        metrics.contains(&hit),
        "{hit} is not in /metrics:\n{metrics}"
    );
    assert!(
        metrics.contains("anywhere_cache_disk_objects 1"),
        "{metrics}"
    );
    let exit = edge.terminate().await;
    assert!(exit.success(), "{exit}; stderr:\n{}", edge.stderr());
}

/// What the clients of one crash iteration saw.
#[derive(Default)]
struct Seen {
    hits: usize,
    misses: usize,
    /// Failed requests after the kill began (expected).
    cut: usize,
    /// Problems: wrong bodies, wrong statuses, failures before the kill.
    problems: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(viceroy, ignore = "`anywhere edge` has no Viceroy counterpart")]
async fn kill_9_during_writes_never_leaves_a_torn_object() {
    let iterations: usize = std::env::var("CACHE_CRASH_ITERATIONS")
        .ok()
        .map(|v| v.parse().expect("CACHE_CRASH_ITERATIONS: a number"))
        .unwrap_or(100);
    assert!(iterations >= 1, "CACHE_CRASH_ITERATIONS must be at least 1");
    let seed: u64 = std::env::var("CACHE_CRASH_SEED")
        .ok()
        .map(|v| v.parse().expect("CACHE_CRASH_SEED: a number"))
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("crash loop: CACHE_CRASH_SEED={seed}");
    let mut rng = Rng(seed);

    let bodies: Arc<Vec<Bytes>> = Arc::new((0..OBJECTS).map(object_body).collect());
    let (origin, origin_addr) = OriginServer::start().await;
    for (i, body) in bodies.iter().enumerate() {
        origin.set(
            &object_path(i),
            Answer::ok(&[("cache-control", "max-age=3600")], body.clone()).paced(PIECE, PAUSE),
        );
    }
    let dirs = Dirs::new(origin_addr);

    let started = Instant::now();
    let (mut kills, mut starts) = (0usize, Vec::new());
    let (mut torn_total, mut bad_total, mut in_flight_kills) = (0usize, 0usize, 0usize);
    let (mut hits, mut misses, mut cut) = (0usize, 0usize, 0usize);
    let (mut opens_with_torn, mut opens_with_objects, mut objects_seen) = (0usize, 0usize, 0usize);
    for iteration in 0..iterations {
        let (mut edge, ready) = Edge::launch(&dirs, CRASH_CAPACITY, &iteration.to_string()).await;
        starts.push(ready.took);
        let line = cache_line(&ready.report);
        let (objects, torn, bad) = cache_counts(line);
        torn_total += torn;
        bad_total += bad;
        assert_eq!(
            bad, 0,
            "start {iteration}: rows whose body did not match were removed (a row was durable without its whole body): {line}"
        );
        if torn > 0 {
            opens_with_torn += 1;
        }
        if objects > 0 {
            opens_with_objects += 1;
        }
        objects_seen = objects_seen.max(objects);

        let mut order: Vec<usize> = (0..OBJECTS).collect();
        rng.shuffle(&mut order);
        let order = Arc::new(order);
        let next = Arc::new(AtomicUsize::new(0));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let killing = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let workers: Vec<_> = (0..IN_FLIGHT)
            .map(|_| {
                let (order, next, in_flight, killing, seen, bodies, client) = (
                    order.clone(),
                    next.clone(),
                    in_flight.clone(),
                    killing.clone(),
                    seen.clone(),
                    bodies.clone(),
                    client.clone(),
                );
                let http = ready.http;
                tokio::spawn(async move {
                    while !killing.load(Ordering::SeqCst) {
                        let k = next.fetch_add(1, Ordering::SeqCst);
                        let Some(&i) = order.get(k) else {
                            break;
                        };
                        in_flight.fetch_add(1, Ordering::SeqCst);
                        let got = get_with(&client, http, &object_path(i), DOMAIN).await;
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        let mut seen = seen.lock().unwrap();
                        match got {
                            Ok((200, h, body)) => {
                                match header(&h, "x-cache") {
                                    "HIT" => seen.hits += 1,
                                    "MISS" => seen.misses += 1,
                                    other => seen
                                        .problems
                                        .push(format!("/o/{i}: X-Cache `{other}`")),
                                }
                                if body != bodies[i] {
                                    seen.problems.push(format!(
                                        "/o/{i} ({}): {} bytes, not the origin's {} (first difference at {:?})",
                                        header(&h, "x-cache"),
                                        body.len(),
                                        bodies[i].len(),
                                        body.iter().zip(bodies[i].iter()).position(|(a, b)| a != b)
                                    ));
                                }
                            }
                            Ok((status, _, body)) => seen.problems.push(format!(
                                "/o/{i}: status {status}: {}",
                                String::from_utf8_lossy(&body)
                            )),
                            Err(_) if killing.load(Ordering::SeqCst) => seen.cut += 1,
                            Err(e) => seen.problems.push(format!("/o/{i} before the kill: {e}")),
                        }
                    }
                })
            })
            .collect();
        let (lo, hi) = KILL_AFTER_MS;
        tokio::time::sleep(Duration::from_millis(rng.between(lo, hi))).await;
        killing.store(true, Ordering::SeqCst);
        if in_flight.load(Ordering::SeqCst) > 0 {
            in_flight_kills += 1;
        }
        edge.kill();
        kills += 1;
        for w in workers {
            tokio::time::timeout(Duration::from_secs(30), w)
                .await
                .expect("a client still waiting 30 s after the kill")
                .unwrap();
        }
        let seen = std::mem::take(&mut *seen.lock().unwrap());
        assert!(
            seen.problems.is_empty(),
            "start {iteration}: {} problems through the edge:\n{}\nits stderr:\n{}",
            seen.problems.len(),
            seen.problems.join("\n"),
            edge.stderr()
        );
        hits += seen.hits;
        misses += seen.misses;
        cut += seen.cut;
    }
    let looped = started.elapsed();

    // Every object the database holds, read back in-process after the
    // last kill, against the origin's bytes.
    let config = CacheConfig {
        dir: Some(dirs.cache.clone()),
        ..CacheConfig::default()
    };
    let (cache, report) = Cache::open(&config, CacheMetrics::default())
        .unwrap_or_else(|e| panic!("the cache did not open after the last kill: {e}"));
    torn_total += report.torn_writes;
    bad_total += report.bad_rows;
    assert_eq!(
        report.bad_rows, 0,
        "rows whose body did not match were found after the last kill: {report:?}"
    );
    let (mut found, mut mismatches) = (0usize, Vec::new());
    for (i, expected) in bodies.iter().enumerate() {
        let key = Key::http(
            SERVICE,
            DOMAIN.to_ascii_lowercase().as_bytes(),
            &object_path(i),
        );
        let Some(object) = cache.lookup(&key).await else {
            continue;
        };
        found += 1;
        let meta = &object.meta;
        if meta.service != SERVICE || meta.length != expected.len() as u64 {
            mismatches.push(format!(
                "/o/{i}: service {} length {} (the origin's: {})",
                meta.service,
                meta.length,
                expected.len()
            ));
            continue;
        }
        match object.body().collect().await {
            Ok(c) => {
                let body = c.to_bytes();
                if body != *expected {
                    mismatches.push(format!(
                        "/o/{i}: {} bytes differ from the origin's {} (first difference at {:?})",
                        body.len(),
                        expected.len(),
                        body.iter().zip(expected.iter()).position(|(a, b)| a != b)
                    ));
                }
            }
            Err(e) => mismatches.push(format!("/o/{i}: reading its body: {e}")),
        }
    }
    let mut start_ms: Vec<u128> = starts.iter().map(|d| d.as_millis()).collect();
    let first_start = start_ms[0];
    start_ms.sort_unstable();
    println!(
        "crash loop: {kills} kills in {looped:.1?} (starts to ready: first {first_start} ms, \
         median {} ms, max {} ms); clients saw {hits} hits and {misses} misses, every body \
         whole, and {cut} requests cut by the kills; {in_flight_kills} kills with requests in \
         flight; opens found stored objects {opens_with_objects} times (at most {objects_seen}) \
         and removed {torn_total} unfinished writes ({opens_with_torn} opens) and {bad_total} \
         bad rows; the last open: {report:?}; the origin was asked {} times",
        start_ms[start_ms.len() / 2],
        start_ms[start_ms.len() - 1],
        origin.total(),
    );
    assert!(
        mismatches.is_empty(),
        "{} of {found} objects do not match the origin:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert_eq!(
        found, report.objects,
        "objects found by key differ from the objects the database holds"
    );
    assert!(
        found > 0,
        "no object survived {kills} kills (in-flight kills: {in_flight_kills}, misses: {misses})"
    );
    println!("crash loop: {kills} kills, {found} objects verified against the origin, 0 torn");
}
