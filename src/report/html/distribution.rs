//! The run-total sections of the HTML report: time-to-ready distribution and session
//! outcomes, the percentile spectrum of every operation (corrected and raw, on
//! HdrHistogram's log "1/(1-p)" axis), the per-operation summary, outcome (retcode) and
//! event tables.
//!
//! It reads the run totals in Results (`operations`, `sessions`, `events`); drawing is
//! `svg`'s job.

use super::fmt::{esc, fmt_count, fmt_ms_opt, fmt_pct, table, Cell};
use super::svg::{line_chart, Chart, Series, Style, XScale};
use super::timeline::{latency_unit, slug};
use super::{charted, figure, operation_order, POLL_SPLIT_NOTE};
use crate::metrics::{Hist, Results};

/// Spectrum points per decade of 1/(1-p); a marker sits on every decade.
const STEPS_PER_DECADE: usize = 40;
/// The spectrum never goes past 99.9999 % (6 decades), however many samples there are.
const MAX_DECADES: usize = 6;

/// Decades worth drawing for a histogram of `count` values: the last percentile with at
/// least one sample beyond it, at least 99 %.
fn decades(count: u64) -> usize {
    let d = (count.max(1) as f64).log10().ceil() as usize;
    d.clamp(2, MAX_DECADES)
}

/// The spectrum of one histogram as (quantile, value in the given unit) points, read in
/// one pass over the counts (quantiles ascend).
fn spectrum(h: &Hist, decades: usize, div_ms: f64) -> Vec<(f64, f64)> {
    if h.count() == 0 {
        return Vec::new();
    }
    let qs: Vec<f64> = (0..=decades * STEPS_PER_DECADE)
        .map(|i| 1.0 - 10f64.powf(-(i as f64) / STEPS_PER_DECADE as f64))
        .collect();
    let values = h.values_at(&qs);
    qs.iter()
        .zip(values)
        .map(|(&q, v)| (q, v as f64 / 1000.0 / div_ms))
        .collect()
}

fn spectrum_chart(title: &str, lines: &[(&str, &Hist)], id: &str, caption: &str) -> String {
    let count = lines.iter().map(|(_, h)| h.count()).max().unwrap_or(0);
    let max_ms = lines
        .iter()
        .filter_map(|(_, h)| h.max_ms())
        .fold(0.0, f64::max);
    let (div, unit) = latency_unit(max_ms);
    let d = decades(count);
    let series = lines
        .iter()
        .enumerate()
        .map(|(n, (label, h))| Series {
            label: label.to_string(),
            style: Style::nth(n),
            points: spectrum(h, d, div),
        })
        .collect();
    let chart = Chart {
        title: title.to_string(),
        x_label: "percentile (log scale of 1/(1−p))".into(),
        y_label: format!("latency ({unit})"),
        x_scale: XScale::Percentile,
        marker_every: STEPS_PER_DECADE,
        x_range: None,
        series,
    };
    figure(id, title, &line_chart(&chart), caption)
}

