//! `helm anywhere`: the command line over the `helm_anywhere` library.

use clap::{Parser, Subcommand, ValueEnum};
use helm_anywhere::doctor::{
    DoctorRequest, Status, connect, render_json as render_doctor_json,
    render_text as render_doctor_text, run_checks,
};
use helm_anywhere::gitops::detect::gitops_tool;
use helm_anywhere::gitops::manifests::{Deployment, GitOps};
use helm_anywhere::redact::Secrets;
use helm_anywhere::render::{RenderError, RenderRequest, drift, render, write_secret_file};
use helm_anywhere::report::{render_json, render_sarif, render_text};
use helm_anywhere::validate::{ValidateRequest, validate};
use helm_anywhere::version::{VersionRequest, versions};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use values_schema::values::Provider;
use values_schema::{Severity, with_defaults};

/// Checks fastly-anywhere values before they reach a cluster.
#[derive(Parser)]
#[command(name = "helm anywhere", version, disable_help_subcommand = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate values: every problem at once, with file:line:col.
    Validate(ValidateArgs),
    /// Write the Argo CD or Flux manifests that deploy the chart with these values.
    Render(RenderArgs),
    /// Check that the cluster meets the prerequisites, with the fix for each failure.
    Doctor(DoctorArgs),
    /// Print the chart's values JSON schema (draft-07).
    Schema,
    /// Print the versions of the plugin, the chart and its image; warn when they differ.
    Version(VersionArgs),
}

/// Values as `helm install` takes them, shared by `validate` and `render`.
#[derive(clap::Args)]
struct ValuesArgs {
    /// A values file (repeatable; later files win; `-` reads standard input).
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    values: Vec<PathBuf>,
    /// Set a value as `helm --set` does (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Set a string value as `helm --set-string` does (repeatable).
    #[arg(long = "set-string", value_name = "KEY=VALUE")]
    set_string: Vec<String>,
}

impl ValuesArgs {
    /// What to validate: these values over the defaults of `chart` (`None`:
    /// the chart built in).
    fn into_request(self, chart: Option<PathBuf>) -> ValidateRequest {
        ValidateRequest {
            files: self.values,
            sets: self.set,
            set_strings: self.set_string,
            chart,
        }
    }
}

#[derive(clap::Args)]
// `render --help` never mentioned `-` for standard input (though it works):
// keep its text word for word.
#[command(mut_arg("values", |a| a.help("A values file (repeatable; later files win)")))]
struct RenderArgs {
    /// The GitOps controller.
    #[arg(long, value_enum)]
    gitops: GitOpsArg,
    /// The cloud the cluster runs in.
    #[arg(long, value_enum)]
    provider: ProviderArg,
    #[command(flatten)]
    inputs: ValuesArgs,
    /// The chart in an OCI registry.
    #[arg(
        long,
        default_value = "oci://ghcr.io/fastly-anywhere/charts/fastly-anywhere"
    )]
    chart_ref: String,
    /// The chart version.
    #[arg(long, default_value = env!("CARGO_PKG_VERSION"))]
    version: String,
    /// The chart's registry speaks plain HTTP (Flux: `insecure: true`; needed
    /// unless it is on loopback or a private address).
    #[arg(long)]
    plain_http: bool,
    /// The namespace the POP runs in.
    #[arg(long, short = 'n', default_value = "fastly-anywhere")]
    namespace: String,
    /// The Helm release name.
    #[arg(long, default_value = "fastly-anywhere")]
    release: String,
    /// The namespace of the Application or HelmRelease (default: argocd or flux-system).
    #[arg(long)]
    gitops_namespace: Option<String>,
    /// The Secret holding both tokens, when the values name none.
    #[arg(long, default_value = "fastly-anywhere-tokens")]
    tokens_secret: String,
    /// Write the manifests into this directory instead of standard output.
    #[arg(long, value_name = "DIR")]
    output_dir: Option<PathBuf>,
    /// Compare with the files in --output-dir instead of writing; exit 1 on drift.
    #[arg(long, requires = "output_dir")]
    check: bool,
    /// Write the tokens found in the values to this Secret manifest (never commit it).
    #[arg(long, value_name = "FILE")]
    secret_file: Option<PathBuf>,
    /// CRD files to check the manifests against (default: built in).
    #[arg(long, value_name = "DIR")]
    crd_dir: Option<PathBuf>,
}

