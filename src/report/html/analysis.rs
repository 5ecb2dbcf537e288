//! The report's findings sections, each present only when it applies: Recovery (sessions
//! the gateway ended and how agents came back, charted over time), Capacity search (every
//! step, charted against its target rate) and Drift (trends of p99 and error rate over a
//! soak, with the interval values and the fitted line for each finding).

use super::figure;
use super::fmt::{esc, facts, fmt_count, fmt_ms_opt, table, Cell};
use super::svg::{line_chart, Chart, Series, Style, XScale};
use crate::metrics::results::{DriftFinding, DriftMeasure};
use crate::metrics::{Hist, Results};

/// Seconds, or "not reached".
fn secs(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.2} s"))
        .unwrap_or_else(|| "not reached".into())
}

/// The cumulative count of a histogram of µs-since-start times, as (seconds, count) steps.
fn cumulative(h: &Hist) -> Vec<(f64, f64)> {
    let mut n = 0u64;
    let mut out = vec![];
    for v in h.0.iter_recorded() {
        let t = h.0.highest_equivalent(v.value_iterated_to()) as f64 / 1e6;
        out.push((t, n as f64));
        n += v.count_at_value();
        out.push((t, n as f64));
    }
    out
}

/// Sessions lost and agents back in service, with the times until half, 99 % and all of
/// them were back; a chart of both over the run.
pub fn recovery_section(r: &Results) -> String {
    let Some(rec) = &r.derived.recovery else {
        return String::new();
    };
    let s = &r.sessions;
    let mut o = String::from("<section id=\"recovery\"><h2>Recovery</h2>\n");
    o.push_str(&facts(&[
        ("Sessions lost", fmt_count(rec.lost)),
        (
            "Back in service",
            format!("{} of {}", fmt_count(rec.back), fmt_count(rec.lost)),
        ),
        (
            "First loss",
            format!("{:.2} s after the start", rec.first_loss_s),
        ),
        ("50 % back after", esc(&secs(rec.t50_s))),
        ("99 % back after", esc(&secs(rec.t99_s))),
        ("All back after", esc(&secs(rec.t100_s))),
        ("Re-sign-ins", fmt_count(s.resignins)),
        (
            "Sign-in attempts coming back",
            fmt_count(rec.resignin_attempts),
        ),
    ]));
    if !rec.nodes.is_empty() {
        o.push_str(&node_table(rec));
    }
    let chart = Chart {
        title: "Sessions lost and agents back in service".into(),
        x_label: "time since start (s)".into(),
        y_label: "agents".into(),
        x_scale: XScale::Linear,
        marker_every: 0,
        x_range: Some((0.0, r.duration_s)),
        series: vec![
            Series {
                label: "sessions lost (so far)".into(),
                style: Style::nth(1),
                points: cumulative(&s.lost_at),
            },
            Series {
                label: "back in service (so far)".into(),
                style: Style::nth(0),
                points: cumulative(&s.back_at),
            },
        ],
    };
    o.push_str(&figure(
        "chart-recovery",
        "Sessions lost and agents back in service",
        &line_chart(&chart),
        "How many sessions the gateway had ended, and how many of those agents were ready again, at each moment. The times above run from the first loss.",
    ));
    o.push_str("</section>\n");
    o
}

/// Recovery per gateway node (the node that issued the lost sessions' GUIDs).
fn node_table(rec: &crate::metrics::results::Recovery) -> String {
    let rows = rec
        .nodes
        .iter()
        .map(|n| {
            vec![
                Cell::Text(n.node.clone()),
                Cell::Num(fmt_count(n.lost)),
                Cell::Num(fmt_count(n.back)),
                Cell::Num(format!("{:.2} s", n.first_loss_s)),
                Cell::Num(esc(&secs(n.t50_s))),
                Cell::Num(esc(&secs(n.t99_s))),
                Cell::Num(esc(&secs(n.t100_s))),
                Cell::Num(fmt_count(n.resignin_attempts)),
            ]
        })
        .collect();
    table(
        "recovery-nodes",
        &[
            "Node",
            "Lost",
            "Back",
            "First loss",
            "50 % back",
            "99 % back",
            "All back",
            "Sign-in attempts",
        ],
        rows,
    )
}

