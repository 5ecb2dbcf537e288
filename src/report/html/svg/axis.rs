//! The axes of a line chart: where a value lands on the plot ([`Frame`]), nice tick
//! positions on a linear axis, whole decades on the HdrHistogram-style percentile axis,
//! and the grid, ticks and axis labels drawn as SVG. Pure functions of numbers.

use super::{Chart, XScale, LEFT, PLOT_H, RIGHT, TOP, WIDTH};
use crate::report::html::fmt::{esc, fmt_num};

/// Position of a quantile on the percentile axis, in decades of 1/(1-q).
pub(super) fn percentile_x(q: f64) -> f64 {
    let tail = (1.0 - q).clamp(1e-12, 1.0);
    -tail.log10()
}

/// Label of a decade tick on the percentile axis: 0 → "0%", 1 → "90%", 3 → "99.9%".
fn decade_label(decade: usize) -> String {
    match decade {
        0 => "0%".to_string(),
        1 => "90%".to_string(),
        2 => "99%".to_string(),
        d => format!("99.{}%", "9".repeat(d - 2)),
    }
}

/// Nice tick positions (steps of 1, 2 or 5 × 10^k) covering [min, max] with about `n`
/// intervals. Returns (low, high, step, ticks).
pub(super) fn nice_ticks(min: f64, max: f64, n: usize) -> (f64, f64, f64, Vec<f64>) {
    let (mut min, mut max) = if min.is_finite() && max.is_finite() {
        (min.min(max), max.max(min))
    } else {
        (0.0, 1.0)
    };
    if max - min < 1e-12 {
        if min == 0.0 {
            max = 1.0;
        } else {
            let pad = min.abs() * 0.1;
            min -= pad;
            max += pad;
        }
    }
    let raw = (max - min) / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let step = mag
        * if norm <= 1.0 {
            1.0
        } else if norm <= 2.0 {
            2.0
        } else if norm <= 5.0 {
            5.0
        } else {
            10.0
        };
    let low = (min / step).floor() * step;
    let high = (max / step).ceil() * step;
    let count = ((high - low) / step).round() as usize;
    let ticks = (0..=count.min(50)).map(|i| low + step * i as f64).collect();
    (low, high, step, ticks)
}
/// The data range shown, in data units (x already placed on its scale).
pub(super) struct Frame {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
}

impl Frame {
    pub(super) fn px(&self, x: f64) -> f64 {
        LEFT + (x - self.x0) / (self.x1 - self.x0) * (WIDTH - LEFT - RIGHT)
    }
    pub(super) fn py(&self, y: f64) -> f64 {
        TOP + PLOT_H - (y - self.y0) / (self.y1 - self.y0) * PLOT_H
    }
}

/// Tick positions and labels of both axes.
pub(super) struct Ticks {
    y: Vec<f64>,
    y_step: f64,
    x: Vec<(f64, String)>,
}

/// The frame and ticks that show every finite point (`finite` is not empty; x placed).
pub(super) fn frame(chart: &Chart, finite: &[(f64, f64)]) -> (Frame, Ticks) {
    let fold = |f: fn(f64, f64) -> f64, init: f64, pick: fn(&(f64, f64)) -> f64| {
        finite.iter().map(pick).fold(init, f)
    };
    let (xmin, xmax) = (
        fold(f64::min, f64::INFINITY, |p| p.0),
        fold(f64::max, f64::NEG_INFINITY, |p| p.0),
    );
    let ymax = fold(f64::max, f64::NEG_INFINITY, |p| p.1);
    let ymin = fold(f64::min, f64::INFINITY, |p| p.1).min(0.0);
    let (y0, y1, ystep, yticks) = nice_ticks(ymin, ymax, 5);

    // x ticks: whole decades on the percentile axis, nice numbers on a linear one.
    let (x0, x1, xticks): (f64, f64, Vec<(f64, String)>) = match chart.x_scale {
        XScale::Percentile => {
            // A tolerance: 4.0000001 decades (float noise at the last point) is still 4.
            let top = (xmax - 1e-6).ceil().max(1.0) as usize;
            let ticks = (0..=top.min(12))
                .map(|d| (d as f64, decade_label(d)))
                .collect();
            (0.0, top as f64, ticks)
        }
        XScale::Linear => {
            let (want_lo, want_hi) = chart
                .x_range
                .filter(|(a, b)| a.is_finite() && b.is_finite())
                .unwrap_or((0.0, xmax));
            let (lo, hi, step, t) = nice_ticks(xmin.min(want_lo), xmax.max(want_hi), 8);
            let ticks = t.into_iter().map(|v| (v, fmt_num(v, step))).collect();
            (lo, hi, ticks)
        }
    };
    let ticks = Ticks {
        y: yticks,
        y_step: ystep,
        x: xticks,
    };
    (Frame { x0, x1, y0, y1 }, ticks)
}

