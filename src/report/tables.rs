//! `summary.csv` (one row per operation) and `retcodes.csv` (one row per operation and
//! outcome label), rendered from the run totals in [`Results::operations`]. Column meanings
//! are documented in docs/reports.md; the headers here are a public contract.

use std::path::Path;

use super::{in_report_order, ms_cell, pct_cell};
use crate::metrics::results::{POLL_EMPTY, POLL_EVENT};
use crate::metrics::Results;

pub const SUMMARY_HEADER: [&str; 22] = [
    "operation",
    "count",
    "ok",
    "failed",
    "retcode_failures",
    "http_errors",
    "transport_errors",
    "error_rate_pct",
    "corrected_p50_ms",
    "corrected_p90_ms",
    "corrected_p99_ms",
    "corrected_p999_ms",
    "corrected_max_ms",
    "raw_p50_ms",
    "raw_p90_ms",
    "raw_p99_ms",
    "raw_p999_ms",
    "raw_max_ms",
    "mean_raw_ms",
    "handled",
    "interrupted",
    "abandoned",
];

pub const RETCODES_HEADER: [&str; 3] = ["operation", "retcode", "count"];

pub fn write_summary_csv(results: &Results, path: &Path) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_path(path)?;
    w.write_record(SUMMARY_HEADER)?;
    for (name, s) in in_report_order(&results.operations) {
        let (c, r) = (&s.corrected, &s.raw);
        w.write_record([
            name.to_string(),
            s.count.to_string(),
            s.ok.to_string(),
            s.failed().to_string(),
            s.retcode_failures.to_string(),
            s.http_errors.to_string(),
            s.transport_errors.to_string(),
            pct_cell(s.failed(), s.judged()),
            ms_cell(c.percentile_ms(50.0)),
            ms_cell(c.percentile_ms(90.0)),
            ms_cell(c.percentile_ms(99.0)),
            ms_cell(c.percentile_ms(99.9)),
            ms_cell(c.max_ms()),
            ms_cell(r.percentile_ms(50.0)),
            ms_cell(r.percentile_ms(90.0)),
            ms_cell(r.percentile_ms(99.0)),
            ms_cell(r.percentile_ms(99.9)),
            ms_cell(r.max_ms()),
            ms_cell(r.mean_ms()),
            s.handled.to_string(),
            s.interrupted.to_string(),
            s.abandoned.to_string(),
        ])?;
    }
    w.flush()?;
    Ok(())
}

/// `poll_event` and `poll_empty` are left out: they split `poll`'s successes and would
/// count the same replies twice.
/// Columns of failures.csv: one row per kept failure case (the first few of each kind).
pub const FAILURES_HEADER: [&str; 6] = [
    "operation",
    "outcome",
    "agent_id",
    "at_s",
    "reason",
    "reply",
];

/// failures.csv: every kept failure case, by kind, oldest first (header only when none).
pub fn write_failures_csv(results: &Results, path: &Path) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_path(path)?;
    w.write_record(FAILURES_HEADER)?;
    for e in results.failures.all() {
        w.write_record([
            e.operation.as_str(),
            e.outcome.as_str(),
            e.agent_id.to_string().as_str(),
            format!("{:.3}", e.at_s).as_str(),
            e.reason.as_str(),
            e.reply.as_str(),
        ])?;
    }
    w.flush()?;
    Ok(())
}

/// retcodes.csv. A gateway retcode is written `retcode:<code>` (`retcode:0`,
/// `retcode:100-002`), beside `http:<status>` and `transport:<kind>`, so that the column
/// reads as text in every run: a bare `0` is a number to pandas' `read_csv` and to
/// spreadsheets, which would type the column by whichever codes one run happened to see
/// (quoting does not help: they read `"0"` as a number too). `http:<status>`,
/// `transport:<kind>`, `interrupted` and `abandoned` are text already.
pub fn write_retcodes_csv(results: &Results, path: &Path) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_path(path)?;
    w.write_record(RETCODES_HEADER)?;
    for (name, s) in in_report_order(&results.operations) {
        if name == POLL_EVENT || name == POLL_EMPTY {
            continue;
        }
        // `outcome_counts` gives the retcodes first, then HTTP statuses, transport kinds,
        // interrupted and abandoned calls, which are labelled already.
        let retcodes = s.retcodes.len();
        for (i, (label, count)) in s.outcome_counts().into_iter().enumerate() {
            let label = match i < retcodes {
                true => format!("retcode:{label}"),
                false => label,
            };
            w.write_record([name, label.as_str(), count.to_string().as_str()])?;
        }
    }
    w.flush()?;
    Ok(())
}
