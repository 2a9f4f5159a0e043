//! Imports this runtime does not implement still link: a `fastly_*`
//! function answers `FastlyStatus::UNSUPPORTED`, anything else traps with a
//! message naming the import when called. A module never fails to load
//! because of an import.

use crate::abi::state::GuestState;
use wasmtime::{ExternType, Linker, Module, Val, ValType};

/// Defines every import of `module` that `linker` lacks. Returns the
/// `module::name` of each, for the service's load report.
pub fn link_missing(
    linker: &mut Linker<GuestState>,
    module: &Module,
) -> wasmtime::Result<Vec<String>> {
    let mut filled = Vec::new();
    for import in module.imports() {
        let ExternType::Func(ty) = import.ty() else {
            continue;
        };
        let (m, n) = (import.module().to_owned(), import.name().to_owned());
        let fastly = m.starts_with("fastly_");
        let answers_status =
            ty.results().len() == 1 && matches!(ty.results().next(), Some(ValType::I32));
        let qualified = format!("{m}::{n}");
        let message = qualified.clone();
        let defined = linker.func_new(
            &m,
            &n,
            ty,
            move |_caller, _args: &[Val], results: &mut [Val]| {
                if fastly && answers_status {
                    results[0] = Val::I32(fastly_shared::FastlyStatus::UNSUPPORTED.code);
                    Ok(())
                } else {
                    Err(wasmtime::format_err!(
                        "import {message} is not provided by Fastly Anywhere"
                    ))
                }
            },
        );
        // An error means the name is already defined: implemented, keep it.
        if defined.is_ok() {
            filled.push(qualified);
        }
    }
    Ok(filled)
}
