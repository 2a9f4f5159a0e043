//! The edge's routing table by domain, and its readiness.

use crate::engine::loaded::LoadedService;
use crate::server::front::Router;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

/// One service's state. `/readyz` reports its name and version ids only:
/// the reasons are load errors, which can carry paths, URLs and program
/// output, and go to the edge's log, never to whoever asks the admin port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceState {
    /// A version serves (its id).
    Serving(String),
    /// A version serves, and a newer one was refused (why: for the log).
    ServingOlder(String, String),
    /// Nothing serves (why: for the log).
    NotServing(String),
}

impl ServiceState {
    /// The line `/readyz` shows for service `name`: the state and version,
    /// never the reason.
    fn report_line(&self, name: &str) -> String {
        match self {
            ServiceState::Serving(id) => format!("{name}: serving {}\n", printable(id)),
            ServiceState::ServingOlder(id, _) => format!(
                "{name}: serving older {}; a newer version was refused (see the edge's log)\n",
                printable(id)
            ),
            ServiceState::NotServing(_) => format!("{name}: not serving (see the edge's log)\n"),
        }
    }
}

/// A version id as read from the xqd volume, without anything that could
/// start another line or hide text.
fn printable(id: &str) -> String {
    id.chars()
        .filter(char::is_ascii_graphic)
        .take(128)
        .collect()
}

/// The routing table by domain, and what readiness reports.
#[derive(Default)]
pub struct EdgeRouter {
    routes: RwLock<HashMap<String, Arc<LoadedService>>>,
    states: RwLock<Option<BTreeMap<String, ServiceState>>>,
    draining: AtomicBool,
}

impl Router for EdgeRouter {
    fn route(&self, host: &str) -> Option<Arc<LoadedService>> {
        let routes = self.routes.read().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = routes.get(host) {
            return Some(s.clone());
        }
        // `*.example.com` matches one label.
        let (_, parent) = host.split_once('.')?;
        routes.get(&format!("*.{parent}")).cloned()
    }
}

impl EdgeRouter {
    /// Replaces the routes and the per-service states.
    pub fn publish(
        &self,
        routes: HashMap<String, Arc<LoadedService>>,
        states: BTreeMap<String, ServiceState>,
    ) {
        *self.routes.write().unwrap_or_else(|p| p.into_inner()) = routes;
        let mut current = self.states.write().unwrap_or_else(|p| p.into_inner());
        // `/readyz` shows states only: each change goes to the log with its
        // reason, so that an operator sees why.
        for (name, state) in &states {
            let before = current.as_ref().and_then(|c| c.get(name));
            if before == Some(state) {
                continue;
            }
            match state {
                ServiceState::Serving(id) => {
                    tracing::info!(service = %name, version = %id, "serving")
                }
                ServiceState::ServingOlder(id, why) => {
                    tracing::warn!(service = %name, version = %id, why = %why, "serving an older version: a newer one was refused")
                }
                ServiceState::NotServing(why) => {
                    tracing::warn!(service = %name, why = %why, "not serving")
                }
            }
        }
        *current = Some(states);
    }

    /// From now on, unready.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Whether SIGTERM has come.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Each service's state (empty before the first look at the volume).
    pub fn states(&self) -> BTreeMap<String, ServiceState> {
        let states = self.states.read().unwrap_or_else(|p| p.into_inner());
        states.clone().unwrap_or_default()
    }

    /// Readiness: not draining, the first look at the xqd volume done, and
    /// at least one service serving (or none desired at all). A service
    /// that does not load is reported (by state, not by reason) but does
    /// not make the pod unready while others serve: its domains answer an
    /// error either way, and the others keep their traffic.
    pub fn readiness(&self) -> Result<String, String> {
        if self.draining.load(Ordering::Relaxed) {
            return Err("draining".into());
        }
        let states = self.states.read().unwrap_or_else(|p| p.into_inner());
        let Some(states) = states.as_ref() else {
            return Err("starting".into());
        };
        let report: String = states
            .iter()
            .map(|(name, state)| state.report_line(name))
            .collect();
        let serving = states
            .values()
            .any(|s| !matches!(s, ServiceState::NotServing(_)));
        if serving || states.is_empty() {
            Ok(report)
        } else {
            Err(format!("no service serves\n{report}"))
        }
    }
}

impl crate::server::purge::ServiceLookup for EdgeRouter {
    fn has_service(&self, name: &str) -> bool {
        let states = self.states.read().unwrap_or_else(|p| p.into_inner());
        states.as_ref().is_some_and(|s| s.contains_key(name))
    }

    fn service_for_host(&self, host: &str) -> Option<String> {
        self.route(host).map(|s| s.env.name.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a failed load leaves in the state: a path, a URL with a
    /// token, and the program's own output.
    const WHY: &str = "version abc: reading /var/lib/xqd/secret/pkg.tar.gz: GET https://user:tok3n@registry.example/v2: program said: <script>";

    fn report(states: &[(&str, ServiceState)]) -> Result<String, String> {
        let router = EdgeRouter::default();
        router.publish(
            HashMap::new(),
            states
                .iter()
                .map(|(n, s)| (n.to_string(), s.clone()))
                .collect(),
        );
        router.readiness()
    }

    #[test]
    fn readyz_names_states_and_never_load_errors() {
        let ready = report(&[
            ("a", ServiceState::Serving("v1".into())),
            ("b", ServiceState::ServingOlder("v2".into(), WHY.into())),
            ("c", ServiceState::NotServing(WHY.into())),
        ])
        .unwrap();
        assert_eq!(
            ready,
            "a: serving v1\n\
             b: serving older v2; a newer version was refused (see the edge's log)\n\
             c: not serving (see the edge's log)\n"
        );
        let unready = report(&[("c", ServiceState::NotServing(WHY.into()))]).unwrap_err();
        assert_eq!(
            unready,
            "no service serves\nc: not serving (see the edge's log)\n"
        );
        for text in [ready, unready] {
            for secret in ["/var/lib", "tok3n", "registry", "script", "abc"] {
                assert!(!text.contains(secret), "{secret} in {text}");
            }
        }
    }

    #[test]
    fn a_version_id_cannot_add_lines() {
        let ready = report(&[("a", ServiceState::Serving("v1\nb: serving".into()))]).unwrap();
        assert_eq!(ready, "a: serving v1b:serving\n");
    }
}
