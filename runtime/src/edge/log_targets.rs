//! A service's log endpoints: the POP-wide ones of
//! `observability.logEndpoints`, with the service's own added (one of the
//! same name replaces the POP-wide one), each turned into where its lines
//! go.

use crate::host::log_ship::{
    Deliveries, Destination, Endpoint, Origin, ShipCounters, ShipLimits, Shipper, endpoint_tls,
};
use crate::host::logs::LogTarget;
use crate::host::platform::hostname;
use crate::metrics::Metrics;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use values_schema::values::{LogEndpoint, LogEndpointKind, Observability, Service};

/// The endpoints `service` writes to, by name.
pub fn endpoints_of<'a>(
    service: &'a Service,
    obs: &'a Observability,
) -> BTreeMap<&'a str, &'a LogEndpoint> {
    let mut by_name: BTreeMap<&str, &LogEndpoint> = obs
        .log_endpoints
        .iter()
        .map(|e| (e.name.as_str(), e))
        .collect();
    for e in &service.log_endpoints {
        by_name.insert(&e.name, e);
    }
    by_name
}

/// Each endpoint's target: stdout, or a delivery task of its own for HTTPS
/// and syslog endpoints (one per endpoint and loaded version; the old
/// version's task delivers what it has queued, then ends).
pub fn log_targets(
    service: &Service,
    obs: &Observability,
    metrics: &Metrics,
    deliveries: &Deliveries,
) -> anyhow::Result<HashMap<String, LogTarget>> {
    let mut targets = HashMap::new();
    for (name, e) in endpoints_of(service, obs) {
        let target = match (e.kind, &e.url) {
            (LogEndpointKind::Stdout, _) => LogTarget::Stdout,
            (LogEndpointKind::Https | LogEndpointKind::Syslog, Some(url)) => {
                let shipper = shipper(&service.name, e, url, metrics, deliveries)
                    .map_err(|why| anyhow::anyhow!("log endpoint `{name}`: {why}"))?;
                LogTarget::Ship(Arc::new(shipper))
            }
            (_, None) => anyhow::bail!("log endpoint `{name}` has no url"),
        };
        targets.insert(name.to_owned(), target);
    }
    Ok(targets)
}

fn shipper(
    service: &str,
    e: &LogEndpoint,
    url: &str,
    metrics: &Metrics,
    deliveries: &Deliveries,
) -> Result<Shipper, String> {
    let endpoint = Endpoint {
        destination: Destination::from_url(url, e.tls_hostname.as_deref())?,
        tls: endpoint_tls(e.tls_ca_cert.as_deref())?,
    };
    let labels = Metrics::kind(service, &e.name);
    let counters = ShipCounters {
        sent: metrics.logs.sent.get_or_create(&labels).clone(),
        dropped: metrics.logs.dropped.get_or_create(&labels).clone(),
        failures: metrics.logs.failures.get_or_create(&labels).clone(),
    };
    let origin = Origin {
        service: service.to_owned(),
        endpoint: e.name.clone(),
        hostname: hostname(),
    };
    Shipper::start(
        origin,
        endpoint,
        ShipLimits::default(),
        counters,
        deliveries,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(name: &str, url: &str) -> LogEndpoint {
        LogEndpoint {
            name: name.into(),
            kind: LogEndpointKind::Syslog,
            url: Some(url.into()),
            tls_hostname: None,
            tls_ca_cert: None,
        }
    }

    #[test]
    fn a_service_adds_endpoints_and_replaces_those_of_the_same_name() {
        let obs = Observability {
            log_endpoints: vec![
                endpoint("audit", "tcp://pop-wide:514"),
                endpoint("access", "tcp://pop-wide:515"),
            ],
            ..Observability::default()
        };
        let service: Service = serde_yaml::from_str(
            "name: shop\ndomains: [a.example]\npackage: {url: 'https://x/p.tar.gz', sha256: 'ab'}\nlogEndpoints:\n  - {name: access, type: syslog, url: 'tcp://shop:516'}\n  - {name: orders, type: syslog, url: 'udp://shop:517'}\n",
        )
        .unwrap();
        let urls: Vec<(&str, &str)> = endpoints_of(&service, &obs)
            .into_iter()
            .map(|(name, e)| (name, e.url.as_deref().unwrap()))
            .collect();
        assert_eq!(
            urls,
            [
                ("access", "tcp://shop:516"),
                ("audit", "tcp://pop-wide:514"),
                ("orders", "udp://shop:517")
            ]
        );
    }
}
