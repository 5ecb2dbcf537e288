//! The HTML report rendered from hand-built Results: it is self-contained (no network
//! references), has every expected chart with drawn lines, escapes hostile text, orders
//! failed thresholds first, and survives an empty run with a "no data" note.
//!
//! `sample_report_for_browser_check` (ignored) writes a sample report to the path in
//! `AGENTSTORM_HTML_OUT` (and an empty run's report beside it, `*.empty.html`) for
//! scripts/html-check/check.sh.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use agentstorm::metrics::results::{
    CapacityResult, CapacityStep, DriftFinding, DriftMeasure, IntervalOp, IntervalSnapshot,
    Results, RunStatus, ScenarioInfo, SchedulerStats, TargetInfo, POLL_EMPTY, POLL_EVENT,
};
use agentstorm::metrics::TransportKind;
use agentstorm::metrics::{Hist, OpStats, Operation, Outcome, Retcode, Sample, SessionStats};
use agentstorm::protocol::{GatewayStats, SignoutCounts};
use agentstorm::report::html::{render, ThresholdLine};

const HOSTILE: &str = "<script>alert(\"x\")</script>";

/// A deterministic pseudo-random stream (no rand seed plumbing needed in a test).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn sample(op: Operation, lag_ms: f64, lat_ms: f64, outcome: Outcome) -> Sample {
    let t0 = Instant::now();
    let sent = t0 + Duration::from_micros((lag_ms * 1000.0) as u64);
    Sample {
        operation: op,
        intended_at: t0,
        sent_at: sent,
        done_at: sent + Duration::from_micros((lat_ms * 1000.0) as u64),
        outcome,
        poll: None,
    }
}

fn empty_results() -> Results {
    let mut r = Results::empty(RunStatus::Aborted {
        reason: "target unreachable: connection refused".into(),
    });
    r.agentstorm_version = "0.1.0-test".into();
    r.started_at = "2026-03-01T10:00:00Z".into();
    r.ended_at = "2026-03-01T10:00:00Z".into();
    r
}

