//! The HTML report's text sections: the run overview (status, target, times, threshold
//! verdicts), the environment (version, target, scheduler, harness resources), the
//! simulated gateway's own counters during the run with their reconciliation against the
//! harness's counts, and the scenario as run.
//!
//! Everything shown comes from Results or the caller's arguments and is escaped here;
//! no charts (see `timeline` and `distribution`).

use super::fmt::{esc, facts, fmt_count, fmt_duration, fmt_ms_opt, fmt_pct, table, Cell};
use super::ThresholdLine;
use crate::metrics::results::RunStatus;
use crate::metrics::Results;
use crate::protocol::GatewayStats;

/// Escaped text, or a note that the results file does not say.
fn shown(s: &str) -> String {
    if s.trim().is_empty() {
        "<em>not recorded</em>".to_string()
    } else {
        esc(s)
    }
}

/// The status banner: big, worded (not colour alone), with the abort reason.
pub fn status_banner(r: &Results) -> String {
    let (class, word, detail) = match &r.status {
        RunStatus::Completed => (
            "completed",
            "Completed",
            "The load plan ran to its end.".to_string(),
        ),
        RunStatus::Interrupted => (
            "interrupted",
            "Interrupted",
            "Stopped early by a signal; the figures cover what was recorded until then."
                .to_string(),
        ),
        RunStatus::Aborted { reason } => (
            "aborted",
            "Aborted",
            format!("The run could not measure: {reason}"),
        ),
    };
    format!(
        "<div class=\"status status-{class}\" role=\"status\"><span class=\"status-word\">Run status: {word}</span><span class=\"status-detail\">{}</span></div>\n",
        esc(&detail)
    )
}

/// Key facts of the run, the TLS warning and the threshold verdicts.
pub fn overview(r: &Results, verdicts: &[ThresholdLine]) -> String {
    let mut o = String::from("<section id=\"overview\"><h2>Run overview</h2>\n");
    o.push_str(&status_banner(r));
    if r.target.tls_verify_disabled {
        o.push_str("<p class=\"warning\"><strong>Warning: TLS certificate verification was disabled</strong> for this run (asked for explicitly); the target's identity was not checked.</p>\n");
    }
    let target = if r.target.embedded {
        format!("{} (embedded simulated gateway)", shown(&r.target.url))
    } else {
        shown(&r.target.url)
    };
    let s = &r.sessions;
    o.push_str(&facts(&[
        ("Target", target),
        ("Started", esc(&r.started_at)),
        ("Ended", esc(&r.ended_at)),
        ("Duration", esc(&fmt_duration(r.duration_s))),
        ("agentstorm", esc(&r.agentstorm_version)),
        (
            "Agents",
            esc(&format!(
                "{} agents in {} sessions: {} signed in ({}), {} ready ({}), peak {} at once",
                fmt_count(s.agents),
                fmt_count(s.started),
                fmt_count(s.signed_in),
                fmt_pct(s.signed_in, s.started),
                fmt_count(s.ready),
                fmt_pct(s.ready, s.started),
                fmt_count(r.scheduler.peak_active_agents)
            )),
        ),
        (
            "Time to ready",
            esc(&format!(
                "p50 {}, p99 {}",
                fmt_ms_opt(s.time_to_ready.percentile_ms(50.0)),
                fmt_ms_opt(s.time_to_ready.percentile_ms(99.0))
            )),
        ),
    ]));
    o.push_str(&thresholds(verdicts));
    o.push_str("</section>\n");
    o
}

