//! Backends: the static ones from config and those a program registers at
//! run time, each with its own pooled HTTP client (hyper, rustls), and the
//! sending of a request with Fastly's timeouts and error details.

use super::body::{OutgoingBody, StreamBody, boxed};
use super::egress::{AddressPolicy, EgressPolicy, PolicyConnector, REFUSED_MARK, literal_host};
use super::{HostError, HostResult};
use crate::config::{BackendConfig, TlsOptions};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type HttpsClient = Client<hyper_rustls::HttpsConnector<PolicyConnector>, OutgoingBody>;

/// `SendErrorDetailTag` values of the ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum SendErrorTag {
    /// DNS resolution failed.
    DnsError = 3,
    /// The address may not be reached (the egress policy).
    DestinationIpUnroutable = 6,
    /// The origin refused the connection.
    ConnectionRefused = 7,
    /// The connection closed early.
    ConnectionTerminated = 8,
    /// Connecting took too long.
    ConnectionTimeout = 9,
    /// The origin's certificate did not verify.
    TlsCertificateError = 11,
    /// TLS settings were unusable.
    TlsConfigurationError = 12,
    /// The response ended early.
    HttpIncompleteResponse = 13,
    /// No response within the first-byte timeout.
    HttpResponseTimeout = 16,
    /// Anything else at the HTTP level.
    HttpProtocolError = 19,
    /// The request URI could not be sent.
    HttpRequestUriInvalid = 21,
    /// Something else.
    InternalError = 22,
}

impl SendErrorTag {
    /// The tag with code `code` (`InternalError` for any other).
    pub fn from_code(code: u32) -> Self {
        use SendErrorTag::*;
        [
            DnsError,
            DestinationIpUnroutable,
            ConnectionRefused,
            ConnectionTerminated,
            ConnectionTimeout,
            TlsCertificateError,
            TlsConfigurationError,
            HttpIncompleteResponse,
            HttpResponseTimeout,
            HttpProtocolError,
            HttpRequestUriInvalid,
        ]
        .into_iter()
        .find(|t| *t as u32 == code)
        .unwrap_or(InternalError)
    }
}

/// Why a backend request failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    /// The ABI's classification.
    pub tag: SendErrorTag,
    /// For logs.
    pub message: String,
}

/// A backend with its client.
pub struct Backend {
    /// Its settings.
    pub config: BackendConfig,
    client: HttpsClient,
    /// What its health check found (unknown without one).
    pub health: super::health::HealthState,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("config", &self.config)
            .finish()
    }
}

/// The backends of one service.
#[derive(Debug)]
pub struct Backends {
    fixed: BTreeMap<String, Arc<Backend>>,
    dynamic: Mutex<HashMap<String, Arc<Backend>>>,
    max_dynamic: usize,
    egress: EgressPolicy,
}

impl Backends {
    /// Builds clients for the static backends, which connect only where
    /// `egress` allows (a refused address literal is an error here).
    pub fn new(
        configs: &BTreeMap<String, BackendConfig>,
        max_dynamic: u32,
        egress: EgressPolicy,
    ) -> Result<Self, String> {
        let fixed = configs
            .iter()
            .map(|(name, cfg)| {
                let backend = Arc::new(
                    Backend::new(cfg.clone(), &egress.addresses)
                        .map_err(|e| format!("backend {name}: {e}"))?,
                );
                if let Some(check) = &cfg.health_check {
                    super::health::spawn_prober(&backend, check.clone());
                }
                Ok((name.clone(), backend))
            })
            .collect::<Result<_, String>>()?;
        Ok(Backends {
            fixed,
            dynamic: Mutex::new(HashMap::new()),
            max_dynamic: max_dynamic as usize,
            egress,
        })
    }

    /// The backend called `name`.
    pub fn get(&self, name: &str) -> Option<Arc<Backend>> {
        if let Some(b) = self.fixed.get(name) {
            return Some(b.clone());
        }
        self.dynamic.lock().ok()?.get(name).cloned()
    }

    /// Registers a dynamic backend.
    pub fn register(&self, name: String, config: BackendConfig) -> HostResult<()> {
        if !self.egress.dynamic_backends {
            return Err(HostError::Unsupported(
                "dynamic backends are not enabled for this service (egress.dynamicBackends or the service's dynamicBackends)",
            ));
        }
        if self.fixed.contains_key(&name) {
            return Err(HostError::Invalid(format!("backend {name} already exists")));
        }
        let mut dynamic = self
            .dynamic
            .lock()
            .map_err(|_| HostError::Other("backend registry poisoned".into()))?;
        if dynamic.contains_key(&name) {
            return Err(HostError::Invalid(format!("backend {name} already exists")));
        }
        if dynamic.len() >= self.max_dynamic {
            return Err(HostError::LimitExceeded(
                super::HostLimit::DynamicBackendsPerService,
            ));
        }
        let backend = Backend::new(config, &self.egress.addresses).map_err(HostError::Invalid)?;
        dynamic.insert(name, Arc::new(backend));
        Ok(())
    }
}

