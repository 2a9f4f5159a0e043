//! `anywhere agent` against a scripted Kubernetes API: kube's client over a
//! tower-test mock service, answered request by request by the test, as
//! the API server would (lists, watch streams, errors). Each test asserts
//! what the edge would read: the peers file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use anywhere::agent::backoff::Backoff;
use anywhere::agent::{AgentError, Config, run_with_client};
use anywhere::peers::PeerList;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

const SELECTOR: &str = "app.kubernetes.io/name=fastly-anywhere,app.kubernetes.io/instance=t,app.kubernetes.io/component=pop";

type Body = UnsyncBoxBody<Bytes, Infallible>;
type Handle = tower_test::mock::Handle<Request<kube::client::Body>, Response<Body>>;
type Reply = tower_test::mock::SendResponse<Response<Body>>;

/// The agent running against a mock API server.
struct Agent {
    _dir: tempfile::TempDir,
    file: PathBuf,
    api: Handle,
    admin: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), AgentError>>,
}

impl Agent {
    async fn start() -> Self {
        let (service, api) =
            tower_test::mock::pair::<Request<kube::client::Body>, Response<Body>>();
        let client = kube::Client::new(service, "default");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("peers.json");
        let config = Config::new("pops", SELECTOR, file.clone())
            .unwrap()
            .with_backoff(Backoff::new(
                Duration::from_millis(10),
                Duration::from_millis(50),
            ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(run_with_client(client, config, listener, async {
            let _ = stopped.await;
        }));
        Self {
            _dir: dir,
            file,
            api,
            admin,
            stop: Some(stop),
            task,
        }
    }

    /// The agent's next request to the API server.
    async fn next(&mut self) -> (Request<kube::client::Body>, Reply) {
        tokio::time::timeout(Duration::from_secs(10), self.api.next_request())
            .await
            .expect("the agent sent no request within 10s")
            .expect("the agent's client is gone")
    }

    /// Answers the next request, which must be a list of the selected pods.
    async fn answer_list(&mut self, response: Response<Body>) {
        let (request, reply) = self.next().await;
        assert_eq!(request.uri().path(), "/api/v1/namespaces/pops/pods");
        let query = request.uri().query().unwrap_or("");
        assert!(!query.contains("watch=true"), "expected a list: {query}");
        assert!(
            query.contains("app.kubernetes.io%2Fcomponent%3Dpop"),
            "the label selector is sent: {query}"
        );
        reply.send_response(response);
    }

    /// Answers the next request, which must be a watch, with a stream the
    /// test writes events to (dropping the sender closes the stream).
    async fn answer_watch(&mut self) -> mpsc::UnboundedSender<Bytes> {
        let (request, reply) = self.next().await;
        let query = request.uri().query().unwrap_or("");
        assert!(query.contains("watch=true"), "expected a watch: {query}");
        let (events, response) = stream();
        reply.send_response(response);
        events
    }

    /// Waits until the peers file holds `expected` (name, ip, ready).
    async fn file_holds(&self, expected: &[(&str, &str, bool)]) {
        let want: Vec<(String, String, bool)> = expected
            .iter()
            .map(|(n, ip, r)| ((*n).to_owned(), (*ip).to_owned(), *r))
            .collect();
        let mut last = None;
        for _ in 0..500 {
            if let Ok(list) = PeerList::read(&self.file) {
                let got: Vec<(String, String, bool)> = list
                    .peers()
                    .iter()
                    .map(|p| (p.name.clone(), p.ip.to_string(), p.ready))
                    .collect();
                if got == want {
                    return;
                }
                last = Some(got);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("peers file never held {want:?}; last {last:?}");
    }

    /// GET `path` on the admin port: status and body.
    async fn admin_get(&self, path: &str) -> (u16, String) {
        let mut conn = tokio::net::TcpStream::connect(self.admin).await.unwrap();
        let head = format!("GET {path} HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n");
        conn.write_all(head.as_bytes()).await.unwrap();
        let mut text = String::new();
        conn.read_to_string(&mut text).await.unwrap();
        let status = text[9..12].parse().unwrap();
        let body = text.split_once("\r\n\r\n").unwrap().1.trim_end().to_owned();
        (status, body)
    }

    /// Waits until /metrics shows `name` with `value` (the report follows
    /// the file by a moment).
    async fn metric_is(&self, name: &str, value: &str) {
        let mut text = String::new();
        for _ in 0..250 {
            text = self.admin_get("/metrics").await.1;
            let got = text
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '));
            if got == Some(value) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{name} never became {value} in\n{text}");
    }

    /// Waits until /readyz answers `status` with `body`.
    async fn readyz_is(&self, status: u16, body: &str) {
        let mut got = (0, String::new());
        for _ in 0..250 {
            got = self.admin_get("/readyz").await;
            if got.0 == status && got.1 == body {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("/readyz never answered {status} {body:?}; last {got:?}");
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        let result = tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("the agent stops on shutdown");
        result.unwrap().unwrap();
    }
}

fn full(status: u16, body: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())).boxed_unsync())
        .unwrap()
}

fn stream() -> (mpsc::UnboundedSender<Bytes>, Response<Body>) {
    let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
    let frames = futures::stream::unfold(rx, |mut rx| async move {
        let chunk = rx.recv().await?;
        Some((Ok::<_, Infallible>(Frame::data(chunk)), rx))
    });
    let response = Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(BodyExt::boxed_unsync(StreamBody::new(frames)))
        .unwrap();
    (tx, response)
}

/// A pod as the API server sends it.
fn pod(name: &str, ip: Option<&str>, ready: bool, deleting: bool, version: u32) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "pops",
            "resourceVersion": version.to_string(),
            "deletionTimestamp": deleting.then_some("2025-01-01T00:00:00Z"),
        },
        "status": {
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
        },
    })
}

