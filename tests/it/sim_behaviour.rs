//! The behaviour model over real HTTP: injected faults (retcode, HTTP 500/503, cut
//! replies, stalls) per operation, rate and time window; service time; random forced
//! sign-outs; and that every one of them is counted in the stats (D17).

use std::time::{Duration, Instant};

use agentstorm::protocol::{self, event, retcode};
use bytes::Bytes;
use http::Method;

use crate::support::sim::{config, count, start};

const BODY: &str = r#"{"password":"","phonenum":"40038"}"#;

#[tokio::test]
async fn retcode_fault_answers_instead_of_the_operation() {
    let gw = start(config(
        r#"[[faults]]
operation = "login"
kind = "retcode"
retcode = "100-007""#,
    ))
    .await;
    let mut c = gw.client().await;
    assert_eq!(
        c.sign_in_with(4001, BODY).await.retcode(),
        retcode::OPERATION_EXCEPTION
    );
    // No session was made, and other operations are untouched.
    assert_eq!(c.poll(4001, "g").await.retcode(), retcode::NOT_SIGNED_IN);
    assert_eq!(c.forcelogin(4001).await.retcode(), "0");
    let s = gw.sim.stats();
    assert_eq!(count(&s, "login", retcode::OPERATION_EXCEPTION), 1);
    assert_eq!((s.signed_in, count(&s, "forceLogin", "0")), (1, 1));
    gw.stop().await;
}

#[tokio::test]
async fn http_503_fault_is_a_json_reply_counted_by_status() {
    let gw = start(config(
        r#"poll_wait = "10ms"
faults = [{ operation = "getAgentEvent", kind = "http", status = 503 }]"#,
    ))
    .await;
    let mut c = gw.client().await;
    let g = c.sign_in(4002).await;
    let r = c.poll(4002, &g).await;
    assert_eq!(r.status, 503);
    r.assert_json_content_type();
    assert!(!c.is_closed(), "an HTTP error keeps the connection");
    assert_eq!(count(&gw.sim.stats(), "getAgentEvent", "http_503"), 1);
    gw.stop().await;
}

#[tokio::test]
async fn reset_fault_cuts_the_reply_after_doing_the_operation() {
    let gw = start(config(
        r#"faults = [{ operation = "logout", kind = "reset" }]"#,
    ))
    .await;
    let mut c = gw.client().await;
    let g = c.sign_in(4003).await;
    let path = protocol::logout_path(4003);
    let r = c
        .try_send(Method::DELETE, &path, &[("Guid", &g)], Bytes::new())
        .await;
    assert!(r.is_err(), "the reply is cut: {r:?}");
    let s = gw.sim.stats();
    assert_eq!(
        (s.signed_in, s.signouts.logout),
        (0, 1),
        "the logout took effect"
    );
    assert_eq!(count(&s, "logout", "reset"), 1, "{s:?}");
    let mut c = gw.client().await;
    assert_eq!(c.poll(4003, &g).await.retcode(), retcode::NOT_SIGNED_IN);
    gw.stop().await;
}

#[tokio::test]
async fn stall_fault_delays_then_answers() {
    let gw = start(config(
        r#"faults = [{ operation = "resetSkill", kind = "stall", stall = "200ms" }]"#,
    ))
    .await;
    let mut c = gw.client().await;
    let g = c.sign_in(4004).await;
    let t = Instant::now();
    assert_eq!(
        c.call(Method::POST, 4004, "resetskill/true", &g)
            .await
            .retcode(),
        "0"
    );
    assert!(t.elapsed() >= Duration::from_millis(200));
    gw.stop().await;
}

#[tokio::test]
async fn fault_windows_and_rates() {
    let gw = start(config(
        r#"poll_wait = "0s"
[[faults]]
kind = "retcode"
retcode = "000-004"
operation = "login"
from = "1h"

[[faults]]
kind = "retcode"
retcode = "000-004"
operation = "handShake"
until = "150ms"

[[faults]]
kind = "retcode"
retcode = "100-007"
operation = "getAgentEvent"
rate = 0.5"#,
    ))
    .await;
    let mut c = gw.client().await;
    // `from = 1h`: not yet.
    let g = c.sign_in(4005).await;
    // `until = 150ms`: only at first.
    assert_eq!(
        c.call(Method::POST, 4005, "handshake", &g).await.retcode(),
        retcode::SWITCHING_OVER
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        c.call(Method::POST, 4005, "handshake", &g).await.retcode(),
        "0"
    );
    // rate 0.5: both outcomes over 200 polls.
    let mut faulted = 0;
    for _ in 0..200 {
        if c.poll(4005, &g).await.retcode() == retcode::OPERATION_EXCEPTION {
            faulted += 1;
        }
    }
    assert!((50..=150).contains(&faulted), "{faulted} of 200");
    gw.stop().await;
}

#[tokio::test]
async fn service_time_is_added_per_operation() {
    let gw = start(config(
        r#"service_time.default = { fixed = "0ms" }
service_time.login = { min = "100ms", max = "120ms" }"#,
    ))
    .await;
    let mut c = gw.client().await;
    let t = Instant::now();
    let g = c.sign_in(4006).await;
    assert!(
        t.elapsed() >= Duration::from_millis(100),
        "{:?}",
        t.elapsed()
    );
    let t = Instant::now();
    c.logout(4006, &g).await;
    assert!(t.elapsed() < Duration::from_millis(100));
    gw.stop().await;
}

#[tokio::test]
async fn random_forced_sign_outs_at_a_rate() {
    let gw = start(config(
        r#"poll_wait = "10ms"
forced_signouts = [{ per_s = 40, until = "250ms" }]"#,
    ))
    .await;
    let mut c = gw.client().await;
    let mut guids = Vec::new();
    for id in 4100..4120u32 {
        guids.push((id, c.sign_in(id).await));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let s = gw.sim.stats();
    // 40/s for at most 250 ms: some, not all (the window closed).
    assert!((1..=12).contains(&s.signouts.forced), "{s:?}");
    assert_eq!(s.signed_in, 20 - s.signouts.forced);
    let mut shutdowns = 0;
    for (id, g) in &guids {
        if c.poll(*id, g).await.event_type().as_deref() == Some(event::SHUTDOWN_SERVICE) {
            shutdowns += 1;
        }
    }
    assert_eq!(shutdowns, s.signouts.forced);
    gw.stop().await;
}
