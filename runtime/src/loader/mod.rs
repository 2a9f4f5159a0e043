//! `anywhere loader`: keeps the xqd volume in step with the desired
//! services. Sources: `services` in values (an OCI artifact, or an HTTPS
//! URL pinned by SHA-256) and, in `fastly` mode, the Fastly API (the
//! services of the account, their active version, domains, backends and
//! stores; the package bytes from `controlPlane.packageRegistry`, checked
//! against the API's hashsum). Each new version is staged, verified and
//! activated atomically (see `crate::xqd`); the edge picks it up. A failing
//! source changes nothing that serves: the active version stays, and the
//! source is retried with jittered backoff.

mod activate;
mod backoff;
mod desired;
mod fastly;
mod fetch;
mod metrics;
mod report;
mod status;
mod verify;

pub use desired::{DesiredService, PackageSpec};
pub use fetch::PACKAGE_MEDIA_TYPE;

use crate::config::{EdgeFile, read_edge_file};
use crate::limits::Limits;
use crate::server::admin::{MetricsText, ReadyCheck, StatusJson, serve_admin_with_status};
use crate::xqd::Xqd;
use activate::{ActivateError, Outcome, bring_up_to_date};
use backoff::Backoff;
use fetch::Fetcher;
use metrics::{LoaderMetrics, ServiceLabels, StepLabels};
use status::Status;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use values_schema::values::ControlPlaneMode;

/// Arguments of `anywhere loader`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// edge.yaml (the chart's ConfigMap): services, limits, controlPlane.
    #[arg(long)]
    pub config: PathBuf,
    /// The xqd volume.
    #[arg(long)]
    pub xqd_dir: PathBuf,
    /// What `anywhere bootstrap` wrote (the API token in `fastly` mode).
    #[arg(long)]
    pub credentials_dir: Option<PathBuf>,
    /// /healthz, /readyz, /metrics.
    #[arg(long, default_value = "0.0.0.0:9091")]
    pub admin_addr: SocketAddr,
    /// Seconds between passes (default: controlPlane.pollSeconds).
    #[arg(long)]
    pub poll_seconds: Option<u64>,
    /// One pass, then exit: 0 when every service is up to date.
    #[arg(long)]
    pub once: bool,
}

/// The loader between passes.
struct Loader {
    args: Args,
    xqd: Xqd,
    fetcher: Option<(Vec<String>, Fetcher)>,
    backoff: BTreeMap<String, Backoff>,
    metrics: Arc<LoaderMetrics>,
    status: Arc<Mutex<Status>>,
    file: Option<EdgeFile>,
    api: fastly::ApiSource,
    reporter: report::Reporter,
}

/// Runs `anywhere loader` until `shutdown` resolves.
pub async fn run(args: Args, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let xqd = Xqd::new(&args.xqd_dir);
    xqd.clear_staging()?;
    let mut loader = Loader {
        xqd,
        fetcher: None,
        backoff: BTreeMap::new(),
        metrics: Arc::new(LoaderMetrics::default()),
        status: Arc::default(),
        file: None,
        api: fastly::ApiSource::default(),
        reporter: report::Reporter::default(),
        args,
    };
    if loader.args.once {
        let problems = loader.pass().await;
        if problems.is_empty() {
            return Ok(());
        }
        anyhow::bail!("{}", problems.into_values().collect::<Vec<_>>().join("; "));
    }
    let admin = tokio::net::TcpListener::bind(loader.args.admin_addr).await?;
    let status = loader.status.clone();
    let ready: ReadyCheck = Arc::new(move || {
        let s = status.lock().unwrap_or_else(|p| p.into_inner());
        // The loader's readiness never takes the POP out of service: an
        // outage of a source leaves the active versions serving.
        if !s.first_pass_done {
            return Err("first pass running".into());
        }
        Ok(s.problems
            .iter()
            .map(|(k, v)| format!("{k}: {v}\n"))
            .collect())
    });
    let metrics = loader.metrics.clone();
    let text: MetricsText = Arc::new(move || metrics.render());
    let status = loader.status.clone();
    let status_json: StatusJson = Arc::new(move || {
        let s = status.lock().unwrap_or_else(|p| p.into_inner());
        s.to_json()
    });
    tokio::spawn(serve_admin_with_status(
        admin,
        Some(text),
        ready,
        Some(status_json),
    ));
    let work = async {
        loop {
            loader.pass().await;
            loader.report();
            tokio::time::sleep(backoff::jitter(loader.poll())).await;
        }
    };
    tokio::select! {
        () = work => {}
        () = shutdown => {}
    }
    Ok(())
}