/// A 100 s run in 20 intervals: sign-ins with retcode, HTTP and transport failures, polls
/// split into events and empties, logouts; a latency spike in the middle.
fn sample_results(gateway: bool) -> Results {
    let mut rng = Lcg(42);
    let mut r = empty_results();
    r.scenario = ScenarioInfo {
        name: format!("morning-peak {HOSTILE}"),
        description: "2 000 agents sign in over 60 s, poll, sign out".into(),
        hash: "ab".repeat(32),
        path: "scenarios/morning-peak.toml".into(),
        text: String::new(),
    };
    r.target = TargetInfo {
        url: "https://cc-gw.example.test:8443".into(),
        embedded: false,
        tls_verify_disabled: true,
    };
    r.ended_at = "2026-03-01T10:01:40Z".into();
    r.duration_s = 100.0;
    r.status = RunStatus::Completed;
    let mut totals: BTreeMap<String, OpStats> = BTreeMap::new();
    let (mut active, mut signed_in) = (0u64, 0u64);
    for k in 0..20u64 {
        let spike = if (8..12).contains(&k) { 6.0 } else { 1.0 };
        let mut ops: BTreeMap<String, OpStats> = BTreeMap::new();
        let arrivals = if k < 12 { 160 } else { 0 };
        for _ in 0..arrivals {
            let lat = (20.0 + 40.0 * rng.next().powi(3)) * spike;
            let lag = 200.0 * rng.next().powi(8) * spike;
            let u = rng.next();
            let outcome = if u < 0.03 {
                Outcome::Ok {
                    retcode: Retcode::new("100-002"),
                }
            } else if u < 0.04 {
                Outcome::Http { status: 503 }
            } else if u < 0.045 {
                Outcome::Transport {
                    kind: TransportKind::Timeout,
                }
            } else if u < 0.047 {
                Outcome::Ok {
                    retcode: Retcode::new("<script>x"),
                }
            } else {
                Outcome::Ok {
                    retcode: Retcode::SUCCESS,
                }
            };
            let s = sample(Operation::Signin, lag, lat, outcome);
            ops.entry("signin".into()).or_default().record(&s);
        }
        let ok_now = ops.get("signin").map(|s| s.ok).unwrap_or(0);
        active += arrivals;
        signed_in += ok_now;
        for _ in 0..(signed_in * 5 / 10) {
            let event = rng.next() < 0.3;
            let lat = if event {
                5.0 + 30.0 * rng.next()
            } else {
                1000.0 + 50.0 * rng.next()
            };
            let s = sample(
                Operation::Poll,
                0.0,
                lat * spike.min(2.0),
                Outcome::Ok {
                    retcode: Retcode::SUCCESS,
                },
            );
            ops.entry("poll".into()).or_default().record(&s);
            let sub = if event { POLL_EVENT } else { POLL_EMPTY };
            ops.entry(sub.into()).or_default().record(&s);
        }
        if k >= 14 {
            let leaving = signed_in.min(300);
            for _ in 0..leaving {
                let outcome = if rng.next() < 0.02 {
                    Outcome::Transport {
                        kind: TransportKind::Reset,
                    }
                } else {
                    Outcome::Ok {
                        retcode: Retcode::SUCCESS,
                    }
                };
                let s = sample(Operation::Logout, 0.0, 15.0 + 10.0 * rng.next(), outcome);
                ops.entry("logout".into()).or_default().record(&s);
            }
            signed_in -= leaving;
            active -= leaving.min(active);
        }
        r.intervals.push(IntervalSnapshot {
            start_s: k as f64 * 5.0,
            end_s: (k + 1) as f64 * 5.0,
            active_agents: active,
            signed_in,
            arrivals,
            operations: ops
                .iter()
                .map(|(k, s)| (k.clone(), IntervalOp::from_stats(s)))
                .collect(),
            rss_bytes: (40 + 3 * k) * 1024 * 1024,
            cpu_percent: 20.0 + 30.0 * rng.next(),
        });
        for (name, s) in ops {
            totals.entry(name).or_default().add(&s);
        }
    }
    r.operations = totals;
    let mut ttr = Hist::new();
    let mut tts = Hist::new();
    for _ in 0..1800 {
        let v = 30_000.0 + 400_000.0 * rng.next().powi(4);
        tts.record_us(v as u64);
        ttr.record_us((v * 1.3 + 5_000.0) as u64);
    }
    r.sessions = SessionStats {
        started: 1920,
        signed_in: 1830,
        ready: 1800,
        signed_out_clean: 1500,
        signed_out_unexpected: 12,
        signin_given_up: 90,
        left_signed_in: 318,
        never_ready: 30,
        time_to_signed_in: tts,
        time_to_ready: ttr,
        session_length: Hist::new(),
        ..SessionStats::default()
    };
    r.events = BTreeMap::from([
        ("AgentState_Ready".to_string(), 1800),
        ("AgentOther_ShutdownService".to_string(), 12),
        (HOSTILE.to_string(), 1),
    ]);
    r.scheduler = SchedulerStats {
        planned_arrivals: 1920,
        started: 1920,
        not_started: 0,
        lag: Hist::new(),
        peak_active_agents: 1920,
        ..SchedulerStats::default()
    };
    // A failover at 40 s: 12 sessions lost, back in service over the next 20 s.
    for k in 0..12u64 {
        r.sessions.lost_at.record_us(40_000_000 + k * 50_000);
        r.sessions.back_at.record_us(43_000_000 + k * k * 120_000);
    }
    r.sessions.resignins = 12;
    r.capacity = Some(CapacityResult {
        max_sustainable_rate_per_s: Some(80.0),
        slo: "signin.p99 < 800ms, errors < 1%".into(),
        steps: [20.0, 40.0, 80.0, 160.0, 320.0]
            .iter()
            .enumerate()
            .map(|(i, &rate)| CapacityStep {
                rate_per_s: rate,
                start_s: i as f64 * 20.0,
                end_s: i as f64 * 20.0 + 18.0,
                arrivals: (rate * 15.0) as u64,
                achieved_rate_per_s: rate.min(110.0),
                signin_p99_ms: Some(if rate <= 80.0 { 120.0 + rate } else { 2400.0 }),
                passed: rate <= 80.0,
                reason: if rate <= 80.0 {
                    String::new()
                } else {
                    "signin p99 2400 ms > 800 ms".into()
                },
                ..CapacityStep::default()
            })
            .collect(),
    });
    r.derived.recovery = agentstorm::metrics::results::Recovery::from_sessions(&r.sessions);
    r.derived.drift = vec![DriftFinding {
        operation: "signin".into(),
        measure: DriftMeasure::P99,
        points: 20,
        slope_per_hour: 1800.0,
        start: 40.0,
        end: 90.0,
        change_pct: Some(125.0),
        z: 3.9,
        p_value: 0.0001,
        significant: true,
        summary: "signin p99 rose 125 % over the run".into(),
        p_adjusted: Some(0.0004),
        family_size: 4,
        variance_factor: Some(1.2),
        practical: Some(true),
    }];
    if gateway {
        r.gateway = Some(GatewayStats {
            signed_in: 318,
            signed_in_peak: 1830,
            requests: BTreeMap::from([(
                "login".to_string(),
                BTreeMap::from([("0".to_string(), 1830), ("100-002".to_string(), 57)]),
            )]),
            signouts: SignoutCounts {
                logout: 1500,
                forced: 12,
                timeout: 0,
                replaced: 0,
            },
            ..Default::default()
        });
    }
    r
}

