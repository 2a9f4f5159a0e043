//! Finds the chart values inside GitOps manifests, so that `validate` checks
//! an Argo CD Application (`spec.source.helm.valuesObject`) or a Flux
//! HelmRelease (`spec.values`) with positions inside that file.

use crate::source::Origin;
use crate::yaml::{Node, NodeValue};

/// What a document of a values file turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Embedded {
    /// Values embedded in a GitOps object: which one, and the values node
    /// (`None` when the object embeds no values).
    Found {
        /// `Application/name` or `HelmRelease/name`.
        object: String,
        /// Where the object's `kind` is written.
        at: Origin,
        /// The values, if the object has any.
        values: Option<Node>,
        /// A note for values the check cannot see (Argo's `helm.values` string).
        unchecked: Option<String>,
    },
    /// No GitOps object: a plain values file.
    NotGitOps,
}

fn scalar<'a>(node: &'a Node, key: &str) -> Option<&'a str> {
    match &node.get(key)?.value.value {
        NodeValue::Str(s) => Some(s),
        _ => None,
    }
}

fn child<'a>(node: &'a Node, path: &[&str]) -> Option<&'a Node> {
    path.iter()
        .try_fold(node, |n, k| n.get(k).map(|e| &e.value))
}

/// Looks for an Argo CD Application or a Flux HelmRelease among `docs`.
pub fn find_values(docs: &[Node]) -> Embedded {
    for doc in docs {
        let api = scalar(doc, "apiVersion").unwrap_or_default();
        let kind = scalar(doc, "kind").unwrap_or_default();
        let at = doc.get("kind").map(|e| e.key_at).unwrap_or(doc.at);
        let name = child(doc, &["metadata", "name"])
            .and_then(|n| match &n.value {
                NodeValue::Str(s) => Some(s.as_str()),
                _ => None,
            })
            .unwrap_or("?");
        if kind == "Application" && api.starts_with("argoproj.io/") {
            let object = format!("Application/{name}");
            // A multi-source Application: the source that carries helm settings.
            let helm = child(doc, &["spec", "source", "helm"]).or_else(|| {
                match &child(doc, &["spec", "sources"])?.value {
                    NodeValue::Seq(items) => items.iter().find_map(|s| child(s, &["helm"])),
                    _ => None,
                }
            });
            let values = helm.and_then(|h| child(h, &["valuesObject"])).cloned();
            let unchecked = helm.and_then(|h| h.get("values")).map(|_| {
                "`helm.values` (a string) is not checked: move it to `helm.valuesObject`".to_owned()
            });
            return Embedded::Found {
                object,
                at,
                values,
                unchecked,
            };
        }
        if kind == "HelmRelease" && api.starts_with("helm.toolkit.fluxcd.io/") {
            let values = child(doc, &["spec", "values"]).cloned();
            return Embedded::Found {
                object: format!("HelmRelease/{name}"),
                at,
                values,
                unchecked: None,
            };
        }
    }
    Embedded::NotGitOps
}

/// Which GitOps tool a file's object belongs to: an Argo CD Application or
/// a Flux HelmRelease (`None` for a plain values file or unparsable text).
pub fn gitops_tool(text: &str) -> Option<crate::gitops::manifests::GitOps> {
    use crate::gitops::manifests::GitOps;
    let (docs, _) = crate::yaml::parse_documents(text, 0).ok()?;
    match find_values(&docs) {
        Embedded::Found { object, .. } if object.starts_with("Application/") => Some(GitOps::Argo),
        Embedded::Found { .. } => Some(GitOps::Flux),
        Embedded::NotGitOps => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse_documents;

    #[test]
    fn finds_values_in_argo_and_flux_objects() {
        let argo = "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: pop}\nspec:\n  source:\n    helm:\n      valuesObject:\n        edgeStack: {replicas: 2}\n";
        let (docs, _) = parse_documents(argo, 0).unwrap();
        let Embedded::Found { object, values, .. } = find_values(&docs) else {
            panic!()
        };
        assert_eq!(object, "Application/pop");
        let values = values.unwrap();
        assert_eq!(values.get("edgeStack").unwrap().key_at.line, 8);

        let flux = "apiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\nmetadata: {name: x}\n---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: pop}\nspec:\n  values:\n    provider: ack\n";
        let (docs, _) = parse_documents(flux, 0).unwrap();
        let Embedded::Found { values, .. } = find_values(&docs) else {
            panic!()
        };
        assert_eq!(values.unwrap().get("provider").unwrap().key_at.line, 10);

        let (docs, _) = parse_documents("edgeStack: {}\n", 0).unwrap();
        assert_eq!(find_values(&docs), Embedded::NotGitOps);

        use crate::gitops::manifests::GitOps;
        assert_eq!(gitops_tool(argo), Some(GitOps::Argo));
        assert_eq!(gitops_tool(flux), Some(GitOps::Flux));
        assert_eq!(gitops_tool("edgeStack: {}\n"), None);
    }
}
