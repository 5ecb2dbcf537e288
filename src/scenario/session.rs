//! The `[session]` table's serde model: what one agent does between its sign-in and its
//! sign-out (hold, poll gaps, the already-signed-in and unexpected-sign-out policies,
//! skill queues, push mode), with the defaults docs/scenarios.md lists.

use serde::{Deserialize, Serialize};

use super::values::{DurationRange, Secret};
use crate::util::duration::HumanDuration;

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
    /// The sign-in retcodes that mean "already signed in" for that policy: `100-002` as
    /// the documents say, and `100-003` too for gateways that answer so (as some real
    /// clients assume).
    #[serde(default = "default_already_codes")]
    pub on_already_signed_in_codes: Vec<String>,
    /// Backoff of sign-in retries and of signing in again after a lost session.
    #[serde(default)]
    pub retry: RetrySpec,
    #[serde(default)]
    pub signout: SignoutMode,
    /// Longest wait from sign-in to `AgentState_Ready` before the agent counts as never
    /// ready and signs out.
    #[serde(default = "default_ready_timeout")]
    pub ready_timeout: HumanDuration,
    /// What an agent does when the gateway ends its session (shutdown event, `100-006`):
    /// `end` its session, or `signin-again` (a failover drill: everyone comes back).
    #[serde(default)]
    pub on_unexpected_signout: OnUnexpectedSignout,
    /// Closed model: pause between one session's end and the same agent's next sign-in.
    #[serde(default = "default_pause")]
    pub pause: DurationRange,
    /// Sign in to skill queues right after sign-in (`resetskill`), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resetskill: Option<ResetSkillSpec>,
    /// Push mode instead of polling, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<PushSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum OnUnexpectedSignout {
    #[default]
    End,
    SigninAgain,
}

/// `POST …/onlineagent/{agentid}/resetskill/{autoflag}?skillid=…&phonelinkage=…`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetSkillSpec {
    /// Sign in to the agent's configured skills automatically.
    #[serde(default = "default_true")]
    pub autoflag: bool,
    /// Skill ids, `;`-separated as the gateway expects (empty with autoflag).
    #[serde(default)]
    pub skillid: String,
    #[serde(default)]
    pub phonelinkage: bool,
}

fn default_true() -> bool {
    true
}

/// Push mode: agents sign in with `callBackUri` and `serviceToken`, the harness receives
/// their events on its own HTTP listener and keeps each session alive with heartbeats.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushSpec {
    /// Where the harness listens for the gateway's event POSTs.
    #[serde(default = "default_push_listen")]
    pub listen: std::net::SocketAddr,
    /// The callback URL the gateway is told, when it must differ from
    /// `http://<listen>/agentstorm/callback` (NAT, a proxy, another host name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// Heartbeat (`handshake`) period.
    #[serde(default = "default_heartbeat")]
    pub heartbeat: HumanDuration,
    /// Where the `serviceToken` comes from (never the token itself). Omitted: a token is
    /// generated per run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_token: Option<Secret>,
}

fn default_push_listen() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 0))
}
fn default_heartbeat() -> HumanDuration {
    HumanDuration::from_secs(30)
}
fn default_pause() -> DurationRange {
    DurationRange::between(HumanDuration::from_secs(1), HumanDuration::from_secs(5))
}

impl Default for SessionSpec {
    fn default() -> Self {
        SessionSpec {
            hold: default_hold(),
            poll_gap: default_poll_gap(),
            on_already_signed_in: AlreadySignedIn::default(),
            on_already_signed_in_codes: default_already_codes(),
            retry: RetrySpec::default(),
            signout: SignoutMode::default(),
            ready_timeout: default_ready_timeout(),
            on_unexpected_signout: OnUnexpectedSignout::default(),
            pause: default_pause(),
            resetskill: None,
            push: None,
        }
    }
}

fn default_already_codes() -> Vec<String> {
    vec![crate::protocol::retcode::ALREADY_SIGNED_IN.to_string()]
}

/// `[session] retry = { initial = "500ms", max = "30s", give_up_after = "2m" }`: an agent
/// retries a throttled sign-in (HTTP 429 or 503), and any failed sign-in while coming back
/// from a lost session, after an exponential backoff with jitter — the n-th retry waits
/// between half and all of `min(max, initial × 2ⁿ)`, and never less than the gateway's
/// `Retry-After` — and gives up once `give_up_after` has passed since its first failed try.
/// Signing in again after the gateway ended a session that never reached ready waits the
/// same way, so a gateway that ends every session is not met with a tight loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    #[serde(default = "default_retry_initial")]
    pub initial: HumanDuration,
    #[serde(default = "default_retry_max")]
    pub max: HumanDuration,
    #[serde(default = "default_give_up_after")]
    pub give_up_after: HumanDuration,
}

impl Default for RetrySpec {
    fn default() -> Self {
        RetrySpec {
            initial: default_retry_initial(),
            max: default_retry_max(),
            give_up_after: default_give_up_after(),
        }
    }
}

fn default_retry_initial() -> HumanDuration {
    HumanDuration::from_millis(500)
}
fn default_retry_max() -> HumanDuration {
    HumanDuration::from_secs(30)
}
fn default_give_up_after() -> HumanDuration {
    HumanDuration::from_secs(120)
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
