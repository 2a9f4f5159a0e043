//! Precompiled modules are native code: the edge must never load one it did
//! not write and seal itself. The attacks: whatever can write the module
//! cache (the loader shares `xqd/compiled/` and the uid with the edge)
//! puts there another package's module, a raw `Module::serialize()` of its
//! own program, a file with flipped bytes, or a symbolic link. Each is
//! refused with a warning naming the file, deleted, and the package
//! compiled again; a module sealed by the edge's key is reused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use anywhere::engine::Runtime;
use anywhere::engine::cache::{Origin, cache_path, load_or_compile, sha256_hex};
use anywhere::limits::Limits;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use support::*;

/// Log lines written while `f` runs on this thread.
fn logged<R>(f: impl FnOnce() -> R) -> (R, String) {
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let r = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8_lossy(&lines.0.lock().unwrap()).into_owned();
    (r, text)
}

/// A module exporting `_start` and `marker`.
fn module_with(marker: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module (func (export "_start")) (func (export "{marker}")))"#
    ))
    .unwrap()
}

fn exports(m: &wasmtime::Module) -> Vec<String> {
    m.exports().map(|e| e.name().to_owned()).collect()
}

/// Loads `wasm` through the cache in `dir`; its origin, its exports and
/// what was logged.
fn load(rt: &Runtime, dir: &Path, wasm: &[u8]) -> (Origin, Vec<String>, String) {
    let ((module, origin), log) =
        logged(|| load_or_compile(&rt.engine, wasm, &sha256_hex(wasm), Some(dir)).unwrap());
    (origin, exports(&module), log)
}

#[test]
fn tampered_cwasm_files_are_refused_deleted_and_compiled_again() {
    let rt = Runtime::new(&Limits::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let a = module_with("only_in_a");
    let b = module_with("only_in_b");
    let a_path = cache_path(&rt.engine, dir.path(), &sha256_hex(&a));
    let b_path = cache_path(&rt.engine, dir.path(), &sha256_hex(&b));

    let (origin, _, _) = load(&rt, dir.path(), &a);
    assert_eq!(origin, Origin::Compiled);
    let (origin, names, log) = load(&rt, dir.path(), &a);
    assert_eq!(
        origin,
        Origin::Cached,
        "a module with a good seal is reused"
    );
    assert!(names.contains(&"only_in_a".to_owned()));
    assert!(!log.contains("refused"), "{log}");
    load(&rt, dir.path(), &b);

    // Another program, serialized raw (what wasmtime itself would load),
    // put where A's module belongs.
    let forged = wasmtime::Module::new(&rt.engine, &b)
        .unwrap()
        .serialize()
        .unwrap();
    std::fs::write(&a_path, &forged).unwrap();
    let (origin, names, log) = load(&rt, dir.path(), &a);
    assert_eq!(origin, Origin::Compiled);
    assert!(
        names.contains(&"only_in_a".to_owned()),
        "B's code loaded as A: {names:?}"
    );
    assert!(
        log.contains("precompiled module refused") && log.contains(&a_path.display().to_string()),
        "{log}"
    );
    assert_ne!(std::fs::read(&a_path).unwrap(), forged, "replaced");

    // B's own sealed file, moved to A's name.
    std::fs::copy(&b_path, &a_path).unwrap();
    let (origin, names, log) = load(&rt, dir.path(), &a);
    assert_eq!(origin, Origin::Compiled);
    assert!(names.contains(&"only_in_a".to_owned()), "{names:?}");
    assert!(log.contains("sealed for another module"), "{log}");

    // Bytes flipped inside the native code.
    let mut bytes = std::fs::read(&a_path).unwrap();
    let at = bytes.len() - 100;
    bytes[at] ^= 0xff;
    std::fs::write(&a_path, &bytes).unwrap();
    let (origin, _, log) = load(&rt, dir.path(), &a);
    assert_eq!(origin, Origin::Compiled);
    assert!(log.contains("seal does not verify"), "{log}");
    assert_eq!(load(&rt, dir.path(), &a).0, Origin::Cached, "sealed again");

    // A symbolic link to a forged file: not followed.
    let elsewhere = dir.path().join("elsewhere.cwasm");
    std::fs::write(&elsewhere, &forged).unwrap();
    std::fs::remove_file(&a_path).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &a_path).unwrap();
    let (origin, names, log) = load(&rt, dir.path(), &a);
    assert_eq!(origin, Origin::Compiled);
    assert!(names.contains(&"only_in_a".to_owned()), "{names:?}");
    assert!(log.contains("not a regular file"), "{log}");
    assert!(!std::fs::symlink_metadata(&a_path).unwrap().is_symlink());
}

