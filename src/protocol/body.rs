//! The JSON bodies of the agent interface: the sign-in request the harness sends, the reply
//! envelope every call shares, events as polls and push batches carry them.

use serde::{Deserialize, Serialize};

/// A batch of pushed events, as the gateway POSTs it to the callback (§5.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushBatch {
    #[serde(rename = "workNo")]
    pub work_no: String,
    #[serde(rename = "eventList")]
    pub event_list: Vec<Event>,
}

/// The sign-in body, as the harness sends it. Only the fields the
/// harness sets are here; the simulator parses requests leniently from raw JSON instead,
/// because real clients send scalars as strings too (D5).
#[derive(Debug, Clone, Serialize)]
pub struct SignInRequest<'a> {
    pub password: &'a str,
    pub phonenum: &'a str,
    pub status: u8,
    pub agenttype: u8,
    pub releasephone: bool,
    #[serde(rename = "checkInWebm")]
    pub check_in_webm: bool,
    /// Rest duration in seconds (with `status` 8).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<u32>,
    /// Rest cause (with `status` 8).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restcause: Option<u8>,
    /// Push mode: where the gateway POSTs events (with `serviceToken`).
    #[serde(rename = "callBackUri", skip_serializing_if = "Option::is_none")]
    pub call_back_uri: Option<&'a str>,
    #[serde(rename = "serviceToken", skip_serializing_if = "Option::is_none")]
    pub service_token: Option<&'a str>,
}

/// An agent event as it appears in a poll reply or a push batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    #[serde(rename = "eventType")]
    pub event_type: String,
    #[serde(rename = "workNo")]
    pub work_no: String,
    #[serde(default)]
    pub content: Option<serde_json::Value>,
    /// Milliseconds since the Unix epoch (newest documents only). The documents show a JSON
    /// number (§3.5, §5.1); a string of digits is read too, and anything else as absent.
    #[serde(
        rename = "eventGenTime",
        default,
        deserialize_with = "gen_time_lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub event_gen_time: Option<u64>,
}

/// Reads `eventGenTime` as the documents write it (a JSON number of milliseconds) or as a
/// string of digits; `null`, a negative, fractional or unreadable value is no time at all,
/// never a failed reply: the time only feeds the event-delivery latency.
pub fn gen_time_lenient<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Option<u64>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("milliseconds since the epoch, as a number or a string")
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Option<u64>, E> {
            Ok(Some(v))
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Option<u64>, E> {
            Ok(u64::try_from(v).ok())
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Option<u64>, E> {
            Ok((v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v < 1e18).then_some(v as u64))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Option<u64>, E> {
            Ok(v.trim().parse().ok())
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Option<u64>, E> {
            Ok(None)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Option<u64>, E> {
            Ok(None)
        }
        fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Option<u64>, E> {
            Ok(None)
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut m: A,
        ) -> Result<Option<u64>, A::Error> {
            while m
                .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                .is_some()
            {}
            Ok(None)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut s: A,
        ) -> Result<Option<u64>, A::Error> {
            while s.next_element::<serde::de::IgnoredAny>()?.is_some() {}
            Ok(None)
        }
    }
    d.deserialize_any(V)
}

/// The reply envelope every agent-operation call shares: `message`, `retcode`, optional
/// `result`, plus `detailCode` for `100-003` and `event` on poll replies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    #[serde(default)]
    pub message: String,
    pub retcode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    #[serde(
        rename = "detailCode",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub detail_code: Option<String>,
    /// Present on poll replies: the event, or `null` when the wait ended empty (D1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<Option<Event>>,
}

impl Reply {
    /// A reply with a retcode and message and nothing else.
    pub fn code(retcode: &str, message: &str) -> Reply {
        Reply {
            message: message.to_string(),
            retcode: retcode.to_string(),
            result: None,
            detail_code: None,
            event: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::event;

    #[test]
    fn poll_reply_distinguishes_null_event_from_absent() {
        let empty: Reply = serde_json::from_str(r#"{"message":"","retcode":"0","event":null}"#)
            .expect("valid reply");
        // `event: null` deserialises to Some(None) only with the double option; serde maps
        // an explicit null to None for Option<Option<_>> with `default`, so the harness
        // treats both "absent" and "null" as "no event", which is what D1 asks.
        assert!(matches!(empty.event, None | Some(None)));
        let with: Reply = serde_json::from_str(
            r#"{"message":"","retcode":"0","event":{"eventType":"AgentState_Ready","workNo":"1001","content":null}}"#,
        )
        .expect("valid reply");
        let ev = with.event.flatten().expect("event present");
        assert_eq!(ev.event_type, event::READY);
        assert_eq!(ev.work_no, "1001");
    }
}
