//! `Hist`: an HDR latency histogram in microseconds that serialises as HdrHistogram's V2
//! compressed format, base64-encoded (the form HdrHistogram tooling reads), so Results
//! documents carry histograms that add exactly when shards are merged.
//!
//! It owns the histogram's precision and range, and the one definition of a quantile every
//! output uses (console, CSV, HTML, thresholds, compare): the value at rank
//! `max(1, round(q × count))`, as HdrHistogram's decoders read it (the Python
//! `hdrhistogram` package, our independent check, computes exactly this). The hdrhistogram
//! crate's own `value_at_quantile` takes the ceiling of a product with floating-point noise
//! (0.999 × 1000 = 999.0000000000001 → rank 1000), so at round sample counts it answers the
//! maximum for p99.9; callers never use it.

use hdrhistogram::serialization::{Deserializer, Serializer as _, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Significant decimal digits kept: 3 means a value is known to within 0.1 %.
pub const SIGFIG: u8 = 3;
/// A latency histogram in microseconds. Two are equal when they hold the same counts
/// (whatever their internal sizing, which differs after a round trip through V2 bytes).
#[derive(Clone)]
pub struct Hist(pub Histogram<u64>);

impl PartialEq for Hist {
    fn eq(&self, other: &Hist) -> bool {
        self.count() == other.count()
            && self.0.max() == other.0.max()
            && self.0.min() == other.0.min()
            && self
                .0
                .iter_recorded()
                .zip(other.0.iter_recorded())
                .all(|(a, b)| {
                    a.value_iterated_to() == b.value_iterated_to()
                        && a.count_at_value() == b.count_at_value()
                })
            && self.0.iter_recorded().count() == other.0.iter_recorded().count()
    }
}

impl std::fmt::Debug for Hist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A summary: the counts array has tens of thousands of entries.
        write!(
            f,
            "Hist {{ count: {}, min_us: {}, p50_us: {}, p99_us: {}, max_us: {} }}",
            self.count(),
            self.0.min(),
            self.value_at(0.5),
            self.value_at(0.99),
            self.0.max()
        )
    }
}

impl Default for Hist {
    fn default() -> Self {
        Hist::new()
    }
}

impl Hist {
    pub fn new() -> Hist {
        // The smallest range, grown on demand (auto-resize): hdrhistogram writes every
        // count of its first allocation, so a histogram sized for an hour from the start
        // costs ~190 KB of resident memory even when empty, and a run holds a few hundred
        // (a set per operation per thread, swapped every second). Starting small, an empty
        // one costs 16 KB and a busy one grows to the range its values need.
        // SIGFIG is a constant that hdrhistogram accepts; failure would be a bug here.
        let mut h = Histogram::new(SIGFIG).expect("constant histogram precision is valid");
        h.auto(true);
        Hist(h)
    }

    /// Records one value in microseconds (0 is recorded as 1 µs, the lowest bucket).
    pub fn record_us(&mut self, us: u64) {
        // With auto-resize on, recording only fails for values beyond u64 range limits.
        let _ = self.0.record(us.max(1));
    }

    /// Adds another histogram's counts (exact: merging shards or intervals).
    pub fn add(&mut self, other: &Hist) {
        // Auto-resize makes add infallible for histograms of the same precision.
        let _ = self.0.add(&other.0);
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// The value at a percentile (0–100) in milliseconds, or None when empty.
    pub fn percentile_ms(&self, pct: f64) -> Option<f64> {
        (!self.0.is_empty()).then(|| self.value_at(pct / 100.0) as f64 / 1000.0)
    }

    /// The value (µs) at quantile `q` (0–1): see the module doc; 0 when empty.
    pub fn value_at(&self, q: f64) -> u64 {
        self.values_at(&[q]).pop().unwrap_or(0)
    }

    /// The `k`-th smallest value (1-based, µs, its bucket's highest equivalent); the
    /// largest when `k` exceeds the count, 0 when empty.
    pub fn value_at_rank(&self, k: u64) -> u64 {
        let mut seen = 0;
        let mut at = 0;
        for b in self.0.iter_recorded() {
            seen += b.count_at_value();
            at = b.value_iterated_to();
            if seen >= k {
                break;
            }
        }
        if seen == 0 {
            0
        } else {
            self.0.highest_equivalent(at)
        }
    }

    /// The values (µs) at ascending quantiles, read in one pass over the counts.
    pub fn values_at(&self, quantiles: &[f64]) -> Vec<u64> {
        let total = self.count();
        let mut out = Vec::with_capacity(quantiles.len());
        if total == 0 {
            out.resize(quantiles.len(), 0);
            return out;
        }
        let mut buckets = self.0.iter_recorded();
        let (mut seen, mut at) = (0u64, 0u64);
        for &q in quantiles {
            let q = q.clamp(0.0, 1.0);
            let rank = rank(q, total);
            while seen < rank {
                let Some(b) = buckets.next() else { break };
                seen += b.count_at_value();
                at = b.value_iterated_to();
            }
            out.push(if q == 0.0 {
                self.0.lowest_equivalent(at)
            } else {
                self.0.highest_equivalent(at)
            });
        }
        out
    }

    pub fn max_ms(&self) -> Option<f64> {
        (!self.0.is_empty()).then(|| self.0.max() as f64 / 1000.0)
    }

    pub fn mean_ms(&self) -> Option<f64> {
        (!self.0.is_empty()).then(|| self.0.mean() / 1000.0)
    }

    /// V2 compressed bytes, base64 (standard alphabet), as in HdrHistogram interval logs.
    pub fn to_base64(&self) -> String {
        use base64::Engine as _;
        let mut buf = Vec::new();
        // Serialising into a Vec cannot fail for a valid histogram.
        let _ = V2DeflateSerializer::new().serialize(&self.0, &mut buf);
        base64::engine::general_purpose::STANDARD.encode(buf)
    }

    pub fn from_base64(text: &str) -> Result<Hist, String> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| format!("histogram is not valid base64: {e}"))?;
        let mut h: Histogram<u64> = Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| {
                let why = match e {
                    hdrhistogram::serialization::DeserializeError::IoError(e) => e.to_string(),
                    hdrhistogram::serialization::DeserializeError::InvalidCookie => {
                        "it does not start with the V2 marker".to_string()
                    }
                    hdrhistogram::serialization::DeserializeError::UnsupportedFeature => {
                        "it uses a feature this reader does not support".to_string()
                    }
                    hdrhistogram::serialization::DeserializeError::UnsuitableCounterType => {
                        "its counts do not fit 64-bit counters".to_string()
                    }
                    hdrhistogram::serialization::DeserializeError::InvalidParameters => {
                        "its precision or value range is not valid".to_string()
                    }
                    hdrhistogram::serialization::DeserializeError::UsizeTypeTooSmall => {
                        "it is too large for this machine".to_string()
                    }
                    hdrhistogram::serialization::DeserializeError::EncodedArrayTooLong => {
                        "its counts run past the length it declares".to_string()
                    }
                };
                format!("histogram is not HdrHistogram V2 data: {why}")
            })?;
        h.auto(true);
        Ok(Hist(h))
    }
}

