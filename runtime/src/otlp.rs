//! Optional export of request spans to an OpenTelemetry collector (OTLP
//! over HTTP, JSON encoding: `POST {endpoint}/v1/traces`). Each program run
//! is a `request` span (engine/execute.rs) whose trace id is the one the
//! program sees as `FASTLY_TRACE_ID`, so a trace found in the collector
//! leads to the program's own logs and back.
//!
//! A closed span is handed to a bounded queue and never waited on: when
//! the queue is full the span is dropped and counted in the log. A task
//! sends batches (up to 512 spans, or what came in a second).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;
use tracing::Subscriber;
use tracing::span::{Attributes, Id};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// Spans waiting for the exporter at most.
const QUEUE: usize = 4096;
/// Spans per POST at most.
const BATCH: usize = 512;
/// The span exported.
const SPAN_NAME: &str = "request";

/// The layer that collects `request` spans.
pub struct OtlpLayer {
    spans: mpsc::Sender<serde_json::Value>,
    dropped: Arc<AtomicU64>,
}

/// The sending half, started once the tokio runtime runs.
pub struct Exporter {
    url: String,
    spans: mpsc::Receiver<serde_json::Value>,
    dropped: Arc<AtomicU64>,
}

/// A layer and its exporter for the collector at `endpoint`.
pub fn layer(endpoint: &str) -> (OtlpLayer, Exporter) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let dropped = Arc::new(AtomicU64::new(0));
    (
        OtlpLayer {
            spans: tx,
            dropped: dropped.clone(),
        },
        Exporter {
            url: format!("{}/v1/traces", endpoint.trim_end_matches('/')),
            spans: rx,
            dropped,
        },
    )
}

/// What a `request` span recorded, kept in its extensions until it closes.
struct Open {
    start: SystemTime,
    fields: Vec<(String, String)>,
}

struct Fields<'a>(&'a mut Vec<(String, String)>);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for OtlpLayer {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != SPAN_NAME {
            return;
        }
        let mut fields = Vec::new();
        attrs.record(&mut Fields(&mut fields));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Open {
                start: SystemTime::now(),
                fields,
            });
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let Some(open) = span.extensions_mut().remove::<Open>() else {
            return;
        };
        if self
            .spans
            .try_send(otlp_span(&open, SystemTime::now()))
            .is_err()
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn unix_nanos(t: SystemTime) -> String {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
        .to_string()
}

/// One span in OTLP/JSON: the trace id from the `trace_id` field (32 hex
/// digits, as `FASTLY_TRACE_ID`), a new span id, the other fields as
/// string attributes.
fn otlp_span(open: &Open, end: SystemTime) -> serde_json::Value {
    let trace_id = open
        .fields
        .iter()
        .find(|(k, v)| k == "trace_id" && v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        .map_or_else(
            || format!("{:032x}", rand::random::<u128>()),
            |(_, v)| v.to_ascii_lowercase(),
        );
    let attributes: Vec<serde_json::Value> = open
        .fields
        .iter()
        .filter(|(k, _)| k != "trace_id")
        .map(|(k, v)| serde_json::json!({"key": k, "value": {"stringValue": v}}))
        .collect();
    serde_json::json!({
        "traceId": trace_id,
        "spanId": format!("{:016x}", rand::random::<u64>().max(1)),
        "name": SPAN_NAME,
        "kind": 2,
        "startTimeUnixNano": unix_nanos(open.start),
        "endTimeUnixNano": unix_nanos(end),
        "attributes": attributes,
    })
}

impl Exporter {
    /// Sends batches for ever (spawn it on the runtime).
    pub async fn run(mut self) {
        let tls = match crate::fastly_api::tls_config() {
            Ok(tls) => tls,
            Err(e) => {
                tracing::error!(error = %e, "OTLP export disabled: no TLS settings");
                return;
            }
        };
        let client = match reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "OTLP export disabled: no HTTP client");
                return;
            }
        };
        let mut failing = false;
        while let Some(first) = self.spans.recv().await {
            let mut batch = vec![first];
            let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
            while batch.len() < BATCH {
                match tokio::time::timeout_at(deadline, self.spans.recv()).await {
                    Ok(Some(span)) => batch.push(span),
                    Ok(None) | Err(_) => break,
                }
            }
            let body = serde_json::to_vec(&document(batch)).unwrap_or_default();
            let sent = client
                .post(&self.url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
            let ok = matches!(&sent, Ok(r) if r.status().is_success());
            if !ok && !failing {
                let why = match sent {
                    Ok(r) => format!("answered {}", r.status()),
                    Err(e) => crate::fastly_api::lowest_cause(&e),
                };
                tracing::warn!(url = %self.url, error = %why, "OTLP export failed (logged once until it works)");
            }
            failing = !ok;
            let dropped = self.dropped.swap(0, Ordering::Relaxed);
            if dropped > 0 {
                tracing::warn!(spans = dropped, "OTLP export queue full: spans dropped");
            }
        }
    }
}

fn document(spans: Vec<serde_json::Value>) -> serde_json::Value {
    serde_json::json!({"resourceSpans": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "fastly-anywhere"}},
            {"key": "host.name", "value": {"stringValue": hostname()}},
            {"key": "service.version", "value": {"stringValue": env!("CARGO_PKG_VERSION")}},
        ]},
        "scopeSpans": [{"scope": {"name": "anywhere"}, "spans": spans}],
    }]})
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}
