//! The GitOps controllers the rendered manifests need, when the user says
//! which tool deploys the chart (`--gitops`, or a values file that is an
//! Argo CD Application or a Flux HelmRelease): their CRDs at the versions
//! `render` writes, and their controllers running, with the versions read
//! from the images. The end-to-end test reconciles with Flux 2.7
//! (source-controller v1.7.2, helm-controller v1.4.3) and Argo CD v3.2.12.

use super::Check;
use super::checks::unreadable;
use crate::gitops::manifests::GitOps;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::ListParams;
use kube::{Api, Client};

/// A CRD and the version of it the rendered manifests use.
struct Needed {
    crd: &'static str,
    version: &'static str,
}

/// A controller: the workload kind, its usual name, and the image it runs.
struct Controller {
    name: &'static str,
    stateful: bool,
    image: &'static str,
}

const FLUX_CRDS: [Needed; 2] = [
    Needed {
        crd: "ocirepositories.source.toolkit.fluxcd.io",
        version: "v1",
    },
    Needed {
        crd: "helmreleases.helm.toolkit.fluxcd.io",
        version: "v2",
    },
];
const FLUX_CONTROLLERS: [Controller; 2] = [
    Controller {
        name: "source-controller",
        stateful: false,
        image: "fluxcd/source-controller",
    },
    Controller {
        name: "helm-controller",
        stateful: false,
        image: "fluxcd/helm-controller",
    },
];
const ARGO_CRDS: [Needed; 2] = [
    Needed {
        crd: "applications.argoproj.io",
        version: "v1alpha1",
    },
    Needed {
        crd: "appprojects.argoproj.io",
        version: "v1alpha1",
    },
];
const ARGO_CONTROLLERS: [Controller; 2] = [
    Controller {
        name: "argocd-repo-server",
        stateful: false,
        image: "argoproj/argocd",
    },
    Controller {
        name: "argocd-application-controller",
        stateful: true,
        image: "argoproj/argocd",
    },
];

/// The two checks for one tool: CRDs, then controllers.
pub async fn gitops_checks(client: &Client, tool: GitOps) -> Vec<Check> {
    let (crds, controllers, install) = match tool {
        GitOps::Flux => (
            &FLUX_CRDS,
            &FLUX_CONTROLLERS,
            "install Flux 2.6 or later (OCIRepository v1, HelmRelease v2): flux install",
        ),
        GitOps::Argo => (
            &ARGO_CRDS,
            &ARGO_CONTROLLERS,
            "install Argo CD (tested with v3.2.12): kubectl apply -n argocd -f https://raw.githubusercontent.com/argoproj/argo-cd/v3.2.12/manifests/install.yaml",
        ),
    };
    vec![
        crds_served(client, tool, crds, install).await,
        controllers_running(client, tool, controllers, install).await,
    ]
}

async fn crds_served(client: &Client, tool: GitOps, crds: &[Needed], install: &str) -> Check {
    let id = match tool {
        GitOps::Flux => "flux-crds",
        GitOps::Argo => "argocd-crds",
    };
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut missing = Vec::new();
    for needed in crds {
        match api.get_opt(needed.crd).await {
            Err(e) => return unreadable(id, "CustomResourceDefinitions", &e),
            Ok(Some(crd))
                if crd
                    .spec
                    .versions
                    .iter()
                    .any(|v| v.name == needed.version && v.served) => {}
            Ok(_) => missing.push(format!("{} {}", needed.crd, needed.version)),
        }
    }
    let served: Vec<String> = crds
        .iter()
        .map(|n| format!("{} {}", n.crd, n.version))
        .collect();
    if missing.is_empty() {
        Check::pass(id, format!("served: {}", served.join(", ")))
    } else {
        Check::fail(
            id,
            format!(
                "missing or not served (the rendered manifests use them): {}",
                missing.join(", ")
            ),
            install,
        )
    }
}

/// A workload's image version and ready replicas.
struct Found {
    namespace: String,
    version: String,
    ready: i32,
}

