//! Load models and session behaviour end to end against the simulated gateway on port 0:
//! graceful and hard stop, the closed model, late arrivals dropped, failover recovery,
//! push mode, resetskill and the capacity search. Timing knobs are in milliseconds so
//! every test runs in a few seconds.
//!
//! A test binary of its own, not a module of `tests/it`: its assertions are on the wall
//! clock (a stop within 4 s, recovery within 2 s, heartbeats that keep 1 s sessions alive,
//! schedule lag), which other tests' CPU load in the same process could break.

use std::time::{Duration, Instant};

use agentstorm::metrics::results::RunStatus;
use agentstorm::protocol::Endpoint;
use agentstorm::run::{run, RunOptions, RunOutcome};

#[path = "it/support/gateway.rs"]
mod support;
use support::gateway;

fn options(dir: &tempfile::TempDir, scenario: &str, target: &str) -> RunOptions {
    let path = dir.path().join("s.toml");
    std::fs::write(&path, scenario).expect("write scenario");
    let mut o = RunOptions::new(path);
    o.target = Some(target.to_string());
    o.out = Some(dir.path().join("out"));
    o
}

fn assert_reconciles(out: &RunOutcome) {
    for (name, op) in &out.results.operations {
        assert!(op.reconciles(), "{name} does not reconcile");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_stop_signs_every_agent_out() {
    let gw = gateway("poll_wait = \"300ms\"").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = options(
        &dir,
        r#"name = "stop"
[agents]
ids = "1001-1400"
[session]
hold = "60s"
poll_gap = "50ms"
[load]
stages = [{ hold = "4s", rate = 100 }]
[stop]
signout_rate = 400
"#,
        &gw.url,
    );
    let stop = opts.stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        stop.cancel();
    });
    let t0 = Instant::now();
    let out = run(opts).await.expect("run");
    let r = &out.results;
    assert!(matches!(r.status, RunStatus::Interrupted), "{:?}", r.status);
    assert!(
        t0.elapsed() < Duration::from_secs(4),
        "stopped early: {:?}",
        t0.elapsed()
    );
    assert!(
        r.scheduler.started < 400,
        "arrivals stopped: {}",
        r.scheduler.started
    );
    let s = &r.sessions;
    assert!(s.signed_in > 50, "{s:?}");
    assert_eq!(
        s.signed_out_clean, s.signed_in,
        "every signed-in agent signed out"
    );
    assert_eq!(s.left_signed_in, 0);
    assert_eq!(
        gw.sim.stats().signed_in,
        0,
        "the gateway agrees: nobody left signed in"
    );
    assert_eq!(
        out.exit_code,
        agentstorm::exit::INTERRUPTED,
        "interrupted, whoever signed out"
    );
    assert_reconciles(&out);
}

