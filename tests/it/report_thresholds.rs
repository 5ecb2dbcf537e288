//! Thresholds: parsing (valid forms and messages for invalid ones) and evaluation, whole
//! run and windowed, including a p99 that breaks for one minute of an hour.

use std::collections::BTreeMap;
use std::time::Duration;

use agentstorm::analysis::thresholds::{
    self, evaluate, parse_all, parse_one, Cmp, Limit, Metric, SessionField, Stat,
};
use agentstorm::metrics::hlog::{HlogInterval, LatencyKind};
use agentstorm::metrics::results::{IntervalOp, IntervalSnapshot};
use agentstorm::metrics::{Hist, OpStats, Operation};

use crate::support::fixture;

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn parses_every_documented_form() {
    let t = parse_one("signin.p99", "< 800ms").expect("valid");
    assert_eq!(
        t.metric,
        Metric::Latency {
            operation: "signin".into(),
            kind: LatencyKind::Corrected,
            stat: Stat::Percentile(99.0)
        }
    );
    assert_eq!(
        (t.cmp, t.limit, t.window),
        (Cmp::Lt, Limit::Ms(800.0), None)
    );

    let t = parse_one("signin.raw.p999", "<= 1.5s").expect("valid");
    assert!(
        matches!(t.metric, Metric::Latency { kind: LatencyKind::Raw, stat: Stat::Percentile(p), .. } if (p - 99.9).abs() < 1e-9)
    );
    assert_eq!(t.limit, Limit::Ms(1500.0));
    assert_eq!(
        parse_one("poll_event.p50", "< 500us").expect("valid").limit,
        Limit::Ms(0.5)
    );
    assert_eq!(
        parse_one("logout.max", "< 2s").expect("valid").limit,
        Limit::Ms(2000.0)
    );

    let t = parse_one("signin.errors[100-003]", "< 1%").expect("valid");
    assert_eq!(
        t.metric,
        Metric::Errors {
            operation: Some("signin".into()),
            label: Some("100-003".into())
        }
    );
    assert_eq!(t.limit, Limit::Percent(1.0));
    let t = parse_one("errors", "< 1%").expect("valid");
    assert_eq!(
        t.metric,
        Metric::Errors {
            operation: None,
            label: None
        }
    );
    let t = parse_one("sessions.ready", "> 99%").expect("valid");
    assert_eq!(
        t.metric,
        Metric::Sessions {
            field: SessionField::Ready
        }
    );
    assert_eq!(t.cmp, Cmp::Gt);
    let t = parse_one("sessions.dropped", "== 0").expect("valid");
    assert_eq!(
        t.metric,
        Metric::Sessions {
            field: SessionField::SignedOutUnexpected
        }
    );
    assert_eq!((t.cmp, t.limit), (Cmp::Eq, Limit::Number(0.0)));
    let t = parse_one("signin.rate", ">= 90").expect("valid");
    assert_eq!((t.cmp, t.limit), (Cmp::Ge, Limit::Number(90.0)));
    assert!(parse_one("signin.rate", ">= 90/s").is_ok());
    let t = parse_one("signin.p99 over 1m", "< 800ms").expect("valid");
    assert_eq!(t.window, Some(Duration::from_secs(60)));
    assert_eq!(t.name, "signin.p99 over 1m");
    assert!(parse_one("sessions.time_to_ready.p99", "< 5s").is_ok());
    assert!(parse_one("scheduler.lag.p99", "< 50ms").is_ok());
    assert!(parse_one("scheduler.not_started", "== 0").is_ok());
    assert!(parse_one("signin.errors over 30s", "< 5%").is_ok());
}

