//! `anywhere agent`: watches the pods of its own StatefulSet through the
//! Kubernetes API and keeps the peer list file (see [`crate::peers`]) in step,
//! for the edge beside it. Its RBAC is get/list/watch on pods in one
//! namespace, and it asks for nothing else.
//!
//! - [`selector`]: checks the flags before anything is asked;
//! - [`pods`]: what a pod means as a peer, and the store of peers;
//! - [`watch`]: the loop from watch events to the file, with [`backoff`];
//! - [`publish`]: writes the file when its content changes;
//! - [`report`]: metrics and readiness for the admin port.

pub mod backoff;
pub mod pods;
pub mod publish;
pub mod report;
pub mod selector;
pub mod watch;

use crate::peers::PeersError;
use crate::server::admin::serve_admin;
use backoff::Backoff;
use k8s_openapi::api::core::v1::Pod;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Arguments of `anywhere agent`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Namespace of the StatefulSet's pods (the chart passes the pod's own,
    /// from the downward API).
    #[arg(long)]
    pub namespace: String,
    /// Label selector of the POP pods; must include
    /// app.kubernetes.io/component=pop so that the helm test pod is not a peer.
    #[arg(long)]
    pub selector: String,
    /// Where to write the peer list (JSON, replaced atomically).
    #[arg(long)]
    pub peers_file: PathBuf,
    /// /healthz, /readyz and /metrics.
    #[arg(long, default_value = "0.0.0.0:9092")]
    pub admin_addr: SocketAddr,
}

/// Why the agent stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The selector would select more than the POP pods.
    #[error("--selector {selector:?}: {message}")]
    Selector {
        /// The selector given.
        selector: String,
        /// What is wrong and the fix.
        message: String,
    },
    /// The namespace is not a namespace name.
    #[error(
        "--namespace {namespace:?} is not a namespace name; pass the pod's own namespace \
         (env POD_NAMESPACE from fieldRef metadata.namespace, then --namespace=$(POD_NAMESPACE))"
    )]
    Namespace {
        /// The namespace given.
        namespace: String,
    },
    /// No Kubernetes client configuration was found.
    #[error(
        "cannot configure the Kubernetes client (in a pod: mount the service account token; \
         elsewhere: set KUBECONFIG): {error}"
    )]
    Client {
        /// What kube said.
        error: kube::Error,
    },
    /// The admin port could not be opened.
    #[error("--admin-addr {addr}: cannot listen: {error}")]
    Admin {
        /// The address.
        addr: SocketAddr,
        /// What the system said.
        error: std::io::Error,
    },
    /// The peer list could not be written.
    #[error(transparent)]
    PeersFile(#[from] PeersError),
}

/// What the agent watches and where it writes, checked.
#[derive(Debug, Clone)]
pub struct Config {
    namespace: String,
    selector: String,
    peers_file: PathBuf,
    backoff: Backoff,
}

impl Config {
    /// Checks the namespace and the selector (see [`selector`]).
    pub fn new(namespace: &str, selector: &str, peers_file: PathBuf) -> Result<Self, AgentError> {
        selector::check_namespace(namespace)?;
        selector::check_selector(selector)?;
        Ok(Self {
            namespace: namespace.to_owned(),
            selector: selector.to_owned(),
            peers_file,
            backoff: Backoff::default(),
        })
    }

    /// Uses `backoff` after watch errors instead of the default.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }
}

/// Runs `anywhere agent` until `shutdown` resolves.
pub async fn run(args: Args, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    // Flags first: a wrong selector is reported even where no cluster is.
    let config = Config::new(&args.namespace, &args.selector, args.peers_file)?;
    // rustls cannot choose a provider by itself when more than one is
    // compiled in; the runtime uses ring everywhere.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = kube::Client::try_default()
        .await
        .map_err(|error| AgentError::Client { error })?;
    let admin = TcpListener::bind(args.admin_addr)
        .await
        .map_err(|error| AgentError::Admin {
            addr: args.admin_addr,
            error,
        })?;
    Ok(run_with_client(client, config, admin, shutdown).await?)
}

/// The agent with a given client and admin listener (tests pass a mock
/// client and a loopback port). Returns `Ok` when `shutdown` resolves.
pub async fn run_with_client(
    client: kube::Client,
    config: Config,
    admin: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AgentError> {
    let report = Arc::new(report::Report::default());
    let admin_task = tokio::spawn(serve_admin(
        admin,
        Some(report.metrics_text()),
        report.ready_check(),
    ));
    tracing::info!(
        namespace = %config.namespace,
        selector = %config.selector,
        file = %config.peers_file.display(),
        "watching pods"
    );
    let api = kube::Api::<Pod>::namespaced(client, &config.namespace);
    let publisher = publish::Publisher::new(config.peers_file);
    let result = tokio::select! {
        r = watch::watch_pods(api, &config.selector, publisher, &report, config.backoff) => {
            r.map_err(AgentError::from)
        }
        () = shutdown => Ok(()),
    };
    admin_task.abort();
    result
}