fn image_version(spec: Option<&PodSpec>, image: &str) -> Option<String> {
    spec?.containers.iter().find_map(|c| {
        let reference = c.image.as_deref()?;
        reference.contains(image).then(|| {
            let tail = reference.rsplit('/').next().unwrap_or(reference);
            let tag = tail.split_once('@').map_or(tail, |(t, _)| t);
            tag.split_once(':')
                .map_or("(untagged)", |(_, v)| v)
                .to_owned()
        })
    })
}

async fn find(client: &Client, c: &Controller) -> Result<Vec<Found>, kube::Error> {
    // The field selector spares listing every workload of the cluster; the
    // name is checked again here all the same.
    let by_name = ListParams::default().fields(&format!("metadata.name={}", c.name));
    let named = |name: &Option<String>| name.as_deref() == Some(c.name);
    let found = if c.stateful {
        let api: Api<StatefulSet> = Api::all(client.clone());
        api.list(&by_name)
            .await?
            .items
            .into_iter()
            .filter(|s| named(&s.metadata.name))
            .map(|s| Found {
                namespace: s.metadata.namespace.unwrap_or_default(),
                version: image_version(
                    s.spec.as_ref().and_then(|s| s.template.spec.as_ref()),
                    c.image,
                )
                .unwrap_or_else(|| "(another image)".into()),
                ready: s.status.and_then(|s| s.ready_replicas).unwrap_or(0),
            })
            .collect()
    } else {
        let api: Api<Deployment> = Api::all(client.clone());
        api.list(&by_name)
            .await?
            .items
            .into_iter()
            .filter(|d| named(&d.metadata.name))
            .map(|d| Found {
                namespace: d.metadata.namespace.unwrap_or_default(),
                version: image_version(
                    d.spec.as_ref().and_then(|s| s.template.spec.as_ref()),
                    c.image,
                )
                .unwrap_or_else(|| "(another image)".into()),
                ready: d.status.and_then(|s| s.available_replicas).unwrap_or(0),
            })
            .collect()
    };
    Ok(found)
}

async fn controllers_running(
    client: &Client,
    tool: GitOps,
    controllers: &[Controller],
    install: &str,
) -> Check {
    let id = match tool {
        GitOps::Flux => "flux-controllers",
        GitOps::Argo => "argocd-controllers",
    };
    let mut seen = Vec::new();
    let mut absent = Vec::new();
    let mut down = Vec::new();
    for c in controllers {
        let found = match find(client, c).await {
            Ok(f) => f,
            Err(e) => return unreadable(id, "Deployments and StatefulSets", &e),
        };
        if found.is_empty() {
            absent.push(c.name);
        }
        for f in found {
            let what = format!("{} {} in {}", c.name, f.version, f.namespace);
            if f.ready > 0 {
                seen.push(format!("{what} ({} ready)", f.ready));
            } else {
                down.push(what);
            }
        }
    }
    if !down.is_empty() {
        return Check::fail(
            id,
            format!("not ready: {}", down.join(", ")),
            "kubectl get pods -A | grep -e source-controller -e helm-controller -e argocd; fix what keeps them from running",
        );
    }
    if !absent.is_empty() {
        return Check::warn(
            id,
            format!(
                "no workload named {} in the cluster{}",
                absent.join(" or "),
                if seen.is_empty() {
                    String::new()
                } else {
                    format!(" (found {})", seen.join(", "))
                }
            ),
            format!(
                "{install}\n(controllers that run outside the cluster or under other names cannot be checked here)"
            ),
        );
    }
    Check::pass(id, format!("running: {}", seen.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Container;

    fn spec(image: &str) -> PodSpec {
        PodSpec {
            containers: vec![Container {
                name: "manager".into(),
                image: Some(image.into()),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn reads_the_version_from_the_image_reference() {
        let cases = [
            ("ghcr.io/fluxcd/source-controller:v1.7.2", Some("v1.7.2")),
            (
                "registry.local:5000/fluxcd/helm-controller:v1.4.3@sha256:abc",
                Some("v1.4.3"),
            ),
            ("quay.io/argoproj/argocd", Some("(untagged)")),
            ("nginx:1.27", None),
        ];
        for (image, want) in cases {
            let got = image_version(Some(&spec(image)), "fluxcd/")
                .or_else(|| image_version(Some(&spec(image)), "argoproj/argocd"));
            assert_eq!(got.as_deref(), want, "{image}");
        }
    }
}
