//! Wire types of the CC-Gateway agent interface, shared by the client side (harness) and the
//! simulated gateway (`sim`): paths, header names, request and reply bodies, retcodes and
//! event types, as the vendor documents show them (decisions where they are silent: docs/gateway.md).
//! Paths, headers, retcodes and event names are here; the JSON bodies in `body`; the
//! simulator's counters (its D17 stats endpoint) in `stats`.
//!
//! This module owns *only* what travels on the wire. It knows nothing of scenarios,
//! metrics or the simulator's behaviour model, so that the simulator stays an honest other
//! side: both ends agree on these types and on nothing else.

use serde::{Deserialize, Serialize};

mod body;
mod stats;

pub use body::{gen_time_lenient, Event, PushBatch, Reply, SignInRequest};
pub use stats::{GatewayStats, NodeStats, SignoutCounts};

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

    /// An event type as a gateway named it: one of the types above (the ones a sign-in and
    /// its session bring, nearly every event of a run, one per poll reply) without an
    /// allocation, any other type as an owned copy.
    pub type Name = std::borrow::Cow<'static, str>;

    /// `text` as a [`Name`].
    pub fn name(text: &str) -> Name {
        const KNOWN: [&str; 7] = [
            READY,
            IN_SERVICE,
            SET_NOT_READY_SUCCESS,
            WORK,
            SET_REST_SUCCESS,
            LINKAGE_CAPABILITY,
            SHUTDOWN_SERVICE,
        ];
        match KNOWN.iter().find(|k| **k == text) {
            Some(k) => Name::Borrowed(k),
            None => Name::Owned(text.to_string()),
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_known_types_are_named_without_a_copy_and_others_are_kept_whole() {
            for t in [READY, IN_SERVICE, SHUTDOWN_SERVICE, LINKAGE_CAPABILITY] {
                // Matched by content: the text comes from a reply, not from the constant.
                let from_reply = String::from(t);
                let n = name(&from_reply);
                assert!(matches!(n, Name::Borrowed(_)), "{t}");
                assert_eq!(n, t);
            }
            let other = name("AgentEvent_Customer_Alerting");
            assert!(matches!(other, Name::Owned(_)));
            assert_eq!(other, "AgentEvent_Customer_Alerting");
            // Letter case is the gateway's: a near miss is another type, kept as sent.
            assert_eq!(name("agentstate_ready"), "agentstate_ready");
            assert!(matches!(name("agentstate_ready"), Name::Owned(_)));
        }
    }
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

/// Extracts the GUID from a `Set-GUID` header value (`JSESSIONID=<guid>`). A value without
/// the prefix is taken whole; an empty one is no GUID.
pub fn guid_from_set_guid(value: &str) -> Option<&str> {
    let guid = value.trim();
    let guid = guid.strip_prefix(SET_GUID_PREFIX).unwrap_or(guid).trim();
    (!guid.is_empty()).then_some(guid)
}

/// The gateway node that issued a GUID: the part after its last `.`, as in
/// `279fe21d-….AgentGateway0` (§2.1: "a UUID, a dot, and a gateway node name"). None when
/// the GUID has no such suffix, or one that does not look like a name (over 64 bytes, or
/// not letters, digits, `_` and `-`).
pub fn node_of_guid(guid: &str) -> Option<&str> {
    let (_, node) = guid.rsplit_once('.')?;
    let named = !node.is_empty()
        && node.len() <= 64
        && node
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    named.then_some(node)
}

/// Builds a `Set-GUID` header value for a GUID.
pub fn set_guid_value(guid: &str) -> String {
    format!("{SET_GUID_PREFIX}{guid}")
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

    #[test]
    fn the_node_is_the_guids_suffix() {
        let guid = "279fe21d-2caa-4437-84c3-ab9e9dae20f5.AgentGateway1";
        assert_eq!(node_of_guid(guid), Some("AgentGateway1"));
        assert_eq!(node_of_guid("279fe21d-2caa-4437-84c3-ab9e9dae20f5"), None);
        assert_eq!(node_of_guid("abc."), None);
        assert_eq!(node_of_guid("abc.node 1"), None);
        assert_eq!(node_of_guid(&format!("abc.{}", "n".repeat(65))), None);
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