/// The plot area, grid lines, tick labels, axis lines and axis labels.
pub(super) fn axes_svg(chart: &Chart, f: &Frame, t: &Ticks) -> String {
    let mut o = String::new();
    let (pl, pr, pt, pb) = (LEFT, WIDTH - RIGHT, TOP, TOP + PLOT_H);
    o.push_str(&format!(
        "<rect class=\"plot\" x=\"{pl}\" y=\"{pt}\" width=\"{:.1}\" height=\"{PLOT_H}\"/>\n",
        pr - pl
    ));
    for &v in &t.y {
        let y = f.py(v);
        o.push_str(&format!(
            "<line class=\"grid\" x1=\"{pl}\" x2=\"{pr}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/><text class=\"yt\" x=\"{:.1}\" y=\"{:.1}\">{}</text>\n",
            pl - 6.0,
            y + 4.0,
            fmt_num(v, t.y_step)
        ));
    }
    for (v, label) in &t.x {
        let x = f.px(*v);
        o.push_str(&format!(
            "<line class=\"grid\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{pt}\" y2=\"{pb}\"/><text class=\"xt\" x=\"{x:.1}\" y=\"{:.1}\">{}</text>\n",
            pb + 16.0,
            esc(label)
        ));
    }
    o.push_str(&format!(
        "<line class=\"axis\" x1=\"{pl}\" x2=\"{pr}\" y1=\"{pb}\" y2=\"{pb}\"/><line class=\"axis\" x1=\"{pl}\" x2=\"{pl}\" y1=\"{pt}\" y2=\"{pb}\"/>\n"
    ));
    o.push_str(&format!(
        "<text class=\"xl\" x=\"{:.1}\" y=\"{:.1}\">{}</text>\n",
        (pl + pr) / 2.0,
        pb + 38.0,
        esc(&chart.x_label)
    ));
    o.push_str(&format!(
        "<text class=\"yl\" transform=\"translate(16 {:.1}) rotate(-90)\">{}</text>\n",
        (pt + pb) / 2.0,
        esc(&chart.y_label)
    ));
    o
}

/// A quantile as a percentile with the digits it needs: 0.999 → "99.9".
pub(super) fn fmt_quantile(q: f64) -> String {
    let pct = q * 100.0;
    let digits = (percentile_x(q).ceil() as usize).saturating_sub(2).min(9);
    let s = format!("{pct:.digits$}");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ticks_cover_the_range_with_round_steps() {
        let (lo, hi, step, ticks) = nice_ticks(0.0, 97.0, 5);
        assert_eq!((lo, hi, step), (0.0, 100.0, 20.0));
        assert_eq!(ticks.len(), 6);
        let (_, hi, step, _) = nice_ticks(0.0, 0.013, 5);
        assert!((step - 0.005).abs() < 1e-12 && hi >= 0.013, "{step} {hi}");
        // degenerate and non-finite input still gives a usable axis
        let (lo, hi, _, _) = nice_ticks(5.0, 5.0, 5);
        assert!(lo < 5.0 && hi > 5.0);
        let (lo, hi, _, _) = nice_ticks(f64::NAN, f64::INFINITY, 5);
        assert_eq!((lo, hi), (0.0, 1.0));
    }

    #[test]
    fn percentile_axis_places_decades() {
        assert!((percentile_x(0.0)).abs() < 1e-12);
        assert!((percentile_x(0.99) - 2.0).abs() < 1e-9);
        assert!(percentile_x(1.0).is_finite());
        assert_eq!(decade_label(4), "99.99%");
        assert_eq!(fmt_quantile(0.999), "99.9");
        assert_eq!(fmt_quantile(0.5), "50");
    }
}
