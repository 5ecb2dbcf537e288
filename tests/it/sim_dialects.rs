//! The simulated gateway's three reply dialects (`[gateway] dialect`), checked against the
//! vendor documents' shapes with a raw HTTP exchange and a generic JSON reader (not
//! agentstorm's client), and each one driven end to end by a whole run.

use agentstorm::run::{run, RunOptions};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::gateway::gateway;

/// One request on a fresh connection; the reply's head and JSON body.
async fn call(
    url: &str,
    method: &str,
    path: &str,
    guid: Option<&str>,
    body: &str,
) -> (String, Value) {
    let addr = url.trim_start_matches("http://");
    let mut sock = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let guid = guid.map(|g| format!("Guid: {g}\r\n")).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{guid}Content-Type: application/json; charset=UTF-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    sock.write_all(req.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    sock.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8(raw).expect("utf-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
    (
        head.to_string(),
        serde_json::from_str(body).expect("JSON body"),
    )
}

/// The GUID from a sign-in reply's `Set-GUID: JSESSIONID=<guid>` header.
fn guid_of(head: &str) -> String {
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("set-guid")
                .then(|| v.trim().trim_start_matches("JSESSIONID=").to_string())
        })
        .expect("Set-GUID header")
}

/// `got` has `doc`'s shape: the same keys at every level and the same JSON type for each
/// value (values themselves may differ). `doc` is a body copied from the documents.
fn assert_shape(doc: &str, got: &Value) {
    fn walk(doc: &Value, got: &Value, at: &str) {
        match (doc, got) {
            (Value::Object(d), Value::Object(g)) => {
                let mut dk: Vec<_> = d.keys().collect();
                let mut gk: Vec<_> = g.keys().collect();
                dk.sort();
                gk.sort();
                assert_eq!(dk, gk, "keys at {at}");
                for (k, v) in d {
                    walk(v, &g[k], &format!("{at}.{k}"));
                }
            }
            (Value::Number(d), Value::Number(g)) => {
                assert_eq!(d.is_u64(), g.is_u64(), "number kind at {at}")
            }
            (Value::String(_), Value::String(_))
            | (Value::Bool(_), Value::Bool(_))
            | (Value::Null, Value::Null)
            | (Value::Array(_), Value::Array(_)) => {}
            _ => panic!("at {at}: documents have {doc}, the simulator sent {got}"),
        }
    }
    let doc: Value = serde_json::from_str(doc).expect("document example is JSON");
    walk(&doc, got, "$");
}

/// Drains agent 1001's queued events, then one more poll: the empty reply.
async fn empty_poll(url: &str, guid: &str) -> Value {
    for _ in 0..10 {
        let (_, r) = call(
            url,
            "GET",
            "/agentgateway/resource/agentevent/1001",
            Some(guid),
            "",
        )
        .await;
        if r["event"].is_null() {
            return r;
        }
    }
    panic!("no empty poll after 10 events");
}

/// Signs agent 1001 in, polls its first event, an unknown-GUID poll, and signs out.
async fn exchanges(dialect: &str) -> (Value, Value, Value, Value) {
    let all = exchanges_all(dialect).await;
    (all.signin, all.event, all.refused, all.logout)
}

/// Every reply body of one exchange with agent 1001.
struct Replies {
    signin: Value,
    event: Value,
    refused: Value,
    empty: Value,
    not_found: Value,
    logout: Value,
}

