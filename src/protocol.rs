//! Wire types of the CC-Gateway agent interface, shared by the client side (harness) and the
//! simulated gateway (`sim`): paths, header names, request and reply bodies, retcodes and
//! event types, as the vendor documents show them (decisions where they are silent: docs/gateway.md).
//!
//! This module owns *only* what travels on the wire. It knows nothing of scenarios,
//! metrics or the simulator's behaviour model, so that the simulator stays an honest other
//! side: both ends agree on these types and on nothing else.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Common prefix of every agent-interface path.
pub const BASE_PATH: &str = "/agentgateway/resource";
/// Path of the simulator's own counters (decision D17), outside the gateway's path space.
pub const STATS_PATH: &str = "/agentstorm/v1/stats";

/// Request header that carries the session GUID on every authenticated call.
pub const HEADER_GUID: &str = "guid";
/// Response header that delivers a new GUID: `JSESSIONID=<guid>`.
pub const HEADER_SET_GUID: &str = "set-guid";
/// Response header by which agentstorm's simulated gateway names itself, on the replies
/// that hand out a GUID: a harness reads the simulator's counters ([`STATS_PATH`]) only
/// from a target that sent it (or the embedded one), so a real gateway is sent nothing
/// but the agent interface.
pub const HEADER_SIM_GATEWAY: &str = "x-agentstorm-gateway";
/// Prefix of the `Set-GUID` value before the GUID itself.
pub const SET_GUID_PREFIX: &str = "JSESSIONID=";
/// Content type of every request and reply body.
pub const CONTENT_TYPE_JSON: &str = "application/json; charset=UTF-8";

/// Lowest and highest agent id in the current documents (older ones stop at 59999).
pub const AGENT_ID_MIN: u32 = 101;
pub const AGENT_ID_MAX: u32 = 999_999;

/// Business result codes (the documents' error table). The gateway answers HTTP 200 and puts the
/// outcome here; `"0"` is success.
pub mod retcode {
    pub const SUCCESS: &str = "0";
    pub const WRONG_METHOD: &str = "000-001";
    pub const BAD_URL: &str = "000-002";
    pub const NO_PERMISSION: &str = "000-003";
    pub const SWITCHING_OVER: &str = "000-004";
    pub const MESSAGE_PARAM: &str = "000-006";
    pub const REPEATED_CALL: &str = "000-007";
    pub const SIGNIN_PARAM_EMPTY: &str = "100-001";
    pub const ALREADY_SIGNED_IN: &str = "100-002";
    pub const RESOURCE_UNAVAILABLE: &str = "100-003";
    pub const WRONG_PASSWORD: &str = "100-004";
    pub const BAD_SIGNOUT_PARAM: &str = "100-005";
    pub const NOT_SIGNED_IN: &str = "100-006";
    pub const OPERATION_EXCEPTION: &str = "100-007";
    pub const ALREADY_SIGNED_OUT: &str = "100-008";
    pub const SET_STATE_FAILED: &str = "100-009";
    pub const SIGNOUT_STATE_ERROR: &str = "100-010";
    pub const SIGNIN_PARAM_INVALID: &str = "100-011";
    pub const WRONG_AGENT_TYPE: &str = "100-012";
    pub const INVALID_PHONE: &str = "100-013";
    pub const PHONE_OUT_OF_RANGE: &str = "100-014";
    pub const CANNOT_FORCE_OUT: &str = "100-015";
    pub const INVALID_IP: &str = "100-016";
    pub const ACCOUNT_LOCKED: &str = "110-016";

    /// Every code the simulator can answer, in a fixed order, so that its counters can be a
    /// flat array instead of a map behind a lock.
    pub const KNOWN: &[&str] = &[
        SUCCESS,
        WRONG_METHOD,
        BAD_URL,
        NO_PERMISSION,
        SWITCHING_OVER,
        MESSAGE_PARAM,
        REPEATED_CALL,
        SIGNIN_PARAM_EMPTY,
        ALREADY_SIGNED_IN,
        RESOURCE_UNAVAILABLE,
        WRONG_PASSWORD,
        BAD_SIGNOUT_PARAM,
        NOT_SIGNED_IN,
        OPERATION_EXCEPTION,
        ALREADY_SIGNED_OUT,
        SET_STATE_FAILED,
        SIGNOUT_STATE_ERROR,
        SIGNIN_PARAM_INVALID,
        WRONG_AGENT_TYPE,
        INVALID_PHONE,
        PHONE_OUT_OF_RANGE,
        CANNOT_FORCE_OUT,
        INVALID_IP,
        ACCOUNT_LOCKED,
    ];
}

