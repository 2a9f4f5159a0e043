//! The checks, each a read of the Kubernetes API through kube-rs. A check
//! whose read fails (no permission, no connection) fails itself with the
//! reason; the others still run.

use super::{Check, DoctorRequest};
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Secret};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ListParams, PostParams};
use kube::{Api, Client};
use values_schema::quantity::{format_bytes, parse_quantity};

/// The oldest Kubernetes the chart supports (Chart.yaml `kubeVersion`).
const MIN_MINOR: u32 = 27;
const CERT_MANAGER_CRDS: [&str; 3] = [
    "certificates.cert-manager.io",
    "issuers.cert-manager.io",
    "clusterissuers.cert-manager.io",
];
const INSTALL_CERT_MANAGER: &str = "install cert-manager v1.14: kubectl apply -f https://github.com/cert-manager/cert-manager/releases/download/v1.14.7/cert-manager.yaml";

/// Runs every check, in the order of the checklist.
pub async fn run_checks(client: &Client, req: &DoctorRequest) -> Vec<Check> {
    let mut checks = vec![
        kubernetes_version(client).await,
        cert_manager_crds(client).await,
        cert_manager_webhook(client).await,
    ];
    checks.extend(storage_classes(client, req).await);
    checks.push(namespace(client, req).await);
    checks.push(pull_secret(client, req).await);
    if let Some(tokens) = &req.tokens_secret {
        checks.push(tokens_secret(client, req, tokens).await);
    }
    checks.push(nodes(client, req).await);
    checks.push(permissions(client, req).await);
    if let Some(tool) = req.gitops {
        checks.extend(super::gitops::gitops_checks(client, tool).await);
    }
    checks
}

pub(super) fn unreadable(id: &'static str, what: &str, e: &kube::Error) -> Check {
    Check::fail(
        id,
        format!("cannot read {what}: {e}"),
        "check the kubeconfig context (helm --kube-context) and that your user may read it",
    )
}

async fn kubernetes_version(client: &Client) -> Check {
    let id = "kubernetes-version";
    match client.apiserver_version().await {
        Err(e) => unreadable(id, "the API server version", &e),
        Ok(info) => {
            let minor: u32 = info.minor.trim_end_matches('+').parse().unwrap_or(0);
            let shown = format!("Kubernetes {}", info.git_version);
            if info.major == "1" && minor >= MIN_MINOR {
                Check::pass(
                    id,
                    format!("{shown} (the chart needs 1.{MIN_MINOR} or later)"),
                )
            } else {
                Check::fail(
                    id,
                    format!("{shown} is older than the chart's minimum 1.{MIN_MINOR}"),
                    "upgrade the cluster to a version GKE or ACK supports",
                )
            }
        }
    }
}

async fn cert_manager_crds(client: &Client) -> Check {
    let id = "cert-manager-crds";
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut missing = Vec::new();
    let mut versions = Vec::new();
    for name in CERT_MANAGER_CRDS {
        match api.get_opt(name).await {
            Err(e) => return unreadable(id, "CustomResourceDefinitions", &e),
            Ok(None) => missing.push(name),
            Ok(Some(crd)) => {
                if !crd.spec.versions.iter().any(|v| v.name == "v1" && v.served) {
                    missing.push(name);
                }
                let labels = crd.metadata.labels.unwrap_or_default();
                versions.push(
                    labels
                        .get("app.kubernetes.io/version")
                        .cloned()
                        .unwrap_or_default(),
                );
            }
        }
    }
    if !missing.is_empty() {
        return Check::fail(
            id,
            format!("missing or not serving v1: {}", missing.join(", ")),
            INSTALL_CERT_MANAGER,
        );
    }
    versions.sort();
    versions.dedup();
    match versions.as_slice() {
        [v] if v.starts_with("v1.14.") => Check::pass(id, format!("cert-manager {v} CRDs present")),
        [v] if v.is_empty() => Check::warn(
            id,
            "cert-manager CRDs present, of an unknown version (no app.kubernetes.io/version label)",
            "Fastly Anywhere requires cert-manager v1.14; check `kubectl -n cert-manager get deploy -o wide`",
        ),
        found => Check::warn(
            id,
            format!(
                "cert-manager CRDs of version {} present; the product requires v1.14",
                found.join(", ")
            ),
            INSTALL_CERT_MANAGER,
        ),
    }
}

