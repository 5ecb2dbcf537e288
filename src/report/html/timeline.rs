//! The "over time" section of the HTML report, drawn from `Results::intervals`: agents
//! active and signed in, the sign-in rate, latency percentiles per operation (corrected
//! and raw) and failures by outcome label.
//!
//! Each value is plotted at its interval's end. It turns intervals into chart series;
//! drawing is `svg`'s job.

use std::collections::BTreeMap;

use super::fmt::esc;
use super::svg::{line_chart, Chart, Series, Style, XScale};
use super::{charted, figure, operation_order, POLL_SPLIT_NOTE};
use crate::metrics::results::IntervalSnapshot;
use crate::metrics::Results;

/// Error series beyond this many are summed into one "other" line.
const MAX_ERROR_SERIES: usize = 7;

/// The unit the time axis uses for a run of this length: (seconds per unit, name).
fn time_unit(end_s: f64) -> (f64, &'static str) {
    if end_s <= 300.0 {
        (1.0, "s")
    } else if end_s <= 3.0 * 3600.0 {
        (60.0, "min")
    } else {
        (3600.0, "h")
    }
}

/// Milliseconds, or seconds when values reach 10 s: (divisor from ms, unit name).
pub fn latency_unit(max_ms: f64) -> (f64, &'static str) {
    if max_ms >= 10_000.0 {
        (1000.0, "s")
    } else {
        (1.0, "ms")
    }
}

fn seconds(iv: &IntervalSnapshot) -> f64 {
    iv.end_s - iv.start_s
}

/// A count per second over an interval (NaN for an interval without length: a gap).
fn rate(count: u64, iv: &IntervalSnapshot) -> f64 {
    let len = seconds(iv);
    if len > 0.0 {
        count as f64 / len
    } else {
        f64::NAN
    }
}

/// The shared time axis of the section: every chart spans the whole run in one unit.
struct TimeAxis<'a> {
    ivs: &'a [IntervalSnapshot],
    /// Seconds per axis unit.
    div: f64,
    end_s: f64,
    label: String,
}

impl TimeAxis<'_> {
    /// A series with one point per interval, at the interval's end.
    fn series(&self, label: &str, style: Style, f: impl Fn(&IntervalSnapshot) -> f64) -> Series {
        Series {
            label: label.to_string(),
            style,
            points: self
                .ivs
                .iter()
                .map(|iv| (iv.end_s / self.div, f(iv)))
                .collect(),
        }
    }

    fn chart(&self, title: &str, y_label: &str, series: Vec<Series>) -> Chart {
        Chart {
            title: title.to_string(),
            x_label: self.label.clone(),
            y_label: y_label.to_string(),
            x_scale: XScale::Linear,
            marker_every: 0,
            x_range: Some((0.0, self.end_s / self.div)),
            series,
        }
    }
}

pub fn section(r: &Results) -> String {
    let mut o = String::from("<section id=\"over-time\"><h2>Over time</h2>\n");
    if r.intervals.is_empty() {
        o.push_str("<p class=\"nodata\">No data: the run recorded no intervals, so there is nothing to plot over time.</p>\n</section>\n");
        return o;
    }
    let ivs = &r.intervals;
    let end_s = ivs.iter().map(|i| i.end_s).fold(0.0, f64::max);
    let (div, unit) = time_unit(end_s);
    let t = TimeAxis {
        ivs,
        div,
        end_s,
        label: format!("time since start ({unit})"),
    };
    o.push_str(&format!(
        "<p class=\"note\">{} intervals; each point is plotted at its interval's end.</p>\n",
        ivs.len()
    ));

    o.push_str(&figure(
        "chart-agents",
        "Agents active and signed in",
        &line_chart(&t.chart(
            "Agents active and signed in",
            "agents",
            vec![
                t.series("active (alive)", Style::nth(0), |iv| {
                    iv.active_agents as f64
                }),
                t.series("signed in", Style::nth(1), |iv| iv.signed_in as f64),
            ],
        )),
        "Agents alive and agents the harness believes signed in, at each interval's end.",
    ));

    let op_rate = |op: &'static str, ok: bool| {
        move |iv: &IntervalSnapshot| {
            let n = iv
                .operations
                .get(op)
                .map(|s| if ok { s.ok } else { s.count })
                .unwrap_or(0);
            rate(n, iv)
        }
    };
    let mut rates = vec![
        t.series(
            "sign-in attempts/s",
            Style::nth(0),
            op_rate("signin", false),
        ),
        t.series(
            "successful sign-ins/s",
            Style::nth(1),
            op_rate("signin", true),
        ),
        t.series("arrivals/s", Style::nth(2), |iv| rate(iv.arrivals, iv)),
    ];
    if ivs
        .iter()
        .any(|iv| iv.operations.contains_key("forcelogin"))
    {
        rates.push(t.series(
            "forced sign-in attempts/s",
            Style::nth(3),
            op_rate("forcelogin", false),
        ));
    }
    o.push_str(&figure(
        "chart-signin-rate",
        "Sign-in rate",
        &line_chart(&t.chart("Sign-in rate", "per second", rates)),
        "Sign-in requests finished per second of each interval, all and successful, with arrivals.",
    ));

    o.push_str("<h3>Latency per operation over time</h3>\n");
    let all = operation_order(ivs.iter().flat_map(|iv| iv.operations.keys()));
    let ops = charted(all.clone());
    if ops.is_empty() {
        o.push_str("<p class=\"nodata\">No data: no operation finished in any interval.</p>\n");
    } else if ops.len() < all.len() {
        o.push_str(POLL_SPLIT_NOTE);
    }
    for op in &ops {
        o.push_str(&latency_chart(&t, op));
    }

    o.push_str(&errors_chart(&t));
    o.push_str("</section>\n");
    o
}

