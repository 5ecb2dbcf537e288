//! Drift detection for soak runs: did an operation's p99 or error rate trend over the run,
//! by an amount a user would act on? This module owns that judgement and its words; it
//! reads only `Results.intervals` and must not speak when the evidence cannot carry it.
//!
//! **When it judges.** A series (one operation's p99, or its error rate) is judged only with
//! at least [`MIN_POINTS`] intervals that hold samples, spanning at least [`MIN_SPAN_S`]
//! (first interval's start to last one's end). Below that there is no finding at all, and a
//! drift threshold reports that the run was too short. Thirty points because the
//! autocorrelation correction below estimates lag correlations whose standard error is
//! about 1/√n: with fewer points it is guesswork. Ten minutes because a shorter trend is a
//! warm-up (pools, caches, the gateway's own start), a ramp or a burst, not drift; a 14-s
//! smoke run at 1-s intervals is never judged, a 10-minute run at the default 10-s
//! interval just is.
//!
//! **How.** The slope is Theil–Sen's (median of pairwise slopes: a few spiky intervals do
//! not move it); its significance is the Mann–Kendall test, two-sided. Interval series are
//! autocorrelated (a slow minute is followed by another), which makes plain Mann–Kendall
//! far too eager, so its variance is corrected after Hamed & Rao (1998): the series is
//! detrended with the Theil–Sen slope, ranked, and the lag autocorrelations of the ranks
//! that are significant at 5 % inflate Var(S) by
//! n/n* = 1 + 2/(n(n−1)(n−2)) Σₖ (n−k)(n−k−1)(n−k−2) ρₖ. Short series bias those
//! correlations towards 0, so the factor is floored by what the same formula gives an AR(1)
//! process with the series' lag-1 correlation (bias-corrected), and it is never below 1 (an
//! estimate of negative autocorrelation does not make the test more eager). Hamed–Rao
//! rather than pre-whitening because pre-whitening assumes AR(1) noise and interval p99s
//! have clustered spikes that are not AR(1). Measured on simulated steady runs (tests
//! below: AR(1) φ = 0.8 p99 noise, clustered Pareto spikes, a wandering error rate), a
//! spurious verdict comes in about 3 % of one-hour runs and 7 % of ten-minute ones, where
//! plain Mann–Kendall gave one in two.
//!
//! **Many series at once.** Every operation's p99 and error rate is tested in one run, so
//! the p-values are adjusted with Holm–Bonferroni over the run's family (every judged series
//! that is not constant; a constant series has nothing to test). A finding carries both
//! p-values and the family size.
//!
//! **Significant** means all of: Holm-adjusted p < [`ALPHA`], a non-zero slope, and a
//! change start → end of the fitted line that a user would act on: a p99 change of at
//! least [`MIN_P99_CHANGE_PCT`] % and [`MIN_P99_CHANGE_MS`] ms, an error-rate change of at
//! least [`MIN_ERROR_CHANGE_PP`] percentage points. So a drift threshold tighter than those
//! floors (`signin.p99.drift < 5%`) measures 0 for a smaller real trend.
//!
//! **Possible values only.** The fitted line is clamped at both ends to what the measure can
//! be (p99 ≥ 0 ms, error rate within 0–100 %), and the change, the relative change and the
//! words are computed from the clamped ends: an error rate never "falls 112 points".
//!
//! Long series are thinned evenly to at most [`MAX_POINTS`] so the O(n²) statistics stay
//! cheap on a 72-hour soak.

use crate::metrics::results::{IntervalSnapshot, POLL_EMPTY};

mod stats;
use stats::{erfc, hamed_rao_factor, holm, median, thin, tie_correction};

