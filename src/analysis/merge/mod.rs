//! `agentstorm merge`: combines the Results (and `latency.hlog` interval histograms) of
//! the shards of one sharded run — several harness processes, needed past ~19,000 agents
//! (the open-file and port limits), `run --shard K/N` or `run --processes N` — into one
//! document, exactly.
//!
//! Refused before anything is added: an input whose own counts do not add up
//! (`metrics::invariants`), a whole run (no `shard` record) or a merge, shards that are not
//! one of each of one run's N shards ([`check_shards`]: the same scenario, disjoint id
//! slices that together are the scenario's `agents.ids`, no shard twice, none missing), and
//! a shard whose `latency.hlog` does not hold exactly the latencies its results count
//! (`logs`: cut short, empty or another run's).
//!
//! The rule for each measured field (the `merge_rules` integration test walks every
//! numeric field of a merged document against it):
//! - added: every operation's counts, outcome maps and corrected and raw histograms; every
//!   session count and timing histogram (`event_delivery_by_type` capped as in a run);
//!   events (within the caps on names, `metrics::names`); the scheduler's planned, started, not-started and dropped-late arrivals and
//!   its lag histogram; per interval the active and signed-in agents, arrivals, operation
//!   counts and failures by outcome; the gateway's counters when each shard had its own
//!   gateway.
//! - upper bounds, documented as such: `scheduler.peak_active_agents` and the gateway's
//!   `signed_in_peak` are sums of the shards' peaks (the peaks need not coincide); RSS and
//!   CPU per interval are summed across the processes.
//! - one gateway's snapshot: when every shard names the same non-embedded target, the
//!   gateway stats of the shard that ended last (summing one gateway's counters N times
//!   would be wrong).
//! - times: the earliest start and the latest end, `duration_s` between them; intervals
//!   are aligned on wall-clock time (below); failure exemplars keep the earliest cases of
//!   each kind, their times moved onto the merged timeline.
//! - the first shard's: scenario, schema, and `capacity` (a capacity search's steps).
//! - derived, not merged: `Results::derived` (drift, recovery, threshold verdicts, the
//!   verdict) is left empty; `analysis::finalize` computes it from the merged measurements.
//!
//! Alignment: each shard's intervals are placed on one timeline starting at the earliest
//! shard's `started_at`, and snapped to the nearest interval boundary of that timeline
//! (shards share one interval length, judged without each shard's last, partial interval;
//! a different one is refused; shards that ran for a single partial interval each land in
//! one merged interval). Interval percentiles are recomputed exactly from the merged
//! interval histograms.
//!
//! Gateway stats: summed when each shard had its own gateway; when every shard names the
//! same non-embedded target, summing one gateway's counters N times would be wrong, so the
//! merged window runs from the earliest shard's start to the latest shard's end (each
//! counter's smallest value at a start, its largest at an end: counters only grow), or, for
//! shards that did not keep their start (`gateway_at_start`), the counts of the shard that
//! ended last are kept.
//!
//! The merged document's `shard` record says how many shard results it holds (`merged`),
//! of how many (`count`), and the latest start against `--start-at` (`late_start_s`, the
//! largest of the shards').

use std::collections::BTreeMap;
use std::time::UNIX_EPOCH;

use crate::metrics::exemplar::Exemplars;
use crate::metrics::hlog::{self, HlogInterval, LatencyKind};
use crate::metrics::invariants;
use crate::metrics::names;
use crate::metrics::results::{IntervalOp, IntervalSnapshot, RunStatus};
use crate::metrics::{Hist, Results};
use crate::protocol::GatewayStats;

mod error;
mod logs;
mod shards;

pub use error::MergeError;
pub use shards::check_shards;
use shards::checked_shard_set;

/// One shard: its Results and the intervals of its `latency.hlog`.
pub type MergeInput = (Results, Vec<HlogInterval>);

fn unix_s(index: usize, field: &'static str, value: &str) -> Result<f64, MergeError> {
    humantime::parse_rfc3339_weak(value)
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs_f64())
        .ok_or_else(|| MergeError::BadTime {
            index,
            field,
            value: value.to_string(),
        })
}