/// The capacity search's steps: a table, and achieved rate and p99 against each target.
pub fn capacity_section(r: &Results) -> String {
    let Some(cap) = &r.capacity else {
        return String::new();
    };
    let mut o = String::from("<section id=\"capacity\"><h2>Capacity search</h2>\n");
    let answer = match cap.max_sustainable_rate_per_s {
        Some(rate) => format!("<strong>{rate:.1} sign-ins/s</strong>"),
        None => "<strong>below the first step</strong>: no step met the SLO".into(),
    };
    o.push_str(&facts(&[
        ("SLO", format!("<code>{}</code>", esc(&cap.slo))),
        ("Highest sustainable sign-in rate", answer),
    ]));
    let rows = cap
        .steps
        .iter()
        .map(|st| {
            vec![
                Cell::Num(format!("{:.1}", st.rate_per_s)),
                Cell::Num(format!("{:.1}", st.achieved_rate_per_s)),
                Cell::Num(fmt_ms_opt(st.signin_p99_ms)),
                Cell::Num(format!("{:.2} %", st.signin_error_pct)),
                Cell::Num(format!("{:.2} %", st.late_arrival_pct)),
                Cell::Text(if st.passed {
                    "pass".into()
                } else {
                    format!("FAIL: {}", st.reason)
                }),
            ]
        })
        .collect();
    o.push_str(&table(
        "capacity",
        &[
            "Target rate/s",
            "Achieved/s",
            "Sign-in p99",
            "Errors",
            "Late arrivals",
            "Verdict",
        ],
        rows,
    ));
    let at = |f: fn(&crate::metrics::results::CapacityStep) -> f64| -> Vec<(f64, f64)> {
        cap.steps.iter().map(|s| (s.rate_per_s, f(s))).collect()
    };
    let step_chart = |title: &str, y: &str, series: Vec<Series>| Chart {
        title: title.into(),
        x_label: "target sign-in rate (per second)".into(),
        y_label: y.into(),
        x_scale: XScale::Linear,
        marker_every: 1,
        x_range: None,
        series,
    };
    let rates = step_chart(
        "Achieved against target sign-in rate",
        "sign-ins per second",
        vec![
            Series {
                label: "target".into(),
                style: Style::nth(2),
                points: at(|s| s.rate_per_s),
            },
            Series {
                label: "achieved".into(),
                style: Style::nth(0),
                points: at(|s| s.achieved_rate_per_s),
            },
        ],
    );
    o.push_str(&figure(
        "chart-capacity-rate",
        "Achieved against target sign-in rate",
        &line_chart(&rates),
        "Successful sign-ins per second of each step's hold, against the rate the step asked for: where the lines part, the gateway stopped keeping up.",
    ));
    let p99 = step_chart(
        "Sign-in p99 per step",
        "ms",
        vec![Series {
            label: "sign-in p99 (corrected)".into(),
            style: Style::nth(1),
            points: at(|s| s.signin_p99_ms.unwrap_or(f64::NAN)),
        }],
    );
    o.push_str(&figure(
        "chart-capacity-p99",
        "Sign-in p99 per step",
        &line_chart(&p99),
        "Corrected sign-in p99 of each step, against its target rate.",
    ));
    o.push_str("</section>\n");
    o
}

/// The measure of a finding per interval, at the interval's middle as the analysis took
/// it; intervals without calls of the operation are gaps.
fn interval_value(r: &Results, f: &DriftFinding) -> Vec<(f64, f64)> {
    r.intervals
        .iter()
        .map(|iv| {
            let t = (iv.start_s + iv.end_s) / 2.0;
            let v = iv
                .operations
                .get(&f.operation)
                .filter(|s| s.count > 0)
                .map(|s| match f.measure {
                    DriftMeasure::P99 => s.corrected_p99_ms,
                    DriftMeasure::ErrorRate => s.failed as f64 * 100.0 / s.count as f64,
                });
            (t, v.unwrap_or(f64::NAN))
        })
        .collect()
}

/// Every series the drift analysis judged, and for each finding its values over time with
/// the fitted line.
pub fn drift_section(r: &Results) -> String {
    if r.derived.drift.is_empty() {
        return String::new();
    }
    let mut o = String::from("<section id=\"drift\"><h2>Drift</h2>\n");
    o.push_str("<p class=\"note\">Theil–Sen slope and Mann–Kendall test per operation, corrected for autocorrelation (Hamed–Rao) and for testing many series at once (Holm). A trend is a finding only when it is both significant and large enough to matter.</p>\n");
    let unit = |f: &DriftFinding| match f.measure {
        DriftMeasure::P99 => ("p99", "ms"),
        DriftMeasure::ErrorRate => ("error rate", "%"),
    };
    let rows = r
        .derived
        .drift
        .iter()
        .map(|f| {
            let (measure, u) = unit(f);
            vec![
                Cell::Text(f.operation.clone()),
                Cell::Text(measure.into()),
                Cell::Num(f.points.to_string()),
                Cell::Num(format!("{:.3} {u}", f.start)),
                Cell::Num(format!("{:.3} {u}", f.end)),
                Cell::Num(format!("{:+.3} {u}/h", f.slope_per_hour)),
                Cell::Num(format!("{:.3}", f.p_adjusted.unwrap_or(f.p_value))),
                Cell::Text(if f.significant { "yes" } else { "no" }.into()),
            ]
        })
        .collect();
    o.push_str(&table(
        "drift",
        &[
            "Operation",
            "Measure",
            "Intervals",
            "Fitted start",
            "Fitted end",
            "Slope",
            "p (Holm)",
            "Finding",
        ],
        rows,
    ));
    for f in r.derived.drift.iter().filter(|f| f.significant) {
        let (measure, u) = unit(f);
        let points = interval_value(r, f);
        let mut measured = points.iter().filter(|p| p.1.is_finite()).map(|p| p.0);
        let first = measured.next().unwrap_or(0.0);
        let last = measured.next_back().unwrap_or(first);
        let title = format!("{} {measure} over the run", f.operation);
        let chart = Chart {
            title: title.clone(),
            x_label: "time since start (s)".into(),
            y_label: u.into(),
            x_scale: XScale::Linear,
            marker_every: 0,
            x_range: Some((0.0, r.duration_s)),
            series: vec![
                Series {
                    label: "per interval".into(),
                    style: Style::nth(0),
                    points,
                },
                Series {
                    label: "fitted trend".into(),
                    style: Style::nth(1),
                    points: vec![(first, f.start), (last, f.end)],
                },
            ],
        };
        o.push_str(&figure(
            &format!(
                "chart-drift-{}-{}",
                super::timeline::slug(&f.operation),
                measure.replace(' ', "-")
            ),
            &title,
            &line_chart(&chart),
            &esc(&f.summary),
        ));
    }
    o.push_str("</section>\n");
    o
}
