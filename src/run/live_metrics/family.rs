//! The live metrics as plain data, before any wire format: metric families (name, help,
//! unit, type) holding series (labels and a value), the fixed histogram buckets, and the
//! one naming rule both outputs follow. The `/metrics` exposition (`expose`) and the
//! remote-write request (`remote_write`) are both rendered from these, so a scraped series
//! and a pushed one always have the same name and labels.
//!
//! Owns the conversion of an HDR histogram (microseconds) into cumulative-ready bucket
//! counts in seconds; nothing here reads the clock or the network.

use crate::metrics::Hist;

/// The prefix of every metric name.
pub const PREFIX: &str = "agentstorm";

/// Upper bounds (seconds) of the latency histograms' buckets: 1 ms … 60 s, at 1, 2.5, 5
/// and 7.5 of each decade up to 10 s (so the bounds thresholds are usually written at —
/// 250 ms, 500 ms, 1 s — are bucket edges and `histogram_quantile` interpolates within
/// at most a factor 2.5), then 15, 30 and 60 s for stalls and timeouts. Empty long polls
/// end at the gateway's hold time (10 s on real gateways), which 10 and 15 s bracket.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
    7.5, 10.0, 15.0, 30.0, 60.0,
];

/// Upper bounds (seconds) of the schedule-lag histogram: an arrival on time starts within
/// tens of microseconds, so it begins at 100 µs; from 1 ms on, the latency bounds.
pub const LAG_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075, 0.1,
    0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 15.0, 30.0, 60.0,
];

/// The type of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// The unit a family's name ends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Seconds,
    Bytes,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Seconds => "seconds",
            Unit::Bytes => "bytes",
        }
    }
}

/// A number as it is written: whole counts stay whole.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Int(u64),
    Float(f64),
}

impl Number {
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(n) => n as f64,
            Number::Float(f) => f,
        }
    }
}

/// A histogram as Prometheus keeps it: per-bucket (not yet cumulative) counts for each
/// upper bound, the last bound `+Inf`, with the sum and count of every value.
#[derive(Debug, Clone, PartialEq)]
pub struct Buckets {
    /// `(upper bound in seconds, values in this bucket)`, ascending, ending at `+Inf`.
    pub buckets: Vec<(f64, u64)>,
    pub sum: f64,
    pub count: u64,
}

impl Buckets {
    /// The values of an HDR histogram (µs) counted into `bounds` (seconds). A value is put
    /// in the first bucket whose bound is at least the lowest value of its HDR bucket, so a
    /// count is exact to HDR's precision (3 significant digits: within 0.1 % of a bound).
    /// The sum is HDR's mean times the count (each value taken at the middle of its HDR
    /// bucket).
    pub fn from_hist(h: &Hist, bounds: &[f64]) -> Buckets {
        let bounds_us: Vec<u64> = bounds.iter().map(|b| (b * 1e6).round() as u64).collect();
        let mut counts = vec![0u64; bounds.len() + 1];
        let mut at = 0;
        for v in h.0.iter_recorded() {
            let low = h.0.lowest_equivalent(v.value_iterated_to());
            while at < bounds_us.len() && low > bounds_us[at] {
                at += 1;
            }
            counts[at] += v.count_at_value();
        }
        let count = h.count();
        let sum = if count == 0 {
            0.0
        } else {
            h.0.mean() * count as f64 / 1e6
        };
        let buckets = bounds
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(counts)
            .collect();
        Buckets {
            buckets,
            sum,
            count,
        }
    }

    /// The `(bound, cumulative count)` pairs, as the `_bucket` series carry them.
    pub fn cumulative(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        self.buckets.iter().scan(0u64, |acc, &(le, n)| {
            *acc += n;
            Some((le, *acc))
        })
    }
}

/// One series' value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Counter(Number),
    Gauge(Number),
    Histogram(Buckets),
}

/// Labels beyond the run's own (`run_id`, `scenario`, `shard`), in order.
pub type Labels = Vec<(&'static str, String)>;

#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub value: Value,
}