impl Serialize for Hist {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for Hist {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Hist::from_base64(&s).map_err(serde::de::Error::custom)
    }
}

/// The rank (1-based) of quantile `q` among `total` values: round half up, at least 1.
fn rank(q: f64, total: u64) -> u64 {
    ((q * total as f64 + 0.5).floor() as u64).clamp(1, total)
}

#[cfg(test)]
mod tests {

    #[test]
    fn starts_small_and_grows_to_what_it_records() {
        // An empty histogram must stay small: a run holds hundreds of them (issue 6's
        // memory per agent); a fixed one-hour range made each ~190 KB resident.
        let mut h = Hist::new();
        assert!(h.0.distinct_values() <= 4096, "{}", h.0.distinct_values());
        h.record_us(3_600_000_000);
        h.record_us(250);
        assert_eq!(h.count(), 2);
        assert!(h.0.max() >= 3_599_000_000);
        assert!((h.percentile_ms(50.0).expect("non-empty") - 0.25).abs() < 0.001);
    }
    use super::*;

    #[test]
    fn base64_round_trip_keeps_every_count() {
        let mut h = Hist::new();
        for v in [1, 10, 100, 1_000, 10_000, 250_000, 7_200_000_000] {
            h.record_us(v);
        }
        let back = Hist::from_base64(&h.to_base64()).expect("decodes");
        assert_eq!(back, h);
        let mut other = back.clone();
        other.record_us(5);
        assert_ne!(other, h);
        assert_eq!(back.count(), 7);
        assert_eq!(back.0.max(), h.0.max());
        assert_eq!(back.percentile_ms(50.0), h.percentile_ms(50.0));
    }

    #[test]
    fn quantiles_are_ranks_at_round_counts() {
        // 1..=1000 µs are exact buckets: the value at rank k is k.
        let mut h = Hist::new();
        (1..=1000).for_each(|v| h.record_us(v));
        assert_eq!(h.value_at(0.0), 1);
        assert_eq!(h.value_at(0.5), 500);
        assert_eq!(h.value_at(0.99), 990);
        assert_eq!(h.value_at(0.999), 999, "p99.9 of 1,000 is the 999th value");
        assert_eq!(h.percentile_ms(99.9), Some(0.999));
        assert_eq!(h.value_at(1.0), 1000);
        // 10,000 values: p99.99 is the 9,999th, not the maximum.
        let mut t = Hist::new();
        (0..9_999).for_each(|_| t.record_us(7));
        t.record_us(1_500);
        assert_eq!(t.value_at(0.9999), 7);
        assert_eq!(t.percentile_ms(99.99), Some(0.007));
        assert_eq!(t.value_at(1.0), 1_500);
        // Round half up, as the Python decoder: p99 of 1,060 is rank round(1049.4) = 1049.
        let mut u = Hist::new();
        (1..=1060).for_each(|v| u.record_us(v));
        assert_eq!(u.value_at(0.99), 1049);
        assert_eq!(u.values_at(&[0.5, 0.9, 0.99]), vec![530, 954, 1049]);
        assert_eq!(u.value_at_rank(1), 1);
        assert_eq!(u.value_at_rank(1060), 1060);
        assert_eq!(u.value_at_rank(5000), 1060);
        assert_eq!(Hist::new().value_at(0.5), 0);
    }

    #[test]
    fn add_is_exact() {
        let (mut a, mut b) = (Hist::new(), Hist::new());
        (1..=500).for_each(|v| a.record_us(v * 1000));
        (501..=1000).for_each(|v| b.record_us(v * 1000));
        a.add(&b);
        assert_eq!(a.count(), 1000);
        let p50 = a.percentile_ms(50.0).expect("non-empty");
        assert!((499.0..=501.0).contains(&p50), "{p50}");
        assert!(Hist::from_base64("not base64!").is_err());
        assert_eq!(Hist::new().percentile_ms(99.0), None);
    }
}