#[derive(clap::Args)]
struct VersionArgs {
    /// The chart directory (default: charts/fastly-anywhere beside the plugin).
    #[arg(long, value_name = "DIR")]
    chart: Option<PathBuf>,
    /// Values files that set image.tag or image.digest (repeatable).
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    values: Vec<PathBuf>,
}

#[derive(clap::Args)]
struct DoctorArgs {
    /// Values files (storage classes, footprint, replicas and Secrets are taken from them).
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    values: Vec<PathBuf>,
    /// The namespace the POP goes into (default: $HELM_NAMESPACE unless `default`, else fastly-anywhere).
    #[arg(long, short = 'n')]
    namespace: Option<String>,
    /// The Helm release name.
    #[arg(long, default_value = "fastly-anywhere")]
    release: String,
    /// The kubeconfig context (default: $HELM_KUBECONTEXT, else the current context).
    #[arg(long)]
    kube_context: Option<String>,
    /// The kubeconfig file (default: $KUBECONFIG, else ~/.kube/config).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = DoctorFormat::Text)]
    output: DoctorFormat,
    /// Also check the GitOps controllers that deploy the chart (default: the
    /// tool of a values file that is an Application or a HelmRelease).
    #[arg(long, value_enum)]
    gitops: Option<GitOpsArg>,
}

#[derive(Clone, Copy, ValueEnum)]
enum DoctorFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum GitOpsArg {
    Argo,
    Flux,
}

