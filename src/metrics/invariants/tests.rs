//! Tests of `metrics::invariants`.

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
        .contains("holds 4 latencies, but count − interrupted − abandoned is 3"));
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
            (|s: &mut crate::metrics::SessionStats| s.time_to_signed_in.record_us(1)) as fn(&mut _),
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