/// Event types relevant to sign-in and sign-out.
pub mod event {
    pub const IN_SERVICE: &str = "AgentOther_InService";
    pub const READY: &str = "AgentState_Ready";
    pub const SET_NOT_READY_SUCCESS: &str = "AgentState_SetNotReady_Success";
    pub const WORK: &str = "AgentState_Work";
    pub const SET_REST_SUCCESS: &str = "AgentState_SetRest_Success";
    pub const LINKAGE_CAPABILITY: &str = "AgentEvent_linkageCapability";
    pub const SHUTDOWN_SERVICE: &str = "AgentOther_ShutdownService";
}

/// The gateway endpoints agentstorm drives or simulates. The names are the log method names
/// of the documents, which is also what the simulator's stats endpoint reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Endpoint {
    Login,
    ForceLogin,
    LoginEx,
    GetAgentEvent,
    Logout,
    ForceLogout,
    ForceLogoutWithReason,
    HandShake,
    UpdateGuid,
    ResetSkill,
}

impl Endpoint {
    pub const ALL: [Endpoint; 10] = [
        Endpoint::Login,
        Endpoint::ForceLogin,
        Endpoint::LoginEx,
        Endpoint::GetAgentEvent,
        Endpoint::Logout,
        Endpoint::ForceLogout,
        Endpoint::ForceLogoutWithReason,
        Endpoint::HandShake,
        Endpoint::UpdateGuid,
        Endpoint::ResetSkill,
    ];

    /// The log method name (`login`, `getAgentEvent`, …).
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Login => "login",
            Endpoint::ForceLogin => "forceLogin",
            Endpoint::LoginEx => "loginEx",
            Endpoint::GetAgentEvent => "getAgentEvent",
            Endpoint::Logout => "logout",
            Endpoint::ForceLogout => "forceLogout",
            Endpoint::ForceLogoutWithReason => "forceLogoutWithReason",
            Endpoint::HandShake => "handShake",
            Endpoint::UpdateGuid => "updateGuid",
            Endpoint::ResetSkill => "resetSkill",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// Path of the sign-in call: `PUT /agentgateway/resource/onlineagent/{agentid}`.
pub fn signin_path(agent_id: u32) -> String {
    format!("{BASE_PATH}/onlineagent/{agent_id}")
}

/// Path of the forced sign-in call: `PUT …/onlineagent/{agentid}/forcelogin`.
pub fn forcelogin_path(agent_id: u32) -> String {
    format!("{BASE_PATH}/onlineagent/{agent_id}/forcelogin")
}

/// Path of the event poll: `GET /agentgateway/resource/agentevent/{agentid}`.
pub fn poll_path(agent_id: u32) -> String {
    format!("{BASE_PATH}/agentevent/{agent_id}")
}

/// Path of the sign-out call: `DELETE …/onlineagent/{agentid}/logout`.
pub fn logout_path(agent_id: u32) -> String {
    format!("{BASE_PATH}/onlineagent/{agent_id}/logout")
}

/// Path of the forced sign-out call: `DELETE …/onlineagent/{agentid}/forcelogout`.
pub fn forcelogout_path(agent_id: u32) -> String {
    format!("{BASE_PATH}/onlineagent/{agent_id}/forcelogout")
}

/// Path of the heartbeat (push mode): `POST …/onlineagent/{agentid}/handshake`.
pub fn handshake_path(agent_id: u32) -> String {
    format!("{BASE_PATH}/onlineagent/{agent_id}/handshake")
}

/// Path of the skill-queue sign-in: `POST …/onlineagent/{agentid}/resetskill/{autoflag}
/// ?skillid=…&phonelinkage=…`. `skillid` is `;`-separated digits (validated by the
/// scenario loader), so it needs no escaping; `phonelinkage` is sent as `0`/`1`.
pub fn resetskill_path(agent_id: u32, autoflag: bool, skillid: &str, phonelinkage: bool) -> String {
    let linkage = u8::from(phonelinkage);
    format!(
        "{BASE_PATH}/onlineagent/{agent_id}/resetskill/{autoflag}?skillid={skillid}&phonelinkage={linkage}"
    )
}

/// A batch of pushed events, as the gateway POSTs it to the callback (§5.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushBatch {
    #[serde(rename = "workNo")]
    pub work_no: String,
    #[serde(rename = "eventList")]
    pub event_list: Vec<Event>,
}