fn verdicts() -> Vec<ThresholdLine> {
    let line = |name: &str, passed: bool| ThresholdLine {
        name: name.into(),
        measured: "612 ms".into(),
        allowed: "<= 500 ms".into(),
        passed,
    };
    vec![
        line("alpha-pass", true),
        line("bravo-fail", false),
        line("charlie-pass", true),
        line(&format!("delta-fail {HOSTILE}"), false),
    ]
}

/// Every value of `attr="…"` in the document.
fn attr_values<'a>(doc: &'a str, attr: &str) -> Vec<&'a str> {
    let pat = format!("{attr}=\"");
    doc.match_indices(&pat)
        .filter_map(|(i, _)| {
            let rest = &doc[i + pat.len()..];
            rest.find('"').map(|end| &rest[..end])
        })
        .collect()
}

/// The `<figure id="…">…</figure>` block with this id.
fn figure<'a>(doc: &'a str, id: &str) -> &'a str {
    let start = doc
        .find(&format!("<figure class=\"chart-figure\" id=\"{id}\""))
        .unwrap_or_else(|| panic!("figure {id} missing"));
    let end = doc[start..].find("</figure>").expect("figure closes");
    &doc[start..start + end]
}

const EXPECTED_CHARTS: [&str; 16] = [
    "chart-agents",
    "chart-signin-rate",
    "chart-latency-signin",
    "chart-latency-logout",
    "chart-latency-poll-empty",
    "chart-latency-poll-event",
    "chart-errors",
    "chart-time-to-ready",
    "chart-recovery",
    "chart-capacity-rate",
    "chart-capacity-p99",
    "chart-spectrum-signin",
    "chart-spectrum-logout",
    "chart-spectrum-poll-empty",
    "chart-spectrum-poll-event",
    "chart-drift-signin-p99",
];

#[test]
fn findings_sections_and_polls_apart() {
    let doc = render(&sample_results(true), &verdicts(), None);
    for (id, link) in [
        ("recovery", "Recovery"),
        ("capacity", "Capacity search"),
        ("drift", "Drift"),
    ] {
        assert!(
            doc.contains(&format!("<section id=\"{id}\">")),
            "{id} section"
        );
        assert!(
            doc.contains(&format!("<a href=\"#{id}\">{link}</a>")),
            "{id} in the nav"
        );
    }
    assert!(
        doc.contains("<dt>Sessions lost</dt><dd>12</dd>"),
        "recovery facts"
    );
    assert!(
        doc.contains("<strong>80.0 sign-ins/s</strong>"),
        "capacity answer"
    );
    // poll mixes event and empty polls: with both halves recorded, only they are charted.
    assert!(!doc.contains("id=\"chart-latency-poll\""));
    assert!(!doc.contains("id=\"chart-spectrum-poll\""));
    assert!(doc.contains("Polls are charted as <code>poll_event</code>"));
    // A run without findings has none of the sections nor their links.
    let mut plain = sample_results(true);
    plain.capacity = None;
    plain.derived.recovery = None;
    plain.derived.drift.clear();
    let doc = render(&plain, &verdicts(), None);
    for id in ["recovery", "capacity", "drift"] {
        assert!(!doc.contains(&format!("id=\"{id}\"")), "{id} absent");
        assert!(
            !doc.contains(&format!("href=\"#{id}\"")),
            "{id} link absent"
        );
    }
}

#[test]
fn loads_nothing_from_the_network() {
    let doc = render(&sample_results(true), &verdicts(), Some("name = \"x\"\n"));
    for attr in ["src", "href", "xlink:href", "action", "data"] {
        for v in attr_values(&doc, attr) {
            let v = v.trim().to_ascii_lowercase();
            assert!(
                !(v.starts_with("http:") || v.starts_with("https:") || v.starts_with("//")),
                "{attr}=\"{v}\" reaches the network"
            );
        }
    }
    assert!(
        !doc.contains("url(") && !doc.contains("@import"),
        "CSS fetches"
    );
    assert!(
        !doc.contains("<script"),
        "no script (and hostile text is escaped)"
    );
    assert!(!doc.contains("<link") && !doc.contains("<img") && !doc.contains("<iframe"));
    assert!(doc.contains("Content-Security-Policy\" content=\"default-src 'none'"));
}

