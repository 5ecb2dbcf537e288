//! What the live metrics say at one moment, built from the run's totals as the collector
//! merged them (the same `Aggregate` `summary.csv` is written from, so the counters equal
//! the report's counts) and the gauges read beside them. Pure: the caller reads the clock,
//! the recorder's gauges and `/proc`.

use crate::metrics::recorder::{series_name, Aggregate, SERIES};
use crate::metrics::{OpStats, Operation};

use super::family::LATENCY_BUCKETS;
use super::family::{Buckets, Family, Kind, Labels, Number, Unit, Value, LAG_BUCKETS};

/// What is read beside the totals when a snapshot is taken.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Gauges {
    /// Agents alive (arrived, session not ended).
    pub active_agents: u64,
    /// Agents signed in, as the harness believes.
    pub signed_in: u64,
    /// Harness resident memory, bytes (0 where unknown: not exported).
    pub rss_bytes: u64,
    /// Harness CPU time used so far, seconds (None where unknown: not exported).
    pub cpu_seconds: Option<f64>,
    /// When the run's clock started, seconds since the Unix epoch.
    pub start_unix_s: f64,
}

/// The outcome classes of `agentstorm_operations_total{result}`: every call ends as
/// exactly one, so they add up to the operation's count.
pub const RESULTS: [&str; 7] = [
    "ok",
    "handled",
    "retcode",
    "http",
    "transport",
    "interrupted",
    "abandoned",
];

/// Session outcomes of `agentstorm_sessions_total{outcome}` (names as in sessions.csv;
/// `started` is its `sessions` row).
pub const SESSION_OUTCOMES: [&str; 8] = [
    "started",
    "resignins",
    "signed_in",
    "ready",
    "never_ready",
    "signed_out_clean",
    "signed_out_unexpected",
    "signin_given_up",
];

fn int(n: u64) -> Number {
    Number::Int(n)
}

fn counter(name: &'static str, help: &'static str, n: u64) -> Family {
    Family::new(name, help, None, Kind::Counter).with(Vec::new(), Value::Counter(int(n)))
}

fn gauge(name: &'static str, help: &'static str, unit: Option<Unit>, n: Number) -> Family {
    Family::new(name, help, unit, Kind::Gauge).with(Vec::new(), Value::Gauge(n))
}

/// Every family at this moment, in a fixed order.
pub fn families(totals: &Aggregate, g: &Gauges) -> Vec<Family> {
    let mut out = operation_families(totals);
    out.extend(arrival_families(totals));
    out.extend(session_families(totals));
    out.push(gauge(
        "agents_active",
        "Agents alive now: arrived, session not ended.",
        None,
        int(g.active_agents),
    ));
    out.push(gauge(
        "agents_signed_in",
        "Agents signed in now, as the harness believes.",
        None,
        int(g.signed_in),
    ));
    if let Some(cpu) = g.cpu_seconds {
        out.push(
            Family::new(
                "harness_cpu",
                "CPU time (user and system) the harness process has used.",
                Some(Unit::Seconds),
                Kind::Counter,
            )
            .with(Vec::new(), Value::Counter(Number::Float(cpu))),
        );
    }
    if g.rss_bytes > 0 {
        out.push(gauge(
            "harness_resident_memory",
            "Resident memory of the harness process.",
            Some(Unit::Bytes),
            int(g.rss_bytes),
        ));
    }
    out.push(gauge(
        "run_start_time",
        "When the run's clock started, seconds since the Unix epoch.",
        Some(Unit::Seconds),
        Number::Float(g.start_unix_s),
    ));
    out
}

/// Whether an operation's series are exported: once it has happened, and the sign-in from
/// the start (so its rate reads 0 rather than nothing before the first reply).
fn exported(op: Operation, s: &OpStats) -> bool {
    op == Operation::Signin || !s.is_empty()
}

fn op_labels(op: &str, key: &'static str, value: impl Into<String>) -> Labels {
    vec![("operation", op.to_string()), (key, value.into())]
}

/// `operations_total{operation,result}`, `outcomes_total{operation,outcome}` and
/// `latency_seconds{operation,kind}`.
fn operation_families(totals: &Aggregate) -> Vec<Family> {
    let mut ops = Family::new(
        "operations",
        "Calls that ended, by operation and result class (ok, handled, retcode, http, \
         transport, interrupted, abandoned); the classes add up to the operation's count.",
        None,
        Kind::Counter,
    );
    let mut outcomes = Family::new(
        "outcomes",
        "Calls that ended, by operation and outcome label as in retcodes.csv (a retcode such \
         as 0 or 100-002, http:<status>, transport:<kind>, interrupted, abandoned).",
        None,
        Kind::Counter,
    );
    let mut latency = Family::new(
        "latency",
        "Latency of the calls that got a verdict, by operation: corrected (from the intended \
         start) and raw (from the send).",
        Some(Unit::Seconds),
        Kind::Histogram,
    );
    for op in Operation::ALL {
        let s = &totals.series[op.index()];
        if !exported(op, s) {
            continue;
        }
        let by_result = [
            s.ok,
            s.handled,
            s.retcode_failures,
            s.http_errors,
            s.transport_errors,
            s.interrupted,
            s.abandoned,
        ];
        for (result, n) in RESULTS.iter().zip(by_result) {
            ops = ops.with(
                op_labels(op.name(), "result", *result),
                Value::Counter(int(n)),
            );
        }
        for (label, n) in s.outcome_counts() {
            outcomes = outcomes.with(
                op_labels(op.name(), "outcome", label),
                Value::Counter(int(n)),
            );
        }
    }
    // Latency also for the two halves of successful polls (poll_event, poll_empty).
    for (i, s) in totals.series.iter().enumerate().take(SERIES) {
        if s.is_empty() {
            continue;
        }
        let name = series_name(i);
        for (kind, h) in [("corrected", &s.corrected), ("raw", &s.raw)] {
            latency = latency.with(
                op_labels(name, "kind", kind),
                Value::Histogram(Buckets::from_hist(h, LATENCY_BUCKETS)),
            );
        }
    }
    vec![ops, outcomes, latency]
}

