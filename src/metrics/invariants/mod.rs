//! The invariants of a results document: relations between its counts that every run
//! writes by construction — an operation's outcomes add up to its count, its histograms
//! hold one latency per attempt, sessions' timings one value per counted session, the
//! scheduler's arrivals fit in its plan, the intervals fit in the totals. `report`,
//! `compare` and `merge` check every input with [`check`], so a hand-edited `results.json`
//! whose counts no longer add up is refused rather than rendered, compared or added.
//!
//! Only what always holds is checked: nothing that re-sign-ins can break (an agent whose
//! session was lost signs in again, so `signed_in` may exceed `started`), nothing about
//! the gateway's own counters (another system's), and intervals only as bounded by the
//! totals (a document may hold fewer intervals than were run). This module reads a
//! document and changes nothing.

use std::collections::BTreeMap;
use std::fmt;

use super::results::{Results, POLL_EMPTY, POLL_EVENT};
use super::stats::OpStats;

/// One broken invariant: where in the document (a JSON path, `operations.signin.count`)
/// and what does not add up, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub path: String,
    pub problem: String,
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.problem)
    }
}

/// Every broken invariant of `r`, in document order (empty when its counts add up).
pub fn check(r: &Results) -> Vec<Broken> {
    let mut out = Vec::new();
    for (name, op) in &r.operations {
        operation(&mut out, name, op);
    }
    poll_halves(&mut out, r);
    sessions(&mut out, r);
    scheduler(&mut out, r);
    intervals(&mut out, r);
    out
}

/// The message that refuses `file` for `broken` (one invariant a line).
pub fn refusal(file: &str, broken: &[Broken]) -> String {
    let lines: Vec<String> = broken.iter().map(|b| format!("\n  {b}")).collect();
    format!(
        "{file}: its counts do not add up as they do in every results file agentstorm \
         writes (edited by hand?), so it is refused:{}",
        lines.concat()
    )
}

fn broken(out: &mut Vec<Broken>, path: String, problem: String) {
    out.push(Broken { path, problem });
}

fn operation(out: &mut Vec<Broken>, name: &str, op: &OpStats) {
    let at = |field: &str| format!("operations.{name}.{field}");
    // `reconciles` is the authority on whether the outcomes add up; the details below only
    // say where they do not.
    if !op.reconciles() {
        let retcodes = sum(&op.retcodes);
        if retcodes != op.ok + op.handled + op.retcode_failures {
            broken(
                out,
                at("retcodes"),
                format!(
                    "the retcodes add up to {retcodes}, but ok + handled + retcode_failures is {} + {} + {}",
                    op.ok, op.handled, op.retcode_failures
                ),
            );
        }
        let handled = sum(&op.handled_retcodes);
        if handled != op.handled {
            broken(
                out,
                at("handled_retcodes"),
                format!("adds up to {handled}, but handled is {}", op.handled),
            );
        }
        for (field, counted, map_sum) in [
            ("http_statuses", op.http_errors, sum(&op.http_statuses)),
            ("transport", op.transport_errors, sum(&op.transport)),
        ] {
            if map_sum != counted {
                let counter = if field == "transport" {
                    "transport_errors"
                } else {
                    "http_errors"
                };
                broken(
                    out,
                    at(field),
                    format!("adds up to {map_sum}, but {counter} is {counted}"),
                );
            }
        }
        if !op.counts_add_up() {
            broken(
                out,
                at("count"),
                format!(
                    "{}, but the outcome counts beside it ({}) do not add up to it",
                    op.count,
                    outcome_fields(op)
                ),
            );
        }
    }
    for (field, hist) in [("corrected", &op.corrected), ("raw", &op.raw)] {
        if hist.count() != op.judged() {
            broken(
                out,
                at(field),
                format!(
                    "holds {} latencies, but count − interrupted − abandoned is {}: it holds one per attempt that ended",
                    hist.count(),
                    op.judged()
                ),
            );
        }
    }
}

fn sum<K>(m: &BTreeMap<K, u64>) -> u64 {
    m.values().sum()
}

