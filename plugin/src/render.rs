//! `helm anywhere render`: the GitOps manifests for a gitops × provider
//! combination, made from the user's values after they validate. Tokens
//! never reach the output: in `fastly` mode they are replaced by a reference
//! to a Secret; in `offline` mode, which reads none, they are left out.
//! Every custom resource is checked against its CRD before it is written.

use crate::gitops::crds::{CrdError, CrdSchemas};
use crate::gitops::manifests::{
    BadChartRef, Deployment, GitOps, argo_application, argo_repository_secret, flux_objects,
    to_yaml,
};
use crate::validate::{Outcome, ValidateError, ValidateRequest, validate};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};
use values_schema::values::Provider;
use values_schema::{Code, Severity, check_values, with_defaults};

/// What to render.
#[derive(Debug, Clone)]
pub struct RenderRequest {
    /// The values, as for `validate`.
    pub inputs: ValidateRequest,
    /// Argo CD or Flux.
    pub gitops: GitOps,
    /// The cloud; written into the values.
    pub provider: Provider,
    /// Chart, release and namespaces.
    pub deployment: Deployment,
    /// The Secret that holds the tokens in the POP's namespace.
    pub tokens_secret: String,
    /// Where CRD schemas come from (default: built in).
    pub crd_dir: Option<PathBuf>,
}

/// What `render` made.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// File names and contents, in order.
    pub files: Vec<(String, String)>,
    /// A Secret manifest with the tokens found in the values, if any (only
    /// ever written to a separate file on request).
    pub tokens_secret_manifest: Option<String>,
    /// Instructions for the user (the Secret to create).
    pub notes: Vec<String>,
}

