//! The merge rule of every measured field, proven by walking documents: two shards whose
//! every numeric field and histogram is set (and different), merged, and each numeric leaf
//! and histogram of the three documents' JSON checked against its rule — counts, maps and
//! histograms add, peaks add (documented upper bounds), times and the first shard's fields
//! are kept — one test per group of fields. A field added to `Results` (or to the structs
//! inside it) and left out of the shards below fails `every_field_of_a_shard_is_set`, and a
//! field the merge forgets fails its group's test, so no field can be forgotten.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use agentstorm::analysis::merge::merge;
use agentstorm::metrics::exemplar::exemplar;
use agentstorm::metrics::hlog::{tag, HlogInterval, LatencyKind};
use agentstorm::metrics::invariants;
use agentstorm::metrics::results::{
    CapacityResult, CapacityStep, DriftFinding, DriftMeasure, IntervalOp, IntervalSnapshot,
    Recovery, ThresholdVerdict, POLL_EMPTY, POLL_EVENT,
};
use agentstorm::metrics::{
    Hist, OpStats, Operation, Outcome, PollResult, Results, Retcode, TransportKind,
};
use agentstorm::protocol::GatewayStats;

use crate::support::fixture;

const T0: &str = "2026-01-01T00:00:00Z";

/// Interval `i`'s per-operation stats, by operation.
type IntervalStats = BTreeMap<String, OpStats>;

