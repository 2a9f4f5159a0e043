//! `certManager`: the mTLS certificates of the pods.

use crate::quantity::GoDuration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// mTLS between the POP pods, issued by cert-manager v1.14.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct CertManager {
    /// Create a self-signed CA chain for this release (a self-signed Issuer,
    /// a CA Certificate and a CA Issuer). Off: use `issuerRef`.
    pub create_issuer: bool,
    /// An existing Issuer or ClusterIssuer, used when `createIssuer` is off.
    pub issuer_ref: IssuerRef,
    /// Lifetime of the pods' certificate.
    pub duration: GoDuration,
    /// How long before expiry cert-manager renews it.
    pub renew_before: GoDuration,
}

impl Default for CertManager {
    fn default() -> Self {
        CertManager {
            create_issuer: true,
            issuer_ref: IssuerRef::default(),
            duration: GoDuration("2160h".into()),
            renew_before: GoDuration("360h".into()),
        }
    }
}

/// A reference to a cert-manager issuer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct IssuerRef {
    /// Name of the issuer.
    pub name: Option<String>,
    /// `Issuer` (in the release namespace) or `ClusterIssuer`.
    pub kind: IssuerKind,
    /// API group of the issuer.
    #[schemars(length(min = 1))]
    pub group: String,
}

impl Default for IssuerRef {
    fn default() -> Self {
        IssuerRef {
            name: None,
            kind: IssuerKind::Issuer,
            group: "cert-manager.io".into(),
        }
    }
}

/// The kind of a cert-manager issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum IssuerKind {
    /// A namespaced Issuer.
    Issuer,
    /// A cluster-wide ClusterIssuer.
    ClusterIssuer,
}