fn latency_chart(t: &TimeAxis, op: &str) -> String {
    let max = t
        .ivs
        .iter()
        .filter_map(|iv| iv.operations.get(op))
        .map(|s| s.corrected_p99_ms.max(s.raw_p99_ms))
        .fold(0.0, f64::max);
    let (div, unit) = latency_unit(max);
    type Pick = fn(&crate::metrics::results::IntervalOp) -> f64;
    let lines: [(&str, Style, Pick); 4] = [
        ("corrected p50", Style::nth(0), |s| s.corrected_p50_ms),
        (
            "corrected p99",
            Style {
                color: 1,
                dash: 0,
                marker: 2,
            },
            |s| s.corrected_p99_ms,
        ),
        (
            "raw p50",
            Style {
                color: 0,
                dash: 1,
                marker: 1,
            },
            |s| s.raw_p50_ms,
        ),
        (
            "raw p99",
            Style {
                color: 1,
                dash: 1,
                marker: 3,
            },
            |s| s.raw_p99_ms,
        ),
    ];
    let series = lines
        .iter()
        .map(|(label, style, pick)| {
            t.series(label, *style, |iv| {
                iv.operations
                    .get(op)
                    .map(|s| pick(s) / div)
                    .unwrap_or(f64::NAN)
            })
        })
        .collect::<Vec<_>>();
    let title = format!("{op} latency over time");
    let c = t.chart(&title, &format!("latency ({unit})"), series);
    figure(
        &format!("chart-latency-{}", slug(op)),
        &title,
        &line_chart(&c),
        &format!(
            "Per interval, {} latency: corrected (solid, from the intended start, includes waiting caused by a slow gateway) and raw (dashed, from the actual send).",
            esc(op)
        ),
    )
}

fn errors_chart(t: &TimeAxis) -> String {
    // Totals per "operation label" key, to keep the largest as their own lines.
    let mut totals: BTreeMap<(String, String), u64> = BTreeMap::new();
    for iv in t.ivs {
        for (op, s) in &iv.operations {
            for (label, n) in &s.errors {
                *totals.entry((op.clone(), label.clone())).or_insert(0) += n;
            }
        }
    }
    let title = "Failures by outcome over time";
    if totals.values().all(|&n| n == 0) {
        return format!(
            "<h3>{title}</h3>\n<p class=\"nodata\">No failures were recorded in any interval.</p>\n"
        );
    }
    let mut ranked: Vec<((String, String), u64)> = totals.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let keep = if ranked.len() > MAX_ERROR_SERIES {
        MAX_ERROR_SERIES - 1
    } else {
        ranked.len()
    };
    let count = |iv: &IntervalSnapshot, op: &str, label: &str| {
        iv.operations
            .get(op)
            .and_then(|s| s.errors.get(label))
            .copied()
            .unwrap_or(0)
    };
    let mut lines: Vec<Series> = ranked[..keep]
        .iter()
        .enumerate()
        .map(|(n, ((op, label), _))| {
            t.series(&format!("{op} {label}"), Style::nth(n), |iv| {
                rate(count(iv, op, label), iv)
            })
        })
        .collect();
    if keep < ranked.len() {
        let rest: Vec<(String, String)> = ranked[keep..].iter().map(|(k, _)| k.clone()).collect();
        lines.push(t.series("all other failures", Style::nth(keep), |iv| {
            rate(rest.iter().map(|(op, l)| count(iv, op, l)).sum(), iv)
        }));
    }
    figure(
        "chart-errors",
        title,
        &line_chart(&t.chart(title, "failures per second", lines)),
        "Failed operations per second, by operation and outcome label (retcode, http:&lt;status&gt;, transport:&lt;kind&gt;).",
    )
}

/// An id-safe form of an operation name.
pub fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::results::IntervalOp;

    #[test]
    fn time_axis_unit_follows_run_length() {
        assert_eq!(time_unit(300.0), (1.0, "s"));
        assert_eq!(time_unit(301.0), (60.0, "min"));
        assert_eq!(time_unit(4.0 * 3600.0), (3600.0, "h"));
        assert_eq!(latency_unit(9_999.0).1, "ms");
        assert_eq!(latency_unit(30_000.0), (1000.0, "s"));
    }

    #[test]
    fn many_failure_labels_fold_into_other_and_empty_intervals_are_gaps() {
        let errors: BTreeMap<String, u64> = (0..10).map(|i| (format!("E{i}"), 10 + i)).collect();
        let op = IntervalOp {
            count: 200,
            failed: errors.values().sum(),
            errors,
            ..Default::default()
        };
        let ivs = vec![
            IntervalSnapshot {
                start_s: 0.0,
                end_s: 10.0,
                operations: BTreeMap::from([("signin".to_string(), op)]),
                ..Default::default()
            },
            IntervalSnapshot {
                start_s: 10.0,
                end_s: 10.0,
                ..Default::default()
            },
        ];
        let t = TimeAxis {
            ivs: &ivs,
            div: 1.0,
            end_s: 10.0,
            label: "time since start (s)".into(),
        };
        let html = errors_chart(&t);
        // The 6 largest keep their own line (E9 … E4), the other 4 are summed.
        assert!(
            html.contains("signin E9") && html.contains("signin E4"),
            "{html}"
        );
        assert!(!html.contains("signin E3"));
        assert!(
            html.contains(
                "<title>all other failures = 4.60 failures per second; time since start (s) = 10</title>"
            ),
            "E0..E3 = 46 failures in 10 s: {html}"
        );
        assert!(rate(5, &ivs[1]).is_nan(), "zero-length interval is a gap");
    }
}