#[test]
fn bad_thresholds_say_what_is_wrong_and_what_is_valid() {
    let e = |k: &str, v: &str| parse_one(k, v).expect_err("invalid");
    let m = e("sigin.p99", "< 800ms");
    assert!(m.contains("did you mean \"signin\""), "{m}");
    let m = e("signin.p99", "< 800");
    assert!(m.contains("time unit"), "{m}");
    let m = e("signin.p99", "800ms");
    assert!(m.contains("< <= > >= =="), "{m}");
    let m = e("signin.p99", "< 800 parsecs");
    assert!(m.contains("unknown unit"), "{m}");
    let m = e("signin.errors", "< 1ms");
    assert!(m.contains("percentage"), "{m}");
    let m = e("signin.p99x", "< 1ms");
    assert!(m.contains("p999"), "{m}");
    let m = e("sessions.ready over 1m", "> 99%");
    assert!(m.contains("over <window>"), "{m}");
    let m = e("signin.p99 over soon", "< 1ms");
    assert!(m.contains("window"), "{m}");
    let m = e("signin.p99[100-003]", "< 1ms");
    assert!(m.contains("only follows \"errors\""), "{m}");
    let m = e("sessions.happy", "== 0");
    assert!(m.contains("signed_out_unexpected"), "{m}");

    let err = parse_all(&map(&[
        ("signin.p99", "< 800ms"),
        ("bogus.p99", "< 1ms"),
        ("errors", "less than 1%"),
    ]))
    .expect_err("two bad entries");
    assert_eq!(err.problems.len(), 2);
    let text = err.to_string();
    assert!(
        text.contains("\"bogus.p99\"") && text.contains("\"errors\""),
        "{text}"
    );
}

fn verdict_of<'a>(vs: &'a [thresholds::Verdict], name: &str) -> &'a thresholds::Verdict {
    vs.iter().find(|v| v.name == name).expect("verdict present")
}

#[test]
fn whole_run_verdicts() {
    // fixture: signin 100 attempts (98 ok at 1..=98 ms, one 100-003, one connect refused),
    // logout 10 (one http:503), sessions 100 started / 97 ready, 100 s run
    let r = fixture::sample_results();
    let ths = parse_all(&map(&[
        ("signin.p99", "< 800ms"),
        ("signin.p50", "< 10ms"),
        ("signin.raw.max", "<= 98.1ms"),
        ("signin.errors", "< 1%"),
        ("signin.errors[100-003]", "== 1"),
        ("signin.errors[transport:connect_refused]", "<= 1%"),
        ("errors", "< 2%"),
        ("sessions.ready", "> 99%"),
        ("sessions.signed_out_unexpected", "== 0"),
        ("signin.rate", ">= 0.98"),
        ("forcelogin.p99", "< 1s"),
        ("forcelogin.errors", "< 1%"),
    ]))
    .expect("valid");
    let vs = evaluate(&ths, &r, None);
    assert_eq!(vs.len(), 12);
    let v = verdict_of(&vs, "signin.p99");
    assert!(v.passed, "{v:?}");
    assert!(!verdict_of(&vs, "signin.p50").passed);
    assert!(verdict_of(&vs, "signin.raw.max").passed);
    let v = verdict_of(&vs, "signin.errors");
    assert!(!v.passed);
    assert_eq!(v.value, Some(2.0));
    assert!(v.measured.contains('%'), "{v:?}");
    assert!(verdict_of(&vs, "signin.errors[100-003]").passed);
    assert!(verdict_of(&vs, "signin.errors[transport:connect_refused]").passed);
    // overall: 3 failures (2 signin + 1 logout) of 160 attempts (poll splits not counted)
    let v = verdict_of(&vs, "errors");
    assert!(
        (v.value.expect("measured") - 300.0 / 160.0).abs() < 1e-9,
        "{v:?}"
    );
    assert!(v.passed);
    assert!(!verdict_of(&vs, "sessions.ready").passed);
    assert!(verdict_of(&vs, "sessions.signed_out_unexpected").passed);
    let v = verdict_of(&vs, "signin.rate");
    assert!(
        (v.value.expect("rate") - 0.98).abs() < 1e-9 && v.passed,
        "{v:?}"
    );
    // no forcelogin at all: its latency cannot be measured (fails), its error rate is 0 %
    let v = verdict_of(&vs, "forcelogin.p99");
    assert!(
        !v.passed && v.value.is_none() && v.measured.contains("no samples"),
        "{v:?}"
    );
    assert!(verdict_of(&vs, "forcelogin.errors").passed);

    let text = agentstorm::report::thresholds::render(&vs);
    assert!(text.contains("FAILED signin.p50"), "{text}");
    assert!(text.contains("allowed < 10ms"), "{text}");
    assert!(!thresholds::all_passed(&vs));

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(agentstorm::report::THRESHOLDS_CSV);
    agentstorm::report::thresholds::write_csv(&vs, &path).expect("writes");
    let mut rd = csv::Reader::from_path(&path).expect("opens");
    assert_eq!(
        rd.headers().expect("header").iter().collect::<Vec<_>>(),
        agentstorm::report::thresholds::THRESHOLDS_HEADER
    );
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.expect("row")).collect();
    assert_eq!(rows.len(), 12);
    let p50 = rows.iter().find(|r| &r[0] == "signin.p50").expect("row");
    assert_eq!(&p50[1], "false");
}