#[test]
fn every_expected_chart_is_drawn_with_lines() {
    let doc = render(&sample_results(true), &verdicts(), None);
    for id in EXPECTED_CHARTS {
        let fig = figure(&doc, id);
        assert_eq!(fig.matches("<svg").count(), 1, "{id}: one svg");
        let drawn = attr_values(fig, "d")
            .iter()
            .any(|d| d.starts_with('M') && d.matches('L').count() >= 3);
        assert!(drawn, "{id}: a series path with several points");
        assert!(fig.contains("<text class=\"xl\""), "{id}: x axis label");
        assert!(fig.contains("<text class=\"yl\""), "{id}: y axis label");
    }
    assert_eq!(doc.matches("<svg").count(), EXPECTED_CHARTS.len());
    // Axis units are named.
    assert!(figure(&doc, "chart-latency-signin").contains("latency (ms)"));
    assert!(figure(&doc, "chart-latency-signin").contains("time since start (s)"));
    assert!(figure(&doc, "chart-spectrum-signin").contains(">99.9%<"));
    // Corrected and raw are both labelled on latency charts.
    for label in ["corrected p50", "corrected p99", "raw p50", "raw p99"] {
        assert!(
            figure(&doc, "chart-latency-signin").contains(label),
            "{label}"
        );
    }
    // The failures chart names each failing outcome; the hostile retcode is escaped.
    let errors = figure(&doc, "chart-errors");
    assert!(errors.contains("signin 100-002") && errors.contains("signin http:503"));
    assert!(
        errors.contains("&lt;script&gt;x"),
        "hostile retcode escaped"
    );
}

#[test]
fn hostile_text_is_escaped_everywhere() {
    let mut r = sample_results(false);
    r.status = RunStatus::Aborted {
        reason: HOSTILE.into(),
    };
    r.target.url = format!("https://gw/{HOSTILE}");
    let doc = render(&r, &verdicts(), Some(HOSTILE));
    assert!(!doc.contains("<script"), "raw script tag in output");
    let escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;";
    // title, h1, verdict, event, abort reason, target, scenario text
    assert!(
        doc.matches(escaped).count() >= 7,
        "{}",
        doc.matches(escaped).count()
    );
    assert!(doc.contains(&format!("<h1>morning-peak {escaped}</h1>")));
    assert!(doc.contains(&format!("<pre class=\"scenario\">{escaped}</pre>")));
}

#[test]
fn failed_thresholds_come_first() {
    let doc = render(&sample_results(true), &verdicts(), None);
    let at = |s: &str| doc.find(s).unwrap_or_else(|| panic!("{s} missing"));
    assert!(at("bravo-fail") < at("delta-fail"));
    assert!(at("delta-fail") < at("alpha-pass"));
    assert!(at("alpha-pass") < at("charlie-pass"));
    assert!(doc.contains("2 of 4 thresholds failed"));
    assert!(doc.contains("&lt;= 500 ms"), "allowed text escaped");
    let none = render(&sample_results(true), &[], None);
    assert!(none.contains("No thresholds were set"));
}

#[test]
fn overview_states_status_tls_and_gateway() {
    let with = render(&sample_results(true), &[], None);
    assert!(with.contains("Run status: Completed"));
    assert!(with.contains("TLS certificate verification was disabled"));
    assert!(with.contains("Simulated gateway's own counters"));
    assert!(with.find("id=\"overview\"") < with.find("id=\"over-time\""));
    // peak RSS from intervals: (40 + 3*19) MiB
    assert!(with.contains("97.0 MiB"), "peak RSS");

    let mut r = sample_results(false);
    r.target.tls_verify_disabled = false;
    r.status = RunStatus::Interrupted;
    let without = render(&r, &[], None);
    assert!(!without.contains("own counters"));
    assert!(!without.contains("verification was disabled"));
    assert!(without.contains("Run status: Interrupted"));
    assert!(without.contains("not included in this report"));
}

