//! The simulated gateway's behaviour model as configuration: the `[gateway]` table of a
//! scenario, or the top level of `agentstorm gateway --config FILE`.
//!
//! This file owns the serde shape, the defaults and `validate` (cross-field rules serde
//! cannot express). It holds no runtime state and knows nothing of HTTP. Every key is
//! documented in docs/gateway.md; keep the two in step.

use serde::{Deserialize, Serialize};

pub use super::cluster::model::{FailMode, FailNode, Stickiness};
pub use super::model::{Account, Dist, Fault, FaultKind, ForcedSignouts, IdSet, ServiceTimes};
use crate::protocol::{AGENT_ID_MAX, AGENT_ID_MIN};
use crate::util::duration::HumanDuration;

/// How GUIDs behave after sign-in (decisions D9/D10, docs/gateway.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// AUTHMODE 1: one GUID for the whole session.
    Static,
    /// AUTHMODE 2 (the documents' default): a new GUID every `guid_interval`.
    #[default]
    Dynamic,
}

/// Which of the documents' reply shapes the gateway speaks (D18). The client must read all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// The newest API pages: `eventGenTime` a JSON number, `message`, sign-out `result: {}`.
    #[default]
    Newest,
    /// The developer guide: `msg` instead of `message`, sign-out `result: null`.
    Devguide,
    /// Older API pages: events without `eventGenTime`.
    Older,
}

/// The behaviour model. Every field has a serde default, so an empty table is a valid
/// configuration that behaves like the documents' defaults.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// How long a poll is held when the agent has no event (D1).
    #[serde(default = "default_poll_wait")]
    pub poll_wait: HumanDuration,
    /// No poll (push mode: heartbeat) for this long signs the agent out (D11).
    #[serde(default = "default_inactivity_timeout")]
    pub inactivity_timeout: HumanDuration,
    /// `static` or `dynamic` GUIDs (D9, D10).
    #[serde(default)]
    pub auth_mode: AuthMode,
    /// Reply shape: `newest` (default), `devguide` or `older` (D18).
    #[serde(default)]
    pub dialect: Dialect,
    /// Dynamic mode: a new GUID is issued this often (D10).
    #[serde(default = "default_guid_interval")]
    pub guid_interval: HumanDuration,
    /// Dynamic mode: how long the previous GUID keeps working after the new one was
    /// delivered (D10).
    #[serde(default = "default_guid_grace")]
    pub guid_grace: HumanDuration,
    /// Most agents signed in at once; a sign-in beyond it gets `100-003` with detailCode
    /// `max-agents` (D14). None: no limit.
    #[serde(default)]
    pub max_agents: Option<u64>,
    /// Lowest agent id accepted in a path (D6).
    #[serde(default = "default_agent_id_min")]
    pub agent_id_min: u32,
    /// Highest agent id accepted in a path (D6); 59999 reproduces the older documents.
    #[serde(default = "default_agent_id_max")]
    pub agent_id_max: u32,
    /// Node name after the dot in every GUID (`<uuid>.AgentGateway0`, D9).
    #[serde(default = "default_node_name")]
    pub node_name: String,
    /// Sign-ins (login, forcelogin, loginex) processed per second; the excess waits in a
    /// queue, so latency grows (D14). None: no limit.
    #[serde(default)]
    pub signin_capacity_per_s: Option<f64>,
    /// Most sign-ins waiting for capacity; one more is answered `100-007` (D14).
    #[serde(default = "default_signin_queue")]
    pub signin_queue: u32,
    /// Service time per operation, added before the answer.
    #[serde(default)]
    pub service_time: ServiceTimes,
    /// Agents with passwords (D7). Agents not listed accept any password.
    #[serde(default)]
    pub accounts: Vec<Account>,
    /// Consecutive wrong passwords that lock an account (`110-016`, D7); 0 never locks.
    #[serde(default = "default_lockout_after")]
    pub lockout_after: u32,
    /// How long a lock lasts. None: until the gateway restarts.
    #[serde(default)]
    pub lockout_for: Option<HumanDuration>,
    /// Injected faults, first match wins.
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// Random agents forced out (D12) at a rate, optionally in a time window.
    #[serde(default)]
    pub forced_signouts: Vec<ForcedSignouts>,
    /// Failover cue this long after the gateway starts: every session is forced out.
    #[serde(default)]
    pub failover_at: Option<HumanDuration>,
    /// Extra CA (PEM) trusted for HTTPS push callbacks; without it the system roots are.
    #[serde(default)]
    pub push_ca_file: Option<std::path::PathBuf>,
    /// Timeout of one push callback request.
    #[serde(default = "default_push_timeout")]
    pub push_timeout: HumanDuration,
    /// Wait before a failed push batch is sent again.
    #[serde(default = "default_push_retry")]
    pub push_retry: HumanDuration,
    /// Cluster mode (D19): this many nodes behind the one listener, each with its own
    /// sessions, GUIDs and counters. 1: a single gateway.
    #[serde(default = "default_nodes")]
    pub nodes: u32,
    /// How the front keeps an agent on its node: `cookie` (default), `guid` or `none`.
    #[serde(default)]
    pub stickiness: Stickiness,
    /// Name of the front's sticky cookie (`stickiness = "cookie"`).
    #[serde(default = "default_sticky_cookie")]
    pub sticky_cookie: String,
    /// Node failures: `{ node, at, for, mode }`, one or a list (D19).
    #[serde(default, deserialize_with = "super::cluster::model::one_or_many")]
    pub fail_node: Vec<FailNode>,
    /// Sign-ins (login, forcelogin, loginex) accepted per second by the whole gateway;
    /// beyond, HTTP 429 with `Retry-After` (D20). None: no limit.
    #[serde(default)]
    pub signin_rate_limit: Option<f64>,
    /// Sign-ins the rate limit lets through at once. None: one second's worth.
    #[serde(default)]
    pub signin_burst: Option<u32>,
}