fn hist_ms(fast: u64, slow: u64) -> Hist {
    let mut h = Hist::new();
    (0..fast).for_each(|i| h.record_us(100_000 + i * 100));
    (0..slow).for_each(|_| h.record_us(2_000_000));
    h
}

/// An hour in 30 s intervals of 100 sign-ins each; in minute 30 (1800–1860 s) three of
/// every hundred take 2 s. The whole hour's p99 is fast (6 slow of 12,000); that minute's
/// p99 is 2 s.
fn hour_with_one_bad_minute() -> (agentstorm::metrics::Results, Vec<HlogInterval>) {
    let mut r = fixture::empty_results("soak");
    r.duration_s = 3600.0;
    let mut total = OpStats::default();
    let mut hlog = Vec::new();
    for i in 0..120u64 {
        let (start, end) = (i as f64 * 30.0, i as f64 * 30.0 + 30.0);
        let bad = (60..62).contains(&i);
        let h = if bad { hist_ms(97, 3) } else { hist_ms(100, 0) };
        total.corrected.add(&h);
        total.raw.add(&h);
        total.count += 100;
        total.ok += if bad { 97 } else { 100 };
        total.http_errors += if bad { 3 } else { 0 };
        total.http_statuses.insert(503, total.http_errors);
        hlog.push(HlogInterval {
            tag: "signin.corrected".into(),
            start_s: start,
            end_s: end,
            hist: h.clone(),
        });
        let op = IntervalOp {
            count: 100,
            ok: if bad { 97 } else { 100 },
            failed: if bad { 3 } else { 0 },
            errors: if bad {
                [("http:503".to_string(), 3)].into()
            } else {
                BTreeMap::new()
            },
            ..Default::default()
        };
        r.intervals.push(IntervalSnapshot {
            start_s: start,
            end_s: end,
            operations: [("signin".to_string(), op)].into(),
            ..Default::default()
        });
    }
    r.operations.insert(Operation::Signin.name().into(), total);
    (r, hlog)
}