fn median_length(spans: impl Iterator<Item = f64>) -> Option<f64> {
    let mut v: Vec<f64> = spans.filter(|l| *l > 0.0).collect();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

/// A shard's interval length: the median of its intervals but the last, which ends with
/// the run and is usually shorter; None when it has fewer than two.
fn interval_length(input: &MergeInput) -> Option<f64> {
    let (r, hlog) = input;
    let closed = |spans: Vec<(f64, f64)>| {
        let last = spans.iter().map(|s| s.0).fold(f64::NEG_INFINITY, f64::max);
        median_length(spans.iter().filter(|s| s.0 < last).map(|s| s.1 - s.0))
    };
    closed(r.intervals.iter().map(|i| (i.start_s, i.end_s)).collect())
        .or_else(|| closed(hlog.iter().map(|i| (i.start_s, i.end_s)).collect()))
}

/// When every shard ran for a single (partial) interval: the longest of those, so they
/// land in one merged interval.
fn single_interval_length(inputs: &[MergeInput]) -> Option<f64> {
    inputs
        .iter()
        .flat_map(|(r, h)| {
            let own = r.intervals.iter().map(|i| i.end_s - i.start_s);
            own.chain(h.iter().map(|i| i.end_s - i.start_s))
        })
        .filter(|l| *l > 0.0)
        .reduce(f64::max)
}

/// Merges the shards of one run into one Results and one hlog, or says why they cannot be.
pub fn merge(inputs: &[MergeInput]) -> Result<MergeInput, MergeError> {
    if inputs.is_empty() {
        return Err(MergeError::Empty);
    }
    for (index, (r, _)) in inputs.iter().enumerate() {
        let broken = invariants::check(r);
        if !broken.is_empty() {
            return Err(MergeError::Inconsistent { index, broken });
        }
    }
    let shard = checked_shard_set(inputs)?;
    for (index, (r, log)) in inputs.iter().enumerate() {
        logs::check_log(index, r, log)?;
    }
    let mut starts = Vec::with_capacity(inputs.len());
    let mut ends = Vec::with_capacity(inputs.len());
    for (i, (r, _)) in inputs.iter().enumerate() {
        starts.push(unix_s(i, "started_at", &r.started_at)?);
        ends.push(unix_s(i, "ended_at", &r.ended_at)?);
    }
    let origin = starts.iter().copied().fold(f64::INFINITY, f64::min);
    let first_start = index_of(&starts, f64::min);
    let last_end = index_of(&ends, f64::max);
    let end = ends[last_end];

    let mut lengths = inputs
        .iter()
        .enumerate()
        .filter_map(|(i, x)| interval_length(x).map(|l| (i, l)));
    let step = lengths.next();
    if let Some((first, expected)) = step {
        for (index, found) in lengths {
            if (found - expected).abs() > expected * 0.01 {
                return Err(MergeError::IntervalMismatch {
                    index,
                    found,
                    first,
                    expected,
                });
            }
        }
    }
    let step = step
        .map(|(_, l)| l)
        .or_else(|| single_interval_length(inputs));

    let first = &inputs[0].0;
    let mut out = first.clone();
    out.agentstorm_version = joined(inputs.iter().map(|(r, _)| r.agentstorm_version.as_str()));
    out.target.url = joined(inputs.iter().map(|(r, _)| r.target.url.as_str()));
    out.target.embedded = inputs.iter().all(|(r, _)| r.target.embedded);
    out.target.tls_verify_disabled = inputs.iter().any(|(r, _)| r.target.tls_verify_disabled);
    out.started_at = inputs[first_start].0.started_at.clone();
    out.ended_at = inputs[last_end].0.ended_at.clone();
    out.duration_s = (end - origin).max(0.0);
    out.status = merged_status(inputs);
    out.operations = BTreeMap::new();
    out.sessions = Default::default();
    out.events = BTreeMap::new();
    out.events_folded = Default::default();
    out.scheduler = Default::default();
    out.failures = Default::default();
    // Derived from the merged measurements by `analysis::finalize`, never carried from a
    // shard (each judged only its share).
    out.derived = Default::default();
    let offsets: Vec<f64> = starts.iter().map(|s| s - origin).collect();
    for ((r, _), offset) in inputs.iter().zip(&offsets) {
        out.failures.add(&on_timeline(&r.failures, *offset));
        for (k, v) in &r.operations {
            out.operations.entry(k.clone()).or_default().add(v);
        }
        out.sessions.add(&r.sessions);
        names::add(
            &mut out.events,
            &mut out.events_folded,
            &r.events,
            &r.events_folded,
        );
        let (s, o) = (&mut out.scheduler, &r.scheduler);
        s.planned_arrivals += o.planned_arrivals;
        s.started += o.started;
        s.not_started += o.not_started;
        s.dropped_late += o.dropped_late;
        s.lag.add(&o.lag);
        s.peak_active_agents += o.peak_active_agents;
    }
    (out.gateway, out.gateway_at_start) = merged_gateway(inputs, last_end);
    out.shard = Some(shard);

    let (hlog, intervals) = match step {
        Some(step) => {
            let hlog = merge_hlogs(inputs, &offsets, step);
            let intervals = merge_intervals(inputs, &offsets, step, &hlog);
            (hlog, intervals)
        }
        None => (vec![], vec![]),
    };
    out.intervals = intervals;
    Ok((out, hlog))
}

/// A shard's exemplars with their times (seconds since the shard's start) moved onto the
/// merged timeline, which starts `offset_s` earlier.
fn on_timeline(failures: &Exemplars, offset_s: f64) -> Exemplars {
    let mut moved = failures.clone();
    for e in moved.kinds.values_mut().flatten() {
        e.at_s += offset_s;
    }
    moved
}

fn index_of(v: &[f64], pick: fn(f64, f64) -> f64) -> usize {
    let best = v.iter().copied().reduce(pick).unwrap_or(0.0);
    v.iter().position(|x| *x == best).unwrap_or(0)
}

/// The distinct values in order of first appearance, joined with " + ".
fn joined<'a>(values: impl Iterator<Item = &'a str>) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for v in values {
        if !seen.contains(&v) {
            seen.push(v);
        }
    }
    seen.join(" + ")
}