/// The stop's bound (docs/scenarios.md `[stop]`): with long polls waiting 30 s at the
/// gateway, 1,000 agents still sign out within agents / signout_rate plus a second, each
/// giving up its waiting poll (counted as abandoned, not as a failure) when its turn comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_abandons_waiting_long_polls_and_keeps_its_bound() {
    const AGENTS: u64 = 1_000;
    const SIGNOUT_RATE: u64 = 500;
    let gw = gateway("poll_wait = \"30s\"\ninactivity_timeout = \"5m\"").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = options(
        &dir,
        &format!(
            r#"name = "stop-bound"
[agents]
ids = "1001-{}"
[session]
hold = "5m"
poll_gap = "10ms"
[load]
stages = [{{ hold = "1s", rate = {AGENTS} }}, {{ hold = "60s", rate = 0 }}]
[stop]
signout_rate = {SIGNOUT_RATE}
"#,
            1000 + AGENTS
        ),
        &gw.url,
    );
    let stop = opts.stop.clone();
    let stopped_at = std::sync::Arc::new(std::sync::Mutex::new(None));
    let mark = stopped_at.clone();
    let sim = gw.sim.clone();
    tokio::spawn(async move {
        // Every agent signed in and waiting in a long poll (bounded: 20 s).
        let t = Instant::now();
        while sim.stats().signed_in < AGENTS && t.elapsed() < Duration::from_secs(20) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        *mark.lock().expect("lock") = Some(Instant::now());
        stop.cancel();
    });
    let out = run(opts).await.expect("run");
    let took = stopped_at.lock().expect("lock").expect("stopped").elapsed();
    let r = &out.results;
    assert!(matches!(r.status, RunStatus::Interrupted), "{:?}", r.status);
    let bound = Duration::from_secs(AGENTS / SIGNOUT_RATE + 1);
    // Slack for a loaded machine, far below the 30 s a waiting poll would have taken.
    assert!(
        took < bound + Duration::from_millis(1_500),
        "stopping took {took:?}, bound {bound:?}"
    );
    let s = &r.sessions;
    assert_eq!(s.signed_in, AGENTS, "{s:?}");
    assert_eq!(s.signed_out_clean, AGENTS, "{s:?}");
    assert_eq!(gw.sim.stats().signed_in, 0, "the gateway agrees");
    let poll = &r.operations["poll"];
    assert!(poll.abandoned > AGENTS / 2, "{poll:?}");
    assert_eq!(
        poll.failed(),
        0,
        "an abandoned poll is not a failure: {poll:?}"
    );
    assert_eq!(out.exit_code, agentstorm::exit::INTERRUPTED);
    assert_reconciles(&out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hard_stop_writes_what_was_recorded_and_counts_who_was_left() {
    let gw = gateway("poll_wait = \"300ms\"").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = options(
        &dir,
        r#"name = "hard"
[agents]
ids = "1001-1400"
[session]
hold = "60s"
poll_gap = "50ms"
[load]
stages = [{ hold = "4s", rate = 100 }]
[stop]
signout_rate = 1
"#,
        &gw.url,
    );
    let (stop, hard) = (opts.stop.clone(), opts.hard_stop.clone());
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(800)).await;
        stop.cancel();
        tokio::time::sleep(Duration::from_millis(500)).await;
        hard.cancel();
    });
    let out = run(opts).await.expect("run");
    let r = &out.results;
    assert!(matches!(r.status, RunStatus::Interrupted));
    let left = r.sessions.left_signed_in;
    assert!(
        left > 10,
        "a 1/s sign-out rate leaves most agents signed in: {left}"
    );
    assert_eq!(
        left,
        gw.sim.stats().signed_in,
        "the summary's count is the gateway's"
    );
    // Every started call ended as one sample: the polls cut short by the hard stop are
    // recorded as interrupted, so the gateway (counting the requests it answered) saw
    // between the answered ones and all the harness sent.
    let poll = &r.operations["poll"];
    assert!(poll.interrupted > 0, "polls were in flight: {poll:?}");
    assert!(poll.reconciles(), "{poll:?}");
    let answered_by_gateway = gw.sim.stats().endpoint_total(Endpoint::GetAgentEvent);
    assert!(
        poll.judged() <= answered_by_gateway && answered_by_gateway <= poll.count,
        "harness {} answered + {} interrupted, gateway {answered_by_gateway}",
        poll.judged(),
        poll.interrupted
    );
    assert_eq!(out.exit_code, agentstorm::exit::INTERRUPTED);
    let back = agentstorm::metrics::Results::load(&dir.path().join("out/results.json"))
        .expect("results written after a hard stop");
    assert_eq!(back.sessions.left_signed_in, left);
    assert_eq!(back.operations["poll"].interrupted, poll.interrupted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_model_keeps_a_population_that_repeats_sessions() {
    let gw = gateway("poll_wait = \"200ms\"").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = options(
        &dir,
        r#"name = "closed"
[agents]
ids = "1001-1040"
[session]
hold = { min = "100ms", max = "200ms" }
poll_gap = "20ms"
pause = "50ms"
[load]
model = "closed"
stages = [{ hold = "2500ms", rate = 20 }]
"#,
        &gw.url,
    );
    let out = run(opts).await.expect("run");
    let r = &out.results;
    assert!(matches!(r.status, RunStatus::Completed), "{:?}", r.status);
    assert!(
        r.scheduler.peak_active_agents <= 20,
        "{}",
        r.scheduler.peak_active_agents
    );
    assert!(r.scheduler.peak_active_agents >= 18);
    // 20 agents looping sessions of ~0.3 s for 2.5 s: several sessions each
    assert!(r.sessions.started >= 60, "sessions {}", r.sessions.started);
    assert_eq!(r.sessions.signed_out_clean, r.sessions.signed_in);
    assert_eq!(gw.sim.stats().signed_in, 0);
    assert!(gw.sim.stats().signed_in_peak <= 20);
    assert_reconciles(&out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrivals_past_max_lateness_are_dropped_and_counted() {
    let gw = gateway("poll_wait = \"200ms\"").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = options(
        &dir,
        r#"name = "late"
[agents]
ids = "1001-1100"
[session]
hold = "1s"
poll_gap = "50ms"
[load]
stages = [{ hold = "1s", rate = 50 }, { hold = "2s", rate = 0 }]
max_in_flight = 5
max_lateness = "100ms"
"#,
        &gw.url,
    );
    let out = run(opts).await.expect("run");
    let sch = &out.results.scheduler;
    assert!(sch.dropped_late > 20, "{sch:?}");
    assert!(sch.started >= 5);
    assert_eq!(
        sch.started + sch.dropped_late + sch.not_started,
        50,
        "none silently skipped"
    );
    assert_eq!(out.results.sessions.started, sch.started);
}

/// Arrivals far faster than `max_in_flight` lets through: without `max_lateness` every one
/// of them still starts — late, in a backlog that outlives the plan — and the cap holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturated_open_model_starts_every_arrival_late_within_the_cap() {
    let gw = gateway("poll_wait = \"10ms\"").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = options(
        &dir,
        r#"name = "saturated"
[agents]
ids = "1001-1400"
[session]
hold = "20ms"
[load]
stages = [{ hold = "200ms", rate = 1000 }]
max_in_flight = 4
"#,
        &gw.url,
    );
    let out = run(opts).await.expect("run");
    let r = &out.results;
    assert!(matches!(r.status, RunStatus::Completed), "{:?}", r.status);
    let sch = &r.scheduler;
    assert_eq!(
        (
            sch.planned_arrivals,
            sch.started,
            sch.dropped_late,
            sch.not_started
        ),
        (200, 200, 0, 0),
        "{sch:?}"
    );
    assert!(sch.peak_active_agents <= 4, "{sch:?}");
    assert!(gw.sim.stats().signed_in_peak <= 4);
    assert_eq!(r.sessions.signed_in, 200);
    assert_eq!(r.sessions.signed_out_clean, 200);
    // Agents held for their whole 20 ms even when the next poll was due after the hold
    // ends (only the last few, still holding when the plan's last arrival has started,
    // are cut short by the end-of-plan stop).
    let p5 = r
        .sessions
        .session_length
        .percentile_ms(5.0)
        .expect("lengths");
    assert!(p5 >= 19.9, "session length p5 {p5} ms");
    // 200 sessions of at least 20 ms, 4 at a time, take at least a second: the last
    // arrivals, due within the plan's 200 ms, started long after it.
    let lag_max = r.scheduler.lag.max_ms().expect("lag recorded");
    assert!(lag_max >= 500.0, "lag max {lag_max} ms");
    assert_eq!(gw.sim.stats().signed_in, 0);
    assert_reconciles(&out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_everyone_signs_in_again_and_recovery_is_reported() {
    let gw = gateway("poll_wait = \"200ms\"\nfailover_at = \"1500ms\"").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = options(
        &dir,
        r#"name = "failover"
[agents]
ids = "1001-1050"
[session]
hold = "2500ms"
poll_gap = "50ms"
on_unexpected_signout = "signin-again"
[load]
stages = [{ hold = "500ms", rate = 100 }, { hold = "5s", rate = 0 }]
"#,
        &gw.url,
    );
    let out = run(opts).await.expect("run");
    let r = &out.results;
    let rec = r.derived.recovery.as_ref().expect("sessions were lost");
    assert_eq!(rec.lost, 50, "{rec:?}");
    assert_eq!(rec.back, 50, "{rec:?}");
    let t99 = rec.t99_s.expect("99 % came back");
    assert!(t99 > 0.0 && t99 < 2.0, "{t99}");
    assert!(
        (1.3..2.5).contains(&rec.first_loss_s),
        "{}",
        rec.first_loss_s
    );
    assert_eq!(r.sessions.signed_out_unexpected, 50);
    assert_eq!(r.sessions.signed_in, 100, "50 first sessions + 50 again");
    // Agents and sessions are not the same count: 50 agents, 100 sessions.
    assert_eq!(r.sessions.agents, 50, "{:?}", r.sessions);
    assert_eq!((r.sessions.started, r.sessions.resignins), (100, 50));
    let console = agentstorm::report::console_summary(r);
    assert!(
        console.contains("re-sign-ins after a lost session"),
        "{console}"
    );
    assert_eq!(gw.sim.stats().signouts.forced, 50);
    assert_eq!(gw.sim.stats().signed_in, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_mode_heartbeats_and_measures_event_delivery() {
    let gw = gateway("inactivity_timeout = \"1s\"").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = options(
        &dir,
        r#"name = "push"
[agents]
ids = "1001-1020"
[session]
hold = "1500ms"
[session.push]
heartbeat = "300ms"
[session.resetskill]
autoflag = true
[load]
stages = [{ hold = "500ms", rate = 40 }, { hold = "3s", rate = 0 }]
"#,
        &gw.url,
    );
    let out = run(opts).await.expect("run");
    let r = &out.results;
    let s = &r.sessions;
    assert_eq!(
        (s.signed_in, s.ready, s.signed_out_clean),
        (20, 20, 20),
        "{s:?}"
    );
    assert_eq!(
        s.signed_out_unexpected, 0,
        "heartbeats kept every session alive"
    );
    assert!(
        r.operations["handshake"].ok >= 20 * 3,
        "{:?}",
        r.operations["handshake"]
    );
    assert_eq!(r.operations["resetskill"].ok, 20);
    assert!(
        !r.operations.contains_key("poll"),
        "push mode does not poll"
    );
    assert!(
        s.event_delivery.count() >= 40,
        "InService and Ready pushed per agent"
    );
    let g = gw.sim.stats();
    assert_eq!(
        g.endpoint_total(Endpoint::HandShake),
        r.operations["handshake"].count
    );
    assert_eq!(g.endpoint_total(Endpoint::GetAgentEvent), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_adopt_rotated_guids_under_dynamic_authentication() {
    // A new GUID every 150 ms, the old one dead 100 ms after it was handed out: an agent
    // that kept its first GUID would get 000-003 within half a second.
    let gw = gateway(
        "poll_wait = \"100ms\"\nauth_mode = \"dynamic\"\nguid_interval = \"150ms\"\nguid_grace = \"100ms\"",
    )
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = options(
        &dir,
        r#"name = "rotation"
[agents]
ids = "1001-1020"
[session]
hold = "1500ms"
poll_gap = "20ms"
[load]
stages = [{ hold = "500ms", rate = 40 }, { hold = "3s", rate = 0 }]
"#,
        &gw.url,
    );
    let out = run(opts).await.expect("run");
    let s = &out.results.sessions;
    assert_eq!((s.signed_in, s.signed_out_clean), (20, 20), "{s:?}");
    assert_eq!(
        s.signed_out_unexpected, 0,
        "no session lost to a stale GUID"
    );
    let poll = &out.results.operations["poll"];
    assert!(
        !poll.retcodes.keys().any(|r| r.as_str() == "000-003"),
        "{:?}",
        poll.retcodes
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn already_signed_in_is_forced_or_counted_by_policy() {
    let gw = gateway("poll_wait = \"100ms\"").await;
    let scenario = |policy: &str, signout: &str| {
        format!(
            r#"name = "policy"
[agents]
ids = "1001-1010"
[session]
hold = "100ms"
poll_gap = "20ms"
on_already_signed_in = "{policy}"
signout = "{signout}"
[load]
stages = [{{ hold = "500ms", rate = 20 }}, {{ hold = "1s", rate = 0 }}]
[thresholds]
"signin.errors" = "< 1%"
"#
        )
    };
    // First run walks away: ten sessions stay open at the gateway.
    let d1 = tempfile::tempdir().expect("tempdir");
    run(options(&d1, &scenario("forcelogin", "abandon"), &gw.url))
        .await
        .expect("run 1");
    assert_eq!(gw.sim.stats().signed_in, 10);
    // "fail": every sign-in answers 100-002 and is given up.
    let d2 = tempfile::tempdir().expect("tempdir");
    let out = run(options(&d2, &scenario("fail", "logout"), &gw.url))
        .await
        .expect("run 2");
    let signin = &out.results.operations["signin"];
    assert_eq!(
        signin
            .retcodes
            .iter()
            .find(|(k, _)| k.as_str() == "100-002")
            .map(|(_, v)| *v),
        Some(10)
    );
    assert_eq!(out.results.sessions.signin_given_up, 10);
    assert!(!out.results.operations.contains_key("forcelogin"));
    assert_eq!(
        (signin.handled, signin.failed()),
        (0, 10),
        "not handled: failed"
    );
    assert_eq!(
        out.exit_code,
        agentstorm::exit::FAILED,
        "signin.errors fails"
    );
    // "forcelogin": the same replies lead to forced sign-ins that replace the sessions.
    let d3 = tempfile::tempdir().expect("tempdir");
    let out = run(options(&d3, &scenario("forcelogin", "logout"), &gw.url))
        .await
        .expect("run 3");
    assert_eq!(out.results.operations["forcelogin"].ok, 10);
    // Handled by the policy: counted by its retcode, not as a failed sign-in.
    let signin = &out.results.operations["signin"];
    assert_eq!((signin.handled, signin.failed()), (10, 0), "{signin:?}");
    assert_eq!(signin.retcodes.values().sum::<u64>(), 10);
    assert!(signin.reconciles());
    assert!(
        signin.error_counts().is_empty(),
        "{:?}",
        signin.error_counts()
    );
    assert_eq!(
        out.exit_code,
        agentstorm::exit::OK,
        "{:?}",
        out.results.derived
    );
    assert!(out.results.derived.thresholds[0].passed);
    assert_eq!(out.results.sessions.signed_out_clean, 10);
    assert_eq!(gw.sim.stats().signouts.replaced, 10);
    assert_eq!(gw.sim.stats().signed_in, 0);
}
