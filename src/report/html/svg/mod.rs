//! A tiny inline-SVG line chart for the HTML report: several series on one plot, a linear
//! or HdrHistogram-style log-percentile x axis, a linear y axis with nice ticks, and a
//! legend. Series differ by colour *and* dash *and* marker so a chart reads in black and
//! white print; markers carry a `<title>` so hovering shows the value without any script.
//!
//! It draws numbers it is given and knows nothing of Results; it never loads anything and
//! never panics on odd input (NaN is a gap, empty input is a "no data" note). The axes
//! (frame, ticks, grid and labels) are `axis`; this file draws the series and the legend.

mod axis;

use super::fmt::{esc, fmt_sig};
use axis::percentile_x;
use axis::{fmt_quantile, Frame};

/// Width of every chart's view box; the page scales it to the column width.
const WIDTH: f64 = 760.0;
const PLOT_H: f64 = 250.0;
const LEFT: f64 = 74.0;
const RIGHT: f64 = 48.0;
const TOP: f64 = 14.0;
/// Tick labels plus the x axis label below the plot.
const X_AXIS_H: f64 = 46.0;
const LEGEND_ROW: f64 = 20.0;
/// Estimated width of one legend character at the chart font size.
const CHAR_W: f64 = 6.8;
/// At most this many markers per series (more would hide the line).
const MAX_MARKERS: usize = 28;
/// At most about this many points per series are drawn (a day of 1 s intervals would
/// otherwise make a page of tens of megabytes).
const MAX_POINTS: usize = 1000;

/// Dark, print-safe colours, distinguishable for the common colour-vision deficiencies
/// when combined with the dash and marker of the same style.
const COLORS: [&str; 8] = [
    "#1f4e9c", "#b03a2e", "#2e7d32", "#6a1b9a", "#c05600", "#00707a", "#5d4037", "#3a3a3a",
];
const DASHES: [&str; 4] = ["", "8 4", "2 3", "10 3 2 3"];
const MARKERS: usize = 6;

/// How one series is drawn: indexes into the colour, dash and marker tables (wrapping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub color: usize,
    pub dash: usize,
    pub marker: usize,
}

impl Style {
    /// The n-th style of a chart: every part differs from the previous one.
    pub fn nth(n: usize) -> Style {
        Style {
            color: n,
            dash: n,
            marker: n,
        }
    }
}

/// One line: points in data units; a non-finite y is a gap in the line.
#[derive(Debug, Clone)]
pub struct Series {
    pub label: String,
    pub style: Style,
    pub points: Vec<(f64, f64)>,
}

/// How the x values are placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XScale {
    /// x as given.
    Linear,
    /// x is a quantile in [0, 1) placed at log10(1/(1-q)): 0%, 90%, 99%, 99.9% … equally
    /// spaced, as HdrHistogram plots a percentile spectrum.
    Percentile,
}

#[derive(Debug, Clone)]
pub struct Chart {
    /// Accessible title (also the SVG `<title>`).
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_scale: XScale,
    /// Draw a marker on every n-th point (0 = spread about `MAX_MARKERS` evenly).
    pub marker_every: usize,
    /// The x range to show at least (linear scale), so charts of one run share an axis
    /// even when a series has no data near its ends.
    pub x_range: Option<(f64, f64)>,
    pub series: Vec<Series>,
}

/// Renders the chart as an `<svg>` element, or a "no data" note when nothing is finite.
pub fn line_chart(chart: &Chart) -> String {
    let place = |x: f64| match chart.x_scale {
        XScale::Linear => x,
        XScale::Percentile => percentile_x(x),
    };
    let finite: Vec<(f64, f64)> = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .map(|&(x, y)| (place(x), y))
        .collect();
    if finite.is_empty() {
        return format!(
            "<p class=\"nodata\">No data for this chart ({}).</p>",
            esc(&chart.title)
        );
    }
    let (f, ticks) = axis::frame(chart, &finite);

    let legend = legend_layout(&chart.series);
    let legend_rows = legend.last().map(|l| l.row + 1).unwrap_or(0);
    let height = TOP + PLOT_H + X_AXIS_H + legend_rows as f64 * LEGEND_ROW + 6.0;
    let mut o = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" preserveAspectRatio=\"xMidYMin meet\"><title>{}</title>\n",
        esc(&chart.title)
    );
    o.push_str(&axis::axes_svg(chart, &f, &ticks));
    for s in &chart.series {
        o.push_str(&series_svg(chart, s, &f, &place));
    }
    o.push_str(&legend_svg(&chart.series, &legend));
    o.push_str("</svg>");
    o
}

