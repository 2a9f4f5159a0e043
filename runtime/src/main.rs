//! `anywhere`: the runtime binary. Parses arguments and calls the library.

use anyhow::Context;
use anywhere::limits::Limits;
use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "anywhere",
    version,
    about = "Fastly Anywhere: a self-hosted Fastly Compute POP",
    // With no subcommand, `anywhere` serves, as Fastly's local tool does:
    // `fastly compute serve --viceroy-path` runs `anywhere -C fastly.toml
    // --addr … bin/main.wasm`.
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    /// Log level of the runtime itself (error, warn, info, debug, trace;
    /// or a filter such as `anywhere=debug`). Overrides -v.
    #[arg(long, global = true)]
    log_level: Option<String>,
    /// More log: -v info (the default), -vv debug, -vvv trace.
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Shape of the runtime's log lines on stderr: `json` (one object per
    /// line, for a log collector), `text`, or `auto`: text on a terminal,
    /// JSON otherwise (in a pod).
    #[arg(long, global = true, value_enum, default_value = "auto")]
    log_format: LogFormat,
    /// Export each request's span to this OpenTelemetry collector (OTLP
    /// over HTTP with JSON, `<URL>/v1/traces`), with the trace id the
    /// program sees as FASTLY_TRACE_ID.
    #[arg(long, global = true, value_name = "URL")]
    otlp_endpoint: Option<String>,
    /// How a finished instance's memory is reset: `auto` (PAGEMAP_SCAN on
    /// Linux 6.7+, which resets only the pages written) or `fallback` (what
    /// older kernels get; for measuring them).
    #[arg(long, global = true, value_enum, default_value = "auto")]
    slot_reset: anywhere::engine::options::SlotReset,
    /// Write /tmp/perf-<pid>.map so that `perf report` names the program's
    /// functions.
    #[arg(long, global = true)]
    perf_map: bool,
    #[command(subcommand)]
    command: Option<Command>,
    /// Without a subcommand: what `serve` takes.
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run a Compute program locally (a .wasm or a package .tar.gz).
    Serve(ServeArgs),
    /// Run a program once, as a command (a test binary built for wasm), and
    /// exit with its status.
    Run(RunArgs),
    /// The pod's data plane: serve the services the loader activated.
    Edge(EdgeArgs),
    /// Init container: check the tokens and write the loader's credentials.
    Bootstrap(anywhere::bootstrap::Args),
    /// Keep the xqd volume in step with the desired services.
    Loader(anywhere::loader::Args),
    /// Watch this StatefulSet's pods and write the peer list.
    Agent(anywhere::agent::Args),
    /// `helm test`: every replica ready, one request through the h2o Service.
    Probe(anywhere::probe::Args),
}

/// A program on this machine and its limits (`serve` and `run`).
#[derive(clap::Args)]
struct ProgramArgs {
    /// `bin/main.wasm` or `pkg/<name>.tar.gz`.
    // An Option that is required: clap requires it unless a subcommand is
    // given, and the flattened top-level copy can then be left empty.
    #[arg(required = true)]
    package: Option<PathBuf>,
    /// The fastly.toml to read (default: the package's own, or the one
    /// beside the wasm).
    #[arg(short = 'C', long = "config")]
    manifest: Option<PathBuf>,
    /// Where precompiled modules are cached (default:
    /// ~/.cache/fastly-anywhere/modules).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Compile on every start; keep nothing on disk.
    #[arg(long, conflicts_with = "cache_dir")]
    no_cache: bool,
    /// Log endpoints write <DIR>/<endpoint>.log instead of stdout.
    #[arg(long)]
    log_dir: Option<PathBuf>,
    /// CPU time per request, ms (Fastly: 50).
    #[arg(long)]
    cpu_time_ms: Option<u64>,
    /// Wall-clock time per request, ms (Fastly: 120000; `run`: none).
    #[arg(long)]
    wall_time_ms: Option<u64>,
    /// Heap per instance, MiB (Fastly: 128).
    #[arg(long)]
    heap_mib: Option<usize>,
}

