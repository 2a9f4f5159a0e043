//! The manifests that deploy the chart through GitOps: an Argo CD
//! Application, or a Flux OCIRepository and HelmRelease. Keys are sorted and
//! nothing depends on time or randomness, so a re-render of the same values
//! gives the same bytes.

use serde_json::{Map, Value, json};

/// Which GitOps controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitOps {
    /// Argo CD.
    Argo,
    /// Flux.
    Flux,
}

impl GitOps {
    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            GitOps::Argo => "argo",
            GitOps::Flux => "flux",
        }
    }
}

/// Where the chart comes from and where it goes.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// The chart in an OCI registry: `oci://host/path/fastly-anywhere`.
    pub chart_ref: String,
    /// The chart version.
    pub version: String,
    /// Helm release name.
    pub release: String,
    /// The namespace the POP runs in.
    pub namespace: String,
    /// The namespace of the Application or HelmRelease (`argocd`,
    /// `flux-system`).
    pub gitops_namespace: String,
    /// The registry speaks plain HTTP. Flux and Helm fall back to HTTP by
    /// themselves only for loopback and private addresses.
    pub plain_http: bool,
}

/// Why a chart reference is unusable.
#[derive(Debug, thiserror::Error)]
#[error("--chart-ref `{0}`: write it as oci://REGISTRY/PATH/fastly-anywhere")]
pub struct BadChartRef(pub String);

/// Splits `oci://host/path/chart` into the repository (`host/path`) and the
/// chart name.
pub fn split_chart_ref(chart_ref: &str) -> Result<(String, String), BadChartRef> {
    let bad = || BadChartRef(chart_ref.to_owned());
    let rest = chart_ref.strip_prefix("oci://").ok_or_else(bad)?;
    let (repo, chart) = rest
        .trim_end_matches('/')
        .rsplit_once('/')
        .ok_or_else(bad)?;
    if repo.is_empty() || chart.is_empty() || chart.contains(':') || chart.contains('@') {
        return Err(bad());
    }
    Ok((repo.to_owned(), chart.to_owned()))
}

/// The Argo CD Application.
pub fn argo_application(d: &Deployment, values: &Value) -> Result<Value, BadChartRef> {
    let (repo, chart) = split_chart_ref(&d.chart_ref)?;
    Ok(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": d.release,
            "namespace": d.gitops_namespace,
            // Deleting the Application deletes what it deployed (foreground
            // cascading). The path-qualified name means the same to Argo CD
            // as the bare one, which the API server warns about.
            "finalizers": ["resources-finalizer.argocd.argoproj.io/foreground"],
        },
        "spec": {
            "project": "default",
            "source": {
                // Argo CD reads Helm charts from OCI registries with the
                // registry path as repoURL (no scheme) and the chart apart.
                "repoURL": repo,
                "chart": chart,
                "targetRevision": d.version,
                "helm": {"releaseName": d.release, "valuesObject": values},
            },
            "destination": {"server": "https://kubernetes.default.svc", "namespace": d.namespace},
            "syncPolicy": {
                "automated": {"prune": true, "selfHeal": true},
                "syncOptions": [
                    "CreateNamespace=true",
                    "ServerSideApply=true",
                    "RespectIgnoreDifferences=true",
                ],
                "retry": {"limit": 5, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "3m"}},
            },
            // The API server fills in defaults of volumeClaimTemplates that
            // the chart does not write; without this the StatefulSet shows
            // OutOfSync forever.
            "ignoreDifferences": [{
                "group": "apps",
                "kind": "StatefulSet",
                "jqPathExpressions": [
                    ".spec.volumeClaimTemplates[]?.apiVersion",
                    ".spec.volumeClaimTemplates[]?.kind",
                    ".spec.volumeClaimTemplates[]?.metadata.creationTimestamp",
                    ".spec.volumeClaimTemplates[]?.spec.volumeMode",
                    ".spec.volumeClaimTemplates[]?.status",
                ],
            }],
        },
    }))
}

/// The Argo CD repository Secret for the chart's registry. Argo CD finds
/// an OCI Helm repository given as `host:port/path` only through such a
/// Secret (`enableOCI`); it holds no credentials, so it can live in Git
/// (credentials for a private registry are added in the cluster).
pub fn argo_repository_secret(d: &Deployment) -> Result<Value, BadChartRef> {
    let (repo, _) = split_chart_ref(&d.chart_ref)?;
    let mut data = json!({
        "name": format!("{}-charts", d.release),
        "type": "helm",
        "url": repo,
        "enableOCI": "true",
    });
    if d.plain_http {
        data["insecureOCIForceHttp"] = json!("true");
    }
    Ok(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": format!("{}-chart-repository", d.release),
            "namespace": d.gitops_namespace,
            "labels": {"argocd.argoproj.io/secret-type": "repository"},
        },
        "stringData": data,
    }))
}

/// The Flux OCIRepository (the chart) and HelmRelease (the install).
pub fn flux_objects(d: &Deployment, values: &Value) -> Result<Vec<Value>, BadChartRef> {
    split_chart_ref(&d.chart_ref)?;
    let mut repository = json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "OCIRepository",
        "metadata": {"name": d.release, "namespace": d.gitops_namespace},
        "spec": {
            "interval": "10m",
            "url": d.chart_ref,
            "ref": {"tag": d.version},
            "layerSelector": {
                "mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                "operation": "copy",
            },
        },
    });
    if d.plain_http {
        repository["spec"]["insecure"] = json!(true);
    }
    let release = json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": d.release, "namespace": d.gitops_namespace},
        "spec": {
            "interval": "10m",
            "releaseName": d.release,
            "targetNamespace": d.namespace,
            "storageNamespace": d.namespace,
            "chartRef": {"kind": "OCIRepository", "name": d.release, "namespace": d.gitops_namespace},
            "install": {"createNamespace": true, "remediation": {"retries": 3}},
            "upgrade": {"cleanupOnFail": true, "remediation": {"retries": 3, "remediateLastFailure": true}},
            // Drift detection corrects hand edits in the cluster; the fields
            // the API server defaults in volumeClaimTemplates are not drift.
            "driftDetection": {
                "mode": "enabled",
                "ignore": [{
                    "paths": ["/spec/volumeClaimTemplates"],
                    "target": {"kind": "StatefulSet"},
                }],
            },
            "values": values,
        },
    });
    Ok(vec![repository, release])
}

/// A value with every map's keys sorted, recursively.
pub fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                out.insert(k.clone(), sorted(&map[k]));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// One manifest as YAML: a comment saying how it was made, then the object
/// with sorted keys.
pub fn to_yaml(object: &Value, header: &str) -> String {
    let body = serde_yaml::to_string(&sorted(object)).unwrap_or_default();
    format!("{header}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_oci_references() {
        let (repo, chart) = split_chart_ref("oci://ghcr.io/acme/charts/fastly-anywhere").unwrap();
        assert_eq!(
            (repo.as_str(), chart.as_str()),
            ("ghcr.io/acme/charts", "fastly-anywhere")
        );
        for bad in ["ghcr.io/x/y", "oci://fastly-anywhere", "oci://r/x:1.0"] {
            assert!(split_chart_ref(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sorts_keys_recursively() {
        let v = json!({"b": 1, "a": {"d": 1, "c": [{"z": 1, "y": 2}]}});
        assert_eq!(
            serde_json::to_string(&sorted(&v)).unwrap(),
            r#"{"a":{"c":[{"y":2,"z":1}],"d":1},"b":1}"#
        );
    }
}
