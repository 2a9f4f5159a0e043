//! WebAssembly components. Fastly's newer SDKs and its local tool can build
//! and run Compute programs as components of the `fastly:compute` WIT
//! world; the SDKs on this machine (`@fastly/js-compute` 3.46, the `fastly`
//! crate, Go's wasip1 target) build core modules, which is what we run. A
//! component gets a clear refusal that lists the interfaces it imports: the
//! hostcalls it would need.

use wasmtime::Engine;

/// Whether `wasm` is a component rather than a core module: the binary's
/// header says so (version 0x0d, layer 1).
pub fn is_component(wasm: &[u8]) -> bool {
    wasm.get(..8) == Some(b"\0asm\x0d\x00\x01\x00".as_slice())
}

/// Why a component cannot run, with what it imports.
pub fn refusal(engine: &Engine, wasm: &[u8]) -> anyhow::Error {
    let imports = match wasmtime::component::Component::new(engine, wasm) {
        Ok(c) => {
            let ty = c.component_type();
            let names: Vec<String> = ty.imports(engine).map(|(n, _)| n.to_owned()).collect();
            if names.is_empty() {
                "no imports".to_owned()
            } else {
                format!("imports {}", names.join(", "))
            }
        }
        Err(e) => format!("not a valid component either: {e:#}"),
    };
    anyhow::anyhow!(
        "this is a WebAssembly component ({imports}); Fastly Anywhere runs Compute programs \
         as core modules, which @fastly/js-compute, the `fastly` crate and Go's wasip1 target \
         build: build the program as a module (components are not supported yet)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_component_is_refused_with_its_imports() {
        let engine = Engine::default();
        let wasm = wat::parse_str(
            r#"(component
                 (import "fastly:compute/http-req@0.1.0" (instance))
                 (import "wasi:cli/environment@0.2.0" (instance)))"#,
        )
        .unwrap();
        assert!(is_component(&wasm));
        let e = refusal(&engine, &wasm).to_string();
        assert!(
            e.contains("fastly:compute/http-req@0.1.0, wasi:cli/environment@0.2.0"),
            "{e}"
        );
        assert!(e.contains("core modules"), "{e}");
        let module = wat::parse_str("(module)").unwrap();
        assert!(!is_component(&module));
    }
}
