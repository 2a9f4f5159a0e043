//! Rolling restarts without a failed request: three `anywhere edge`
//! processes behind a round-robin TCP proxy that, like kube-proxy, stops
//! sending new connections to an endpoint shortly after its `/readyz` turns
//! unready. Under steady load (keep-alive clients), each edge is stopped
//! with SIGTERM and started again, one at a time, as the StatefulSet
//! controller does; no request may fail.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;

/// How long the proxy takes to act on an unready endpoint (kube-proxy:
/// endpoints controller + iptables sync; seconds in a real cluster, so the
/// chart's drain delay is 10 s).
const PROPAGATION: Duration = Duration::from_millis(500);
const DRAIN_DELAY_SECONDS: &str = "2";

struct Backend {
    http: SocketAddr,
    admin: SocketAddr,
    xqd: PathBuf,
    child: Option<Child>,
}

fn start_edge(config: &Path, b: &Backend) -> Child {
    Command::new(env!("CARGO_BIN_EXE_anywhere"))
        .args(["edge", "--purge-addr", "127.0.0.1:0", "--config"])
        .arg(config)
        .arg("--xqd-dir")
        .arg(&b.xqd)
        .args([
            "--http-addr",
            &b.http.to_string(),
            "--admin-addr",
            &b.admin.to_string(),
        ])
        .args([
            "--drain-delay-seconds",
            DRAIN_DELAY_SECONDS,
            "--grace-seconds",
            "5",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn activate(xqd: &Path) {
    let xqd = anywhere::xqd::Xqd::new(xqd);
    let staged = xqd.new_staging().unwrap().keep();
    let wasm = wat::parse_str(std::fs::read_to_string(wat_guest("hello")).unwrap()).unwrap();
    std::fs::write(staged.join("main.wasm"), &wasm).unwrap();
    let manifest = anywhere::xqd::ServiceManifest {
        service: serde_yaml::from_str(
            "{name: hello, domains: [hello.example], package: {oci: test/hello:1}}",
        )
        .unwrap(),
        package_file: "main.wasm".into(),
        package_sha256: "00".into(),
        package_bytes: wasm.len() as u64,
        origin: "test".into(),
        fastly_version: None,
    };
    xqd.activate(&staged, &manifest).unwrap();
}

/// The proxy's view: which backends take new connections.
type Routable = Arc<Mutex<Vec<bool>>>;

/// Polls each backend's /readyz; an endpoint leaves rotation PROPAGATION
/// after it turns unready and comes back once ready.
fn watch_readiness(admins: Vec<SocketAddr>, routable: Routable, stop: Arc<AtomicBool>) {
    tokio::spawn(async move {
        let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        while !stop.load(Ordering::Relaxed) {
            for (i, admin) in admins.iter().enumerate() {
                let req = http::Request::get(format!("http://{admin}/readyz"))
                    .body(Empty::new())
                    .unwrap();
                let ready = matches!(
                    tokio::time::timeout(Duration::from_millis(500), client.request(req)).await,
                    Ok(Ok(r)) if r.status() == 200
                );
                let was = routable.lock().unwrap()[i];
                if was && !ready {
                    let routable = routable.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(PROPAGATION).await;
                        routable.lock().unwrap()[i] = false;
                    });
                } else if ready && !was {
                    routable.lock().unwrap()[i] = true;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
}

/// A round-robin TCP proxy over the routable backends.
async fn start_proxy(backends: Vec<SocketAddr>, routable: Routable) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut next = 0usize;
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                continue;
            };
            let candidates: Vec<usize> = {
                let r = routable.lock().unwrap();
                (0..backends.len()).filter(|i| r[*i]).collect()
            };
            if candidates.is_empty() {
                continue; // dropped: counted as a socket error by the client
            }
            next = next.wrapping_add(1);
            let target = backends[candidates[next % candidates.len()]];
            tokio::spawn(async move {
                if let Ok(mut upstream) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(viceroy, ignore = "`anywhere edge` has no Viceroy counterpart")]
async fn a_rolling_restart_under_load_fails_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("edge.yaml");
    std::fs::write(&config, "services: []\n").unwrap();
    let mut backends: Vec<Backend> = (0..3)
        .map(|i| {
            let xqd = dir.path().join(format!("xqd-{i}"));
            activate(&xqd);
            Backend {
                http: format!("127.0.0.1:{}", free_port()).parse().unwrap(),
                admin: format!("127.0.0.1:{}", free_port()).parse().unwrap(),
                xqd,
                child: None,
            }
        })
        .collect();
    for b in &mut backends {
        b.child = Some(start_edge(&config, b));
    }
    let routable: Routable = Arc::new(Mutex::new(vec![false; 3]));
    let stop = Arc::new(AtomicBool::new(false));
    watch_readiness(
        backends.iter().map(|b| b.admin).collect(),
        routable.clone(),
        stop.clone(),
    );
    let proxy = start_proxy(backends.iter().map(|b| b.http).collect(), routable.clone()).await;
    let all_routable = |r: &Routable| r.lock().unwrap().iter().all(|x| *x);
    let deadline = Instant::now() + Duration::from_secs(120);
    while !all_routable(&routable) {
        assert!(Instant::now() < deadline, "the edges did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Steady load: 8 keep-alive clients.
    let (ok, non_2xx, errors) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let first_error = Arc::new(Mutex::new(None::<String>));
    let load: Vec<_> = (0..8)
        .map(|_| {
            let (stop, ok, non_2xx, errors, first_error) = (
                stop.clone(),
                ok.clone(),
                non_2xx.clone(),
                errors.clone(),
                first_error.clone(),
            );
            tokio::spawn(async move {
                let client: Client<_, Empty<Bytes>> =
                    Client::builder(TokioExecutor::new()).build_http();
                while !stop.load(Ordering::Relaxed) {
                    let req = http::Request::get(format!("http://{proxy}/"))
                        .header("host", "hello.example")
                        .body(Empty::new())
                        .unwrap();
                    match client.request(req).await {
                        Ok(r) if r.status().is_success() => match r.into_body().collect().await {
                            Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                            Err(e) => {
                                first_error
                                    .lock()
                                    .unwrap()
                                    .get_or_insert(format!("body: {e:?}"));
                                errors.fetch_add(1, Ordering::Relaxed)
                            }
                        },
                        Ok(_) => non_2xx.fetch_add(1, Ordering::Relaxed),
                        Err(e) => {
                            first_error.lock().unwrap().get_or_insert(format!("{e:?}"));
                            errors.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            })
        })
        .collect();

    // The StatefulSet's order: the highest ordinal first, each back to
    // Ready before the next goes.
    let started = Instant::now();
    for i in (0..3).rev() {
        let mut child = backends[i].child.take().unwrap();
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        let exit = tokio::task::spawn_blocking(move || child.wait().unwrap())
            .await
            .unwrap();
        assert!(exit.success(), "edge {i} exited with {exit:?}");
        backends[i].child = Some(start_edge(&config, &backends[i]));
        let deadline = Instant::now() + Duration::from_secs(60);
        while !all_routable(&routable) {
            assert!(Instant::now() < deadline, "edge {i} did not come back");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let roll = started.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for l in load {
        l.await.unwrap();
    }
    for b in &mut backends {
        if let Some(mut c) = b.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
    let (ok, non_2xx, errors) = (
        ok.load(Ordering::Relaxed),
        non_2xx.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed),
    );
    println!(
        "rolling restart of 3 edges in {roll:.1?} under load: {ok} ok, {non_2xx} non-2xx, {errors} socket errors"
    );
    assert!(ok > 100, "too little load to mean anything: {ok}");
    assert_eq!(
        (non_2xx, errors),
        (0, 0),
        "first error: {:?}",
        first_error.lock().unwrap()
    );
}
