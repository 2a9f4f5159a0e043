//! Builds the CRD schemas of Argo CD, Flux and cert-manager into the plugin
//! when the project's `../shared/crds` is beside the checkout, so that
//! `render` checks the custom resources it writes without a cluster.
//! Without them, `render` asks for `--crd-dir`.

use std::path::PathBuf;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(crds_built_in)");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let dir = manifest.join("../../shared/crds");
    println!("cargo::rerun-if-changed={}", dir.display());
    if dir.join("argocd-applications.yaml").exists()
        && let Ok(abs) = dir.canonicalize()
    {
        println!("cargo::rustc-cfg=crds_built_in");
        println!("cargo::rustc-env=ANYWHERE_CRDS_DIR={}", abs.display());
    }
}
