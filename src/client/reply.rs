//! Reading a gateway's 200 reply: the retcode and event from the JSON body, and a new GUID
//! from the `Guid` / `Set-GUID` headers (header names in any letter case). Lenient where
//! the vendor documents differ from one another (`eventGenTime` a number, a string or
//! absent; `message` or `msg`; `result` and `content` of any shape; unknown fields
//! anywhere; a retcode sent as a number; `event` absent or `null`), strict where it matters
//! (no retcode at all, or not JSON, is a bad body, with serde's reason kept).

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Deserializer};

use super::head::Head;
use crate::outcome::Retcode;
use crate::protocol::{event, guid_from_set_guid};

/// What the harness needs from a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayReply {
    pub retcode: Retcode,
    /// A GUID the gateway handed out with this reply (`Set-GUID` preferred, else `Guid`).
    pub guid: Option<String>,
    /// The event's type on a poll reply that carried one.
    pub event_type: Option<event::Name>,
    /// The event's `eventGenTime` (ms since the Unix epoch), where given.
    pub event_gen_ms: Option<u64>,
}

#[derive(Deserialize)]
struct Body<'a> {
    #[serde(deserialize_with = "retcode_str_or_num")]
    retcode: Retcode,
    #[serde(default, borrow)]
    event: Option<EventBody<'a>>,
}

#[derive(Deserialize)]
struct EventBody<'a> {
    #[serde(rename = "eventType", borrow)]
    event_type: Cow<'a, str>,
    /// A JSON number in the newest documents, a string in some gateways, absent in older
    /// ones: all three are read, and an unreadable time is no time, never a bad body.
    #[serde(
        rename = "eventGenTime",
        default,
        deserialize_with = "crate::protocol::gen_time_lenient"
    )]
    event_gen_time: Option<u64>,
}

fn retcode_str_or_num<'de, D: Deserializer<'de>>(d: D) -> Result<Retcode, D::Error> {
    struct V;
    impl serde::de::Visitor<'_> for V {
        type Value = Retcode;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a retcode string or number")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Retcode, E> {
            Ok(Retcode::new(v))
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Retcode, E> {
            Ok(Retcode::new(&v.to_string()))
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Retcode, E> {
            Ok(Retcode::new(&v.to_string()))
        }
    }
    d.deserialize_any(V)
}

/// Longest `Retry-After` taken as given; a longer one is read as this (an agent's retry
/// budget, `[session] retry.give_up_after`, bounds the wait in any case).
pub const RETRY_AFTER_MAX: std::time::Duration = std::time::Duration::from_secs(3600);

/// Reads a `Retry-After` value (RFC 9110 §10.2.3): whole seconds, or an HTTP date, which is
/// read against `now` (a date already past is no wait). None when it is neither.
pub fn retry_after(value: &str, now: std::time::SystemTime) -> Option<std::time::Duration> {
    let value = value.trim();
    let wait = if value.bytes().all(|b| b.is_ascii_digit()) && !value.is_empty() {
        // Digits beyond u64 are still a (very long) wait.
        std::time::Duration::from_secs(value.parse().unwrap_or(u64::MAX))
    } else {
        let at = httpdate::parse_http_date(value).ok()?;
        at.duration_since(now).unwrap_or_default()
    };
    Some(wait.min(RETRY_AFTER_MAX))
}

/// Parses a 200 reply. Err means the body is not the protocol's JSON envelope.
pub fn parse(headers: &http::HeaderMap, body: &[u8]) -> Result<GatewayReply, String> {
    parse_with(&Head::read(headers), body)
}

/// [`parse`] with the headers already read (the client reads them once per reply).
pub(super) fn parse_with(head: &Head<'_>, body: &[u8]) -> Result<GatewayReply, String> {
    // Checked as UTF-8 once, whole: parsing from a `str` then skips that check for each of
    // the reply's dozen strings (keys included), about a sixth of the parse's cost.
    let text = std::str::from_utf8(body).map_err(|e| format!("reply is not UTF-8: {e}"))?;
    let parsed: Body<'_> = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let guid = head
        .set_guid
        .and_then(|v| v.to_str().ok())
        .and_then(guid_from_set_guid)
        .or_else(|| {
            let g = head.guid.and_then(|v| v.to_str().ok())?.trim();
            (!g.is_empty()).then_some(g)
        })
        .map(str::to_string);
    let (event_type, event_gen_ms) = match parsed.event {
        Some(ev) => (Some(event::name(&ev.event_type)), ev.event_gen_time),
        None => (None, None),
    };
    Ok(GatewayReply {
        retcode: parsed.retcode,
        guid,
        event_type,
        event_gen_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::super::head::header_map as headers;
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        use std::time::{Duration, SystemTime, UNIX_EPOCH};
        // RFC 9110's own example date.
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777 - 90);
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            retry_after("Fri, 31 Dec 1999 23:59:59 GMT", UNIX_EPOCH),
            Some(RETRY_AFTER_MAX)
        );
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(90))
        );
        // A date already past is no wait; a huge number is capped.
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:37 GMT", SystemTime::now()),
            Some(Duration::ZERO)
        );
        assert_eq!(
            retry_after("99999999999999999999999", now),
            Some(RETRY_AFTER_MAX)
        );
        for bad in ["", "-1", "1.5", "soon", "Sun, 06 Nov 1994"] {
            assert_eq!(retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn sign_in_reply_with_guid_headers() {
        let h = headers(&[
            ("set-guid", "JSESSIONID=abc.AgentGateway0"),
            ("guid", "other"),
        ]);
        let r = parse(&h, br#"{"message":"","retcode":"0","result":{"vdnid":1}}"#).expect("ok");
        assert!(r.retcode.is_success());
        assert_eq!(r.guid.as_deref(), Some("abc.AgentGateway0"));
        let only_guid = parse(&headers(&[("guid", "g1")]), br#"{"retcode":"0"}"#).expect("ok");
        assert_eq!(only_guid.guid.as_deref(), Some("g1"));
    }

    #[test]
    fn poll_replies_with_and_without_event() {
        let h = http::HeaderMap::new();
        let r = parse(
            &h,
            br#"{"message":"","retcode":"0","event":{"eventType":"AgentState_Ready","workNo":"1001","content":null,"eventGenTime":"1700000000000"}}"#,
        )
        .expect("ok");
        assert_eq!(r.event_type.as_deref(), Some("AgentState_Ready"));
        assert_eq!(r.event_gen_ms, Some(1_700_000_000_000));
        let empty = parse(&h, br#"{"message":"","retcode":"0","event":null}"#).expect("ok");
        assert_eq!(empty.event_type, None);
        let absent = parse(&h, br#"{"retcode":"100-006","message":"x"}"#).expect("ok");
        assert_eq!(absent.retcode.as_str(), "100-006");
    }

    #[test]
    fn lenient_retcode_strict_envelope() {
        let h = http::HeaderMap::new();
        assert_eq!(
            parse(&h, br#"{"retcode":0}"#)
                .expect("number")
                .retcode
                .as_str(),
            "0"
        );
        assert!(parse(&h, b"<html>").is_err());
        assert!(parse(&h, br#"{"message":"no code"}"#).is_err());
        assert!(parse(&h, br#"{"retcode":"0","event":{"content":1}}"#).is_err());
    }
}
