//! Pushes the edge's metrics to a Prometheus remote-write endpoint
//! (`observability.metrics.push`): every interval, a snapshot of what
//! `/metrics` shows, as a snappy-compressed protobuf `WriteRequest`
//! (remote write 1.0), each series labelled `job="fastly-anywhere"` and
//! `instance=<pod>`. A send that fails is logged and the next interval
//! sends a newer snapshot: nothing queues up, and requests never wait.

use crate::fastly_api::{lowest_cause, tls_config};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `prometheus.WriteRequest` (the fields remote write 1.0 uses).
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    /// The series.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Labels, `__name__` first, sorted by name.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// One sample per snapshot.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    /// Name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    /// The value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// The series of a Prometheus/OpenMetrics text exposition at `millis`,
/// with `extra` labels added to each. Comment and malformed lines are
/// skipped (the text is our own registry's).
pub fn series_from_text(text: &str, extra: &[(&str, &str)], millis: i64) -> Vec<TimeSeries> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(parse_sample)
        .map(|(name, mut labels, value)| {
            labels.extend(
                extra
                    .iter()
                    .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
            );
            labels.sort();
            let mut all = vec![Label {
                name: "__name__".into(),
                value: name,
            }];
            all.extend(
                labels
                    .into_iter()
                    .map(|(name, value)| Label { name, value }),
            );
            TimeSeries {
                labels: all,
                samples: vec![Sample {
                    value,
                    timestamp: millis,
                }],
            }
        })
        .collect()
}

/// Label names and values, in the order written.
type Labels = Vec<(String, String)>;

/// `name{a="x",b="y"} value` → its parts.
fn parse_sample(line: &str) -> Option<(String, Labels, f64)> {
    let (head, value) = match line.find('{') {
        Some(_) => {
            let close = line.rfind('}')?;
            (&line[..close + 1], line[close + 1..].trim())
        }
        None => line.split_once(' ')?,
    };
    let value: f64 = value.split_whitespace().next()?.parse().ok()?;
    let (name, labels) = match head.split_once('{') {
        Some((name, rest)) => (name, parse_labels(rest.strip_suffix('}')?)?),
        None => (head, Vec::new()),
    };
    Some((name.trim().to_owned(), labels, value))
}

fn parse_labels(mut s: &str) -> Option<Labels> {
    let mut out = Vec::new();
    while !s.is_empty() {
        let (name, rest) = s.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break i,
                c => value.push(c),
            }
        };
        out.push((name.trim_start_matches(',').trim().to_owned(), value));
        s = rest[end + 1..].trim_start_matches(',');
    }
    Some(out)
}

/// The body of one push: `WriteRequest`, protobuf, snappy block format.
pub fn encode(series: Vec<TimeSeries>) -> Result<Vec<u8>, String> {
    let proto = prost::Message::encode_to_vec(&WriteRequest { timeseries: series });
    snap::raw::Encoder::new()
        .compress_vec(&proto)
        .map_err(|e| e.to_string())
}

/// Pushes `render()` to `url` every `interval`, for ever.
pub async fn push_forever(
    url: String,
    interval: Duration,
    instance: String,
    render: impl Fn() -> String + Send + 'static,
) {
    let tls = match tls_config() {
        Ok(tls) => tls,
        Err(e) => {
            tracing::error!(error = %e, "metrics push disabled: no TLS settings");
            return;
        }
    };
    let client = match reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(interval.min(Duration::from_secs(30)))
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %lowest_cause(&e), "metrics push disabled: no HTTP client");
            return;
        }
    };
    let mut failing = false;
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let extra = [("job", "fastly-anywhere"), ("instance", instance.as_str())];
        let sent = match encode(series_from_text(&render(), &extra, millis)) {
            Ok(body) => send(&client, &url, body).await,
            Err(why) => Err(why),
        };
        match (sent, failing) {
            (Ok(()), true) => {
                tracing::info!("metrics push works again");
                failing = false;
            }
            (Err(why), false) => {
                tracing::warn!(error = %why, "metrics push failed (the next interval sends a newer snapshot; logged once until it works)");
                failing = true;
            }
            _ => {}
        }
    }
}

async fn send(client: &reqwest::Client, url: &str, body: Vec<u8>) -> Result<(), String> {
    let response = client
        .post(url)
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "snappy")
        .header("x-prometheus-remote-write-version", "0.1.0")
        .body(body)
        .send()
        .await
        .map_err(|e| lowest_cause(&e))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("{url} answered {}", response.status()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_becomes_labelled_series_and_decodes_back() {
        let text = "# HELP anywhere_requests Requests\n# TYPE anywhere_requests counter\n\
anywhere_requests_total{service=\"shop\",status=\"200\"} 42\n\
anywhere_live_instances 3\n\
anywhere_x_bucket{le=\"0.5\",service=\"a \\\"q\\\"\"} 7.5\n# EOF\n";
        let series = series_from_text(text, &[("job", "fastly-anywhere")], 1_000);
        assert_eq!(series.len(), 3);
        let names: Vec<Vec<(String, String)>> = series
            .iter()
            .map(|s| {
                s.labels
                    .iter()
                    .map(|l| (l.name.clone(), l.value.clone()))
                    .collect()
            })
            .collect();
        assert_eq!(
            names[0],
            [
                ("__name__".into(), "anywhere_requests_total".into()),
                ("job".into(), "fastly-anywhere".into()),
                ("service".into(), "shop".into()),
                ("status".into(), "200".into())
            ]
        );
        assert_eq!(series[1].samples[0].value, 3.0);
        assert_eq!(names[2][3], ("service".into(), "a \"q\"".into()));
        let body = encode(series.clone()).unwrap();
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        let back: WriteRequest = prost::Message::decode(&raw[..]).unwrap();
        assert_eq!(back.timeseries, series);
    }
}
