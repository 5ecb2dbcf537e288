//! The `/metrics` exposition: the latest snapshot's families written through the official
//! `prometheus-client` crate, in the Prometheus text format (0.0.4) or, when the scraper's
//! `Accept` header asks for `application/openmetrics-text`, in OpenMetrics 1.0. The run's
//! own labels (`run_id`, `scenario`, `shard`) are the registry's constant labels, so every
//! series carries them.

use std::borrow::Cow;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::exemplar::Exemplar;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::family::{Family, Kind, Number, Unit, Value, PREFIX};
use super::Shared;

/// `Content-Type` of the OpenMetrics text format.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// `Content-Type` of the Prometheus text format.
pub const TEXT_CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The two formats `/metrics` speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    OpenMetrics,
}

impl Format {
    /// OpenMetrics when the `Accept` header names it (Prometheus asks for it first), else
    /// the Prometheus text format.
    pub fn from_accept(accept: Option<&str>) -> Format {
        match accept {
            Some(a)
                if a.to_ascii_lowercase()
                    .contains("application/openmetrics-text") =>
            {
                Format::OpenMetrics
            }
            _ => Format::Text,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => TEXT_CONTENT_TYPE,
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
        }
    }
}

/// The registry `/metrics` is encoded from: prefix `agentstorm`, the run's labels, and one
/// collector reading the latest snapshot.
pub fn registry(shared: Arc<Shared>) -> Registry {
    let labels: Vec<(Cow<'static, str>, Cow<'static, str>)> = shared
        .run_labels
        .iter()
        .map(|(k, v)| (Cow::Borrowed(*k), Cow::Owned(v.clone())))
        .collect();
    let mut r = Registry::with_prefix_and_labels(PREFIX, labels.into_iter());
    r.register_collector(Box::new(SnapshotCollector { shared }));
    r
}

/// The exposition in `format`.
pub fn encode(registry: &Registry, format: Format) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail; an encoder error would be a bug in the families.
    let written = match format {
        Format::Text => prometheus_client::encoding::prometheus_text::encode(&mut out, registry),
        Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut out, registry),
    };
    if let Err(e) = written {
        tracing::error!("live metrics: encoding failed: {e}");
    }
    out
}

#[derive(Debug)]
struct SnapshotCollector {
    shared: Arc<Shared>,
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for family in self.shared.families().iter() {
            encode_family(&mut encoder, family)?;
        }
        Ok(())
    }
}

fn encode_family(encoder: &mut DescriptorEncoder, f: &Family) -> Result<(), std::fmt::Error> {
    let unit = f.unit.map(|u| match u {
        Unit::Seconds => prometheus_client::registry::Unit::Seconds,
        Unit::Bytes => prometheus_client::registry::Unit::Bytes,
    });
    let kind = match f.kind {
        Kind::Counter => MetricType::Counter,
        Kind::Gauge => MetricType::Gauge,
        Kind::Histogram => MetricType::Histogram,
    };
    let mut metric = encoder.encode_descriptor(f.name, f.help, unit.as_ref(), kind)?;
    for s in &f.series {
        let mut e = metric.encode_family(&s.labels)?;
        match &s.value {
            Value::Counter(Number::Int(n)) => e.encode_counter(n, NO_EXEMPLAR)?,
            Value::Counter(Number::Float(x)) => e.encode_counter(x, NO_EXEMPLAR)?,
            Value::Gauge(Number::Int(n)) => e.encode_gauge(n)?,
            Value::Gauge(Number::Float(x)) => e.encode_gauge(x)?,
            Value::Histogram(b) => {
                e.encode_histogram::<NoLabelSet>(b.sum, b.count, &b.buckets, None)?
            }
        }
    }
    Ok(())
}

const NO_EXEMPLAR: Option<&Exemplar<NoLabelSet, f64>> = None;