/// The verdict table, failed thresholds first (each group keeps the caller's order).
pub fn thresholds(verdicts: &[ThresholdLine]) -> String {
    let mut o = String::from("<h3 id=\"thresholds\">Thresholds</h3>\n");
    if verdicts.is_empty() {
        o.push_str("<p class=\"nodata\">No thresholds were set for this run.</p>\n");
        return o;
    }
    let failed = verdicts.iter().filter(|v| !v.passed).count();
    o.push_str(&format!(
        "<p class=\"verdict-summary {}\"><strong>{} of {} thresholds failed.</strong></p>\n",
        if failed > 0 { "fail" } else { "pass" },
        failed,
        verdicts.len()
    ));
    let ordered = verdicts
        .iter()
        .filter(|v| !v.passed)
        .chain(verdicts.iter().filter(|v| v.passed));
    let rows = ordered
        .map(|v| {
            let mark = if v.passed {
                "<span class=\"pass\">&#10003; PASS</span>"
            } else {
                "<span class=\"fail\">&#10007; FAIL</span>"
            };
            vec![
                Cell::Html(mark.to_string()),
                Cell::Text(v.name.clone()),
                Cell::Num(v.measured.clone()),
                Cell::Num(v.allowed.clone()),
            ]
        })
        .collect();
    o.push_str(&table(
        "thresholds",
        &["Result", "Threshold", "Measured", "Allowed"],
        rows,
    ));
    o
}

/// Version, target, scheduler accuracy and the harness's own resource use.
pub fn environment(r: &Results) -> String {
    let mut o = String::from("<section id=\"environment\"><h2>Environment</h2>\n");
    o.push_str(&run_facts(r));
    if let Some(g) = &r.gateway {
        o.push_str(&gateway_counters(r, g));
    }
    o.push_str("</section>\n");
    o
}

/// The facts of the run: version, target, scenario, scheduler and the harness's resources.
fn run_facts(r: &Results) -> String {
    let sch = &r.scheduler;
    let peak_rss = r.intervals.iter().map(|i| i.rss_bytes).max().unwrap_or(0);
    let cpus: Vec<f64> = r
        .intervals
        .iter()
        .map(|i| i.cpu_percent)
        .filter(|c| c.is_finite() && *c > 0.0)
        .collect();
    let peak_cpu = cpus.iter().copied().fold(f64::NAN, f64::max);
    let mean_cpu = cpus.iter().sum::<f64>() / cpus.len().max(1) as f64;
    let unknown = || "unknown".to_string();
    facts(&[
        ("agentstorm version", esc(&r.agentstorm_version)),
        ("Target", shown(&r.target.url)),
        (
            "Gateway",
            if r.target.embedded {
                "embedded simulated gateway".into()
            } else {
                "external".into()
            },
        ),
        (
            "TLS verification",
            if r.target.tls_verify_disabled {
                "<strong>disabled</strong>".into()
            } else {
                "on (or plain HTTP)".into()
            },
        ),
        ("Scenario file", esc(&r.scenario.path)),
        (
            "Scenario SHA-256",
            format!("<code>{}</code>", esc(&r.scenario.hash)),
        ),
        ("Planned arrivals", fmt_count(sch.planned_arrivals)),
        (
            "Arrivals started",
            esc(&format!(
                "{} ({}); not started {}; dropped late {}",
                fmt_count(sch.started),
                fmt_pct(sch.started, sch.planned_arrivals),
                fmt_count(sch.not_started),
                fmt_count(sch.dropped_late)
            )),
        ),
        (
            "Scheduler lag",
            esc(&format!(
                "p50 {}, p99 {}, max {}",
                fmt_ms_opt(sch.lag.percentile_ms(50.0)),
                fmt_ms_opt(sch.lag.percentile_ms(99.0)),
                fmt_ms_opt(sch.lag.max_ms())
            )),
        ),
        ("Peak active agents", fmt_count(sch.peak_active_agents)),
        (
            "Harness peak RSS",
            if peak_rss > 0 {
                format!("{:.1} MiB", peak_rss as f64 / (1024.0 * 1024.0))
            } else {
                unknown()
            },
        ),
        (
            "Harness CPU",
            if cpus.is_empty() {
                unknown()
            } else {
                format!("peak {peak_cpu:.0} %, mean {mean_cpu:.0} % of one core")
            },
        ),
    ])
}