/// Shard `k` of 2: every measured field non-zero, differing with `k`; its two 10 s
/// intervals and their interval log; its derived fields set (the merge must drop them).
fn full_shard(k: u64) -> (Results, Vec<HlogInterval>, [IntervalStats; 2]) {
    let mut r = fixture::empty_results("rules");
    fixture::make_shard(&mut r, k as u32, 2, "1001-1100");
    r.shard.as_mut().expect("shard").late_start_s = 0.5 + k as f64;
    r.started_at = T0.into();
    r.ended_at = "2026-01-01T00:00:20Z".into();
    r.duration_s = 20.0;

    // Operations: every outcome in each interval, successful polls split by event.
    let mut ivs: [IntervalStats; 2] = Default::default();
    for (i, stats) in ivs.iter_mut().enumerate() {
        for op in [Operation::Signin, Operation::Poll, Operation::Logout] {
            let outcomes = [
                fixture::ok(),
                fixture::ok(),
                fixture::code("100-006"),
                fixture::http(503),
                fixture::transport(TransportKind::Reset),
                Outcome::Handled {
                    retcode: agentstorm::metrics::Retcode::new("100-002"),
                },
                Outcome::Interrupted,
                Outcome::Abandoned,
            ];
            for (n, outcome) in outcomes.into_iter().enumerate() {
                let ms = 10 * (k + 1) + 3 * i as u64 + n as u64;
                for _ in 0..=k {
                    let mut s = fixture::sample(op, outcome, 1 + k, ms);
                    if op == Operation::Poll
                        && matches!(outcome, Outcome::Ok { retcode } if retcode.is_success())
                    {
                        let event = n == 0;
                        s.poll = Some(if event {
                            PollResult::Event
                        } else {
                            PollResult::Empty
                        });
                        let half = if event { POLL_EVENT } else { POLL_EMPTY };
                        stats.entry(half.into()).or_default().record(&s);
                    }
                    stats.entry(op.name().into()).or_default().record(&s);
                }
            }
        }
    }
    let mut hlog = Vec::new();
    for (i, stats) in ivs.iter().enumerate() {
        let (start_s, end_s) = (10.0 * i as f64, 10.0 * (i + 1) as f64);
        for (name, s) in stats {
            for (kind, hist) in [
                (LatencyKind::Corrected, &s.corrected),
                (LatencyKind::Raw, &s.raw),
            ] {
                hlog.push(HlogInterval {
                    tag: tag(name, kind),
                    start_s,
                    end_s,
                    hist: hist.clone(),
                });
            }
            r.operations.entry(name.clone()).or_default().add(s);
        }
        r.intervals.push(IntervalSnapshot {
            start_s,
            end_s,
            active_agents: 5 + k + i as u64,
            signed_in: 4 + k,
            arrivals: 3 + k,
            operations: stats
                .iter()
                .map(|(n, s)| (n.clone(), IntervalOp::from_stats(s)))
                .collect(),
            rss_bytes: 1_000_000 * (k + 1),
            cpu_percent: 10.5 * (k + 1) as f64,
        });
    }

    let s = &mut r.sessions;
    s.agents = 15 + k;
    s.started = 20 + k;
    s.resignins = 2 + k;
    s.signed_in = 10 + k;
    s.ready = 9 + k;
    s.signed_out_clean = 3 + k;
    s.signed_out_unexpected = 2 + k;
    s.signin_given_up = 1 + k;
    s.left_signed_in = 1 + k;
    s.never_ready = 1 + k;
    let record = |h: &mut Hist, n: u64, base_us: u64| {
        for v in 0..n {
            h.record_us(base_us + 1_000 * v + 7 * k);
        }
    };
    record(&mut s.time_to_signed_in, s.signed_in, 50_000);
    record(&mut s.time_to_ready, s.ready, 80_000);
    record(&mut s.session_length, 4 + k, 5_000_000);
    record(&mut s.lost_at, s.signed_out_unexpected, 3_000_000);
    record(&mut s.back_at, 1, 4_000_000);
    s.throttled = 4 + k;
    s.throttled_agents = 2 + k;
    s.signin_retries = 3 + k;
    s.resignin_attempts = 2 + k;
    s.retry_wait_us = 1_500_000 * (k + 1);
    let node = s.node("AgentGateway0");
    node.signed_in = 6 + k;
    node.resignin_attempts = 1 + k;
    record(&mut node.lost_at, 1, 3_000_000);
    record(&mut node.back_at, 1, 4_000_000);
    for n in 0..3 + k {
        s.record_delivery("AgentState_Ready", 1_000 + n);
        s.record_delivery("AgentOther_InService", 2_000 + n);
    }

    r.events = [
        ("AgentState_Ready".to_string(), 9 + k),
        ("AgentOther_InService".to_string(), 2 + k),
    ]
    .into();

    let sch = &mut r.scheduler;
    sch.planned_arrivals = 40 + k;
    sch.started = 20 + k;
    sch.not_started = 2 + k;
    // the reviewer's example: 7 + 5 merged to 0
    sch.dropped_late = if k == 0 { 7 } else { 5 };
    record(&mut sch.lag, sch.started + sch.dropped_late, 200);
    sch.peak_active_agents = 15 + k;

    let mut g = GatewayStats {
        signed_in: 3 + k,
        signed_in_peak: 12 + k,
        ..Default::default()
    };
    g.requests.insert(
        "login".into(),
        [("0".to_string(), 10 + k), ("100-006".to_string(), 1 + k)].into(),
    );
    g.signouts.logout = 3 + k;
    g.signouts.forced = 1 + k;
    g.signouts.timeout = 2 + k;
    g.signouts.replaced = 1 + k;
    r.gateway = Some(g);

    // One failure kind per shard (the earliest cases of a kind are kept; apart, they add).
    let code = format!("100-00{}", k + 1);
    let outcome = Outcome::Ok {
        retcode: Retcode::new(&code),
    };
    let at_s = 1.5 + k as f64;
    r.failures.offer(exemplar(
        Operation::Signin,
        &outcome,
        1001 + k as u32,
        at_s,
        Some("why"),
        b"{}",
    ));
    r.failures.kinds_left_out = 1 + k;

    r.capacity = Some(CapacityResult {
        max_sustainable_rate_per_s: Some(5.0 + k as f64),
        steps: vec![CapacityStep {
            rate_per_s: 5.0 + k as f64,
            start_s: 1.0,
            end_s: 9.0,
            arrivals: 8 + k,
            achieved_rate_per_s: 4.5,
            signin_count: 8,
            signin_failed: 1,
            signin_error_pct: 12.5,
            signin_p99_ms: Some(30.0),
            signin_p50_ms: Some(12.0),
            late_arrival_pct: 2.0,
            passed: true,
            reason: String::new(),
        }],
        slo: "signin.p99 < 1s".into(),
    });
    // Derived: what the shard judged of its own share.
    r.derived.thresholds = vec![ThresholdVerdict {
        name: "signin.p99".into(),
        measured: "30 ms".into(),
        allowed: "< 800ms".into(),
        passed: true,
        value: Some(30.0),
        window_s: None,
    }];
    r.derived.recovery = Recovery::from_sessions(&r.sessions);
    r.derived.drift = vec![DriftFinding {
        operation: "signin".into(),
        measure: DriftMeasure::P99,
        points: 2,
        slope_per_hour: 1.0,
        start: 1.0,
        end: 2.0,
        change_pct: Some(100.0),
        z: 1.0,
        p_value: 0.5,
        significant: false,
        summary: "flat".into(),
        p_adjusted: None,
        family_size: 1,
        variance_factor: None,
        practical: None,
    }];
    assert_eq!(invariants::check(&r), vec![], "shard {k} is consistent");
    (r, hlog, ivs)
}

