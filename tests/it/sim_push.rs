//! Push mode (D16) over real sockets: the gateway POSTs event batches to a callback server
//! on 127.0.0.1:0 (HTTP, and HTTPS trusted through `push_ca_file`), the heartbeat keeps
//! the session alive and delivers rotated GUIDs, polling such an agent gives `000-001`,
//! and a timeout sign-out is pushed as `AgentOther_ShutdownService` (D12).

use std::convert::Infallible;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use agentstorm::protocol::{self, event, retcode};
use agentstorm::sim::tls;
use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;

use crate::support::sim::{config, start, Client};

/// One POST the callback server received.
#[derive(Debug)]
struct Pushed {
    guid: Option<String>,
    token: Option<String>,
    body: serde_json::Value,
}

/// A callback server: records every POST, answers failure to the first `fail_first`.
async fn callback_server(
    https: bool,
    fail_first: u32,
) -> (String, mpsc::UnboundedReceiver<Pushed>, Option<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = mpsc::unbounded_channel();
    let cert = if https {
        Some(tls::self_signed().expect("cert"))
    } else {
        None
    };
    let pem = cert.as_ref().map(|c| c.cert_pem.clone());
    let acceptor = cert.map(|c| tokio_rustls::TlsAcceptor::from(c.server_config));
    let failures = Arc::new(AtomicU32::new(fail_first));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let tx = tx.clone();
            let failures = failures.clone();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let tx = tx.clone();
                    let failures = failures.clone();
                    async move {
                        let h = |n: &str| {
                            req.headers()
                                .get(n)
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_string)
                        };
                        let (guid, token) = (h("guid"), h("service_token"));
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|c| c.to_bytes())
                            .unwrap_or_default();
                        let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                        let _ = tx.send(Pushed { guid, token, body });
                        let fail = failures
                            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                            .is_ok();
                        let reply: &'static [u8] = if fail {
                            br#"{"message":"busy","retcode":"100-007"}"#
                        } else {
                            br#"{"message":"success","retcode":"0"}"#
                        };
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(reply))))
                    }
                });
                let http = hyper::server::conn::http1::Builder::new();
                match acceptor {
                    None => {
                        let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                    }
                    Some(a) => {
                        if let Ok(s) = a.accept(stream).await {
                            let _ = http.serve_connection(TokioIo::new(s), svc).await;
                        }
                    }
                }
            });
        }
    });
    let scheme = if https {
        "https://localhost"
    } else {
        "http://127.0.0.1"
    };
    (
        format!(
            "{scheme}:{}/service-cloud/rest/cc-ai/v1/agentevent/pushresult",
            addr.port()
        ),
        rx,
        pem,
    )
}

