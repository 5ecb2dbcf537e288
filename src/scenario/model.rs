//! The scenario file's serde model (design.md §5): what a user may write, with defaults.
//!
//! Field names and types here are the contract with the rest of the harness (plan,
//! scheduler, agent). Validation that needs the source text (positions, nearest key) lives
//! in `load`; value types with their own syntax (durations, id ranges, templates, secrets)
//! live in `values`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::values::{DurationRange, IdRanges, PhoneTemplate, Secret};
use crate::duration::HumanDuration;
use crate::sim::GatewayConfig;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub target: TargetSpec,
    pub agents: AgentsSpec,
    #[serde(default)]
    pub session: SessionSpec,
    pub load: LoadSpec,
    /// Threshold expressions by metric (`"signin.p99" = "< 800ms"`); evaluated by reports.
    #[serde(default)]
    pub thresholds: BTreeMap<String, String>,
    /// Behaviour model of the embedded simulated gateway; ignored for other targets.
    #[serde(default)]
    pub gateway: GatewayConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// `"embedded"` (the default) or an `http://` / `https://` base URL.
    #[serde(default = "default_target_url")]
    pub url: String,
    /// PEM file of the CA that signed the gateway's certificate (added to the system roots).
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    /// Skip certificate verification. Must be asked for; the report shows it.
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// Longest wait for any one request's full reply, long polls included: must exceed the
    /// gateway's poll wait (10 s by default on real gateways).
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    /// Longest wait to open a connection (TCP and TLS).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: HumanDuration,
}

impl Default for TargetSpec {
    fn default() -> Self {
        TargetSpec {
            url: default_target_url(),
            ca_file: None,
            insecure_skip_verify: false,
            timeout: default_timeout(),
            connect_timeout: default_connect_timeout(),
        }
    }
}

impl TargetSpec {
    pub fn is_embedded(&self) -> bool {
        self.url.trim().eq_ignore_ascii_case("embedded") || self.url.trim().is_empty()
    }
}

fn default_target_url() -> String {
    "embedded".into()
}
fn default_timeout() -> HumanDuration {
    HumanDuration::from_secs(15)
}
fn default_connect_timeout() -> HumanDuration {
    HumanDuration::from_secs(5)
}

/// Sign-in state requested in the sign-in body (`status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum AgentStatus {
    Busy,
    #[default]
    Idle,
    WrapUp,
    Rest,
}

impl AgentStatus {
    /// The protocol's integer for this state (3/4/5/8).
    pub fn code(self) -> u8 {
        match self {
            AgentStatus::Busy => 3,
            AgentStatus::Idle => 4,
            AgentStatus::WrapUp => 5,
            AgentStatus::Rest => 8,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentsSpec {
    /// Agent ids, e.g. `"1001-2000"` or `"1001-1500,2001-2500"`; each leased to one
    /// simulated agent at a time.
    pub ids: IdRanges,
    /// Softphone number per agent; `{agentid}` is replaced by the agent id.
    #[serde(default)]
    pub phonenum: PhoneTemplate,
    /// Where the agents' password comes from: `{ env = "VAR" }` or `{ file = "path" }`.
    /// Never the password itself. Omitted: an empty password.
    #[serde(default)]
    pub password: Option<Secret>,
    #[serde(default)]
    pub status: AgentStatus,
    /// `agenttype` sent at sign-in: 4 (PC+phone) or 11 (PC+phone video).
    #[serde(default = "default_agenttype")]
    pub agenttype: u8,
}

fn default_agenttype() -> u8 {
    4
}

/// What to do when sign-in answers `100-002` (agent already signed in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum AlreadySignedIn {
    #[default]
    Forcelogin,
    Fail,
}

/// How an agent ends its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SignoutMode {
    #[default]
    Logout,
    Forcelogout,
    /// Walk away without signing out (the gateway's inactivity timeout ends the session).
    Abandon,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSpec {
    /// How long an agent stays signed in after it is ready (uniform between min and max).
    #[serde(default = "default_hold")]
    pub hold: DurationRange,
    /// Pause between a poll reply and the next poll (uniform between min and max).
    #[serde(default = "default_poll_gap")]
    pub poll_gap: DurationRange,
    #[serde(default)]
    pub on_already_signed_in: AlreadySignedIn,
    #[serde(default)]
    pub signout: SignoutMode,
    /// Longest wait from sign-in to `AgentState_Ready` before the agent counts as never
    /// ready and signs out.
    #[serde(default = "default_ready_timeout")]
    pub ready_timeout: HumanDuration,
}

impl Default for SessionSpec {
    fn default() -> Self {
        SessionSpec {
            hold: default_hold(),
            poll_gap: default_poll_gap(),
            on_already_signed_in: AlreadySignedIn::default(),
            signout: SignoutMode::default(),
            ready_timeout: default_ready_timeout(),
        }
    }
}

fn default_hold() -> DurationRange {
    DurationRange::between(HumanDuration::from_secs(480), HumanDuration::from_secs(720))
}
fn default_poll_gap() -> DurationRange {
    DurationRange::between(
        HumanDuration::from_millis(200),
        HumanDuration::from_millis(500),
    )
}
fn default_ready_timeout() -> HumanDuration {
    HumanDuration::from_secs(120)
}

/// Load model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum LoadModel {
    /// Sign-in arrivals per second follow the stages.
    #[default]
    Open,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadSpec {
    #[serde(default)]
    pub model: LoadModel,
    /// Stages in order; the rate starts at 0 (or at the first stage's `rate`).
    pub stages: Vec<Stage>,
    /// Most agents alive at once; an arrival beyond it waits (and starts late).
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: u32,
}

fn default_max_in_flight() -> u32 {
    20_000
}

/// One stage of the arrival-rate plan: exactly one of `ramp` (linear change of the rate to
/// `to` over the duration) or `hold` (keep the rate, or jump to `rate` first, for the
/// duration). Rates are sign-in arrivals per second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ramp: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
}
