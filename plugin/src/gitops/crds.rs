//! CustomResourceDefinition schemas, and checking custom resources against
//! them in process: the schema itself, and fields the API server would
//! prune silently because the structural schema does not declare them.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// The CRD files `render` needs (Argo CD Application, Flux HelmRelease v2,
/// OCIRepository v1) and those the chart's objects use (cert-manager).
pub const CRD_FILES: &[&str] = &[
    "argocd-applications.yaml",
    "flux-helmreleases.yaml",
    "flux-ocirepositories.yaml",
    "flux-helmrepositories.yaml",
    "cert-manager-v1.14.7-certificates.yaml",
    "cert-manager-v1.14.7-issuers.yaml",
    "cert-manager-v1.14.7-clusterissuers.yaml",
];

/// Why CRD schemas could not be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    /// A file could not be read.
    #[error("cannot read CRD file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A file is not a CRD.
    #[error("{path} is not a CustomResourceDefinition: {message}")]
    Parse {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// The plugin was built without CRDs and none were given.
    #[error(
        "this build has no CRD schemas built in: pass --crd-dir with the CRDs of Argo CD, Flux and cert-manager"
    )]
    NotBuiltIn,
    /// No schema for an object's kind.
    #[error("no CRD schema for {0}")]
    UnknownKind(String),
}

/// Schemas by `group/version` and kind.
#[derive(Debug, Default)]
pub struct CrdSchemas {
    schemas: BTreeMap<(String, String), Value>,
}

#[cfg(crds_built_in)]
const BUILT_IN: &[(&str, &str)] = &[
    (
        "argocd-applications.yaml",
        include_str!(concat!(
            env!("ANYWHERE_CRDS_DIR"),
            "/argocd-applications.yaml"
        )),
    ),
    (
        "flux-helmreleases.yaml",
        include_str!(concat!(
            env!("ANYWHERE_CRDS_DIR"),
            "/flux-helmreleases.yaml"
        )),
    ),
    (
        "flux-ocirepositories.yaml",
        include_str!(concat!(
            env!("ANYWHERE_CRDS_DIR"),
            "/flux-ocirepositories.yaml"
        )),
    ),
    (
        "flux-helmrepositories.yaml",
        include_str!(concat!(
            env!("ANYWHERE_CRDS_DIR"),
            "/flux-helmrepositories.yaml"
        )),
    ),
    (
        "cert-manager-v1.14.7-certificates.yaml",
        include_str!(concat!(
            env!("ANYWHERE_CRDS_DIR"),
            "/cert-manager-v1.14.7-certificates.yaml"
        )),
    ),
    (
        "cert-manager-v1.14.7-issuers.yaml",
        include_str!(concat!(
            env!("ANYWHERE_CRDS_DIR"),
            "/cert-manager-v1.14.7-issuers.yaml"
        )),
    ),
    (
        "cert-manager-v1.14.7-clusterissuers.yaml",
        include_str!(concat!(
            env!("ANYWHERE_CRDS_DIR"),
            "/cert-manager-v1.14.7-clusterissuers.yaml"
        )),
    ),
];

#[cfg(not(crds_built_in))]
const BUILT_IN: &[(&str, &str)] = &[];

impl CrdSchemas {
    /// The schemas built into this binary.
    pub fn built_in() -> Result<Self, CrdError> {
        if BUILT_IN.is_empty() {
            return Err(CrdError::NotBuiltIn);
        }
        let mut s = CrdSchemas::default();
        for (name, text) in BUILT_IN {
            s.add(name, text)?;
        }
        Ok(s)
    }

    /// The schemas of every `*.yaml` CRD in `dir`.
    pub fn from_dir(dir: &Path) -> Result<Self, CrdError> {
        let mut s = CrdSchemas::default();
        for name in CRD_FILES {
            let path = dir.join(name);
            let text = std::fs::read_to_string(&path).map_err(|source| CrdError::Read {
                path: path.display().to_string(),
                source,
            })?;
            s.add(&path.display().to_string(), &text)?;
        }
        Ok(s)
    }

    fn add(&mut self, path: &str, text: &str) -> Result<(), CrdError> {
        let bad = |message: String| CrdError::Parse {
            path: path.to_owned(),
            message,
        };
        let crd: Value = serde_yaml::from_str(text).map_err(|e| bad(e.to_string()))?;
        let group = crd["spec"]["group"]
            .as_str()
            .ok_or_else(|| bad("no spec.group".into()))?;
        let kind = crd["spec"]["names"]["kind"]
            .as_str()
            .ok_or_else(|| bad("no spec.names.kind".into()))?;
        let versions = crd["spec"]["versions"]
            .as_array()
            .ok_or_else(|| bad("no spec.versions".into()))?;
        for v in versions {
            let name = v["name"].as_str().unwrap_or_default();
            let schema = v["schema"]["openAPIV3Schema"].clone();
            self.schemas
                .insert((format!("{group}/{name}"), kind.to_owned()), schema);
        }
        Ok(())
    }

    /// Every problem of `object` against its CRD: schema violations and
    /// undeclared fields, each as `path: message`.
    pub fn check(&self, object: &Value) -> Result<Vec<String>, CrdError> {
        let api = object["apiVersion"].as_str().unwrap_or_default();
        let kind = object["kind"].as_str().unwrap_or_default();
        let schema = self
            .schemas
            .get(&(api.to_owned(), kind.to_owned()))
            .ok_or_else(|| CrdError::UnknownKind(format!("{api} {kind}")))?;
        let validator = jsonschema::validator_for(schema).map_err(|e| CrdError::Parse {
            path: format!("{api} {kind}"),
            message: e.to_string(),
        })?;
        let mut problems: Vec<String> = validator
            .iter_errors(object)
            .map(|e| format!("{}: {e}", e.instance_path().as_str()))
            .collect();
        let mut unknown = Vec::new();
        undeclared_fields(schema, object, "", &mut unknown);
        problems.extend(
            unknown
                .into_iter()
                .map(|p| format!("{p}: not declared by the CRD (the API server would drop it)")),
        );
        Ok(problems)
    }
}

/// Fields a structural schema does not declare, which the API server prunes
/// silently (`apiVersion`, `kind` and `metadata` at the top are the API's).
pub fn undeclared_fields(schema: &Value, value: &Value, path: &str, found: &mut Vec<String>) {
    if schema["x-kubernetes-preserve-unknown-fields"] == true {
        return;
    }
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if path.is_empty() && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                let here = format!("{path}/{k}");
                if let Some(sub) = schema["properties"].get(k) {
                    undeclared_fields(sub, v, &here, found);
                } else if schema["additionalProperties"].is_object() {
                    undeclared_fields(&schema["additionalProperties"], v, &here, found);
                } else {
                    found.push(here);
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                undeclared_fields(&schema["items"], v, &format!("{path}/{i}"), found);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_undeclared_fields() {
        let schema = json!({"properties": {"spec": {"properties": {"a": {"type": "string"}, "m": {"additionalProperties": {"type": "string"}}, "free": {"x-kubernetes-preserve-unknown-fields": true}}}}});
        let obj = json!({"apiVersion": "x", "kind": "Y", "metadata": {"name": "n"}, "spec": {"a": "1", "b": 2, "m": {"k": "v"}, "free": {"z": 1}}});
        let mut found = Vec::new();
        undeclared_fields(&schema, &obj, "", &mut found);
        assert_eq!(found, ["/spec/b"]);
    }
}
