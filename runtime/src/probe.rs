//! `anywhere probe`: what `helm test` runs. Every replica's admin `/readyz`
//! must answer 200, then one request through the h2o Service, with the Host
//! of a service the POP serves, must answer 2xx or 3xx (a redirect is the
//! program's answer too; 4xx means no service took the Host, 5xx that the
//! POP or the program failed). Pods may still be turning ready when the test
//! starts, so each check is retried until `--timeout-seconds` have passed in
//! all. Prints one line per passed check; the error names the first check
//! that never passed and its last reason.

use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;
use tokio::time::Instant;

/// Arguments of `anywhere probe`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// A replica's admin /readyz URL (http://); repeat for each replica.
    /// Each must answer 200.
    #[arg(long = "readyz", value_name = "URL", value_parser = parse_http_url)]
    pub readyz: Vec<Uri>,
    /// A URL through the h2o Service (http://); must answer 2xx or 3xx.
    #[arg(long, value_name = "URL", value_parser = parse_http_url, requires = "host")]
    pub url: Option<Uri>,
    /// The Host header sent with --url: a domain of a service the POP serves.
    #[arg(long, value_parser = parse_host, requires = "url")]
    pub host: Option<HeaderValue>,
    /// Retry failing checks until this many seconds have passed in all.
    #[arg(long, default_value_t = 60)]
    pub timeout_seconds: u64,
}

/// Why the probe failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// Neither --readyz nor --url was given.
    #[error("nothing to check: pass --readyz URL for each replica and/or --url URL --host HOST")]
    NothingToCheck,
    /// A check never passed before the deadline.
    #[error("{check}: {reason} (still failing after {waited_seconds}s)")]
    Failed {
        /// Which check: the replica's URL, or the Service URL and Host.
        check: String,
        /// The last answer (status and first line of the body) or the
        /// connection error.
        reason: String,
        /// Seconds since the probe started.
        waited_seconds: u64,
    },
}

/// Longest wait for one answer, so that a connection stuck on a pod that is
/// going away is retried rather than waited on until the deadline.
const PER_TRY: Duration = Duration::from_secs(10);
/// Pause between two tries of a failing check.
const PAUSE: Duration = Duration::from_secs(1);
/// How much of a body is read to find its first line.
const BODY_LIMIT: usize = 64 * 1024;

/// One check: a URL, an optional Host header and what counts as passing.
struct Check {
    name: String,
    url: Uri,
    host: Option<HeaderValue>,
    /// `/readyz` must say 200; the Service may also redirect.
    redirect_ok: bool,
}

/// Runs `anywhere probe`.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let checks = checks(args.readyz, args.url, args.host)?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.timeout_seconds);
    let client = Client::builder(TokioExecutor::new())
        // A new connection per try: a kept-alive one may lead to a pod
        // that has since been replaced.
        .pool_max_idle_per_host(0)
        .build_http::<Empty<Bytes>>();
    for check in &checks {
        let line = until_passed(&client, check, started, deadline).await?;
        println!("ok {}: {line}", check.name);
    }
    Ok(())
}

fn checks(
    readyz: Vec<Uri>,
    url: Option<Uri>,
    host: Option<HeaderValue>,
) -> Result<Vec<Check>, ProbeError> {
    let mut checks: Vec<Check> = readyz
        .into_iter()
        .map(|url| Check {
            name: format!("replica {url}"),
            url,
            host: None,
            redirect_ok: false,
        })
        .collect();
    if let Some(url) = url {
        let host_text = host.as_ref().and_then(|h| h.to_str().ok()).unwrap_or("");
        checks.push(Check {
            name: format!("request through the Service {url} with Host {host_text}"),
            url,
            host,
            redirect_ok: true,
        });
    }
    if checks.is_empty() {
        return Err(ProbeError::NothingToCheck);
    }
    Ok(checks)
}

