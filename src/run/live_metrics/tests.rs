//! The live metrics' outputs read back independently: the `/metrics` text parsed by the
//! `prometheus-parse` crate, the OpenMetrics form checked for its markers, and the pushed
//! series compared one by one with the scraped ones (same names, same labels, same values);
//! and the run labels.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime};

use super::expose::{self, Format};
use super::remote_write;
use super::snapshot::{families, Gauges};
use super::{parse_run_id, run_labels, Shared};
use crate::metrics::recorder::Aggregate;
use crate::metrics::{Operation, Outcome, PollResult, Retcode, Sample, TransportKind};
use crate::run::shard::ShardSpec;

fn sample(op: Operation, outcome: Outcome, lag_ms: u64, ms: u64) -> Sample {
    let t = Instant::now();
    Sample {
        operation: op,
        intended_at: t,
        sent_at: t + Duration::from_millis(lag_ms),
        done_at: t + Duration::from_millis(lag_ms + ms),
        outcome,
        poll: None,
    }
}

/// 40 sign-ins (38 ok, one 100-003, one reset), 20 polls with events, a logout 503,
/// sessions, events and arrivals.
fn aggregate() -> Aggregate {
    let ok = Outcome::Ok {
        retcode: Retcode::SUCCESS,
    };
    let mut a = Aggregate::default();
    for i in 0..38 {
        a.record(&sample(Operation::Signin, ok, i % 3, 2 + i));
    }
    a.record(&sample(
        Operation::Signin,
        Outcome::Ok {
            retcode: Retcode::new("100-003"),
        },
        0,
        4,
    ));
    a.record(&sample(
        Operation::Signin,
        Outcome::Transport {
            kind: TransportKind::Reset,
        },
        0,
        9,
    ));
    for i in 0..20 {
        let mut s = sample(Operation::Poll, ok, 0, 100 + i);
        s.poll = Some(PollResult::Event);
        a.record(&s);
    }
    a.record(&sample(
        Operation::Logout,
        Outcome::Http { status: 503 },
        0,
        7,
    ));
    a.sessions.started = 40;
    a.sessions.signed_in = 38;
    a.sessions.ready = 37;
    a.events.insert("AgentState_Ready".into(), 37);
    a.arrivals = 40;
    for us in [50, 120, 800, 3_000] {
        a.lag.record_us(us);
    }
    a
}

fn shared() -> std::sync::Arc<Shared> {
    let run = run_labels(Some("r-7"), "smoke", None, None, SystemTime::now());
    let s = Shared::new(run, true);
    let g = Gauges {
        active_agents: 12,
        signed_in: 10,
        rss_bytes: 50 << 20,
        cpu_seconds: Some(1.25),
        start_unix_s: 1_767_225_600.0,
    };
    s.set(families(&aggregate(), &g));
    s
}

fn scrape(format: Format) -> String {
    expose::encode(&expose::registry(shared()), format)
}

#[test]
fn the_text_exposition_parses_and_says_what_was_recorded() {
    let text = scrape(Format::Text);
    let parsed =
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parses");
    assert!(parsed.samples.len() > 20, "{text}");
    for s in &parsed.samples {
        assert_eq!(s.labels.get("run_id"), Some("r-7"), "{}", s.metric);
        assert_eq!(s.labels.get("scenario"), Some("smoke"), "{}", s.metric);
        assert_eq!(s.labels.get("shard"), Some("0"), "{}", s.metric);
        assert!(s.metric.starts_with("agentstorm_"), "{}", s.metric);
    }
    let counter = |name: &str, want: &[(&str, &str)]| -> f64 {
        parsed
            .samples
            .iter()
            .filter(|s| s.metric == name && want.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v) => v,
                ref other => panic!("{name} is {other:?}, not a counter"),
            })
            .sum()
    };
    let signin = counter("agentstorm_operations_total", &[("operation", "signin")]);
    assert_eq!(signin, 40.0);
    assert_eq!(
        counter(
            "agentstorm_operations_total",
            &[("operation", "signin"), ("result", "ok")]
        ),
        38.0
    );
    let outcome = |o: &str| counter("agentstorm_outcomes_total", &[("outcome", o)]);
    assert_eq!(outcome("100-003"), 1.0);
    assert_eq!(outcome("transport:reset"), 1.0);
    assert_eq!(outcome("http:503"), 1.0);
    assert_eq!(counter("agentstorm_events_total", &[]), 37.0);
    assert_eq!(counter("agentstorm_harness_cpu_seconds_total", &[]), 1.25);
    // the corrected sign-in latency as a histogram: 40 values, all below 60 ms
    let h = parsed
        .samples
        .iter()
        .find(|s| {
            s.metric == "agentstorm_latency_seconds"
                && s.labels.get("operation") == Some("signin")
                && s.labels.get("kind") == Some("corrected")
        })
        .expect("signin latency");
    let prometheus_parse::Value::Histogram(buckets) = &h.value else {
        panic!("not a histogram: {:?}", h.value)
    };
    let at = |le: f64| buckets.iter().find(|b| b.less_than == le).map(|b| b.count);
    assert_eq!(at(f64::INFINITY), Some(40.0));
    assert_eq!(at(0.075), Some(40.0));
    assert_eq!(at(0.001), Some(0.0));
    assert!(text.contains("# TYPE agentstorm_agents_active gauge"));
    assert!(text.contains("agentstorm_harness_resident_memory_bytes{"));
    assert!(text.contains("# TYPE agentstorm_schedule_lag_seconds histogram"));
}