/// The operation's scalar counts other than `count`, as `ok 5, retcode_failures 2, …`
/// (read from the document's own fields, so a count added to `OpStats` is listed too).
fn outcome_fields(op: &OpStats) -> String {
    let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(op) else {
        return String::new();
    };
    fields
        .iter()
        .filter(|(k, _)| k.as_str() != "count")
        .filter_map(|(k, v)| v.as_u64().map(|n| format!("{k} {n}")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `poll_event` and `poll_empty` split the successful polls.
fn poll_halves(out: &mut Vec<Broken>, r: &Results) {
    let count = |name: &str| r.operations.get(name).map_or(0, |s| s.count);
    let halves = count(POLL_EVENT) + count(POLL_EMPTY);
    let ok = r.operations.get("poll").map_or(0, |s| s.ok);
    if halves != ok {
        broken(
            out,
            "operations.poll.ok".into(),
            format!(
                "{ok} successful polls, but {POLL_EVENT} and {POLL_EMPTY}, which split them, \
                 count {} + {}",
                count(POLL_EVENT),
                count(POLL_EMPTY)
            ),
        );
    }
}

fn sessions(out: &mut Vec<Broken>, r: &Results) {
    let s = &r.sessions;
    let at = |field: &str| format!("sessions.{field}");
    let mut equal = |field: &str, held: u64, what: &str, counted: u64| {
        if held != counted {
            broken(
                out,
                at(field),
                format!("holds {held} values, but {what} is {counted}: one value each"),
            );
        }
    };
    equal(
        "time_to_signed_in",
        s.time_to_signed_in.count(),
        "signed_in",
        s.signed_in,
    );
    equal("time_to_ready", s.time_to_ready.count(), "ready", s.ready);
    equal(
        "lost_at",
        s.lost_at.count(),
        "signed_out_unexpected",
        s.signed_out_unexpected,
    );
    if !s.event_delivery_by_type.is_empty() {
        let by_type: u64 = s.event_delivery_by_type.values().map(|h| h.count()).sum();
        equal(
            "event_delivery",
            s.event_delivery.count(),
            "the sum of event_delivery_by_type",
            by_type,
        );
    }
    let mut at_most = |field: &str, n: u64, what: &str, bound: u64| {
        if n > bound {
            broken(out, at(field), format!("{n}, more than {what} ({bound})"));
        }
    };
    at_most("ready", s.ready, "signed_in", s.signed_in);
    let ended = s.signed_out_clean + s.signed_out_unexpected + s.left_signed_in;
    at_most(
        "signed_out_clean",
        ended,
        "signed_in; with signed_out_unexpected and left_signed_in, the sessions that \
         ended after signing in",
        s.signed_in,
    );
    at_most(
        "session_length",
        s.session_length.count(),
        "signed_in (one length per signed-in session)",
        s.signed_in,
    );
    at_most(
        "back_at",
        s.back_at.count(),
        "lost sessions (lost_at)",
        s.lost_at.count(),
    );
    at_most("back_at", s.back_at.count(), "ready", s.ready);
    at_most(
        "throttled_agents",
        s.throttled_agents,
        "throttled (replies)",
        s.throttled,
    );
    let sum = |f: fn(&crate::metrics::nodes::NodeSessions) -> u64| -> u64 {
        s.nodes.values().map(f).sum()
    };
    at_most(
        "nodes",
        sum(|n| n.signed_in),
        "signed_in (the nodes' signed_in together)",
        s.signed_in,
    );
    at_most(
        "nodes",
        sum(|n| n.lost_at.count()),
        "lost sessions (the nodes' lost_at together)",
        s.lost_at.count(),
    );
    at_most(
        "nodes",
        sum(|n| n.back_at.count()),
        "agents back (the nodes' back_at together)",
        s.back_at.count(),
    );
}

fn scheduler(out: &mut Vec<Broken>, r: &Results) {
    let s = &r.scheduler;
    let offered = s.started + s.not_started + s.dropped_late;
    if offered > s.planned_arrivals {
        broken(
            out,
            "scheduler.planned_arrivals".into(),
            format!(
                "{}, fewer than started + not_started + dropped_late ({} + {} + {})",
                s.planned_arrivals, s.started, s.not_started, s.dropped_late
            ),
        );
    }
    if s.lag.count() != s.started + s.dropped_late {
        broken(
            out,
            "scheduler.lag".into(),
            format!(
                "holds {} values, but started + dropped_late is {} + {}: one value each",
                s.lag.count(),
                s.started,
                s.dropped_late
            ),
        );
    }
}

fn intervals(out: &mut Vec<Broken>, r: &Results) {
    let mut sums: BTreeMap<&str, [u64; 3]> = BTreeMap::new();
    let mut arrivals = 0u64;
    for (i, iv) in r.intervals.iter().enumerate() {
        arrivals += iv.arrivals;
        for (name, op) in &iv.operations {
            if op.ok + op.failed > op.count {
                broken(
                    out,
                    format!("intervals[{i}].operations.{name}.count"),
                    format!(
                        "{}, fewer than ok + failed ({} + {})",
                        op.count, op.ok, op.failed
                    ),
                );
            }
            let e = sums.entry(name).or_default();
            e[0] += op.count;
            e[1] += op.ok;
            e[2] += op.failed;
        }
    }
    for (name, [count, ok, failed]) in sums {
        let total = r.operations.get(name);
        let totals = [
            ("count", count, total.map_or(0, |s| s.count)),
            ("ok", ok, total.map_or(0, |s| s.ok)),
            ("failed", failed, total.map_or(0, OpStats::failed)),
        ];
        for (field, sum, whole) in totals {
            if sum > whole {
                broken(
                    out,
                    format!("intervals[*].operations.{name}.{field}"),
                    format!(
                        "the intervals add up to {sum}, more than the run's total ({whole}{})",
                        if field == "failed" {
                            String::new()
                        } else {
                            format!(", operations.{name}.{field}")
                        }
                    ),
                );
            }
        }
    }
    if arrivals > r.scheduler.started {
        broken(
            out,
            "intervals[*].arrivals".into(),
            format!(
                "the intervals add up to {arrivals}, more than scheduler.started ({})",
                r.scheduler.started
            ),
        );
    }
}

#[cfg(test)]
mod tests;
