//! Agent events as JSON, as the vendor documents show them: the sequences queued after sign-in per `status`
//! and phone linkage (§3.2, D15), `AgentOther_ShutdownService` (D12), and the poll reply
//! and push batch that carry them.
//!
//! Events are serialised once, when queued, and kept as bytes; delivering one is a copy
//! into its reply. This file decides no timing and holds no state.

use std::collections::VecDeque;
use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::config::Dialect;
use crate::protocol::event;

/// Milliseconds since the Unix epoch, now (`eventGenTime`, `loginTime`).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The `eventGenTime` an event gets in `dialect` (D18): now, or none in the older shape.
pub fn gen_time(dialect: Dialect) -> Option<u64> {
    (dialect != Dialect::Older).then(now_ms)
}

/// One event object. `content` is raw JSON (`null` when None); `eventGenTime` is a JSON
/// number (ms since the epoch), left out when `gen_ms` is None (the older documents).
pub fn event_json(
    event_type: &str,
    work_no: u32,
    content: Option<&str>,
    gen_ms: Option<u64>,
) -> Bytes {
    let mut out = Vec::with_capacity(128);
    let content = content.unwrap_or("null");
    // Writing into a Vec cannot fail.
    let _ = match gen_ms {
        Some(ms) => write!(
            out,
            r#"{{"eventType":"{event_type}","eventGenTime":{ms},"workNo":"{work_no}","content":{content}}}"#
        ),
        None => write!(
            out,
            r#"{{"eventType":"{event_type}","workNo":"{work_no}","content":{content}}}"#
        ),
    };
    Bytes::from(out)
}

/// The poll reply carrying one event; `head` is the dialect's
/// [`Replies::event_head`](super::reply::Replies::event_head).
pub fn poll_reply(head: &[u8], event: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(head.len() + event.len() + 1);
    out.extend_from_slice(head);
    out.extend_from_slice(event);
    out.push(b'}');
    Bytes::from(out)
}

/// A push batch (§5.3): `{"workNo":"…","eventList":[…]}`, oldest first.
pub fn push_batch<'a>(work_no: u32, events: impl IntoIterator<Item = &'a Bytes>) -> Bytes {
    let mut out = Vec::with_capacity(256);
    let _ = write!(out, r#"{{"workNo":"{work_no}","eventList":["#);
    for (i, e) in events.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(e);
    }
    out.extend_from_slice(b"]}");
    Bytes::from(out)
}

/// What sign-in asked for that shapes its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInEvents {
    /// 3 busy, 4 idle, 5 wrap-up, 8 rest.
    pub status: u8,
    pub phonelinkage: bool,
    /// Rest cause (status 8).
    pub restcause: u8,
}

/// The events queued after a successful sign-in, in order (§3.2).
pub fn signin_sequence(what: SignInEvents, work_no: u32, gen_ms: Option<u64>) -> VecDeque<Bytes> {
    let mut q = VecDeque::with_capacity(4);
    q.push_back(event_json(event::IN_SERVICE, work_no, None, gen_ms));
    q.push_back(event_json(event::READY, work_no, None, gen_ms));
    match what.status {
        3 => q.push_back(event_json(
            event::SET_NOT_READY_SUCCESS,
            work_no,
            Some(r#"{"reason":"200"}"#),
            gen_ms,
        )),
        5 => q.push_back(event_json(event::WORK, work_no, None, gen_ms)),
        8 => {
            let content = format!(r#"{{"reason":"{}"}}"#, what.restcause);
            q.push_back(event_json(
                event::SET_REST_SUCCESS,
                work_no,
                Some(&content),
                gen_ms,
            ))
        }
        _ => {}
    }
    if what.phonelinkage {
        q.push_back(event_json(
            event::LINKAGE_CAPABILITY,
            work_no,
            Some(r#"{"result":0}"#),
            gen_ms,
        ));
    }
    q
}

/// `AgentOther_ShutdownService` after a forced or timeout sign-out (D12).
pub fn shutdown_event(work_no: u32, login_time_ms: u64, gen_ms: Option<u64>) -> Bytes {
    let content = format!(r#"{{"loginTime":"{login_time_ms}"}}"#);
    event_json(event::SHUTDOWN_SERVICE, work_no, Some(&content), gen_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Event, Reply};

    fn types(q: &VecDeque<Bytes>) -> Vec<String> {
        q.iter()
            .map(|b| {
                serde_json::from_slice::<Event>(b)
                    .expect("event parses as the shared wire type")
                    .event_type
            })
            .collect()
    }

    #[test]
    fn sequences_per_status_and_linkage() {
        let s = |status, phonelinkage| SignInEvents {
            status,
            phonelinkage,
            restcause: 7,
        };
        let base = [event::IN_SERVICE, event::READY];
        assert_eq!(types(&signin_sequence(s(4, false), 291, Some(1))), base);
        assert_eq!(
            types(&signin_sequence(s(3, false), 291, Some(1))),
            [base[0], base[1], event::SET_NOT_READY_SUCCESS]
        );
        assert_eq!(
            types(&signin_sequence(s(5, false), 291, Some(1))),
            [base[0], base[1], event::WORK]
        );
        assert_eq!(
            types(&signin_sequence(s(8, true), 291, Some(1))),
            [
                base[0],
                base[1],
                event::SET_REST_SUCCESS,
                event::LINKAGE_CAPABILITY
            ]
        );
    }

    #[test]
    fn poll_reply_and_batch_parse() {
        let e = shutdown_event(291, 1471585949806, Some(1784529722590));
        let head = br#"{"message":"","retcode":"0","event":"#;
        let reply: Reply = serde_json::from_slice(&poll_reply(head, &e)).expect("reply parses");
        let ev = reply.event.flatten().expect("event");
        assert_eq!(ev.event_type, event::SHUTDOWN_SERVICE);
        assert_eq!(ev.work_no, "291");
        assert_eq!(ev.event_gen_time, Some(1_784_529_722_590));
        assert_eq!(
            ev.content,
            Some(serde_json::json!({"loginTime":"1471585949806"}))
        );
        let q = signin_sequence(
            SignInEvents {
                status: 4,
                phonelinkage: false,
                restcause: 0,
            },
            9,
            Some(5),
        );
        let v: serde_json::Value = serde_json::from_slice(&push_batch(9, &q)).expect("json");
        assert_eq!(v["workNo"], "9");
        assert_eq!(v["eventList"][1]["eventType"], event::READY);
        assert!(
            v["eventList"][1]["eventGenTime"].is_u64(),
            "a JSON number: {v}"
        );
    }

    /// The newest documents' event object, field for field; the older ones' without
    /// `eventGenTime` (D15, D18).
    #[test]
    fn event_gen_time_is_a_json_number_or_absent() {
        let newest = event_json(event::READY, 1001, None, Some(1784529722590));
        let v: serde_json::Value = serde_json::from_slice(&newest).expect("json");
        assert_eq!(
            v,
            serde_json::json!({"eventType":"AgentState_Ready","eventGenTime":1784529722590u64,"workNo":"1001","content":null})
        );
        let older = event_json(event::READY, 1001, None, None);
        let v: serde_json::Value = serde_json::from_slice(&older).expect("json");
        assert_eq!(
            v,
            serde_json::json!({"eventType":"AgentState_Ready","workNo":"1001","content":null})
        );
        assert!(gen_time(Dialect::Newest).is_some());
        assert!(gen_time(Dialect::Devguide).is_some());
        assert_eq!(gen_time(Dialect::Older), None);
    }
}