#[test]
fn openmetrics_is_served_when_asked_for() {
    let prometheus_accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    assert_eq!(
        Format::from_accept(Some(prometheus_accept)),
        Format::OpenMetrics
    );
    assert_eq!(Format::from_accept(Some("text/plain")), Format::Text);
    assert_eq!(Format::from_accept(None), Format::Text);
    let om = scrape(Format::OpenMetrics);
    assert!(om.ends_with("# EOF\n"), "{om}");
    assert!(om.contains("# TYPE agentstorm_operations counter"), "{om}");
    assert!(
        om.contains("# UNIT agentstorm_latency_seconds seconds"),
        "{om}"
    );
    assert!(om.contains("agentstorm_operations_total{"), "{om}");
    assert!(Format::OpenMetrics
        .content_type()
        .starts_with("application/openmetrics-text"));
}

/// Every sample line of an exposition: (name, labels) → value.
fn samples(text: &str) -> BTreeMap<(String, BTreeSet<(String, String)>), f64> {
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (head, value) = line.rsplit_once(' ').expect("name and value");
        let (name, labels) = match head.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (head, ""),
        };
        let labels = labels
            .split("\",")
            .filter(|kv| !kv.is_empty())
            .map(|kv| {
                let (k, v) = kv.split_once('=').expect("k=v");
                (k.to_string(), v.trim_matches('"').to_string())
            })
            .collect();
        let v = if value == "+Inf" {
            f64::INFINITY
        } else {
            value.parse().expect("number")
        };
        out.insert((name.to_string(), labels), v);
    }
    out
}

#[test]
fn pushed_series_are_the_scraped_series() {
    let s = shared();
    let scraped = samples(&expose::encode(
        &expose::registry(s.clone()),
        Format::OpenMetrics,
    ));
    let req = remote_write::write_request(&s.families(), &s.run_labels, 1_000);
    let back = remote_write::decode(&remote_write::encode(&req)).expect("round trip");
    let mut pushed = BTreeMap::new();
    for t in &back.timeseries {
        let name = t
            .labels
            .iter()
            .find(|l| l.name == "__name__")
            .map(|l| l.value.clone())
            .expect("__name__");
        let labels = t
            .labels
            .iter()
            .filter(|l| l.name != "__name__")
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect();
        pushed.insert((name, labels), t.samples[0].value);
    }
    assert_eq!(
        scraped.keys().collect::<Vec<_>>(),
        pushed.keys().collect::<Vec<_>>(),
        "the same series, by name and labels"
    );
    for (k, v) in &scraped {
        let p = pushed[k];
        assert!(
            (p - v).abs() <= 1e-9 * v.abs().max(1.0),
            "{k:?}: scraped {v}, pushed {p}"
        );
    }
}

#[test]
fn run_labels_name_the_run_and_the_shard() {
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_824_000);
    let later = t + Duration::from_secs(7);
    let l = run_labels(None, "smoke", None, None, t);
    assert_eq!(l[0], ("run_id", "smoke-20261128T000000Z".to_string()));
    assert_eq!(l[2], ("shard", "0".to_string()));
    // shards of one run agree on the run id through their agreed start
    let a = run_labels(None, "s", ShardSpec::new(1, 4).ok(), Some(t), later);
    let b = run_labels(None, "s", ShardSpec::new(3, 4).ok(), Some(t), t);
    assert_eq!(a[0], b[0]);
    assert_eq!((a[2].1.as_str(), b[2].1.as_str()), ("1", "3"));
    let given = run_labels(Some("nightly-42"), "s", None, Some(t), t);
    assert_eq!(given[0].1, "nightly-42");
}

#[test]
fn run_ids_are_checked() {
    assert_eq!(parse_run_id(" a-1 ").as_deref(), Ok("a-1"));
    assert!(parse_run_id("").is_err());
    assert!(parse_run_id("a\nb").is_err());
    assert!(parse_run_id(&"x".repeat(200)).is_err());
}
