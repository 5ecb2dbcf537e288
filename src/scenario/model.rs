//! The scenario file's serde model (docs/scenarios.md): what a user may write, with defaults.
//!
//! Field names and types here are the contract with the rest of the harness (plan,
//! scheduler, agent). Validation that needs the source text (positions, nearest key) lives
//! in `load`; value types with their own syntax (durations, id ranges, templates, secrets)
//! live in `values`; the `[session]` table (what one agent does) lives in `session`.

use super::read_buffer::ReadBuffer;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::session::SessionSpec;
use super::source_addresses::SourceAddresses;
use super::values::{IdRanges, PhoneTemplate, Secret};
use crate::sim::GatewayConfig;
use crate::util::duration::HumanDuration;

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
    /// How the run stops (at the end of the plan, or on Ctrl-C / SIGTERM).
    #[serde(default)]
    pub stop: StopSpec,
    /// Time-series resolution.
    #[serde(default)]
    pub report: ReportSpec,
    /// The capacity search (`load.model = "capacity-search"`).
    #[serde(default)]
    pub capacity: Option<CapacitySpec>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StopSpec {
    /// Sign-outs per second while stopping: every agent still signed in at the end of the
    /// plan (or on Ctrl-C) signs out, at most this fast, polling until its turn.
    #[serde(default = "default_signout_rate")]
    pub signout_rate: u32,
}

impl Default for StopSpec {
    fn default() -> Self {
        StopSpec {
            signout_rate: default_signout_rate(),
        }
    }
}

/// Default sign-outs per second during the stop phase.
pub const DEFAULT_SIGNOUT_RATE: u32 = 200;

fn default_signout_rate() -> u32 {
    DEFAULT_SIGNOUT_RATE
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSpec {
    /// Length of one interval of the time series (and of `latency.hlog` lines).
    #[serde(default = "default_interval")]
    pub interval: HumanDuration,
}

impl Default for ReportSpec {
    fn default() -> Self {
        ReportSpec {
            interval: default_interval(),
        }
    }
}

fn default_interval() -> HumanDuration {
    HumanDuration::from_secs(10)
}

/// The capacity search: step the sign-in rate up, hold each step, judge it against the SLO,
/// bisect near the knee, report the highest sustainable rate.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacitySpec {
    /// First step's sign-in rate (per second).
    pub start_rate: f64,
    /// Rate added per step while every step passes.
    pub step: f64,
    /// How long each step holds its rate (judged over this time).
    #[serde(default = "default_step_hold")]
    pub step_hold: HumanDuration,
    /// Never step above this rate.
    pub max_rate: f64,
    /// Bisect between the last passing and first failing rate until they are this close
    /// (relative, e.g. 0.05 = 5 %).
    #[serde(default = "default_precision")]
    pub precision: f64,
    /// Pause between steps so sessions of one step end before the next is judged.
    #[serde(default = "default_settle")]
    pub settle: HumanDuration,
    /// The SLO a step must meet.
    pub slo: SloSpec,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloSpec {
    /// Highest allowed sign-in p99 (corrected), e.g. "800ms".
    pub signin_p99: HumanDuration,
    /// Highest allowed share of failed sign-ins, percent.
    #[serde(default = "default_slo_errors")]
    pub signin_error_pct: f64,
    /// Highest allowed share of arrivals that started late past `max_lateness` or were
    /// dropped, percent (the harness itself must keep up for a step to count).
    #[serde(default = "default_slo_late")]
    pub late_arrival_pct: f64,
}

fn default_step_hold() -> HumanDuration {
    HumanDuration::from_secs(30)
}
fn default_precision() -> f64 {
    0.05
}
fn default_settle() -> HumanDuration {
    HumanDuration::from_secs(5)
}
fn default_slo_errors() -> f64 {
    1.0
}
fn default_slo_late() -> f64 {
    1.0
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
    /// Local addresses connections are opened from, in turn (`["127.0.0.2-127.0.0.5"]`):
    /// one source/destination pair carries ~14,000 connections before `connect()` slows.
    /// Empty: the kernel picks the source.
    #[serde(default)]
    pub source_addresses: SourceAddresses,
    /// Each connection's read buffer: a fixed size in bytes (2048 by default), or hyper's
    /// adaptive one. A reply's header block longer than a fixed buffer is a protocol error.
    #[serde(default)]
    pub read_buffer_bytes: ReadBuffer,
    /// Whether the run reads the gateway's own counters at its end (agentstorm's simulated
    /// gateway serves them outside the agent interface) to reconcile them with its own.
    #[serde(default)]
    pub reconcile: Reconcile,
}

/// When a run asks the target for the simulated gateway's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reconcile {
    /// The embedded gateway, or a target whose replies name it agentstorm's simulated
    /// gateway; a foreign gateway is sent nothing but the agent interface.
    #[default]
    Auto,
    /// Always (a simulated gateway behind a proxy that drops its identifying header).
    Always,
    /// Never, not even the embedded gateway.
    Never,
}