async fn exchanges_all(dialect: &str) -> Replies {
    let gw = gateway(&format!("dialect = \"{dialect}\"\npoll_wait = \"100ms\"")).await;
    let (head, signin) = call(
        &gw.url,
        "PUT",
        "/agentgateway/resource/onlineagent/1001",
        None,
        r#"{"password":"","phonenum":"40038","status":"4","releasephone":"true","agenttype":"4"}"#,
    )
    .await;
    let guid = guid_of(&head);
    let poll_path = "/agentgateway/resource/agentevent/1001";
    let (_, event) = call(&gw.url, "GET", poll_path, Some(&guid), "").await;
    let (_, refused) = call(&gw.url, "GET", poll_path, Some("wrong"), "").await;
    let empty = empty_poll(&gw.url, &guid).await;
    let (_, not_found) = call(&gw.url, "GET", "/agentgateway/resource/nowhere", None, "").await;
    let (_, logout) = call(
        &gw.url,
        "DELETE",
        "/agentgateway/resource/onlineagent/1001/logout",
        Some(&guid),
        "",
    )
    .await;
    Replies {
        signin,
        event,
        refused,
        empty,
        not_found,
        logout,
    }
}

/// The documents' bodies, written out: newest API pages (§3.2, §5.1, logout).
const NEWEST_SIGNIN: &str = r#"{"message":"","retcode":"0","result":{"vdnid":1,"workno":"291","mediatype":"TTF","loginTime":"1471585949806","isForceChange":"false","serverName":"AgentGateway","timeRemaining":"9"}}"#;
const NEWEST_EVENT: &str = r#"{"message":"","retcode":"0","event":{"eventType":"AgentState_Ready","eventGenTime":1784529722590,"workNo":"1001","content":null}}"#;
const NEWEST_EMPTY: &str = r#"{"message":"","retcode":"0","event":null}"#;
const NEWEST_ERROR: &str = r#"{"message":"","retcode":"000-003"}"#;
const NEWEST_LOGOUT: &str = r#"{"result":{},"message":"success","retcode":"0"}"#;
/// The developer guide's: `msg`, and a null sign-out result.
const DEVGUIDE_EVENT: &str = r#"{"msg":"","retcode":"0","event":{"eventType":"AgentState_Ready","eventGenTime":1784529722590,"workNo":"1001","content":null}}"#;
const DEVGUIDE_EMPTY: &str = r#"{"msg":"","retcode":"0","event":null}"#;
const DEVGUIDE_ERROR: &str = r#"{"msg":"","retcode":"000-003"}"#;
const DEVGUIDE_LOGOUT: &str = r#"{"retcode":"0","msg":"","result":null}"#;
/// The older pages': events without `eventGenTime`; sign-in `vdnid` a number.
const OLDER_EVENT: &str = r#"{"message":"","retcode":"0","event":{"eventType":"AgentState_Ready","workNo":"1001","content":null}}"#;

#[tokio::test]
async fn each_dialect_has_the_documents_shapes() {
    let r = exchanges_all("newest").await;
    assert_shape(NEWEST_SIGNIN, &r.signin);
    assert_shape(NEWEST_EVENT, &r.event);
    assert_shape(NEWEST_EMPTY, &r.empty);
    assert_shape(NEWEST_ERROR, &r.refused);
    assert_shape(NEWEST_ERROR, &r.not_found);
    assert_eq!(
        r.logout,
        serde_json::from_str::<Value>(NEWEST_LOGOUT).expect("json")
    );

    let r = exchanges_all("devguide").await;
    for reply in [
        &r.signin,
        &r.event,
        &r.empty,
        &r.refused,
        &r.not_found,
        &r.logout,
    ] {
        assert!(reply.get("msg").is_some(), "msg: {reply}");
        assert!(reply.get("message").is_none(), "no message: {reply}");
    }
    let mut signin = r.signin.clone();
    signin["message"] = signin["msg"].take();
    signin.as_object_mut().expect("object").remove("msg");
    assert_shape(NEWEST_SIGNIN, &signin);
    assert_shape(DEVGUIDE_EVENT, &r.event);
    assert_shape(DEVGUIDE_EMPTY, &r.empty);
    assert_shape(DEVGUIDE_ERROR, &r.refused);
    assert_shape(DEVGUIDE_ERROR, &r.not_found);
    assert_eq!(
        r.logout,
        serde_json::from_str::<Value>(DEVGUIDE_LOGOUT).expect("json")
    );
    assert!(r.logout["result"].is_null());

    let r = exchanges_all("older").await;
    assert_shape(NEWEST_SIGNIN, &r.signin);
    assert!(r.signin["result"]["vdnid"].is_u64(), "{}", r.signin);
    assert_shape(OLDER_EVENT, &r.event);
    assert_shape(NEWEST_EMPTY, &r.empty);
    assert_shape(NEWEST_ERROR, &r.refused);
    assert_eq!(
        r.logout,
        serde_json::from_str::<Value>(NEWEST_LOGOUT).expect("json")
    );
}

