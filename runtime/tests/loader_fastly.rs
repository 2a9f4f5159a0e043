//! `anywhere loader` in `fastly` mode: the services come from a stand-in of
//! the Fastly API (recorded response shapes), the package bytes from a real
//! registry on loopback and must match the API's hashsum; polls are
//! conditional; an API outage removes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/fastly_api_standin.rs"]
mod fastly_api_standin;
#[path = "support/sources.rs"]
mod sources;
mod support;

use anywhere::loader::PACKAGE_MEDIA_TYPE;
use anywhere::xqd::Xqd;
use fastly_api_standin::{Fixture, GOOD_TOKEN, SERVICE_A, StandIn};
use sha2::Digest;
use sources::{Registry, package_tar_gz, sha256_hex};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;
use support::*;

fn sha512_hex(bytes: &[u8]) -> String {
    sha2::Sha512::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn hello_package(text: &str) -> Vec<u8> {
    let wat = std::fs::read_to_string(wat_guest("hello")).unwrap();
    assert_eq!(text.len(), 15);
    let wasm =
        wat::parse_str(wat.replace("hello from WAT\\n", &text.replace('\n', "\\n"))).unwrap();
    package_tar_gz("shop", &wasm)
}

fn loader(dir: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_anywhere"))
        .args(["loader", "--config"])
        .arg(dir.join("edge.yaml"))
        .arg("--xqd-dir")
        .arg(dir.join("xqd"))
        .arg("--credentials-dir")
        .arg(dir.join("credentials"))
        .args(extra)
        .output()
        .unwrap()
}

/// A registry holding version 1 of service A's package, and an API fixture
/// of that one service whose hashsum matches it.
async fn one_service() -> (Registry, Vec<u8>, Fixture) {
    let registry = Registry::start();
    let v1 = hello_package("hello from v01\n");
    let repo = SERVICE_A.to_ascii_lowercase();
    registry
        .push(&format!("compute/{repo}:1"), v1.clone(), PACKAGE_MEDIA_TYPE)
        .await;
    let mut fixture = Fixture::standard();
    fixture.services.truncate(1);
    fixture.services[0]
        .versions
        .get_mut(&1)
        .unwrap()
        .package_hashsum = Some(sha512_hex(&v1));
    (registry, v1, fixture)
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(viceroy, ignore = "`anywhere loader` has no Viceroy counterpart")]
async fn fastly_mode_serves_the_accounts_services_checked_against_the_hashsum() {
    let (registry, v1, fixture) = one_service().await;
    let repo = SERVICE_A.to_ascii_lowercase();
    let api = StandIn::start(fixture.clone());

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("credentials")).unwrap();
    std::fs::write(dir.path().join("credentials/api-token"), GOOD_TOKEN).unwrap();
    std::fs::write(
        dir.path().join("edge.yaml"),
        format!(
            "controlPlane: {{mode: fastly, apiUrl: \"{}\", packageRegistry: \"{}/compute\", insecureRegistries: [\"{}\"]}}\n",
            api.base_url, registry.host, registry.host
        ),
    )
    .unwrap();
    let out = loader(dir.path(), &["--once"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let xqd = Xqd::new(dir.path().join("xqd"));
    let names = xqd.active_services().unwrap();
    assert_eq!(names.len(), 1, "{names:?}");
    let manifest = Xqd::read_manifest(&xqd.active(&names[0]).unwrap().unwrap().dir).unwrap();
    assert!(names[0].starts_with("shop-"), "{names:?}");
    assert_eq!(manifest.package_sha256, sha256_hex(&v1));
    assert_eq!(manifest.fastly_version, Some(1));
    assert_eq!(
        manifest.service.domains,
        ["a.example.com", "www.a.example.com"]
    );
    let backends: Vec<_> = manifest
        .service
        .backends
        .iter()
        .map(|b| b.url.as_str())
        .collect();
    assert_eq!(
        backends,
        ["https://origin.example.com:443", "http://10.0.0.7:8080"]
    );
    let stores: Vec<_> = manifest
        .service
        .config_stores
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert!(
        stores.contains(&"settings") && stores.contains(&"flags"),
        "{stores:?}"
    );
    assert!(api.received(GOOD_TOKEN), "the API token was not sent");

    // A long-running loader polls conditionally: 304s, no new version.
    let details = format!("/service/{SERVICE_A}/details");
    let admin = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_anywhere"))
        .args([
            "loader",
            "--poll-seconds",
            "1",
            "--admin-addr",
            &admin,
            "--config",
        ])
        .arg(dir.path().join("edge.yaml"))
        .arg("--xqd-dir")
        .arg(dir.path().join("xqd"))
        .arg("--credentials-dir")
        .arg(dir.path().join("credentials"))
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while api.not_modified_count(&details) < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "no conditional poll answered 304"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = child.kill();
    let _ = child.wait();

    // Version 2's bytes differ from the API's hashsum: refused, v1 stays.
    let v2 = hello_package("hello from v02\n");
    registry
        .push(&format!("compute/{repo}:2"), v2.clone(), PACKAGE_MEDIA_TYPE)
        .await;
    let mut version2 = fixture.services[0].versions[&1].clone();
    version2.package_hashsum = Some(sha512_hex(b"something else"));
    api.set_version(SERVICE_A, 2, version2);
    api.set_active_version(SERVICE_A, 2);
    let out = loader(dir.path(), &["--once"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("hashsum"), "{err}");
    let active = Xqd::read_manifest(&xqd.active(&names[0]).unwrap().unwrap().dir).unwrap();
    assert_eq!(active.fastly_version, Some(1));

    // The API down: an error, and nothing removed.
    api.fail_with(Some(503));
    let out = loader(dir.path(), &["--once"]);
    assert!(!out.status.success());
    assert_eq!(xqd.active_services().unwrap(), names);

    // No token in any output.
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains(GOOD_TOKEN), "{text}");
}

/// A stand-in of the edge's admin port answering `/status` with `doc`.
fn fake_edge_status(doc: &'static str) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{doc}",
                doc.len()
            );
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(viceroy, ignore = "`anywhere loader` has no Viceroy counterpart")]
async fn fastly_mode_reports_the_pods_status_to_the_control_plane() {
    let (registry, _, fixture) = one_service().await;
    let api = StandIn::start(fixture);
    let edge_admin =
        fake_edge_status(r#"{"ready":true,"services":[{"name":"shop","state":"serving"}]}"#);

    let dir = tempfile::tempdir().unwrap();
    let credentials = dir.path().join("credentials");
    std::fs::create_dir_all(&credentials).unwrap();
    std::fs::write(credentials.join("api-token"), GOOD_TOKEN).unwrap();
    std::fs::write(
        credentials.join("credentials.json"),
        r#"{"mode":"fastly","cluster_id":"c0ffee"}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("edge.yaml"),
        format!(
            "controlPlane: {{mode: fastly, apiUrl: \"{}\", packageRegistry: \"{}/compute\", insecureRegistries: [\"{}\"]}}\nobservability: {{metrics: {{port: {edge_admin}}}}}\n",
            api.base_url, registry.host, registry.host
        ),
    )
    .unwrap();
    let admin = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_anywhere"))
        .args([
            "loader",
            "--poll-seconds",
            "1",
            "--admin-addr",
            &admin,
            "--config",
        ])
        .arg(dir.path().join("edge.yaml"))
        .arg("--xqd-dir")
        .arg(dir.path().join("xqd"))
        .arg("--credentials-dir")
        .arg(&credentials)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let (path, body) = loop {
        if let Some(post) = api.posts().into_iter().next() {
            break post;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no status report arrived"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The loader's own /status says the same.
    let local = reqwest_get(&format!("http://{admin}/status")).await;
    let _ = child.kill();
    let _ = child.wait();

    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(
        path,
        format!(
            "/anywhere/v1/clusters/c0ffee/pods/{}/status",
            hostname.trim()
        )
    );
    let text = String::from_utf8(body).unwrap();
    assert!(!text.contains(GOOD_TOKEN), "{text}");
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["edge"]["ready"], true, "{doc}");
    assert_eq!(doc["edge"]["services"][0]["state"], "serving", "{doc}");
    assert!(doc["runtime_version"].is_string(), "{doc}");
    let services = doc["loader"]["services"].as_object().unwrap();
    assert_eq!(services.len(), 1, "{doc}");
    let (_, record) = services.iter().next().unwrap();
    assert_eq!(record["activations"], 1, "{doc}");
    assert_eq!(record["failures_in_a_row"], 0, "{doc}");
    let local: serde_json::Value = serde_json::from_str(&local).unwrap();
    assert_eq!(local["services"], doc["loader"]["services"]);
    assert!(local["passes"].as_u64().unwrap() >= 1, "{local}");
}

async fn reqwest_get(url: &str) -> String {
    reqwest::get(url).await.unwrap().text().await.unwrap()
}