fn tls_config(tls: &TlsOptions) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for pem in &tls.ca_certificates {
        for cert in rustls_pemfile::certs(&mut pem.as_bytes()) {
            let cert = cert.map_err(|e| format!("CA certificate: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("CA certificate: {e}"))?;
        }
    }
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
        (12u8, &rustls::version::TLS12),
        (13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(v, _)| {
        tls.min_version.is_none_or(|min| *v >= min) && tls.max_version.is_none_or(|max| *v <= max)
    })
    .map(|(_, p)| p)
    .collect();
    if versions.is_empty() {
        return Err("no TLS version between the minimum and maximum".into());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let mut config = match &tls.client_certificate {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let certs = rustls_pemfile::certs(&mut cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("client certificate: {e}"))?;
            let key = rustls_pemfile::private_key(&mut key.as_bytes())
                .map_err(|e| format!("client key: {e}"))?
                .ok_or("client key: no private key in the PEM")?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| format!("client certificate: {e}"))?
        }
    };
    config.enable_sni = tls.use_sni;
    Ok(config)
}

impl Backend {
    /// A backend and its connection pool, connecting only where `policy`
    /// allows.
    pub fn new(config: BackendConfig, policy: &Arc<AddressPolicy>) -> Result<Self, String> {
        if let Some(why) = literal_host(&config.url).and_then(|ip| policy.refusal(ip)) {
            return Err(why);
        }
        let mut connector = PolicyConnector::new(policy.clone());
        let http = connector.http();
        http.enforce_http(false);
        http.set_connect_timeout(Some(config.connect_timeout));
        http.set_nodelay(true);
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config(&config.tls)?)
            .https_or_http();
        let builder = match &config.tls.cert_host {
            Some(name) => {
                let server_name = rustls::pki_types::ServerName::try_from(name.clone())
                    .map_err(|_| format!("`{name}` is not a valid certificate host name"))?;
                builder.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(
                    server_name,
                ))
            }
            None => builder,
        };
        let connector = builder.enable_all_versions().wrap_connector(connector);
        let client = Client::builder(TokioExecutor::new())
            .http2_only(config.grpc)
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(Backend {
            config,
            client,
            health: Default::default(),
        })
    }

    /// Sends `req` (whose URI carries the path and query to ask for).
    pub async fn send(
        &self,
        mut req: http::Request<OutgoingBody>,
    ) -> Result<http::Response<StreamBody>, SendError> {
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .to_owned();
        let base = &self.config.url;
        let prefix = base.path().trim_end_matches('/');
        let target = format!(
            "{}://{}{}{}",
            base.scheme_str().unwrap_or("http"),
            base.authority().map(|a| a.as_str()).unwrap_or_default(),
            prefix,
            path
        );
        let host = match (
            &self.config.override_host,
            req.headers().get(http::header::HOST),
        ) {
            (Some(h), _) => Some(h.clone()),
            (None, Some(_)) => None,
            (None, None) => req
                .uri()
                .authority()
                .or(base.authority())
                .map(|a| a.as_str().to_owned()),
        };
        if let Some(host) = host {
            let value = http::HeaderValue::from_str(&host).map_err(|_| SendError {
                tag: SendErrorTag::HttpRequestUriInvalid,
                message: format!("host `{host}` is not a valid Host header"),
            })?;
            req.headers_mut().insert(http::header::HOST, value);
        }
        *req.uri_mut() = target.parse().map_err(|e| SendError {
            tag: SendErrorTag::HttpRequestUriInvalid,
            message: format!("{target}: {e}"),
        })?;
        if !self.config.grpc {
            *req.version_mut() = http::Version::HTTP_11;
        }
        let sent =
            tokio::time::timeout(self.config.first_byte_timeout, self.client.request(req)).await;
        let resp = match sent {
            Err(_) => {
                return Err(SendError {
                    tag: SendErrorTag::HttpResponseTimeout,
                    message: format!("no response within {:?}", self.config.first_byte_timeout),
                });
            }
            Ok(Err(e)) => return Err(classify(&e)),
            Ok(Ok(resp)) => resp,
        };
        let between = self.config.between_bytes_timeout;
        Ok(resp.map(|b| boxed(crate::host::body::timeout_between_frames(b, between))))
    }
}

