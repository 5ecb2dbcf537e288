//! Drift detection for soak runs: did an operation's p99 or error rate trend over the run?
//! A robust trend test over the interval series: the Theil–Sen slope (median of pairwise
//! slopes, unmoved by a few spiky intervals) and the Mann–Kendall test for whether the
//! trend is significant (two-sided, α = 0.05). Reported in words ("signin p99 rose 35 %
//! over the run, significant") and usable as a threshold (`signin.p99.drift`).
//!
//! Pure: it reads only `Results.intervals`. Long series are thinned evenly to at most
//! [`MAX_POINTS`] so the O(n²) statistics stay cheap on a 72-hour soak.

use crate::metrics::results::{IntervalSnapshot, POLL_EMPTY};

/// Fewest intervals a trend is judged on.
pub const MIN_POINTS: usize = 8;
/// Most points used (evenly thinned beyond this).
pub const MAX_POINTS: usize = 1000;
/// |Z| beyond this is significant at α = 0.05, two-sided.
const Z_CRIT: f64 = 1.959_964;

pub use crate::metrics::results::{DriftFinding, DriftMeasure};

/// Every operation's p99 and error-rate trend (empty polls are the gateway's hold time and
/// are left out).
pub fn analyse(intervals: &[IntervalSnapshot]) -> Vec<DriftFinding> {
    let mut ops: Vec<&String> = intervals
        .iter()
        .flat_map(|i| i.operations.keys())
        .filter(|k| k.as_str() != POLL_EMPTY && k.as_str() != "poll")
        .collect();
    ops.sort();
    ops.dedup();
    let mut out = Vec::new();
    for op in ops {
        let mut p99 = Vec::new();
        let mut err = Vec::new();
        for i in intervals {
            if let Some(o) = i.operations.get(op) {
                if o.count > 0 {
                    let t = (i.start_s + i.end_s) / 2.0;
                    p99.push((t, o.corrected_p99_ms));
                    err.push((t, o.failed as f64 * 100.0 / o.count as f64));
                }
            }
        }
        for (measure, series) in [(DriftMeasure::P99, p99), (DriftMeasure::ErrorRate, err)] {
            if let Some(f) = trend(op, measure, &series) {
                out.push(f);
            }
        }
    }
    out
}

/// The trend of one series of (seconds, value); None with fewer than [`MIN_POINTS`].
pub fn trend(
    operation: &str,
    measure: DriftMeasure,
    series: &[(f64, f64)],
) -> Option<DriftFinding> {
    if series.len() < MIN_POINTS {
        return None;
    }
    let pts = thin(series, MAX_POINTS);
    let n = pts.len();
    let mut slopes = Vec::with_capacity(n * (n - 1) / 2);
    let mut s: i64 = 0;
    for i in 0..n {
        for j in i + 1..n {
            let (dt, dv) = (pts[j].0 - pts[i].0, pts[j].1 - pts[i].1);
            if dt > 0.0 {
                slopes.push(dv / dt);
            }
            s += match dv.partial_cmp(&0.0) {
                Some(std::cmp::Ordering::Greater) => 1,
                Some(std::cmp::Ordering::Less) => -1,
                _ => 0,
            };
        }
    }
    let slope = median(&mut slopes)?;
    let mut intercepts: Vec<f64> = pts.iter().map(|(t, v)| v - slope * t).collect();
    let intercept = median(&mut intercepts)?;
    let (t0, t1) = (pts[0].0, pts[n - 1].0);
    let (start, end) = (intercept + slope * t0, intercept + slope * t1);
    let nf = n as f64;
    let var = nf * (nf - 1.0) * (2.0 * nf + 5.0) / 18.0 - tie_correction(&pts);
    let z = if var <= 0.0 {
        0.0
    } else if s > 0 {
        (s as f64 - 1.0) / var.sqrt()
    } else if s < 0 {
        (s as f64 + 1.0) / var.sqrt()
    } else {
        0.0
    };
    let p_value = 2.0 * (1.0 - normal_cdf(z.abs()));
    let significant = z.abs() > Z_CRIT && slope != 0.0;
    let change_pct = (start.abs() > 1e-9).then(|| (end - start) / start * 100.0);
    let what = match measure {
        DriftMeasure::P99 => format!("{operation} p99"),
        DriftMeasure::ErrorRate => format!("{operation} error rate"),
    };
    let summary = if !significant {
        format!("{what}: no significant trend (Mann–Kendall p = {p_value:.2})")
    } else {
        let dir = if slope > 0.0 { "rose" } else { "fell" };
        let amount = match (measure, change_pct) {
            (DriftMeasure::P99, Some(c)) => format!("{:.0} %", c.abs()),
            (DriftMeasure::P99, None) => format!("{:.1} ms", (end - start).abs()),
            (DriftMeasure::ErrorRate, _) => format!("{:.2} percentage points", (end - start).abs()),
        };
        format!("{what} {dir} {amount} over the run, significant (Mann–Kendall p = {p_value:.3})")
    };
    Some(DriftFinding {
        operation: operation.to_string(),
        measure,
        points: n,
        slope_per_hour: slope * 3600.0,
        start,
        end,
        change_pct,
        z,
        p_value,
        significant,
        summary,
    })
}

