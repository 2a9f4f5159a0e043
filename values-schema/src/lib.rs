//! The values of the `fastly-anywhere` Helm chart as Rust types: the one
//! source of truth for what a user may write in `values.yaml`.
//!
//! From these types come the chart's `values.schema.json` ([`schema`]), its
//! commented `values.yaml` ([`values_yaml`]), the schema check with
//! structured findings ([`schema_check`]) and the rules that a JSON schema
//! cannot express ([`rules`]). The crate does no I/O: positions in files
//! belong to the caller, which maps a [`KeyPath`] back to its source.

pub mod check;
pub mod finding;
pub mod key_path;
pub mod quantity;
pub mod rules;
pub mod schema;
pub mod schema_check;
pub mod values;
pub mod values_yaml;

pub use check::{REDACTED, check_values, is_secret, with_defaults};
pub use finding::{Code, Finding, Severity};
pub use key_path::{KeyPath, Segment};
pub use values::Values;