#[test]
fn reconciliation_table_shows_the_interrupted_range_and_verdicts() {
    let mut r = empty_results();
    r.status = RunStatus::Interrupted;
    let mut poll = OpStats::default();
    for i in 0..10 {
        let outcome = if i < 2 {
            Outcome::Interrupted
        } else {
            Outcome::Ok {
                retcode: Retcode::SUCCESS,
            }
        };
        poll.record(&sample(Operation::Poll, 0.0, 5.0, outcome));
    }
    r.operations.insert("poll".into(), poll);
    let with_gateway = |polls: u64| {
        let mut r = r.clone();
        let mut g = GatewayStats::default();
        g.requests
            .insert("getAgentEvent".into(), [("0".to_string(), polls)].into());
        r.gateway = Some(g);
        render(&r, &[], None)
    };
    // 10 polls, 2 of them interrupted: the gateway may have counted 8 to 10.
    for polls in [8, 10] {
        let doc = with_gateway(polls);
        let table = &doc[doc
            .find("class=\"reconcile\"")
            .expect("reconciliation table")..];
        let table = &table[..table.find("</table>").expect("table ends")];
        assert!(table.contains("<th>Interrupted</th>"), "{table}");
        assert!(table.contains("8 – 10"), "{table}");
        assert!(table.contains(">match<"), "{polls}: {table}");
        assert!(!table.contains("MISMATCH"), "{polls}: {table}");
    }
    let doc = with_gateway(11);
    assert!(doc.contains("<span class=\"fail\">MISMATCH</span>"));
}

#[test]
fn empty_results_render_with_no_data_notes() {
    let doc = render(&empty_results(), &[], None);
    assert!(doc.starts_with("<!DOCTYPE html>") && doc.trim_end().ends_with("</html>"));
    assert!(doc.contains("Run status: Aborted"));
    assert!(doc.contains("target unreachable: connection refused"));
    assert!(doc.contains("No data: the run recorded no intervals"));
    assert!(doc.contains("No data: no operation finished"));
    assert!(doc.contains("No data: no agent signed in"));
    assert_eq!(doc.matches("<svg").count(), 0);

    // Intervals without any operation, of zero length, with one point only.
    let mut r = empty_results();
    r.intervals = vec![IntervalSnapshot {
        start_s: 0.0,
        end_s: 0.0,
        ..Default::default()
    }];
    r.operations.insert("signin".into(), OpStats::default());
    let doc = render(&r, &[], None);
    assert!(doc.contains("No failures were recorded"));
    assert!(doc.contains("No data: no operation finished in any interval"));
}

#[test]
#[ignore = "writes the sample report for scripts/html-check/check.sh"]
fn sample_report_for_browser_check() {
    let path =
        std::env::var("AGENTSTORM_HTML_OUT").expect("AGENTSTORM_HTML_OUT names the output file");
    let scenario = "[scenario]\nname = \"morning-peak\"\n\n[target]\nurl = \"https://cc-gw.example.test:8443\"\npassword = \"[redacted]\"\n\n[[stages]]\nrate = \"160/5s\"\nduration = \"60s\"\n";
    let doc = render(&sample_results(true), &verdicts(), Some(scenario));
    std::fs::write(&path, doc).expect("write the sample report");
    // An aborted run with nothing recorded, next to it, for the no-data page.
    let empty = std::path::Path::new(&path).with_extension("empty.html");
    std::fs::write(empty, render(&empty_results(), &[], None)).expect("write the empty report");
}

#[test]
fn a_day_of_one_second_intervals_stays_under_a_megabyte() {
    let mut r = empty_results();
    r.status = RunStatus::Completed;
    r.duration_s = 86_400.0;
    let op = IntervalOp {
        count: 50,
        ok: 49,
        failed: 1,
        corrected_p50_ms: 20.0,
        corrected_p99_ms: 80.0,
        raw_p50_ms: 18.0,
        raw_p99_ms: 60.0,
        errors: BTreeMap::from([("100-002".to_string(), 1)]),
        ..Default::default()
    };
    r.intervals = (0..86_400u32)
        .map(|k| {
            let mut o = op.clone();
            if k == 43_210 {
                o.corrected_p99_ms = 9_000.0; // one spike must survive thinning
            }
            IntervalSnapshot {
                start_s: f64::from(k),
                end_s: f64::from(k + 1),
                active_agents: 1000,
                signed_in: 990,
                arrivals: 1,
                operations: BTreeMap::from([
                    ("signin".to_string(), o.clone()),
                    ("poll".to_string(), o),
                ]),
                ..Default::default()
            }
        })
        .collect();
    let doc = render(&r, &[], None);
    assert!(doc.len() < 1_000_000, "{} bytes", doc.len());
    let fig = figure(&doc, "chart-latency-signin");
    assert!(fig.contains("time since start (h)"), "long runs use hours");
    // the spike sets the axis: 9 s needs a tick at 9000 ms (or beyond)
    assert!(
        fig.contains(">10000<") || fig.contains(">9000<"),
        "spike kept"
    );
}