/// Fewest intervals with samples a series is judged on.
pub const MIN_POINTS: usize = 30;
/// Shortest time, seconds, a judged series spans (first interval's start to last's end).
pub const MIN_SPAN_S: f64 = 600.0;
/// Most points used (evenly thinned beyond this).
pub const MAX_POINTS: usize = 1000;
/// Family-wise error rate: the Holm-adjusted p-value must be below it.
pub const ALPHA: f64 = 0.05;
/// Smallest p99 change, relative to the fitted start, that is significant.
pub const MIN_P99_CHANGE_PCT: f64 = 10.0;
/// Smallest p99 change, ms, that is significant (a loopback 1.2 → 1.6 ms is not news).
pub const MIN_P99_CHANGE_MS: f64 = 1.0;
/// Smallest error-rate change, percentage points, that is significant (a 99.9 % success
/// target's whole budget).
pub const MIN_ERROR_CHANGE_PP: f64 = 0.1;
/// z for a two-sided 5 % test (autocorrelation screening in the Hamed–Rao correction).
pub(super) const Z_975: f64 = 1.959_964;

pub use crate::metrics::results::{DriftFinding, DriftMeasure};

/// Every operation's p99 and error-rate trend, for the series long enough to judge (empty
/// polls are the gateway's hold time and are left out).
pub fn analyse(intervals: &[IntervalSnapshot]) -> Vec<DriftFinding> {
    let mut ops: Vec<&String> = intervals
        .iter()
        .flat_map(|i| i.operations.keys())
        .filter(|k| k.as_str() != POLL_EMPTY && k.as_str() != "poll")
        .collect();
    ops.sort();
    ops.dedup();
    let mut fits = Vec::new();
    for op in ops {
        let mut p99 = Vec::new();
        let mut err = Vec::new();
        let mut span: Option<(f64, f64)> = None;
        for i in intervals {
            if let Some(o) = i.operations.get(op) {
                if o.count > 0 {
                    let t = (i.start_s + i.end_s) / 2.0;
                    p99.push((t, o.corrected_p99_ms));
                    err.push((t, o.failed as f64 * 100.0 / o.count as f64));
                    span = Some((span.map_or(i.start_s, |s| s.0), i.end_s));
                }
            }
        }
        let Some((first, last)) = span else { continue };
        if p99.len() < MIN_POINTS || last - first < MIN_SPAN_S {
            continue;
        }
        for (measure, series) in [(DriftMeasure::P99, p99), (DriftMeasure::ErrorRate, err)] {
            fits.push((op.as_str(), measure, fit(measure, &series)));
        }
    }
    let family: Vec<usize> = (0..fits.len()).filter(|&i| !fits[i].2.constant).collect();
    let adjusted = holm(
        &family
            .iter()
            .map(|&i| fits[i].2.p_value)
            .collect::<Vec<_>>(),
    );
    let mut p_adjusted = vec![1.0; fits.len()];
    for (&i, p) in family.iter().zip(adjusted) {
        p_adjusted[i] = p;
    }
    fits.into_iter()
        .zip(p_adjusted)
        .map(|((op, measure, f), p)| finding(op, measure, f, p, family.len()))
        .collect()
}

/// One series' statistics before the family correction.
#[derive(Debug)]
struct Fit {
    points: usize,
    /// Theil–Sen slope, per second.
    slope: f64,
    /// The fitted line at the first and last point, clamped to the measure's range.
    start: f64,
    end: f64,
    /// Mann–Kendall Z and two-sided p with the Hamed–Rao variance.
    z: f64,
    p_value: f64,
    variance_factor: f64,
    /// Every value equal: nothing to test.
    constant: bool,
}

