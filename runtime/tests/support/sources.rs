//! Package sources for the loader's tests: a real OCI registry on loopback
//! (Debian's `docker-registry`), pushes of Compute packages as artifacts,
//! and a small HTTP file server that can trickle its bytes.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A registry process, stopped when dropped.
pub struct Registry {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub host: String,
    dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Registry {
    /// Starts `docker-registry` on a free loopback port.
    pub fn start() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = super::free_port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry is missing: run scripts/setup-tools");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry {
            child,
            host: format!("127.0.0.1:{port}"),
            dir,
        }
    }

    /// Pushes `bytes` as a one-layer artifact; returns the reference.
    pub async fn push(&self, repo_tag: &str, bytes: Vec<u8>, media_type: &str) -> String {
        use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = oci_client::Client::new(ClientConfig {
            protocol: ClientProtocol::Http,
            ..ClientConfig::default()
        });
        let reference = format!("{}/{repo_tag}", self.host);
        let parsed: oci_client::Reference = reference.parse().unwrap();
        let layer = ImageLayer::new(bytes, media_type.to_string(), None);
        let config = Config::new(
            b"{}".to_vec(),
            "application/vnd.fastly.compute.config.v1+json".into(),
            None,
        );
        client
            .push(
                &parsed,
                &[layer],
                config,
                &oci_client::secrets::RegistryAuth::Anonymous,
                None,
            )
            .await
            .unwrap();
        reference
    }

    /// The registry's file for the blob `sha256:HEX` (to corrupt it).
    pub fn blob_file(&self, hex: &str) -> PathBuf {
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

/// A plain HTTP server of fixed files, optionally trickling them.
#[derive(Clone, Default)]
pub struct Files {
    files: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    trickle: Arc<Mutex<Option<Duration>>>,
}

impl Files {
    /// Serves on a free loopback port; returns the base URL.
    pub async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let files = self.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    continue;
                };
                let files = files.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0; 4096];
                    let n = stream.read(&mut buf).await.unwrap_or(0);
                    let head = String::from_utf8_lossy(&buf[..n]).to_string();
                    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let body = files.files.lock().unwrap().get(&path).cloned();
                    let trickle = *files.trickle.lock().unwrap();
                    let Some(body) = body else {
                        let _ = stream
                            .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                            .await;
                        return;
                    };
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(head.as_bytes()).await;
                    match trickle {
                        None => {
                            let _ = stream.write_all(&body).await;
                        }
                        Some(pause) => {
                            for chunk in body.chunks(1024) {
                                if stream.write_all(chunk).await.is_err() {
                                    return;
                                }
                                tokio::time::sleep(pause).await;
                            }
                        }
                    }
                });
            }
        });
        format!("http://{addr}")
    }

    /// Serves `bytes` at `path`.
    pub fn put(&self, path: &str, bytes: Vec<u8>) {
        self.files.lock().unwrap().insert(path.to_string(), bytes);
    }

    /// Sends each KiB after `pause`.
    pub fn trickle(&self, pause: Option<Duration>) {
        *self.trickle.lock().unwrap() = pause;
    }
}

/// A Compute package `.tar.gz` holding `wasm` and a minimal fastly.toml.
pub fn package_tar_gz(name: &str, wasm: &[u8]) -> Vec<u8> {
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let manifest = format!("manifest_version = 3\nname = \"{name}\"\nlanguage = \"other\"\n");
    for (path, bytes) in [
        (format!("{name}/bin/main.wasm"), wasm),
        (format!("{name}/fastly.toml"), manifest.as_bytes()),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, path, bytes).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

/// Hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