#[tokio::test]
async fn newest_sends_event_gen_time_as_a_number() {
    let (signin, event, refused, logout) = exchanges("newest").await;
    assert_eq!(signin["retcode"], "0");
    assert!(signin.get("message").is_some(), "{signin}");
    assert!(signin["result"]["vdnid"].is_u64(), "{signin}");
    let ev = &event["event"];
    assert_eq!(ev["eventType"], "AgentOther_InService");
    assert!(ev["eventGenTime"].is_u64(), "a JSON number: {event}");
    assert!(ev["content"].is_null());
    assert_eq!(refused["retcode"], "000-003");
    assert_eq!(
        logout,
        serde_json::json!({"message":"success","retcode":"0","result":{}})
    );
}

#[tokio::test]
async fn devguide_says_msg_and_a_null_sign_out_result() {
    let (signin, event, refused, logout) = exchanges("devguide").await;
    for reply in [&signin, &event, &refused] {
        assert!(
            reply.get("msg").is_some() && reply.get("message").is_none(),
            "{reply}"
        );
    }
    assert!(event["event"]["eventGenTime"].is_u64(), "{event}");
    assert_eq!(
        logout,
        serde_json::json!({"retcode":"0","msg":"","result":null})
    );
}

#[tokio::test]
async fn older_events_have_no_event_gen_time() {
    let (signin, event, _, logout) = exchanges("older").await;
    assert!(signin.get("message").is_some());
    let ev = event["event"].as_object().expect("event object");
    assert!(!ev.contains_key("eventGenTime"), "{event}");
    assert_eq!(ev["eventType"], "AgentOther_InService");
    assert_eq!(logout["retcode"], "0");
}

#[test]
fn an_unknown_dialect_is_refused_naming_the_valid_ones() {
    let err = toml::from_str::<agentstorm::sim::GatewayConfig>("dialect = \"bogus\"")
        .expect_err("bogus dialect");
    let text = err.to_string();
    for valid in ["newest", "devguide", "older"] {
        assert!(text.contains(valid), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_run_completes_against_each_dialect() {
    for dialect in ["newest", "devguide", "older"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("d.toml");
        std::fs::write(
            &path,
            r#"
name = "dialect"
[agents]
ids = "1001-1020"
phonenum = "7{agentid}"
[session]
hold = { min = "100ms", max = "200ms" }
poll_gap = { min = "10ms", max = "20ms" }
[load]
stages = [{ hold = "1s", rate = 20 }]
[gateway]
poll_wait = "200ms"
"#,
        )
        .expect("write");
        let mut opts = RunOptions::new(path);
        opts.out = Some(dir.path().join("out"));
        opts.overrides = vec![format!("gateway.dialect=\"{dialect}\"")];
        let outcome = run(opts).await.expect("run");
        let r = &outcome.results;
        assert_eq!(outcome.exit_code, 0, "{dialect}");
        assert_eq!(
            (
                r.sessions.signed_in,
                r.sessions.ready,
                r.sessions.signed_out_clean
            ),
            (20, 20, 20),
            "{dialect}"
        );
        let g = r.gateway.as_ref().expect("embedded counters");
        assert_eq!(
            r.operations["poll"].count,
            g.endpoint_total(agentstorm::protocol::Endpoint::GetAgentEvent),
            "{dialect}"
        );
        let delivered = r.sessions.event_delivery.count();
        if dialect == "older" {
            assert_eq!(delivered, 0);
        } else {
            assert_eq!(delivered, r.operations["poll_event"].count, "{dialect}");
        }
    }
}
