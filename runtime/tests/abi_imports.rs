//! Every import links: all 181 of a module built by @fastly/js-compute
//! 3.46, and all 246 functions fastly-sys 0.13.2 declares (a WAT fixture
//! generated from its source). Those we do not implement answer
//! UNSUPPORTED; docs/compatibility.md lists them, and this test keeps that
//! list true (UPDATE_GOLDEN=1 rewrites it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use anywhere::engine::Runtime;
use anywhere::engine::cache::{load_or_compile, sha256_hex};
use anywhere::limits::Limits;
use std::collections::BTreeMap;
use support::*;
use wasmtime::ExternType;

/// The source of every `hostcall!` line under runtime/src/abi: import
/// `module::name` → (file stem, Rust function). The compatibility table
/// links each import to its function with this.
fn hostcall_functions() -> BTreeMap<String, (String, String)> {
    let dir = root().join("runtime/src/abi");
    let mut sources = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "rs") {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            let code: String = std::fs::read_to_string(&path)
                .unwrap()
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join(" ");
            sources.insert(stem, code);
        }
    }
    let literal = |expr: &str, code: &str| -> Vec<String> {
        if let Some(lit) = expr.strip_prefix('"') {
            return vec![lit.trim_end_matches('"').to_owned()];
        }
        let decl = format!("const {expr}: &str = \"");
        code.split(&decl)
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .map(|m| vec![m.to_owned()])
            .unwrap_or_default()
    };
    // Modules whose header hostcalls `headers::add` links.
    let mut header_modules = Vec::new();
    for code in sources.values() {
        for call in code.split("headers::add::<").skip(1) {
            let arg = call.split(", ").nth(1).and_then(|a| a.split(')').next());
            header_modules.extend(arg.map(|a| literal(a.trim(), code)).unwrap_or_default());
        }
    }
    let mut found = BTreeMap::new();
    for (stem, code) in &sources {
        for call in code.split("hostcall!(").skip(1) {
            let call = call.split(");").next().unwrap();
            let call: String = call.split_whitespace().collect::<Vec<_>>().join(" ");
            let mut parts = call.splitn(3, ", ");
            let (Some(_linker), Some(module), Some(rest)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let rest = rest.trim_start_matches("async ");
            let Some((name, tail)) = rest.split_once('(') else {
                continue;
            };
            let function = match tail.split_once("=> ") {
                Some((_, path)) => path.trim().to_owned(),
                None => name.to_owned(),
            };
            let modules = if module == "module" {
                header_modules.clone()
            } else {
                literal(module, code)
            };
            for m in modules {
                found.insert(format!("{m}::{name}"), (stem.clone(), function.clone()));
            }
        }
    }
    found
}

/// The "Fixed answer: …" note in the doc comment of function `f` (its
/// generic arguments dropped) in `runtime/src/abi/<file>.rs`, or in any
/// other file there when that one does not define it.
fn fixed_answer(file: &str, f: &str) -> Option<String> {
    let dir = root().join("runtime/src/abi");
    let name = f.split("::<").next().unwrap_or(f);
    let name = name.rsplit("::").next().unwrap_or(name);
    let mut files = vec![dir.join(format!("{file}.rs"))];
    files.extend(
        std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "rs")),
    );
    let code = files.iter().find_map(|path| {
        let code = std::fs::read_to_string(path).ok()?;
        let defines = code.lines().any(|l| {
            let l = l
                .trim_start()
                .trim_start_matches("pub(super) ")
                .trim_start_matches("pub ");
            l.starts_with(&format!("fn {name}(")) || l.starts_with(&format!("fn {name}<"))
        });
        defines.then_some(code)
    })?;
    let lines: Vec<&str> = code.lines().collect();
    let at = lines.iter().position(|l| {
        let l = l
            .trim_start()
            .trim_start_matches("pub(super) ")
            .trim_start_matches("pub ");
        l.starts_with(&format!("fn {name}(")) || l.starts_with(&format!("fn {name}<"))
    })?;
    let mut doc = Vec::new();
    for l in lines[..at].iter().rev() {
        let t = l.trim_start();
        if let Some(text) = t.strip_prefix("///") {
            doc.push(text.trim());
        } else if !t.starts_with("#[") {
            break;
        }
    }
    doc.reverse();
    let start = doc.iter().position(|l| l.starts_with("Fixed answer:"))?;
    let mut note: Vec<&str> = vec![doc[start].trim_start_matches("Fixed answer:").trim()];
    note.extend(doc[start + 1..].iter().take_while(|l| !l.is_empty()));
    Some(note.join(" "))
}

/// `module::name` → implemented?
fn link(rt: &Runtime, wasm: &[u8]) -> BTreeMap<String, bool> {
    let (module, _) =
        load_or_compile(&rt.engine, wasm, &sha256_hex(wasm), Some(&module_cache())).unwrap();
    let mut linker = rt.linker.clone();
    let filled = anywhere::abi::unsupported::link_missing(&mut linker, &module).unwrap();
    linker.instantiate_pre(&module).expect("every import links");
    module
        .imports()
        .filter(|i| matches!(i.ty(), ExternType::Func(_)))
        .map(|i| {
            let q = format!("{}::{}", i.module(), i.name());
            let implemented = !filled.contains(&q);
            (q, implemented)
        })
        .collect()
}

