//! `helm anywhere`: the command line over the `helm_anywhere` library.

use clap::{Parser, Subcommand, ValueEnum};
use helm_anywhere::report::{render_json, render_sarif, render_text};
use helm_anywhere::validate::{ValidateRequest, validate};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use values_schema::Severity;

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
    /// Print the chart's values JSON schema (draft-07).
    Schema,
    /// Print the plugin's version.
    Version,
}

#[derive(clap::Args)]
struct ValidateArgs {
    /// A values file (repeatable; later files win; `-` reads standard input).
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    values: Vec<PathBuf>,
    /// Set a value as `helm --set` does (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Set a string value as `helm --set-string` does (repeatable).
    #[arg(long = "set-string", value_name = "KEY=VALUE")]
    set_string: Vec<String>,
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
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Command::Schema => emit(&values_schema::schema::values_schema_json()),
        Command::Version => emit(&format!(
            "helm-anywhere {} (values of chart fastly-anywhere {})\n",
            env!("CARGO_PKG_VERSION"),
            env!("CARGO_PKG_VERSION")
        )),
        Command::Validate(args) => run_validate(args),
    }
}

fn run_validate(args: ValidateArgs) -> ExitCode {
    let request = ValidateRequest {
        files: args.values,
        sets: args.set,
        set_strings: args.set_string,
        chart: args.chart,
    };
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