async fn cert_manager_webhook(client: &Client) -> Check {
    let id = "cert-manager-webhook";
    let hooks: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    match hooks.get_opt("cert-manager-webhook").await {
        Err(e) => return unreadable(id, "ValidatingWebhookConfigurations", &e),
        Ok(None) => {
            return Check::fail(
                id,
                "no ValidatingWebhookConfiguration cert-manager-webhook",
                INSTALL_CERT_MANAGER,
            );
        }
        Ok(Some(_)) => {}
    }
    let deployments: Api<Deployment> = Api::all(client.clone());
    let lp = ListParams::default()
        .labels("app.kubernetes.io/name=webhook,app.kubernetes.io/instance=cert-manager");
    match deployments.list(&lp).await {
        Err(e) => unreadable(id, "Deployments", &e),
        Ok(list) => {
            let available: i32 = list
                .items
                .iter()
                .filter_map(|d| d.status.as_ref()?.available_replicas)
                .sum();
            if available > 0 {
                Check::pass(
                    id,
                    format!("cert-manager webhook available ({available} replica(s))"),
                )
            } else if list.items.is_empty() {
                Check::fail(
                    id,
                    "the webhook is registered but its Deployment is not found",
                    INSTALL_CERT_MANAGER,
                )
            } else {
                Check::fail(
                    id,
                    "the cert-manager webhook Deployment has no available replica: Certificates cannot be created",
                    "kubectl -n cert-manager get pods -l app.kubernetes.io/name=webhook; fix what keeps them from running",
                )
            }
        }
    }
}

async fn storage_classes(client: &Client, req: &DoctorRequest) -> Vec<Check> {
    let id = "storage-class";
    let api: Api<StorageClass> = Api::all(client.clone());
    let list = match api.list(&ListParams::default()).await {
        Err(e) => return vec![unreadable(id, "StorageClasses", &e)],
        Ok(l) => l.items,
    };
    let mut wanted = req.storage_classes.clone();
    wanted.sort();
    wanted.dedup();
    wanted
        .into_iter()
        .map(|class| match class {
            Some(name) => {
                if list.iter().any(|s| s.metadata.name.as_deref() == Some(name.as_str())) {
                    Check::pass(id, format!("StorageClass {name} present"))
                } else {
                    let known: Vec<&str> = list.iter().filter_map(|s| s.metadata.name.as_deref()).collect();
                    Check::fail(
                        id,
                        format!("StorageClass {name} not found (the cluster has: {})", if known.is_empty() { "none".into() } else { known.join(", ") }),
                        "set cached/xqd.volumeClaim.storageClassName to one of the cluster's classes",
                    )
                }
            }
            None => {
                let default = list.iter().find(|s| {
                    s.metadata
                        .annotations
                        .as_ref()
                        .and_then(|a| a.get("storageclass.kubernetes.io/is-default-class"))
                        .is_some_and(|v| v == "true")
                });
                match default.and_then(|s| s.metadata.name.clone()) {
                    Some(name) => Check::pass(id, format!("default StorageClass {name} present")),
                    None => Check::fail(
                        id,
                        "no storage class named and no default StorageClass",
                        "name a class in cached/xqd.volumeClaim.storageClassName, or mark one as default",
                    ),
                }
            }
        })
        .collect()
}

