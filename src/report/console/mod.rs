//! The plain-text summary printed at the end of a run (and by `agentstorm report`): the
//! operations table with corrected and raw latency labelled apart, failures by outcome
//! (and which names were counted under `(other)`), session outcomes, run status, scheduler
//! health and, when the target was agentstorm's simulated gateway, reconciliation against
//! the gateway's own counters.
//!
//! The sessions block and recovery are in `sessions`, the reconciliation block and its
//! rows in `reconcile`.
//!
//! Renders from [`Results`] only and returns a `String`; printing is the caller's job.

use std::fmt::Write as _;

use super::{in_report_order, pct};
use crate::metrics::results::RunStatus;
use crate::metrics::{names, Results};

mod reconcile;
mod sessions;

use reconcile::reconciliation;
pub use reconcile::{reconcile_rows, ReconcileRow, MATCH, MISMATCH};
use sessions::{recovery, sessions};

/// The summary table printed at the end of a run.
pub fn console_summary(results: &Results) -> String {
    let mut o = String::new();
    header(&mut o, results);
    operations(&mut o, results);
    failures(&mut o, results);
    folded_names(&mut o, results);
    sessions(&mut o, results);
    scheduler(&mut o, results);
    findings(&mut o, results);
    if results.gateway.is_some() {
        reconciliation(&mut o, results);
    }
    fit_width(&o, WIDTH)
}

/// The summary's width: it fits a 100-column terminal.
pub const WIDTH: usize = 100;

/// Wraps every line longer than `width` at its last space that fits, continuing with the
/// line's own indent plus two; what fits stays as it was (aligned columns keep their
/// spaces), and a word longer than the width stays whole.
fn fit_width(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.split_inclusive('\n') {
        let (body, newline) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        let indent = body.len() - body.trim_start().len();
        let cont = " ".repeat(indent + 2);
        let mut rest = body;
        let mut prefix = "";
        while prefix.len() + rest.chars().count() > width {
            let room = width - prefix.len();
            // The byte index of the last space at or before column `room`.
            let cut = rest
                .char_indices()
                .take(room + 1)
                .filter(|&(i, c)| c == ' ' && i > 0 && !rest[..i].trim().is_empty())
                .map(|(i, _)| i)
                .last();
            let Some(cut) = cut else { break };
            out.push_str(prefix);
            out.push_str(rest[..cut].trim_end());
            out.push('\n');
            rest = rest[cut..].trim_start();
            prefix = &cont;
        }
        out.push_str(prefix);
        out.push_str(rest);
        out.push_str(newline);
    }
    out
}

/// Shards, recovery after lost sessions, the capacity search's answer, and drift.
fn findings(o: &mut String, r: &Results) {
    use std::fmt::Write as _;
    if let Some(sh) = &r.shard {
        if sh.merged > 1 {
            let _ = writeln!(
                o,
                "\nShards: {} of {} merged; latest start {:.1} s late",
                sh.merged, sh.count, sh.late_start_s
            );
        } else {
            let _ = writeln!(
                o,
                "\nShard {} of {} (ids {}); started {:.1} s late",
                sh.index, sh.count, sh.ids, sh.late_start_s
            );
        }
    }
    if let Some(rec) = &r.derived.recovery {
        recovery(o, rec);
    }
    if let Some(cap) = &r.capacity {
        let _ = writeln!(o, "\nCapacity search (SLO: {})", cap.slo);
        let _ = writeln!(
            o,
            "  step rate/s   achieved/s   signin p99   errors   late     verdict"
        );
        for st in &cap.steps {
            let _ = writeln!(
                o,
                "  {:>11.1}   {:>10.1}   {:>10}   {:>5.2}%   {:>5.2}%   {}",
                st.rate_per_s,
                st.achieved_rate_per_s,
                with_ms(st.signin_p99_ms),
                st.signin_error_pct,
                st.late_arrival_pct,
                if st.passed {
                    "pass".to_string()
                } else {
                    format!("FAIL: {}", st.reason)
                }
            );
        }
        match cap.max_sustainable_rate_per_s {
            Some(rate) => {
                let _ = writeln!(o, "  highest sustainable sign-in rate: {rate:.1}/s");
            }
            None => {
                let _ = writeln!(
                    o,
                    "  no step met the SLO: the highest sustainable rate is below the first step"
                );
            }
        }
    }
    let notable: Vec<_> = r.derived.drift.iter().filter(|f| f.significant).collect();
    if !r.derived.drift.is_empty() {
        let _ = writeln!(
            o,
            "\nDrift over the run (Theil–Sen slope, Mann–Kendall test):"
        );
        if notable.is_empty() {
            let _ = writeln!(o, "  no significant trend in any p99 or error rate");
        }
        for f in notable {
            let _ = writeln!(o, "  {}", f.summary);
        }
    }
}

pub use crate::util::fmt::fmt_ms;

/// Like [`fmt_ms`] with the unit, or `-` alone.
fn with_ms(v: Option<f64>) -> String {
    match v {
        None => "-".to_string(),
        Some(_) => format!("{} ms", fmt_ms(v)),
    }
}

