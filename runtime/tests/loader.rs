//! `anywhere loader` against real sources: a registry on loopback (a
//! package pushed as an OCI artifact), a file server (URLs pinned by
//! SHA-256); refusals (digest mismatch, wrong pin, not WebAssembly) that
//! keep the active version; the loader and the edge together under load;
//! and a loader killed mid-download.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/sources.rs"]
mod sources;
mod support;

use anywhere::loader::PACKAGE_MEDIA_TYPE;
use anywhere::xqd::Xqd;
use sources::{Files, Registry, package_tar_gz, sha256_hex};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use support::*;

fn hello_wasm(text: &str) -> Vec<u8> {
    let wat = std::fs::read_to_string(wat_guest("hello")).unwrap();
    // The guest writes 15 bytes: keep the length with the text.
    assert_eq!(text.len(), 15);
    wat::parse_str(wat.replace("hello from WAT\\n", &text.replace('\n', "\\n"))).unwrap()
}

fn write_edge_yaml(path: &Path, services: &str, registry: &str) {
    std::fs::write(
        path,
        format!(
            "controlPlane: {{mode: offline, pollSeconds: 5, insecureRegistries: [\"{registry}\"]}}\nlimits: {{packageSize: 1Mi}}\nservices:\n{services}"
        ),
    )
    .unwrap();
}

fn loader_once(config: &Path, xqd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_anywhere"))
        .args(["loader", "--once", "--config"])
        .arg(config)
        .arg("--xqd-dir")
        .arg(xqd)
        .output()
        .unwrap()
}

fn active_sha(xqd: &Path, service: &str) -> Option<String> {
    let xqd = Xqd::new(xqd);
    let active = xqd.active(service).unwrap()?;
    Some(Xqd::read_manifest(&active.dir).unwrap().package_sha256)
}

#[tokio::test(flavor = "multi_thread")]
async fn loader_activates_from_a_registry_and_a_url_and_refuses_bad_packages() {
    let registry = Registry::start();
    let files = Files::default();
    let base = files.start().await;
    let dir = tempfile::tempdir().unwrap();
    let (config, xqd) = (dir.path().join("edge.yaml"), dir.path().join("xqd"));

    let v1 = hello_wasm("hello from v01\n");
    let reference = registry
        .push("compute/hello:1", v1.clone(), "application/wasm")
        .await;
    let tarball = package_tar_gz("tarball", &hello_wasm("hello from tar\n"));
    files.put("/tarball.tar.gz", tarball.clone());
    let good = format!(
        "  - {{name: hello, domains: [hello.example], package: {{oci: \"oci://{reference}\"}}}}\n  - {{name: tarball, domains: [tar.example], package: {{url: \"{base}/tarball.tar.gz\", sha256: \"{}\"}}}}\n",
        sha256_hex(&tarball)
    );
    write_edge_yaml(&config, &good, &registry.host);
    let out = loader_once(&config, &xqd);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(active_sha(&xqd, "hello"), Some(sha256_hex(&v1)));
    assert_eq!(active_sha(&xqd, "tarball"), Some(sha256_hex(&tarball)));
    let manifest =
        Xqd::read_manifest(&Xqd::new(&xqd).active("hello").unwrap().unwrap().dir).unwrap();
    assert!(manifest.origin.contains("@sha256:"), "{}", manifest.origin);

    // A URL whose bytes are not the pinned ones: refused, the old stays.
    let wrong = good.replace(&sha256_hex(&tarball), &"0".repeat(64));
    write_edge_yaml(&config, &wrong, &registry.host);
    let out = loader_once(&config, &xqd);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("digest mismatch"),
        "{err}"
    );
    assert_eq!(active_sha(&xqd, "tarball"), Some(sha256_hex(&tarball)));

    // A registry serving other bytes than the manifest's digest: refused.
    let v2 = hello_wasm("hello from v02\n");
    registry
        .push("compute/hello:1", v2.clone(), "application/wasm")
        .await;
    std::fs::write(
        registry.blob_file(&sha256_hex(&v2)),
        hello_wasm("hello from bad\n"),
    )
    .unwrap();
    write_edge_yaml(&config, &good, &registry.host);
    let out = loader_once(&config, &xqd);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("hello"), "{err}");
    assert!(err.contains("igest"), "{err}");
    assert_eq!(active_sha(&xqd, "hello"), Some(sha256_hex(&v1)));

    // Not WebAssembly: refused at verification.
    registry
        .push(
            "compute/hello:1",
            b"\0asm\x01\0\0\0garbage".to_vec(),
            "application/wasm",
        )
        .await;
    let out = loader_once(&config, &xqd);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("not a valid WebAssembly module"),
        "{err}"
    );
    assert_eq!(active_sha(&xqd, "hello"), Some(sha256_hex(&v1)));

    // Over the size limit (1 MiB here).
    let big = vec![0u8; 2 << 20];
    files.put("/big.tar.gz", big.clone());
    let too_big = format!(
        "  - {{name: big, domains: [big.example], package: {{url: \"{base}/big.tar.gz\", sha256: \"{}\"}}}}\n",
        sha256_hex(&big)
    );
    write_edge_yaml(&config, &format!("{good}{too_big}"), &registry.host);
    let out = loader_once(&config, &xqd);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("over the package size limit"), "{err}");
    assert_eq!(active_sha(&xqd, "big"), None);

    // A good version again; then a service dropped from values goes away.
    registry
        .push(
            "compute/hello:1",
            hello_wasm("hello from v03\n"),
            PACKAGE_MEDIA_TYPE.replace("tar+gzip", "wasm").as_str(),
        )
        .await;
    let only_tarball = good.lines().nth(1).unwrap().to_string() + "\n";
    write_edge_yaml(&config, &only_tarball, &registry.host);
    let out = loader_once(&config, &xqd);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(active_sha(&xqd, "hello"), None);
    assert!(!xqd.join("services/hello").exists());
    assert!(
        std::fs::read_dir(xqd.join("staging"))
            .map(|d| d.count())
            .unwrap_or(0)
            == 0
    );
}