impl Loader {
    fn poll(&self) -> Duration {
        let seconds = self.args.poll_seconds.or_else(|| {
            self.file
                .as_ref()
                .map(|f| u64::from(f.control_plane.poll_seconds))
        });
        Duration::from_secs(seconds.unwrap_or(30).max(1))
    }

    /// Rereads edge.yaml; a bad one leaves the previous in force.
    fn reread_config(&mut self) -> Result<&EdgeFile, String> {
        match read_edge_file(&self.args.config) {
            Ok(file) => self.file = Some(file),
            Err(e) => match &self.file {
                Some(_) => {
                    tracing::error!(error = %e, "edge.yaml rejected; keeping the previous one")
                }
                None => return Err(e.to_string()),
            },
        }
        self.file
            .as_ref()
            .ok_or_else(|| "no configuration".to_string())
    }

    fn fetcher(&mut self, insecure: &[String]) -> Result<&Fetcher, String> {
        if self.fetcher.as_ref().is_none_or(|(i, _)| i != insecure) {
            let fetcher = Fetcher::new(insecure).map_err(|e| e.to_string())?;
            self.fetcher = Some((insecure.to_vec(), fetcher));
        }
        self.fetcher
            .as_ref()
            .map(|(_, f)| f)
            .ok_or_else(|| "no fetcher".to_string())
    }

    /// One pass over every source. Returns the problems, by service.
    async fn pass(&mut self) -> BTreeMap<String, String> {
        let mut problems = BTreeMap::new();
        let file = match self.reread_config() {
            Ok(f) => f.clone(),
            Err(e) => {
                problems.insert("edge.yaml".into(), e);
                self.publish(problems.clone());
                return problems;
            }
        };
        let limit = Limits::try_from(&file.limits)
            .map(|l| l.package_bytes)
            .unwrap_or(Limits::default().package_bytes);
        let (mut wanted, through_api, errors) = desired::from_values(&file.services);
        for e in errors {
            problems.insert(e.split(':').next().unwrap_or("services").to_string(), e);
        }
        // Only a complete list may remove services: an API outage keeps
        // everything that serves.
        let mut complete = true;
        if file.control_plane.mode == ControlPlaneMode::Fastly {
            let credentials = self.args.credentials_dir.as_deref();
            match self.api.desired(&file, credentials, &through_api).await {
                Ok(found) => wanted.extend(found),
                Err(e) => {
                    complete = false;
                    problems.insert("fastly API".into(), e);
                }
            }
        } else if !through_api.is_empty() {
            for s in &through_api {
                problems.insert(
                    s.name.clone(),
                    format!(
                        "services.{}.package.fastlyServiceId needs controlPlane.mode fastly",
                        s.name
                    ),
                );
            }
        }
        let fetcher = match self.fetcher(&file.control_plane.insecure_registries) {
            Ok(_) => self.fetcher.take(),
            Err(e) => {
                problems.insert("loader".into(), e);
                None
            }
        };
        if let Some((insecure, fetcher)) = fetcher {
            self.bring_all(&fetcher, &wanted, limit, &mut problems)
                .await;
            self.fetcher = Some((insecure, fetcher));
        }
        if complete {
            self.remove_undesired(&wanted);
        }
        self.metrics.passes.inc();
        let active = self.xqd.active_services().map(|s| s.len()).unwrap_or(0);
        self.metrics
            .services
            .set(i64::try_from(active).unwrap_or(i64::MAX));
        self.publish(problems.clone());
        problems
    }

