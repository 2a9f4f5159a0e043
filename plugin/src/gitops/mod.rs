//! GitOps: the Argo CD and Flux manifests that deploy the chart, the CRD
//! schemas they are checked against, and values embedded in such manifests.

pub mod crds;
pub mod detect;
pub mod manifests;