fn default_poll_wait() -> HumanDuration {
    HumanDuration::from_secs(10)
}
fn default_inactivity_timeout() -> HumanDuration {
    HumanDuration::from_secs(120)
}
fn default_guid_interval() -> HumanDuration {
    HumanDuration::from_secs(60)
}
fn default_guid_grace() -> HumanDuration {
    HumanDuration::from_secs(60)
}
fn default_agent_id_min() -> u32 {
    AGENT_ID_MIN
}
fn default_agent_id_max() -> u32 {
    AGENT_ID_MAX
}
fn default_node_name() -> String {
    "AgentGateway0".to_string()
}
fn default_signin_queue() -> u32 {
    1000
}
fn default_lockout_after() -> u32 {
    5
}
fn default_push_timeout() -> HumanDuration {
    HumanDuration::from_secs(5)
}
fn default_push_retry() -> HumanDuration {
    HumanDuration::from_secs(1)
}
fn default_nodes() -> u32 {
    1
}
fn default_sticky_cookie() -> String {
    "AGWNODE".to_string()
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            poll_wait: default_poll_wait(),
            inactivity_timeout: default_inactivity_timeout(),
            auth_mode: AuthMode::default(),
            dialect: Dialect::default(),
            guid_interval: default_guid_interval(),
            guid_grace: default_guid_grace(),
            max_agents: None,
            agent_id_min: default_agent_id_min(),
            agent_id_max: default_agent_id_max(),
            node_name: default_node_name(),
            signin_capacity_per_s: None,
            signin_queue: default_signin_queue(),
            service_time: ServiceTimes::default(),
            accounts: Vec::new(),
            lockout_after: default_lockout_after(),
            lockout_for: None,
            faults: Vec::new(),
            forced_signouts: Vec::new(),
            failover_at: None,
            push_ca_file: None,
            push_timeout: default_push_timeout(),
            push_retry: default_push_retry(),
            nodes: default_nodes(),
            stickiness: Stickiness::default(),
            sticky_cookie: default_sticky_cookie(),
            fail_node: Vec::new(),
            signin_rate_limit: None,
            signin_burst: None,
        }
    }
}

/// Every top-level key, for suggestions on a typo.
pub const KEYS: &[&str] = &[
    "poll_wait",
    "inactivity_timeout",
    "auth_mode",
    "dialect",
    "guid_interval",
    "guid_grace",
    "max_agents",
    "agent_id_min",
    "agent_id_max",
    "node_name",
    "signin_capacity_per_s",
    "signin_queue",
    "service_time",
    "accounts",
    "lockout_after",
    "lockout_for",
    "faults",
    "forced_signouts",
    "failover_at",
    "push_ca_file",
    "push_timeout",
    "push_retry",
    "nodes",
    "stickiness",
    "sticky_cookie",
    "fail_node",
    "signin_rate_limit",
    "signin_burst",
];

/// One problem `validate` found: the key and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: &'static str,
    pub message: String,
}

