//! merge: the two shards of a run merge into the whole (counts, a percentile checked
//! against a hand-added histogram, sessions, events, aligned intervals and hlogs, failure
//! times on the merged timeline); derived fields left to the derive step; refusals (other
//! scenarios, bad times and interval lengths, an interval log that does not hold the
//! shard's latencies). Every field's rule is walked in `merge_rules`.

use agentstorm::analysis::merge::{merge, MergeError};
use agentstorm::metrics::exemplar::exemplar;
use agentstorm::metrics::hlog::{HlogInterval, LatencyKind};
use agentstorm::metrics::results::{
    CapacityResult, DriftFinding, DriftMeasure, IntervalOp, IntervalSnapshot, Recovery, RunStatus,
    ThresholdVerdict,
};
use agentstorm::metrics::{Hist, OpStats, Operation, Results};
use agentstorm::protocol::GatewayStats;

use crate::support::fixture;

/// Shard `k` of 2 whose sign-ins took `latencies_ms`, started at `started_at`, with two
/// 10 s intervals (the first holding every sign-in) and the matching hlog.
fn shard(
    k: u32,
    latencies_ms: &[u64],
    started_at: &str,
    failed: u64,
) -> (Results, Vec<HlogInterval>) {
    let mut r = fixture::empty_results("shift-start");
    fixture::make_shard(&mut r, k, 2, "1001-3000");
    r.started_at = started_at.into();
    r.duration_s = 20.0;
    let mut s = OpStats::default();
    for (i, ms) in latencies_ms.iter().enumerate() {
        let outcome = if (i as u64) < failed {
            fixture::code("100-003")
        } else {
            fixture::ok()
        };
        s.record(&fixture::sample(Operation::Signin, outcome, 1, *ms));
    }
    r.sessions.started = latencies_ms.len() as u64;
    r.sessions.signed_in = latencies_ms.len() as u64 - failed;
    for ms in &latencies_ms[failed as usize..] {
        r.sessions.time_to_signed_in.record_us(ms * 1000);
    }
    r.events
        .insert("AgentState_Ready".into(), latencies_ms.len() as u64);
    r.scheduler.planned_arrivals = latencies_ms.len() as u64;
    r.scheduler.started = latencies_ms.len() as u64;
    for _ in latencies_ms {
        r.scheduler.lag.record_us(1_000);
    }
    r.intervals = vec![
        IntervalSnapshot {
            start_s: 0.0,
            end_s: 10.0,
            active_agents: 5,
            arrivals: latencies_ms.len() as u64,
            operations: [("signin".to_string(), IntervalOp::from_stats(&s))].into(),
            ..Default::default()
        },
        IntervalSnapshot {
            start_s: 10.0,
            end_s: 20.0,
            active_agents: 3,
            ..Default::default()
        },
    ];
    let hlog = vec![
        HlogInterval {
            tag: "signin.corrected".into(),
            start_s: 0.0,
            end_s: 10.0,
            hist: s.corrected.clone(),
        },
        HlogInterval {
            tag: "signin.raw".into(),
            start_s: 0.0,
            end_s: 10.0,
            hist: s.raw.clone(),
        },
    ];
    r.operations.insert("signin".into(), s);
    (r, hlog)
}

const T0: &str = "2026-01-01T00:00:00Z";