pub fn sessions_section(r: &Results) -> String {
    let s = &r.sessions;
    let mut o = String::from("<section id=\"sessions\"><h2>Sessions</h2>\n");
    if s.time_to_ready.count() == 0 && s.time_to_signed_in.count() == 0 {
        o.push_str("<p class=\"nodata\">No data: no agent signed in, so there is no time-to-ready distribution.</p>\n");
    } else {
        o.push_str(&spectrum_chart(
            "Time to signed in and to ready",
            &[
                ("time to signed in", &s.time_to_signed_in),
                ("time to ready", &s.time_to_ready),
            ],
            "chart-time-to-ready",
            "From each agent's arrival (intended start) to its successful sign-in reply, and to receiving AgentState_Ready. The x axis reads as a percentile: the value at 99% is exceeded by 1 agent in 100.",
        ));
    }
    let row = |label: &str, n: u64, note: &str| {
        vec![
            Cell::Text(label.to_string()),
            Cell::Num(fmt_count(n)),
            Cell::Num(fmt_pct(n, s.started)),
            Cell::Text(note.to_string()),
        ]
    };
    o.push_str("<h3>Session outcomes</h3>\n");
    let again = match s.resignins {
        0 => "sign-in to sign-out".to_string(),
        n => format!(
            "sign-in to sign-out; {} re-sign-ins after a lost session",
            fmt_count(n)
        ),
    };
    o.push_str(&table(
        "sessions",
        &["Outcome", "Count", "% of sessions", "Meaning"],
        vec![
            vec![
                Cell::Text("agents".into()),
                Cell::Num(fmt_count(s.agents)),
                Cell::Text(String::new()),
                Cell::Text("distinct agent ids that took part".into()),
            ],
            row("sessions", s.started, &again),
            row(
                "signed in",
                s.signed_in,
                "sign-in or forced sign-in succeeded",
            ),
            row("ready", s.ready, "received AgentState_Ready"),
            row(
                "signed out cleanly",
                s.signed_out_clean,
                "own sign-out succeeded",
            ),
            row(
                "signed out unexpectedly",
                s.signed_out_unexpected,
                "gateway ended the session",
            ),
            row("sign-in given up", s.signin_given_up, "never signed in"),
            row(
                "left signed in",
                s.left_signed_in,
                "still signed in at the end",
            ),
            row("never ready", s.never_ready, "signed in, never ready"),
        ]
        .into_iter()
        .chain(throttle_rows(s))
        .collect(),
    ));
    let hrow = |label: &str, h: &Hist| {
        vec![
            Cell::Text(label.to_string()),
            Cell::Num(fmt_count(h.count())),
            Cell::Num(fmt_ms_opt(h.percentile_ms(50.0))),
            Cell::Num(fmt_ms_opt(h.percentile_ms(90.0))),
            Cell::Num(fmt_ms_opt(h.percentile_ms(99.0))),
            Cell::Num(fmt_ms_opt(h.max_ms())),
        ]
    };
    o.push_str(&table(
        "timings",
        &["Timing", "Agents", "p50", "p90", "p99", "max"],
        vec![
            hrow("time to signed in", &s.time_to_signed_in),
            hrow("time to ready", &s.time_to_ready),
            hrow("session length", &s.session_length),
        ],
    ));
    o.push_str("</section>\n");
    o
}

pub fn operations_section(r: &Results) -> String {
    let mut o = String::from("<section id=\"operations\"><h2>Operations</h2>\n");
    let ops: Vec<String> = operation_order(r.operations.keys())
        .into_iter()
        .filter(|op| r.operations.get(op).is_some_and(|s| !s.is_empty()))
        .collect();
    if ops.is_empty() {
        o.push_str(
            "<p class=\"nodata\">No data: no operation finished during the run.</p>\n</section>\n",
        );
        return o;
    }
    o.push_str(&latency_table(r, &ops));
    o.push_str(&spectrum_charts(r, &ops));
    o.push_str(&outcomes_table(r, &ops));
    o.push_str("</section>\n");
    o
}

/// Count, failures and percentiles per operation, corrected and raw.
fn latency_table(r: &Results, ops: &[String]) -> String {
    let mut o = String::new();
    let pct = |h: &Hist, p: f64| Cell::Num(fmt_ms_opt(h.percentile_ms(p)));
    let mut rows = Vec::new();
    for op in ops {
        let Some(s) = r.operations.get(op) else {
            continue;
        };
        for (kind, h) in [("corrected", &s.corrected), ("raw", &s.raw)] {
            rows.push(vec![
                Cell::Text(op.clone()),
                Cell::Text(kind.to_string()),
                Cell::Num(fmt_count(s.count)),
                Cell::Num(fmt_count(s.failed())),
                pct(h, 50.0),
                pct(h, 90.0),
                pct(h, 99.0),
                pct(h, 99.9),
                Cell::Num(fmt_ms_opt(h.max_ms())),
            ]);
        }
    }
    o.push_str(&table(
        "ops",
        &[
            "Operation",
            "Latency",
            "Count",
            "Failed",
            "p50",
            "p90",
            "p99",
            "p99.9",
            "max",
        ],
        rows,
    ));
    o.push_str("<p class=\"note\">Corrected latency runs from the intended start (coordinated omission corrected, as wrk2 does); raw latency from the actual send.</p>\n");
    let bad: Vec<&String> = ops
        .iter()
        .filter(|op| r.operations.get(*op).is_some_and(|s| !s.reconciles()))
        .collect();
    if !bad.is_empty() {
        let names: Vec<String> = bad.iter().map(|s| esc(s)).collect();
        o.push_str(&format!(
            "<p class=\"warning\"><strong>Counts do not add up</strong> for: {} (a recorder bug or a damaged results file).</p>\n",
            names.join(", ")
        ));
    }

    o
}