struct LegendItem {
    index: usize,
    row: usize,
    x: f64,
}

fn legend_layout(series: &[Series]) -> Vec<LegendItem> {
    let avail = WIDTH - LEFT - RIGHT;
    let (mut row, mut x) = (0, 0.0);
    let mut out = Vec::with_capacity(series.len());
    for (index, s) in series.iter().enumerate() {
        let w = 36.0 + s.label.chars().count() as f64 * CHAR_W + 18.0;
        if x > 0.0 && x + w > avail {
            row += 1;
            x = 0.0;
        }
        out.push(LegendItem { index, row, x });
        x += w;
    }
    out
}

/// The legend below the x axis, one sample line and marker per series.
fn legend_svg(series: &[Series], legend: &[LegendItem]) -> String {
    let mut o = String::new();
    let legend_top = TOP + PLOT_H + X_AXIS_H + 4.0;
    for item in legend {
        let s = &series[item.index];
        let y = legend_top + item.row as f64 * LEGEND_ROW + 6.0;
        let x = LEFT + item.x;
        o.push_str(&format!(
            "<g class=\"legend\"><path d=\"M{x:.1} {y:.1} L{:.1} {y:.1}\" {}/>{}<text x=\"{:.1}\" y=\"{:.1}\">{}</text></g>\n",
            x + 30.0,
            stroke_attrs(s.style),
            marker(s.style, x + 15.0, y, None),
            x + 36.0,
            y + 4.0,
            esc(&s.label)
        ));
    }
    o
}

fn stroke_attrs(style: Style) -> String {
    let color = COLORS[style.color % COLORS.len()];
    let dash = DASHES[style.dash % DASHES.len()];
    if dash.is_empty() {
        // Solid lines a little wider, so a dashed line drawn over one leaves it visible.
        format!("fill=\"none\" stroke=\"{color}\" stroke-width=\"2.6\"")
    } else {
        format!("fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" stroke-dasharray=\"{dash}\"")
    }
}

/// Keeps a long series drawable: beyond `max` points, each bucket of consecutive points
/// becomes its lowest and highest point (in x order), so spikes and dips survive. A bucket
/// with no finite point stays a gap.
fn decimate(points: &[(f64, f64)], max: usize) -> Vec<(f64, f64)> {
    if points.len() <= max || max < 2 {
        return points.to_vec();
    }
    let per = points.len().div_ceil(max / 2);
    let mut out = Vec::with_capacity(max + 2);
    for bucket in points.chunks(per) {
        let finite = bucket.iter().enumerate().filter(|(_, p)| p.1.is_finite());
        let lo = finite.clone().min_by(|a, b| a.1 .1.total_cmp(&b.1 .1));
        let hi = finite.max_by(|a, b| a.1 .1.total_cmp(&b.1 .1));
        match (lo, hi) {
            (Some((i, &a)), Some((j, &b))) if i < j => out.extend([a, b]),
            (Some((i, &a)), Some((j, &b))) if i > j => out.extend([b, a]),
            (Some((_, &a)), _) => out.push(a),
            _ => out.push((bucket[0].0, f64::NAN)),
        }
    }
    out
}

