//! The remaining sections: certificates, image, disruption budget, service
//! account and log endpoints.

use crate::values::{LogEndpoint, LogEndpointKind};
use crate::{Code, Finding, KeyPath, Values};
use std::collections::BTreeMap;

/// Rules for the remaining sections; `reads` says whether the sections a
/// rule reads are free of schema errors.
pub fn check(v: &Values, reads: &dyn Fn(&[&str]) -> bool) -> Vec<Finding> {
    let mut found = Vec::new();
    if reads(&["certManager"])
        && !v.cert_manager.create_issuer
        && v.cert_manager
            .issuer_ref
            .name
            .as_deref()
            .is_none_or(|n| n.trim().is_empty())
    {
        found.push(
            Finding::new(
                Code::IssuerMissing,
                KeyPath::dotted("certManager.issuerRef.name"),
                "`createIssuer` is off and no issuer is named: the mTLS certificate would never be issued",
            )
            .help("name an existing Issuer or ClusterIssuer, or set `certManager.createIssuer: true`"),
        );
    }
    if reads(&["certManager"])
        && let (Ok(life), Ok(renew)) = (
            v.cert_manager.duration.value(),
            v.cert_manager.renew_before.value(),
        )
        && renew >= life
    {
        found.push(
            Finding::new(
                Code::LimitsInconsistent,
                KeyPath::dotted("certManager.renewBefore"),
                format!(
                    "renewBefore {} is not shorter than duration {}",
                    v.cert_manager.renew_before, v.cert_manager.duration
                ),
            )
            .help("renew well before expiry, for example duration 2160h and renewBefore 360h"),
        );
    }
    if reads(&["image"]) && v.image.digest.is_none() && v.image.tag.as_deref() == Some("latest") {
        found.push(
            Finding::new(
                Code::ImageNotPinned,
                KeyPath::dotted("image.tag"),
                "`latest` moves: pods started at different times may run different builds",
            )
            .help("use a version tag, or remove the key for the chart's appVersion, or set `image.digest`"),
        );
    }
    if reads(&["podDisruptionBudget"])
        && v.pod_disruption_budget.enabled
        && v.pod_disruption_budget.max_unavailable == 0
    {
        found.push(
            Finding::new(
                Code::PdbBlocksDrain,
                KeyPath::dotted("podDisruptionBudget.maxUnavailable"),
                "0 pods may be unavailable: node drains and cluster upgrades block forever",
            )
            .help("allow at least 1"),
        );
    }
    if reads(&["serviceAccount"])
        && !v.service_account.create
        && v.service_account
            .name
            .as_deref()
            .is_none_or(|n| n.trim().is_empty())
    {
        found.push(
            Finding::new(
                Code::ServiceAccountMissing,
                KeyPath::dotted("serviceAccount.name"),
                "`create` is off and no ServiceAccount is named: the agent could not list the POP's pods",
            )
            .help("name a ServiceAccount allowed to get, list and watch pods in this namespace, or set `serviceAccount.create: true`"),
        );
    }
    if reads(&["observability"]) {
        log_endpoints(v, &mut found);
    }
    found
}

fn log_endpoints(v: &Values, found: &mut Vec<Finding>) {
    endpoint_list(
        &v.observability.log_endpoints,
        &KeyPath::dotted("observability.logEndpoints"),
        found,
    );
    for (i, service) in v.services.iter().enumerate() {
        let root = KeyPath::dotted("services").index(i).key("logEndpoints");
        endpoint_list(&service.log_endpoints, &root, found);
    }
    if let Some(url) = &v.observability.otlp_endpoint
        && let Err(why) = super::services::check_url(url, &["https", "http"])
    {
        found.push(
            Finding::new(
                Code::LogEndpoint,
                KeyPath::dotted("observability.otlpEndpoint"),
                why,
            )
            .help("give the collector's OTLP/HTTP base URL, such as http://otel-collector.monitoring:4318"),
        );
    }
    if let Some(url) = &v.observability.metrics.push.url
        && let Err(why) = super::services::check_url(url, &["https", "http"])
    {
        found.push(
            Finding::new(
                Code::LogEndpoint,
                KeyPath::dotted("observability.metrics.push.url"),
                why,
            )
            .help("give the remote-write URL, such as https://prometheus.example/api/v1/write"),
        );
    }
}