/// Mann–Kendall's variance correction for tied values: Σ t(t−1)(2t+5)/18 over tie groups.
fn tie_correction(pts: &[(f64, f64)]) -> f64 {
    let mut v: Vec<f64> = pts.iter().map(|p| p.1).collect();
    v.sort_by(f64::total_cmp);
    let mut total = 0.0;
    let mut i = 0;
    while i < v.len() {
        let mut j = i + 1;
        while j < v.len() && v[j] == v[i] {
            j += 1;
        }
        let t = (j - i) as f64;
        if t > 1.0 {
            total += t * (t - 1.0) * (2.0 * t + 5.0) / 18.0;
        }
        i = j;
    }
    total
}

fn thin(series: &[(f64, f64)], max: usize) -> Vec<(f64, f64)> {
    if series.len() <= max {
        return series.to_vec();
    }
    let step = series.len() as f64 / max as f64;
    (0..max)
        .map(|k| series[((k as f64 * step) as usize).min(series.len() - 1)])
        .collect()
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 0 {
        (v[m - 1] + v[m]) / 2.0
    } else {
        v[m]
    })
}

/// Standard normal CDF (Abramowitz–Stegun 7.1.26 erf, error < 1.5e-7).
fn normal_cdf(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs() / std::f64::consts::SQRT_2);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-(x * x) / 2.0).exp();
    if x >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::results::IntervalOp;

    fn series(f: impl Fn(usize) -> f64, n: usize) -> Vec<(f64, f64)> {
        (0..n).map(|i| (i as f64 * 10.0, f(i))).collect()
    }

    #[test]
    fn a_steady_rise_is_significant_and_sized() {
        // p99 from 100 ms to 135 ms over 360 intervals, with noise and a few spikes
        let s = series(
            |i| {
                100.0 + 35.0 * i as f64 / 359.0 + ((i * 7919) % 13) as f64 - 6.0
                    + if i % 50 == 0 { 400.0 } else { 0.0 }
            },
            360,
        );
        let f = trend("signin", DriftMeasure::P99, &s).expect("enough points");
        assert!(f.significant, "{f:?}");
        let c = f.change_pct.expect("start > 0");
        assert!(
            (30.0..40.0).contains(&c),
            "{c}: spikes must not move Theil–Sen"
        );
        assert!(f.summary.starts_with("signin p99 rose 3"), "{}", f.summary);
    }

    #[test]
    fn noise_alone_is_not_a_trend() {
        let s = series(|i| 100.0 + ((i * 7919) % 13) as f64, 360);
        let f = trend("signin", DriftMeasure::P99, &s).expect("enough points");
        assert!(!f.significant, "{f:?}");
        assert!(f.summary.contains("no significant trend"));
        let flat = series(|_| 5.0, 20);
        assert!(
            !trend("x", DriftMeasure::ErrorRate, &flat)
                .expect("points")
                .significant
        );
        assert!(
            trend("x", DriftMeasure::P99, &flat[..5]).is_none(),
            "too few points"
        );
    }

    #[test]
    fn a_falling_error_rate_and_the_interval_walk() {
        let mut intervals = Vec::new();
        for i in 0..40 {
            let mut s = IntervalSnapshot {
                start_s: i as f64 * 10.0,
                end_s: (i + 1) as f64 * 10.0,
                ..Default::default()
            };
            s.operations.insert(
                "signin".into(),
                IntervalOp {
                    count: 100,
                    ok: 100 - (40 - i),
                    failed: 40 - i,
                    corrected_p99_ms: 50.0,
                    ..Default::default()
                },
            );
            s.operations.insert(
                "poll_empty".into(),
                IntervalOp {
                    count: 1,
                    corrected_p99_ms: i as f64,
                    ..Default::default()
                },
            );
            intervals.push(s);
        }
        let found = analyse(&intervals);
        assert_eq!(found.len(), 2, "poll_empty is not analysed");
        let err = found
            .iter()
            .find(|f| f.measure == DriftMeasure::ErrorRate)
            .expect("errors");
        assert!(err.significant && err.slope_per_hour < 0.0, "{err:?}");
        assert!(err.summary.contains("fell"), "{}", err.summary);
        let p99 = found
            .iter()
            .find(|f| f.measure == DriftMeasure::P99)
            .expect("p99");
        assert!(!p99.significant);
        assert!((normal_cdf(1.959964) - 0.975).abs() < 1e-4);
    }
}