fn fmt_pct(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.2}%")).unwrap_or_else(|| "-".into())
}

fn header(o: &mut String, r: &Results) {
    let status = match &r.status {
        RunStatus::Completed => "completed".to_string(),
        RunStatus::Interrupted => {
            "INTERRUPTED (stopped by a signal; the reports hold what was recorded until then)"
                .to_string()
        }
        RunStatus::Aborted { reason } => format!("ABORTED: {reason}"),
    };
    let _ = writeln!(o, "agentstorm run of scenario {:?}", r.scenario.name);
    let _ = writeln!(
        o,
        "  run: {status}; {:.1} s ({} to {})",
        r.duration_s, r.started_at, r.ended_at
    );
    let mut target = r.target.url.clone();
    if r.target.embedded {
        target.push_str(" (embedded simulated gateway)");
    }
    if r.target.tls_verify_disabled {
        target.push_str(" [TLS certificate verification DISABLED]");
    }
    let _ = writeln!(o, "  target: {target}");
}

fn operations(o: &mut String, r: &Results) {
    let _ = writeln!(o, "\nOperations (latency in ms)");
    let _ = writeln!(
        o,
        "{:<11}{:>9}{:>9}{:>7}{:>8} | {:<30}| from send (raw)",
        "", "", "", "", "", "from intended start (corrected)"
    );
    let _ = writeln!(
        o,
        "{:<11}{:>9}{:>9}{:>7}{:>8} |{:>10}{:>10}{:>11} |{:>10}{:>10}",
        "operation", "count", "ok", "failed", "err%", "p50", "p99", "max", "p50", "p99"
    );
    if r.operations.is_empty() {
        let _ = writeln!(o, "  (no operation finished)");
    }
    for (name, s) in in_report_order(&r.operations) {
        let (c, w) = (&s.corrected, &s.raw);
        let _ = writeln!(
            o,
            "{:<11}{:>9}{:>9}{:>7}{:>8} |{:>10}{:>10}{:>11} |{:>10}{:>10}",
            name,
            s.count,
            s.ok,
            s.failed(),
            fmt_pct(pct(s.failed(), s.judged())),
            fmt_ms(c.percentile_ms(50.0)),
            fmt_ms(c.percentile_ms(99.0)),
            fmt_ms(c.max_ms()),
            fmt_ms(w.percentile_ms(50.0)),
            fmt_ms(w.percentile_ms(99.0)),
        );
    }
    for (name, s) in in_report_order(&r.operations) {
        for (code, n) in &s.handled_retcodes {
            let _ = writeln!(
                o,
                "  {name}: {n} answered {code} (already signed in) and then forced successfully (on_already_signed_in = \"forcelogin\"): handled, not failures"
            );
        }
        if s.interrupted > 0 {
            let _ = writeln!(
                o,
                "  {name}: {} in flight at the hard stop, recorded as interrupted (not failures, no latency)",
                s.interrupted
            );
        }
        if s.abandoned > 0 {
            let _ = writeln!(
                o,
                "  {name}: {} long polls given up at the stop so the agents could sign out in turn (abandoned: not failures, no latency)",
                s.abandoned
            );
        }
    }
    for (name, s) in &r.operations {
        if !s.reconciles() {
            let _ = writeln!(
                o,
                "  WARNING: {name}: outcome counts do not add up to its count ({}); the results file is inconsistent",
                s.count
            );
        }
    }
}

fn failures(o: &mut String, r: &Results) {
    let per_op: Vec<(&str, Vec<(String, u64)>)> = in_report_order(&r.operations)
        .into_iter()
        .filter(|(name, _)| {
            *name != crate::metrics::results::POLL_EVENT
                && *name != crate::metrics::results::POLL_EMPTY
        })
        .map(|(name, s)| (name, s.error_counts()))
        .filter(|(_, rows)| !rows.is_empty())
        .collect();
    if per_op.is_empty() {
        let _ = writeln!(o, "\nFailures by outcome: none");
        return;
    }
    let _ = writeln!(
        o,
        "\nFailures by outcome (retcode, http:<status>, transport:<kind>)"
    );
    let mut hidden = 0;
    for (name, rows) in per_op {
        hidden += rows.len().saturating_sub(FAILURE_ROWS_MAX);
        for (label, n) in largest(rows, FAILURE_ROWS_MAX) {
            let _ = writeln!(o, "  {name:<14}{label:<26}{n:>10}");
        }
    }
    if hidden > 0 {
        let _ = writeln!(
            o,
            "  ({hidden} smaller outcome labels not shown: at most {FAILURE_ROWS_MAX} per operation here, all in retcodes.csv)"
        );
    }
    why(o, r);
}

/// The `max` largest rows (the earlier on a tie), in their order.
fn largest(rows: Vec<(String, u64)>, max: usize) -> Vec<(String, u64)> {
    if rows.len() <= max {
        return rows;
    }
    let mut by_size: Vec<usize> = (0..rows.len()).collect();
    by_size.sort_by(|&a, &b| rows[b].1.cmp(&rows[a].1).then(a.cmp(&b)));
    let mut keep = vec![false; rows.len()];
    for &i in &by_size[..max] {
        keep[i] = true;
    }
    rows.into_iter()
        .zip(keep)
        .filter_map(|(row, k)| k.then_some(row))
        .collect()
}