impl Reconcile {
    /// Whether to read the counters, knowing whether the target is the embedded gateway
    /// and whether it named itself agentstorm's.
    pub fn wanted(self, embedded: bool, identified: bool) -> bool {
        match self {
            Reconcile::Auto => embedded || identified,
            Reconcile::Always => true,
            Reconcile::Never => false,
        }
    }
}

impl Default for TargetSpec {
    fn default() -> Self {
        TargetSpec {
            url: default_target_url(),
            ca_file: None,
            insecure_skip_verify: false,
            timeout: default_timeout(),
            connect_timeout: default_connect_timeout(),
            source_addresses: SourceAddresses::default(),
            read_buffer_bytes: ReadBuffer::default(),
            reconcile: Reconcile::Auto,
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
    /// With `status = "rest"`: the rest duration sent as `time` (1 s to 23 h 59 m 59 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rest_time: Option<HumanDuration>,
    /// With `status = "rest"`: the rest cause sent as `restcause` (0–255, 0 = none).
    #[serde(default)]
    pub rest_cause: u8,
}

fn default_agenttype() -> u8 {
    4
}

/// Load model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum LoadModel {
    /// Sign-in arrivals per second follow the stages.
    #[default]
    Open,
    /// A population of agents (the stages' numbers are agents, not rates) that sign in,
    /// hold, sign out, pause and repeat.
    Closed,
    /// Steps the sign-in rate up until the SLO in `[capacity]` breaks (stages unused).
    CapacitySearch,
}

/// How arrivals are spaced within the planned rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Spacing {
    /// Evenly: arrival n at the time the planned count reaches n.
    #[default]
    Constant,
    /// A Poisson process with the planned rate (exponential gaps), seeded.
    Poisson,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadSpec {
    #[serde(default)]
    pub model: LoadModel,
    /// Stages in order; the rate starts at 0 (or at the first stage's `rate`). Not used by
    /// the capacity search.
    #[serde(default)]
    pub stages: Vec<Stage>,
    /// Most agents alive at once; an arrival beyond it waits (and starts late).
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: u32,
    #[serde(default)]
    pub spacing: Spacing,
    /// Seed of the Poisson spacing and of every random draw (hold, gaps); omitted: random.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// An arrival that cannot start within this much of its intended time is dropped and
    /// counted instead of starting late. Omitted: arrivals always start, however late.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lateness: Option<HumanDuration>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_read_from_the_simulator_or_when_asked_only() {
        use Reconcile::*;
        // (setting, embedded, identified) → asked
        let cases = [
            (Auto, false, false, false),
            (Auto, true, false, true),
            (Auto, false, true, true),
            (Always, false, false, true),
            (Never, true, true, false),
        ];
        for (r, embedded, identified, asked) in cases {
            assert_eq!(
                r.wanted(embedded, identified),
                asked,
                "{r:?} {embedded} {identified}"
            );
        }
        let t: TargetSpec = toml::from_str("reconcile = \"always\"").expect("parses");
        assert_eq!(t.reconcile, Always);
        assert_eq!(TargetSpec::default().reconcile, Auto);
        let e = toml::from_str::<TargetSpec>("reconcile = \"yes\"").expect_err("not a mode");
        assert!(e.to_string().contains("auto"), "{e}");
    }
}
