//! The statistics drift is judged with, as pure functions of numbers: Holm's adjustment
//! of a family of p-values, the Hamed–Rao variance factor for autocorrelated series,
//! ranks and the Mann–Kendall tie correction, even thinning, a selection median, erfc.

use super::Z_975;

/// Holm–Bonferroni: the k-th smallest of m p-values is multiplied by m − k + 1, and the
/// adjusted values are made monotone. Returned in the input's order.
pub(super) fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut adjusted = vec![1.0; m];
    let mut running: f64 = 0.0;
    for (k, &i) in order.iter().enumerate() {
        running = running.max(((m - k) as f64 * p[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

/// Hamed & Rao (1998): the factor n/n* by which autocorrelation inflates Var(S), from the
/// significant lag autocorrelations of the ranks of the detrended series; at least the
/// AR(1) factor of its lag-1 correlation, and at least 1.
pub(super) fn hamed_rao_factor(pts: &[(f64, f64)], slope: f64) -> f64 {
    let n = pts.len();
    if n < 3 {
        return 1.0;
    }
    let detrended: Vec<f64> = pts.iter().map(|(t, v)| v - slope * t).collect();
    let mean = (n as f64 + 1.0) / 2.0;
    let d: Vec<f64> = ranks(&detrended).iter().map(|r| r - mean).collect();
    let ss: f64 = d.iter().map(|x| x * x).sum();
    if ss <= 0.0 {
        return 1.0;
    }
    let nf = n as f64;
    let weight = |k: usize| {
        let m = (n - k) as f64;
        m * (m - 1.0) * (m - 2.0)
    };
    let scale = 2.0 / (nf * (nf - 1.0) * (nf - 2.0));
    let mut sum = 0.0;
    let mut r1 = 0.0;
    // lags n-2 and n-1 have weight 0
    for k in 1..n - 2 {
        let rho = (0..n - k).map(|i| d[i] * d[i + k]).sum::<f64>() / ss;
        if k == 1 {
            r1 = rho;
        }
        let m = (n - k) as f64;
        // Anderson's 95 % band for a lag-k autocorrelation of an independent series
        let half = Z_975 * (m - 1.0).sqrt();
        if rho < (-1.0 - half) / m || rho > (-1.0 + half) / m {
            sum += weight(k) * rho;
        }
    }
    let hamed_rao = 1.0 + scale * sum;
    // Hamed–Rao sums noisy lag correlations that short series bias towards 0: floor it by
    // the factor of an AR(1) process with the lag-1 correlation, bias-corrected for the
    // estimated mean (Marriott–Pope: E r₁ ≈ φ − (1 + 4φ)/n)
    let phi = (r1 + (1.0 + 4.0 * r1) / nf).clamp(0.0, 0.99);
    let mut ar = 0.0;
    let mut pk = phi;
    for k in 1..n - 2 {
        if pk < 1e-9 {
            break;
        }
        ar += weight(k) * pk;
        pk *= phi;
    }
    hamed_rao.max(1.0 + scale * ar).max(1.0)
}

/// Ranks 1..=n, ties given their average rank.
pub(super) fn ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i + 1;
        while j < order.len() && v[order[j]] == v[order[i]] {
            j += 1;
        }
        let average = (i + j + 1) as f64 / 2.0;
        for &k in &order[i..j] {
            r[k] = average;
        }
        i = j;
    }
    r
}

/// Mann–Kendall's variance correction for tied values: Σ t(t−1)(2t+5)/18 over tie groups.
pub(super) fn tie_correction(pts: &[(f64, f64)]) -> f64 {
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

pub(super) fn thin(series: &[(f64, f64)], max: usize) -> Vec<(f64, f64)> {
    if series.len() <= max {
        return series.to_vec();
    }
    let step = series.len() as f64 / max as f64;
    (0..max)
        .map(|k| series[((k as f64 * step) as usize).min(series.len() - 1)])
        .collect()
}

/// The median, by selection (the pairwise slopes of 1,000 points are half a million).
pub(super) fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let m = v.len() / 2;
    let even = v.len() % 2 == 0;
    let (below, mid, _) = v.select_nth_unstable_by(m, f64::total_cmp);
    let hi = *mid;
    Some(if even {
        let lo = below.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lo + hi) / 2.0
    } else {
        hi
    })
}

/// Complementary error function (Abramowitz–Stegun 7.1.26, absolute error < 1.5e-7), so
/// the two-sided normal p-value is erfc(|z|/√2).
pub(super) fn erfc(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let tail = poly * (-(x * x)).exp();
    if x >= 0.0 {
        tail
    } else {
        2.0 - tail
    }
}
