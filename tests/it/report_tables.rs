//! report phase 1: results.json, summary.csv, retcodes.csv, the other CSVs, and the console
//! summary, all read back from a temp folder.

use std::collections::BTreeMap;

use agentstorm::metrics::Results;
use agentstorm::protocol::GatewayStats;
use agentstorm::report::{self, console_summary};

use crate::support::fixture;

fn read_csv(path: &std::path::Path) -> (Vec<String>, Vec<BTreeMap<String, String>>) {
    let mut rd = csv::Reader::from_path(path).expect("csv opens");
    let header: Vec<String> = rd
        .headers()
        .expect("header")
        .iter()
        .map(String::from)
        .collect();
    let rows = rd
        .records()
        .map(|rec| {
            let rec = rec.expect("record");
            header
                .iter()
                .cloned()
                .zip(rec.iter().map(String::from))
                .collect()
        })
        .collect();
    (header, rows)
}

#[test]
fn write_all_writes_every_file_and_json_round_trips() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = fixture::sample_results();
    let paths = report::write_all(&r, dir.path()).expect("writes");
    let names: Vec<String> = paths
        .iter()
        .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    for want in [
        "results.json",
        "summary.csv",
        "retcodes.csv",
        "timeseries.csv",
        "sessions.csv",
        "events.csv",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
        assert!(dir.path().join(want).is_file(), "{want} not on disk");
    }
    let back = Results::load(&dir.path().join("results.json")).expect("loads back");
    assert_eq!(back, r);
    assert!(!dir.path().join("results.json.partial").exists());
}

#[test]
fn summary_csv_columns_order_and_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = fixture::sample_results();
    report::write_all(&r, dir.path()).expect("writes");
    let (header, rows) = read_csv(&dir.path().join("summary.csv"));
    assert_eq!(
        header.join(","),
        "operation,count,ok,failed,retcode_failures,http_errors,transport_errors,error_rate_pct,corrected_p50_ms,corrected_p90_ms,corrected_p99_ms,corrected_p999_ms,corrected_max_ms,raw_p50_ms,raw_p90_ms,raw_p99_ms,raw_p999_ms,raw_max_ms,mean_raw_ms,handled,interrupted,abandoned"
    );
    let ops: Vec<&str> = rows.iter().map(|r| r["operation"].as_str()).collect();
    assert_eq!(
        ops,
        ["signin", "poll", "poll_event", "poll_empty", "logout"]
    );
    let s = &rows[0];
    assert_eq!(s["count"], "100");
    assert_eq!(s["ok"], "98");
    assert_eq!(s["failed"], "2");
    assert_eq!(s["retcode_failures"], "1");
    assert_eq!(s["http_errors"], "0");
    assert_eq!(s["transport_errors"], "1");
    let rate: f64 = s["error_rate_pct"].parse().expect("number");
    assert!((rate - 2.0).abs() < 1e-9, "{rate}");
    // 98 ok samples at 1..=98 ms plus 5 ms and 1 ms: the max is 98 ms (within HDR precision)
    let max: f64 = s["raw_max_ms"].parse().expect("number");
    assert!((97.9..=98.1).contains(&max), "{max}");
    let p50: f64 = s["corrected_p50_ms"].parse().expect("number");
    assert!((48.0..=51.0).contains(&p50), "{p50}");
    let logout = &rows[4];
    assert_eq!(logout["http_errors"], "1");
    assert_eq!(logout["error_rate_pct"], "10.0000");
}

#[test]
fn summary_csv_leaves_cells_empty_without_samples() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut r = fixture::empty_results("empty");
    r.operations.insert("handshake".into(), Default::default());
    report::write_all(&r, dir.path()).expect("writes");
    let (_, rows) = read_csv(&dir.path().join("summary.csv"));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["count"], "0");
    assert_eq!(rows[0]["error_rate_pct"], "");
    assert_eq!(rows[0]["corrected_p99_ms"], "");
    assert_eq!(rows[0]["mean_raw_ms"], "");
}

