//! Shared builders for the report tests (`crate::support::fixture`, used by the `report_*`
//! and `shard_merge` modules): hand-made Results with known samples, so every expected
//! number is known.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use agentstorm::metrics::results::{
    IntervalOp, IntervalSnapshot, RunStatus, ScenarioInfo, TargetInfo,
};
use agentstorm::metrics::{OpStats, Operation, Outcome, Results, Retcode, Sample, TransportKind};

/// A sample of `op` that took `raw_ms` from send and started `lag_ms` after it was due.
pub fn sample(op: Operation, outcome: Outcome, lag_ms: u64, raw_ms: u64) -> Sample {
    let t = Instant::now();
    Sample {
        operation: op,
        intended_at: t,
        sent_at: t + Duration::from_millis(lag_ms),
        done_at: t + Duration::from_millis(lag_ms + raw_ms),
        outcome,
        poll: None,
    }
}

pub fn ok() -> Outcome {
    Outcome::Ok {
        retcode: Retcode::SUCCESS,
    }
}

pub fn code(c: &str) -> Outcome {
    Outcome::Ok {
        retcode: Retcode::new(c),
    }
}

pub fn http(status: u16) -> Outcome {
    Outcome::Http { status }
}

pub fn transport(kind: TransportKind) -> Outcome {
    Outcome::Transport { kind }
}

/// OpStats with `n` samples of `outcome` at raw latencies `first_ms, first_ms+1, …`.
pub fn op_stats(op: Operation, outcome: Outcome, n: u64, first_ms: u64) -> OpStats {
    let mut s = OpStats::default();
    for i in 0..n {
        s.record(&sample(op, outcome, 0, first_ms + i));
    }
    s
}

pub fn empty_results(name: &str) -> Results {
    let mut r = Results::empty(RunStatus::Completed);
    r.agentstorm_version = "test".into();
    r.scenario = ScenarioInfo {
        name: name.into(),
        hash: "abc123".into(),
        path: "s.toml".into(),
        ..ScenarioInfo::default()
    };
    r.target = TargetInfo {
        url: "https://127.0.0.1:1".into(),
        embedded: true,
        tls_verify_disabled: false,
    };
    r.ended_at = "2026-01-01T00:01:40Z".into();
    r.duration_s = 100.0;
    r
}

/// A small run: 100 sign-ins (98 ok at 1..=98 ms, one 100-003, one connect refused), 50 ok
/// polls (30 with an event), 10 logouts (one HTTP 503); sessions and one interval.
pub fn sample_results() -> Results {
    let mut r = empty_results("fixture");
    let mut signin = op_stats(Operation::Signin, ok(), 98, 1);
    signin.record(&sample(Operation::Signin, code("100-003"), 0, 5));
    signin.record(&sample(
        Operation::Signin,
        transport(TransportKind::ConnectRefused),
        0,
        1,
    ));
    let poll = op_stats(Operation::Poll, ok(), 50, 100);
    let poll_event = op_stats(Operation::Poll, ok(), 30, 100);
    let poll_empty = op_stats(Operation::Poll, ok(), 20, 130);
    let mut logout = op_stats(Operation::Logout, ok(), 9, 2);
    logout.record(&sample(Operation::Logout, http(503), 0, 2));
    let interval = IntervalSnapshot {
        start_s: 0.0,
        end_s: 10.0,
        active_agents: 7,
        signed_in: 5,
        arrivals: 9,
        operations: [("signin".to_string(), IntervalOp::from_stats(&signin))].into(),
        rss_bytes: 1_000_000,
        cpu_percent: 12.5,
    };
    r.operations = [
        ("signin", signin),
        ("poll", poll),
        ("poll_event", poll_event),
        ("poll_empty", poll_empty),
        ("logout", logout),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    r.sessions.started = 100;
    r.sessions.signed_in = 98;
    r.sessions.ready = 97;
    r.sessions.never_ready = 1;
    r.sessions.signed_out_clean = 9;
    r.sessions.signin_given_up = 2;
    r.sessions.left_signed_in = 89;
    for ms in 1..=98u64 {
        r.sessions.time_to_signed_in.record_us(ms * 1000);
    }
    r.events = [
        ("AgentState_Ready".to_string(), 97),
        ("AgentOther_ShutdownService".to_string(), 0),
    ]
    .into();
    r.scheduler.planned_arrivals = 100;
    r.scheduler.started = 100;
    r.intervals = vec![
        interval,
        IntervalSnapshot {
            start_s: 10.0,
            end_s: 20.0,
            ..Default::default()
        },
    ];
    r
}

/// Makes `r` shard `k` of `n` of a run of a scenario whose `agents.ids` are `ids`: its
/// scenario text says so (the one key merge reads) and its shard record holds the slice the
/// real slicing code gives shard `k`.
pub fn make_shard(r: &mut Results, k: u32, n: u32, ids: &str) {
    use agentstorm::run::shard::{self, ShardSpec};
    use agentstorm::scenario::values::IdRanges;
    r.scenario.text = format!("name = {:?}\n[agents]\nids = {ids:?}\n", r.scenario.name);
    let spec = ShardSpec::new(k, n).expect("shard spec");
    let all = IdRanges::parse(ids).expect("id ranges");
    r.shard = Some(agentstorm::metrics::results::ShardInfo {
        index: k,
        count: n,
        ids: shard::slice_ids(&all, &spec)
            .expect("slice")
            .as_text()
            .to_string(),
        merged: 1,
        late_start_s: 0.0,
    });
}

/// The interval log a run whose samples all fell in one interval would have written for
/// `r`: each operation's corrected and raw histograms over `0..duration_s`.
pub fn hlog_of(r: &Results) -> Vec<agentstorm::metrics::hlog::HlogInterval> {
    use agentstorm::metrics::hlog::{tag, HlogInterval, LatencyKind};
    let mut out = Vec::new();
    for (name, op) in &r.operations {
        for (kind, hist) in [
            (LatencyKind::Corrected, &op.corrected),
            (LatencyKind::Raw, &op.raw),
        ] {
            out.push(HlogInterval {
                tag: tag(name, kind),
                start_s: 0.0,
                end_s: r.duration_s,
                hist: hist.clone(),
            });
        }
    }
    out
}

/// Writes `r` as `dir/results.json` and `hlog` as `dir/latency.hlog`, as a run leaves
/// them; returns the results file's path.
pub fn write_run(
    dir: &std::path::Path,
    r: &Results,
    hlog: &[agentstorm::metrics::hlog::HlogInterval],
) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).expect("folder");
    let results = dir.join("results.json");
    agentstorm::report::write_results_json(r, &results).expect("results.json");
    let start = humantime::parse_rfc3339(&r.started_at)
        .expect("started_at")
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64();
    let mut w = agentstorm::metrics::hlog::HlogWriter::create(&dir.join("latency.hlog"), start)
        .expect("latency.hlog");
    for iv in hlog {
        w.write(&iv.tag, iv.start_s, iv.end_s, &iv.hist)
            .expect("hlog line");
    }
    w.flush().expect("flush");
    results
}