/// Extracts the GUID from a `Set-GUID` header value (`JSESSIONID=<guid>`). A value without
/// the prefix is taken whole; an empty one is no GUID.
pub fn guid_from_set_guid(value: &str) -> Option<&str> {
    let guid = value.trim();
    let guid = guid.strip_prefix(SET_GUID_PREFIX).unwrap_or(guid).trim();
    (!guid.is_empty()).then_some(guid)
}

/// Builds a `Set-GUID` header value for a GUID.
pub fn set_guid_value(guid: &str) -> String {
    format!("{SET_GUID_PREFIX}{guid}")
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

/// The simulated gateway's own counters, served as JSON at [`STATS_PATH`] (decision D17).
/// The harness reads them at a run's start and end and keeps the difference
/// ([`GatewayStats::since`]) to reconcile its counts with the server's: a gateway reused
/// across runs counts them all.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GatewayStats {
    /// Agents signed in now. A gauge, not a counter: in a difference it is the value at
    /// the end.
    pub signed_in: u64,
    /// Highest `signed_in` since the gateway started. A peak cannot be differenced: in a
    /// difference it is still the gateway's lifetime peak as read at the end, which earlier
    /// runs against the same gateway may have set.
    pub signed_in_peak: u64,
    /// Requests answered, by endpoint log name (`login`, `getAgentEvent`, …, or `unknown`
    /// for paths outside the interface) and then by outcome: the retcode of the reply, or
    /// `http_<status>` for a reply without one, or `reset` for a connection the gateway cut
    /// on purpose (fault injection).
    pub requests: BTreeMap<String, BTreeMap<String, u64>>,
    /// Sessions ended, by cause.
    pub signouts: SignoutCounts,
}

impl GatewayStats {
    /// All requests the gateway saw for one endpoint, whatever their outcome.
    pub fn endpoint_total(&self, endpoint: Endpoint) -> u64 {
        self.requests
            .get(endpoint.name())
            .map(|m| m.values().sum())
            .unwrap_or(0)
    }

    /// What the gateway counted between `start` (an earlier snapshot of the same gateway)
    /// and `self`: every request counter and sign-out cause minus its value at the start,
    /// saturating at 0 (a gateway restarted in between counts from 0 again, and a smaller
    /// counter must not wrap). The gauges are `self`'s: `signed_in` now, and
    /// `signed_in_peak` the lifetime peak (see the field docs).
    pub fn since(&self, start: &GatewayStats) -> GatewayStats {
        self.zip_counters(start, u64::saturating_sub)
    }

    /// Every counter (requests by endpoint and outcome, sign-outs by cause) as `f(self's,
    /// other's)`, one missing on a side read as 0 and a result of 0 left out (as the
    /// simulator leaves out the requests it never saw); the gauges are `self`'s.
    pub fn zip_counters(&self, other: &GatewayStats, f: impl Fn(u64, u64) -> u64) -> GatewayStats {
        let mut requests: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        let empty = BTreeMap::new();
        let endpoints = self.requests.keys().chain(other.requests.keys());
        for endpoint in endpoints {
            if requests.contains_key(endpoint) {
                continue;
            }
            let mine = self.requests.get(endpoint).unwrap_or(&empty);
            let theirs = other.requests.get(endpoint).unwrap_or(&empty);
            let outcomes: BTreeMap<String, u64> = mine
                .keys()
                .chain(theirs.keys())
                .filter_map(|outcome| {
                    let at = |m: &BTreeMap<String, u64>| m.get(outcome).copied().unwrap_or(0);
                    let n = f(at(mine), at(theirs));
                    (n > 0).then(|| (outcome.clone(), n))
                })
                .collect();
            requests.insert(endpoint.clone(), outcomes);
        }
        requests.retain(|_, outcomes| !outcomes.is_empty());
        let (a, b) = (&self.signouts, &other.signouts);
        GatewayStats {
            signed_in: self.signed_in,
            signed_in_peak: self.signed_in_peak,
            requests,
            signouts: SignoutCounts {
                logout: f(a.logout, b.logout),
                forced: f(a.forced, b.forced),
                timeout: f(a.timeout, b.timeout),
                replaced: f(a.replaced, b.replaced),
            },
        }
    }
}