#[test]
fn unknown_operations_follow_the_known_order() {
    let mut m = BTreeMap::new();
    for k in [
        "zeta",
        "logout",
        "alpha",
        "signin",
        "poll_empty",
        "resetskill",
    ] {
        m.insert(k.to_string(), ());
    }
    let order: Vec<&str> = report::in_report_order(&m)
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        order,
        [
            "signin",
            "resetskill",
            "poll_empty",
            "logout",
            "alpha",
            "zeta"
        ]
    );
}

#[test]
fn retcodes_csv_labels_and_skips_poll_splits() {
    let dir = tempfile::tempdir().expect("tempdir");
    report::write_all(&fixture::sample_results(), dir.path()).expect("writes");
    let (header, rows) = read_csv(&dir.path().join("retcodes.csv"));
    assert_eq!(header, ["operation", "retcode", "count"]);
    let got: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["operation"].clone(),
                r["retcode"].clone(),
                r["count"].clone(),
            )
        })
        .collect();
    let want: Vec<(String, String, String)> = [
        ("signin", "retcode:0", "98"),
        ("signin", "retcode:100-003", "1"),
        ("signin", "transport:connect_refused", "1"),
        ("poll", "retcode:0", "50"),
        ("logout", "retcode:0", "9"),
        ("logout", "http:503", "1"),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(got, want);
}

#[test]
fn console_summary_labels_latency_and_lists_failures_and_sessions() {
    let r = fixture::sample_results();
    let text = console_summary(&r);
    assert!(text.contains("from intended start (corrected)"), "{text}");
    assert!(text.contains("from send (raw)"), "{text}");
    assert!(text.contains("100-003"), "{text}");
    assert!(text.contains("transport:connect_refused"), "{text}");
    assert!(text.contains("http:503"), "{text}");
    assert!(text.contains("completed"), "{text}");
    assert!(text.contains("sign-in given up"), "{text}");
    assert!(text.contains("100 arrivals planned"), "{text}");
    // no gateway stats, no reconciliation table
    assert!(!text.contains("Reconciliation"), "{text}");
    // successes are not listed as failures: the failures section has no label "0"
    let failures: Vec<&str> = text
        .split("Failures by outcome")
        .nth(1)
        .expect("failures section")
        .split("Agents and sessions")
        .next()
        .expect("section text")
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(failures.len(), 3, "{failures:?}");
    assert!(
        failures
            .iter()
            .all(|l| l.split_whitespace().nth(1) != Some("0")),
        "{failures:?}"
    );
}

fn gateway(login: u64, poll: u64, logout: u64) -> GatewayStats {
    let mut g = GatewayStats::default();
    g.requests
        .insert("login".into(), [("0".to_string(), login)].into());
    g.requests
        .insert("getAgentEvent".into(), [("0".to_string(), poll)].into());
    g.requests.insert(
        "logout".into(),
        [
            ("0".to_string(), logout.saturating_sub(1)),
            ("http_503".to_string(), 1),
        ]
        .into(),
    );
    g
}

#[test]
fn console_reconciliation_matches_when_counts_agree_minus_connect_failures() {
    let mut r = fixture::sample_results();
    // 100 sign-ins, one of which was refused at connect: the gateway saw 99
    r.gateway = Some(gateway(99, 50, 10));
    let text = console_summary(&r);
    assert!(text.contains("Reconciliation"), "{text}");
    assert!(!text.contains("MISMATCH"), "{text}");
    let signin = text
        .lines()
        .find(|l| l.starts_with("signin") && l.contains("login"))
        .expect("signin reconciliation row");
    assert!(signin.ends_with("match"), "{signin}");
    assert!(text.contains("every operation matches"), "{text}");
}