/// A metric family: what `# HELP` and `# TYPE` describe, and its series.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// Without the prefix, the unit and `_total`: `operations`, `latency`.
    pub name: &'static str,
    pub help: &'static str,
    pub unit: Option<Unit>,
    pub kind: Kind,
    pub series: Vec<Series>,
}

impl Family {
    pub fn new(name: &'static str, help: &'static str, unit: Option<Unit>, kind: Kind) -> Family {
        Family {
            name,
            help,
            unit,
            kind,
            series: Vec::new(),
        }
    }

    /// Adds a series; returns the family for chaining.
    pub fn with(mut self, labels: Labels, value: Value) -> Family {
        self.series.push(Series { labels, value });
        self
    }

    /// The name its samples carry, as prometheus-client writes it:
    /// `agentstorm_<name>[_<unit>][_total]` (`_total` for counters). Histograms add
    /// `_bucket`, `_sum` and `_count` to it.
    pub fn sample_name(&self) -> String {
        let mut s = format!("{PREFIX}_{}", self.name);
        if let Some(u) = self.unit {
            s.push('_');
            s.push_str(u.as_str());
        }
        if self.kind == Kind::Counter {
            s.push_str("_total");
        }
        s
    }
}

/// A bucket bound as the OpenMetrics exposition writes its `le` label (shortest form,
/// `1.0` rather than `1`; `+Inf`), which is what Prometheus stores when it scrapes us.
pub fn le_text(le: f64) -> String {
    if le.is_infinite() {
        "+Inf".into()
    } else {
        dtoa::Buffer::new().format(le).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values_us: &[u64]) -> Hist {
        let mut h = Hist::new();
        for &v in values_us {
            h.record_us(v);
        }
        h
    }

    #[test]
    fn values_land_in_the_first_bucket_at_or_above_them() {
        // 1 ms exactly is ≤ 0.001; 1.001 ms is not; 60 s is the last bound; 61 s is +Inf.
        let h = hist(&[500, 1_000, 1_001, 2_500, 9_999_000, 60_000_000, 61_000_000]);
        let b = Buckets::from_hist(&h, LATENCY_BUCKETS);
        assert_eq!(b.count, 7);
        assert_eq!(b.buckets.len(), LATENCY_BUCKETS.len() + 1);
        let at = |le: f64| b.buckets.iter().find(|(x, _)| *x == le).map(|(_, n)| *n);
        assert_eq!(at(0.001), Some(2));
        assert_eq!(at(0.0025), Some(2));
        assert_eq!(at(10.0), Some(1));
        assert_eq!(at(60.0), Some(1));
        assert_eq!(at(f64::INFINITY), Some(1));
        let last = b.cumulative().last().expect("buckets");
        assert_eq!(last, (f64::INFINITY, 7));
        let exact: f64 = [
            500u64, 1_000, 1_001, 2_500, 9_999_000, 60_000_000, 61_000_000,
        ]
        .iter()
        .map(|v| *v as f64 / 1e6)
        .sum();
        assert!(
            (b.sum - exact).abs() / exact < 0.001,
            "{} vs {exact}",
            b.sum
        );
    }

    #[test]
    fn an_empty_histogram_has_zero_buckets() {
        let b = Buckets::from_hist(&Hist::new(), LAG_BUCKETS);
        assert_eq!((b.count, b.sum), (0, 0.0));
        assert!(b.buckets.iter().all(|(_, n)| *n == 0));
    }

    #[test]
    fn names_follow_the_conventions() {
        let f = Family::new("latency", "h", Some(Unit::Seconds), Kind::Histogram);
        assert_eq!(f.sample_name(), "agentstorm_latency_seconds");
        let c = Family::new("operations", "h", None, Kind::Counter);
        assert_eq!(c.sample_name(), "agentstorm_operations_total");
        let cpu = Family::new("harness_cpu", "h", Some(Unit::Seconds), Kind::Counter);
        assert_eq!(cpu.sample_name(), "agentstorm_harness_cpu_seconds_total");
        assert_eq!(le_text(1.0), "1.0");
        assert_eq!(le_text(0.0025), "0.0025");
        assert_eq!(le_text(f64::INFINITY), "+Inf");
    }
}
