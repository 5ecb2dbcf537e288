//! Prometheus remote write 1.0: the `WriteRequest` protobuf messages (derived by hand with
//! prost's derive macros from prometheus/prompb's `remote.proto` and `types.proto`, the
//! few fields remote write 1.0 uses, so no protoc or build script is needed), built from
//! the live families under the same names and labels `/metrics` serves, and the body as
//! sent: the message snappy block-compressed.
//!
//! Owns the wire encoding only; sending is in `push`.

use prost::Message;

use super::family::{le_text, Family, Kind, Value};

/// Headers every push carries, besides `Content-Encoding: snappy`.
pub const CONTENT_TYPE: &str = "application/x-protobuf";
pub const VERSION_HEADER: &str = "X-Prometheus-Remote-Write-Version";
pub const VERSION: &str = "0.1.0";

/// `prometheus.WriteRequest` (field 2 is reserved in the schema).
#[derive(Clone, PartialEq, Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

/// `prometheus.TimeSeries`: its labels sorted by name, `__name__` among them.
#[derive(Clone, PartialEq, Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`: the timestamp in milliseconds since the Unix epoch.
#[derive(Clone, PartialEq, Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// `prometheus.MetricMetadata`.
#[derive(Clone, PartialEq, Message)]
pub struct MetricMetadata {
    #[prost(enumeration = "MetricType", tag = "1")]
    pub r#type: i32,
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    #[prost(string, tag = "4")]
    pub help: String,
    #[prost(string, tag = "5")]
    pub unit: String,
}

/// `prometheus.MetricMetadata.MetricType` (the values this harness sends).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MetricType {
    Unknown = 0,
    Counter = 1,
    Gauge = 2,
    Histogram = 3,
}

/// The request carrying every series of `families` at `timestamp_ms`, each labelled with
/// `run_labels` too.
pub fn write_request(
    families: &[Family],
    run_labels: &[(&'static str, String)],
    timestamp_ms: i64,
) -> WriteRequest {
    let mut req = WriteRequest::default();
    for f in families {
        let name = f.sample_name();
        req.metadata.push(MetricMetadata {
            r#type: match f.kind {
                Kind::Counter => MetricType::Counter,
                Kind::Gauge => MetricType::Gauge,
                Kind::Histogram => MetricType::Histogram,
            } as i32,
            metric_family_name: name.clone(),
            help: f.help.to_string(),
            unit: f.unit.map(|u| u.as_str().to_string()).unwrap_or_default(),
        });
        for s in &f.series {
            let labels: Vec<(&str, &str)> = run_labels
                .iter()
                .chain(s.labels.iter())
                .map(|(k, v)| (*k, v.as_str()))
                .collect();
            let mut one = |suffix: &str, extra: Option<(&str, &str)>, value: f64| {
                req.timeseries.push(series(
                    &format!("{name}{suffix}"),
                    labels.iter().copied().chain(extra),
                    value,
                    timestamp_ms,
                ));
            };
            match &s.value {
                Value::Counter(n) | Value::Gauge(n) => one("", None, n.as_f64()),
                Value::Histogram(b) => {
                    for (le, n) in b.cumulative() {
                        one("_bucket", Some(("le", &le_text(le))), n as f64);
                    }
                    one("_sum", None, b.sum);
                    one("_count", None, b.count as f64);
                }
            }
        }
    }
    req
}

fn series<'a>(
    name: &'a str,
    labels: impl Iterator<Item = (&'a str, &'a str)>,
    value: f64,
    timestamp_ms: i64,
) -> TimeSeries {
    let mut labels: Vec<Label> = std::iter::once(("__name__", name))
        .chain(labels)
        .map(|(k, v)| Label {
            name: k.to_string(),
            value: v.to_string(),
        })
        .collect();
    labels.sort_by(|a, b| a.name.cmp(&b.name));
    TimeSeries {
        labels,
        samples: vec![Sample {
            value,
            timestamp: timestamp_ms,
        }],
    }
}