fn fit(measure: DriftMeasure, series: &[(f64, f64)]) -> Fit {
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
    let slope = median(&mut slopes).unwrap_or(0.0);
    let mut intercepts: Vec<f64> = pts.iter().map(|(t, v)| v - slope * t).collect();
    let intercept = median(&mut intercepts).unwrap_or(0.0);
    let possible = |v: f64| match measure {
        DriftMeasure::P99 => v.max(0.0),
        DriftMeasure::ErrorRate => v.clamp(0.0, 100.0),
    };
    let (t0, t1) = (pts[0].0, pts[n - 1].0);
    let nf = n as f64;
    let var0 = nf * (nf - 1.0) * (2.0 * nf + 5.0) / 18.0 - tie_correction(&pts);
    let constant = var0 <= 0.0;
    let variance_factor = if constant {
        1.0
    } else {
        hamed_rao_factor(&pts, slope)
    };
    let var = var0 * variance_factor;
    let z = match s.signum() {
        _ if constant => 0.0,
        1 => (s as f64 - 1.0) / var.sqrt(),
        -1 => (s as f64 + 1.0) / var.sqrt(),
        _ => 0.0,
    };
    Fit {
        points: n,
        slope,
        start: possible(intercept + slope * t0),
        end: possible(intercept + slope * t1),
        z,
        p_value: erfc(z.abs() / std::f64::consts::SQRT_2).min(1.0),
        variance_factor,
        constant,
    }
}

/// The finding in numbers and words, once the family's adjusted p-value is known.
fn finding(
    operation: &str,
    measure: DriftMeasure,
    f: Fit,
    p_adjusted: f64,
    family_size: usize,
) -> DriftFinding {
    let delta = f.end - f.start;
    let change_pct = (f.start > 1e-9).then(|| delta / f.start * 100.0);
    let practical = match measure {
        DriftMeasure::P99 => {
            delta.abs() >= MIN_P99_CHANGE_MS
                && change_pct.is_none_or(|c| c.abs() >= MIN_P99_CHANGE_PCT)
        }
        DriftMeasure::ErrorRate => delta.abs() >= MIN_ERROR_CHANGE_PP,
    };
    let moved = f.slope != 0.0 && delta != 0.0;
    let significant = p_adjusted < ALPHA && practical && moved;
    let what = match measure {
        DriftMeasure::P99 => format!("{operation} p99"),
        DriftMeasure::ErrorRate => format!("{operation} error rate"),
    };
    let dir = if delta > 0.0 { "rose" } else { "fell" };
    let amount = match (measure, change_pct) {
        (DriftMeasure::P99, Some(c)) => format!(
            "{:.0} % ({} → {} ms)",
            c.abs(),
            fmt_value(f.start),
            fmt_value(f.end)
        ),
        (DriftMeasure::P99, None) => format!("{} ms (from 0)", fmt_value(delta.abs())),
        (DriftMeasure::ErrorRate, _) => format!(
            "{:.2} percentage points ({:.2} % → {:.2} %)",
            delta.abs(),
            f.start,
            f.end
        ),
    };
    let evidence = format!(
        "Holm-adjusted p {} over {family_size} series",
        fmt_p(p_adjusted)
    );
    let summary = if f.constant {
        format!("{what}: constant over the run")
    } else if significant {
        format!("{what} {dir} {amount} over the run, significant ({evidence})")
    } else if p_adjusted < ALPHA && moved {
        let floor = match measure {
            DriftMeasure::P99 => {
                format!("{MIN_P99_CHANGE_PCT:.0} % and {MIN_P99_CHANGE_MS} ms")
            }
            DriftMeasure::ErrorRate => format!("{MIN_ERROR_CHANGE_PP} percentage points"),
        };
        format!(
            "{what} {dir} {amount} over the run: a real but small trend, under the {floor} that count ({evidence})"
        )
    } else {
        format!("{what}: no significant trend ({evidence})")
    };
    DriftFinding {
        operation: operation.to_string(),
        measure,
        points: f.points,
        slope_per_hour: f.slope * 3600.0,
        start: f.start,
        end: f.end,
        change_pct,
        z: f.z,
        p_value: f.p_value,
        significant,
        summary,
        p_adjusted: Some(p_adjusted),
        family_size,
        variance_factor: Some(f.variance_factor),
        practical: Some(practical),
    }
}

fn fmt_value(ms: f64) -> String {
    if ms >= 100.0 {
        format!("{ms:.0}")
    } else {
        format!("{ms:.1}")
    }
}

fn fmt_p(p: f64) -> String {
    if p < 0.001 {
        "< 0.001".to_string()
    } else {
        format!("= {p:.3}")
    }
}

#[cfg(test)]
mod tests;