fn pod_list(version: u32, pods: &[Value]) -> Response<Body> {
    full(
        200,
        &json!({
            "apiVersion": "v1",
            "kind": "PodList",
            "metadata": {"resourceVersion": version.to_string()},
            "items": pods,
        }),
    )
}

fn event(kind: &str, object: Value) -> Bytes {
    Bytes::from(format!("{}\n", json!({"type": kind, "object": object})))
}

fn server_error(message: &str) -> Response<Body> {
    full(
        500,
        &json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": message, "reason": "InternalError", "code": 500,
        }),
    )
}

#[tokio::test]
async fn a_pod_added_is_written_and_readiness_follows_the_first_list() {
    let mut agent = Agent::start().await;
    let (request, reply) = agent.next().await;
    // The list is not answered yet: not ready.
    let (status, body) = agent.admin_get("/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("not listed yet"), "{body}");
    assert_eq!(agent.admin_get("/healthz").await.0, 200);
    assert!(request.uri().query().unwrap().contains("component%3Dpop"));
    reply.send_response(pod_list(1, &[]));
    agent.file_holds(&[]).await;
    agent.readyz_is(200, "ready\n0 peers, 0 ready").await;

    let events = agent.answer_watch().await;
    // Scheduled, no IP yet: not a peer.
    events
        .send(event("ADDED", pod("pop-0", None, false, false, 2)))
        .unwrap();
    events
        .send(event(
            "MODIFIED",
            pod("pop-0", Some("10.0.0.1"), true, false, 3),
        ))
        .unwrap();
    agent.file_holds(&[("pop-0", "10.0.0.1", true)]).await;
    agent.metric_is("anywhere_agent_peers", "1").await;
    agent.metric_is("anywhere_agent_ready_peers", "1").await;
    agent.readyz_is(200, "ready\n1 peers, 1 ready").await;
    agent.stop().await;
}

#[tokio::test]
async fn a_ready_change_is_written_and_a_no_op_change_is_not() {
    let mut agent = Agent::start().await;
    agent
        .answer_list(pod_list(
            5,
            &[
                pod("pop-1", Some("10.0.0.2"), false, false, 4),
                pod("pop-0", Some("10.0.0.1"), true, false, 3),
            ],
        ))
        .await;
    agent
        .file_holds(&[("pop-0", "10.0.0.1", true), ("pop-1", "10.0.0.2", false)])
        .await;
    let events = agent.answer_watch().await;
    // A status update that changes neither IP nor readiness.
    events
        .send(event(
            "MODIFIED",
            pod("pop-1", Some("10.0.0.2"), false, false, 6),
        ))
        .unwrap();
    events
        .send(event(
            "MODIFIED",
            pod("pop-1", Some("10.0.0.2"), true, false, 7),
        ))
        .unwrap();
    agent
        .file_holds(&[("pop-0", "10.0.0.1", true), ("pop-1", "10.0.0.2", true)])
        .await;
    agent
        .metric_is("anywhere_agent_peer_file_writes_total", "2")
        .await;
    // Turning unready again is written too.
    events
        .send(event(
            "MODIFIED",
            pod("pop-0", Some("10.0.0.1"), false, false, 8),
        ))
        .unwrap();
    agent
        .file_holds(&[("pop-0", "10.0.0.1", false), ("pop-1", "10.0.0.2", true)])
        .await;
    agent.stop().await;
}

#[tokio::test]
async fn a_pod_being_deleted_turns_unready_then_leaves() {
    let mut agent = Agent::start().await;
    agent
        .answer_list(pod_list(
            5,
            &[
                pod("pop-0", Some("10.0.0.1"), true, false, 3),
                pod("pop-1", Some("10.0.0.2"), true, false, 4),
            ],
        ))
        .await;
    let events = agent.answer_watch().await;
    // Still Ready by its condition, but its deletion has started.
    events
        .send(event(
            "MODIFIED",
            pod("pop-1", Some("10.0.0.2"), true, true, 6),
        ))
        .unwrap();
    agent
        .file_holds(&[("pop-0", "10.0.0.1", true), ("pop-1", "10.0.0.2", false)])
        .await;
    events
        .send(event(
            "DELETED",
            pod("pop-1", Some("10.0.0.2"), false, true, 7),
        ))
        .unwrap();
    agent.file_holds(&[("pop-0", "10.0.0.1", true)]).await;
    agent.metric_is("anywhere_agent_peers", "1").await;
    agent.stop().await;
}

#[tokio::test]
async fn the_watch_restarts_after_server_errors_and_closed_streams() {
    let mut agent = Agent::start().await;
    // The first list fails: not ready, nothing written, listed again.
    agent.answer_list(server_error("etcd is unavailable")).await;
    assert_eq!(agent.admin_get("/readyz").await.0, 503);
    assert!(!agent.file.exists());
    agent
        .answer_list(pod_list(
            10,
            &[pod("pop-0", Some("10.0.0.1"), true, false, 9)],
        ))
        .await;
    agent.file_holds(&[("pop-0", "10.0.0.1", true)]).await;

    // Starting the watch fails; it is started again.
    let (_, reply) = agent.next().await;
    reply.send_response(server_error("too many requests"));
    let events = agent.answer_watch().await;
    events
        .send(event(
            "ADDED",
            pod("pop-1", Some("10.0.0.2"), true, false, 11),
        ))
        .unwrap();
    agent
        .file_holds(&[("pop-0", "10.0.0.1", true), ("pop-1", "10.0.0.2", true)])
        .await;

    // The server closes the stream (as it does every few minutes): the
    // agent watches again from where it was, and keeps the list meanwhile.
    drop(events);
    let (request, reply) = agent.next().await;
    let query = request.uri().query().unwrap().to_owned();
    assert!(
        query.contains("watch=true") && query.contains("resourceVersion=11"),
        "{query}"
    );
    let (events, response) = stream();
    reply.send_response(response);
    events
        .send(event(
            "DELETED",
            pod("pop-0", Some("10.0.0.1"), false, true, 12),
        ))
        .unwrap();
    agent.file_holds(&[("pop-1", "10.0.0.2", true)]).await;
    agent
        .metric_is("anywhere_agent_watch_restarts_total", "2")
        .await;
    agent.readyz_is(200, "ready\n1 peers, 1 ready").await;
    agent.stop().await;
}

#[tokio::test]
async fn a_relist_after_gone_forgets_pods_deleted_while_away() {
    let mut agent = Agent::start().await;
    agent
        .answer_list(pod_list(
            5,
            &[
                pod("pop-0", Some("10.0.0.1"), true, false, 3),
                pod("pop-1", Some("10.0.0.2"), true, false, 4),
            ],
        ))
        .await;
    let events = agent.answer_watch().await;
    // The resource version is too old: the watcher must list again.
    let gone = json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": "too old resource version", "reason": "Expired", "code": 410});
    events.send(event("ERROR", gone)).unwrap();
    agent
        .answer_list(pod_list(
            20,
            &[pod("pop-1", Some("10.0.0.2"), true, false, 4)],
        ))
        .await;
    agent.file_holds(&[("pop-1", "10.0.0.2", true)]).await;
    agent.stop().await;
}

#[test]
fn a_selector_without_component_pop_is_refused() {
    let e = Config::new(
        "pops",
        "app.kubernetes.io/name=fastly-anywhere,app.kubernetes.io/instance=t",
        PathBuf::from("peers.json"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("must include app.kubernetes.io/component=pop"),
        "{e}"
    );

    // The binary says so in one line, before looking for a cluster.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_anywhere"))
        .args([
            "agent",
            "--namespace=pops",
            "--selector=app.kubernetes.io/name=fastly-anywhere,app.kubernetes.io/instance=t",
            "--peers-file=/nonexistent/peers.json",
        ])
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains("--selector") && errors[0].contains(",app.kubernetes.io/component=pop"),
        "{stderr}"
    );
}

#[test]
fn an_unexpanded_namespace_variable_is_refused() {
    let e = Config::new("$(POD_NAMESPACE)", SELECTOR, PathBuf::from("p.json"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("--namespace \"$(POD_NAMESPACE)\""), "{e}");
}

#[test]
fn agent_help_lists_the_flags() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_anywhere"))
        .args(["agent", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--namespace",
        "--selector",
        "--peers-file",
        "--admin-addr",
        "0.0.0.0:9092",
    ] {
        assert!(help.contains(flag), "{flag} missing in\n{help}");
    }
}
