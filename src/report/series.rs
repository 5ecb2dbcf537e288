//! `timeseries.csv` (one row per interval and operation), `sessions.csv` (session outcomes
//! and session timings) and `events.csv` (events received by type), rendered from
//! [`Results`]. Column meanings are documented in docs/reports.md; the headers here are a
//! public contract.

use std::path::Path;

use super::{in_report_order, ms_cell, pct_cell};
use crate::metrics::{Hist, Results};

pub const TIMESERIES_HEADER: [&str; 16] = [
    "start_s",
    "end_s",
    "operation",
    "count",
    "ok",
    "failed",
    "corrected_p50_ms",
    "corrected_p99_ms",
    "corrected_max_ms",
    "raw_p50_ms",
    "raw_p99_ms",
    "active_agents",
    "signed_in",
    "arrivals",
    "rss_bytes",
    "cpu_percent",
];

pub const SESSIONS_HEADER: [&str; 10] = [
    "kind",
    "measure",
    "count",
    "pct_of_sessions",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "p999_ms",
    "max_ms",
    "mean_ms",
];

pub const EVENTS_HEADER: [&str; 6] = [
    "event_type",
    "count",
    "delivery_count",
    "delivery_p50_ms",
    "delivery_p99_ms",
    "delivery_max_ms",
];

/// An interval in which no operation finished still gets one row (empty operation, zero
/// counts) so that the agent and harness columns have no gaps.
pub fn write_timeseries_csv(results: &Results, path: &Path) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_path(path)?;
    w.write_record(TIMESERIES_HEADER)?;
    for iv in &results.intervals {
        let tail = [
            iv.active_agents.to_string(),
            iv.signed_in.to_string(),
            iv.arrivals.to_string(),
            iv.rss_bytes.to_string(),
            format!("{:.1}", iv.cpu_percent),
        ];
        let head = [format!("{:.3}", iv.start_s), format!("{:.3}", iv.end_s)];
        let ops = in_report_order(&iv.operations);
        if ops.is_empty() {
            let blank = ["", "0", "0", "0", "", "", "", "", ""].map(String::from);
            w.write_record(head.iter().chain(&blank).chain(&tail))?;
            continue;
        }
        for (name, op) in ops {
            let has = op.count > 0;
            let ms = |v: f64| ms_cell(has.then_some(v));
            let mid = [
                name.to_string(),
                op.count.to_string(),
                op.ok.to_string(),
                op.failed.to_string(),
                ms(op.corrected_p50_ms),
                ms(op.corrected_p99_ms),
                ms(op.corrected_max_ms),
                ms(op.raw_p50_ms),
                ms(op.raw_p99_ms),
            ];
            w.write_record(head.iter().chain(&mid).chain(&tail))?;
        }
    }
    w.flush()?;
    Ok(())
}

/// Two kinds of row under one header: `outcome` rows (the agents, the sessions, and a count
/// of sessions with each outcome and its share of the sessions) and `timing` rows (a
/// session timing histogram's percentiles).
pub fn write_sessions_csv(results: &Results, path: &Path) -> anyhow::Result<()> {
    let s = &results.sessions;
    let mut w = csv::Writer::from_path(path)?;
    w.write_record(SESSIONS_HEADER)?;
    let outcomes = [
        ("agents", s.agents),
        ("sessions", s.started),
        ("resignins", s.resignins),
        ("signed_in", s.signed_in),
        ("ready", s.ready),
        ("never_ready", s.never_ready),
        ("signed_out_clean", s.signed_out_clean),
        ("signed_out_unexpected", s.signed_out_unexpected),
        ("signin_given_up", s.signin_given_up),
        ("left_signed_in", s.left_signed_in),
    ];
    // Counts that are not sessions (no share of the sessions), then sessions by node.
    let others = [
        ("throttled", s.throttled),
        ("throttled_agents", s.throttled_agents),
        ("signin_retries", s.signin_retries),
        ("resignin_attempts", s.resignin_attempts),
        ("retry_wait_ms", s.retry_wait_us / 1000),
    ];
    let nodes = s
        .nodes
        .iter()
        .map(|(node, n)| (format!("signed_in_on:{node}"), n.signed_in));
    let rows = outcomes
        .into_iter()
        .map(|(name, n)| (name.to_string(), n, name != "agents"))
        .chain(
            others
                .into_iter()
                .map(|(name, n)| (name.to_string(), n, false)),
        )
        .chain(nodes.map(|(name, n)| (name, n, true)));
    for (name, count, share) in rows {
        let mut row = vec![
            "outcome".to_string(),
            name,
            count.to_string(),
            if share {
                pct_cell(count, s.started)
            } else {
                String::new()
            },
        ];
        row.resize(SESSIONS_HEADER.len(), String::new());
        w.write_record(&row)?;
    }
    let timings: [(&str, &Hist); 3] = [
        ("time_to_signed_in", &s.time_to_signed_in),
        ("time_to_ready", &s.time_to_ready),
        ("session_length", &s.session_length),
    ];
    for (name, h) in timings {
        w.write_record([
            "timing".to_string(),
            name.to_string(),
            h.count().to_string(),
            String::new(),
            ms_cell(h.percentile_ms(50.0)),
            ms_cell(h.percentile_ms(90.0)),
            ms_cell(h.percentile_ms(99.0)),
            ms_cell(h.percentile_ms(99.9)),
            ms_cell(h.max_ms()),
            ms_cell(h.mean_ms()),
        ])?;
    }
    w.flush()?;
    Ok(())
}

pub fn write_events_csv(results: &Results, path: &Path) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_path(path)?;
    w.write_record(EVENTS_HEADER)?;
    let by_type = &results.sessions.event_delivery_by_type;
    let delivery = |h: Option<&Hist>| match h.filter(|h| h.count() > 0) {
        Some(h) => [
            h.count().to_string(),
            ms_cell(h.percentile_ms(50.0)),
            ms_cell(h.percentile_ms(99.0)),
            ms_cell(h.max_ms()),
        ],
        None => ["0".into(), String::new(), String::new(), String::new()],
    };
    for (event, count) in &results.events {
        let [n, p50, p99, max] = delivery(by_type.get(event));
        w.write_record([event.clone(), count.to_string(), n, p50, p99, max])?;
    }
    // Types past the cap share one row (their counts are in the rows above).
    if let Some(h) = by_type.get(crate::metrics::stats::DELIVERY_OTHER) {
        let [n, p50, p99, max] = delivery(Some(h));
        w.write_record([
            crate::metrics::stats::DELIVERY_OTHER.to_string(),
            String::new(),
            n,
            p50,
            p99,
            max,
        ])?;
    }
    w.flush()?;
    Ok(())
}