#[test]
fn two_halves_merge_into_the_whole() {
    let a_ms: Vec<u64> = (1..=500).collect();
    let b_ms: Vec<u64> = (501..=1000).map(|v| v * 3).collect();
    let (a, ha) = shard(0, &a_ms, T0, 2);
    let (b, hb) = shard(1, &b_ms, T0, 1);
    let all: Vec<u64> = a_ms.iter().chain(&b_ms).copied().collect();
    let (whole, _) = shard(0, &all, T0, 0);

    let (m, hlog) = merge(&[(a.clone(), ha), (b.clone(), hb)]).expect("merges");
    let s = &m.operations["signin"];
    let w = &whole.operations["signin"];
    assert_eq!(s.count, 1000);
    assert_eq!((s.ok, s.retcode_failures), (997, 3));
    assert!(s.reconciles());
    // the merged histogram is the whole run's histogram, exactly
    assert_eq!(s.corrected, w.corrected);
    assert_eq!(s.raw.count(), 1000);
    let mut by_hand = Hist::new();
    for ms in &all {
        by_hand.record_us((ms + 1) * 1000); // corrected = lag 1 ms + raw
    }
    assert_eq!(s.corrected.percentile_ms(99.0), by_hand.percentile_ms(99.0));
    assert_eq!(s.corrected.percentile_ms(50.0), by_hand.percentile_ms(50.0));
    assert_eq!(m.sessions.started, 1000);
    assert_eq!(m.sessions.signed_in, 997);
    assert_eq!(m.sessions.time_to_signed_in.count(), 997);
    assert_eq!(m.events["AgentState_Ready"], 1000);
    assert_eq!(m.scheduler.planned_arrivals, 1000);
    assert_eq!(m.scenario.hash, a.scenario.hash);
    assert_eq!(m.status, RunStatus::Completed);

    // same start: intervals line up one to one and add
    assert_eq!(m.intervals.len(), 2);
    let iv = &m.intervals[0];
    assert_eq!((iv.start_s, iv.end_s), (0.0, 10.0));
    assert_eq!(iv.active_agents, 10);
    assert_eq!(iv.arrivals, 1000);
    let op = &iv.operations["signin"];
    assert_eq!((op.count, op.ok, op.failed), (1000, 997, 3));
    assert_eq!(op.errors["100-003"], 3);
    // interval percentiles recomputed from the merged hlog, not the max of the shards'
    assert_eq!(Some(op.corrected_p99_ms), by_hand.percentile_ms(99.0));
    assert_eq!(Some(op.corrected_p50_ms), by_hand.percentile_ms(50.0));
    assert_eq!(hlog.len(), 2);
    assert_eq!(hlog[0].tag, "signin.corrected");
    assert_eq!(hlog[0].hist, w.corrected);

    // and the merged document survives a write/load
    let dir = tempfile::tempdir().expect("tempdir");
    agentstorm::report::write_all(&m, dir.path()).expect("writes");
    let back = Results::load(&dir.path().join("results.json")).expect("loads");
    assert_eq!(back, m);
}

#[test]
fn a_later_shard_is_aligned_by_wall_time() {
    let (mut a, ha) = shard(0, &[10, 20], T0, 0);
    a.ended_at = "2026-01-01T00:00:20Z".into();
    // started 10.2 s later: its first interval is the merged timeline's second
    let (mut b, hb) = shard(1, &[30], "2026-01-01T00:00:10.2Z", 0);
    b.ended_at = "2026-01-01T00:00:30.2Z".into();
    // a failure 1 s into shard 1 happened 11.2 s into the merged run
    let at_1s = exemplar(
        Operation::Signin,
        &fixture::code("100-003"),
        1001,
        1.0,
        None,
        b"",
    );
    b.failures.offer(at_1s);
    let (m, hlog) = merge(&[(a, ha), (b, hb)]).expect("merges");
    assert_eq!(m.started_at, T0);
    assert!((m.duration_s - 30.2).abs() < 1e-6, "{}", m.duration_s);
    let starts: Vec<f64> = m.intervals.iter().map(|i| i.start_s).collect();
    assert_eq!(starts, [0.0, 10.0, 20.0]);
    assert_eq!(m.intervals[0].operations["signin"].count, 2);
    assert_eq!(m.intervals[1].operations["signin"].count, 1);
    assert_eq!(m.intervals[1].active_agents, 3 + 5);
    let second: Vec<&HlogInterval> = hlog.iter().filter(|i| i.start_s == 10.0).collect();
    assert_eq!(second.len(), 2);
    assert_eq!(second[0].hist.count(), 1);
    let kept: Vec<f64> = m.failures.all().map(|e| e.at_s).collect();
    assert_eq!(kept.len(), 1);
    assert!((kept[0] - 11.2).abs() < 1e-6, "{kept:?}");
}

#[test]
fn derived_fields_are_left_to_the_derive_step() {
    let (mut a, ha) = shard(0, &[10, 20], T0, 0);
    let (b, hb) = shard(1, &[30], T0, 0);
    // what shard 0 judged of its own share
    a.derived.thresholds = vec![ThresholdVerdict {
        name: "signin.p99".into(),
        passed: false,
        ..Default::default()
    }];
    a.derived.recovery = Some(Recovery {
        lost: 1,
        ..Default::default()
    });
    a.derived.drift = vec![DriftFinding {
        operation: "signin".into(),
        measure: DriftMeasure::P99,
        points: 2,
        slope_per_hour: 1.0,
        start: 1.0,
        end: 2.0,
        change_pct: None,
        z: 0.0,
        p_value: 1.0,
        significant: true,
        summary: "rises".into(),
        p_adjusted: None,
        family_size: 1,
        variance_factor: None,
        practical: None,
    }];
    a.capacity = Some(CapacityResult {
        max_sustainable_rate_per_s: Some(5.0),
        ..Default::default()
    });
    let (m, _) = merge(&[(a.clone(), ha), (b, hb)]).expect("merges");
    assert!(
        m.derived.thresholds.is_empty()
            && m.derived.drift.is_empty()
            && m.derived.recovery.is_none()
    );
    // the capacity search's steps are the first shard's (as before)
    assert_eq!(m.capacity, a.capacity);
}

