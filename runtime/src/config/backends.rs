//! `[local_server.backends.NAME]`: the origins a program may send to.

use super::ConfigError;
use super::fastly_toml::{Ctx, warn_unknown};
use std::collections::BTreeMap;
use std::time::Duration;

const BACKEND_KEYS: &[&str] = &[
    "url",
    "override_host",
    "cert_host",
    "use_sni",
    "ca_certificate",
    "client_certificate",
    "grpc",
    "connect_timeout_ms",
    "first_byte_timeout_ms",
    "between_bytes_timeout_ms",
];

/// One backend: where requests go and how to connect.
#[derive(Debug, Clone, PartialEq)]
pub struct BackendConfig {
    /// Origin URL; its scheme, host and port are used, and a path prefix is
    /// put before the request's path.
    pub url: http::Uri,
    /// Host header sent instead of the request's.
    pub override_host: Option<String>,
    /// Dynamic backends are registered by the program itself.
    pub dynamic: bool,
    /// Connection timeouts.
    pub connect_timeout: Duration,
    /// Time to the first byte of the response.
    pub first_byte_timeout: Duration,
    /// Time between two bytes of the response body.
    pub between_bytes_timeout: Duration,
    /// TLS settings (used when the URL is https).
    pub tls: TlsOptions,
    /// Speak HTTP/2 with prior knowledge (gRPC backends).
    pub grpc: bool,
    /// Probe the origin's health (values only).
    pub health_check: Option<HealthCheck>,
}

/// TLS settings of a backend.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TlsOptions {
    /// Host name the certificate must be valid for (default: the URL's).
    pub cert_host: Option<String>,
    /// Send SNI (default true).
    pub use_sni: bool,
    /// Extra trusted CA certificates, PEM.
    pub ca_certificates: Vec<String>,
    /// Client certificate and key, PEM.
    pub client_certificate: Option<(String, String)>,
    /// Lowest TLS version (1.2 or 1.3).
    pub min_version: Option<u8>,
    /// Highest TLS version.
    pub max_version: Option<u8>,
}

impl BackendConfig {
    /// A backend at `url` with Fastly's default timeouts.
    pub fn new(url: http::Uri) -> Self {
        BackendConfig {
            url,
            override_host: None,
            dynamic: false,
            connect_timeout: Duration::from_secs(1),
            first_byte_timeout: Duration::from_secs(15),
            between_bytes_timeout: Duration::from_secs(10),
            tls: TlsOptions {
                use_sni: true,
                ..TlsOptions::default()
            },
            grpc: false,
            health_check: None,
        }
    }

    /// True when requests go over TLS.
    pub fn is_tls(&self) -> bool {
        self.url.scheme_str() == Some("https")
    }

    /// The origin's host name or IP.
    pub fn host(&self) -> &str {
        self.url.host().unwrap_or_default()
    }

    /// The origin's port, from the URL or the scheme's default.
    pub fn port(&self) -> u16 {
        self.url
            .port_u16()
            .unwrap_or(if self.is_tls() { 443 } else { 80 })
    }
}

/// What a health check probes and how it judges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// The path probed with GET.
    pub path: String,
    /// Time between probes.
    pub interval: Duration,
    /// Time a probe may take.
    pub timeout: Duration,
    /// The status a healthy origin answers.
    pub expected_status: u16,
    /// Probes remembered.
    pub window: u8,
    /// Successes among them for "healthy".
    pub threshold: u8,
    /// Successes assumed before the first probe.
    pub initial: u8,
}

impl HealthCheck {
    /// `GET path` with Fastly's defaults: every 5 s, 500 ms to answer 200,
    /// 3 of the last 5, 4 assumed at start.
    pub fn new(path: String) -> Self {
        HealthCheck {
            path,
            interval: Duration::from_secs(5),
            timeout: Duration::from_millis(500),
            expected_status: 200,
            window: 5,
            threshold: 3,
            initial: 4,
        }
    }
}

/// Parses a backend URL, as given in config or to `register_dynamic_backend`.
pub fn parse_backend_url(text: &str) -> Result<http::Uri, String> {
    let uri: http::Uri = text.parse().map_err(|e| {
        format!(
            "`{text}` is not a URL ({e}); write it as http://host[:port] or https://host[:port]"
        )
    })?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(format!("`{text}` must start with http:// or https://")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("`{text}` has no host"));
    }
    Ok(uri)
}

