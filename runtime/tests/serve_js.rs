//! A real JS Compute program (built with @fastly/js-compute) under
//! `anywhere serve`, with the same fastly.toml Viceroy takes: every
//! platform feature it uses answers as configured. With `VICEROY=path`
//! the same suite runs against Viceroy, to check our expectations
//! against Fastly's own runtime.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;

async fn conformance() -> (Server, tempfile::TempDir) {
    let (s, dir, _) = conformance_with_origin().await;
    (s, dir)
}

async fn conformance_with_origin() -> (Server, tempfile::TempDir, std::net::SocketAddr) {
    let origin = start_origin().await;
    let dir = tempfile::tempdir().unwrap();
    let manifest = conformance_manifest(dir.path(), origin);
    let log_dir = dir.path().join("logs");
    std::fs::create_dir_all(&log_dir).unwrap();
    let server = serve(
        &js_guest("conformance"),
        Some(&manifest),
        &["--log-dir", log_dir.to_str().unwrap()],
    );
    (server, dir, origin)
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_responses_and_headers() {
    let (s, _dir) = conformance().await;
    let r = send(
        s.addr,
        "POST",
        "/request?x=1",
        "app.example",
        &[("x-a", "1"), ("x-b", "2")],
        "payload",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    assert_eq!(j["method"], "POST");
    assert_eq!(j["url"], "http://app.example/request?x=1");
    assert_eq!(j["body"], "payload");
    assert_eq!(j["headers"]["x-a"], "1");
    assert_eq!(j["client"], "127.0.0.1");

    let r = get(s.addr, "/status?code=418").await;
    assert_eq!(r.status, 418);
    let multi: Vec<_> = r
        .headers
        .get_all("x-multi")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(multi, ["one", "two"]);

    let r = get(s.addr, "/stream?n=4").await;
    assert_eq!(r.body, "chunk 0\nchunk 1\nchunk 2\nchunk 3\n");

    let r = get(s.addr, "/nope").await;
    assert_eq!(r.status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn backends_static_dynamic_and_parallel() {
    let (s, _dir, origin) = conformance_with_origin().await;
    let r = send(s.addr, "POST", "/backend?path=/x", "app.example", &[], "up").await;
    let j = r.json();
    assert_eq!(j["status"], 200, "{}", r.body);
    assert_eq!(
        j["body"],
        "origin saw POST /x host=origin.example x-from-guest=1 body=up"
    );
    assert_eq!(j["headers"]["x-origin"], "yes");
    assert_eq!(j["ip"], "127.0.0.1", "the origin's address: {j}");
    assert_eq!(j["port"], origin.port(), "{j}");

    let j = get(s.addr, "/gzip").await.json();
    assert_eq!(j["encoding"], serde_json::Value::Null, "{j}");
    assert!(
        j["body"]
            .as_str()
            .unwrap()
            .starts_with("origin saw GET /gzip"),
        "{j}"
    );

    let j = get(s.addr, "/backend?path=/missing").await.json();
    assert_eq!(j["status"], 404);

    let j = get(s.addr, "/backend-parallel").await.json();
    let bodies: Vec<String> = serde_json::from_value(j).unwrap();
    assert_eq!(bodies.len(), 3);
    assert!(bodies[2].starts_with("origin saw GET /c"), "{bodies:?}");

    let r = get(s.addr, "/backend-missing").await;
    assert_eq!(r.status, 502, "{}", r.body);

    let info = get(s.addr, "/backend-info").await.json();
    assert_eq!(info["exists"], true);
    assert_eq!(info["missing"], false);
    assert_eq!(info["target"], "127.0.0.1", "{info}");
    assert_eq!(info["hostOverride"], "origin.example", "{info}");
    assert_eq!(info["health"], "unknown", "{info}");
    assert_eq!(info["ssl"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn dynamic_backend_reaches_a_new_origin() {
    let (s, _dir) = conformance().await;
    let other = start_origin().await;
    let r = get(s.addr, &format!("/dynamic?port={}", other.port())).await;
    let j = r.json();
    assert_eq!(j["status"], 200, "{}", r.body);
    assert!(
        j["body"]
            .as_str()
            .unwrap()
            .starts_with("origin saw GET /dynamic"),
        "{}",
        r.body
    );
    assert_eq!(j["exists"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn config_secret_and_kv_stores() {
    let (s, _dir) = conformance().await;
    let j = get(s.addr, "/config").await.json();
    assert_eq!(j["greeting"], "hello from config");
    assert_eq!(j["missing"], serde_json::Value::Null);
    assert_eq!(j["legacy"], "dictionary value");

    assert_eq!(
        get(s.addr, "/secret?name=token").await.json()["value"],
        "s3cret"
    );
    assert_eq!(
        get(s.addr, "/secret?name=nope").await.json()["value"],
        serde_json::Value::Null
    );

    let j = get(s.addr, "/kv?key=seeded").await.json();
    assert_eq!(j["value"], "seeded value");
    assert_eq!(j["metadata"], "seeded metadata");
    assert_eq!(get(s.addr, "/kv?key=absent").await.status, 404);

    let r = send(
        s.addr,
        "PUT",
        "/kv?key=new&meta=m1",
        "app.example",
        &[],
        "v1",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = send(
        s.addr,
        "PUT",
        "/kv?key=new&mode=append",
        "app.example",
        &[],
        "+v2",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let j = get(s.addr, "/kv?key=new").await.json();
    assert_eq!(j["value"], "v1+v2");

    let page = get(s.addr, "/kv?list=1&prefix=list/&limit=2").await.json();
    assert_eq!(
        page["list"],
        serde_json::json!(["list/a", "list/b"]),
        "{page}"
    );
    let cursor = page["cursor"]
        .as_str()
        .expect("a cursor for the next page")
        .to_owned();
    let page = get(
        s.addr,
        &format!("/kv?list=1&prefix=list/&limit=2&cursor={cursor}"),
    )
    .await
    .json();
    assert_eq!(page["list"], serde_json::json!(["list/c"]), "{page}");

    assert_eq!(
        send(s.addr, "DELETE", "/kv?key=new", "app.example", &[], "")
            .await
            .status,
        200
    );
    assert_eq!(get(s.addr, "/kv?key=new").await.status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_geo_device_acl_and_rate_limits() {
    let (s, dir) = conformance().await;
    assert_eq!(get(s.addr, "/log?m=42").await.status, 200);
    let logged = std::fs::read_to_string(dir.path().join("logs/access.log")).unwrap();
    assert_eq!(logged, "log line 42\n");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        s.stdout.lock().unwrap().contains("console line 42"),
        "stdout: {}",
        s.stdout.lock().unwrap()
    );

    let loopback = get(s.addr, "/geo?ip=127.0.0.1").await.json();
    assert_eq!(
        loopback["city"], "localhost",
        "the built-in loopback record: {loopback}"
    );
    let geo = get(s.addr, "/geo?ip=192.0.2.10").await.json();
    assert_eq!(geo["city"], "Testville");
    assert_eq!(geo["as_number"], 64500, "{geo}");

    let d = get(s.addr, "/device?ua=TestPhone/1.0").await.json();
    assert_eq!(d["name"], "Test Phone");
    assert_eq!(d["isMobile"], true);
    assert_eq!(
        get(s.addr, "/device?ua=unknown").await.json(),
        serde_json::Value::Null
    );

    let blocked = get(s.addr, "/acl?ip=192.0.2.1").await.json();
    assert_eq!(blocked["action"], "BLOCK");
    assert_eq!(blocked["prefix"], "192.0.2.0/24");
    let allowed = get(s.addr, "/acl?ip=192.0.2.200").await.json();
    assert_eq!(allowed["action"], "ALLOW", "the longest prefix wins");
    assert_eq!(
        get(s.addr, "/acl?ip=198.51.100.1").await.json(),
        serde_json::Value::Null
    );

    let first = get(s.addr, "/erl?who=a&limit=1000").await.json();
    assert_eq!(first["blocked"], false);
    let over = get(s.addr, "/erl?who=b&limit=0").await.json();
    assert_eq!(over["blocked"], true);
    assert_eq!(over["count"], 1);

    // Rates per second over a window, counts, and penalty boxes.
    let rate = get(s.addr, "/erl-rate?who=c&n=5").await.json();
    assert_eq!(
        rate,
        serde_json::json!({"rate": 5, "count": 5, "before": false, "after": true})
    );
    let again = get(s.addr, "/erl-rate?who=c&n=5").await.json();
    assert_eq!(
        (&again["count"], &again["before"]),
        (&serde_json::json!(10), &serde_json::json!(true))
    );

    // The vCPU clock moves with the program's work, and stays under the
    // 50 ms limit: a clock that stood still would spin into the limit.
    let spin = get(s.addr, "/cpu-spin?ms=5").await;
    assert_eq!(spin.status, 200, "{}", spin.body);
    let spin = spin.json();
    let (before, after) = (
        spin["before"].as_f64().unwrap(),
        spin["after"].as_f64().unwrap(),
    );
    assert!(after - before >= 5.0 && after <= 60.0, "{spin}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_request_fails_alone() {
    let (s, _dir) = conformance().await;
    for path in ["/throw", "/loop", "/oom", "/recurse"] {
        let r = get(s.addr, path).await;
        assert_eq!(r.status, 500, "{path}: {}", r.body);
        assert_eq!(get(s.addr, "/hello").await.body, "hello\n", "after {path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(
    viceroy,
    ignore = "the limits are anywhere's flags: nothing to compare"
)]
async fn each_failure_is_stopped_by_its_own_limit() {
    let admin = format!("127.0.0.1:{}", free_port());
    // CPU time high enough that only the loop reaches it.
    let s = serve(
        &js_guest("conformance"),
        None,
        &["--cpu-time-ms", "3000", "--admin-addr", &admin],
    );
    let admin: std::net::SocketAddr = admin.parse().unwrap();
    let kills = || async move {
        let text = get(admin, "/metrics").await.body;
        text.lines()
            .find(|l| {
                l.starts_with("anywhere_guest_limit_kills_total{") && l.contains("kind=\"cpu\"")
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // The heap limit (128 MiB) stops the hog long before 3 s of CPU: the
    // SDK reports out of memory and answers 500 itself.
    let started = std::time::Instant::now();
    let r = get(s.addr, "/oom").await;
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(
        r.headers.get("x-anywhere-error").is_none(),
        "the SDK's own 500"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(kills().await, 0, "no CPU kill for the hog");
    // The loop is stopped by the CPU limit, and the metric says so.
    let r = get(s.addr, "/loop").await;
    assert_eq!(r.status, 500);
    assert!(r.body.contains("CPU time limit"), "{}", r.body);
    assert_eq!(kills().await, 1);
    assert_eq!(get(s.addr, "/hello").await.body, "hello\n");
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(
    viceroy,
    ignore = "the wall-clock limit is anywhere's flag (--wall-time-ms): nothing to compare"
)]
async fn the_wall_clock_limit_stops_a_waiting_guest() {
    let origin = start_origin().await;
    let dir = tempfile::tempdir().unwrap();
    let manifest = conformance_manifest(dir.path(), origin);
    let s = serve(
        &js_guest("conformance"),
        Some(&manifest),
        &["--wall-time-ms", "1000"],
    );
    assert_eq!(get(s.addr, "/sleep?ms=10").await.body, "woke up\n");
    let started = std::time::Instant::now();
    let r = get(s.addr, "/sleep?ms=20000").await;
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(r.body.contains("wall-clock time limit"), "{}", r.body);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "stopped after {:?}",
        started.elapsed()
    );
    assert_eq!(get(s.addr, "/hello").await.body, "hello\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn reusable_sandbox_serves_several_requests() {
    let s = serve(&js_guest("reuse"), None, &[]);
    let mut counts = Vec::new();
    for _ in 0..5 {
        let r = get(s.addr, "/").await;
        assert_eq!(r.status, 200);
        counts.push(r.body.trim().to_owned());
    }
    assert_eq!(counts.first().map(String::as_str), Some("served 1"));
    assert_eq!(
        counts.last().map(String::as_str),
        Some("served 5"),
        "one instance served them all: {counts:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_package_made_by_the_fastly_cli_runs_with_its_own_manifest() {
    let package = root().join("target/guests/packaged.tar.gz");
    assert!(package.is_file(), "run tests/guests/build first");
    let s = serve(&package, None, &[]);
    let j = get(s.addr, "/config").await.json();
    assert_eq!(j["greeting"], "hello from inside the package");
    assert_eq!(j["legacy"], "packaged dictionary");
}

#[tokio::test(flavor = "multi_thread")]
async fn framing_headers_are_the_programs_only_when_it_asks() {
    let (s, _dir) = conformance().await;
    // Automatic: the streamed body is chunked; the program's length is gone.
    let auto = get(s.addr, "/framing?manual=0").await;
    assert_eq!(auto.body, "hello world");
    assert!(
        auto.headers.get("content-length").is_none(),
        "{:?}",
        auto.headers
    );
    // Manual: the program's Content-Length frames the streamed body.
    let manual = get(s.addr, "/framing?manual=1").await;
    assert_eq!(manual.body, "hello world");
    assert_eq!(
        manual
            .headers
            .get("content-length")
            .map(|v| v.to_str().unwrap()),
        Some("11")
    );
    assert!(manual.headers.get("transfer-encoding").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn request_framing_headers_reach_the_backend_only_when_asked() {
    let (s, _dir, _origin) = conformance_with_origin().await;
    let auto = get(s.addr, "/framing-backend?manual=0").await;
    assert_eq!(
        auto.body, "content-length=- transfer-encoding=chunked body=hello world",
        "a streamed request body is chunked"
    );
    let manual = get(s.addr, "/framing-backend?manual=1").await;
    assert_eq!(
        manual.body, "content-length=11 transfer-encoding=- body=hello world",
        "the program's own length"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn at_the_instance_cap_requests_wait_for_a_warm_sandbox() {
    let s = serve(&js_guest("reuse"), None, &["--reuse-instances", "1"]);
    assert_eq!(get(s.addr, "/").await.body.trim(), "served 1");
    // Eight at once: one warm instance takes them in turn rather than
    // seven new instances starting beside it.
    let answers = futures::future::join_all((0..8).map(|_| get(s.addr, "/"))).await;
    let mut counts: Vec<u32> = answers
        .iter()
        .map(|r| {
            assert_eq!(r.status, 200, "{}", r.body);
            r.body.trim().trim_start_matches("served ").parse().unwrap()
        })
        .collect();
    counts.sort_unstable();
    assert_eq!(
        counts,
        (2..=9).collect::<Vec<_>>(),
        "one instance served all"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sandbox_retires_after_its_request_quota() {
    let s = serve(&js_guest("reuse"), None, &["--reuse-max-requests", "3"]);
    let mut counts = Vec::new();
    for _ in 0..7 {
        let r = get(s.addr, "/").await;
        assert_eq!(r.status, 200, "{}", r.body);
        counts.push(r.body.trim().trim_start_matches("served ").to_owned());
    }
    assert_eq!(counts, ["1", "2", "3", "1", "2", "3", "1"]);
}
