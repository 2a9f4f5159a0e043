//! The chart's values, one file per section. Field order is the order of
//! `values.yaml`: the keys of the product documentation first.

mod cert_manager;
mod control_plane;
mod edge_stack;
mod egress;
mod helm_test;
mod image;
mod limits;
mod network_policy;
mod observability;
mod pop;
mod scheduling;
mod services;
mod storage;
mod tokens;

pub use cert_manager::{CertManager, IssuerKind, IssuerRef};
pub use control_plane::{ControlPlane, ControlPlaneMode, FASTLY_API_URL};
pub use edge_stack::{CpuCount, EdgeStack};
pub use egress::{ClientAddress, Egress, PRIVATE_CIDRS, TlsHeaders};
pub use helm_test::HelmTest;
pub use image::{Image, LocalObjectReference, PullPolicy};
pub use limits::{Limits, ReusableSandbox};
pub use network_policy::{IpBlock, NetworkPolicy, NetworkPolicyPeer};
pub use observability::{
    Dashboard, LogEndpoint, LogEndpointKind, LogFormat, LogLevel, Metrics, MetricsPush,
    Observability, ServiceMonitor,
};
pub use pop::Pop;
pub use scheduling::{PodAntiAffinity, PodDisruptionBudget, ServiceAccount};
pub use services::{
    Backend, ConfigStore, H2oService, H2oServiceType, HealthCheck, PackageSource, Service,
};
pub use storage::{
    CacheCapacity, CacheSize, CachedVolumeSettings, VolumeClaim, VolumeRequests, VolumeSettings,
};
pub use tokens::{Bootstrap, ExistingSecret};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Values of the fastly-anywhere chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "fastly-anywhere chart values")]
pub struct Values {
    /// Size and number of the POP pods.
    pub edge_stack: EdgeStack,
    /// The HTTP cache volume (a PersistentVolumeClaim per pod). The minimum
    /// disk size differs between providers and storage classes.
    pub cached: CachedVolumeSettings,
    /// The volume for Compute packages and their precompiled modules, so that
    /// a restarted pod serves without recompiling.
    pub xqd: VolumeSettings,
    /// Bootstrap settings from Fastly.
    pub bootstrap: Bootstrap,
    /// The Fastly API automation token for the account whose services this
    /// POP loads. Prefer `existingSecret` so that the token stays out of
    /// values files and Git.
    #[serde(rename = "fastly_key")]
    pub fastly_key: Option<String>,
    /// The cloud the cluster runs in: `gke`, `ack` or `generic`. Picks the
    /// default storage class and the provider-specific checks.
    pub provider: Provider,
    /// An existing Secret holding both tokens, used instead of
    /// `bootstrap.token` and `fastly_key`.
    pub existing_secret: ExistingSecret,
    /// Where services come from: the Fastly API (`fastly`) or values only
    /// (`offline`).
    pub control_plane: ControlPlane,
    /// The runtime image (one image for every container of the pod).
    pub image: Image,
    /// Secrets with the registry credentials the image is pulled with.
    pub image_pull_secrets: Vec<LocalObjectReference>,
    /// The Service the customer's Ingress sends traffic to. Its name contains
    /// `h2o` and it listens on port 80.
    pub h2o: H2oService,
    /// Compute services declared here rather than loaded from the Fastly API.
    pub services: Vec<Service>,
    /// mTLS between the pods, by cert-manager v1.14.
    pub cert_manager: CertManager,
    /// Per-request limits of Compute programs; the defaults are Fastly's
    /// published Compute limits.
    pub limits: Limits,
    /// Where programs' backends may connect.
    pub egress: Egress,
    /// Which proxies are believed about the client's address.
    pub client_address: ClientAddress,
    /// What programs are told about this POP (`FASTLY_POP`, `FASTLY_REGION`,
    /// `FASTLY_CUSTOMER_ID`).
    pub pop: Pop,
    /// Metrics and logs.
    pub observability: Observability,
    /// Node labels the pods must run on.
    pub node_selector: BTreeMap<String, String>,
    /// Tolerations of the pods (Kubernetes `Toleration` objects).
    #[schemars(with = "Vec<Map<String, Value>>")]
    pub tolerations: Vec<Value>,
    /// The pods' affinity (a Kubernetes `Affinity` object). When set, it
    /// replaces the anti-affinity that `podAntiAffinity` generates.
    #[schemars(with = "Map<String, Value>")]
    pub affinity: Value,
    /// Spread of pods over nodes and zones when no `affinity` is given:
    /// `soft` prefers one POP pod per node, `hard` requires it, `none` leaves
    /// placement to the scheduler.
    pub pod_anti_affinity: PodAntiAffinity,
    /// Topology spread constraints of the pods (Kubernetes objects).
    #[schemars(with = "Vec<Map<String, Value>>")]
    pub topology_spread_constraints: Vec<Value>,
    /// The PodDisruptionBudget that keeps the POP serving while nodes drain.
    pub pod_disruption_budget: PodDisruptionBudget,
    /// The ServiceAccount of the pods (the agent reads the StatefulSet's pods
    /// with it).
    pub service_account: ServiceAccount,
    /// Who may connect to the pods.
    pub network_policy: NetworkPolicy,
    /// Seconds a stopping edge keeps accepting requests after it turned
    /// unready, so that every Service and load balancer stops sending it
    /// traffic before it stops listening (longer than the endpoints'
    /// propagation). The edge drains itself on SIGTERM: no preStop hook.
    #[schemars(range(min = 0, max = 300))]
    pub drain_delay_seconds: u32,
    /// Seconds a stopping pod has in all: the drain delay, then the longest
    /// request (`limits.wallTime`), plus 5 seconds to exit. The edge gets
    /// this less `drainDelaySeconds` less 5 to finish requests in flight.
    #[schemars(range(min = 5, max = 3600))]
    pub termination_grace_period_seconds: u32,
    /// What `helm test` checks.
    pub helm_test: HelmTest,
    /// Labels added to every object of the chart.
    pub common_labels: BTreeMap<String, String>,
    /// Extra labels of the pods.
    pub pod_labels: BTreeMap<String, String>,
    /// Extra annotations of the pods.
    pub pod_annotations: BTreeMap<String, String>,
    /// Replaces the chart name in object names.
    pub name_override: Option<String>,
    /// Replaces the full object name prefix.
    pub fullname_override: Option<String>,
}