struct Merged {
    a: BTreeMap<String, Value>,
    b: BTreeMap<String, Value>,
    m: BTreeMap<String, Value>,
    /// The merged intervals' operations, recomputed by hand from the added histograms.
    interval_ops: BTreeMap<String, Value>,
    doc: Results,
}

fn merged() -> Merged {
    let (a, ha, ia) = full_shard(0);
    let (b, hb, ib) = full_shard(1);
    let (m, _) = merge(&[(a.clone(), ha), (b.clone(), hb)]).expect("merges");
    let mut interval_ops = BTreeMap::new();
    for (i, (x, y)) in ia.iter().zip(&ib).enumerate() {
        for (name, s) in x {
            let mut sum = s.clone();
            sum.add(&y[name]);
            let v = serde_json::to_value(IntervalOp::from_stats(&sum)).expect("json");
            flatten(
                &format!("intervals[{i}].operations.{name}"),
                &v,
                &mut interval_ops,
            );
        }
    }
    Merged {
        a: leaves(&a),
        b: leaves(&b),
        m: leaves(&m),
        interval_ops,
        doc: m,
    }
}

fn leaves(r: &Results) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    flatten("", &serde_json::to_value(r).expect("json"), &mut out);
    out
}

/// Every number, and every string that is a histogram, by JSON path.
fn flatten(path: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match v {
        Value::Object(map) => map.iter().for_each(|(k, v)| flatten(&join(k), v, out)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .for_each(|(i, v)| flatten(&format!("{path}[{i}]"), v, out)),
        Value::Number(_) => {
            out.insert(path.to_string(), v.clone());
        }
        Value::String(s) if hist(s).is_some() => {
            out.insert(path.to_string(), v.clone());
        }
        _ => {}
    }
}

fn hist(s: &str) -> Option<Hist> {
    Hist::from_base64(s).ok()
}

/// The rule of a field, by its path.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Rule {
    /// The shards' values (or histograms) added; a peak added is an upper bound.
    Add,
    /// The first shard's.
    First,
    /// Both shards' value, which is the merged one's.
    Same,
    /// Recomputed exactly from the merged interval histograms.
    FromMergedHistograms,
    /// Checked by other tests (the shard record, the run's span).
    Elsewhere,
}

fn rule(path: &str) -> Rule {
    let interval_field = path.starts_with("intervals[") && !path.contains(".operations.");
    if path == "schema_version"
        || interval_field && (path.ends_with(".start_s") || path.ends_with(".end_s"))
    {
        Rule::Same
    } else if path.starts_with("capacity.") {
        Rule::First
    } else if path.starts_with("intervals[") && path.ends_with("_ms") {
        Rule::FromMergedHistograms
    } else if path.starts_with("shard.") || path == "duration_s" {
        Rule::Elsewhere
    } else {
        Rule::Add
    }
}

fn num(v: Option<&Value>) -> f64 {
    v.and_then(Value::as_f64).unwrap_or(0.0)
}

fn hist_at(v: Option<&Value>) -> Hist {
    v.and_then(Value::as_str).and_then(hist).unwrap_or_default()
}