fn arrival_families(totals: &Aggregate) -> Vec<Family> {
    vec![
        counter(
            "arrivals",
            "Arrivals that started an agent.",
            totals.arrivals,
        ),
        counter(
            "arrivals_not_started",
            "Arrivals the plan called for that could not start an agent (no free agent id, or \
             the in-flight cap).",
            totals.not_started,
        ),
        counter(
            "arrivals_dropped_late",
            "Arrivals dropped because they could not start within load.max_lateness.",
            totals.dropped_late,
        ),
        Family::new(
            "schedule_lag",
            "How late arrivals started (or were dropped) against the plan.",
            Some(Unit::Seconds),
            Kind::Histogram,
        )
        .with(
            Vec::new(),
            Value::Histogram(Buckets::from_hist(&totals.lag, LAG_BUCKETS)),
        ),
    ]
}

fn session_families(totals: &Aggregate) -> Vec<Family> {
    let s = &totals.sessions;
    let counts = [
        s.started,
        s.resignins,
        s.signed_in,
        s.ready,
        s.never_ready,
        s.signed_out_clean,
        s.signed_out_unexpected,
        s.signin_given_up,
    ];
    let mut sessions = Family::new(
        "sessions",
        "Sessions by outcome, as in sessions.csv (started: sessions begun).",
        None,
        Kind::Counter,
    );
    for (outcome, n) in SESSION_OUTCOMES.iter().zip(counts) {
        sessions = sessions.with(
            vec![("outcome", (*outcome).to_string())],
            Value::Counter(int(n)),
        );
    }
    let mut events = Family::new(
        "events",
        "Gateway events received, by type (at most 256 types; the rest as (other)).",
        None,
        Kind::Counter,
    );
    for (t, n) in &totals.events {
        events = events.with(vec![("event_type", t.clone())], Value::Counter(int(*n)));
    }
    let ttr = Family::new(
        "time_to_ready",
        "Time from an agent's intended arrival to AgentState_Ready.",
        Some(Unit::Seconds),
        Kind::Histogram,
    )
    .with(
        Vec::new(),
        Value::Histogram(Buckets::from_hist(&s.time_to_ready, LATENCY_BUCKETS)),
    );
    vec![sessions, events, ttr]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Outcome, Retcode, Sample, TransportKind};
    use std::time::{Duration, Instant};

    fn sample(op: Operation, outcome: Outcome, ms: u64) -> Sample {
        let t = Instant::now();
        Sample {
            operation: op,
            intended_at: t,
            sent_at: t,
            done_at: t + Duration::from_millis(ms),
            outcome,
            poll: None,
        }
    }

    fn find<'a>(fs: &'a [Family], name: &str) -> &'a Family {
        fs.iter().find(|f| f.name == name).expect(name)
    }

    #[test]
    fn counters_are_the_totals_and_the_classes_add_up() {
        let mut a = Aggregate::default();
        let ok = Outcome::Ok {
            retcode: Retcode::SUCCESS,
        };
        for ms in 1..=5 {
            a.record(&sample(Operation::Signin, ok, ms));
        }
        a.record(&sample(
            Operation::Signin,
            Outcome::Transport {
                kind: TransportKind::Reset,
            },
            3,
        ));
        a.record(&sample(Operation::Logout, Outcome::Http { status: 503 }, 2));
        let fs = families(&a, &Gauges::default());
        let ops = find(&fs, "operations");
        let signin: u64 = ops
            .series
            .iter()
            .filter(|s| s.labels[0].1 == "signin")
            .map(|s| match s.value {
                Value::Counter(n) => n.as_f64() as u64,
                _ => 0,
            })
            .sum();
        assert_eq!(signin, 6);
        // poll never happened: no series; signin always has its six classes
        assert!(ops.series.iter().all(|s| s.labels[0].1 != "poll"));
        assert_eq!(ops.series.len(), 2 * RESULTS.len());
        let outcomes = find(&fs, "outcomes");
        let labels: Vec<&str> = outcomes
            .series
            .iter()
            .map(|s| s.labels[1].1.as_str())
            .collect();
        assert_eq!(labels, ["0", "transport:reset", "http:503"]);
        let latency = find(&fs, "latency");
        assert_eq!(
            latency.series.len(),
            4,
            "signin and logout, corrected and raw"
        );
        // no CPU reading, no RSS: those families are left out rather than reading 0
        assert!(fs.iter().all(|f| f.name != "harness_cpu"));
        assert!(fs.iter().all(|f| f.name != "harness_resident_memory"));
    }

    #[test]
    fn an_empty_run_still_has_its_signin_and_gauges() {
        let g = Gauges {
            active_agents: 3,
            signed_in: 2,
            rss_bytes: 1 << 20,
            cpu_seconds: Some(0.5),
            start_unix_s: 1.0,
        };
        let fs = families(&Aggregate::default(), &g);
        assert_eq!(find(&fs, "operations").series.len(), RESULTS.len());
        assert_eq!(
            find(&fs, "agents_active").series[0].value,
            Value::Gauge(Number::Int(3))
        );
        assert_eq!(find(&fs, "harness_cpu").kind, Kind::Counter);
        assert_eq!(find(&fs, "sessions").series.len(), SESSION_OUTCOMES.len());
    }
}