#[test]
fn an_interval_log_that_does_not_hold_the_shards_latencies_is_refused() {
    let (a, ha) = shard(0, &[10, 20, 30], T0, 0);
    let (b, hb) = shard(1, &[40], T0, 0);
    // empty: none of shard 1's latencies
    let e = merge(&[(a.clone(), ha.clone()), (b.clone(), vec![])]).expect_err("refused");
    assert_eq!(
        e,
        MergeError::HlogCounts {
            index: 1,
            operation: "signin".into(),
            kind: LatencyKind::Corrected,
            logged: 0,
            counted: 1,
        }
    );
    assert!(e.to_string().contains("input 1: the latency.hlog beside it holds 0 corrected latencies of signin, but its results count 1"), "{e}");
    // cut: shard 0's log without its raw line
    let cut: Vec<HlogInterval> = ha
        .iter()
        .filter(|i| i.tag != "signin.raw")
        .cloned()
        .collect();
    let e = merge(&[(a.clone(), cut), (b.clone(), hb.clone())]).expect_err("refused");
    assert!(
        matches!(
            &e,
            MergeError::HlogCounts {
                index: 0,
                kind: LatencyKind::Raw,
                logged: 0,
                counted: 3,
                ..
            }
        ),
        "{e}"
    );
    // another shard's log: other counts
    let e = merge(&[(a.clone(), hb.clone()), (b.clone(), hb.clone())]).expect_err("refused");
    assert!(
        matches!(
            &e,
            MergeError::HlogCounts {
                index: 0,
                logged: 1,
                counted: 3,
                ..
            }
        ),
        "{e}"
    );
    // latencies of an operation the results do not count
    let mut extra = ha.clone();
    extra.push(HlogInterval {
        tag: "logout.corrected".into(),
        ..ha[0].clone()
    });
    let e = merge(&[(a.clone(), extra), (b.clone(), hb.clone())]).expect_err("refused");
    assert!(
        matches!(
            &e,
            MergeError::HlogCounts {
                index: 0,
                counted: 0,
                ..
            }
        ),
        "{e}"
    );
    // a tag no run writes
    let mut odd = ha.clone();
    odd[0].tag = "signin".into();
    let e = merge(&[(a, odd), (b, hb)]).expect_err("refused");
    assert_eq!(
        e,
        MergeError::HlogTag {
            index: 0,
            tag: "signin".into()
        }
    );
}

#[test]
fn a_shard_whose_counts_do_not_add_up_is_refused_with_each_broken_invariant() {
    let (a, ha) = shard(0, &[10, 20], T0, 0);
    let (mut b, hb) = shard(1, &[30], T0, 0);
    b.operations.get_mut("signin").expect("signin").ok += 1;
    b.scheduler.dropped_late = 9;
    let e = merge(&[(a, ha), (b, hb)]).expect_err("refused");
    let MergeError::Inconsistent { index: 1, broken } = &e else {
        panic!("{e}");
    };
    let paths: Vec<&str> = broken.iter().map(|b| b.path.as_str()).collect();
    assert!(paths.contains(&"operations.signin.count"), "{paths:?}");
    assert!(paths.contains(&"scheduler.planned_arrivals"), "{paths:?}");
    let text = e.to_string();
    assert!(
        text.starts_with("input 1: its counts do not add up"),
        "{text}"
    );
}

#[test]
fn different_scenarios_are_refused_with_a_clear_error() {
    let (a, ha) = shard(0, &[1], T0, 0);
    let (mut b, hb) = shard(1, &[1], T0, 0);
    b.scenario.hash = "ffff".into();
    b.scenario.name = "other".into();
    let e = merge(&[(a, ha), (b, hb)]).expect_err("refused");
    assert!(matches!(e, MergeError::ScenarioMismatch { index: 1, .. }));
    let text = e.to_string();
    assert!(
        text.contains("\"other\"") && text.contains("ffff"),
        "{text}"
    );
    assert_eq!(merge(&[]).expect_err("empty"), MergeError::Empty);
}

