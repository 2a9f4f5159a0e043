//! `helm anywhere doctor` against kube's mock service (tower-test): a
//! cluster that meets every prerequisite, and one that fails every check,
//! each failure with its fix.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use helm_anywhere::doctor::{DoctorRequest, Status, render_json, render_text, run_checks};
use http::{Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{Value, json};
use std::collections::HashMap;

/// A fake API server: objects by path, and the resources the user may not
/// create.
struct FakeCluster {
    version: (&'static str, &'static str),
    objects: HashMap<String, Value>,
    denied: Vec<&'static str>,
}

fn list(kind: &str, items: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "kind": format!("{kind}List"), "metadata": {}, "items": items})
}

fn crd(name: &str, version: &str) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/version": version}},
        "spec": {"group": "cert-manager.io", "scope": "Namespaced",
                 "names": {"plural": "x", "kind": "X"},
                 "versions": [{"name": "v1", "served": true, "storage": true}]}
    })
}

fn node(name: &str, cpu: &str, memory: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
           "status": {"allocatable": {"cpu": cpu, "memory": memory}}})
}

impl FakeCluster {
    /// A cluster that has everything.
    fn healthy() -> Self {
        let mut o = HashMap::new();
        for name in [
            "certificates.cert-manager.io",
            "issuers.cert-manager.io",
            "clusterissuers.cert-manager.io",
        ] {
            o.insert(
                format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"),
                crd(name, "v1.14.7"),
            );
        }
        o.insert(
            "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/cert-manager-webhook".into(),
            json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration", "metadata": {"name": "cert-manager-webhook"}}),
        );
        o.insert(
            "/apis/apps/v1/deployments".into(),
            list("Deployment", vec![json!({"metadata": {"name": "cert-manager-webhook", "namespace": "cert-manager"}, "status": {"availableReplicas": 1}})]),
        );
        o.insert(
            "/apis/storage.k8s.io/v1/storageclasses".into(),
            list("StorageClass", vec![json!({"metadata": {"name": "premium-rwo", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}}, "provisioner": "pd.csi.storage.gke.io"})]),
        );
        o.insert("/api/v1/namespaces/fastly-anywhere".into(), json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "fastly-anywhere"}}));
        o.insert(
            "/api/v1/namespaces/fastly-anywhere/pods".into(),
            list("Pod", vec![]),
        );
        o.insert(
            "/api/v1/namespaces/fastly-anywhere/secrets/regcred".into(),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "regcred"}, "type": "kubernetes.io/dockerconfigjson"}),
        );
        o.insert(
            "/api/v1/namespaces/fastly-anywhere/secrets/fastly-anywhere-tokens".into(),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "fastly-anywhere-tokens"}, "type": "Opaque", "data": {"bootstrap-token": "eA==", "fastly-key": "eA=="}}),
        );
        o.insert(
            "/api/v1/nodes".into(),
            list(
                "Node",
                (1..=3)
                    .map(|i| node(&format!("n{i}"), "7910m", "29Gi"))
                    .collect(),
            ),
        );
        FakeCluster {
            version: ("1", "33"),
            objects: o,
            denied: vec![],
        }
    }

    /// A cluster that fails every check.
    fn broken() -> Self {
        let mut o = HashMap::new();
        o.insert(
            "/apis/apps/v1/deployments".into(),
            list("Deployment", vec![]),
        );
        o.insert(
            "/apis/storage.k8s.io/v1/storageclasses".into(),
            list(
                "StorageClass",
                vec![json!({"metadata": {"name": "standard"}, "provisioner": "x"})],
            ),
        );
        o.insert(
            "/api/v1/nodes".into(),
            list(
                "Node",
                vec![
                    node("small-1", "1930m", "5Gi"),
                    node("small-2", "3920m", "7Gi"),
                ],
            ),
        );
        FakeCluster {
            version: ("1", "25"),
            objects: o,
            denied: vec!["statefulsets", "roles", "certificates"],
        }
    }

    fn respond(&self, method: &http::Method, path: &str, body: &[u8]) -> (StatusCode, Value) {
        if path == "/version" {
            let (major, minor) = self.version;
            return (
                StatusCode::OK,
                json!({"major": major, "minor": minor, "gitVersion": format!("v{major}.{minor}.2"),
                "gitCommit": "", "gitTreeState": "", "buildDate": "", "goVersion": "", "compiler": "", "platform": ""}),
            );
        }
        if method == http::Method::POST && path.ends_with("/selfsubjectaccessreviews") {
            let mut review: Value = serde_json::from_slice(body).unwrap();
            let resource = review["spec"]["resourceAttributes"]["resource"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            review["status"] = json!({"allowed": !self.denied.contains(&resource.as_str())});
            return (StatusCode::CREATED, review);
        }
        match self.objects.get(path) {
            Some(v) => (StatusCode::OK, v.clone()),
            None => (
                StatusCode::NOT_FOUND,
                json!({"apiVersion": "v1", "kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404, "message": format!("{path} not found")}),
            ),
        }
    }
}

async fn doctor(
    cluster: FakeCluster,
    request: &DoctorRequest,
) -> Vec<helm_anywhere::doctor::Check> {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let server = tokio::spawn(async move {
        while let Some((req, send)) = handle.next_request().await {
            let method = req.method().clone();
            let path = req.uri().path().to_owned();
            let body = req.into_body().collect_bytes().await.unwrap();
            let (status, value) = cluster.respond(&method, &path, &body);
            let response = Response::builder()
                .status(status)
                .body(Body::from(serde_json::to_vec(&value).unwrap()))
                .unwrap();
            send.send_response(response);
        }
    });
    let client = kube::Client::new(service, "default");
    let checks = run_checks(&client, request).await;
    drop(client);
    server.abort();
    checks
}

fn request() -> DoctorRequest {
    let values = values_schema::with_defaults(
        &json!({"existingSecret": {"name": "fastly-anywhere-tokens"}}),
    );
    DoctorRequest::from_values(
        &serde_json::from_value(values).unwrap(),
        "fastly-anywhere".into(),
        "fastly-anywhere".into(),
    )
}

#[tokio::test]
async fn a_ready_cluster_passes_every_check() {
    let checks = doctor(FakeCluster::healthy(), &request()).await;
    let text = render_text("fake", &checks);
    assert!(checks.iter().all(|c| c.status == Status::Pass), "{text}");
    let ids: Vec<_> = checks.iter().map(|c| c.id).collect();
    assert_eq!(
        ids,
        [
            "kubernetes-version",
            "cert-manager-crds",
            "cert-manager-webhook",
            "storage-class",
            "namespace",
            "registry-credentials",
            "tokens-secret",
            "node-size",
            "permissions"
        ]
    );
    assert!(
        text.ends_with("doctor: 9 ok, 0 failed, 0 warning(s)\n"),
        "{text}"
    );
    let json: Value = serde_json::from_str(&render_json("fake", &checks)).unwrap();
    assert_eq!(json["ok"], true);
}

#[tokio::test]
async fn a_cluster_that_fails_every_check_gets_every_fix() {
    let checks = doctor(FakeCluster::broken(), &request()).await;
    let text = render_text("fake", &checks);
    for c in &checks {
        assert_eq!(c.status, Status::Fail, "{}: {text}", c.id);
        assert!(
            c.fix.as_deref().is_some_and(|f| !f.is_empty()),
            "{} has no fix",
            c.id
        );
    }
    for expected in [
        "[FAIL] kubernetes-version: Kubernetes v1.25.2 is older than the chart's minimum 1.27",
        "[FAIL] cert-manager-crds: missing or not serving v1: certificates.cert-manager.io, issuers.cert-manager.io, clusterissuers.cert-manager.io",
        "[FAIL] cert-manager-webhook: no ValidatingWebhookConfiguration cert-manager-webhook",
        "[FAIL] storage-class: StorageClass premium-rwo not found (the cluster has: standard)",
        "[FAIL] namespace: namespace fastly-anywhere does not exist",
        "fix: kubectl create namespace fastly-anywhere",
        "[FAIL] registry-credentials: Secret regcred not found in fastly-anywhere",
        "[FAIL] tokens-secret: Secret fastly-anywhere-tokens not found in fastly-anywhere",
        "[FAIL] node-size: no schedulable node has 4 vCPU and 8Gi allocatable (2 node(s) in all)",
        "[FAIL] permissions: you may not create statefulsets.apps, roles.rbac.authorization.k8s.io, certificates.cert-manager.io in fastly-anywhere",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
    let json: Value = serde_json::from_str(&render_json("fake", &checks)).unwrap();
    assert_eq!(json["ok"], false);
    assert_eq!(json["checks"].as_array().unwrap().len(), 9);
}

#[tokio::test]
async fn shared_namespaces_and_wrong_secret_types_fail() {
    let mut cluster = FakeCluster::healthy();
    cluster.objects.insert(
        "/api/v1/namespaces/fastly-anywhere/pods".into(),
        list("Pod", vec![
            json!({"metadata": {"name": "fastly-anywhere-0", "labels": {"app.kubernetes.io/instance": "fastly-anywhere"}}}),
            json!({"metadata": {"name": "redis-0", "labels": {"app": "redis"}}}),
        ]),
    );
    cluster.objects.insert(
        "/api/v1/namespaces/fastly-anywhere/secrets/regcred".into(),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "regcred"}, "type": "Opaque"}),
    );
    cluster.objects.insert(
        "/api/v1/nodes".into(),
        list(
            "Node",
            vec![node("big", "8", "32Gi"), node("small", "2", "4Gi")],
        ),
    );
    let checks = doctor(cluster, &request()).await;
    let status = |id: &str| checks.iter().find(|c| c.id == id).unwrap().status;
    assert_eq!(status("namespace"), Status::Fail);
    assert_eq!(status("registry-credentials"), Status::Fail);
    assert_eq!(
        status("node-size"),
        Status::Warn,
        "one fitting node for three replicas"
    );
    assert!(render_text("fake", &checks).contains("redis-0"));
}