/// Tries `check` until it passes (the status and body line) or `deadline`.
async fn until_passed(
    client: &Client<HttpConnector, Empty<Bytes>>,
    check: &Check,
    started: Instant,
    deadline: Instant,
) -> Result<String, ProbeError> {
    loop {
        // At least one real try, even with --timeout-seconds 0.
        let per_try = deadline
            .saturating_duration_since(Instant::now())
            .clamp(PAUSE, PER_TRY);
        let reason = match tokio::time::timeout(per_try, attempt(client, check)).await {
            Ok(Ok(line)) => return Ok(line),
            Ok(Err(reason)) => reason,
            Err(_) => format!("no answer within {}ms", per_try.as_millis()),
        };
        if Instant::now() + PAUSE >= deadline {
            return Err(ProbeError::Failed {
                check: check.name.clone(),
                reason,
                waited_seconds: started.elapsed().as_secs(),
            });
        }
        tracing::info!(check = %check.name, %reason, "not passing yet; retrying");
        tokio::time::sleep(PAUSE).await;
    }
}

/// One request: `Ok(what passed)` or `Err(why not)`.
async fn attempt(
    client: &Client<HttpConnector, Empty<Bytes>>,
    check: &Check,
) -> Result<String, String> {
    let mut request = Request::get(check.url.clone());
    if let Some(host) = &check.host {
        request = request.header(http::header::HOST, host.clone());
    }
    let request = request.body(Empty::new()).map_err(|e| e.to_string())?;
    let response = client.request(request).await.map_err(|e| chain(&e))?;
    let status = response.status();
    let line = Limited::new(response.into_body(), BODY_LIMIT)
        .collect()
        .await
        .map(|body| first_line(&body.to_bytes()))
        .unwrap_or_else(|e| format!("(body unreadable: {e})"));
    let answer = if line.is_empty() {
        status.to_string()
    } else {
        format!("{status}: {line}")
    };
    if passes(status, check.redirect_ok) {
        Ok(answer)
    } else {
        Err(answer)
    }
}

fn passes(status: StatusCode, redirect_ok: bool) -> bool {
    if redirect_ok {
        status.is_success() || status.is_redirection()
    } else {
        status == StatusCode::OK
    }
}

/// The body's first non-empty line, cut to fit one line of an error.
fn first_line(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    match line.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_owned(),
    }
}

/// An error and its causes on one line (hyper's own message is only
/// "client error (Connect)"; the cause says "Connection refused").
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    parts.join(": ")
}

fn parse_http_url(text: &str) -> Result<Uri, String> {
    let uri: Uri = text.parse().map_err(|e| format!("not a URL: {e}"))?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("http"), Some(_)) => Ok(uri),
        (Some("https"), _) => Err("https is not supported: the probe talks to admin ports \
             and the h2o Service inside the cluster, which speak http://"
            .into()),
        _ => Err("expected http://HOST[:PORT]/PATH".into()),
    }
}

fn parse_host(text: &str) -> Result<HeaderValue, String> {
    if text.is_empty() || text.contains(['/', ' ']) {
        return Err("expected a host name such as www.example.com (no scheme, no path)".into());
    }
    HeaderValue::from_str(text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn urls_must_be_plain_http_with_a_host() {
        assert!(parse_http_url("http://pop-0.peers:9090/readyz").is_ok());
        assert!(
            parse_http_url("https://x/")
                .unwrap_err()
                .contains("https is not supported")
        );
        assert!(parse_http_url("/readyz").is_err());
        assert!(parse_http_url("pop-0:9090").is_err());
    }

    #[test]
    fn hosts_are_names_not_urls() {
        assert!(parse_host("www.example.com").is_ok());
        assert!(parse_host("http://www.example.com").is_err());
        assert!(parse_host("").is_err());
    }

    #[test]
    fn what_passes() {
        assert!(passes(StatusCode::OK, false));
        assert!(!passes(StatusCode::NO_CONTENT, false));
        assert!(passes(StatusCode::FOUND, true));
        assert!(!passes(StatusCode::NOT_FOUND, true));
        assert!(!passes(StatusCode::BAD_GATEWAY, true));
    }

    #[test]
    fn first_line_skips_blank_lines_and_cuts_long_ones() {
        assert_eq!(
            first_line(b"\n  not ready: starting\nmore"),
            "not ready: starting"
        );
        assert_eq!(first_line(&[b'x'; 300]).chars().count(), 201);
        assert_eq!(first_line(b""), "");
    }

    #[test]
    fn nothing_to_check_is_an_error() {
        assert!(matches!(
            checks(vec![], None, None),
            Err(ProbeError::NothingToCheck)
        ));
    }
}