#[test]
fn every_import_links_and_the_compatibility_list_is_true() {
    let rt = Runtime::new(&Limits::default()).unwrap();
    let js = link(&rt, &std::fs::read(js_guest("conformance")).unwrap());
    assert_eq!(
        js.len(),
        181,
        "a js-compute 3.46 module imports 181 functions"
    );
    let sys_wasm = wat::parse_file(wat_guest("fastly-sys-0.13-imports")).unwrap();
    let sys = link(&rt, &sys_wasm);
    assert_eq!(sys.len(), 246, "fastly-sys 0.13.2 declares 246 functions");

    // What the JS SDK uses for its everyday features must be implemented.
    for must in [
        "fastly_http_req::send_async_v2",
        "fastly_http_req::pending_req_wait_v2",
        "fastly_http_body::read",
        "fastly_http_resp::send_downstream",
        "fastly_kv_store::lookup_wait_v2",
        "fastly_http_downstream::next_request_wait",
        "wasi_snapshot_preview1::fd_write",
    ] {
        assert_eq!(js.get(must), Some(&true), "{must}");
    }

    let mut all: BTreeMap<String, (bool, &str)> = BTreeMap::new();
    for (q, ok) in &js {
        all.insert(q.clone(), (*ok, "js"));
    }
    for (q, ok) in &sys {
        all.entry(q.clone())
            .and_modify(|e| {
                assert_eq!(e.0, *ok, "{q}");
                e.1 = "both";
            })
            .or_insert((*ok, "rust"));
    }
    let functions = hostcall_functions();
    let mut rows = String::new();
    // Per module: real, fixed, unsupported.
    let mut by_module: BTreeMap<String, [usize; 3]> = BTreeMap::new();
    for (q, (ok, by)) in &all {
        let by = match *by {
            "js" => "js-compute 3.46",
            "rust" => "fastly-sys 0.13",
            _ => "both",
        };
        let (function, fixed) = match functions.get(q) {
            Some((file, f)) => {
                // A helper's name that says it answers a constant must say
                // which answer and why.
                let fixed = fixed_answer(file, f);
                let name = f.split("::<").next().unwrap_or(f);
                assert!(
                    fixed.is_some()
                        || !["absent_", "fixed_", "flag_false", "tcp_keepalive_unset"]
                            .iter()
                            .any(|p| name.starts_with(p)),
                    "{q}: `{f}` answers a constant; its doc comment needs a `Fixed answer:` line"
                );
                (
                    format!("[`{file}::{f}`](../runtime/src/abi/{file}.rs)"),
                    fixed,
                )
            }
            None if q.starts_with("wasi_snapshot_preview1::") => ("wasmtime-wasi".to_owned(), None),
            None if q == "fastly_abi::init" => (
                "[`add_to_linker`](../runtime/src/abi/mod.rs)".to_owned(),
                None,
            ),
            None if !*ok => ("—".to_owned(), None),
            None => panic!("{q} is implemented but no `hostcall!` line links it"),
        };
        let (column, status) = match (ok, &fixed) {
            (false, _) => (2, "**unsupported**".to_owned()),
            (true, Some(why)) => (1, format!("fixed: {why}")),
            (true, None) => (0, "real".to_owned()),
        };
        let module = q.split("::").next().unwrap_or(q).to_owned();
        by_module.entry(module).or_default()[column] += 1;
        rows.push_str(&format!("| `{q}` | {status} | {function} | {by} |\n"));
    }
    let total = by_module.values().fold([0; 3], |mut t, c| {
        for i in 0..3 {
            t[i] += c[i];
        }
        t
    });
    let mut table = format!(
        "{} functions: {} real, {} with a fixed answer, {} answer `UNSUPPORTED`.\n\n| module | real | fixed answer | unsupported |\n|---|---|---|---|\n",
        all.len(),
        total[0],
        total[1],
        total[2]
    );
    for (module, [real, fixed, unsupported]) in &by_module {
        table.push_str(&format!(
            "| `{module}` | {real} | {fixed} | {unsupported} |\n"
        ));
    }
    table.push_str(&format!(
        "| **all** | **{}** | **{}** | **{}** |\n\n| import | status | function | declared by |\n|---|---|---|---|\n{rows}",
        total[0], total[1], total[2]
    ));
    let path = root().join("docs/compatibility.md");
    let doc = std::fs::read_to_string(&path).unwrap_or_default();
    let marker = "<!-- generated by runtime/tests/abi_imports.rs -->\n";
    let head = doc.split(marker).next().unwrap_or_default().to_owned();
    let want = format!("{head}{marker}{table}");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, want).unwrap();
    } else {
        assert_eq!(
            doc, want,
            "docs/compatibility.md is stale: run UPDATE_GOLDEN=1 cargo test -p anywhere --test abi_imports"
        );
    }
}