/// Why nothing was rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The inputs could not be read.
    #[error(transparent)]
    Inputs(#[from] ValidateError),
    /// The values are invalid: the validate report says why.
    #[error("the values are invalid")]
    Invalid(Box<Outcome>),
    /// The values name another provider than `--provider`.
    #[error("the values say `provider: {values}` but --provider is `{flag}`: remove one of them")]
    ProviderConflict {
        /// In the values.
        values: String,
        /// On the command line.
        flag: String,
    },
    /// A bad `--chart-ref`.
    #[error(transparent)]
    ChartRef(#[from] BadChartRef),
    /// CRD schemas unavailable.
    #[error(transparent)]
    Crd(#[from] CrdError),
    /// A rendered object does not pass its CRD (a bug: reported, never written).
    #[error("{object} does not pass its CRD schema:\n  {}", problems.join("\n  "))]
    NotValid {
        /// The object.
        object: String,
        /// What is wrong.
        problems: Vec<String>,
    },
    /// The values after moving the tokens do not pass (a bug).
    #[error("the values written would not validate: {0}")]
    Inconsistent(String),
}

/// Renders the manifests.
pub fn render(request: &RenderRequest) -> Result<Rendered, RenderError> {
    let outcome = validate(&request.inputs)?;
    // Tokens that are missing or inline are what render fixes: it points
    // the chart at a Secret. Anything else wrong stops it.
    let blocking = outcome.findings.iter().any(|f| {
        f.finding.severity == Severity::Error && !matches!(f.finding.code, Code::TokenMissing)
    });
    if blocking {
        return Err(RenderError::Invalid(Box::new(outcome)));
    }
    // Whatever render prints besides the manifests goes through the mask.
    let secrets = outcome.secrets;
    let mut values = match outcome.user_values {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    if let Some(p) = values.get("provider").and_then(Value::as_str)
        && p != request.provider.as_str()
    {
        return Err(RenderError::ProviderConflict {
            values: secrets.mask(p),
            flag: request.provider.as_str().to_owned(),
        });
    }
    values.insert("provider".into(), json!(request.provider.as_str()));
    let offline =
        with_defaults(&Value::Object(values.clone()))["controlPlane"]["mode"] == "offline";

    let (bootstrap, key) = take_tokens(&mut values);
    let secret_named = values
        .get("existingSecret")
        .and_then(|s| s.get("name"))
        .and_then(Value::as_str)
        .map(String::from);
    let secret = secret_named
        .clone()
        .unwrap_or_else(|| request.tokens_secret.clone());
    if secret_named.is_none() && !offline {
        let entry = values.entry("existingSecret").or_insert_with(|| json!({}));
        if let Value::Object(m) = entry {
            m.insert("name".into(), json!(secret));
        }
    }
    let values = Value::Object(values);
    let (errors, warnings): (Vec<_>, Vec<_>) = check_values(&with_defaults(&values))
        .map_err(|e| RenderError::Inconsistent(e.to_string()))?
        .into_iter()
        .map(|f| {
            (
                f.severity,
                secrets.mask(&format!(
                    "{}[{}]: {}: {}",
                    f.severity, f.code, f.path, f.message
                )),
            )
        })
        .partition(|(severity, _)| *severity == Severity::Error);
    if !errors.is_empty() {
        let errors: Vec<String> = errors.into_iter().map(|(_, e)| e).collect();
        return Err(RenderError::Inconsistent(errors.join("; ")));
    }

    let d = &request.deployment;
    let objects = match request.gitops {
        GitOps::Argo => vec![
            ("application.yaml", argo_application(d, &values)?),
            ("repository.yaml", argo_repository_secret(d)?),
        ],
        GitOps::Flux => {
            let mut o = flux_objects(d, &values)?.into_iter();
            let (repo, release) = (o.next(), o.next());
            [("ocirepository.yaml", repo), ("helmrelease.yaml", release)]
                .into_iter()
                .filter_map(|(n, v)| v.map(|v| (n, v)))
                .collect()
        }
    };
    let crds = match &request.crd_dir {
        Some(dir) => CrdSchemas::from_dir(dir)?,
        None => CrdSchemas::built_in()?,
    };
    let header = format!(
        "# Generated by `helm anywhere render --gitops {} --provider {}`: edit the values and render again.\n",
        request.gitops.as_str(),
        request.provider.as_str()
    );
    let mut files = Vec::new();
    for (name, object) in objects {
        // Core objects (the repository Secret) have no CRD to pass.
        let problems = if object["apiVersion"] == "v1" {
            Vec::new()
        } else {
            crds.check(&object)?
        };
        if !problems.is_empty() {
            return Err(RenderError::NotValid {
                object: format!(
                    "{} {}",
                    object["kind"].as_str().unwrap_or_default(),
                    object["metadata"]["name"]
                ),
                problems: problems.iter().map(|p| secrets.mask(p)).collect(),
            });
        }
        files.push((name.to_owned(), to_yaml(&object, &header)));
    }

    let ns = &d.namespace;
    // Warnings about the values as written (with the provider applied).
    let mut notes: Vec<String> = warnings.into_iter().map(|(_, w)| w).collect();
    notes.extend(pull_secret_note(&values, ns));
    if d.plain_http && request.gitops == GitOps::Argo {
        notes.push("--plain-http: the repository Secret sets insecureOCIForceHttp, but Argo CD 3.2 does not pass it to `helm pull` for Helm charts: the chart comes over plain HTTP only from a registry Helm falls back to HTTP for (loopback); serve it over HTTPS otherwise.".into());
    }
    let tokens_found = bootstrap.is_some() || key.is_some();
    if offline {
        if tokens_found {
            notes.push("controlPlane.mode is offline: the tokens found in the values are not used, and were left out of the manifests.".into());
        }
        return Ok(Rendered {
            files,
            tokens_secret_manifest: None,
            notes,
        });
    }
    notes.push(format!(
        "The chart reads both tokens from the Secret `{secret}` in namespace `{ns}`; create it once, outside Git:\n  kubectl create secret generic {secret} --namespace {ns} \\\n    --from-literal=bootstrap-token=\"$BOOTSTRAP_TOKEN\" --from-literal=fastly-key=\"$FASTLY_KEY\""
    ));
    let tokens_secret_manifest = if tokens_found {
        notes.push("Tokens found in the values were left out of the manifests (--secret-file writes them to a Secret manifest of their own; do not commit it).".into());
        Some(secret_manifest(
            &secret,
            ns,
            bootstrap.as_deref(),
            key.as_deref(),
        ))
    } else {
        None
    };
    Ok(Rendered {
        files,
        tokens_secret_manifest,
        notes,
    })
}

/// How to create the registry Secret the pods pull the image with: every
/// rendered install needs it, whatever the mode.
fn pull_secret_note(values: &Value, ns: &str) -> Option<String> {
    let name = with_defaults(values)["imagePullSecrets"][0]["name"]
        .as_str()?
        .to_owned();
    Some(format!(
        "The pods pull the runtime image with the registry Secret `{name}` in namespace `{ns}`; create it once, outside Git:\n  kubectl create secret docker-registry {name} --namespace {ns} \\\n    --docker-server=REGISTRY --docker-username=USER --docker-password=\"$REGISTRY_PASSWORD\""
    ))
}

/// Removes the tokens from the values and returns them.
fn take_tokens(values: &mut Map<String, Value>) -> (Option<String>, Option<String>) {
    let key = values
        .remove("fastly_key")
        .and_then(|v| v.as_str().map(String::from));
    let mut bootstrap = None;
    if let Some(Value::Object(b)) = values.get_mut("bootstrap") {
        bootstrap = b.remove("token").and_then(|v| v.as_str().map(String::from));
        if b.is_empty() {
            values.remove("bootstrap");
        }
    }
    (bootstrap, key)
}

fn secret_manifest(name: &str, ns: &str, bootstrap: Option<&str>, key: Option<&str>) -> String {
    let mut data = Map::new();
    if let Some(b) = bootstrap {
        data.insert("bootstrap-token".into(), json!(b));
    }
    if let Some(k) = key {
        data.insert("fastly-key".into(), json!(k));
    }
    let secret = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": name, "namespace": ns},
        "stringData": data,
    });
    to_yaml(
        &secret,
        "# Holds tokens: apply it with kubectl, never commit it.\n",
    )
}

/// Writes the tokens' Secret manifest to `path`, readable by its owner only
/// from the moment it exists: a new file created with mode 0600 beside
/// `path`, then renamed over it. A symbolic link at `path` is refused (it
/// could send the tokens anywhere the link points), as is anything but a
/// regular file.
pub fn write_secret_file(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::{Error, ErrorKind, Write};
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "it is a symbolic link: refusing to follow it (remove it, or name another file)",
            ));
        }
        Ok(m) if !m.is_file() => {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "it exists and is not a regular file",
            ));
        }
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let name = path
        .file_name()
        .ok_or_else(|| Error::new(ErrorKind::InvalidInput, "not a file name"))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut attempt = 0u32;
    let (tmp, mut file) = loop {
        let tmp = dir.join(format!(
            ".{}.{}.{attempt}.tmp",
            name.to_string_lossy(),
            std::process::id()
        ));
        let mut options = std::fs::OpenOptions::new();
        // create_new: O_CREAT|O_EXCL, which fails on any existing name,
        // a symbolic link included, rather than follow it.
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&tmp) {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == ErrorKind::AlreadyExists && attempt < 100 => attempt += 1,
            Err(e) => return Err(e),
        }
    };
    let written = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Files in `dir` that differ from `files` (missing ones included).
pub fn drift(dir: &Path, files: &[(String, String)]) -> Vec<String> {
    files
        .iter()
        .filter(|(name, text)| {
            std::fs::read_to_string(dir.join(name)).ok().as_deref() != Some(text.as_str())
        })
        .map(|(name, _)| dir.join(name).display().to_string())
        .collect()
}