impl Default for Values {
    fn default() -> Self {
        Values {
            edge_stack: EdgeStack::default(),
            cached: CachedVolumeSettings::default(),
            xqd: VolumeSettings::default(),
            bootstrap: Bootstrap::default(),
            fastly_key: None,
            provider: Provider::default(),
            existing_secret: ExistingSecret::default(),
            control_plane: ControlPlane::default(),
            image: Image::default(),
            image_pull_secrets: vec![LocalObjectReference {
                name: "regcred".into(),
            }],
            h2o: H2oService::default(),
            services: Vec::new(),
            cert_manager: CertManager::default(),
            limits: Limits::default(),
            egress: Egress::default(),
            client_address: ClientAddress::default(),
            pop: Pop::default(),
            observability: Observability::default(),
            node_selector: BTreeMap::new(),
            tolerations: Vec::new(),
            affinity: Value::Object(Map::new()),
            pod_anti_affinity: PodAntiAffinity::default(),
            topology_spread_constraints: Vec::new(),
            pod_disruption_budget: PodDisruptionBudget::default(),
            service_account: ServiceAccount::default(),
            network_policy: NetworkPolicy::default(),
            drain_delay_seconds: 10,
            // 10 s of drain + 120 s, Fastly's wall-time limit + 5 s to exit,
            // with room to spare.
            termination_grace_period_seconds: 150,
            helm_test: HelmTest::default(),
            common_labels: BTreeMap::new(),
            pod_labels: BTreeMap::new(),
            pod_annotations: BTreeMap::new(),
            name_override: None,
            fullname_override: None,
        }
    }
}

/// The Kubernetes distribution the POP runs on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Google Kubernetes Engine: storage class `premium-rwo`.
    #[default]
    Gke,
    /// Alibaba Cloud Container Service for Kubernetes: storage class
    /// `alicloud-disk-topology-alltype`.
    Ack,
    /// Any other cluster: no storage class default (the cluster's default
    /// StorageClass is used).
    Generic,
}

impl Provider {
    /// The storage class the chart uses when none is given.
    pub fn default_storage_class(self) -> Option<&'static str> {
        match self {
            Provider::Gke => Some("premium-rwo"),
            Provider::Ack => Some("alicloud-disk-topology-alltype"),
            Provider::Generic => None,
        }
    }

    /// The smallest disk the provider's default storage class provisions, in
    /// bytes (GKE persistent disks: 10 GiB; Alibaba cloud disks: 20 GiB).
    pub fn minimum_disk_bytes(self) -> Option<f64> {
        match self {
            Provider::Gke => Some(10.0 * 1024f64.powi(3)),
            Provider::Ack => Some(20.0 * 1024f64.powi(3)),
            Provider::Generic => None,
        }
    }

    /// The name used in values.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Gke => "gke",
            Provider::Ack => "ack",
            Provider::Generic => "generic",
        }
    }
}
