//! The edge's routing table by domain, and its readiness.

use crate::engine::loaded::LoadedService;
use crate::server::front::Router;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

/// One service's state, as `/readyz` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceState {
    /// A version serves (its id).
    Serving(String),
    /// A version serves, and a newer one was refused (why).
    ServingOlder(String, String),
    /// Nothing serves (why).
    NotServing(String),
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
        *self.states.write().unwrap_or_else(|p| p.into_inner()) = Some(states);
    }

    /// From now on, unready.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Readiness: not draining, the first look at the xqd volume done, and
    /// at least one service serving (or none desired at all). A service
    /// that does not load is reported but does not make the pod unready
    /// while others serve: its domains answer an error either way, and the
    /// others keep their traffic.
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
            .map(|(name, state)| match state {
                ServiceState::Serving(id) => format!("{name}: serving {id}\n"),
                ServiceState::ServingOlder(id, why) => {
                    format!("{name}: serving {id}; a newer version was refused: {why}\n")
                }
                ServiceState::NotServing(why) => format!("{name}: not serving: {why}\n"),
            })
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
