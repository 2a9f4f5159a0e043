//! Lays out one service on an xqd directory as the loader would activate
//! it, from a `.wat` or `.wasm` file, so that `anywhere edge` can serve it
//! without a registry (benchmarks, local experiments).
//!
//!     cargo run --example stage_xqd -- XQD_DIR PROGRAM SERVICE_YAML
//!
//! SERVICE_YAML is one `services[]` entry of the values, inline, such as
//! `{name: shop, domains: [shop.example], package: {oci: local/shop:1}}`.

use anyhow::Context;
use sha2::Digest;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [xqd_dir, program, service] = args.as_slice() else {
        anyhow::bail!("usage: stage_xqd XQD_DIR PROGRAM(.wat|.wasm) SERVICE_YAML");
    };
    let wasm = if program.ends_with(".wat") {
        wat::parse_file(program).with_context(|| program.clone())?
    } else {
        std::fs::read(program).with_context(|| program.clone())?
    };
    let service = serde_yaml::from_str(service).context("SERVICE_YAML")?;
    let xqd = anywhere::xqd::Xqd::new(std::path::Path::new(xqd_dir));
    let staged = xqd.new_staging()?.keep();
    std::fs::write(staged.join("main.wasm"), &wasm)?;
    let manifest = anywhere::xqd::ServiceManifest {
        service,
        package_file: "main.wasm".into(),
        package_sha256: sha2::Sha256::digest(&wasm)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        package_bytes: wasm.len() as u64,
        origin: "stage_xqd".into(),
        fastly_version: None,
    };
    let id = xqd.activate(&staged, &manifest)?;
    println!("activated {id}");
    Ok(())
}
