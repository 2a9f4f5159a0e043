//! `helm anywhere validate`: merges the chart's defaults, values files and
//! `--set` flags as Helm does, checks the result against the schema and the
//! semantic rules, and places every finding at the file, line and column
//! where the offending key or value was written. The outcome holds no
//! secret but in `user_values`: tokens are replaced in the inputs' texts and
//! in the findings before it is returned (see [`crate::redact`]).

use crate::gitops::detect::{Embedded, find_values};
use crate::merge::{apply_set, coalesce, merge_files};
use crate::redact::Secrets;
use crate::set_flags::parse_set;
use crate::source::{Origin, SourceKind, Sources};
use crate::yaml::{Node, ParseProblem, as_values, parse_document, parse_documents};
use std::io::Read;
use std::path::{Path, PathBuf};
use values_schema::finding::Target;
use values_schema::schema_check::SchemaError;
use values_schema::{Finding, KeyPath, Severity};
use values_schema::{check_values, is_secret};

/// The chart's default values, built in so that the plugin works without a
/// checkout of the chart.
const BUILT_IN_DEFAULTS: &str = include_str!("../../charts/fastly-anywhere/values.yaml");

/// What to validate.
#[derive(Debug, Clone, Default)]
pub struct ValidateRequest {
    /// Values files in order (`-` is standard input).
    pub files: Vec<PathBuf>,
    /// `--set` arguments in order.
    pub sets: Vec<String>,
    /// `--set-string` arguments in order.
    pub set_strings: Vec<String>,
    /// A chart directory whose `values.yaml` gives the defaults.
    pub chart: Option<PathBuf>,
}

/// Why validation could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    /// A values file or the chart could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The chart's own defaults do not parse.
    #[error("the chart's values.yaml at {path} is not valid YAML: {message}")]
    BadDefaults {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// A bug: the built-in schema does not compile.
    #[error(transparent)]
    Schema(#[from] SchemaError),
}

/// A finding and where it was written.
#[derive(Debug, Clone)]
pub struct Located {
    /// The finding.
    pub finding: Finding,
    /// Where, when it can be placed.
    pub at: Option<Origin>,
}

/// The result of a validation.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Every input, to show snippets, with the secrets replaced.
    pub sources: Sources,
    /// Every finding, in the order of the inputs, with the secrets replaced.
    pub findings: Vec<Located>,
    /// The user's values (files and flags merged, without the chart's
    /// defaults), as JSON; null when a file did not parse. The only part of
    /// the outcome that holds the tokens: never print it.
    pub user_values: serde_json::Value,
    /// The secrets found in the inputs, to mask anything else printed.
    pub secrets: Secrets,
}

impl Outcome {
    /// Number of findings of a severity.
    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.finding.severity == severity)
            .count()
    }
}

/// Runs a validation.
pub fn validate(request: &ValidateRequest) -> Result<Outcome, ValidateError> {
    validate_with(request, &mut |path| {
        if path.as_os_str() == "-" {
            read_stdin()
        } else {
            read(path)
        }
    })
}

