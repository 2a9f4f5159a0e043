#![allow(clippy::unwrap_used)]

//! The chart's `values.yaml` and `values.schema.json` are generated from the
//! Rust types; these tests fail when the committed files drift. Rewrite them
//! with `UPDATE_GOLDEN=1 cargo test -p values-schema --test chart_files`.

use std::path::PathBuf;

fn chart_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../charts/fastly-anywhere")
        .join(name)
}

fn check(name: &str, generated: &str) {
    let path = chart_file(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} differs from what the Rust types generate; run UPDATE_GOLDEN=1 cargo test -p values-schema --test chart_files",
        path.display()
    );
}

#[test]
fn values_schema_json_is_generated() {
    check(
        "values.schema.json",
        &values_schema::schema::values_schema_json(),
    );
}

#[test]
fn values_yaml_is_generated() {
    check("values.yaml", &values_schema::values_yaml::values_yaml());
}

#[test]
fn every_code_is_documented() {
    let doc = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/diagnostics.md"),
    )
    .unwrap();
    for code in values_schema::Code::ALL {
        assert!(
            doc.contains(&format!("| {} | {} |", code.as_str(), code.title())),
            "docs/diagnostics.md lacks {code}"
        );
    }
}