#[test]
fn console_reconciliation_flags_a_mismatch() {
    let mut r = fixture::sample_results();
    r.gateway = Some(gateway(100, 50, 10));
    let text = console_summary(&r);
    let signin = text
        .lines()
        .find(|l| l.starts_with("signin") && l.contains("login"))
        .expect("signin reconciliation row");
    assert!(signin.ends_with("MISMATCH"), "{signin}");
    let poll = text
        .lines()
        .find(|l| l.starts_with("poll") && l.contains("getAgentEvent"))
        .expect("poll row");
    assert!(poll.ends_with("match"), "{poll}");
    assert!(text.contains("1 operation(s) MISMATCH"), "{text}");
}

#[test]
fn console_shows_interrupted_and_aborted() {
    let mut r = fixture::sample_results();
    r.status = agentstorm::metrics::results::RunStatus::Interrupted;
    assert!(console_summary(&r).contains("INTERRUPTED"));
    r.status = agentstorm::metrics::results::RunStatus::Aborted {
        reason: "target unreachable".into(),
    };
    assert!(console_summary(&r).contains("ABORTED: target unreachable"));
}

#[test]
fn timeseries_csv_one_row_per_interval_and_operation() {
    let dir = tempfile::tempdir().expect("tempdir");
    report::write_all(&fixture::sample_results(), dir.path()).expect("writes");
    let (header, rows) = read_csv(&dir.path().join("timeseries.csv"));
    assert_eq!(
        header.join(","),
        "start_s,end_s,operation,count,ok,failed,corrected_p50_ms,corrected_p99_ms,corrected_max_ms,raw_p50_ms,raw_p99_ms,active_agents,signed_in,arrivals,rss_bytes,cpu_percent"
    );
    assert_eq!(rows.len(), 2, "{rows:?}");
    let first = &rows[0];
    assert_eq!(first["operation"], "signin");
    assert_eq!(first["count"], "100");
    assert_eq!(first["failed"], "2");
    assert_eq!(first["active_agents"], "7");
    assert_eq!(first["rss_bytes"], "1000000");
    assert_eq!(first["cpu_percent"], "12.5");
    assert!(!first["corrected_p99_ms"].is_empty());
    // the quiet interval keeps its row, with no operation and no latency
    let quiet = &rows[1];
    assert_eq!(quiet["start_s"], "10.000");
    assert_eq!(quiet["operation"], "");
    assert_eq!(quiet["count"], "0");
    assert_eq!(quiet["corrected_p99_ms"], "");
}

#[test]
fn sessions_and_events_csv() {
    let dir = tempfile::tempdir().expect("tempdir");
    report::write_all(&fixture::sample_results(), dir.path()).expect("writes");
    let (header, rows) = read_csv(&dir.path().join("sessions.csv"));
    assert_eq!(
        header.join(","),
        "kind,measure,count,pct_of_sessions,p50_ms,p90_ms,p99_ms,p999_ms,max_ms,mean_ms"
    );
    let by: BTreeMap<&str, &BTreeMap<String, String>> =
        rows.iter().map(|r| (r["measure"].as_str(), r)).collect();
    assert_eq!(by["ready"]["kind"], "outcome");
    assert_eq!(by["ready"]["count"], "97");
    assert_eq!(by["ready"]["pct_of_sessions"], "97.0000");
    assert_eq!(by["ready"]["p99_ms"], "");
    assert_eq!(by["signin_given_up"]["count"], "2");
    let t = by["time_to_signed_in"];
    assert_eq!(t["kind"], "timing");
    assert_eq!(t["count"], "98");
    let max: f64 = t["max_ms"].parse().expect("number");
    assert!((97.9..=98.1).contains(&max), "{max}");
    assert_eq!(by["time_to_ready"]["p50_ms"], "");

    let (header, rows) = read_csv(&dir.path().join("events.csv"));
    assert_eq!(
        header,
        [
            "event_type",
            "count",
            "delivery_count",
            "delivery_p50_ms",
            "delivery_p99_ms",
            "delivery_max_ms"
        ]
    );
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["event_type"], "AgentState_Ready");
    assert_eq!(rows[1]["count"], "97");
}
