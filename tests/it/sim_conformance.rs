//! Conformance of the simulated gateway with its decisions (docs/gateway.md), over real HTTP (and HTTPS
//! where a row involves session identity) on port 0 with a plain hyper client. Each test
//! is named after the decision row or call it pins; rows pinned elsewhere:
//! D1, D3, D9, D11, D13 and D2's 404/405 in `sim_http.rs`; D16 in `sim_push.rs`;
//! D17 with faults in `sim_behaviour.rs`; the other calls in `sim_calls.rs`. Timing uses millisecond knobs, never seconds.
//!
//! Every row holds in every reply dialect (D18): each test runs three times, as
//! `newest::…`, `devguide::…` and `older::…`, against a gateway speaking that dialect.

use std::time::{Duration, Instant};

use agentstorm::protocol::{event, retcode};
use agentstorm::sim::config::Dialect;
use agentstorm::sim::GatewayConfig;
use http::Method;

use crate::support::sim::{config, count, fast_config, start, start_with};

/// `config` with the gateway speaking `dialect`.
fn spoken(dialect: Dialect, mut config: GatewayConfig) -> GatewayConfig {
    config.dialect = dialect;
    config
}

/// Each row as one test per dialect.
macro_rules! in_every_dialect {
    ($($row:ident),* $(,)?) => {
        mod newest {
            $(#[tokio::test] async fn $row() { super::$row(super::Dialect::Newest).await })*
        }
        mod devguide {
            $(#[tokio::test] async fn $row() { super::$row(super::Dialect::Devguide).await })*
        }
        mod older {
            $(#[tokio::test] async fn $row() { super::$row(super::Dialect::Older).await })*
        }
    };
}

in_every_dialect!(
    d2_body_over_64_kib_is_413_and_64_kib_is_read,
    d4_calls_while_a_sign_in_is_pending_get_000_007,
    d5_sign_in_body_codes_over_http,
    d6_configured_agent_id_range,
    d7_wrong_password_then_lockout_then_expiry,
    d8_forcelogin_replaces_the_session_over_http_and_https,
    d10_dynamic_guid_rotates_on_poll_with_grace_and_static_never_does,
    d12_forced_sign_out_queues_shutdown_service_then_100_006,
    d12_failover_at_forces_everyone_out,
    d14_max_agents_is_100_003_with_detail_code,
    d14_full_sign_in_queue_is_100_007_and_waiting_adds_latency,
    d15_event_sequences_per_status_and_phone_linkage,
);

const BODY: &str = r#"{"password":"","phonenum":"40038"}"#;

async fn d2_body_over_64_kib_is_413_and_64_kib_is_read(dialect: Dialect) {
    let gw = start(spoken(dialect, fast_config())).await;
    let mut c = gw.client().await;
    let big = format!(
        r#"{{"password":"","phonenum":"1","pad":"{}"}}"#,
        "x".repeat(70 * 1024)
    );
    let r = c.sign_in_with(777, &big).await;
    assert_eq!(r.status, 413);
    r.assert_json_content_type();
    // Exactly 64 KiB is accepted (and validated as a sign-in body).
    let fill = 64 * 1024 - r#"{"password":"","phonenum":"1","pad":""}"#.len();
    let edge = format!(
        r#"{{"password":"","phonenum":"1","pad":"{}"}}"#,
        "x".repeat(fill)
    );
    assert_eq!(edge.len(), 64 * 1024);
    let mut c = gw.client().await;
    assert_eq!(c.sign_in_with(777, &edge).await.retcode(), "0");
    let s = gw.sim.stats();
    assert_eq!(count(&s, "login", "http_413"), 1);
    gw.stop().await;
}

async fn d4_calls_while_a_sign_in_is_pending_get_000_007(dialect: Dialect) {
    let gw = start(spoken(
        dialect,
        config(
            r#"poll_wait = "20ms"
service_time.login = { fixed = "300ms" }"#,
        ),
    ))
    .await;
    let mut first = gw.client().await;
    let pending = tokio::spawn(async move { first.sign_in_with(901, BODY).await });
    tokio::time::sleep(Duration::from_millis(60)).await;
    let mut other = gw.client().await;
    assert_eq!(
        other.sign_in_with(901, BODY).await.retcode(),
        retcode::REPEATED_CALL
    );
    assert_eq!(
        other.forcelogin(901).await.retcode(),
        retcode::REPEATED_CALL
    );
    assert_eq!(
        other.logout(901, "g").await.retcode(),
        retcode::REPEATED_CALL
    );
    // Another agent is not affected.
    assert_eq!(other.sign_in_with(902, BODY).await.retcode(), "0");
    // The pending one completes normally.
    let r = pending.await.expect("join");
    assert_eq!(r.retcode(), "0");
    let guid = r.set_guid().expect("guid");
    assert_eq!(other.logout(901, &guid).await.retcode(), "0");
    gw.stop().await;
}

async fn d5_sign_in_body_codes_over_http(dialect: Dialect) {
    let gw = start(spoken(dialect, fast_config())).await;
    let mut c = gw.client().await;
    let cases = [
        ("{not json", retcode::MESSAGE_PARAM),
        ("[]", retcode::MESSAGE_PARAM),
        ("{}", retcode::SIGNIN_PARAM_EMPTY),
        (r#"{"password":""}"#, retcode::SIGNIN_PARAM_EMPTY),
        (
            r#"{"password":"123456789012345678901234567890123","phonenum":"1"}"#,
            retcode::SIGNIN_PARAM_INVALID,
        ),
        (
            r#"{"password":"","phonenum":"1234567890123456789012345"}"#,
            retcode::SIGNIN_PARAM_INVALID,
        ),
        (
            r#"{"password":"","phonenum":"1","agenttype":"7"}"#,
            retcode::WRONG_AGENT_TYPE,
        ),
        (
            r#"{"password":"","phonenum":"1","ip":"300.1.1.1"}"#,
            retcode::INVALID_IP,
        ),
        (
            r#"{"password":"","phonenum":"1","status":"9"}"#,
            retcode::SIGNIN_PARAM_INVALID,
        ),
        (
            r#"{"password":"","phonenum":"1","status":8,"time":90000,"restcause":1}"#,
            retcode::SIGNIN_PARAM_INVALID,
        ),
        (
            r#"{"password":"","phonenum":"1","serviceToken":"bad token!"}"#,
            retcode::SIGNIN_PARAM_EMPTY,
        ),
    ];
    for (body, want) in cases {
        assert_eq!(c.sign_in_with(1201, body).await.retcode(), want, "{body}");
    }
    // Native and stringified scalars both pass.
    let ok = r#"{"password":"","phonenum":40038,"status":"4","agenttype":4,"releasephone":"true","checkInWebm":false,"ip":"10.1.2.3"}"#;
    let r = c.sign_in_with(1201, ok).await;
    assert_eq!(r.retcode(), "0");
    assert_eq!(r.json()["result"]["mediatype"], "TFF");
    gw.stop().await;
}

async fn d6_configured_agent_id_range(dialect: Dialect) {
    let gw = start(spoken(dialect, config("agent_id_max = 59999"))).await;
    let mut c = gw.client().await;
    assert_eq!(
        c.sign_in_with(60000, BODY).await.retcode(),
        retcode::BAD_URL
    );
    assert_eq!(c.sign_in_with(59999, BODY).await.retcode(), "0");
    gw.stop().await;
}

async fn d7_wrong_password_then_lockout_then_expiry(dialect: Dialect) {
    let gw = start(spoken(
        dialect,
        config(
            r#"lockout_after = 3
lockout_for = "300ms"
accounts = [{ ids = "1001-1002", password = "Pw-test-1" }, { ids = [1500], password = "other" }]"#,
        ),
    ))
    .await;
    let mut c = gw.client().await;
    let with = |pw: &str| format!(r#"{{"password":"{pw}","phonenum":"1"}}"#);
    for _ in 0..3 {
        let r = c.sign_in_with(1001, &with("nope")).await;
        assert_eq!(r.retcode(), retcode::WRONG_PASSWORD);
        assert!(!String::from_utf8_lossy(&r.body).contains("Pw-test-1"));
    }
    assert_eq!(
        c.sign_in_with(1001, &with("Pw-test-1")).await.retcode(),
        retcode::ACCOUNT_LOCKED
    );
    // Other accounts and unlisted agents are unaffected.
    assert_eq!(
        c.sign_in_with(1002, &with("Pw-test-1")).await.retcode(),
        "0"
    );
    assert_eq!(
        c.sign_in_with(1500, &with("Pw-test-1")).await.retcode(),
        retcode::WRONG_PASSWORD
    );
    assert_eq!(c.sign_in_with(1003, &with("anything")).await.retcode(), "0");
    // The lock ends after lockout_for.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        c.sign_in_with(1001, &with("Pw-test-1")).await.retcode(),
        "0"
    );
    // A right password resets the count (1002 is signed in: right → 100-002).
    for pw in ["x", "y", "Pw-test-1", "x", "y", "Pw-test-1"] {
        let want = if pw == "Pw-test-1" {
            retcode::ALREADY_SIGNED_IN
        } else {
            retcode::WRONG_PASSWORD
        };
        assert_eq!(
            c.sign_in_with(1002, &with(pw)).await.retcode(),
            want,
            "{pw}"
        );
    }
    gw.stop().await;
}

async fn d8_forcelogin_replaces_the_session_over_http_and_https(dialect: Dialect) {
    for https in [false, true] {
        let gw = start_with(spoken(dialect, config(r#"poll_wait = "2s""#)), https).await;
        let mut c = gw.client().await;
        // forcelogin with nobody signed in is a plain sign-in.
        let r = c.forcelogin(1101).await;
        assert_eq!(r.retcode(), "0");
        let old = r.set_guid().expect("Set-GUID on forcelogin");
        assert_eq!(r.header("guid").as_deref(), Some(old.as_str()));
        c.poll(1101, &old).await;
        c.poll(1101, &old).await;
        // A poll waiting on the old session ...
        let mut waiter = gw.client().await;
        let old2 = old.clone();
        let waiting = tokio::spawn(async move { waiter.poll(1101, &old2).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let r = c.forcelogin(1101).await;
        assert_eq!(r.retcode(), "0");
        let new = r.set_guid().expect("new guid");
        assert_ne!(new, old);
        // ... ends at once with 000-003, like every later use of the old GUID.
        let started = Instant::now();
        let w = waiting.await.expect("join");
        assert_eq!(w.retcode(), retcode::NO_PERMISSION);
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(c.poll(1101, &old).await.retcode(), retcode::NO_PERMISSION);
        // A fresh event sequence for the new session.
        assert_eq!(
            c.poll(1101, &new).await.event_type().as_deref(),
            Some(event::IN_SERVICE)
        );
        let s = gw.sim.stats();
        assert_eq!((s.signed_in, s.signouts.replaced), (1, 1));
        gw.stop().await;
    }
}

async fn d10_dynamic_guid_rotates_on_poll_with_grace_and_static_never_does(dialect: Dialect) {
    let gw = start(spoken(
        dialect,
        config(
            r#"poll_wait = "10ms"
auth_mode = "dynamic"
guid_interval = "100ms"
guid_grace = "300ms""#,
        ),
    ))
    .await;
    let mut c = gw.client().await;
    let first = c.sign_in(1301).await;
    assert!(
        c.poll(1301, &first).await.set_guid().is_none(),
        "no rotation yet"
    );
    tokio::time::sleep(Duration::from_millis(120)).await;
    let r = c.poll(1301, &first).await;
    let second = r.set_guid().expect("rotated GUID on the poll reply");
    assert_ne!(second, first);
    // The previous GUID still works during the grace (and is told the new one again).
    let r = c.poll(1301, &first).await;
    assert_eq!(r.retcode(), "0");
    assert!(r.set_guid().is_some());
    // Other calls accept it too during the grace.
    assert_eq!(
        c.call(Method::POST, 1301, "resetskill/true", &first)
            .await
            .retcode(),
        "0"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(c.poll(1301, &first).await.retcode(), retcode::NO_PERMISSION);
    let r = c.poll(1301, &second).await;
    assert_eq!(
        r.retcode(),
        "0",
        "the GUID delivered last is current or in grace"
    );
    gw.stop().await;

    let gw = start(spoken(
        dialect,
        config(
            r#"poll_wait = "10ms"
auth_mode = "static"
guid_interval = "50ms""#,
        ),
    ))
    .await;
    let mut c = gw.client().await;
    let guid = c.sign_in(1302).await;
    tokio::time::sleep(Duration::from_millis(120)).await;
    for _ in 0..3 {
        let r = c.poll(1302, &guid).await;
        assert_eq!(r.retcode(), "0");
        assert!(r.set_guid().is_none(), "static mode never rotates");
    }
    gw.stop().await;
}

async fn d12_forced_sign_out_queues_shutdown_service_then_100_006(dialect: Dialect) {
    for https in [false, true] {
        let gw = start_with(spoken(dialect, config(r#"poll_wait = "2s""#)), https).await;
        let mut c = gw.client().await;
        let r = c.sign_in_with(1401, BODY).await;
        let login_time = r.json()["result"]["loginTime"]
            .as_str()
            .expect("loginTime")
            .to_string();
        let guid = r.set_guid().expect("guid");
        c.poll(1401, &guid).await;
        c.poll(1401, &guid).await;
        let g2 = c.sign_in(1402).await;
        // A waiting poll is woken by the forced sign-out and gets ShutdownService.
        let mut waiter = gw.client().await;
        let g = guid.clone();
        let waiting = tokio::spawn(async move { waiter.poll(1401, &g).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        // The HTTP failover cue forces out everyone.
        let f = c
            .send(Method::POST, agentstorm::sim::FAILOVER_PATH, &[], "")
            .await;
        assert_eq!(f.json()["result"]["dropped"], 2);
        let w = waiting.await.expect("join").json();
        assert_eq!(w["event"]["eventType"], event::SHUTDOWN_SERVICE);
        assert_eq!(w["event"]["content"]["loginTime"], login_time.as_str());
        assert_eq!(w["event"]["workNo"], "1401");
        assert_eq!(c.poll(1401, &guid).await.retcode(), retcode::NOT_SIGNED_IN);
        assert_eq!(
            c.logout(1401, &guid).await.retcode(),
            retcode::NOT_SIGNED_IN
        );
        // Queued events are replaced by ShutdownService (1402 never polled).
        assert_eq!(
            c.poll(1402, &g2).await.event_type().as_deref(),
            Some(event::SHUTDOWN_SERVICE)
        );
        let s = gw.sim.stats();
        assert_eq!((s.signed_in, s.signouts.forced), (0, 2));
        // A self logout queues no such event.
        let g3 = c.sign_in(1403).await;
        assert_eq!(c.logout(1403, &g3).await.retcode(), "0");
        assert_eq!(c.poll(1403, &g3).await.retcode(), retcode::NOT_SIGNED_IN);
        // The API cue does the same as the HTTP one.
        let g4 = c.sign_in(1404).await;
        assert!(gw.sim.force_out(1404));
        assert!(!gw.sim.force_out(1404), "already closing");
        assert_eq!(gw.sim.drop_all_sessions(), 0);
        assert_eq!(
            c.poll(1404, &g4).await.event_type().as_deref(),
            Some(event::SHUTDOWN_SERVICE)
        );
        gw.stop().await;
    }
}

async fn d12_failover_at_forces_everyone_out(dialect: Dialect) {
    let gw = start(spoken(
        dialect,
        config(
            r#"poll_wait = "20ms"
failover_at = "150ms""#,
        ),
    ))
    .await;
    let mut c = gw.client().await;
    let guid = c.sign_in(1501).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        c.poll(1501, &guid).await.event_type().as_deref(),
        Some(event::SHUTDOWN_SERVICE)
    );
    assert_eq!(gw.sim.stats().signouts.forced, 1);
    // Once only: a new session stays.
    let guid = c.sign_in(1501).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        c.poll(1501, &guid).await.event_type().as_deref(),
        Some(event::IN_SERVICE)
    );
    gw.stop().await;
}

async fn d14_max_agents_is_100_003_with_detail_code(dialect: Dialect) {
    let gw = start(spoken(dialect, config("max_agents = 2"))).await;
    let mut c = gw.client().await;
    let g = c.sign_in(1601).await;
    c.sign_in(1602).await;
    let r = c.sign_in_with(1603, BODY).await;
    assert_eq!(r.retcode(), retcode::RESOURCE_UNAVAILABLE);
    assert_eq!(r.json()["detailCode"], "max-agents");
    // forcelogin of a signed-in agent replaces, it does not need a new place.
    assert_eq!(c.forcelogin(1602).await.retcode(), "0");
    c.logout(1601, &g).await;
    assert_eq!(c.sign_in_with(1603, BODY).await.retcode(), "0");
    let s = gw.sim.stats();
    assert_eq!((s.signed_in, s.signed_in_peak), (2, 2));
    gw.stop().await;
}

async fn d14_full_sign_in_queue_is_100_007_and_waiting_adds_latency(dialect: Dialect) {
    let gw = start(spoken(
        dialect,
        config(
            r#"signin_capacity_per_s = 10
signin_queue = 1"#,
        ),
    ))
    .await;
    let mut tasks = Vec::new();
    for id in 1701..1704u32 {
        let mut c = gw.client().await;
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let code = c.sign_in_with(id, BODY).await.retcode();
            (code, t.elapsed())
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.expect("join"));
    }
    let ok: Vec<_> = results.iter().filter(|(c, _)| c == "0").collect();
    let full: Vec<_> = results
        .iter()
        .filter(|(c, _)| c == retcode::OPERATION_EXCEPTION)
        .collect();
    assert_eq!((ok.len(), full.len()), (2, 1), "{results:?}");
    assert!(
        ok.iter().any(|(_, d)| *d >= Duration::from_millis(80)),
        "one waited: {results:?}"
    );
    gw.stop().await;
}

async fn d15_event_sequences_per_status_and_phone_linkage(dialect: Dialect) {
    let gw = start(spoken(dialect, fast_config())).await;
    let mut c = gw.client().await;
    let cases: [(&str, &[&str]); 4] = [
        (
            r#""status":3"#,
            &[
                event::IN_SERVICE,
                event::READY,
                event::SET_NOT_READY_SUCCESS,
            ],
        ),
        (
            r#""status":"5""#,
            &[event::IN_SERVICE, event::READY, event::WORK],
        ),
        (
            r#""status":8,"time":"600","restcause":12"#,
            &[event::IN_SERVICE, event::READY, event::SET_REST_SUCCESS],
        ),
        (
            r#""status":4,"phonelinkage":true"#,
            &[event::IN_SERVICE, event::READY, event::LINKAGE_CAPABILITY],
        ),
    ];
    for (i, (fields, want)) in cases.iter().enumerate() {
        let id = 1801 + i as u32;
        let r = c
            .sign_in_with(id, &format!(r#"{{"password":"","phonenum":"1",{fields}}}"#))
            .await;
        let guid = r.set_guid().expect("guid");
        let mut got = Vec::new();
        loop {
            let p = c.poll(id, &guid).await.json();
            if p["event"].is_null() {
                break;
            }
            assert_eq!(p["event"]["workNo"], id.to_string());
            match dialect {
                Dialect::Older => assert!(p["event"].get("eventGenTime").is_none(), "older: none"),
                _ => assert!(p["event"]["eventGenTime"].is_u64(), "D15: a JSON number"),
            }
            match p["event"]["eventType"].as_str() {
                Some(event::LINKAGE_CAPABILITY) => assert_eq!(p["event"]["content"]["result"], 0),
                Some(event::SET_REST_SUCCESS) => assert_eq!(p["event"]["content"]["reason"], "12"),
                Some(event::SET_NOT_READY_SUCCESS) => assert!(p["event"]["content"].is_object()),
                _ => assert!(p["event"]["content"].is_null()),
            }
            got.push(p["event"]["eventType"].as_str().unwrap_or("").to_string());
        }
        assert_eq!(got, *want, "{fields}");
    }
    gw.stop().await;
}