/// One percentile spectrum chart per operation.
fn spectrum_charts(r: &Results, ops: &[String]) -> String {
    let mut o = String::new();
    let ops_len = ops.len();
    o.push_str("<h3>Percentile spectrum</h3>\n");
    let ops = charted(ops.to_vec());
    if ops.len() < ops_len {
        o.push_str(POLL_SPLIT_NOTE);
    }
    for op in &ops {
        let Some(s) = r.operations.get(op) else {
            continue;
        };
        o.push_str(&spectrum_chart(
            &format!("{op} latency by percentile"),
            &[("corrected", &s.corrected), ("raw", &s.raw)],
            &format!("chart-spectrum-{}", slug(op)),
            &format!(
                "All {} {} requests of the run. 0% is the fastest; at 99.9% one request in a thousand was slower.",
                esc(&fmt_count(s.count)),
                esc(op)
            ),
        ));
    }

    o
}

/// Every outcome of every operation, with its kind and share.
fn outcomes_table(r: &Results, ops: &[String]) -> String {
    let mut o = String::new();
    o.push_str("<h3 id=\"outcomes\">Outcomes per operation</h3>\n");
    let mut rows = Vec::new();
    for op in ops {
        let Some(s) = r.operations.get(op) else {
            continue;
        };
        for (label, n) in s.outcome_counts() {
            let kind = if label == crate::protocol::retcode::SUCCESS {
                "success"
            } else if label.starts_with("http:") {
                "HTTP error"
            } else if label.starts_with("transport:") {
                "no reply"
            } else {
                "retcode failure"
            };
            rows.push(vec![
                Cell::Text(op.clone()),
                Cell::Text(label),
                Cell::Text(kind.to_string()),
                Cell::Num(fmt_count(n)),
                Cell::Num(fmt_pct(n, s.count)),
            ]);
        }
    }
    o.push_str(&table(
        "outcomes",
        &["Operation", "Outcome", "Kind", "Count", "% of operation"],
        rows,
    ));
    for l in crate::report::folded_lines(r) {
        if let Some(op) = &l.operation {
            o.push_str(&folded_note(
                &format!("{op} calls"),
                &fmt_count(l.counted),
                "their retcodes",
            ));
        }
    }
    o
}

/// The kept failure cases: for each kind, who, when, why and what the gateway sent
/// (secrets masked), so the cause stands beside the counts.
pub fn failures_section(r: &Results) -> String {
    let mut o = String::from("<section id=\"failures\"><h2>Why calls failed</h2>\n");
    if r.failures.is_empty() {
        o.push_str("<p class=\"nodata\">No call failed.</p>\n");
    } else {
        o.push_str("<p>The first cases of each kind of failure (also in failures.csv). Passwords, tokens and GUIDs are masked.</p>\n");
        let rows = r
            .failures
            .all()
            .map(|e| {
                vec![
                    Cell::Text(e.operation.clone()),
                    Cell::Text(e.outcome.clone()),
                    Cell::Num(e.agent_id.to_string()),
                    Cell::Num(format!("{:.2} s", e.at_s)),
                    Cell::Text(e.reason.clone()),
                    Cell::Text(e.reply.clone()),
                ]
            })
            .collect();
        o.push_str(&table(
            "failures",
            &["Operation", "Outcome", "Agent", "At", "Reason", "Reply"],
            rows,
        ));
        if r.failures.kinds_left_out > 0 {
            o.push_str(&format!(
                "<p>{} failures of further kinds were counted but not kept.</p>\n",
                r.failures.kinds_left_out
            ));
        }
    }
    o.push_str("</section>\n");
    o
}

