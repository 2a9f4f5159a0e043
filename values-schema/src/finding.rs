//! A finding: one problem in the values, with a stable code, the key path it
//! concerns, what is wrong and how to fix it.

use crate::KeyPath;
use serde::Serialize;
use std::fmt;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The install would fail or misbehave: `validate` exits 1.
    Error,
    /// Probably a mistake, or a risk: `validate` exits 0 unless `--strict`.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// Whether a finding points at a key itself or at its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// The key (an unknown key, for example).
    Key,
    /// The value under the key.
    Value,
}

macro_rules! codes {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, $sev:ident, $title:literal; )*) => {
        /// Every diagnostic code `validate` can report. Codes are stable:
        /// documented in docs/diagnostics.md and never reused.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code { $( $(#[$doc])* $variant, )* }

        impl Code {
            /// Every code, in order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The code as printed, such as `E0100`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code,)* }
            }

            /// The severity findings with this code have.
            pub fn severity(self) -> Severity {
                match self { $(Code::$variant => Severity::$sev,)* }
            }

            /// A one-line description of the rule.
            pub fn title(self) -> &'static str {
                match self { $(Code::$variant => $title,)* }
            }
        }
    };
}

codes! {
    /// A key the chart does not know (often a typo).
    UnknownKey = "E0100", Error, "unknown key";
    /// A value of the wrong type.
    WrongType = "E0101", Error, "wrong type";
    /// A value outside the allowed set.
    NotAllowed = "E0102", Error, "value not allowed";
    /// A number out of range, a string or list of the wrong length.
    OutOfRange = "E0103", Error, "out of range";
    /// A string that does not match the expected format.
    BadFormat = "E0104", Error, "bad format";
    /// A required key is missing.
    MissingKey = "E0105", Error, "missing key";
    /// A Kubernetes quantity that does not parse.
    BadQuantity = "E0106", Error, "bad Kubernetes quantity";
    /// Any other schema violation.
    SchemaViolation = "E0109", Error, "schema violation";
    /// The file is not valid YAML.
    YamlSyntax = "E0200", Error, "YAML syntax error";
    /// The same key twice in one mapping.
    DuplicateKey = "E0201", Error, "duplicate key";
    /// A `--set` flag that does not parse.
    SetSyntax = "E0202", Error, "bad --set expression";
    /// The file's top level is not a mapping.
    NotAMapping = "E0203", Error, "values must be a mapping";
    /// A GitOps manifest that embeds no chart values.
    GitOpsNoValues = "W0204", Warning, "no values in the GitOps manifest";
    /// Values in a form `validate` cannot check (Argo's `helm.values` string).
    GitOpsValuesUnchecked = "W0205", Warning, "GitOps values not checked";
    /// A placeholder copied from the documentation.
    Placeholder = "E0300", Error, "placeholder left in values";
    /// Tokens given inline and through existingSecret.
    TokensTwice = "E0301", Error, "tokens given twice";
    /// A token is missing.
    TokenMissing = "E0302", Error, "token missing";
    /// A token in plain text in values.
    TokenInline = "W0303", Warning, "token in plain text";
    /// A token that is empty or blank.
    TokenBlank = "E0304", Error, "blank token";
    /// Footprint below the documented recommendation.
    FootprintBelowRecommended = "W0400", Warning, "footprint below the recommended minimum";
    /// Footprint too small to run the pod at all.
    FootprintTooSmall = "E0401", Error, "footprint too small for the pod";
    /// A single replica.
    SingleReplica = "W0402", Warning, "single replica";
    /// No storage class with provider generic.
    StorageClassDefault = "W0410", Warning, "cluster default storage class used";
    /// A storage class of another provider.
    StorageClassMismatch = "W0411", Warning, "storage class of another provider";
    /// A volume below the provider's minimum disk size.
    VolumeTooSmall = "W0412", Warning, "volume below the provider minimum";
    /// `cached.capacity` that is neither a percentage from 1 to 95 nor a
    /// quantity.
    BadCacheCapacity = "E0413", Error, "bad cache capacity";
    /// A cache capacity larger than the `cached` volume.
    CacheAboveVolume = "E0414", Error, "cache capacity above the volume size";
    /// A cache capacity that leaves less than 10% of the volume as headroom.
    CacheHeadroomLow = "W0415", Warning, "little headroom on the cache volume";
    /// Two services with the same name.
    DuplicateServiceName = "E0500", Error, "duplicate service name";
    /// The same domain served by two services.
    DuplicateDomain = "E0501", Error, "duplicate domain";
    /// A domain that is not a valid host name.
    BadDomain = "E0502", Error, "bad domain";
    /// A package source that names no source or several.
    PackageSource = "E0503", Error, "bad package source";
    /// A package URL without integrity or transport security.
    PackageUrl = "E0504", Error, "package URL not pinned";
    /// A backend URL that does not parse or has the wrong scheme.
    BackendUrl = "E0505", Error, "bad backend URL";
    /// Two backends or stores with the same name in one service.
    DuplicateName = "E0506", Error, "duplicate name";
    /// A PodDisruptionBudget that blocks every voluntary disruption.
    PdbBlocksDrain = "W0600", Warning, "disruption budget blocks node drains";
    /// CPU time longer than wall time, or another inconsistent limit.
    LimitsInconsistent = "E0610", Error, "inconsistent limits";
    /// A limit above what a pod can give.
    LimitAboveFootprint = "W0611", Warning, "limit above the pod footprint";
    /// A pod-wide limit (all instances' heap, one request's buffers) larger
    /// than the edge container's memory.
    LimitDoesNotFitPod = "E0612", Error, "limit does not fit the pod's memory";
    /// One instance's heap larger than what all instances of a pod may use.
    HeapAboveTotal = "E0613", Error, "instance heap above the pod's total heap";
    /// No issuer to sign the mTLS certificates.
    IssuerMissing = "E0620", Error, "no certificate issuer";
    /// An image that is not pinned.
    ImageNotPinned = "W0630", Warning, "image not pinned";
    /// The agent would run without permission to read pods.
    ServiceAccountMissing = "E0640", Error, "no service account for the agent";
    /// Log endpoint settings that cannot work.
    LogEndpoint = "E0650", Error, "bad log endpoint";
    /// A service loaded through the Fastly API while the POP runs offline.
    ServiceNeedsFastly = "E0660", Error, "service needs the Fastly API";
    /// `controlPlane.packageRegistry` that is not an OCI repository.
    PackageRegistry = "E0661", Error, "bad package registry";
    /// An entry of `controlPlane.insecureRegistries` that is not host:port.
    InsecureRegistry = "E0662", Error, "bad insecure registry";
    /// A service with `fastlyServiceId` and nowhere to fetch its package.
    PackageRegistryMissing = "E0663", Error, "no package registry";
    /// A setting that only `fastly` mode reads, given in `offline` mode.
    UnusedOffline = "W0664", Warning, "setting unused in offline mode";
    /// A grace period too short for the drain delay and the longest request.
    GraceTooShort = "E0670", Error, "grace period shorter than draining needs";
    /// A network policy source that names no pods, namespaces or addresses.
    NetworkPolicyPeer = "E0680", Error, "bad network policy source";
    /// A `helm test` Host that no service in values answers.
    HelmTestHost = "W0690", Warning, "helm test Host served by no service";
    /// An entry of `egress.deniedCidrs`, `egress.allowedCidrs` or
    /// `clientAddress.trustedProxies` that is not an address range.
    BadCidr = "E0700", Error, "bad CIDR range";
    /// `egress.networkPolicy` without the NetworkPolicy it goes into.
    EgressPolicyWithoutNetworkPolicy = "E0701", Error, "egress rules without a NetworkPolicy";
    /// A backend in values at an address the edge's egress policy refuses.
    BackendRefused = "E0702", Error, "backend refused by the egress policy";
    /// A trusted proxy range that holds every address.
    EveryProxyTrusted = "W0703", Warning, "every address trusted as a proxy";
    /// An allowed range that holds a cloud metadata server.
    MetadataAllowed = "W0704", Warning, "cloud metadata server reachable";
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One problem found in the values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// The rule broken.
    pub code: Code,
    /// Error or warning (from the code).
    pub severity: Severity,
    /// The key concerned.
    #[serde(serialize_with = "display")]
    pub path: KeyPath,
    /// Whether the key itself or its value is at fault.
    pub target: Target,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when there is something useful to say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// Other keys the finding is about (a grace period too short for a
    /// drain delay): when the user did not write `path` but wrote one of
    /// these, the finding is shown there, where the fix likely goes.
    #[serde(skip)]
    pub related: Vec<KeyPath>,
}

fn display<S: serde::Serializer>(p: &KeyPath, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(p)
}

impl Finding {
    /// A finding about the value at `path`.
    pub fn new(code: Code, path: KeyPath, message: impl Into<String>) -> Self {
        Finding {
            code,
            severity: code.severity(),
            path,
            target: Target::Value,
            message: message.into(),
            help: None,
            related: Vec::new(),
        }
    }

    /// Adds the fix.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Names another key the finding is about (see the `related` field).
    pub fn also_about(mut self, path: KeyPath) -> Self {
        self.related.push(path);
        self
    }

    /// Points the finding at the key rather than its value.
    pub fn at_key(mut self) -> Self {
        self.target = Target::Key;
        self
    }
}