#[test]
fn a_p99_that_breaks_for_one_minute_in_an_hour_fails_the_window_threshold() {
    let (r, hlog) = hour_with_one_bad_minute();
    let ths = parse_all(&map(&[
        ("signin.p99", "< 800ms"),
        ("signin.p99 over 1m", "< 800ms"),
        ("signin.p99 over 2h", "< 800ms"),
        ("signin.p50 over 1m", "< 800ms"),
        ("signin.errors", "< 0.1%"),
        ("signin.errors over 1m", "< 1%"),
        ("signin.errors[http:503] over 5m", "< 1%"),
        ("signin.rate over 1m", ">= 3.3"),
        ("signin.count over 10m", ">= 2000"),
    ]))
    .expect("valid");
    let vs = evaluate(&ths, &r, Some(&hlog));
    let whole = verdict_of(&vs, "signin.p99");
    assert!(whole.passed, "the hour as a whole is fast: {whole:?}");
    let win = verdict_of(&vs, "signin.p99 over 1m");
    assert!(!win.passed, "{win:?}");
    // the worst window holds at least half of the bad minute (one of its two intervals:
    // 1.5 % slow), so it starts between 1770 and 1830 s; such windows tie
    let (ws, we) = win.window_s.expect("a window");
    assert!(
        we - ws == 60.0 && (1770.0..=1830.0).contains(&ws),
        "{win:?}"
    );
    assert!(
        (win.value.expect("measured") - 2000.0).abs() < 5.0,
        "{win:?}"
    );
    assert!(
        win.measured.contains(&format!("{ws:.0}–{we:.0} s")),
        "{win:?}"
    );
    // a window longer than the run is the whole run
    assert!(verdict_of(&vs, "signin.p99 over 2h").passed);
    assert!(verdict_of(&vs, "signin.p50 over 1m").passed);
    // errors: 6 of 12,000 over the hour (0.05 %), 3 % in the bad minute
    assert!(verdict_of(&vs, "signin.errors").passed);
    let e = verdict_of(&vs, "signin.errors over 1m");
    assert!(
        !e.passed && (e.value.expect("rate") - 3.0).abs() < 1e-9,
        "{e:?}"
    );
    // 6 of 1,000 in the worst 5 minutes: 0.6 %
    let e5 = verdict_of(&vs, "signin.errors[http:503] over 5m");
    assert!(
        e5.passed && (e5.value.expect("rate") - 0.6).abs() < 1e-9,
        "{e5:?}"
    );
    // ok per second: 194 / 60 s in the bad minute, 100 / 30 s elsewhere
    let rate = verdict_of(&vs, "signin.rate over 1m");
    assert!(
        !rate.passed && (rate.value.expect("rate") - 194.0 / 60.0).abs() < 1e-9,
        "{rate:?}"
    );
    assert!(verdict_of(&vs, "signin.count over 10m").passed);
}

#[test]
fn a_window_threshold_without_the_hlog_fails_and_says_why() {
    let (r, _) = hour_with_one_bad_minute();
    let ths = parse_all(&map(&[("signin.p99 over 1m", "< 800ms")])).expect("valid");
    let vs = evaluate(&ths, &r, None);
    assert!(!vs[0].passed);
    assert!(vs[0].measured.contains("latency.hlog"), "{:?}", vs[0]);
}

#[test]
fn streaming_from_the_hlog_file_gives_the_same_verdicts() {
    let (r, hlog) = hour_with_one_bad_minute();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("latency.hlog");
    let mut w =
        agentstorm::metrics::hlog::HlogWriter::create(&path, 1_767_225_600.0).expect("create");
    for iv in &hlog {
        w.write(&iv.tag, iv.start_s, iv.end_s, &iv.hist)
            .expect("write");
        // another tag interleaved, which the evaluation must skip
        w.write("poll.raw", iv.start_s, iv.end_s, &Hist::new())
            .expect("write");
    }
    w.flush().expect("flush");
    let ths = parse_all(&map(&[
        ("signin.p99 over 1m", "< 800ms"),
        ("signin.p99 over 10m", "< 2500ms"),
        ("signin.p50 over 1m", "< 800ms"),
        ("signin.errors over 1m", "< 1%"),
        ("signin.p99", "< 800ms"),
    ]))
    .expect("valid");
    let from_slice = evaluate(&ths, &r, Some(&hlog));
    let from_file = thresholds::evaluate_with_hlog_file(&ths, &r, Some(&path));
    assert_eq!(from_slice, from_file);
    for (name, passed) in [
        ("signin.p99 over 1m", false),
        ("signin.p99 over 10m", true),
        ("signin.p50 over 1m", true),
        ("signin.errors over 1m", false),
        ("signin.p99", true),
    ] {
        assert_eq!(
            verdict_of(&from_file, name).passed,
            passed,
            "{name}: {from_file:?}"
        );
    }
    let missing =
        thresholds::evaluate_with_hlog_file(&ths, &r, Some(&dir.path().join("nope.hlog")));
    let v = verdict_of(&missing, "signin.p99 over 1m");
    assert!(!v.passed && v.measured.contains("cannot read"), "{v:?}");
    // thresholds that do not need the hlog are unaffected by its absence
    assert!(verdict_of(&missing, "signin.p99").passed);
}