/// Checks every leaf under `prefix` of the merged document (and of either shard) against
/// its rule; returns how many were checked.
fn check_group(prefix: &str) -> usize {
    let w = merged();
    let paths: BTreeSet<&String> =
        w.a.keys()
            .chain(w.b.keys())
            .chain(w.m.keys())
            .filter(|p| p.starts_with(prefix))
            .collect();
    let mut wrong = Vec::new();
    for path in &paths {
        let (a, b, m) = (w.a.get(*path), w.b.get(*path), w.m.get(*path));
        let is_hist = [a, b, m].iter().any(|v| v.is_some_and(|v| v.is_string()));
        let ok = match (rule(path), is_hist) {
            (Rule::Elsewhere, _) => true,
            (Rule::Add, true) => {
                let mut sum = hist_at(a);
                sum.add(&hist_at(b));
                hist_at(m) == sum
            }
            (Rule::Add, false) => close(num(m), num(a) + num(b)),
            (Rule::First, _) => m == a,
            (Rule::Same, _) => m == a && a == b,
            (Rule::FromMergedHistograms, _) => {
                m.is_some() && close(num(m), num(w.interval_ops.get(*path)))
            }
        };
        if !ok {
            wrong.push(format!(
                "{path} ({:?}): shard 0 {a:?}, shard 1 {b:?}, merged {m:?}",
                rule(path)
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "fields merged wrong:\n{}",
        wrong.join("\n")
    );
    assert!(!paths.is_empty(), "no field under {prefix}");
    paths.len()
}

fn close(x: f64, y: f64) -> bool {
    (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0)
}

#[test]
fn every_field_of_a_shard_is_set_and_every_group_has_a_test() {
    let (a, _, _) = full_shard(0);
    let (b, _, _) = full_shard(1);
    // Derived fields are set too, but only to be dropped (see derived_fields_…).
    let derived = ["thresholds", "recovery", "drift", "verdict"];
    for (k, r) in [a, b].iter().enumerate() {
        let unset: Vec<String> = leaves(r)
            .into_iter()
            .filter(|(p, _)| !(k == 0 && p == "shard.index") && p != "intervals[0].start_s")
            // the halves of the successful polls have no failures, by definition
            .filter(|(p, _)| !p.contains(&format!("{POLL_EVENT}.")))
            .filter(|(p, _)| !p.contains(&format!("{POLL_EMPTY}.")))
            .filter(|(p, _)| !derived.iter().any(|d| p.starts_with(d)))
            .filter(|(_, v)| match v {
                Value::String(s) => hist(s).is_some_and(|h| h.count() == 0),
                v => v.as_f64() == Some(0.0),
            })
            .map(|(p, _)| p)
            .collect();
        assert!(
            unset.is_empty(),
            "shard {k} leaves fields at zero, so their merge rule goes unchecked: {unset:?}"
        );
        // every measured part of the document is present (none None or empty)
        let v = serde_json::to_value(r).expect("json");
        for (key, value) in v.as_object().expect("object") {
            assert!(
                !(value.is_null() || value.as_array().is_some_and(Vec::is_empty)),
                "shard {k}: {key} is unset"
            );
        }
    }
    // Every top-level field with numbers in it belongs to a group tested below.
    let groups = [
        "operations",
        "sessions",
        "events",
        "scheduler",
        "intervals",
        "gateway",
        "failures",
        "capacity",
        "schema_version",
        "duration_s",
        "shard",
    ];
    let w = merged();
    for path in w.a.keys().chain(w.m.keys()) {
        let top = path.split(['.', '[']).next().unwrap_or_default();
        assert!(
            groups.contains(&top) || derived.contains(&top),
            "{path}: a field with no merge-rule test; add its group"
        );
    }
}

#[test]
fn operations_add_counts_outcome_maps_and_histograms() {
    let n = check_group("operations.");
    // 5 series × (5 counters + outcome maps + 2 histograms)
    assert!(n > 40, "{n}");
    let m = merged().doc;
    assert!(m.operations.values().all(OpStats::reconciles));
}

#[test]
fn sessions_add_counts_and_timings() {
    check_group("sessions.");
}

#[test]
fn events_add() {
    check_group("events.");
}

#[test]
fn scheduler_adds_arrivals_drops_and_lag_and_sums_the_peaks() {
    check_group("scheduler.");
    let m = merged().doc;
    assert_eq!(m.scheduler.dropped_late, 12, "issue 18: 7 + 5 merged to 0");
    // an upper bound: the shards' peaks need not have coincided
    assert_eq!(m.scheduler.peak_active_agents, 15 + 16);
}

#[test]
fn intervals_add_and_their_percentiles_come_from_the_merged_histograms() {
    check_group("intervals[");
    let m = merged().doc;
    assert_eq!(m.intervals.len(), 2);
    // RSS and CPU are summed across the processes
    assert_eq!(m.intervals[0].rss_bytes, 3_000_000);
}

#[test]
fn own_gateways_counters_add() {
    check_group("gateway.");
}

#[test]
fn failures_keep_each_kinds_earliest_cases_on_the_merged_timeline() {
    check_group("failures.");
    assert_eq!(merged().doc.failures.kinds.len(), 2);
}

#[test]
fn capacity_and_schema_are_the_first_shards() {
    check_group("capacity.");
    check_group("schema_version");
}

#[test]
fn derived_fields_are_left_for_the_derive_step() {
    let m = merged().doc;
    assert!(
        m.derived.thresholds.is_empty(),
        "{:?}",
        m.derived.thresholds
    );
    assert!(m.derived.drift.is_empty(), "{:?}", m.derived.drift);
    assert_eq!(m.derived.recovery, None);
    // and the merged document holds every invariant a run's does
    assert_eq!(invariants::check(&m), vec![]);
    let s = m.shard.expect("shard record");
    assert_eq!((s.count, s.merged), (2, 2));
    assert_eq!(m.duration_s, 20.0);
}