/// Failure rows printed per operation; retcodes.csv has them all.
const FAILURE_ROWS_MAX: usize = 20;

/// Says which names were counted under `(other)` instead of their own, and how many.
fn folded_names(o: &mut String, r: &Results) {
    let lines = super::folded_lines(r);
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "\nNames counted under {}: {}",
        names::OTHER,
        super::fold_rule()
    );
    for l in lines {
        let (what, unit) = match &l.operation {
            None => ("event types".to_string(), "events"),
            Some(op) => (format!("{op} retcodes"), "calls"),
        };
        let _ = writeln!(o, "  {what:<24}{} {unit}", l.counted);
    }
}

/// The first case of each kind of failure, with its reason and what the gateway sent: the
/// cause on the same screen as the count (every kept case is in failures.csv).
fn why(o: &mut String, r: &Results) {
    if r.failures.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "\nWhy: the first failure of each kind (all kept cases in failures.csv; secrets masked)"
    );
    for (kind, list) in &r.failures.kinds {
        let Some(e) = list.first() else { continue };
        let _ = writeln!(o, "  {kind}: agent {} at {:.2} s", e.agent_id, e.at_s);
        if !e.reason.is_empty() {
            let _ = writeln!(o, "    reason: {}", e.reason);
        }
        if !e.reply.is_empty() {
            let _ = writeln!(o, "    reply:  {}", e.reply.replace(['\r', '\n'], " "));
        }
    }
    if r.failures.kinds_left_out > 0 {
        let _ = writeln!(
            o,
            "  ({} failures of further kinds not kept: more than {} kinds)",
            r.failures.kinds_left_out,
            crate::metrics::exemplar::MAX_KINDS
        );
    }
}

fn scheduler(o: &mut String, r: &Results) {
    let s = &r.scheduler;
    let _ = writeln!(
        o,
        "\nScheduler: {} arrivals planned, {} started, {} not started, {} dropped late; schedule lag p99 {}, max {}; peak {} agents active",
        s.planned_arrivals,
        s.started,
        s.not_started,
        s.dropped_late,
        with_ms(s.lag.percentile_ms(99.0)),
        with_ms(s.lag.max_ms()),
        s.peak_active_agents
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_wrap_at_spaces_with_a_hanging_indent() {
        let text = format!("short\n  {}\nlast", ["word"; 40].join(" "));
        let fitted = fit_width(&text, 30);
        let lines: Vec<&str> = fitted.lines().collect();
        assert_eq!(lines[0], "short");
        assert_eq!(*lines.last().expect("lines"), "last");
        for l in &lines {
            assert!(l.chars().count() <= 30, "{l:?}");
        }
        assert!(lines[1].starts_with("  word") && lines[2].starts_with("    word"));
        let words: usize = lines.iter().map(|l| l.matches("word").count()).sum();
        assert_eq!(words, 40, "nothing lost");
        // A word longer than the width stays whole; short text is untouched.
        let long = "x".repeat(50);
        assert_eq!(fit_width(&long, 30), long);
        assert_eq!(fit_width("a\nb\n", 30), "a\nb\n");
        // What fits keeps its aligned columns.
        let row = format!("  {:<12}{:>6}  {}", "sessions", 800, ["note"; 8].join(" "));
        let fitted = fit_width(&row, 30);
        assert!(
            fitted.starts_with("  sessions       800  note"),
            "{fitted:?}"
        );
        assert!(
            fitted.lines().all(|l| l.chars().count() <= 30),
            "{fitted:?}"
        );
    }

    #[test]
    fn the_summary_fits_100_columns() {
        let mut r = Results::empty(crate::metrics::results::RunStatus::Completed);
        for op in ["signin", "poll", "poll_event", "poll_empty", "logout"] {
            let mut s = crate::metrics::OpStats {
                count: 123_456_789,
                ok: 123_456_000,
                interrupted: 12,
                abandoned: 777,
                ..Default::default()
            };
            s.retcode_failures = 0;
            s.corrected.record_us(30_000_000);
            r.operations.insert(op.to_string(), s);
        }
        r.sessions.throttled = 5;
        r.sessions.signin_retries = 5;
        r.sessions.node("AgentGateway1").signed_in = 10;
        r.sessions.lost_at.record_us(1_000_000);
        r.sessions
            .node("AgentGateway1")
            .lost_at
            .record_us(1_000_000);
        r.derived.recovery = crate::metrics::results::Recovery::from_sessions(&r.sessions);
        let text = console_summary(&r);
        for line in text.lines() {
            assert!(
                line.chars().count() <= WIDTH,
                "{} columns: {line}",
                line.len()
            );
        }
        assert!(text.contains("abandoned"), "{text}");
        assert!(text.contains("AgentGateway1: 1 lost"), "{text}");
    }
}
