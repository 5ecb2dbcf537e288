//! compare: verdicts against the default tolerance (relative AND absolute allowance, error
//! rate in percentage points, minimum samples, missing operations), rendering.

use agentstorm::metrics::{OpStats, Operation, Results};
use agentstorm::report::compare::{
    compare, render_html, render_text, write_html, Change, Tolerance,
};

use crate::support::fixture;

/// A run whose sign-ins take `ms` each (n of them), `failed` of which got HTTP 503.
fn run(ms: u64, n: u64, failed: u64) -> Results {
    let mut r = fixture::empty_results("ci");
    let mut s = OpStats::default();
    for _ in 0..n - failed {
        s.record(&fixture::sample(Operation::Signin, fixture::ok(), 0, ms));
    }
    for _ in 0..failed {
        s.record(&fixture::sample(
            Operation::Signin,
            fixture::http(503),
            0,
            ms,
        ));
    }
    r.operations.insert("signin".into(), s);
    r
}

fn row<'a>(
    c: &'a agentstorm::report::compare::Comparison,
    op: &str,
    measure: &str,
) -> &'a agentstorm::report::compare::CompareRow {
    c.rows
        .iter()
        .find(|r| r.operation == op && r.measure == measure)
        .expect("row present")
}

#[test]
fn identical_runs_do_not_regress() {
    let b = run(100, 1000, 1);
    let c = compare(&b, &b, &Tolerance::default());
    assert!(!c.regressed());
    assert!(
        c.rows.iter().all(|r| r.change == Change::Same),
        "{:?}",
        c.rows
    );
    assert!(render_text(&c).contains("Result: no regression"));
    assert!(c.notes.is_empty(), "{:?}", c.notes);
}

#[test]
fn latency_must_rise_beyond_both_relative_and_absolute_allowance() {
    let t = Tolerance::default();
    // 100 ms → 105 ms: +5 % (under 10 %): same
    let c = compare(&run(100, 1000, 0), &run(105, 1000, 0), &t);
    assert_eq!(row(&c, "signin", "corrected p99").change, Change::Same);
    assert!(!c.regressed());
    // 100 ms → 115 ms: +15 % and +15 ms: regression
    let c = compare(&run(100, 1000, 0), &run(115, 1000, 0), &t);
    let r = row(&c, "signin", "corrected p99");
    assert_eq!(r.change, Change::Worse);
    assert!(r.is_regression());
    assert!(c.regressed());
    let text = render_text(&c);
    assert!(text.contains("REGRESSION"), "{text}");
    assert!(text.contains("signin corrected p99"), "{text}");
    // raw is shown but does not gate by default
    assert_eq!(row(&c, "signin", "raw p99").change, Change::Worse);
    assert!(!row(&c, "signin", "raw p99").is_regression());
    // 2 ms → 2.9 ms: +45 % but under 1 ms: same
    let c = compare(
        &run(2, 1000, 0),
        &run(3, 1000, 0),
        &Tolerance {
            latency_abs_ms: 1.5,
            ..t.clone()
        },
    );
    assert_eq!(row(&c, "signin", "corrected p50").change, Change::Same);
    // 115 → 100 is better
    let c = compare(&run(115, 1000, 0), &run(100, 1000, 0), &t);
    assert_eq!(row(&c, "signin", "corrected p50").change, Change::Better);
    assert!(!c.regressed());
}

#[test]
fn few_samples_do_not_gate_latency() {
    let c = compare(&run(100, 50, 0), &run(200, 50, 0), &Tolerance::default());
    let r = row(&c, "signin", "corrected p99");
    assert_eq!(r.change, Change::Worse);
    assert!(!r.gated);
    assert!(!c.regressed());
    let c = compare(
        &run(100, 50, 0),
        &run(200, 50, 0),
        &Tolerance {
            min_samples: 10,
            ..Tolerance::default()
        },
    );
    assert!(c.regressed());
}

#[test]
fn error_rate_rise_in_percentage_points() {
    let t = Tolerance::default();
    // 0.1 % → 0.2 %: +0.1 pp, allowed
    let c = compare(&run(10, 1000, 1), &run(10, 1000, 2), &t);
    assert_eq!(row(&c, "signin", "error rate").change, Change::Same);
    assert!(!c.regressed());
    // 0.1 % → 0.3 %: +0.2 pp
    let c = compare(&run(10, 1000, 1), &run(10, 1000, 3), &t);
    let r = row(&c, "signin", "error rate");
    assert!(r.is_regression(), "{r:?}");
    assert!((r.delta().expect("delta") - 0.2).abs() < 1e-9);
}

#[test]
fn an_operation_missing_from_the_candidate_is_a_regression() {
    let b = run(10, 1000, 0);
    let mut c = run(10, 1000, 0);
    c.operations.clear();
    c.operations.insert(
        "logout".into(),
        fixture::op_stats(Operation::Logout, fixture::ok(), 5, 1),
    );
    let cmp = compare(&b, &c, &Tolerance::default());
    assert!(row(&cmp, "signin", "attempts").is_regression());
    // an operation only the candidate has is shown, not gated
    let extra = row(&cmp, "logout", "attempts");
    assert!(!extra.is_regression());
    assert_eq!(
        row(&cmp, "logout", "corrected p50").change,
        Change::Incomparable
    );
}

#[test]
fn sessions_and_notes() {
    let mut b = run(10, 1000, 0);
    let mut c = run(10, 1000, 0);
    b.sessions.started = 1000;
    b.sessions.ready = 1000;
    c.sessions.started = 1000;
    c.sessions.ready = 990;
    c.scenario.hash = "different".into();
    c.status = agentstorm::metrics::results::RunStatus::Interrupted;
    let cmp = compare(&b, &c, &Tolerance::default());
    assert!(row(&cmp, "sessions", "ready %").is_regression());
    assert_eq!(cmp.notes.len(), 2, "{:?}", cmp.notes);
    assert!(cmp.notes[0].contains("different scenarios"));
}

#[test]
fn html_is_self_contained_and_escaped() {
    let mut b = run(100, 1000, 0);
    b.scenario.name = "<script>alert(1)</script>".into();
    let c = compare(&b, &run(150, 1000, 0), &Tolerance::default());
    let html = render_html(&c);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.contains("<script>"), "unescaped scenario name");
    assert!(html.contains("&lt;script&gt;"));
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("src="));
    assert!(html.contains("class=\"regression\""));
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("comparison.html");
    write_html(&c, &path).expect("writes");
    assert_eq!(std::fs::read_to_string(&path).expect("reads"), html);
}