/// Runs a validation, with the files (values files, `-` for standard
/// input, the chart's `values.yaml`) read by `read`: tests and the fuzz
/// harness hand texts over without files.
pub fn validate_with(
    request: &ValidateRequest,
    read: &mut dyn FnMut(&Path) -> Result<String, ValidateError>,
) -> Result<Outcome, ValidateError> {
    let mut sources = Sources::default();
    let mut findings: Vec<Located> = Vec::new();
    let mut secrets = Secrets::default();

    let (defaults_name, defaults_text) = match &request.chart {
        Some(dir) => {
            let path = dir.join("values.yaml");
            (path.display().to_string(), read(&path)?)
        }
        None => (
            "fastly-anywhere/values.yaml (chart defaults)".to_owned(),
            BUILT_IN_DEFAULTS.to_owned(),
        ),
    };
    let defaults_id = sources.add(&defaults_name, SourceKind::File, defaults_text.clone());
    let (defaults, _) =
        parse_document(&defaults_text, defaults_id).map_err(|p| ValidateError::BadDefaults {
            path: defaults_name.clone(),
            message: p.message,
        })?;
    secrets.collect(&defaults, &KeyPath::root());

    let mut user = Node::empty_map(Origin {
        source: defaults_id,
        line: 1,
        col: 1,
        len: 0,
    });
    let mut last_file = None;
    for file in &request.files {
        let name = file.display().to_string();
        let text = read(file)?;
        let id = sources.add(&name, SourceKind::File, text.clone());
        last_file = Some(id);
        match read_values(&text, id) {
            Ok((node, problems)) => {
                secrets.collect(&node, &KeyPath::root());
                findings.extend(
                    problems
                        .into_iter()
                        .map(|p| problem(p.code, p.at, p.message, p.help)),
                );
                merge_files(&mut user, node);
            }
            Err(p) => findings.push(problem(p.code, p.at, p.message, p.help)),
        }
    }
    // Helm applies every --set before every --set-string.
    let flags = request.sets.iter().map(|s| ("--set", s, false)).chain(
        request
            .set_strings
            .iter()
            .map(|s| ("--set-string", s, true)),
    );
    for (flag, text, as_string) in flags {
        let id = sources.add(
            format!("{flag} {text}"),
            SourceKind::Flag(flag),
            text.clone(),
        );
        match parse_set(text, id, as_string) {
            Ok(assignments) => {
                for a in assignments {
                    if is_secret(&KeyPath(a.path.clone())) {
                        secrets.add(&a.value);
                    }
                    apply_set(&mut user, a);
                }
            }
            Err(e) => findings.push(problem(
                values_schema::Code::SetSyntax,
                e.at,
                e.message,
                Some(format!("write {flag} KEY=VALUE[,KEY=VALUE], with keys such as edgeStack.replicas or services[0].name")),
            )),
        }
    }

    let user_values = user.to_json();
    let merged = coalesce(defaults, user);
    // With a file that did not parse, the merged values are not what the
    // user meant: checking them would only add noise to the syntax errors.
    if findings.iter().any(|f| {
        matches!(
            f.finding.code,
            values_schema::Code::YamlSyntax | values_schema::Code::NotAMapping
        )
    }) {
        return Ok(redacted(
            sources,
            findings,
            serde_json::Value::Null,
            secrets,
        ));
    }
    let json = merged.to_json();
    let checked = check_values(&json)?;
    for mut finding in checked {
        let at = locate(&merged, &finding, defaults_id, last_file);
        if let Some(SourceKind::Flag(flag)) =
            at.and_then(|a| sources.get(a.source)).map(|s| &s.kind)
            && finding.code == values_schema::Code::WrongType
        {
            finding.help = Some(flag_type_help(flag, finding.help.take()));
        }
        findings.push(Located { finding, at });
    }
    findings.sort_by_key(|f| {
        let at =
            f.at.map(|a| (a.source, a.line, a.col))
                .unwrap_or((usize::MAX, 0, 0));
        (at, f.finding.code, f.finding.path.clone())
    });
    Ok(redacted(sources, findings, user_values, secrets))
}

/// The outcome, with every secret replaced in the inputs' texts and in the
/// findings' messages.
fn redacted(
    mut sources: Sources,
    mut findings: Vec<Located>,
    user_values: serde_json::Value,
    secrets: Secrets,
) -> Outcome {
    sources.redact(&secrets);
    for f in &mut findings {
        f.finding.message = secrets.mask(&f.finding.message);
        f.finding.help = f.finding.help.as_deref().map(|h| secrets.mask(h));
    }
    Outcome {
        sources,
        findings,
        user_values,
        secrets,
    }
}

