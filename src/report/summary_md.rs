//! `summary.md`: the run for a CI job summary, in Markdown — the verdict and why, the
//! thresholds, the operation table and the top failure reasons with the gateway's own
//! words. Rendered from `Results` alone; when `GITHUB_STEP_SUMMARY` names a file, the
//! command that judged the run (`run`, `merge`) appends the same text to it.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use super::in_report_order;
use crate::exit;
use crate::metrics::results::RunStatus;
use crate::metrics::Results;
use crate::util::fmt::fmt_ms;

/// File name inside a report folder.
pub const SUMMARY_MD: &str = "summary.md";

/// Failure rows shown; failures.csv and retcodes.csv have them all.
const TOP_FAILURES: usize = 10;
/// A reason is cut to this many characters in a table cell.
const REASON_CHARS: usize = 160;

/// A table cell: one line, `|` escaped, cut to `max` characters.
fn cell(s: &str, max: usize) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut cut: String = one_line.chars().take(max).collect();
    if one_line.chars().count() > max {
        cut.push('…');
    }
    cut.replace('|', "\\|")
}

/// The whole summary.
pub fn render(r: &Results) -> String {
    let mut o = String::new();
    verdict(&mut o, r);
    thresholds(&mut o, r);
    operations(&mut o, r);
    failures(&mut o, r);
    o
}

/// The verdict in one word (or three), as the summary's heading and `run --quiet` say it.
pub fn verdict_word(exit_code: i32) -> &'static str {
    match exit_code {
        exit::OK => "passed",
        exit::FAILED => "FAILED",
        exit::INTERRUPTED => "INTERRUPTED",
        _ => "COULD NOT MEASURE",
    }
}

fn verdict(o: &mut String, r: &Results) {
    let v = &r.derived.verdict;
    let word = verdict_word(v.exit_code);
    let _ = writeln!(
        o,
        "## agentstorm: {} — {word}\n",
        cell(&r.scenario.name, 80)
    );
    if !v.reason.is_empty() {
        let _ = writeln!(
            o,
            "**Why:** {} (exit code {})\n",
            cell(&v.reason, 400),
            v.exit_code
        );
    }
    let status = match &r.status {
        RunStatus::Completed => "completed".to_string(),
        RunStatus::Interrupted => "interrupted".to_string(),
        RunStatus::Aborted { reason } => format!("aborted: {}", cell(reason, 200)),
    };
    let _ = writeln!(
        o,
        "Run {status}, started {}, {:.1} s, target `{}`; {} agents, {} sessions, {} ready, {} left signed in.\n",
        r.started_at,
        r.duration_s,
        cell(&r.target.url, 120),
        r.sessions.agents,
        r.sessions.started,
        r.sessions.ready,
        r.sessions.left_signed_in
    );
}

fn thresholds(o: &mut String, r: &Results) {
    let list = &r.derived.thresholds;
    if list.is_empty() {
        return;
    }
    let failed = list.iter().filter(|v| !v.passed).count();
    let _ = writeln!(
        o,
        "### Thresholds: {} of {} passed\n",
        list.len() - failed,
        list.len()
    );
    let _ = writeln!(
        o,
        "| Result | Threshold | Measured | Allowed |\n|---|---|---|---|"
    );
    for v in list {
        let mark = if v.passed { "pass" } else { "**FAILED**" };
        let _ = writeln!(
            o,
            "| {mark} | `{}` | {} | {} |",
            cell(&v.name, 80),
            cell(&v.measured, 80),
            cell(&v.allowed, 80)
        );
    }
    o.push('\n');
}

fn operations(o: &mut String, r: &Results) {
    let ops: Vec<_> = in_report_order(&r.operations)
        .into_iter()
        .filter(|(_, s)| !s.is_empty())
        .collect();
    if ops.is_empty() {
        let _ = writeln!(o, "No operation finished during the run.\n");
        return;
    }
    let _ = writeln!(
        o,
        "### Operations (latency in ms, corrected for coordinated omission)\n"
    );
    let _ = writeln!(
        o,
        "| Operation | Count | Failed | Error % | p50 | p90 | p99 | p99.9 | max |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|"
    );
    for (name, s) in ops {
        let h = &s.corrected;
        let judged = s.judged();
        let err = if judged == 0 {
            "-".to_string()
        } else {
            format!("{:.2}", s.failed() as f64 * 100.0 / judged as f64)
        };
        let _ = writeln!(
            o,
            "| {} | {} | {} | {err} | {} | {} | {} | {} | {} |",
            cell(name, 40),
            s.count,
            s.failed(),
            fmt_ms(h.percentile_ms(50.0)),
            fmt_ms(h.percentile_ms(90.0)),
            fmt_ms(h.percentile_ms(99.0)),
            fmt_ms(h.percentile_ms(99.9)),
            fmt_ms(h.max_ms())
        );
    }
    o.push('\n');
}

fn failures(o: &mut String, r: &Results) {
    let mut rows: Vec<(&str, String, u64)> = r
        .operations
        .iter()
        .flat_map(|(op, s)| {
            s.error_counts()
                .into_iter()
                .map(move |(label, n)| (op.as_str(), label, n))
        })
        .collect();
    if rows.is_empty() {
        let _ = writeln!(o, "No failures.");
        return;
    }
    rows.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| (a.0, &a.1).cmp(&(b.0, &b.1))));
    let _ = writeln!(o, "### Top failure reasons\n");
    let _ = writeln!(
        o,
        "| Operation | Outcome | Count | Reason (first case, secrets masked) |\n|---|---|--:|---|"
    );
    for (op, label, n) in rows.iter().take(TOP_FAILURES) {
        let reason = r
            .failures
            .kinds
            .get(&format!("{op} {label}"))
            .and_then(|list| list.first())
            .map(|e| cell(&e.reason, REASON_CHARS))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "| {} | `{}` | {n} | {reason} |",
            cell(op, 40),
            cell(label, 60)
        );
    }
    if rows.len() > TOP_FAILURES {
        let _ = writeln!(
            o,
            "\n{} smaller kinds not shown; retcodes.csv and failures.csv have them all.",
            rows.len() - TOP_FAILURES
        );
    }
}

/// Writes `summary.md` at `path`.
pub fn write(r: &Results, path: &Path) -> anyhow::Result<()> {
    std::fs::write(path, render(r))?;
    Ok(())
}

/// Appends the summary to the file `GITHUB_STEP_SUMMARY` names, if it is set and the
/// results are a whole run or a merge (a shard's summary would repeat per process).
/// Returns a warning for people when the file cannot be written.
pub fn append_to_step_summary(r: &Results) -> Option<String> {
    let path = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty())?;
    if r.shard.as_ref().is_some_and(|s| s.merged <= 1) {
        return None;
    }
    let appended = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(format!("{}\n", render(r)).as_bytes()));
    appended.err().map(|e| {
        format!(
            "warning: cannot append the summary to GITHUB_STEP_SUMMARY ({}): {e}",
            Path::new(&path).display()
        )
    })
}
