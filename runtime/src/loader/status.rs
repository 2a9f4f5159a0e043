//! `/status` on the loader's admin port: each service's activation record
//! as JSON — failures in a row, the step that failed last, versions
//! activated — and when the last pass ended. Counts and steps only: the
//! error text goes to the log.

use serde::Serialize;
use std::collections::BTreeMap;

/// What the admin port reports.
#[derive(Debug, Default, Serialize)]
pub struct Status {
    /// The first pass over the sources has ended.
    pub first_pass_done: bool,
    /// Passes so far.
    pub passes: u64,
    /// When the last pass ended (seconds since the epoch).
    pub last_pass_unix: Option<u64>,
    /// Problems of the last pass by service (or source): for `/readyz`.
    #[serde(skip)]
    pub problems: BTreeMap<String, String>,
    /// Each service seen, by name.
    pub services: BTreeMap<String, ServiceRecord>,
}

/// One service's activations.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ServiceRecord {
    /// Versions activated since the loader started.
    pub activations: u64,
    /// Failed attempts since the last success.
    pub failures_in_a_row: u32,
    /// The step of the last failure: `fetch`, `verify` or `activate`.
    pub last_failed_step: Option<&'static str>,
}

impl Status {
    /// The record of `service`, created when first seen.
    pub fn service(&mut self, service: &str) -> &mut ServiceRecord {
        self.services.entry(service.to_owned()).or_default()
    }

    /// As JSON.
    pub fn to_json(&self) -> String {
        let mut doc = serde_json::to_value(self).unwrap_or_default();
        if let Some(map) = doc.as_object_mut() {
            map.insert("runtime_version".into(), env!("CARGO_PKG_VERSION").into());
        }
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_counts_steps_and_never_shows_problem_text() {
        let mut s = Status::default();
        s.problems
            .insert("shop".into(), "fetch https://user:pw@x/p: 403".into());
        s.service("shop").failures_in_a_row = 2;
        s.service("shop").last_failed_step = Some("fetch");
        s.service("blog").activations = 1;
        let text = s.to_json();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["services"]["shop"]["failures_in_a_row"], 2);
        assert_eq!(v["services"]["shop"]["last_failed_step"], "fetch");
        assert_eq!(v["services"]["blog"]["activations"], 1);
        assert!(v["runtime_version"].is_string());
        assert!(!text.contains("pw@"), "{text}");
    }
}