/// Says that names were counted under `(other)` instead of their own (see
/// `metrics::names`).
fn folded_note(what: &str, counted: &str, names: &str) -> String {
    format!(
        "<p class=\"note\">{} {} were counted under <code>{}</code> instead of {}: {}.</p>\n",
        esc(counted),
        esc(what),
        esc(crate::metrics::names::OTHER),
        esc(names),
        esc(&crate::report::fold_rule())
    )
}

pub fn events_section(r: &Results) -> String {
    let mut o = String::from("<section id=\"events\"><h2>Events received</h2>\n");
    if r.events.is_empty() {
        o.push_str("<p class=\"nodata\">No events were received.</p>\n");
    } else {
        let total: u64 = r.events.values().sum();
        let mut by_count: Vec<(&String, &u64)> = r.events.iter().collect();
        by_count.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        let by_type = &r.sessions.event_delivery_by_type;
        let delivery = |name: &str, q: f64| {
            let h = by_type.get(name).filter(|h| h.count() > 0);
            Cell::Num(fmt_ms_opt(h.and_then(|h| h.percentile_ms(q))))
        };
        let rows = by_count
            .into_iter()
            .map(|(name, n)| {
                vec![
                    Cell::Text(name.clone()),
                    Cell::Num(fmt_count(*n)),
                    Cell::Num(fmt_pct(*n, total)),
                    delivery(name, 50.0),
                    delivery(name, 99.0),
                ]
            })
            .collect();
        o.push_str(&table(
            "events",
            &[
                "Event",
                "Count",
                "% of events",
                "Delivery p50",
                "Delivery p99",
            ],
            rows,
        ));
        for l in crate::report::folded_lines(r) {
            if l.operation.is_none() {
                o.push_str(&folded_note("events", &fmt_count(l.counted), "their types"));
            }
        }
        if r.sessions.event_delivery.count() > 0 {
            o.push_str(
                "<p class=\"note\">Delivery: from the event's <code>eventGenTime</code> (the \
                 gateway's clock) to its receipt here (this machine's clock), so only as exact \
                 as the two clocks agree; a gateway clock ahead reads as 0. Empty where the \
                 gateway sends no <code>eventGenTime</code>.</p>\n",
            );
        }
    }
    o.push_str("</section>\n");
    o
}

/// Throttling, retries and sessions by gateway node, as rows of the session table (counts
/// that are not sessions have no share).
fn throttle_rows(s: &crate::metrics::SessionStats) -> Vec<Vec<Cell>> {
    let plain = |label: &str, value: String, note: String| {
        vec![
            Cell::Text(label.to_string()),
            Cell::Num(value),
            Cell::Text(String::new()),
            Cell::Text(note),
        ]
    };
    let mut rows = Vec::new();
    if s.throttled > 0 || s.signin_retries > 0 || s.retry_wait_us > 0 {
        rows.push(plain(
            "throttled",
            fmt_count(s.throttled),
            format!(
                "HTTP 429/503 replies, to {} agents",
                fmt_count(s.throttled_agents)
            ),
        ));
        rows.push(plain(
            "sign-in retries",
            fmt_count(s.signin_retries),
            "after the scenario's backoff (and at least Retry-After)".into(),
        ));
        rows.push(plain(
            "waited",
            format!("{:.1} s", s.retry_wait_us as f64 / 1e6),
            "in total before retries and re-sign-ins".into(),
        ));
    }
    for (node, n) in &s.nodes {
        rows.push(vec![
            Cell::Text(format!("signed in on {node}")),
            Cell::Num(fmt_count(n.signed_in)),
            Cell::Num(fmt_pct(n.signed_in, s.started)),
            Cell::Text(format!(
                "sessions whose GUID this node issued; {} lost",
                fmt_count(n.lost_at.count())
            )),
        ]);
    }
    rows
}
