//! `helm anywhere doctor`: checks that a cluster meets what Fastly Anywhere
//! needs before the first install or sync: the Kubernetes version,
//! cert-manager v1.14 (CRDs and webhook), a storage class, a dedicated
//! namespace, the `regcred` registry Secret, nodes of at least 4 vCPU and
//! 8 GiB, and the permissions the chart's objects need; and, when the chart
//! is deployed through GitOps, the Flux or Argo CD controllers.

mod checks;
mod gitops;
mod report;

pub use checks::run_checks;
pub use report::{render_json, render_text};

use serde::Serialize;
use values_schema::values::ControlPlaneMode;

/// The result of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The prerequisite is met.
    Pass,
    /// Probably fine, worth a look.
    Warn,
    /// The install would fail or misbehave.
    Fail,
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// A stable name (`cert-manager-crds`).
    pub id: &'static str,
    /// The outcome.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// How to fix it, for warnings and failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    fn pass(id: &'static str, detail: impl Into<String>) -> Self {
        Check {
            id,
            status: Status::Pass,
            detail: detail.into(),
            fix: None,
        }
    }
    fn warn(id: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Check {
            id,
            status: Status::Warn,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
    fn fail(id: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Check {
            id,
            status: Status::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// What the cluster is checked for.
#[derive(Debug, Clone)]
pub struct DoctorRequest {
    /// The namespace the POP goes into.
    pub namespace: String,
    /// The Helm release name (its pods do not make the namespace shared).
    pub release: String,
    /// The storage classes the volumes use (`None`: the cluster default).
    pub storage_classes: Vec<Option<String>>,
    /// The registry credentials Secret.
    pub pull_secret: String,
    /// The tokens Secret, when the values name one.
    pub tokens_secret: Option<(String, Vec<String>)>,
    /// vCPUs a node must have allocatable.
    pub min_cpu: f64,
    /// Memory a node must have allocatable, in bytes.
    pub min_memory_bytes: f64,
    /// How many such nodes the replicas need.
    pub replicas: u32,
    /// The GitOps tool that deploys the chart, if any: its controllers are
    /// checked too.
    pub gitops: Option<crate::gitops::manifests::GitOps>,
}

/// Why the doctor could not start.
#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    /// The kubeconfig could not be read or used.
    #[error("cannot use the kubeconfig: {0}")]
    Config(String),
}

/// Connects with the kubeconfig (`path`, else `$KUBECONFIG`, else
/// `~/.kube/config`) and `context` (else the current one), as Helm passes
/// them to plugins. Returns the client and a description of the target.
pub async fn connect(
    path: Option<&std::path::Path>,
    context: Option<String>,
) -> Result<(kube::Client, String), DoctorError> {
    use kube::config::{Config, KubeConfigOptions, Kubeconfig};
    let options = KubeConfigOptions {
        context: context.clone(),
        ..Default::default()
    };
    let kubeconfig = match path {
        Some(p) => Kubeconfig::read_from(p),
        None => Kubeconfig::read(),
    }
    .map_err(|e| DoctorError::Config(e.to_string()))?;
    let current = context
        .or_else(|| kubeconfig.current_context.clone())
        .unwrap_or_default();
    let config = Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| DoctorError::Config(e.to_string()))?;
    let target = format!("cluster {} (context {current})", config.cluster_url);
    let client = kube::Client::try_from(config).map_err(|e| DoctorError::Config(e.to_string()))?;
    Ok((client, target))
}

impl DoctorRequest {
    /// What to check for, from the chart's values (defaults merged in).
    pub fn from_values(values: &values_schema::Values, namespace: String, release: String) -> Self {
        let class = |claim: &values_schema::values::VolumeClaim| {
            claim
                .storage_class_name
                .clone()
                .or_else(|| values.provider.default_storage_class().map(String::from))
        };
        DoctorRequest {
            namespace,
            release,
            storage_classes: vec![
                class(&values.cached.volume_claim),
                class(&values.xqd.volume_claim),
            ],
            pull_secret: values
                .image_pull_secrets
                .first()
                .map(|s| s.name.clone())
                .unwrap_or_else(|| "regcred".into()),
            // Offline mode mounts no tokens: no Secret to look for.
            tokens_secret: values
                .existing_secret
                .name
                .clone()
                .filter(|_| values.control_plane.mode == ControlPlaneMode::Fastly)
                .map(|n| {
                    (
                        n,
                        vec![
                            values.existing_secret.bootstrap_token_key.clone(),
                            values.existing_secret.fastly_key_key.clone(),
                        ],
                    )
                }),
            min_cpu: values.edge_stack.cpu_footprint.0,
            min_memory_bytes: values.edge_stack.memory_footprint.value().unwrap_or(0.0),
            replicas: values.edge_stack.replicas,
            gitops: None,
        }
    }
}
