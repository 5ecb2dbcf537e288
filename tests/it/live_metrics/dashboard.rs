//! The Grafana dashboard against the exposition: every metric name its PromQL queries use
//! is one `/metrics` serves (driven directly with a sample of every family).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

/// Every metric name in the dashboard's PromQL.
fn dashboard_metrics() -> BTreeSet<String> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/grafana/dashboards/agentstorm.json");
    let d: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("dashboard")).expect("JSON");
    let mut exprs = Vec::new();
    collect_exprs(&d, &mut exprs);
    assert!(exprs.len() > 15, "{} queries", exprs.len());
    let mut names = BTreeSet::new();
    for e in exprs {
        let mut rest = e.as_str();
        while let Some(i) = rest.find("agentstorm_") {
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            names.insert(tail[..end].to_string());
            rest = &tail[end..];
        }
    }
    names
}

fn collect_exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("expr" | "definition", serde_json::Value::String(s)) => out.push(s.clone()),
                    _ => collect_exprs(x, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_exprs(x, out)),
        _ => {}
    }
}

#[test]
fn every_metric_the_dashboard_queries_is_served() {
    use agentstorm::metrics::recorder::Aggregate;
    use agentstorm::run::live_metrics::{expose, run_labels, snapshot, Shared};
    let mut totals = Aggregate::default();
    let t = Instant::now();
    totals.record(&agentstorm::metrics::Sample {
        operation: agentstorm::metrics::Operation::Signin,
        intended_at: t,
        sent_at: t,
        done_at: t + Duration::from_millis(3),
        outcome: agentstorm::metrics::Outcome::Ok {
            retcode: agentstorm::metrics::Retcode::SUCCESS,
        },
        poll: None,
    });
    totals.sessions.time_to_ready.record_us(20_000);
    let gauges = snapshot::Gauges {
        rss_bytes: 1,
        cpu_seconds: Some(0.1),
        ..Default::default()
    };
    let shared = Shared::new(
        run_labels(None, "s", None, None, std::time::SystemTime::now()),
        true,
    );
    shared.set(snapshot::families(&totals, &gauges));
    let text = expose::encode(&expose::registry(shared), expose::Format::Text);
    let served: BTreeSet<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let wanted = dashboard_metrics();
    assert!(wanted.len() >= 12, "{wanted:?}");
    let missing: Vec<&String> = wanted
        .iter()
        .filter(|n| !served.contains(n.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "the dashboard queries {missing:?}, which /metrics does not serve: {served:?}"
    );
}