fn spawn(args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_anywhere"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(viceroy, ignore = "`anywhere loader` has no Viceroy counterpart")]
async fn new_versions_activate_under_load_and_a_bad_one_keeps_the_old() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let (config, xqd) = (dir.path().join("edge.yaml"), dir.path().join("xqd"));
    let reference = registry
        .push(
            "compute/hello:live",
            hello_wasm("hello from v01\n"),
            "application/wasm",
        )
        .await;
    write_edge_yaml(
        &config,
        &format!(
            "  - {{name: hello, domains: [hello.example], package: {{oci: \"{reference}\"}}}}\n"
        ),
        &registry.host,
    );
    let (config_s, xqd_s) = (config.to_str().unwrap(), xqd.to_str().unwrap());
    let loader_admin = format!("127.0.0.1:{}", free_port());
    let mut loader = spawn(&[
        "loader",
        "--config",
        config_s,
        "--xqd-dir",
        xqd_s,
        "--poll-seconds",
        "1",
        "--admin-addr",
        &loader_admin,
    ]);
    let admin: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut edge = spawn(&[
        "edge",
        "--purge-addr",
        "127.0.0.1:0",
        "--config",
        config_s,
        "--xqd-dir",
        xqd_s,
        "--http-addr",
        "127.0.0.1:0",
        "--admin-addr",
        &admin.to_string(),
        "--poll-seconds",
        "1",
    ]);
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(edge.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let addr: std::net::SocketAddr = line
        .trim()
        .trim_start_matches("Listening on http://")
        .parse()
        .unwrap();
    wait_for(
        async || send(addr, "GET", "/", "hello.example", &[], "").await.body == "hello from v01\n",
        "version 1",
    )
    .await;

    // Load for the rest of the test: every answer must be a 200 from v1 or v2.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let r = send(addr, "GET", "/", "hello.example", &[], "").await;
                    let good = r.status == 200 && r.body.starts_with("hello from v0");
                    if good {
                        ok.fetch_add(1, Ordering::Relaxed)
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed)
                    };
                }
            })
        })
        .collect();
    registry
        .push(
            "compute/hello:live",
            hello_wasm("hello from v02\n"),
            "application/wasm",
        )
        .await;
    wait_for(
        async || send(addr, "GET", "/", "hello.example", &[], "").await.body == "hello from v02\n",
        "version 2",
    )
    .await;
    registry
        .push(
            "compute/hello:live",
            b"\0asm\x01\0\0\0garbage".to_vec(),
            "application/wasm",
        )
        .await;
    let loader_admin: std::net::SocketAddr = loader_admin.parse().unwrap();
    wait_for(
        async || {
            get(loader_admin, "/metrics")
                .await
                .body
                .contains("anywhere_loader_failures_total{service=\"hello\",step=\"verify\"}")
        },
        "the refusal",
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    for l in load {
        l.await.unwrap();
    }
    assert_eq!(
        send(addr, "GET", "/", "hello.example", &[], "").await.body,
        "hello from v02\n"
    );
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    println!("under load: {ok} requests answered by v1 or v2, {failed} failed");
    assert!(ok > 50, "{ok}");
    assert_eq!(failed, 0);
    let _ = loader.kill();
    let _ = edge.kill();
    let _ = (loader.wait(), edge.wait());
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(viceroy, ignore = "`anywhere loader` has no Viceroy counterpart")]
async fn a_loader_killed_mid_download_leaves_nothing_half_activated() {
    let files = Files::default();
    let base = files.start().await;
    let dir = tempfile::tempdir().unwrap();
    let (config, xqd) = (dir.path().join("edge.yaml"), dir.path().join("xqd"));
    let v1 = package_tar_gz("slow", &hello_wasm("hello from v01\n"));
    files.put("/v1.tar.gz", v1.clone());
    let service = |file: &str, bytes: &[u8]| {
        format!(
            "  - {{name: slow, domains: [slow.example], package: {{url: \"{base}/{file}\", sha256: \"{}\"}}}}\n",
            sha256_hex(bytes)
        )
    };
    write_edge_yaml(&config, &service("v1.tar.gz", &v1), "127.0.0.1:1");
    assert!(loader_once(&config, &xqd).status.success());
    let active_v1 = Xqd::new(&xqd).active("slow").unwrap().unwrap();

    // Version 2 trickles in; the loader dies half-way.
    let mut wasm = hello_wasm("hello from v02\n");
    // Incompressible padding (a custom section) so that the download takes a while.
    let mut pad: Vec<u8> = vec![0, 0x80, 0x80, 0x04, 3, b'p', b'a', b'd'];
    pad.extend((0..65536u32 - 4).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8));
    wasm.extend(pad);
    let v2 = package_tar_gz("slow", &wasm);
    files.put("/v2.tar.gz", v2.clone());
    files.trickle(Some(Duration::from_millis(20)));
    write_edge_yaml(&config, &service("v2.tar.gz", &v2), "127.0.0.1:1");
    let mut loader = spawn(&[
        "loader",
        "--config",
        config.to_str().unwrap(),
        "--xqd-dir",
        xqd.to_str().unwrap(),
        "--admin-addr",
        "127.0.0.1:0",
    ]);
    let staging = xqd.join("staging");
    wait_for(
        async || {
            walk(&staging).iter().any(|f| {
                std::fs::metadata(f)
                    .map(|m| m.len() > 2048)
                    .unwrap_or(false)
            })
        },
        "a partial download in staging",
    )
    .await;
    Command::new("kill")
        .args(["-KILL", &loader.id().to_string()])
        .status()
        .unwrap();
    let _ = loader.wait();
    assert_eq!(
        Xqd::new(&xqd).active("slow").unwrap().unwrap(),
        active_v1,
        "the pointer moved"
    );
    let versions: Vec<_> = std::fs::read_dir(xqd.join("services/slow/versions"))
        .unwrap()
        .collect();
    assert_eq!(
        versions.len(),
        1,
        "a version directory appeared for a partial download"
    );

    // The next loader clears the leftovers and completes.
    files.trickle(None);
    let out = loader_once(&config, &xqd);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(active_sha(&xqd, "slow"), Some(sha256_hex(&v2)));
    assert!(walk(&staging).is_empty(), "{:?}", walk(&staging));
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p))
            } else {
                out.push(p)
            }
        }
    }
    out
}