/// Sessions ended, by cause (D17).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignoutCounts {
    /// The agent signed out itself (`logout`, `forcelogout`, `forcelogoutwithreason`).
    pub logout: u64,
    /// The gateway or an inspector forced it out (fault model, failover cue).
    pub forced: u64,
    /// No poll or heartbeat within the inactivity timeout (D11).
    pub timeout: u64,
    /// A `forcelogin` replaced the session (D8).
    pub replaced: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_guid_round_trip_and_lenient_parse() {
        let guid = "279fe21d-2caa-4437-84c3-ab9e9dae20f5.AgentGateway0";
        assert_eq!(guid_from_set_guid(&set_guid_value(guid)), Some(guid));
        assert_eq!(guid_from_set_guid(guid), Some(guid));
        assert_eq!(guid_from_set_guid(" JSESSIONID= "), None);
        assert_eq!(guid_from_set_guid(""), None);
    }

    fn stats(
        signed_in: u64,
        peak: u64,
        requests: &[(&str, &str, u64)],
        logout: u64,
    ) -> GatewayStats {
        let mut g = GatewayStats {
            signed_in,
            signed_in_peak: peak,
            ..Default::default()
        };
        for (endpoint, outcome, n) in requests {
            g.requests
                .entry(endpoint.to_string())
                .or_default()
                .insert(outcome.to_string(), *n);
        }
        g.signouts.logout = logout;
        g
    }

    #[test]
    fn since_is_what_was_counted_between_two_snapshots() {
        // A gateway reused by an earlier run: 20 sign-ins, 50 polls, 20 sign-outs already.
        let start = stats(
            0,
            20,
            &[
                ("login", "0", 20),
                ("getAgentEvent", "0", 50),
                ("logout", "0", 20),
            ],
            20,
        );
        let mut end = stats(
            3,
            20,
            &[
                ("login", "0", 40),
                ("login", "100-002", 2),
                ("getAgentEvent", "0", 50),
                ("logout", "0", 37),
            ],
            37,
        );
        end.signouts.timeout = 1;
        let d = end.since(&start);
        assert_eq!(d.requests["login"]["0"], 20);
        assert_eq!(d.requests["login"]["100-002"], 2);
        assert_eq!(d.endpoint_total(Endpoint::Login), 22);
        assert_eq!(d.requests["logout"]["0"], 17);
        // Nothing new on an endpoint: left out, as the simulator leaves it out.
        assert!(!d.requests.contains_key("getAgentEvent"), "{d:?}");
        assert_eq!(d.endpoint_total(Endpoint::GetAgentEvent), 0);
        assert_eq!(
            d.signouts,
            SignoutCounts {
                logout: 17,
                timeout: 1,
                ..Default::default()
            }
        );
        // Gauges: the end's values (the peak is the gateway's lifetime peak).
        assert_eq!((d.signed_in, d.signed_in_peak), (3, 20));
        // From a fresh gateway's snapshot, the difference is the end itself.
        assert_eq!(end.since(&GatewayStats::default()), end);
        assert_eq!(end.since(&end).requests, BTreeMap::new());
    }

    #[test]
    fn since_saturates_when_a_counter_went_down() {
        // The gateway restarted between the two snapshots: nothing wraps below zero.
        let start = stats(5, 9, &[("login", "0", 9), ("logout", "0", 4)], 4);
        let end = stats(1, 2, &[("login", "0", 2), ("login", "100-003", 1)], 1);
        let d = end.since(&start);
        assert_eq!(d.endpoint_total(Endpoint::Login), 1);
        assert_eq!(d.requests["login"].get("0"), None);
        assert!(!d.requests.contains_key("logout"));
        assert_eq!(d.signouts.logout, 0);
        assert_eq!((d.signed_in, d.signed_in_peak), (1, 2));
    }

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

    #[test]
    fn paths_follow_the_documents() {
        assert_eq!(signin_path(1001), "/agentgateway/resource/onlineagent/1001");
        assert_eq!(poll_path(1001), "/agentgateway/resource/agentevent/1001");
        assert_eq!(
            logout_path(7),
            "/agentgateway/resource/onlineagent/7/logout"
        );
        assert_eq!(Endpoint::ALL.len(), Endpoint::ResetSkill.index() + 1);
    }
}