fn merged_status(inputs: &[MergeInput]) -> RunStatus {
    let reasons: Vec<String> = inputs
        .iter()
        .filter_map(|(r, _)| match &r.status {
            RunStatus::Aborted { reason } => Some(match &r.shard {
                Some(s) => format!("shard {}/{}: {reason}", s.index, s.count),
                None => reason.clone(),
            }),
            _ => None,
        })
        .collect();
    if !reasons.is_empty() {
        RunStatus::Aborted {
            reason: reasons.join("; "),
        }
    } else if inputs
        .iter()
        .any(|(r, _)| r.status == RunStatus::Interrupted)
    {
        RunStatus::Interrupted
    } else {
        RunStatus::Completed
    }
}

/// The gateway's counts during the merged run, and its counters at the merged start.
fn merged_gateway(
    inputs: &[MergeInput],
    last_end: usize,
) -> (Option<GatewayStats>, Option<GatewayStats>) {
    let first = &inputs[0].0.target;
    let shared = !first.embedded
        && inputs
            .iter()
            .all(|(r, _)| !r.target.embedded && r.target.url == first.url);
    if shared {
        if let Some(window) = shared_window(inputs, last_end) {
            return window;
        }
        let kept = inputs[last_end]
            .0
            .gateway
            .clone()
            .or_else(|| inputs.iter().rev().find_map(|(r, _)| r.gateway.clone()));
        return (kept, None);
    }
    (summed_gateway(inputs), None)
}

/// One shared gateway: what it counted from the earliest shard's start to the latest
/// shard's end, when every shard with counts kept its start. Gauges are those of the
/// shard that ended last (`signed_in` at the end; the lifetime `signed_in_peak`, the
/// largest read).
fn shared_window(
    inputs: &[MergeInput],
    last_end: usize,
) -> Option<(Option<GatewayStats>, Option<GatewayStats>)> {
    let windows: Vec<(&GatewayStats, &GatewayStats)> = inputs
        .iter()
        .filter_map(|(r, _)| r.gateway.as_ref().map(|g| (r.gateway_at_start.as_ref(), g)))
        .map(|(start, during)| start.map(|s| (s, during)))
        .collect::<Option<_>>()?;
    let (first_start, _) = windows.first()?;
    let start = windows.iter().fold((*first_start).clone(), |acc, (s, _)| {
        acc.zip_counters(s, u64::min)
    });
    let mut end = windows.iter().fold(GatewayStats::default(), |acc, (s, d)| {
        acc.zip_counters(&s.zip_counters(d, u64::saturating_add), u64::max)
    });
    end.signed_in = inputs[last_end]
        .0
        .gateway
        .as_ref()
        .map_or(0, |g| g.signed_in);
    end.signed_in_peak = windows
        .iter()
        .map(|(_, d)| d.signed_in_peak)
        .max()
        .unwrap_or(0);
    Some((Some(end.since(&start)), Some(start)))
}

/// Each shard had its own gateway: the counters add.
fn summed_gateway(inputs: &[MergeInput]) -> Option<GatewayStats> {
    let mut sum: Option<GatewayStats> = None;
    for g in inputs.iter().filter_map(|(r, _)| r.gateway.as_ref()) {
        sum = Some(match sum.take() {
            None => g.clone(),
            Some(s) => {
                // Every counter (per node too, nodes matched by name) adds; so do the
                // gauges, each shard's gateway being its own.
                let mut z = s.zip_counters(g, u64::saturating_add);
                z.signed_in = s.signed_in + g.signed_in;
                z.signed_in_peak = s.signed_in_peak + g.signed_in_peak;
                for n in &mut z.nodes {
                    if let Some(o) = g.nodes.iter().find(|o| o.name == n.name) {
                        if s.nodes.iter().any(|m| m.name == n.name) {
                            n.signed_in += o.signed_in;
                            n.signed_in_peak += o.signed_in_peak;
                        } else {
                            n.signed_in = o.signed_in;
                            n.signed_in_peak = o.signed_in_peak;
                        }
                    }
                }
                z
            }
        });
    }
    sum
}