/// The body as sent: the protobuf message, snappy block-compressed.
pub fn encode(req: &WriteRequest) -> Vec<u8> {
    let raw = req.encode_to_vec();
    // Compressing into a buffer sized by `max_compress_len` cannot fail below snappy's
    // 4 GiB input limit, far above any request here.
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .unwrap_or_default()
}

/// A body back into its request (the tests' receivers and our own round-trip check).
pub fn decode(body: &[u8]) -> Result<WriteRequest, String> {
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| format!("not snappy block format: {e}"))?;
    WriteRequest::decode(raw.as_slice()).map_err(|e| format!("not a WriteRequest: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::live_metrics::family::{Buckets, Number, Unit};
    use crate::run::live_metrics::snapshot::{families, Gauges};

    fn value_of(req: &WriteRequest, name: &str, label: (&str, &str)) -> Option<f64> {
        req.timeseries
            .iter()
            .find(|t| {
                t.labels
                    .iter()
                    .any(|l| l.name == "__name__" && l.value == name)
                    && t.labels
                        .iter()
                        .any(|l| l.name == label.0 && l.value == label.1)
            })
            .map(|t| t.samples[0].value)
    }

    #[test]
    fn a_request_survives_snappy_and_protobuf_intact() {
        let mut h = crate::metrics::Hist::new();
        for v in [800, 1_200, 30_000] {
            h.record_us(v);
        }
        let fams = vec![
            Family::new("operations", "Calls.", None, Kind::Counter).with(
                vec![("operation", "signin".into()), ("result", "ok".into())],
                Value::Counter(Number::Int(42)),
            ),
            Family::new("latency", "Latency.", Some(Unit::Seconds), Kind::Histogram).with(
                vec![("operation", "signin".into()), ("kind", "raw".into())],
                Value::Histogram(Buckets::from_hist(&h, &[0.001, 0.01])),
            ),
        ];
        let run = vec![
            ("run_id", "r-1".to_string()),
            ("scenario", "smoke".to_string()),
            ("shard", "0".to_string()),
        ];
        let req = write_request(&fams, &run, 1_700_000_000_123);
        let body = encode(&req);
        assert_ne!(body, req.encode_to_vec(), "compressed");
        let back = decode(&body).expect("decodes");
        assert_eq!(back, req);
        // counter, then +3 buckets (0.001, 0.01, +Inf), sum and count
        assert_eq!(back.timeseries.len(), 1 + 3 + 2);
        let total = value_of(&back, "agentstorm_operations_total", ("result", "ok"));
        assert_eq!(total, Some(42.0));
        let b = "agentstorm_latency_seconds_bucket";
        assert_eq!(value_of(&back, b, ("le", "0.001")), Some(1.0));
        assert_eq!(value_of(&back, b, ("le", "0.01")), Some(2.0));
        assert_eq!(value_of(&back, b, ("le", "+Inf")), Some(3.0));
        for t in &back.timeseries {
            let names: Vec<&str> = t.labels.iter().map(|l| l.name.as_str()).collect();
            let mut sorted = names.clone();
            sorted.sort();
            assert_eq!(names, sorted, "labels sorted by name");
            assert!(names.contains(&"run_id") && names.contains(&"shard"));
            assert_eq!(t.samples[0].timestamp, 1_700_000_000_123);
        }
        assert_eq!(back.metadata[0].r#type, MetricType::Counter as i32);
    }

    #[test]
    fn garbage_is_refused_in_words() {
        assert!(decode(b"\xff\xff\xff").unwrap_err().contains("snappy"));
        let not_proto = snap::raw::Encoder::new()
            .compress_vec(b"\xff\xff\xff\xff")
            .expect("compresses");
        assert!(decode(&not_proto).unwrap_err().contains("WriteRequest"));
    }

    #[test]
    fn a_whole_snapshot_encodes() {
        let fams = families(&Default::default(), &Gauges::default());
        let req = write_request(&fams, &[("run_id", "x".into())], 1);
        assert!(decode(&encode(&req)).expect("decodes").timeseries.len() > 10);
    }
}