/// The values a file holds: the file itself, or the values embedded in the
/// Argo CD Application or Flux HelmRelease it contains.
fn read_values(text: &str, source: usize) -> Result<(Node, Vec<ParseProblem>), ParseProblem> {
    let (docs, mut problems) = parse_documents(text, source)?;
    match find_values(&docs) {
        Embedded::NotGitOps => as_values(docs.into_iter().next(), source, problems),
        Embedded::Found {
            object,
            at,
            values,
            unchecked,
        } => {
            if let Some(note) = unchecked {
                problems.push(ParseProblem {
                    code: values_schema::Code::GitOpsValuesUnchecked,
                    at,
                    message: format!("{object}: {note}"),
                    help: Some(
                        "Argo CD accepts the same values as a YAML object under `valuesObject`"
                            .into(),
                    ),
                });
            }
            if values.is_none() {
                problems.push(ParseProblem {
                    code: values_schema::Code::GitOpsNoValues,
                    at,
                    message: format!(
                        "{object} embeds no chart values: only the chart's defaults are checked"
                    ),
                    help: None,
                });
            }
            as_values(values, source, problems)
        }
    }
}

/// `--set` types values by their look, not by the schema: explain that
/// instead of the advice meant for YAML files.
fn flag_type_help(flag: &str, yaml_help: Option<String>) -> String {
    match (flag, yaml_help.as_deref()) {
        ("--set", Some(h)) if h.starts_with("remove the quotes") => {
            "`--set` passes decimals as strings: put this value in a values file instead".into()
        }
        ("--set-string", _) => {
            "`--set-string` always gives a string: use `--set` for numbers and booleans".into()
        }
        (_, Some(h)) if h.starts_with("quote it") => {
            "use `--set-string` to pass it as a string".into()
        }
        (_, h) => h.unwrap_or_default().to_owned(),
    }
}

fn problem(
    code: values_schema::Code,
    at: Origin,
    message: String,
    help: Option<String>,
) -> Located {
    let mut finding = Finding::new(code, KeyPath::root(), message);
    finding.help = help;
    Located {
        finding,
        at: Some(at),
    }
}

/// Where a finding was written: the key or value at its path, else the
/// nearest ancestor that was written. Something that only the chart's
/// defaults hold (a key the user left out) is placed at a related key the
/// user wrote, else at the top of the user's last values file, which is
/// where the fix goes.
fn locate(
    merged: &Node,
    finding: &Finding,
    defaults: usize,
    last_file: Option<usize>,
) -> Option<Origin> {
    let mut path = finding.path.clone();
    let mut exact = true;
    let at = loop {
        if let Some((node, key_at)) = merged.find(&path) {
            let at = match (finding.target, key_at) {
                (Target::Key, Some(k)) => k,
                _ if !exact => key_at.unwrap_or(node.at),
                _ => node.at,
            };
            break at;
        }
        if path.is_root() {
            return None;
        }
        path = path.parent();
        exact = false;
    };
    if at.source != defaults {
        return Some(at);
    }
    // Only the chart's defaults hold this key. A related key the user wrote
    // (the drain delay of a grace period too short) is where the fix goes.
    for other in &finding.related {
        if let Some((node, _)) = merged.find(other)
            && node.at.source != defaults
        {
            return Some(node.at);
        }
    }
    // Else point at the closest key the user wrote above it, else at the top
    // of the user's last file.
    while !path.is_root() {
        path = path.parent();
        if let Some((_, Some(key_at))) = merged.find(&path)
            && key_at.source != defaults
        {
            return Some(key_at);
        }
    }
    match last_file {
        Some(file) => Some(Origin {
            source: file,
            line: 1,
            col: 1,
            len: 0,
        }),
        None => Some(at),
    }
}

fn read(path: &Path) -> Result<String, ValidateError> {
    std::fs::read_to_string(path).map_err(|source| ValidateError::Read {
        path: path.display().to_string(),
        source,
    })
}

fn read_stdin() -> Result<String, ValidateError> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|source| ValidateError::Read {
            path: "-".into(),
            source,
        })?;
    Ok(text)
}
