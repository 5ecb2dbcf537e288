//! The commands that work on results already written, with no traffic: `report`
//! (re-render), `compare` (regression gate) and `merge` (shards into one run).
//!
//! Every input is read and checked before anything is written, so a bad file (truncated,
//! another schema version, not JSON, counts that do not add up — see
//! `metrics::invariants`; for merge, shards that are not one run's or whose `latency.hlog`
//! is missing or cut) exits 2 with its name and overwrites nothing.

use std::path::{Path, PathBuf};

use crate::analysis::{finalize, merge};
use crate::exit::{self, Exit};
use crate::metrics::{hlog, invariants, Results};
use crate::report::{self, compare};

fn load(path: &Path) -> Result<Results, Exit> {
    Results::load(path).map_err(|e| Exit::bad_input(e.to_string()))
}

/// [`load`], refusing a document whose counts do not add up (each broken invariant named).
fn load_consistent(path: &Path) -> Result<Results, Exit> {
    let results = load(path)?;
    let broken = invariants::check(&results);
    if !broken.is_empty() {
        return Err(Exit::bad_input(invariants::refusal(
            &path.display().to_string(),
            &broken,
        )));
    }
    Ok(results)
}

/// The intervals of the `latency.hlog` beside a shard's results, which merge needs.
fn shard_log(results_path: &Path) -> Result<Vec<hlog::HlogInterval>, Exit> {
    let shown = results_path.display();
    match report::read_hlog_beside(results_path) {
        Ok(Some(intervals)) => Ok(intervals),
        Ok(None) => Err(Exit::bad_input(format!(
            "{shown}: no {} beside it ({} is missing): merge needs each shard's interval log, \
             to check it holds every latency the shard counts and to write the merged log; \
             bring each shard's whole folder",
            report::LATENCY_HLOG,
            folder_of(results_path).join(report::LATENCY_HLOG).display()
        ))),
        Err(e) => Err(Exit::bad_input(format!(
            "{e} (the interval log of {shown}): merge needs each shard's complete log"
        ))),
    }
}

fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Judges `results` again from its measurements (`analysis::finalize`): its scenario's
/// thresholds, read from the scenario text it carries, against it and `hlog`.
fn judge(results: &mut Results, path: &Path, hlog: Option<&Path>) -> Result<(), Exit> {
    let ths = finalize::thresholds_of(results).map_err(|e| {
        Exit::bad_input(format!(
            "{}: cannot judge its thresholds: {e}",
            path.display()
        ))
    })?;
    finalize::finalize(results, &ths, hlog);
    Ok(())
}

/// The verdict's reason, on stderr, when it is not a pass.
fn say_why(results: &Results) {
    let v = &results.derived.verdict;
    if v.exit_code != exit::OK && !v.reason.is_empty() {
        eprintln!("agentstorm: {}", v.reason);
    }
}

/// `agentstorm report RESULTS.json [--out DIR]`.
pub fn report(results_path: &Path, out: Option<&Path>) -> Result<i32, Exit> {
    let mut results = load_consistent(results_path)?;
    let source_dir = folder_of(results_path);
    let hlog_src = source_dir.join(report::LATENCY_HLOG);
    judge(
        &mut results,
        results_path,
        hlog_src.is_file().then_some(hlog_src.as_path()),
    )?;
    let out_dir = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| source_dir.clone());
    let written = report::write_all(&results, &out_dir)
        .map_err(|e| Exit::cannot_measure(format!("{e:#}")))?;
    // The interval log is part of the results: bring it along to a new folder.
    let hlog_dst = out_dir.join(report::LATENCY_HLOG);
    if hlog_src.is_file() && !same_file(&hlog_src, &hlog_dst) {
        std::fs::copy(&hlog_src, &hlog_dst).map_err(|e| {
            Exit::cannot_measure(format!("cannot copy {}: {e}", hlog_src.display()))
        })?;
    }
    print!("{}", report::console_summary(&results));
    print!(
        "{}",
        report::thresholds::render(&results.derived.thresholds)
    );
    println!("wrote {} files to {}", written.len(), out_dir.display());
    say_why(&results);
    Ok(results.derived.verdict.exit_code)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// `agentstorm compare BASELINE.json CANDIDATE.json`.
pub fn compare(
    baseline: &Path,
    candidate: &Path,
    out: Option<&Path>,
    tolerance: &compare::Tolerance,
) -> Result<i32, Exit> {
    let base = load_consistent(baseline)?;
    let cand = load_consistent(candidate)?;
    let c = compare::compare(&base, &cand, tolerance);
    print!("{}", compare::render_text(&c));
    let out_dir = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| folder_of(candidate));
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| Exit::bad_input(format!("cannot create {}: {e}", out_dir.display())))?;
    let html = out_dir.join("comparison.html");
    compare::write_html(&c, &html)
        .map_err(|e| Exit::cannot_measure(format!("cannot write {}: {e}", html.display())))?;
    let junit = out_dir.join(report::junit::COMPARISON_JUNIT_XML);
    report::junit::write(&report::junit::for_comparison(&c), &junit)
        .map_err(|e| Exit::cannot_measure(format!("cannot write {}: {e:#}", junit.display())))?;
    println!("comparison: {} (and {})", html.display(), junit.display());
    Ok(if c.regressed() {
        exit::FAILED
    } else {
        exit::OK
    })
}

/// `agentstorm merge RESULTS.json... --out DIR`.
pub fn merge(inputs: &[PathBuf], out_dir: &Path) -> Result<i32, Exit> {
    let mut loaded = Vec::with_capacity(inputs.len());
    for path in inputs {
        // Its counts are checked by the merge, which names the file the same way.
        let results = load(path)?;
        let hlog = shard_log(path)?;
        loaded.push((results, hlog));
    }
    let name = |i: usize| inputs[i].display().to_string();
    let (mut merged, merged_hlog) =
        merge::merge(&loaded).map_err(|e| Exit::bad_input(e.describe(&name)))?;
    std::fs::create_dir_all(out_dir)
        .map_err(|e| Exit::bad_input(format!("cannot create {}: {e}", out_dir.display())))?;
    let hlog_path = out_dir.join(report::LATENCY_HLOG);
    write_hlog(&hlog_path, &merged, &merged_hlog)
        .map_err(|e| Exit::cannot_measure(format!("cannot write {}: {e}", hlog_path.display())))?;
    // Judge the merged run as one run (the shards judged only their own share).
    judge(&mut merged, &inputs[0], Some(hlog_path.as_path()))?;
    let written =
        report::write_all(&merged, out_dir).map_err(|e| Exit::cannot_measure(format!("{e:#}")))?;
    if let Some(warning) = report::summary_md::append_to_step_summary(&merged) {
        eprintln!("{warning}");
    }
    print!("{}", report::console_summary(&merged));
    print!("{}", report::thresholds::render(&merged.derived.thresholds));
    println!(
        "merged {} results into {} ({} files)",
        inputs.len(),
        out_dir.display(),
        written.len()
    );
    say_why(&merged);
    Ok(merged.derived.verdict.exit_code)
}

fn write_hlog(
    path: &Path,
    merged: &Results,
    intervals: &[hlog::HlogInterval],
) -> std::io::Result<()> {
    let start = humantime::parse_rfc3339(merged.started_at.trim())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let mut w = hlog::HlogWriter::create(path, start)?;
    for i in intervals {
        w.write(&i.tag, i.start_s, i.end_s, &i.hist)?;
    }
    w.flush()
}
