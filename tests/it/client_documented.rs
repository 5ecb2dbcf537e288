//! The client's reply reading against the vendor documents' own examples, written out
//! here by hand (docs/gateway.md lists where each comes from), never produced by the
//! simulated gateway: a misreading shared by both ends of agentstorm cannot pass here.
//!
//! Covers every documented shape: `eventGenTime` a JSON number, a string or absent;
//! `message` or `msg`; `vdnid` a number or a string; `result` as `{}`, `null`, absent or
//! with fields; `content` `null` or an object; unknown fields anywhere; an event type the
//! harness does not know; header names in any letter case.

use agentstorm::agent::{judge_event, judge_poll, PollVerdict};
use agentstorm::client::reply::parse;
use agentstorm::client::GatewayReply;

const GUID: &str = "279fe21d-2caa-4437-84c3-ab9e9dae20f5.AgentGateway0";

fn no_headers() -> http::HeaderMap {
    http::HeaderMap::new()
}

fn read(body: &str) -> GatewayReply {
    match parse(&no_headers(), body.as_bytes()) {
        Ok(r) => r,
        Err(why) => panic!("documented reply not read: {why}\n{body}"),
    }
}

#[test]
fn sign_in_replies_of_every_document_version() {
    // Current API reference (§3.2): vdnid a number, result with fields.
    let current = read(
        r#"{"message":"","retcode":"0","result":{"vdnid":1,"workno":"291","mediatype":"TTF","loginTime":"1471585949806","isForceChange":"false","serverName":"AgentGateway","timeRemaining":"9"}}"#,
    );
    assert!(current.retcode.is_success());
    // The same with vdnid a string, as the field table types it.
    let stringly = read(
        r#"{"message":"","retcode":"0","result":{"vdnid":"1","workno":"291","mediatype":"TTF"}}"#,
    );
    assert!(stringly.retcode.is_success());
    // Developer guide: `msg` instead of `message` (its example's unquoted `result` key is a
    // typo of the page; a gateway sends JSON).
    let devguide = read(r#"{"retcode":"0","msg":"","result":{"workno":"6001","mediatype":"TTT"}}"#);
    assert!(devguide.retcode.is_success());
    // A failure with detailCode (100-003).
    let busy = read(r#"{"message":"resource unavailable","retcode":"100-003","detailCode":"x"}"#);
    assert_eq!(busy.retcode.as_str(), "100-003");
    // updateGuid's reply carries the GUID in its result.
    let update = read(&format!(
        r#"{{"result":{{"guid":"{GUID}"}},"message":"success","retcode":"0"}}"#
    ));
    assert!(update.retcode.is_success());
}

#[test]
fn sign_in_guid_headers_in_any_letter_case() {
    for (set_guid, guid) in [
        ("Set-GUID", "Guid"),
        ("set-guid", "guid"),
        ("SET-GUID", "GUID"),
    ] {
        let mut h = http::HeaderMap::new();
        h.insert(
            http::HeaderName::from_bytes(set_guid.as_bytes()).expect("name"),
            format!("JSESSIONID={GUID}").parse().expect("value"),
        );
        h.insert(
            http::HeaderName::from_bytes(guid.as_bytes()).expect("name"),
            GUID.parse().expect("value"),
        );
        h.insert(
            http::header::CONTENT_TYPE,
            "application/json;charset=UTF-8".parse().expect("value"),
        );
        let r = parse(&h, br#"{"message":"","retcode":"0","result":{"vdnid":1}}"#).expect("read");
        assert_eq!(r.guid.as_deref(), Some(GUID), "{set_guid} / {guid}");
    }
    // Only the `Guid` header (the sign-in header table lists it as mandatory).
    let mut h = http::HeaderMap::new();
    h.insert("Guid", GUID.parse().expect("value"));
    assert_eq!(
        parse(&h, br#"{"message":"","retcode":"0"}"#)
            .expect("read")
            .guid
            .as_deref(),
        Some(GUID)
    );
}

#[test]
fn poll_replies_newest_string_and_older_event_times() {
    // Newest (§3.5, §5.1): eventGenTime a JSON number.
    let newest = read(
        r#"{"message":"","retcode":"0","event":{"eventType":"AgentState_Ready","eventGenTime":1784529722590,"workNo":"1001","content":null}}"#,
    );
    assert_eq!(newest.event_type.as_deref(), Some("AgentState_Ready"));
    assert_eq!(newest.event_gen_ms, Some(1_784_529_722_590));
    // The same time as a string of digits.
    let string = read(
        r#"{"message":"","retcode":"0","event":{"eventType":"AgentState_Ready","eventGenTime":"1784529722590","workNo":"1001","content":null}}"#,
    );
    assert_eq!(string.event_gen_ms, Some(1_784_529_722_590));
    // Older pages: no eventGenTime at all.
    let older = read(
        r#"{"message":"","retcode":"0","event":{"eventType":"AgentOther_InService","workNo":"291","content":null}}"#,
    );
    assert_eq!(older.event_type.as_deref(), Some("AgentOther_InService"));
    assert_eq!(older.event_gen_ms, None);
    // An unreadable time is no time, not a failed poll.
    let odd = read(
        r#"{"message":"","retcode":"0","event":{"eventType":"AgentState_Ready","eventGenTime":null,"workNo":"1001","content":null}}"#,
    );
    assert_eq!(odd.event_gen_ms, None);
    assert_eq!(odd.event_type.as_deref(), Some("AgentState_Ready"));
}

#[test]
fn event_contents_of_every_documented_shape() {
    for (event_type, content) in [
        ("AgentState_SetNotReady_Success", r#"{"reason":"200"}"#),
        ("AgentState_SetRest_Success", r#"{"reason":"200"}"#),
        ("AgentState_SetRest_Success", "null"),
        ("AgentEvent_linkageCapability", r#"{"result":0}"#),
        ("AgentEvent_linkagePhoneStatus", r#"{"result":5}"#),
        (
            "AgentOther_ShutdownService",
            r#"{"loginTime":"1471585949806"}"#,
        ),
    ] {
        let body = format!(
            r#"{{"message":"","retcode":"0","event":{{"eventType":"{event_type}","eventGenTime":1784529722590,"workNo":"1001","content":{content}}}}}"#
        );
        assert_eq!(read(&body).event_type.as_deref(), Some(event_type));
    }
}

#[test]
fn sign_out_replies_with_result_empty_null_or_absent() {
    for body in [
        r#"{"result":{},"message":"success","retcode":"0"}"#,
        r#"{"retcode":"0","msg":"","result":null}"#,
        r#"{"message":"success","retcode":"0"}"#,
    ] {
        assert!(read(body).retcode.is_success(), "{body}");
    }
}

#[test]
fn unknown_fields_anywhere_are_ignored() {
    let r = read(
        r#"{"traceId":"a1","message":"","retcode":"0","extra":{"nested":[1,{"x":null}]},"event":{"eventType":"AgentState_Ready","workNo":"1001","content":{"any":{"deep":[true]}},"eventGenTime":1784529722590,"vendorField":7}}"#,
    );
    assert_eq!(r.event_type.as_deref(), Some("AgentState_Ready"));
}

#[test]
fn no_event_absent_or_null_and_unknown_event_types_are_events() {
    for body in [
        r#"{"message":"","retcode":"0","event":null}"#,
        r#"{"message":"","retcode":"0"}"#,
        r#"{"retcode":"0","msg":""}"#,
    ] {
        assert_eq!(judge_poll(Ok(read(body))), PollVerdict::Empty, "{body}");
    }
    let custom = read(
        r#"{"message":"","retcode":"0","event":{"eventType":"AgentOther_PhoneAlerting","eventGenTime":1784529722590,"workNo":"1001","content":{"caller":"x"}}}"#,
    );
    assert_eq!(
        judge_poll(Ok(custom)),
        PollVerdict::Event {
            event_type: "AgentOther_PhoneAlerting".into()
        }
    );
    assert_eq!(
        judge_event(Some("Vendor_Unheard_Of".into())),
        PollVerdict::Event {
            event_type: "Vendor_Unheard_Of".into()
        }
    );
}

#[test]
fn a_body_that_is_not_the_envelope_says_why() {
    let why = parse(&no_headers(), br#"{"message":"no code"}"#).expect_err("no retcode");
    assert!(why.contains("retcode"), "{why}");
    let why = parse(&no_headers(), b"<html>busy</html>").expect_err("not JSON");
    assert!(why.contains("line 1 column"), "{why}");
}