fn push_body(callback: &str) -> String {
    format!(r#"{{"password":"","phonenum":"1","callBackUri":"{callback}","serviceToken":"tok-1"}}"#)
}

/// Event types received until `n` events arrived (batches may split them).
async fn receive_events(
    rx: &mut mpsc::UnboundedReceiver<Pushed>,
    n: usize,
    guid: &str,
) -> Vec<String> {
    let mut types = Vec::new();
    while types.len() < n {
        let p = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("a push arrives")
            .expect("channel open");
        assert_eq!(p.guid.as_deref(), Some(guid));
        assert_eq!(p.token.as_deref(), Some("tok-1"));
        let list = p.body["eventList"].as_array().expect("eventList").clone();
        assert!(!list.is_empty());
        for e in list {
            assert_eq!(e["workNo"], p.body["workNo"]);
            types.push(e["eventType"].as_str().unwrap_or("").to_string());
        }
    }
    types
}

#[tokio::test]
async fn d16_events_are_pushed_oldest_first_and_polling_gives_000_001() {
    let (callback, mut rx, _) = callback_server(false, 0).await;
    let gw = start(config(r#"poll_wait = "20ms""#)).await;
    let mut c = gw.client().await;
    let r = c.sign_in_with(3001, &push_body(&callback)).await;
    assert_eq!(r.retcode(), "0");
    let guid = r.set_guid().expect("guid");
    assert_eq!(
        receive_events(&mut rx, 2, &guid).await,
        [event::IN_SERVICE, event::READY]
    );
    assert_eq!(c.poll(3001, &guid).await.retcode(), retcode::WRONG_METHOD);
    assert_eq!(c.logout(3001, &guid).await.retcode(), "0");
    gw.stop().await;
}

/// D18 in push batches: each event of a batch has `eventGenTime` a JSON number (newest,
/// devguide) or none (older), as in the documents' event object written out here.
#[tokio::test]
async fn d18_push_batches_carry_each_dialects_event_shape() {
    let newest: serde_json::Value = serde_json::from_str(
        r#"{"eventType":"AgentState_Ready","eventGenTime":1784529722590,"workNo":"1001","content":null}"#,
    )
    .expect("json");
    for (i, dialect) in ["newest", "devguide", "older"].into_iter().enumerate() {
        let (callback, mut rx, _) = callback_server(false, 0).await;
        let gw = start(config(&format!(
            "poll_wait = \"20ms\"\ndialect = \"{dialect}\""
        )))
        .await;
        let mut c = gw.client().await;
        let id = 3101 + i as u32;
        let r = c.sign_in_with(id, &push_body(&callback)).await;
        assert_eq!(r.retcode(), "0", "{dialect}");
        let mut seen = 0;
        while seen < 2 {
            let p = tokio::time::timeout(Duration::from_secs(5), rx.recv())
                .await
                .expect("a push arrives")
                .expect("channel open");
            for e in p.body["eventList"].as_array().expect("eventList") {
                seen += 1;
                let e = e.as_object().expect("event object");
                let mut keys: Vec<_> = e.keys().map(String::as_str).collect();
                keys.sort();
                let mut want: Vec<_> = newest
                    .as_object()
                    .expect("object")
                    .keys()
                    .map(String::as_str)
                    .filter(|k| dialect != "older" || *k != "eventGenTime")
                    .collect();
                want.sort();
                assert_eq!(keys, want, "{dialect}: {e:?}");
                if dialect != "older" {
                    assert!(e["eventGenTime"].is_u64(), "{dialect}: a JSON number");
                }
            }
        }
        gw.stop().await;
    }
}

#[tokio::test]
async fn d16_heartbeat_keeps_alive_then_timeout_pushes_shutdown_service() {
    let (callback, mut rx, _) = callback_server(false, 0).await;
    let gw = start(config(
        r#"inactivity_timeout = "300ms"
guid_interval = "150ms"
guid_grace = "1s""#,
    ))
    .await;
    let mut c = gw.client().await;
    let r = c.sign_in_with(3002, &push_body(&callback)).await;
    let mut guid = r.set_guid().expect("guid");
    let first = guid.clone();
    receive_events(&mut rx, 2, &first).await;
    let mut rotated = false;
    for _ in 0..7 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let path = format!("{}/onlineagent/3002/handshake", protocol::BASE_PATH);
        let h = c
            .send(
                Method::POST,
                &path,
                &[("Guid", &guid), ("service_token", "tok-2")],
                "",
            )
            .await;
        assert_eq!(h.body.as_ref(), br#"{"message":"success","retcode":"0"}"#);
        if let Some(new) = h.set_guid() {
            // D10 in push mode: the heartbeat reply delivers the rotated GUID.
            rotated = true;
            guid = new;
        }
    }
    assert!(rotated, "a GUID rotation was delivered on a heartbeat");
    assert_eq!(gw.sim.stats().signed_in, 1, "heartbeats kept the session");
    // Silence: timeout sign-out, pushed as ShutdownService with the current GUID.
    let types = receive_events(&mut rx, 1, &guid).await;
    assert_eq!(types, [event::SHUTDOWN_SERVICE]);
    let s = gw.sim.stats();
    assert_eq!((s.signed_in, s.signouts.timeout), (0, 1));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        c.call(Method::POST, 3002, "handshake", &guid)
            .await
            .retcode(),
        retcode::NOT_SIGNED_IN
    );
    gw.stop().await;
}

#[tokio::test]
async fn d16_https_callback_trusted_through_push_ca_file_and_failed_batches_are_resent() {
    let (callback, mut rx, pem) = callback_server(true, 1).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("callback-ca.pem");
    std::fs::write(&ca, pem.expect("pem")).expect("write ca");
    let gw = start(config(&format!(
        "push_ca_file = {:?}\npush_retry = \"50ms\"",
        ca.display().to_string()
    )))
    .await;
    let mut c = gw.client().await;
    let r = c.sign_in_with(3003, &push_body(&callback)).await;
    assert_eq!(r.retcode(), "0");
    let guid = r.set_guid().expect("guid");
    // The first POST is answered with a failure code: the same events come again, in order.
    let first = receive_events(&mut rx, 2, &guid).await;
    let again = receive_events(&mut rx, 2, &guid).await;
    assert_eq!(first, [event::IN_SERVICE, event::READY]);
    assert_eq!(again, first);
    gw.stop().await;
}

#[tokio::test]
async fn d16_plain_http_callback_only_to_loopback() {
    let gw = start(config("")).await;
    let mut c = Client::connect(gw.addr).await;
    let r = c
        .sign_in_with(3004, &push_body("http://192.0.2.1/cb"))
        .await;
    assert_eq!(r.retcode(), retcode::SIGNIN_PARAM_INVALID);
    // callBackUri without serviceToken is poll mode.
    let r = c
        .sign_in_with(
            3004,
            r#"{"password":"","phonenum":"1","callBackUri":"http://192.0.2.1/cb"}"#,
        )
        .await;
    assert_eq!(r.retcode(), "0");
    let guid = r.set_guid().expect("guid");
    assert_eq!(
        c.poll(3004, &guid).await.event_type().as_deref(),
        Some(event::IN_SERVICE)
    );
    gw.stop().await;
}