impl GitOpsArg {
    fn tool(self) -> GitOps {
        match self {
            GitOpsArg::Argo => GitOps::Argo,
            GitOpsArg::Flux => GitOps::Flux,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum ProviderArg {
    Gke,
    Ack,
    Generic,
}

#[derive(clap::Args)]
struct ValidateArgs {
    #[command(flatten)]
    inputs: ValuesArgs,
    /// A chart directory whose values.yaml gives the defaults (default: the
    /// chart this plugin was built with).
    #[arg(long, value_name = "DIR")]
    chart: Option<PathBuf>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Text)]
    output: Format,
    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    strict: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
    Sarif,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap quotes the argument it rejects, which may be a
            // `fastly_key=…` given to the wrong flag.
            let text = Secrets::default().mask(&e.render().to_string());
            return if e.use_stderr() {
                eprint!("{text}");
                ExitCode::from(2)
            } else {
                let _ = emit(&text);
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Command::Schema => emit(&values_schema::schema::values_schema_json()),
        Command::Version(args) => run_version(args),
        Command::Validate(args) => run_validate(args),
        Command::Render(args) => run_render(args),
        Command::Doctor(args) => run_doctor(args),
    }
}

fn run_validate(args: ValidateArgs) -> ExitCode {
    let request = args.inputs.into_request(args.chart);
    let outcome = match validate(&request) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let text = match args.output {
        Format::Text => render_text(&outcome),
        Format::Json => render_json(&outcome),
        Format::Sarif => render_sarif(&outcome),
    };
    let code = emit(&text);
    if code != ExitCode::SUCCESS {
        return code;
    }
    let failing = outcome.count(Severity::Error)
        + if args.strict {
            outcome.count(Severity::Warning)
        } else {
            0
        };
    if failing > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn run_version(args: VersionArgs) -> ExitCode {
    let request = VersionRequest {
        chart: args.chart,
        values: args.values,
    };
    let found = match versions(&request) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let code = emit(&found.render_text());
    if found.chart.is_none() {
        eprintln!(
            "note: no chart found beside the plugin; pass --chart DIR to compare its versions"
        );
    }
    for warning in found.mismatches() {
        eprintln!("warning: {warning}");
    }
    code
}

fn run_render(args: RenderArgs) -> ExitCode {
    let gitops = args.gitops.tool();
    let request = RenderRequest {
        inputs: args.inputs.into_request(None),
        gitops,
        provider: match args.provider {
            ProviderArg::Gke => Provider::Gke,
            ProviderArg::Ack => Provider::Ack,
            ProviderArg::Generic => Provider::Generic,
        },
        deployment: Deployment {
            chart_ref: args.chart_ref,
            version: args.version,
            release: args.release,
            namespace: args.namespace,
            plain_http: args.plain_http,
            gitops_namespace: args.gitops_namespace.unwrap_or_else(|| {
                match gitops {
                    GitOps::Argo => "argocd",
                    GitOps::Flux => "flux-system",
                }
                .to_owned()
            }),
        },
        tokens_secret: args.tokens_secret,
        crd_dir: args.crd_dir,
    };
    let rendered = match render(&request) {
        Ok(r) => r,
        Err(RenderError::Invalid(outcome)) => {
            let _ = emit(&render_text(&outcome));
            return ExitCode::from(1);
        }
        Err(e @ (RenderError::Inputs(_) | RenderError::Crd(_) | RenderError::ChartRef(_))) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    if let Some(file) = &args.secret_file {
        let Some(secret) = &rendered.tokens_secret_manifest else {
            eprintln!("error: --secret-file: the values hold no token to write");
            return ExitCode::from(2);
        };
        if let Err(e) = write_secret_file(file, secret) {
            eprintln!("error: cannot write {}: {e}", file.display());
            return ExitCode::from(2);
        }
    }
    match (&args.output_dir, args.check) {
        (Some(dir), true) => {
            let drifted = drift(dir, &rendered.files);
            if !drifted.is_empty() {
                eprintln!("drift: these files differ from a fresh render:");
                drifted.iter().for_each(|f| eprintln!("  {f}"));
                return ExitCode::from(1);
            }
            eprintln!("no drift: {} file(s) up to date", rendered.files.len());
            return ExitCode::SUCCESS;
        }
        (Some(dir), false) => {
            if let Err(e) = std::fs::create_dir_all(dir) {
                eprintln!("error: cannot create {}: {e}", dir.display());
                return ExitCode::from(2);
            }
            for (name, text) in &rendered.files {
                let path = dir.join(name);
                if let Err(e) = std::fs::write(&path, text) {
                    eprintln!("error: cannot write {}: {e}", path.display());
                    return ExitCode::from(2);
                }
                eprintln!("wrote {}", path.display());
            }
        }
        (None, _) => {
            let all: Vec<&str> = rendered.files.iter().map(|(_, t)| t.as_str()).collect();
            let code = emit(&all.join("---\n"));
            if code != ExitCode::SUCCESS {
                return code;
            }
        }
    }
    rendered.notes.iter().for_each(|n| eprintln!("{n}"));
    ExitCode::SUCCESS
}

fn run_doctor(args: DoctorArgs) -> ExitCode {
    // The tool named on the command line, else the one whose manifest was
    // given as values (unreadable files are reported by validate below).
    let gitops = args.gitops.map(GitOpsArg::tool).or_else(|| {
        args.values
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .find_map(|text| gitops_tool(&text))
    });
    let request = ValidateRequest {
        files: args.values,
        ..Default::default()
    };
    let outcome = match validate(&request) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let values: values_schema::Values =
        match serde_json::from_value(with_defaults(&outcome.user_values)) {
            Ok(v) => v,
            Err(_) => {
                eprintln!(
                    "error: the values are invalid; run `helm anywhere validate` on them first"
                );
                return ExitCode::from(2);
            }
        };
    let namespace = args
        .namespace
        .or_else(|| {
            std::env::var("HELM_NAMESPACE")
                .ok()
                .filter(|n| n != "default" && !n.is_empty())
        })
        .unwrap_or_else(|| "fastly-anywhere".into());
    let context = args.kube_context.or_else(|| {
        std::env::var("HELM_KUBECONTEXT")
            .ok()
            .filter(|c| !c.is_empty())
    });
    let mut doctor_request = DoctorRequest::from_values(&values, namespace.clone(), args.release);
    doctor_request.gitops = gitops;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        let (client, target) = connect(args.kubeconfig.as_deref(), context).await?;
        let checks = run_checks(&client, &doctor_request).await;
        Ok::<_, helm_anywhere::doctor::DoctorError>((
            format!("{target}, namespace {namespace}"),
            checks,
        ))
    });
    let (target, mut checks) = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {}", outcome.secrets.mask(&e.to_string()));
            return ExitCode::from(2);
        }
    };
    // Checks name Secrets and keys, never their contents; masked all the
    // same, should a value ever reach a message.
    for check in &mut checks {
        check.detail = outcome.secrets.mask(&check.detail);
        check.fix = check.fix.as_deref().map(|f| outcome.secrets.mask(f));
    }
    let text = match args.output {
        DoctorFormat::Text => render_doctor_text(&target, &checks),
        DoctorFormat::Json => render_doctor_json(&target, &checks),
    };
    let code = emit(&text);
    if code != ExitCode::SUCCESS {
        return code;
    }
    if checks.iter().any(|c| c.status == Status::Fail) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn emit(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`| head`) is not an error worth a message.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot write output: {e}");
            ExitCode::from(2)
        }
    }
}