const EDGE_YAML: &str = r#"
services:
  - name: hello
    domains: [hello.example]
    package: { oci: "oci://registry.example/hello:1" }
observability:
  metrics: { enabled: true, port: 9090 }
"#;

/// What the loader does: stage a version, then switch the pointer.
fn activate(xqd: &Path, wasm: &[u8]) {
    let xqd = anywhere::xqd::Xqd::new(xqd);
    let staged = xqd.new_staging().unwrap().keep();
    std::fs::write(staged.join("main.wasm"), wasm).unwrap();
    let manifest = anywhere::xqd::ServiceManifest {
        service: serde_yaml::from_str(
            "{name: hello, domains: [hello.example], package: {oci: test/hello:1}}",
        )
        .unwrap(),
        package_file: "main.wasm".into(),
        package_sha256: sha256_hex(wasm),
        package_bytes: wasm.len() as u64,
        origin: "test".into(),
        fastly_version: None,
    };
    xqd.activate(&staged, &manifest).unwrap();
}

/// A running `anywhere edge` and what it logs.
struct Edge {
    child: Child,
    addr: std::net::SocketAddr,
    admin: std::net::SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Drop for Edge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Edge {
    fn start(config: &Path, xqd: &Path, private_dir: Option<&Path>) -> Edge {
        let admin: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_anywhere"));
        cmd.args(["edge", "--purge-addr", "127.0.0.1:0", "--config"])
            .arg(config)
            .arg("--xqd-dir")
            .arg(xqd)
            .args(["--http-addr", "127.0.0.1:0", "--admin-addr"])
            .arg(admin.to_string())
            .args(["--poll-seconds", "1"]);
        if let Some(dir) = private_dir {
            cmd.arg("--private-dir").arg(dir);
        }
        let mut child = cmd
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let into = log.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("{line}");
                into.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .trim_start_matches("Listening on http://")
            .parse()
            .unwrap_or_else(|_| panic!("no address in {line:?}; {}", log.lock().unwrap()));
        Edge {
            child,
            addr,
            admin,
            log,
        }
    }

    /// Waits for hello's first load; how its module was obtained.
    async fn loaded(&self) -> &'static str {
        let mut kind = "";
        wait_for(
            async || {
                let m = send(self.admin, "GET", "/metrics", "x", &[], "").await.body;
                for k in ["compiled", "cached", "failed"] {
                    if m.contains(&format!(
                        "anywhere_package_loads_total{{service=\"hello\",kind=\"{k}\"}} 1"
                    )) {
                        kind = k;
                        return true;
                    }
                }
                false
            },
            "hello's load",
        )
        .await;
        kind
    }

    async fn hello(&self) -> String {
        send(self.addr, "GET", "/", "hello.example", &[], "")
            .await
            .body
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

fn cwasm_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(viceroy, ignore = "`anywhere edge` has no Viceroy counterpart")]
async fn the_edge_loads_only_modules_it_sealed_itself() {
    let dir = tempfile::tempdir().unwrap();
    let xqd = dir.path().join("xqd");
    let private = dir.path().join("edge-private");
    let config = dir.path().join("edge.yaml");
    std::fs::write(&config, EDGE_YAML).unwrap();
    let hello = std::fs::read_to_string(wat_guest("hello")).unwrap();
    activate(&xqd, &wat::parse_str(&hello).unwrap());

    let edge = Edge::start(&config, &xqd, Some(&private));
    assert_eq!(edge.loaded().await, "compiled");
    assert_eq!(edge.hello().await, "hello from WAT\n");
    drop(edge);
    let key = std::fs::metadata(private.join("module-key")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&key.permissions()) & 0o777,
        0o600
    );
    let compiled = xqd.join("compiled");
    let files = cwasm_files(&compiled);
    assert_eq!(files.len(), 1, "{files:?}");
    let cwasm = &files[0];

