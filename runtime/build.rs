//! Compiles the crate with `--cfg viceroy` when `VICEROY` is set, so that
//! the end-to-end tests Viceroy cannot run are marked `#[ignore]` for that
//! run (see tests/support/mod.rs) and libtest reports them as ignored
//! instead of passed.

fn main() {
    println!("cargo::rerun-if-env-changed=VICEROY");
    println!("cargo::rustc-check-cfg=cfg(viceroy)");
    if std::env::var_os("VICEROY").is_some() {
        println!("cargo::rustc-cfg=viceroy");
    }
}