#[derive(clap::Args)]
struct ServeArgs {
    #[command(flatten)]
    program: ProgramArgs,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7676")]
    addr: SocketAddr,
    /// Serve /metrics, /healthz and /readyz on this address too.
    #[arg(long)]
    admin_addr: Option<SocketAddr>,
    /// Requests in flight at once; more get 503.
    #[arg(long)]
    concurrency: Option<usize>,
    /// Reusable sandboxes: warm instances at once; when all are busy,
    /// requests wait for one (default: up to the concurrency limit).
    #[arg(long, value_name = "N")]
    reuse_instances: Option<usize>,
    /// Reusable sandboxes: requests one instance serves before it retires
    /// (default: as many as the program asks for).
    #[arg(long, value_name = "N")]
    reuse_max_requests: Option<u64>,
}

#[derive(clap::Args)]
struct RunArgs {
    #[command(flatten)]
    program: ProgramArgs,
    /// The program's arguments (after its name).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

#[derive(clap::Args)]
struct EdgeArgs {
    /// edge.yaml (the chart's ConfigMap).
    #[arg(long)]
    config: PathBuf,
    /// The xqd volume, as the loader writes it.
    #[arg(long)]
    xqd_dir: PathBuf,
    /// The cached volume: the HTTP cache's database (without it, the cache
    /// is kept in memory).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Most the cache stores: a share of the cached volume ("80%") or a
    /// quantity ("24Gi") (values: cached.capacity).
    #[arg(long, default_value = "80%")]
    cache_capacity: String,
    /// Bytes of small cached objects held whole in memory.
    #[arg(long, default_value_t = 64 << 20)]
    cache_memory: u64,
    /// The purge API (Fastly's shape; loopback only).
    #[arg(long, default_value = "127.0.0.1:9093")]
    purge_addr: SocketAddr,
    /// The peer list the agent writes (checked; cluster forwarding is not
    /// built yet).
    #[arg(long)]
    peers_file: Option<PathBuf>,
    /// The mTLS certificate folder (checked; cluster forwarding is not
    /// built yet).
    #[arg(long)]
    tls_dir: Option<PathBuf>,
    /// Client traffic.
    #[arg(long, default_value = "0.0.0.0:8080")]
    http_addr: SocketAddr,
    /// Cluster forwarding (reported; not built yet).
    #[arg(long)]
    cluster_addr: Option<SocketAddr>,
    /// /healthz, /readyz, /metrics.
    #[arg(long, default_value = "0.0.0.0:9090")]
    admin_addr: SocketAddr,
    /// Seconds between looks for changed config and versions.
    #[arg(long, default_value_t = 2)]
    poll_seconds: u64,
    /// Seconds after SIGTERM during which the edge is unready but still
    /// accepts (longer than the endpoints take to drop the pod).
    #[arg(long, default_value_t = 10)]
    drain_delay_seconds: u64,
    /// Seconds in-flight requests get once the edge stops accepting.
    #[arg(long, default_value_t = 25)]
    grace_seconds: u64,
    /// A directory only the edge container can write (the chart: an
    /// in-memory volume): the key that seals precompiled modules lives
    /// there. Without it, modules cached by an earlier process are
    /// compiled again.
    #[arg(long)]
    private_dir: Option<PathBuf>,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(0) => std::process::ExitCode::SUCCESS,
        // A program's exit status (`anywhere run`), as a shell keeps it.
        Ok(status) => std::process::ExitCode::from(u8::try_from(status).unwrap_or(1)),
        Err(e) => {
            // One line, the causes joined: what a pod's status shows.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The log filter: `--log-level`, else what -v asks for.
fn log_filter(cli: &Cli) -> String {
    match (&cli.log_level, cli.verbose) {
        (Some(level), _) => level.clone(),
        (None, 0 | 1) => "info".into(),
        (None, 2) => "debug".into(),
        (None, _) => "trace".into(),
    }
}

/// `--log-format`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Auto,
    Json,
    Text,
}

/// The process's log subscriber: the filter, text or JSON on stderr, and
/// the OTLP span export when asked for (its exporter, to start on the
/// runtime).
fn init_logs(cli: &Cli) -> anyhow::Result<Option<anywhere::otlp::Exporter>> {
    use tracing_subscriber::prelude::*;
    let filter = tracing_subscriber::EnvFilter::try_new(log_filter(cli)).context("--log-level")?;
    let terminal = std::io::stderr().is_terminal();
    let json = match cli.log_format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !terminal,
    };
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let lines = if json {
        // One object per line with the fields of the request's span
        // (service, trace id) at the top level of each event.
        lines
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed()
    } else {
        // Colour codes only for a person at a terminal: never in a pod's
        // log file, a pipe or a test's capture.
        lines.with_ansi(terminal).boxed()
    };
    let (spans, exporter) = match &cli.otlp_endpoint {
        Some(url) => {
            let (layer, exporter) = anywhere::otlp::layer(url);
            (Some(layer), Some(exporter))
        }
        None => (None, None),
    };
    tracing_subscriber::registry()
        .with(lines)
        .with(spans)
        .with(filter)
        .init();
    Ok(exporter)
}

fn run(cli: Cli) -> anyhow::Result<i32> {
    let exporter = init_logs(&cli)?;
    anywhere::engine::options::configure(anywhere::engine::options::EngineOptions {
        slot_reset: cli.slot_reset,
        perf_map: cli.perf_map,
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        if let Some(exporter) = exporter {
            tokio::spawn(exporter.run());
        }
        let command = match cli.command {
            Some(c) => c,
            None => Command::Serve(cli.serve),
        };
        match command {
            Command::Serve(a) => {
                anywhere::local::serve::run(serve_config(a)?, anywhere::shutdown_signal()).await?;
                anywhere::end_as_interrupted_if_it_was();
            }
            Command::Run(a) => {
                let config = anywhere::local::run::RunConfig {
                    program: program_config(a.program, Limits::for_commands())?,
                    args: a.args,
                };
                return anywhere::local::run::run(config).await;
            }
            Command::Edge(a) => {
                let config = anywhere::edge::EdgeConfig {
                    config: a.config,
                    xqd_dir: a.xqd_dir,
                    http_addr: a.http_addr,
                    admin_addr: a.admin_addr,
                    poll: Duration::from_secs(a.poll_seconds.max(1)),
                    drain_delay: Duration::from_secs(a.drain_delay_seconds),
                    grace: Duration::from_secs(a.grace_seconds),
                    cache: anywhere::edge::CacheFlags {
                        dir: a.cache_dir,
                        capacity: a.cache_capacity,
                        memory: a.cache_memory,
                    },
                    purge_addr: a.purge_addr,
                    pending: anywhere::edge::PendingFlags {
                        peers_file: a.peers_file,
                        tls_dir: a.tls_dir,
                        cluster_addr: a.cluster_addr,
                    },
                    private_dir: a.private_dir,
                };
                anywhere::edge::run(config, anywhere::shutdown_signal()).await?;
            }
            Command::Bootstrap(a) => anywhere::bootstrap::run(a).await?,
            Command::Loader(a) => anywhere::loader::run(a, anywhere::shutdown_signal()).await?,
            Command::Agent(a) => anywhere::agent::run(a, anywhere::shutdown_signal()).await?,
            Command::Probe(a) => anywhere::probe::run(a).await?,
        }
        Ok(0)
    })
}

fn serve_config(a: ServeArgs) -> anyhow::Result<anywhere::local::serve::ServeConfig> {
    let mut program = program_config(a.program, Limits::default())?;
    if let Some(c) = a.concurrency {
        program.limits.concurrency = c.max(1);
    }
    if let Some(n) = a.reuse_instances {
        program.limits.reuse.max_instances = Some(n.max(1));
    }
    if let Some(n) = a.reuse_max_requests {
        program.limits.reuse.max_requests = Some(n.max(1));
    }
    Ok(anywhere::local::serve::ServeConfig {
        program,
        addr: a.addr,
        admin_addr: a.admin_addr,
    })
}

/// `a` over `limits`.
fn program_config(
    a: ProgramArgs,
    mut limits: Limits,
) -> anyhow::Result<anywhere::local::program::ProgramConfig> {
    let package = a
        .package
        .context("no program given: name a .wasm or a package .tar.gz")?;
    if let Some(ms) = a.cpu_time_ms {
        limits.cpu_time = Duration::from_millis(ms);
    }
    if let Some(ms) = a.wall_time_ms {
        limits.wall_time = Duration::from_millis(ms);
    }
    if let Some(mib) = a.heap_mib {
        limits.heap_bytes = mib << 20;
    }
    let cache_dir = if a.no_cache {
        None
    } else {
        a.cache_dir.or_else(|| {
            std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
                .map(|c| c.join("fastly-anywhere").join("modules"))
        })
    };
    Ok(anywhere::local::program::ProgramConfig {
        package,
        manifest: a.manifest,
        cache_dir,
        log_dir: a.log_dir,
        limits,
    })
}