    // A restart with the same key reuses the module.
    let edge = Edge::start(&config, &xqd, Some(&private));
    assert_eq!(edge.loaded().await, "cached");
    assert_eq!(edge.hello().await, "hello from WAT\n");
    drop(edge);

    // The loader's attack: its own program, precompiled by an engine like
    // the edge's, under hello's module name.
    let (_, limits) = anywhere::edge::read_edge_file(&config).unwrap();
    let rt = Runtime::new(&limits).unwrap();
    let forged_wat = hello.replace("hello from WAT\\n", "forged program\\n");
    let forged = wasmtime::Module::new(&rt.engine, wat::parse_str(&forged_wat).unwrap())
        .unwrap()
        .serialize()
        .unwrap();
    std::fs::write(cwasm, &forged).unwrap();
    let edge = Edge::start(&config, &xqd, Some(&private));
    assert_eq!(edge.loaded().await, "compiled");
    assert_eq!(edge.hello().await, "hello from WAT\n");
    let log = edge.log();
    assert!(
        log.contains("precompiled module refused") && log.contains(&cwasm.display().to_string()),
        "{log}"
    );
    drop(edge);
    assert_ne!(std::fs::read(cwasm).unwrap(), forged);

    // Without a private directory the key lives in memory only: what an
    // earlier process sealed is compiled again.
    let edge = Edge::start(&config, &xqd, None);
    assert_eq!(edge.loaded().await, "compiled");
    assert_eq!(edge.hello().await, "hello from WAT\n");
    assert!(
        edge.log().contains("seal does not verify"),
        "{}",
        edge.log()
    );
}

/// `anywhere serve` with its own cache directory; what it logged by the
/// time it listened.
fn serve_once(wasm: &Path, cache: &Path) -> (String, std::net::SocketAddr, Child) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_anywhere"))
        .arg("serve")
        .arg(wasm)
        .args([
            "--addr",
            "127.0.0.1:0",
            "--log-format",
            "text",
            "--cache-dir",
        ])
        .arg(cache)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .trim_start_matches("Listening on http://")
        .parse()
        .unwrap();
    // The load is logged before the address is printed.
    let mut log = String::new();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    while !log.contains("service loaded") {
        let mut l = String::new();
        if stderr.read_line(&mut l).unwrap() == 0 {
            break;
        }
        log.push_str(&l);
    }
    (log, addr, child)
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(viceroy, ignore = "checks anywhere's own module cache")]
async fn serve_compiles_again_after_its_module_is_altered() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("modules");
    let wasm = dir.path().join("main.wasm");
    std::fs::write(&wasm, wat::parse_file(wat_guest("hello")).unwrap()).unwrap();
    let run = async |expect: &str| {
        let (log, addr, mut child) = serve_once(&wasm, &cache);
        let body = send(addr, "GET", "/", "localhost", &[], "").await.body;
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(body, "hello from WAT\n");
        assert!(log.contains(&format!("origin={expect}")), "{log}");
        log
    };
    run("Compiled").await;
    run("Cached").await;
    let files = cwasm_files(&cache);
    assert_eq!(files.len(), 1, "{files:?}");
    let mut bytes = std::fs::read(&files[0]).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x55;
    std::fs::write(&files[0], &bytes).unwrap();
    let log = run("Compiled").await;
    assert!(log.contains("precompiled module refused"), "{log}");
    run("Cached").await;
}