async fn namespace(client: &Client, req: &DoctorRequest) -> Check {
    let id = "namespace";
    let ns = &req.namespace;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    match namespaces.get_opt(ns).await {
        Err(e) => return unreadable(id, "Namespaces", &e),
        Ok(None) => {
            return Check::fail(
                id,
                format!("namespace {ns} does not exist"),
                format!("kubectl create namespace {ns}"),
            );
        }
        Ok(Some(_)) => {}
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    match pods.list(&ListParams::default()).await {
        Err(e) => unreadable(id, "Pods", &e),
        Ok(list) => {
            let foreign: Vec<String> = list
                .items
                .iter()
                .filter(|p| {
                    let labels = p.metadata.labels.clone().unwrap_or_default();
                    labels.get("app.kubernetes.io/instance") != Some(&req.release)
                })
                .filter_map(|p| p.metadata.name.clone())
                .collect();
            if foreign.is_empty() {
                Check::pass(id, format!("namespace {ns} exists and runs nothing else"))
            } else {
                Check::fail(
                    id,
                    format!(
                        "namespace {ns} also runs {} other pod(s): {}",
                        foreign.len(),
                        foreign.join(", ")
                    ),
                    "Fastly Anywhere needs a namespace of its own: install into a new one",
                )
            }
        }
    }
}

async fn pull_secret(client: &Client, req: &DoctorRequest) -> Check {
    let id = "registry-credentials";
    let (ns, name) = (&req.namespace, &req.pull_secret);
    let fix = format!(
        "kubectl create secret docker-registry {name} --namespace {ns} --docker-server=… --docker-username=… --docker-password=…"
    );
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    match secrets.get_opt(name).await {
        Err(e) => unreadable(id, "Secrets", &e),
        Ok(None) => Check::fail(id, format!("Secret {name} not found in {ns}"), fix),
        Ok(Some(s)) if s.type_.as_deref() == Some("kubernetes.io/dockerconfigjson") => Check::pass(
            id,
            format!("Secret {name} of type kubernetes.io/dockerconfigjson present"),
        ),
        Ok(Some(s)) => Check::fail(
            id,
            format!(
                "Secret {name} has type {}, not kubernetes.io/dockerconfigjson",
                s.type_.unwrap_or_default()
            ),
            format!("kubectl delete secret {name} --namespace {ns}, then {fix}"),
        ),
    }
}

async fn tokens_secret(
    client: &Client,
    req: &DoctorRequest,
    (name, keys): &(String, Vec<String>),
) -> Check {
    let id = "tokens-secret";
    let ns = &req.namespace;
    let fix = format!(
        "kubectl create secret generic {name} --namespace {ns} {}",
        keys.iter()
            .map(|k| format!("--from-literal={k}=…"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    match secrets.get_opt(name).await {
        Err(e) => unreadable(id, "Secrets", &e),
        Ok(None) => Check::fail(id, format!("Secret {name} not found in {ns}"), fix),
        Ok(Some(s)) => {
            let data = s.data.unwrap_or_default();
            let missing: Vec<&String> = keys.iter().filter(|k| !data.contains_key(*k)).collect();
            if missing.is_empty() {
                Check::pass(id, format!("Secret {name} holds both tokens"))
            } else {
                Check::fail(
                    id,
                    format!(
                        "Secret {name} lacks the key(s) {}",
                        missing
                            .iter()
                            .map(|k| k.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    fix,
                )
            }
        }
    }
}

async fn nodes(client: &Client, req: &DoctorRequest) -> Check {
    let id = "node-size";
    let api: Api<Node> = Api::all(client.clone());
    let list = match api.list(&ListParams::default()).await {
        Err(e) => return unreadable(id, "Nodes", &e),
        Ok(l) => l.items,
    };
    let want = format!(
        "{} vCPU and {}",
        req.min_cpu,
        format_bytes(req.min_memory_bytes)
    );
    let fitting = list
        .iter()
        .filter(|n| {
            !n.spec
                .as_ref()
                .and_then(|s| s.unschedulable)
                .unwrap_or(false)
        })
        .filter(|n| {
            let alloc = n
                .status
                .as_ref()
                .and_then(|s| s.allocatable.clone())
                .unwrap_or_default();
            let get = |k: &str| {
                alloc
                    .get(k)
                    .and_then(|q| parse_quantity(&q.0).ok())
                    .unwrap_or(0.0)
            };
            get("cpu") >= req.min_cpu && get("memory") >= req.min_memory_bytes
        })
        .count();
    let replicas = req.replicas as usize;
    if fitting >= replicas {
        Check::pass(
            id,
            format!(
                "{fitting} of {} node(s) have {want} allocatable",
                list.len()
            ),
        )
    } else if fitting > 0 {
        Check::warn(
            id,
            format!(
                "only {fitting} of {} node(s) have {want} allocatable; {replicas} replicas would share nodes",
                list.len()
            ),
            "add nodes of at least 4 vCPU and 8 GiB, or lower edgeStack.replicas",
        )
    } else {
        Check::fail(
            id,
            format!(
                "no schedulable node has {want} allocatable ({} node(s) in all)",
                list.len()
            ),
            "add a node pool whose nodes have at least that allocatable (the documented minimum is 4 vCPU and 8 GB, and nodes keep some for the system), or lower edgeStack.cpuFootprint/memoryFootprint",
        )
    }
}

/// What installing the chart creates, as (group, resource).
const CHART_NEEDS: [(&str, &str); 11] = [
    ("apps", "statefulsets"),
    ("", "services"),
    ("", "secrets"),
    ("", "configmaps"),
    ("", "serviceaccounts"),
    ("rbac.authorization.k8s.io", "roles"),
    ("rbac.authorization.k8s.io", "rolebindings"),
    ("policy", "poddisruptionbudgets"),
    ("networking.k8s.io", "networkpolicies"),
    ("cert-manager.io", "certificates"),
    ("cert-manager.io", "issuers"),
];

async fn permissions(client: &Client, req: &DoctorRequest) -> Check {
    let id = "permissions";
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let mut denied = Vec::new();
    for (group, resource) in CHART_NEEDS {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    namespace: Some(req.namespace.clone()),
                    verb: Some("create".into()),
                    group: Some(group.into()),
                    resource: Some(resource.into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        match api.create(&PostParams::default(), &review).await {
            Err(e) => return unreadable(id, "access reviews", &e),
            Ok(r) if r.status.as_ref().is_some_and(|s| s.allowed) => {}
            Ok(_) => denied.push(if group.is_empty() {
                resource.to_owned()
            } else {
                format!("{resource}.{group}")
            }),
        }
    }
    // The chart's Role lets the agent read pods; creating it needs at least
    // those rights (RBAC forbids granting what one lacks).
    if denied.is_empty() {
        Check::pass(
            id,
            format!(
                "you may create the chart's {} kinds of objects in {}",
                CHART_NEEDS.len(),
                req.namespace
            ),
        )
    } else {
        Check::fail(
            id,
            format!(
                "you may not create {} in {}",
                denied.join(", "),
                req.namespace
            ),
            "ask a cluster admin for a RoleBinding to the `admin` ClusterRole in this namespace",
        )
    }
}