impl GatewayConfig {
    /// Rules that span keys or values serde cannot check. Returns every problem found.
    pub fn validate(&self) -> Result<(), Vec<Problem>> {
        let mut problems = Vec::new();
        let mut bad = |key: &'static str, message: String| problems.push(Problem { key, message });
        if self.agent_id_min > self.agent_id_max {
            bad(
                "agent_id_min",
                format!(
                    "{} is above agent_id_max ({})",
                    self.agent_id_min, self.agent_id_max
                ),
            );
        }
        if self.inactivity_timeout.get().is_zero() {
            bad("inactivity_timeout", "must be above zero".to_string());
        }
        if self.auth_mode == AuthMode::Dynamic && self.guid_interval.get().is_zero() {
            bad(
                "guid_interval",
                "must be above zero in dynamic auth_mode".to_string(),
            );
        }
        if self.node_name.is_empty()
            || !self
                .node_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            bad(
                "node_name",
                format!("{:?} must be letters, digits, '-' or '_'", self.node_name),
            );
        }
        if let Some(rate) = self.signin_capacity_per_s {
            if !(rate.is_finite() && rate > 0.0) {
                bad(
                    "signin_capacity_per_s",
                    format!("{rate} must be a number above zero"),
                );
            }
        }
        for (i, a) in self.accounts.iter().enumerate() {
            if let Err(m) = a.check() {
                bad("accounts", format!("entry {}: {m}", i + 1));
            }
        }
        for (i, f) in self.faults.iter().enumerate() {
            if let Err(m) = f.check() {
                bad("faults", format!("entry {}: {m}", i + 1));
            }
        }
        for (i, f) in self.forced_signouts.iter().enumerate() {
            if !(f.per_s.is_finite() && f.per_s > 0.0) {
                bad(
                    "forced_signouts",
                    format!("entry {}: per_s must be above zero", i + 1),
                );
            }
        }
        super::cluster::model::check(self, &mut bad);
        if let Some(path) = &self.push_ca_file {
            if !path.is_file() {
                bad(
                    "push_ca_file",
                    format!("{} is not a readable file", path.display()),
                );
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The full example in docs/gateway.md parses, and validates but for its unset
    /// environment variable.
    #[test]
    fn documented_example_parses() {
        let doc = include_str!("../../docs/gateway.md");
        let start = doc.find("### Full example").expect("section");
        let block = &doc[start..];
        let body = block
            .split("```toml\n")
            .nth(1)
            .and_then(|b| b.split("```").next())
            .expect("toml block");
        let c: GatewayConfig = toml::from_str(body).expect("documented example parses");
        assert_eq!(c.faults.len(), 5);
        assert_eq!(c.signin_capacity_per_s, Some(200.0));
        let problems = c.validate().expect_err("env var unset in tests");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].key, "accounts");
        // Every documented key is in the table of keys, and every key is documented.
        for key in KEYS {
            assert!(doc.contains(&format!("| `{key}")), "{key} documented");
        }
    }

    #[test]
    fn defaults_round_trip_and_unknown_keys_fail() {
        let text = toml::to_string(&GatewayConfig::default()).expect("serialises");
        let back: GatewayConfig = toml::from_str(&text).expect("parses back");
        assert_eq!(back.poll_wait, GatewayConfig::default().poll_wait);
        assert!(back.validate().is_ok());
        let empty: GatewayConfig = toml::from_str("").expect("empty table is valid");
        assert_eq!(empty.inactivity_timeout.get().as_secs(), 120);
        assert_eq!(empty.auth_mode, AuthMode::Dynamic);
        assert_eq!(empty.dialect, Dialect::Newest);
        for (text, want) in [
            ("newest", Dialect::Newest),
            ("devguide", Dialect::Devguide),
            ("older", Dialect::Older),
        ] {
            let c: GatewayConfig = toml::from_str(&format!("dialect = \"{text}\"")).expect(text);
            assert_eq!(c.dialect, want);
        }
        let err = toml::from_str::<GatewayConfig>("dialect = \"bogus\"").expect_err("bogus");
        let text = err.to_string();
        for valid in ["bogus", "newest", "devguide", "older"] {
            assert!(text.contains(valid), "{text}");
        }
        assert!(toml::from_str::<GatewayConfig>("poll_wiat = \"1s\"").is_err());
        assert!(
            toml::from_str::<GatewayConfig>("faults = [{ kind = \"reset\", oops = 1 }]").is_err()
        );
    }
}
