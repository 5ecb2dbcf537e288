//! The simulated gateway over real HTTP and HTTPS on port 0: the sign-in → poll → sign-out
//! life of an agent, GUID checks (D3, D9), the empty poll (D1), logout (D13), inactivity
//! sign-out (D11/D12) on a paused clock, HTTP-level answers (D2, D6), stats (D17) and
//! graceful shutdown.

use std::time::Duration;

use agentstorm::protocol::{self, event, retcode};
use http::Method;

use crate::support::sim::{config, count, fast_config, start, start_tls};

#[tokio::test]
async fn sign_in_poll_sequence_empty_poll_logout_then_not_signed_in() {
    let gw = start(fast_config()).await;
    let mut c = gw.client().await;
    let r = c
        .sign_in_with(101, r#"{"password":"","phonenum":"40038","status":"4","releasephone":"true","agenttype":"4"}"#)
        .await;
    assert_eq!(r.status, 200);
    r.assert_json_content_type();
    assert_eq!(r.retcode(), "0");
    assert_eq!(r.json()["result"]["workno"], "101");
    // D9: Set-GUID: JSESSIONID=<uuid>.AgentGateway0 and Guid: <guid>.
    let guid = r.set_guid().expect("Set-GUID");
    assert!(r
        .header("set-guid")
        .unwrap_or_default()
        .starts_with("JSESSIONID="));
    assert_eq!(r.header("guid").as_deref(), Some(guid.as_str()));
    let (uuid, node) = guid.split_once('.').expect("uuid.node");
    assert!(uuid::Uuid::parse_str(uuid).is_ok(), "{guid}");
    assert_eq!(node, "AgentGateway0");

    // D15: status 4 → InService, Ready; one event per reply with eventGenTime and workNo.
    for want in [event::IN_SERVICE, event::READY] {
        let p = c.poll(101, &guid).await;
        p.assert_json_content_type();
        assert_eq!(p.retcode(), "0");
        let j = p.json();
        assert_eq!(j["event"]["eventType"], want);
        assert_eq!(j["event"]["workNo"], "101");
        assert!(j["event"]["content"].is_null());
        let gen: u64 = j["event"]["eventGenTime"]
            .as_u64()
            .expect("eventGenTime is a JSON number of ms (protocol §5.1)");
        assert!(gen > 1_600_000_000_000, "{gen}");
    }
    // D1: nothing left → the empty reply after poll_wait.
    let started = std::time::Instant::now();
    let p = c.poll(101, &guid).await;
    assert!(
        started.elapsed() >= Duration::from_millis(20),
        "held for poll_wait"
    );
    assert_eq!(
        p.body.as_ref(),
        br#"{"message":"","retcode":"0","event":null}"#
    );

    // D13: logout reply, then 100-006 for everything.
    let l = c.logout(101, &guid).await;
    assert_eq!(
        l.body.as_ref(),
        br#"{"message":"success","retcode":"0","result":{}}"#
    );
    assert_eq!(c.poll(101, &guid).await.retcode(), retcode::NOT_SIGNED_IN);
    assert_eq!(c.logout(101, &guid).await.retcode(), retcode::NOT_SIGNED_IN);

    let s = gw.sim.stats();
    assert_eq!(
        (s.signed_in, s.signed_in_peak, s.signouts.logout),
        (0, 1, 1)
    );
    gw.stop().await;
}

#[tokio::test]
async fn second_sign_in_is_100_002_and_the_first_session_keeps_working() {
    let gw = start(fast_config()).await;
    let mut c = gw.client().await;
    let guid = c.sign_in(2002).await;
    let r = c
        .sign_in_with(2002, r#"{"password":"","phonenum":"1"}"#)
        .await;
    assert_eq!(r.retcode(), retcode::ALREADY_SIGNED_IN);
    assert!(r.header("set-guid").is_none());
    assert_eq!(
        c.poll(2002, &guid).await.event_type().as_deref(),
        Some(event::IN_SERVICE)
    );
    gw.stop().await;
}

#[tokio::test]
async fn d3_missing_or_wrong_guid() {
    let gw = start(fast_config()).await;
    let mut c = gw.client().await;
    // Not signed in: 100-006 whatever the GUID.
    let path = protocol::poll_path(303);
    assert_eq!(
        c.send(Method::GET, &path, &[], "").await.retcode(),
        retcode::NOT_SIGNED_IN
    );
    assert_eq!(c.poll(303, "nope").await.retcode(), retcode::NOT_SIGNED_IN);
    let guid = c.sign_in(303).await;
    // Signed in: 000-003 for a missing, empty or wrong GUID, on every authenticated call.
    let r = c.send(Method::GET, &path, &[], "").await;
    assert_eq!(r.retcode(), retcode::NO_PERMISSION);
    assert_eq!(r.status, 200);
    assert_eq!(c.poll(303, " ").await.retcode(), retcode::NO_PERMISSION);
    assert_eq!(
        c.poll(303, &format!("{guid}x")).await.retcode(),
        retcode::NO_PERMISSION
    );
    assert_eq!(
        c.logout(303, "wrong").await.retcode(),
        retcode::NO_PERMISSION
    );
    // The right one still works (and `JSESSIONID=` in front is tolerated).
    let p = c.poll(303, &format!("JSESSIONID={guid}")).await;
    assert_eq!(p.event_type().as_deref(), Some(event::IN_SERVICE));
    gw.stop().await;
}

#[tokio::test]
async fn stats_reconcile_with_the_requests_sent() {
    let gw = start(fast_config()).await;
    let mut c = gw.client().await;
    let g1 = c.sign_in(1001).await;
    let g2 = c.sign_in(1002).await;
    c.sign_in_with(1001, r#"{"password":"","phonenum":"1"}"#)
        .await; // 100-002
    c.sign_in_with(1003, "{").await; // 000-006
    for _ in 0..3 {
        c.poll(1001, &g1).await; // InService, Ready, empty
    }
    c.poll(1002, "bad").await; // 000-003
    c.poll(1004, "x").await; // 100-006
    c.logout(1002, &g2).await; // 0
    c.send(Method::GET, "/nowhere", &[], "").await; // unknown 000-002 (404)
    c.send(Method::POST, &protocol::poll_path(1001), &[], "")
        .await; // 405 000-001
    c.send(Method::GET, &protocol::poll_path(7), &[], "").await; // D6 000-002

    let over_http = c.stats().await;
    let s = gw.sim.stats();
    assert_eq!(
        over_http, s,
        "stats endpoint serves the same data and is not counted"
    );
    assert_eq!(count(&s, "login", "0"), 2);
    assert_eq!(count(&s, "login", retcode::ALREADY_SIGNED_IN), 1);
    assert_eq!(count(&s, "login", retcode::MESSAGE_PARAM), 1);
    assert_eq!(count(&s, "getAgentEvent", "0"), 3);
    assert_eq!(count(&s, "getAgentEvent", retcode::NO_PERMISSION), 1);
    assert_eq!(count(&s, "getAgentEvent", retcode::NOT_SIGNED_IN), 1);
    assert_eq!(count(&s, "getAgentEvent", retcode::WRONG_METHOD), 1);
    assert_eq!(count(&s, "getAgentEvent", retcode::BAD_URL), 1);
    assert_eq!(count(&s, "logout", "0"), 1);
    assert_eq!(count(&s, "unknown", retcode::BAD_URL), 1);
    let total: u64 = s.requests.values().flat_map(|m| m.values()).sum();
    assert_eq!(total, 13, "every reply counted exactly once: {s:?}");
    assert_eq!(
        (s.signed_in, s.signed_in_peak, s.signouts.logout),
        (1, 2, 1)
    );
    gw.stop().await;
}

#[tokio::test]
async fn https_round_trip_with_the_generated_certificate() {
    let gw = start_tls(fast_config()).await;
    let mut c = gw.client().await;
    let guid = c.sign_in(4242).await;
    let p = c.poll(4242, &guid).await;
    p.assert_json_content_type();
    assert_eq!(p.event_type().as_deref(), Some(event::IN_SERVICE));
    assert_eq!(c.logout(4242, &guid).await.retcode(), "0");
    gw.stop().await;
}

#[tokio::test]
async fn d11_inactivity_sign_out_then_shutdown_event_then_100_006() {
    // Millisecond knobs (tokio's paused clock needs its test-util feature, not enabled).
    let gw = start(config(
        r#"poll_wait = "20ms"
inactivity_timeout = "400ms""#,
    ))
    .await;
    let mut c = gw.client().await;
    let guid = c.sign_in(5005).await;
    // Polling keeps it alive across more than the timeout in total.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        c.poll(5005, &guid).await.event_type().as_deref(),
        Some(event::IN_SERVICE)
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        c.poll(5005, &guid).await.event_type().as_deref(),
        Some(event::READY)
    );
    assert_eq!(gw.sim.stats().signed_in, 1, "recent polls keep the session");
    // Then silence past the timeout (plus sweeps).
    tokio::time::sleep(Duration::from_millis(700)).await;
    let s = gw.sim.stats();
    assert_eq!((s.signed_in, s.signouts.timeout), (0, 1));
    // D12: the next poll gets ShutdownService with loginTime; after that 100-006.
    let p = c.poll(5005, &guid).await;
    let j = p.json();
    assert_eq!(j["event"]["eventType"], event::SHUTDOWN_SERVICE);
    assert!(j["event"]["content"]["loginTime"].as_str().is_some(), "{j}");
    assert_eq!(c.poll(5005, &guid).await.retcode(), retcode::NOT_SIGNED_IN);
    // The agent can sign in again.
    c.sign_in(5005).await;
    gw.stop().await;
}

#[tokio::test]
async fn d2_not_found_and_method_not_allowed_with_allow() {
    let gw = start(fast_config()).await;
    let mut c = gw.client().await;
    let r = c
        .send(Method::GET, "/agentgateway/resource/nothing/101", &[], "")
        .await;
    assert_eq!((r.status, r.retcode().as_str()), (404, retcode::BAD_URL));
    r.assert_json_content_type();
    let r = c
        .send(Method::PUT, &protocol::poll_path(101), &[], "{}")
        .await;
    assert_eq!(
        (r.status, r.retcode().as_str()),
        (405, retcode::WRONG_METHOD)
    );
    assert_eq!(r.header("allow").as_deref(), Some("GET"));
    let r = c
        .send(Method::GET, &protocol::logout_path(101), &[], "")
        .await;
    assert_eq!((r.status, r.retcode().as_str()), (405, retcode::BAD_URL));
    assert_eq!(r.header("allow").as_deref(), Some("DELETE"));
    // D6: ids outside 101–999999 or not integers.
    for id in ["100", "1000000", "12a"] {
        let r = c
            .send(
                Method::PUT,
                &format!("{}/onlineagent/{id}", protocol::BASE_PATH),
                &[],
                "{}",
            )
            .await;
        assert_eq!(
            (r.status, r.retcode().as_str()),
            (200, retcode::BAD_URL),
            "{id}"
        );
    }
    // Keep-alive held through all of it.
    assert!(!c.is_closed());
    gw.stop().await;
}

#[tokio::test]
async fn shutdown_ends_a_waiting_long_poll_promptly() {
    let gw = start(config(r#"poll_wait = "60s""#)).await;
    let mut c = gw.client().await;
    let guid = c.sign_in(606).await;
    c.poll(606, &guid).await;
    c.poll(606, &guid).await;
    let waiting = tokio::spawn(async move { c.poll(606, &guid).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = std::time::Instant::now();
    gw.shutdown.cancel();
    let r = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("poll answered promptly")
        .expect("join");
    assert_eq!(
        r.body.as_ref(),
        br#"{"message":"","retcode":"0","event":null}"#
    );
    gw.task.await.expect("join").expect("serve ok");
    assert!(started.elapsed() < Duration::from_secs(3));
}