    async fn bring_all(
        &mut self,
        fetcher: &Fetcher,
        wanted: &[DesiredService],
        limit: u64,
        problems: &mut BTreeMap<String, String>,
    ) {
        let poll = self.poll();
        for d in wanted {
            let name = d.service.name.clone();
            let backoff = self.backoff.entry(name.clone()).or_default();
            if !self.args.once && !backoff.due(Instant::now()) {
                problems.insert(
                    name,
                    format!("retrying later ({} failures in a row)", backoff.failures()),
                );
                continue;
            }
            let attempt = tokio::time::timeout(
                Duration::from_secs(600),
                bring_up_to_date(fetcher, &self.xqd, d, limit),
            )
            .await;
            let result =
                attempt.unwrap_or_else(|_| Err(ActivateError::Task("gave up after 600 s".into())));
            match result {
                Ok(Outcome::Unchanged) => {
                    backoff.succeeded();
                    record(&self.status, &name, |r| r.failures_in_a_row = 0);
                }
                Ok(Outcome::Activated(id)) => {
                    backoff.succeeded();
                    record(&self.status, &name, |r| {
                        r.failures_in_a_row = 0;
                        r.activations += 1;
                    });
                    self.metrics
                        .activations
                        .get_or_create(&ServiceLabels {
                            service: name.clone(),
                        })
                        .inc();
                    tracing::info!(service = %name, version = %id, "version activated");
                }
                Err(e) => {
                    backoff.failed(Instant::now(), poll);
                    let step = match &e {
                        ActivateError::Fetch(_) => "fetch",
                        ActivateError::Verify { .. } | ActivateError::Hashsum { .. } => "verify",
                        ActivateError::Xqd(_) | ActivateError::Task(_) => "activate",
                    };
                    self.metrics
                        .failures
                        .get_or_create(&StepLabels {
                            service: name.clone(),
                            step: step.into(),
                        })
                        .inc();
                    record(&self.status, &name, |r| {
                        r.failures_in_a_row += 1;
                        r.last_failed_step = Some(step);
                    });
                    tracing::error!(service = %name, error = %e, "version not activated; the active version (if any) keeps serving");
                    problems.insert(name, e.to_string());
                }
            }
        }
    }

    fn remove_undesired(&mut self, wanted: &[DesiredService]) {
        let names: BTreeSet<&str> = wanted.iter().map(|d| d.service.name.as_str()).collect();
        let Ok(active) = self.xqd.active_services() else {
            return;
        };
        for name in active.iter().filter(|n| !names.contains(n.as_str())) {
            match self.xqd.remove_service(name) {
                Ok(()) => tracing::info!(service = %name, "service removed: no longer desired"),
                Err(e) => tracing::error!(service = %name, error = %e, "removing a service"),
            }
        }
        self.backoff.retain(|n, _| names.contains(n.as_str()));
    }

    /// In `fastly` mode, sends this pod's status to the control plane in
    /// the background (report.rs).
    fn report(&mut self) {
        let Some(file) = self.file.clone() else {
            return;
        };
        if file.control_plane.mode != ControlPlaneMode::Fastly {
            return;
        }
        let credentials = self.args.credentials_dir.clone();
        let client = match self.api.client(&file, credentials.as_deref()) {
            Ok(c) => c,
            Err(why) => {
                tracing::debug!(error = %why, "no status report: no API client");
                return;
            }
        };
        let cluster_id = credentials
            .as_deref()
            .and_then(|d| crate::fastly_api::Credentials::read(d).ok())
            .and_then(|c| c.cluster_id)
            .unwrap_or_else(|| "unknown".into());
        let loader = {
            let s = self.status.lock().unwrap_or_else(|p| p.into_inner());
            serde_json::from_str(&s.to_json()).unwrap_or_default()
        };
        self.reporter.send(report::Report {
            client,
            cluster_id,
            pod: crate::host::platform::hostname(),
            loader,
            edge_admin: file.observability.metrics.port,
        });
    }

    fn publish(&self, problems: BTreeMap<String, String>) {
        let mut s = self.status.lock().unwrap_or_else(|p| p.into_inner());
        s.first_pass_done = true;
        s.problems = problems;
        s.passes += 1;
        s.last_pass_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs());
    }
}

/// Updates the `/status` record of `service`.
fn record(status: &Mutex<Status>, service: &str, update: impl FnOnce(&mut status::ServiceRecord)) {
    let mut s = status.lock().unwrap_or_else(|p| p.into_inner());
    update(s.service(service));
}