fn classify(e: &hyper_util::client::legacy::Error) -> SendError {
    let mut text = e.to_string();
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    let mut tag = if e.is_connect() {
        SendErrorTag::ConnectionRefused
    } else {
        SendErrorTag::HttpProtocolError
    };
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            tag = match io.kind() {
                std::io::ErrorKind::ConnectionRefused => SendErrorTag::ConnectionRefused,
                std::io::ErrorKind::TimedOut => SendErrorTag::ConnectionTimeout,
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::UnexpectedEof => {
                    SendErrorTag::ConnectionTerminated
                }
                _ => tag,
            };
            if let Some(inner) = io.get_ref()
                && inner.downcast_ref::<rustls::Error>().is_some()
            {
                tag = SendErrorTag::TlsCertificateError;
            }
        }
        if s.downcast_ref::<rustls::Error>().is_some() {
            tag = SendErrorTag::TlsCertificateError;
        }
        source = s.source();
    }
    if text.contains(REFUSED_MARK) {
        tag = SendErrorTag::DestinationIpUnroutable;
    } else if text.contains("dns error") || text.contains("failed to lookup address") {
        tag = SendErrorTag::DnsError;
    } else if text.contains("connect timeout") || text.contains("timed out") {
        tag = SendErrorTag::ConnectionTimeout;
    } else if text.contains("incomplete") {
        tag = SendErrorTag::HttpIncompleteResponse;
    }
    SendError { tag, message: text }
}

/// What a program asks for when it registers a backend at run time: each
/// setting it left out keeps Fastly's default.
#[derive(Debug, Clone, Default)]
pub struct DynamicBackendSpec {
    /// `host[:port]` to connect to.
    pub target: String,
    /// Connect with TLS.
    pub use_tls: bool,
    /// Host header to send instead of the request's.
    pub override_host: Option<String>,
    /// Connect timeout.
    pub connect_timeout: Option<Duration>,
    /// Time to the first byte of the response.
    pub first_byte_timeout: Option<Duration>,
    /// Time between bytes of the response.
    pub between_bytes_timeout: Option<Duration>,
    /// Lowest TLS version (12 or 13).
    pub tls_min_version: Option<u8>,
    /// Highest TLS version.
    pub tls_max_version: Option<u8>,
    /// Name the certificate must have.
    pub cert_host: Option<String>,
    /// CA certificate (PEM) to trust instead of the web's roots.
    pub ca_certificate: Option<String>,
    /// Name to send in SNI; also the certificate's name when `cert_host`
    /// is not given.
    pub sni_host: Option<String>,
    /// Client certificate and key (PEM) for mutual TLS.
    pub client_certificate: Option<(String, String)>,
    /// The backend speaks gRPC (HTTP/2 only).
    pub grpc: bool,
}

impl DynamicBackendSpec {
    /// The backend's settings.
    pub fn into_config(self) -> HostResult<BackendConfig> {
        let scheme = if self.use_tls { "https" } else { "http" };
        let url = crate::config::parse_backend_url(&format!("{scheme}://{}", self.target))
            .map_err(HostError::Invalid)?;
        let mut b = BackendConfig::new(url);
        b.dynamic = true;
        b.override_host = self.override_host;
        if let Some(t) = self.connect_timeout {
            b.connect_timeout = t;
        }
        if let Some(t) = self.first_byte_timeout {
            b.first_byte_timeout = t;
        }
        if let Some(t) = self.between_bytes_timeout {
            b.between_bytes_timeout = t;
        }
        b.tls.min_version = self.tls_min_version;
        b.tls.max_version = self.tls_max_version;
        b.tls.cert_host = self.cert_host.or(self.sni_host);
        if let Some(ca) = self.ca_certificate {
            b.tls.ca_certificates = vec![ca];
        }
        b.tls.client_certificate = self.client_certificate;
        b.grpc = self.grpc;
        Ok(b)
    }
}

/// Sends `request` to `backend`; with `gunzip`, a gzip-encoded response
/// comes back decompressed, without its Content-Encoding and
/// Content-Length (`auto_decompress_response_set`).
pub async fn send_to(
    backend: &Backend,
    request: http::Request<OutgoingBody>,
    gunzip: bool,
) -> Result<http::Response<StreamBody>, SendError> {
    let resp = backend.send(request).await?;
    Ok(gunzip_if(resp, gunzip))
}

/// Decompresses a gzip response when the program asked for it
/// (`auto_decompress_response_set`).
pub fn gunzip_if(resp: http::Response<StreamBody>, gunzip: bool) -> http::Response<StreamBody> {
    let gzipped = resp
        .headers()
        .get(http::header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    if !(gunzip && gzipped) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    parts.headers.remove(http::header::CONTENT_ENCODING);
    parts.headers.remove(http::header::CONTENT_LENGTH);
    http::Response::from_parts(parts, super::body::gunzip(body))
}