fn endpoint_list(list: &[LogEndpoint], root: &KeyPath, found: &mut Vec<Finding>) {
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, e) in list.iter().enumerate() {
        let here = root.index(i);
        if names.insert(&e.name, i).is_some() {
            found.push(
                Finding::new(
                    Code::DuplicateName,
                    here.key("name"),
                    format!("log endpoint `{}` is declared twice", e.name),
                )
                .help("names must be unique"),
            );
        }
        endpoint_url(e, &here, found);
        endpoint_tls(e, &here, found);
    }
}

fn endpoint_url(e: &LogEndpoint, here: &KeyPath, found: &mut Vec<Finding>) {
    let (schemes, help): (&[&str], &str) = match e.kind {
        LogEndpointKind::Stdout => (
            &[],
            "remove `url`: stdout endpoints write to the edge container's output",
        ),
        LogEndpointKind::Https => (&["https"], "give the collector's https:// URL"),
        LogEndpointKind::Syslog => (
            &["tcp", "tls", "udp"],
            "give the receiver as tcp://host:port, tls://host:port or udp://host:port",
        ),
    };
    match (&e.url, schemes.is_empty()) {
        (Some(_), true) => found.push(
            Finding::new(
                Code::LogEndpoint,
                here.key("url"),
                "a stdout endpoint takes no URL",
            )
            .help(help),
        ),
        (None, false) => found.push(
            Finding::new(
                Code::LogEndpoint,
                here.clone(),
                "this endpoint needs a `url`",
            )
            .help(help),
        ),
        (Some(url), false) => {
            if let Err(why) = super::services::check_url(url, schemes) {
                found.push(Finding::new(Code::LogEndpoint, here.key("url"), why).help(help));
            }
        }
        (None, true) => {}
    }
}

/// `tlsHostname` and `tlsCaCert` only where TLS is spoken, and a CA that
/// is a PEM certificate.
fn endpoint_tls(e: &LogEndpoint, here: &KeyPath, found: &mut Vec<Finding>) {
    let url = e.url.as_deref().unwrap_or("");
    let tls = url.starts_with("https://") || url.starts_with("tls://");
    for (key, set) in [
        ("tlsHostname", e.tls_hostname.is_some()),
        ("tlsCaCert", e.tls_ca_cert.is_some()),
    ] {
        if set && !tls {
            found.push(
                Finding::new(
                    Code::LogEndpoint,
                    here.key(key),
                    format!("`{key}` applies to https:// and tls:// endpoints only"),
                )
                .help("remove it, or use a tls:// syslog URL"),
            );
        }
    }
    if let Some(pem) = &e.tls_ca_cert
        && !pem.contains("-----BEGIN CERTIFICATE-----")
    {
        found.push(
            Finding::new(
                Code::LogEndpoint,
                here.key("tlsCaCert"),
                "this is not a PEM certificate",
            )
            .help("paste the CA certificate, from -----BEGIN CERTIFICATE----- to its END line"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantity::GoDuration;
    use crate::values::LogEndpoint;

    fn codes(v: &Values) -> Vec<(String, &'static str)> {
        check(v, &|_| true)
            .into_iter()
            .map(|f| (f.path.to_string(), f.code.as_str()))
            .collect()
    }

    #[test]
    fn defaults_pass() {
        assert!(codes(&Values::default()).is_empty());
    }

    #[test]
    fn flags_inconsistent_settings() {
        let mut v = Values::default();
        v.cert_manager.renew_before = GoDuration("5000h".into());
        v.cert_manager.create_issuer = false;
        v.image.tag = Some("latest".into());
        v.pod_disruption_budget.max_unavailable = 0;
        v.service_account.create = false;
        v.observability.log_endpoints = vec![
            LogEndpoint {
                name: "a".into(),
                kind: LogEndpointKind::Https,
                url: None,
                tls_hostname: Some("logs.example".into()),
                tls_ca_cert: None,
            },
            LogEndpoint {
                name: "a".into(),
                kind: LogEndpointKind::Syslog,
                url: Some("https://x".into()),
                tls_hostname: None,
                tls_ca_cert: None,
            },
        ];
        let found: Vec<_> = codes(&v).into_iter().map(|c| c.1).collect();
        assert_eq!(
            found,
            [
                "E0620", "E0610", "W0630", "W0600", "E0640", "E0650", "E0650", "E0506", "E0650"
            ]
        );
    }
}
