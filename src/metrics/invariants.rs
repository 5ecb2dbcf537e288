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
                    "holds {} latencies, but count − interrupted is {}: it holds one per attempt that ended",
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
mod tests {
    use super::*;
    use crate::metrics::results::{IntervalOp, IntervalSnapshot, RunStatus};
    use crate::metrics::{Operation, Outcome, Retcode, Sample, TransportKind};
    use std::time::{Duration, Instant};

    fn sample(op: Operation, outcome: Outcome, event: Option<bool>) -> Sample {
        let t = Instant::now();
        Sample {
            operation: op,
            intended_at: t,
            sent_at: t,
            done_at: t + Duration::from_millis(2),
            outcome,
            poll: event.map(|e| {
                if e {
                    crate::metrics::PollResult::Event
                } else {
                    crate::metrics::PollResult::Empty
                }
            }),
        }
    }

    fn ok() -> Outcome {
        Outcome::Ok {
            retcode: Retcode::SUCCESS,
        }
    }

    /// A small document whose every invariant holds, with something in each part.
    fn consistent() -> Results {
        let mut r = Results::empty(RunStatus::Completed);
        let mut signin = OpStats::default();
        for outcome in [
            ok(),
            ok(),
            Outcome::Ok {
                retcode: Retcode::new("100-003"),
            },
            Outcome::Http { status: 503 },
            Outcome::Transport {
                kind: TransportKind::Reset,
            },
        ] {
            signin.record(&sample(Operation::Signin, outcome, None));
        }
        let (mut poll, mut event, mut empty) = Default::default();
        for e in [true, true, false] {
            let s = sample(Operation::Poll, ok(), Some(e));
            OpStats::record(&mut poll, &s);
            OpStats::record(if e { &mut event } else { &mut empty }, &s);
        }
        r.intervals = vec![IntervalSnapshot {
            start_s: 0.0,
            end_s: 10.0,
            arrivals: 2,
            operations: [("signin".to_string(), IntervalOp::from_stats(&signin))].into(),
            ..Default::default()
        }];
        r.operations = [
            ("signin", signin),
            ("poll", poll),
            (POLL_EVENT, event),
            (POLL_EMPTY, empty),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let s = &mut r.sessions;
        (s.started, s.signed_in, s.ready) = (3, 2, 2);
        (s.signed_out_clean, s.signed_out_unexpected) = (1, 1);
        for _ in 0..2 {
            s.time_to_signed_in.record_us(1_000);
            s.time_to_ready.record_us(2_000);
            s.session_length.record_us(5_000);
        }
        s.lost_at.record_us(3_000);
        s.back_at.record_us(4_000);
        s.record_delivery("AgentState_Ready", 100);
        let sch = &mut r.scheduler;
        (
            sch.planned_arrivals,
            sch.started,
            sch.not_started,
            sch.dropped_late,
        ) = (5, 2, 1, 1);
        for _ in 0..3 {
            sch.lag.record_us(10);
        }
        r
    }

    fn paths(r: &Results) -> Vec<String> {
        check(r).into_iter().map(|b| b.path).collect()
    }

    #[test]
    fn a_document_as_a_run_writes_it_holds_every_invariant() {
        assert_eq!(check(&consistent()), vec![]);
        assert_eq!(check(&Results::empty(RunStatus::Completed)), vec![]);
    }

    #[test]
    fn outcomes_must_add_up_to_the_count() {
        let mut r = consistent();
        r.operations.get_mut("signin").expect("signin").count += 1;
        let b = check(&r);
        assert_eq!(
            b.iter().map(|b| b.path.as_str()).collect::<Vec<_>>(),
            [
                "operations.signin.count",
                "operations.signin.corrected",
                "operations.signin.raw"
            ]
        );
        assert!(
            b[0].problem
                .starts_with("6, but the outcome counts beside it (")
                && b[0].problem.contains("ok 2")
                && b[0].problem.contains("transport_errors 1"),
            "{}",
            b[0]
        );
    }

    #[test]
    fn outcome_maps_must_add_up_to_their_counters() {
        let mut r = consistent();
        let s = r.operations.get_mut("signin").expect("signin");
        s.ok += 1;
        s.count += 1;
        s.http_errors += 1;
        s.count += 1;
        s.transport_errors += 1;
        s.count += 1;
        let b = check(&r);
        let p: Vec<&str> = b.iter().map(|b| b.path.as_str()).collect();
        assert!(
            p.starts_with(&[
                "operations.signin.retcodes",
                "operations.signin.http_statuses",
                "operations.signin.transport",
            ]),
            "{p:?}"
        );
        assert!(b[0].problem.contains("add up to 3"), "{}", b[0]);
        assert!(
            b[1].problem.contains("http_errors is 2"),
            "{}",
            b[1].problem
        );
    }

    #[test]
    fn histograms_hold_one_latency_per_attempt() {
        let mut r = consistent();
        let s = r.operations.get_mut("poll").expect("poll");
        s.raw.record_us(5);
        assert_eq!(paths(&r), ["operations.poll.raw"]);
        assert!(check(&r)[0]
            .problem
            .contains("holds 4 latencies, but count − interrupted is 3"));
    }

    #[test]
    fn the_poll_halves_split_the_successful_polls() {
        let mut r = consistent();
        r.operations.remove(POLL_EMPTY);
        assert_eq!(paths(&r), ["operations.poll.ok"]);
    }

    #[test]
    fn session_timings_hold_one_value_per_counted_session() {
        for (edit, path) in [
            (
                (|s: &mut crate::metrics::SessionStats| s.time_to_signed_in.record_us(1))
                    as fn(&mut _),
                "sessions.time_to_signed_in",
            ),
            (|s| s.time_to_ready.record_us(1), "sessions.time_to_ready"),
            (|s| s.lost_at.record_us(1), "sessions.lost_at"),
            (|s| s.event_delivery.record_us(1), "sessions.event_delivery"),
        ] {
            let mut r = consistent();
            edit(&mut r.sessions);
            assert_eq!(paths(&r), [path]);
        }
    }

    #[test]
    fn session_counts_fit_in_the_signed_in_sessions() {
        let mut r = consistent();
        r.sessions.left_signed_in = 1; // 1 clean + 1 unexpected + 1 left > 2 signed in
        assert_eq!(paths(&r), ["sessions.signed_out_clean"]);
        let mut r = consistent();
        r.sessions.session_length.record_us(1);
        assert_eq!(paths(&r), ["sessions.session_length"]);
        // more back than lost, and than ready
        let mut r = consistent();
        r.sessions.back_at.record_us(1);
        assert_eq!(paths(&r), ["sessions.back_at"]);
        r.sessions.back_at.record_us(1);
        assert_eq!(paths(&r), ["sessions.back_at", "sessions.back_at"]);
        // re-sign-ins may make signed_in exceed started: not a broken invariant
        let mut r = consistent();
        r.sessions.started = 1;
        assert_eq!(paths(&r), Vec::<String>::new());
    }

    #[test]
    fn ready_is_at_most_signed_in() {
        let mut r = consistent();
        r.sessions.ready = 3;
        r.sessions.time_to_ready.record_us(1);
        assert_eq!(paths(&r), ["sessions.ready"]);
    }

    #[test]
    fn the_scheduler_starts_no_more_than_it_planned() {
        let mut r = consistent();
        r.scheduler.planned_arrivals = 3;
        assert_eq!(paths(&r), ["scheduler.planned_arrivals"]);
        assert!(check(&r)[0].problem.contains("(2 + 1 + 1)"));
        let mut r = consistent();
        r.scheduler.dropped_late = 2; // the lag histogram holds one value fewer
        assert_eq!(paths(&r), ["scheduler.lag"]);
    }

    #[test]
    fn intervals_fit_in_the_totals() {
        let mut r = consistent();
        let iv = r.intervals[0].clone();
        r.intervals.push(iv);
        let p = paths(&r);
        assert_eq!(
            p,
            [
                "intervals[*].operations.signin.count",
                "intervals[*].operations.signin.ok",
                "intervals[*].operations.signin.failed",
                "intervals[*].arrivals",
            ]
        );
        let mut r = consistent();
        let op = r.intervals[0].operations.get_mut("signin").expect("signin");
        op.ok = op.count;
        assert_eq!(paths(&r)[0], "intervals[0].operations.signin.count");
        // fewer intervals than were run is fine
        let mut r = consistent();
        r.intervals.clear();
        assert_eq!(check(&r), vec![]);
    }

    #[test]
    fn every_broken_invariant_is_returned_and_the_refusal_names_each() {
        let mut r = consistent();
        r.operations.get_mut("signin").expect("signin").ok += 1;
        r.scheduler.planned_arrivals = 0;
        let b = check(&r);
        // one edited count breaks its sum and its map at once: both are named
        let p: Vec<&str> = b.iter().map(|b| b.path.as_str()).collect();
        assert_eq!(
            p,
            [
                "operations.signin.retcodes",
                "operations.signin.count",
                "scheduler.planned_arrivals"
            ]
        );
        let text = refusal("x/results.json", &b);
        assert!(text.starts_with("x/results.json: "), "{text}");
        for one in &b {
            assert!(text.contains(&format!("\n  {one}")), "{text}");
        }
    }
}