fn series_svg(chart: &Chart, s: &Series, f: &Frame, place: &dyn Fn(f64) -> f64) -> String {
    let mut d = String::new();
    let mut pen_down = false;
    let points = decimate(&s.points, MAX_POINTS);
    let mut isolated = vec![false; points.len()];
    let pts: Vec<Option<(f64, f64)>> = points
        .iter()
        .map(|&(x, y)| (x.is_finite() && y.is_finite()).then(|| (f.px(place(x)), f.py(y))))
        .collect();
    for (i, p) in pts.iter().enumerate() {
        match p {
            Some((x, y)) => {
                d.push_str(&format!(
                    "{}{x:.1} {y:.1} ",
                    if pen_down { 'L' } else { 'M' }
                ));
                let prev = i > 0 && pts[i - 1].is_some();
                let next = pts.get(i + 1).is_some_and(Option::is_some);
                isolated[i] = !prev && !next;
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    let mut o = format!(
        "<g class=\"series\"><path d=\"{}\" {}/>",
        d.trim_end(),
        stroke_attrs(s.style)
    );
    let every = if chart.marker_every > 0 {
        chart.marker_every
    } else {
        points.len().div_ceil(MAX_MARKERS).max(1)
    };
    for (i, (&(dx, dy), p)) in points.iter().zip(&pts).enumerate() {
        let Some((x, y)) = p else { continue };
        if i % every != 0 && i + 1 != points.len() && !isolated[i] {
            continue;
        }
        let at = match chart.x_scale {
            XScale::Linear => format!("{} = {}", chart.x_label, fmt_sig(dx)),
            XScale::Percentile => format!("at p{}", fmt_quantile(dx)),
        };
        let title = format!("{} = {} {}; {}", s.label, fmt_sig(dy), chart.y_label, at);
        o.push_str(&marker(s.style, *x, *y, Some(&title)));
    }
    o.push_str("</g>\n");
    o
}

/// One marker shape, filled with the series colour (circle, square, triangle, diamond,
/// plus, cross), optionally with a hover title.
fn marker(style: Style, x: f64, y: f64, title: Option<&str>) -> String {
    let color = COLORS[style.color % COLORS.len()];
    let t = title
        .map(|t| format!("<title>{}</title>", esc(t)))
        .unwrap_or_default();
    let r = 3.6;
    match style.marker % MARKERS {
        0 => format!("<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"{r}\" fill=\"{color}\">{t}</circle>"),
        1 => format!(
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\">{t}</rect>",
            x - r,
            y - r,
            2.0 * r,
            2.0 * r
        ),
        2 => format!(
            "<polygon points=\"{x:.1},{:.1} {:.1},{:.1} {:.1},{:.1}\" fill=\"{color}\">{t}</polygon>",
            y - r - 0.8,
            x + r + 0.6,
            y + r,
            x - r - 0.6,
            y + r
        ),
        3 => format!(
            "<polygon points=\"{x:.1},{:.1} {:.1},{y:.1} {x:.1},{:.1} {:.1},{y:.1}\" fill=\"{color}\">{t}</polygon>",
            y - r - 0.8,
            x + r + 0.8,
            y + r + 0.8,
            x - r - 0.8
        ),
        4 => format!(
            "<polyline points=\"{:.1},{y:.1} {:.1},{y:.1} {x:.1},{y:.1} {x:.1},{:.1} {x:.1},{:.1}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2.4\">{t}</polyline>",
            x - r - 1.0,
            x + r + 1.0,
            y - r - 1.0,
            y + r + 1.0
        ),
        _ => format!(
            "<polyline points=\"{:.1},{:.1} {:.1},{:.1} {x:.1},{y:.1} {:.1},{:.1} {:.1},{:.1}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2.4\">{t}</polyline>",
            x - r,
            y - r,
            x + r,
            y + r,
            x + r,
            y - r,
            x - r,
            y + r
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimation_keeps_extremes_and_bounds_the_size() {
        let mut pts: Vec<(f64, f64)> = (0..100_000).map(|i| (i as f64, 1.0)).collect();
        pts[51_234].1 = 99.0;
        pts[70_000].1 = -5.0;
        for p in &mut pts[90_000..91_000] {
            p.1 = f64::NAN;
        }
        let d = decimate(&pts, 1000);
        assert!(d.len() <= 1002, "{}", d.len());
        assert!(d.contains(&(51_234.0, 99.0)) && d.contains(&(70_000.0, -5.0)));
        assert!(
            d.iter().any(|p| p.1.is_nan()),
            "an all-gap bucket stays a gap"
        );
        assert!(d.windows(2).all(|w| w[0].0 <= w[1].0), "x order kept");
        let short = [(0.0, 1.0), (1.0, 2.0)];
        assert_eq!(decimate(&short, 1000), short.to_vec());
    }

    #[test]
    fn gaps_split_the_line_and_nan_only_is_no_data() {
        let chart = Chart {
            title: "t".into(),
            x_label: "s".into(),
            y_label: "ms".into(),
            x_scale: XScale::Linear,
            marker_every: 0,
            x_range: None,
            series: vec![Series {
                label: "a<b".into(),
                style: Style::nth(0),
                points: vec![(0.0, 1.0), (1.0, 2.0), (2.0, f64::NAN), (3.0, 4.0)],
            }],
        };
        let svg = line_chart(&chart);
        let prefix = "<g class=\"series\"><path d=\"";
        let start = svg.find(prefix).expect("series path") + prefix.len();
        let d = &svg[start..start + svg[start..].find('"').expect("end of d")];
        assert_eq!(d.matches('M').count(), 2, "{d}");
        assert_eq!(d.matches('L').count(), 1, "{d}");
        assert!(svg.contains("a&lt;b") && !svg.contains("a<b"));
        let mut empty = chart.clone();
        empty.series[0].points = vec![(0.0, f64::NAN)];
        assert!(line_chart(&empty).contains("No data"));
    }
}