/// The simulated gateway's own counters during the run, and the reconciliation with them.
fn gateway_counters(r: &Results, g: &GatewayStats) -> String {
    let mut o = String::new();
    o.push_str("<h3>Simulated gateway's own counters during the run</h3>\n");
    o.push_str(&facts(&[
        ("Signed in at end", fmt_count(g.signed_in)),
        ("Signed in, lifetime peak", fmt_count(g.signed_in_peak)),
        (
            "Sign-outs",
            esc(&format!(
                "logout {}, forced {}, timeout {}, replaced {}",
                fmt_count(g.signouts.logout),
                fmt_count(g.signouts.forced),
                fmt_count(g.signouts.timeout),
                fmt_count(g.signouts.replaced)
            )),
        ),
    ]));
    let rows = g
        .requests
        .iter()
        .flat_map(|(endpoint, outcomes)| {
            outcomes.iter().map(move |(outcome, n)| {
                vec![
                    Cell::Text(endpoint.clone()),
                    Cell::Text(outcome.clone()),
                    Cell::Num(fmt_count(*n)),
                ]
            })
        })
        .collect();
    o.push_str(&table(
        "gateway",
        &["Endpoint", "Outcome", "Requests"],
        rows,
    ));
    o.push_str(&reconciliation(r));
    o
}

/// The harness's counts against the gateway's, per operation (rows and verdicts from
/// [`crate::report::console::reconcile_rows`], as in the console summary).
fn reconciliation(r: &Results) -> String {
    use crate::report::console::{reconcile_rows, MATCH, MISMATCH};
    let rows = reconcile_rows(r);
    let mut o = String::from("<h4>Reconciliation</h4>\n");
    o.push_str(
        "<p>Requests the gateway counted during the run against the harness's attempts. \
         Connect failures never reach the gateway; calls interrupted by a hard stop may or \
         may not have been counted, so a row matches when the gateway's count lies in the \
         expected range.</p>\n",
    );
    let cells = rows
        .iter()
        .map(|row| {
            let verdict = if row.matches() {
                format!("<span class=\"pass\">{MATCH}</span>")
            } else {
                format!("<span class=\"fail\">{MISMATCH}</span>")
            };
            vec![
                Cell::Text(row.operation.name().to_string()),
                Cell::Num(fmt_count(row.attempted)),
                Cell::Num(fmt_count(row.connect_failed)),
                Cell::Num(fmt_count(row.interrupted)),
                Cell::Num(expected(row.expected_low(), row.expected_high())),
                Cell::Num(fmt_count(row.gateway)),
                Cell::Text(row.operation.endpoint().name().to_string()),
                Cell::Html(verdict),
            ]
        })
        .collect();
    o.push_str(&table(
        "reconcile",
        &[
            "Operation",
            "Attempted",
            "Connect failed",
            "Interrupted",
            "Expected",
            "Gateway",
            "Endpoint",
            "Verdict",
        ],
        cells,
    ));
    o
}

/// An expected count, or its range when calls were interrupted.
fn expected(low: u64, high: u64) -> String {
    if low == high {
        fmt_count(low)
    } else {
        format!("{} – {}", fmt_count(low), fmt_count(high))
    }
}

/// The scenario text as run (already redacted by the caller), escaped.
pub fn scenario(r: &Results, text: Option<&str>) -> String {
    let mut o = String::from("<section id=\"scenario\"><h2>Scenario as run</h2>\n");
    if !r.scenario.path.is_empty() {
        o.push_str(&format!(
            "<p>From <code>{}</code> (SHA-256 <code>{}</code>), secrets redacted.</p>\n",
            esc(&r.scenario.path),
            esc(&r.scenario.hash)
        ));
    }
    match text {
        Some(t) => o.push_str(&format!("<pre class=\"scenario\">{}</pre>\n", esc(t))),
        None => o.push_str(
            "<p class=\"nodata\">The scenario text is not included in this report.</p>\n",
        ),
    }
    o.push_str("</section>\n");
    o
}
