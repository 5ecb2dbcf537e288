//! The calls beyond sign-in, poll and logout, over real HTTP on port 0: `forcelogout`,
//! `forcelogoutwithreason/{1–255}` (`100-005` outside), `loginex`, `updateGuid`,
//! `resetskill`, `handshake` in poll mode, and keep-alive across many requests.

use std::time::Duration;

use agentstorm::protocol::{self, event, retcode};
use http::Method;

use crate::support::sim::{config, count, fast_config, start, Client};

const BODY: &str = r#"{"password":"","phonenum":"40038"}"#;

#[tokio::test]
async fn forcelogout_and_forcelogoutwithreason() {
    let gw = start(fast_config()).await;
    let mut c = gw.client().await;
    let g = c.sign_in(1901).await;
    for bad in ["0", "256", "x", "-1"] {
        let r = c
            .call(
                Method::DELETE,
                1901,
                &format!("forcelogoutwithreason/{bad}"),
                &g,
            )
            .await;
        assert_eq!(r.retcode(), retcode::BAD_SIGNOUT_PARAM, "{bad}");
    }
    let r = c
        .call(Method::DELETE, 1901, "forcelogoutwithreason", &g)
        .await;
    assert_eq!(r.retcode(), retcode::BAD_SIGNOUT_PARAM);
    let r = c
        .call(Method::DELETE, 1901, "forcelogoutwithreason/255", &g)
        .await;
    assert_eq!(r.body.as_ref(), br#"{"message":"success","retcode":"0"}"#);
    assert_eq!(c.poll(1901, &g).await.retcode(), retcode::NOT_SIGNED_IN);
    let g = c.sign_in(1902).await;
    assert_eq!(
        c.call(Method::DELETE, 1902, "forcelogout", "bad")
            .await
            .retcode(),
        retcode::NO_PERMISSION
    );
    assert_eq!(
        c.call(Method::DELETE, 1902, "forcelogout", &g)
            .await
            .retcode(),
        "0"
    );
    assert_eq!(
        c.call(Method::DELETE, 1902, "forcelogout", &g)
            .await
            .retcode(),
        retcode::NOT_SIGNED_IN
    );
    let s = gw.sim.stats();
    assert_eq!(
        (s.signouts.logout, s.signouts.forced, s.signed_in),
        (2, 0, 0)
    );
    gw.stop().await;
}

#[tokio::test]
async fn loginex_signs_in_without_media_server() {
    let gw = start(fast_config()).await;
    let mut c = gw.client().await;
    let path = format!("{}/onlineagent/2001/loginex", protocol::BASE_PATH);
    let r = c.send(Method::PUT, &path, &[], BODY).await;
    assert_eq!(r.retcode(), "0");
    assert_eq!(r.json()["result"]["mediatype"], "TFF");
    let guid = r.set_guid().expect("guid");
    assert_eq!(
        c.send(Method::PUT, &path, &[], BODY).await.retcode(),
        retcode::ALREADY_SIGNED_IN
    );
    assert_eq!(
        c.poll(2001, &guid).await.event_type().as_deref(),
        Some(event::IN_SERVICE)
    );
    assert_eq!(count(&gw.sim.stats(), "loginEx", "0"), 1);
    gw.stop().await;
}

#[tokio::test]
async fn update_guid_issues_a_new_guid_and_the_old_keeps_its_grace() {
    let gw = start(config(
        r#"poll_wait = "10ms"
guid_grace = "200ms""#,
    ))
    .await;
    let mut c = gw.client().await;
    assert_eq!(
        c.call(Method::PUT, 2101, "updateGuid", "x").await.retcode(),
        retcode::NOT_SIGNED_IN
    );
    let old = c.sign_in(2101).await;
    assert_eq!(
        c.call(Method::PUT, 2101, "updateGuid", "x").await.retcode(),
        retcode::NO_PERMISSION
    );
    let r = c.call(Method::PUT, 2101, "updateGuid", &old).await;
    assert_eq!(r.retcode(), "0");
    let new = r.json()["result"]["guid"]
        .as_str()
        .expect("result.guid")
        .to_string();
    assert_eq!(r.set_guid().as_deref(), Some(new.as_str()));
    assert_ne!(new, old);
    assert_eq!(c.poll(2101, &new).await.retcode(), "0");
    assert_eq!(c.poll(2101, &old).await.retcode(), "0");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(c.poll(2101, &old).await.retcode(), retcode::NO_PERMISSION);
    gw.stop().await;
}

#[tokio::test]
async fn resetskill_and_handshake_in_poll_mode() {
    let gw = start(fast_config()).await;
    let mut c = gw.client().await;
    assert_eq!(
        c.call(Method::POST, 2201, "resetskill/true", "x")
            .await
            .retcode(),
        retcode::NOT_SIGNED_IN
    );
    let g = c.sign_in(2201).await;
    for (action, want) in [
        ("resetskill/true", "0"),
        ("resetskill/false?skillid=1;2;3&phonelinkage=1", "0"),
        ("resetskill/false?skillid=a;b", retcode::BAD_URL),
        ("resetskill/true?phonelinkage=2", retcode::BAD_URL),
    ] {
        assert_eq!(
            c.call(Method::POST, 2201, action, &g).await.retcode(),
            want,
            "{action}"
        );
    }
    assert_eq!(
        c.call(Method::POST, 2201, "resetskill/true", "bad")
            .await
            .retcode(),
        retcode::NO_PERMISSION
    );
    assert_eq!(
        c.call(Method::POST, 2201, "handshake", &g).await.retcode(),
        "0"
    );
    let path = format!("{}/onlineagent/2201/handshake", protocol::BASE_PATH);
    let r = c
        .send(
            Method::POST,
            &path,
            &[("Guid", &g), ("service_token", "no spaces!")],
            "",
        )
        .await;
    assert_eq!(r.retcode(), retcode::SIGNIN_PARAM_EMPTY);
    let s = gw.sim.stats();
    assert_eq!(count(&s, "resetSkill", "0"), 2);
    assert_eq!(count(&s, "handShake", retcode::SIGNIN_PARAM_EMPTY), 1);
    gw.stop().await;
}

#[tokio::test]
async fn keep_alive_serves_many_requests_on_one_connection() {
    let gw = start(config(r#"poll_wait = "0s""#)).await;
    let mut c = Client::connect(gw.addr).await;
    let g = c.sign_in(2301).await;
    for _ in 0..200 {
        assert_eq!(c.poll(2301, &g).await.retcode(), "0");
    }
    assert!(!c.is_closed());
    assert_eq!(count(&gw.sim.stats(), "getAgentEvent", "0"), 200);
    gw.stop().await;
}