#[test]
fn bad_times_and_interval_lengths_are_refused() {
    let (a, ha) = shard(0, &[1], T0, 0);
    let (mut b, hb) = shard(1, &[1], T0, 0);
    b.started_at = "yesterday".into();
    assert!(matches!(
        merge(&[(a.clone(), ha.clone()), (b, hb.clone())]),
        Err(MergeError::BadTime { index: 1, .. })
    ));
    let (mut c, hc) = shard(1, &[1], T0, 0);
    for iv in &mut c.intervals {
        iv.start_s *= 3.0;
        iv.end_s *= 3.0;
    }
    let e = merge(&[(a, ha), (c, hc)]).expect_err("refused");
    assert!(
        matches!(
            e,
            MergeError::IntervalMismatch {
                index: 1,
                first: 0,
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("input 1 uses 30.000 s intervals, input 0 uses 10.000 s"),
        "{e}"
    );
}

#[test]
fn status_and_gateway_stats() {
    let (a, ha) = shard(0, &[1], T0, 0);
    let (mut b, hb) = shard(1, &[1], T0, 0);
    b.status = RunStatus::Aborted {
        reason: "target unreachable".into(),
    };
    let mut g = GatewayStats {
        signed_in: 2,
        ..Default::default()
    };
    g.requests
        .insert("login".into(), [("0".to_string(), 5)].into());
    let mut a2 = a.clone();
    a2.gateway = Some(g.clone());
    b.gateway = Some(g.clone());
    let (m, _) = merge(&[(a2.clone(), ha.clone()), (b.clone(), hb.clone())]).expect("merges");
    assert!(
        matches!(&m.status, RunStatus::Aborted { reason } if reason == "shard 1/2: target unreachable"),
        "{:?}",
        m.status
    );
    // embedded targets: each shard had its own gateway, so the counters add
    let gw = m.gateway.expect("gateway");
    assert_eq!(gw.signed_in, 4);
    assert_eq!(gw.requests["login"]["0"], 10);

    // one shared external gateway: counters are not added up N times
    for r in [&mut a2, &mut b] {
        r.target.embedded = false;
        r.target.url = "https://gw.example:8043".into();
    }
    b.ended_at = "2026-01-01T00:05:00Z".into();
    b.gateway.as_mut().expect("gw").signed_in = 7;
    let (m, _) = merge(&[(a2, ha), (b, hb)]).expect("merges");
    assert_eq!(m.gateway.expect("gateway").signed_in, 7);
    assert_eq!(m.target.url, "https://gw.example:8043");
}

#[test]
fn shards_on_one_gateway_merge_into_one_window_of_its_counters() {
    let logins = |n: u64| {
        let mut g = GatewayStats::default();
        if n > 0 {
            g.requests
                .insert("login".into(), [("0".to_string(), n)].into());
        }
        g.signouts.logout = n;
        g
    };
    // One reused gateway had counted 100 sign-ins before. Shard a read it at 100 and at
    // 130; shard b, starting a little later, at 104 (a's first 4 already counted) and, ending
    // last, at 140: the two shards made 40 together, 30 + 36 counted by each window.
    let (mut a, ha) = shard(0, &[1], T0, 0);
    let (mut b, hb) = shard(1, &[1], T0, 0);
    for (r, start, end) in [(&mut a, 100, 130), (&mut b, 104, 140)] {
        r.target.embedded = false;
        r.target.url = "https://gw.example:8043".into();
        r.gateway_at_start = Some(logins(start));
        r.gateway = Some(logins(end).since(&logins(start)));
    }
    b.ended_at = "2026-01-01T00:05:00Z".into();
    b.gateway.as_mut().expect("gw").signed_in = 3;
    let (m, _) = merge(&[(a.clone(), ha.clone()), (b.clone(), hb.clone())]).expect("merges");
    let g = m.gateway.expect("gateway");
    assert_eq!(g.requests["login"]["0"], 40);
    assert_eq!(g.signouts.logout, 40);
    assert_eq!(g.signed_in, 3, "the shard that ended last");
    assert_eq!(m.gateway_at_start, Some(logins(100)));

    // A shard from before the start was kept: the counts of the shard that ended last.
    a.gateway_at_start = None;
    let (m, _) = merge(&[(a, ha), (b, hb)]).expect("merges");
    assert_eq!(m.gateway.expect("gateway").requests["login"]["0"], 36);
    assert_eq!(m.gateway_at_start, None);
}