#[test]
fn drift_threshold_fails_a_significant_rise_and_passes_a_looser_limit() {
    use agentstorm::metrics::results::{IntervalOp, IntervalSnapshot};
    let mut r = fixture::empty_results("drift");
    for i in 0..60 {
        let mut s = IntervalSnapshot {
            start_s: i as f64 * 10.0,
            end_s: (i + 1) as f64 * 10.0,
            ..Default::default()
        };
        // signin p99 rises from 100 ms to ~140 ms over the hour, with a little noise
        let p99 = 100.0 + 40.0 * i as f64 / 59.0 + (i % 3) as f64;
        s.operations.insert(
            "signin".into(),
            IntervalOp {
                count: 50,
                ok: 50,
                corrected_p99_ms: p99,
                ..Default::default()
            },
        );
        r.intervals.push(s);
    }
    r.derived.drift = agentstorm::analysis::drift::analyse(&r.intervals);
    let strict =
        thresholds::parse_all(&[("signin.p99.drift".to_string(), "< 20%".to_string())].into())
            .expect("parses");
    let v = thresholds::evaluate(&strict, &r, None);
    assert!(!v[0].passed, "{:?}", v[0]);
    let measured = v[0].value.expect("measured");
    assert!((35.0..45.0).contains(&measured), "{measured}");
    let loose =
        thresholds::parse_all(&[("signin.p99.drift".to_string(), "< 50%".to_string())].into())
            .expect("parses");
    assert!(thresholds::evaluate(&loose, &r, None)[0].passed);
    assert!(
        thresholds::parse_one("signin.p99.drift", "< 20ms").is_err(),
        "needs a percentage"
    );
}

#[test]
fn recovery_thresholds_judge_the_failover() {
    let mut r = fixture::sample_results();
    // 10 sessions lost at 30 s; 9 of those agents back between 31 and 39 s.
    for _ in 0..10 {
        r.sessions.lost_at.record_us(30_000_000);
    }
    for s in 1..=9u64 {
        r.sessions.back_at.record_us(30_000_000 + s * 1_000_000);
    }
    let ths = parse_all(&map(&[
        ("recovery.t50", "< 6s"),
        ("recovery.t99", "< 20s"),
        ("recovery.lost", "== 10"),
        ("recovery.back", ">= 90%"),
        ("recovery.not_back", "== 0"),
        ("sessions.throttled", "== 0"),
    ]))
    .expect("valid");
    let vs = evaluate(&ths, &r, None);
    let t50 = verdict_of(&vs, "recovery.t50");
    assert!(t50.passed, "{t50:?}");
    // rank ceil(0.5 × 10) = 5: the fifth agent back, 5 s after the loss
    assert!(
        (t50.value.expect("value") - 5_000.0).abs() < 50.0,
        "{t50:?}"
    );
    let t99 = verdict_of(&vs, "recovery.t99");
    assert!(!t99.passed && t99.value.is_none(), "{t99:?}");
    assert!(t99.measured.contains("not reached"), "{t99:?}");
    assert!(verdict_of(&vs, "recovery.lost").passed);
    assert!(verdict_of(&vs, "recovery.back").passed);
    let not_back = verdict_of(&vs, "recovery.not_back");
    assert!(
        !not_back.passed && not_back.value == Some(1.0),
        "{not_back:?}"
    );
    assert!(verdict_of(&vs, "sessions.throttled").passed);

    // Without a loss there is nothing to judge: a drill that did not happen fails.
    let calm = fixture::sample_results();
    let vs = evaluate(&ths, &calm, None);
    let t50 = verdict_of(&vs, "recovery.t50");
    assert!(
        !t50.passed && t50.measured.contains("no session was lost"),
        "{t50:?}"
    );

    for (key, value, says) in [
        (
            "recovery.t75",
            "< 1s",
            "valid: t50, t99, t100, lost, back, not_back",
        ),
        ("recovery.t99", "< 5", "needs a time unit"),
        ("recovery.not_back", "< 5s", "plain number"),
    ] {
        let e = parse_one(key, value).expect_err(key);
        assert!(e.contains(says), "{key} = {value}: {e}");
    }
}