/// The merged timeline's interval index for a shard-relative start.
fn bucket(offset_s: f64, start_s: f64, step: f64) -> i64 {
    ((offset_s + start_s) / step).round() as i64
}

fn merge_hlogs(inputs: &[MergeInput], offsets: &[f64], step: f64) -> Vec<HlogInterval> {
    let mut acc: BTreeMap<(i64, String), (f64, Hist)> = BTreeMap::new();
    for ((_, hlog), offset) in inputs.iter().zip(offsets) {
        for iv in hlog {
            let k = bucket(*offset, iv.start_s, step);
            let e = acc
                .entry((k, iv.tag.clone()))
                .or_insert_with(|| (0.0, Hist::new()));
            e.0 = e.0.max(iv.end_s - iv.start_s);
            e.1.add(&iv.hist);
        }
    }
    acc.into_iter()
        .map(|((k, tag), (len, hist))| HlogInterval {
            tag,
            start_s: k as f64 * step,
            end_s: k as f64 * step + len,
            hist,
        })
        .collect()
}

fn merge_intervals(
    inputs: &[MergeInput],
    offsets: &[f64],
    step: f64,
    hlog: &[HlogInterval],
) -> Vec<IntervalSnapshot> {
    let mut acc: BTreeMap<i64, IntervalSnapshot> = BTreeMap::new();
    for ((r, _), offset) in inputs.iter().zip(offsets) {
        for iv in &r.intervals {
            let k = bucket(*offset, iv.start_s, step);
            let m = acc.entry(k).or_insert_with(|| IntervalSnapshot {
                start_s: k as f64 * step,
                end_s: k as f64 * step,
                ..Default::default()
            });
            m.end_s = m.end_s.max(m.start_s + (iv.end_s - iv.start_s));
            m.active_agents += iv.active_agents;
            m.signed_in += iv.signed_in;
            m.arrivals += iv.arrivals;
            m.rss_bytes += iv.rss_bytes;
            m.cpu_percent += iv.cpu_percent;
            for (name, op) in &iv.operations {
                add_interval_op(m.operations.entry(name.clone()).or_default(), op);
            }
        }
    }
    let by_key: BTreeMap<(i64, &str), &Hist> = hlog
        .iter()
        .map(|iv| {
            (
                ((iv.start_s / step).round() as i64, iv.tag.as_str()),
                &iv.hist,
            )
        })
        .collect();
    for (k, m) in acc.iter_mut() {
        for (name, op) in m.operations.iter_mut() {
            let get = |kind| by_key.get(&(*k, hlog::tag(name, kind).as_str())).copied();
            if let Some(h) = get(LatencyKind::Corrected) {
                op.corrected_p50_ms = h.percentile_ms(50.0).unwrap_or(0.0);
                op.corrected_p99_ms = h.percentile_ms(99.0).unwrap_or(0.0);
                op.corrected_max_ms = h.max_ms().unwrap_or(0.0);
            }
            if let Some(h) = get(LatencyKind::Raw) {
                op.raw_p50_ms = h.percentile_ms(50.0).unwrap_or(0.0);
                op.raw_p99_ms = h.percentile_ms(99.0).unwrap_or(0.0);
            }
        }
    }
    acc.into_values().collect()
}

/// Adds counts exactly; percentiles become the larger of the two (an upper bound, replaced
/// by the exact values of the merged interval histograms, which every shard logs).
fn add_interval_op(into: &mut IntervalOp, o: &IntervalOp) {
    into.count += o.count;
    into.ok += o.ok;
    into.failed += o.failed;
    for (k, v) in &o.errors {
        *into.errors.entry(k.clone()).or_insert(0) += v;
    }
    names::keep_largest(&mut into.errors, names::INTERVAL_LABELS_MAX);
    into.corrected_p50_ms = into.corrected_p50_ms.max(o.corrected_p50_ms);
    into.corrected_p99_ms = into.corrected_p99_ms.max(o.corrected_p99_ms);
    into.corrected_max_ms = into.corrected_max_ms.max(o.corrected_max_ms);
    into.raw_p50_ms = into.raw_p50_ms.max(o.raw_p50_ms);
    into.raw_p99_ms = into.raw_p99_ms.max(o.raw_p99_ms);
}
