//! `anywhere edge` as a child process serving one WAT guest, for tests that
//! attack it from outside: its addresses, its pid (to count its file
//! descriptors), and a blocking HTTP/1.1 client. Optionally inside a
//! network namespace (`ip netns exec`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running edge; killed when dropped.
pub struct Edge {
    child: Child,
    /// Client traffic.
    pub http: SocketAddr,
    /// `/healthz`, `/readyz`, `/metrics`.
    pub admin: SocketAddr,
    /// The purge API.
    pub purge: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Edge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What to start: `edge.yaml` lines after `services: []`, the guest (a WAT
/// guest's name, tests/guests/wat/<guest>.wat, or the path of a built
/// `.wasm`) and its service (YAML flow mapping with
/// name, domains, package and perhaps backends).
pub struct EdgeSpec<'a> {
    pub edge_yaml: &'a str,
    pub guest: &'a str,
    pub service: &'a str,
    pub netns: Option<&'a str>,
    /// More arguments of `anywhere edge`.
    pub args: &'a [&'a str],
}

impl Edge {
    pub fn start(spec: EdgeSpec<'_>) -> Edge {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("edge.yaml");
        std::fs::write(&config, format!("services: []\n{}", spec.edge_yaml)).unwrap();
        let xqd = dir.path().join("xqd");
        activate(&xqd, spec.guest, spec.service);
        std::fs::create_dir_all(dir.path().join("cached")).unwrap();
        let admin: SocketAddr = format!("127.0.0.1:{}", crate::support::free_port())
            .parse()
            .unwrap();
        let mut cmd = match spec.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_anywhere")]);
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_anywhere")),
        };
        let purge: SocketAddr = format!("127.0.0.1:{}", crate::support::free_port())
            .parse()
            .unwrap();
        let mut child = cmd
            .args(["edge", "--purge-addr", &purge.to_string(), "--config"])
            .arg(&config)
            .arg("--xqd-dir")
            .arg(&xqd)
            .arg("--cache-dir")
            .arg(dir.path().join("cached"))
            .args(["--http-addr", "127.0.0.1:0", "--admin-addr"])
            .arg(admin.to_string())
            .args(spec.args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let http = line
            .trim()
            .trim_start_matches("Listening on http://")
            .parse()
            .unwrap_or_else(|_| panic!("the edge did not start: {line:?}"));
        let edge = Edge {
            child,
            http,
            admin,
            purge,
            _dir: dir,
        };
        // A JS guest compiles for half a minute in a debug build, longer
        // while other tests compile too.
        let deadline = Instant::now() + Duration::from_secs(240);
        while get(edge.admin, "/readyz", "x", &[]).0 != 200 {
            assert!(Instant::now() < deadline, "the edge never became ready");
            std::thread::sleep(Duration::from_millis(100));
        }
        edge
    }

    /// Sends SIGTERM, as the kubelet stops a container.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to end (at most `limit`); its status.
    pub fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < limit,
                "the edge did not exit within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Open file descriptors of the edge process.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .unwrap()
            .count()
    }
}

/// What the loader does: stage the guest's version, switch to it.
fn activate(xqd: &Path, guest: &str, service: &str) {
    let wasm = if guest.ends_with(".wasm") {
        std::fs::read(guest).unwrap_or_else(|e| panic!("{guest}: {e} (run tests/guests/build)"))
    } else {
        wat::parse_file(crate::support::wat_guest(guest)).unwrap()
    };
    let xqd = anywhere::xqd::Xqd::new(xqd);
    let staged = xqd.new_staging().unwrap().keep();
    std::fs::write(staged.join("main.wasm"), &wasm).unwrap();
    let manifest = anywhere::xqd::ServiceManifest {
        service: serde_yaml::from_str(service).unwrap(),
        package_file: "main.wasm".into(),
        package_sha256: sha256_hex(&wasm),
        package_bytes: wasm.len() as u64,
        origin: "test".into(),
        fastly_version: None,
    };
    xqd.activate(&staged, &manifest).unwrap();
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A blocking HTTP/1.1 GET with `host`: status (0 when the connection
/// failed) and the raw rest of the answer.
pub fn get(addr: SocketAddr, path: &str, host: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else {
        return (0, String::new());
    };
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}
