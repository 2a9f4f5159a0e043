//! `/status` on the edge's admin port: what this pod runs and how it fares,
//! as JSON for people and tools debugging a POP — each service's state and
//! active version, versions refused, limits hit and traps by kind, plus
//! readiness and the runtime's version. Like `/readyz`, it carries states,
//! versions and counts, never error text (that goes to the log).

use super::router::{EdgeRouter, ServiceState};
use crate::metrics::Metrics;
use serde::Serialize;
use std::collections::BTreeMap;

/// The whole document.
#[derive(Debug, Serialize)]
pub struct EdgeStatus {
    /// `anywhere`'s version.
    pub runtime_version: &'static str,
    /// How instance slots are reset: `pagemap_scan` (Linux 6.7+) or a
    /// fallback, and why (nodes on older kernels run programs slower).
    pub slot_reset: &'static str,
    /// This pod.
    pub hostname: String,
    /// What `/readyz` answers.
    pub ready: bool,
    /// SIGTERM received.
    pub draining: bool,
    /// Requests refused at the concurrency limit, all services.
    pub rejected_requests: u64,
    /// Each service, by name.
    pub services: Vec<ServiceStatus>,
}

/// One service.
#[derive(Debug, Serialize)]
pub struct ServiceStatus {
    /// Its name.
    pub name: String,
    /// `serving`, `serving_older` (a newer version was refused) or
    /// `not_serving`.
    pub state: &'static str,
    /// The version that serves.
    pub version: Option<String>,
    /// Counts by event: `refused_version`, `limit:<kind>`, `trap:<kind>`.
    pub events: BTreeMap<String, u64>,
}

/// The edge's status now.
pub fn edge_status(router: &EdgeRouter, metrics: &Metrics) -> EdgeStatus {
    let services = router
        .states()
        .into_iter()
        .map(|(name, state)| {
            let (state, version) = match state {
                ServiceState::Serving(id) => ("serving", Some(id)),
                ServiceState::ServingOlder(id, _) => ("serving_older", Some(id)),
                ServiceState::NotServing(_) => ("not_serving", None),
            };
            ServiceStatus {
                events: metrics.events.of(&name),
                name,
                state,
                version,
            }
        })
        .collect();
    EdgeStatus {
        runtime_version: env!("CARGO_PKG_VERSION"),
        slot_reset: crate::engine::options::slot_reset_method(),
        hostname: crate::host::platform::hostname(),
        ready: router.readiness().is_ok(),
        draining: router.is_draining(),
        rejected_requests: metrics.rejected.get(),
        services,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn status_names_states_versions_and_counts_but_never_errors() {
        let router = EdgeRouter::default();
        let metrics = Metrics::default();
        router.publish(
            HashMap::new(),
            BTreeMap::from([
                ("shop".to_owned(), ServiceState::Serving("v2".into())),
                (
                    "blog".to_owned(),
                    ServiceState::ServingOlder("v1".into(), "/secret/path: bad magic".into()),
                ),
                (
                    "wiki".to_owned(),
                    ServiceState::NotServing("https://token@host/x".into()),
                ),
            ]),
        );
        metrics.events.count("shop", "limit:cpu");
        metrics.events.count("shop", "limit:cpu");
        metrics.events.count("blog", "refused_version");
        let text = serde_json::to_string(&edge_status(&router, &metrics)).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["ready"], true);
        assert_eq!(v["draining"], false);
        let services = v["services"].as_array().unwrap();
        let by_name = |n: &str| services.iter().find(|s| s["name"] == n).unwrap().clone();
        assert_eq!(by_name("shop")["state"], "serving");
        assert_eq!(by_name("shop")["version"], "v2");
        assert_eq!(by_name("shop")["events"]["limit:cpu"], 2);
        assert_eq!(by_name("blog")["state"], "serving_older");
        assert_eq!(by_name("blog")["events"]["refused_version"], 1);
        assert_eq!(by_name("wiki")["state"], "not_serving");
        assert!(by_name("wiki")["version"].is_null());
        assert!(
            !text.contains("secret") && !text.contains("token"),
            "{text}"
        );
        router.start_draining();
        let v = serde_json::to_value(edge_status(&router, &metrics)).unwrap();
        assert_eq!(
            (v["ready"].clone(), v["draining"].clone()),
            (false.into(), true.into())
        );
    }
}