pub(super) fn parse(
    ctx: &Ctx<'_>,
    value: &toml::Value,
    warnings: &mut Vec<String>,
) -> Result<BTreeMap<String, BackendConfig>, ConfigError> {
    let mut out = BTreeMap::new();
    for (name, entry) in ctx.table("local_server.backends", value)? {
        let key = format!("local_server.backends.{name}");
        let table = ctx.table(&key, entry)?;
        warn_unknown(ctx.file, &format!("{key}."), table, BACKEND_KEYS, warnings);
        let url = table
            .get("url")
            .ok_or_else(|| ctx.err(&key, "has no `url`; add url = \"http://host:port\""))?;
        let url = parse_backend_url(ctx.string(&format!("{key}.url"), url)?)
            .map_err(|m| ctx.err(format!("{key}.url"), m))?;
        let mut backend = BackendConfig::new(url);
        let opt_str = |k: &str| -> Result<Option<String>, ConfigError> {
            table
                .get(k)
                .map(|v| ctx.string(&format!("{key}.{k}"), v).map(str::to_owned))
                .transpose()
        };
        backend.override_host = opt_str("override_host")?;
        backend.tls.cert_host = opt_str("cert_host")?;
        if let Some(v) = table.get("use_sni") {
            backend.tls.use_sni = v
                .as_bool()
                .ok_or_else(|| ctx.err(format!("{key}.use_sni"), "must be true or false"))?;
        }
        if let Some(v) = table.get("grpc") {
            backend.grpc = v
                .as_bool()
                .ok_or_else(|| ctx.err(format!("{key}.grpc"), "must be true or false"))?;
        }
        for (k, slot) in [
            ("connect_timeout_ms", &mut backend.connect_timeout),
            ("first_byte_timeout_ms", &mut backend.first_byte_timeout),
            (
                "between_bytes_timeout_ms",
                &mut backend.between_bytes_timeout,
            ),
        ] {
            if let Some(v) = table.get(k) {
                let ms = v.as_integer().filter(|ms| *ms > 0).ok_or_else(|| {
                    ctx.err(
                        format!("{key}.{k}"),
                        "must be a positive number of milliseconds",
                    )
                })?;
                *slot = Duration::from_millis(ms.unsigned_abs());
            }
        }
        if let Some(v) = table.get("ca_certificate") {
            backend.tls.ca_certificates = pem_list(ctx, &format!("{key}.ca_certificate"), v)?;
        }
        if let Some(v) = table.get("client_certificate") {
            let k = format!("{key}.client_certificate");
            let t = ctx.table(&k, v)?;
            let cert = pem_one(ctx, &format!("{k}.certificate"), t.get("certificate"))?;
            let key_pem = pem_one(ctx, &format!("{k}.key"), t.get("key"))?;
            backend.tls.client_certificate = Some((cert, key_pem));
        }
        out.insert(name.clone(), backend);
    }
    Ok(out)
}

/// A PEM given inline (a string starting with `-----BEGIN`) or as
/// `{ file = "path" }`.
fn pem_one(ctx: &Ctx<'_>, key: &str, value: Option<&toml::Value>) -> Result<String, ConfigError> {
    let value = value
        .ok_or_else(|| ctx.err(key, "is missing; give the PEM text or { file = \"path\" }"))?;
    match value {
        toml::Value::String(s) if s.trim_start().starts_with("-----BEGIN") => Ok(s.clone()),
        toml::Value::String(s) => Ok(ctx.read(key, s)?.1),
        toml::Value::Table(t) => {
            let file = t
                .get("file")
                .ok_or_else(|| ctx.err(key, "a table here needs `file`"))?;
            Ok(ctx.read(key, ctx.string(&format!("{key}.file"), file)?)?.1)
        }
        other => Err(ctx.err(
            key,
            format!(
                "must be PEM text or {{ file = \"path\" }}, found {}",
                other.type_str()
            ),
        )),
    }
}

fn pem_list(ctx: &Ctx<'_>, key: &str, value: &toml::Value) -> Result<Vec<String>, ConfigError> {
    match value {
        toml::Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| pem_one(ctx, &format!("{key}[{i}]"), Some(v)))
            .collect(),
        v => Ok(vec![pem_one(ctx, key, Some(v))?]),
    }
}
