//! `Sample`: the one record that crosses from execution (agents, client) to analysis
//! (recorder, results, reports), as docs/architecture.md defines it, plus the small value types it
//! is made of (operation, outcome, transport error kind, retcode).
//!
//! Everything here is `Copy` and allocation-free, because one Sample is made per request on
//! the hot path. A retcode is kept inline (gateway codes are at most 7 characters); a longer
//! one from a misbehaving gateway is cut to [`Retcode::CAPACITY`] bytes and marked with `~`.

use std::fmt;
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// One kind of gateway call the harness makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Signin,
    Forcelogin,
    Poll,
    Logout,
    Forcelogout,
    Resetskill,
    Handshake,
}

impl Operation {
    pub const ALL: [Operation; 7] = [
        Operation::Signin,
        Operation::Forcelogin,
        Operation::Poll,
        Operation::Logout,
        Operation::Forcelogout,
        Operation::Resetskill,
        Operation::Handshake,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Operation::Signin => "signin",
            Operation::Forcelogin => "forcelogin",
            Operation::Poll => "poll",
            Operation::Logout => "logout",
            Operation::Forcelogout => "forcelogout",
            Operation::Resetskill => "resetskill",
            Operation::Handshake => "handshake",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// The gateway endpoint this operation calls, for reconciling against the simulator's
    /// per-endpoint counters.
    pub fn endpoint(self) -> crate::protocol::Endpoint {
        use crate::protocol::Endpoint;
        match self {
            Operation::Signin => Endpoint::Login,
            Operation::Forcelogin => Endpoint::ForceLogin,
            Operation::Poll => Endpoint::GetAgentEvent,
            Operation::Logout => Endpoint::Logout,
            Operation::Forcelogout => Endpoint::ForceLogout,
            Operation::Resetskill => Endpoint::ResetSkill,
            Operation::Handshake => Endpoint::HandShake,
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

pub use crate::outcome::{Retcode, TransportKind};

/// How one operation ended. Exactly one per started operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// HTTP 200 with the JSON envelope; `retcode` `"0"` is success, anything else a
    /// business failure kept by its code.
    Ok { retcode: Retcode },
    /// HTTP 200 with a retcode other than `"0"` that the scenario's policy handled: a
    /// sign-in answered `100-002` (already signed in) and then forced successfully. Counted
    /// by its retcode, not as a failure.
    Handled { retcode: Retcode },
    /// An HTTP status other than 200.
    Http { status: u16 },
    /// No readable reply.
    Transport { kind: TransportKind },
    /// Still in flight when a hard stop ended the run: it has no reply and no latency (the
    /// gateway may or may not have counted it).
    Interrupted,
    /// A long poll the agent gave up at the stop (Ctrl-C or the plan's end) so that it could
    /// sign out in its turn at `[stop] signout_rate` rather than after the gateway's hold:
    /// no reply, no latency, not a failure (the gateway may or may not have counted it).
    Abandoned,
}

impl Outcome {
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Ok { retcode } if retcode.is_success())
    }
}

/// What a successful poll brought back: an event (of a known kind), or nothing (the long
/// poll's wait ended empty). Kept apart because an empty poll's latency is the gateway's
/// hold time, not its speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollResult {
    Event,
    Empty,
}

/// One finished operation.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub operation: Operation,
    /// When the schedule said it should start: the arrival time for a sign-in, the end of
    /// the planned pause for later steps. Corrected latency is measured from here.
    pub intended_at: Instant,
    /// When the request was handed to the connection (after any connect).
    pub sent_at: Instant,
    pub done_at: Instant,
    pub outcome: Outcome,
    /// Set on successful polls only.
    pub poll: Option<PollResult>,
}

impl Sample {
    /// Latency from the intended start, in microseconds (coordinated-omission corrected).
    pub fn corrected_us(&self) -> u64 {
        micros(self.done_at.saturating_duration_since(self.intended_at))
    }

    /// Latency from the actual send, in microseconds (what the server alone took).
    pub fn raw_us(&self) -> u64 {
        micros(self.done_at.saturating_duration_since(self.sent_at))
    }
}

pub(crate) fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn retcode_inline_and_cut() {
        assert_eq!(Retcode::new("100-002").as_str(), "100-002");
        assert!(Retcode::new("0").is_success());
        assert!(!Retcode::new("00").is_success());
        let long = Retcode::new("this-is-a-very-long-code");
        assert_eq!(long.as_str().len(), Retcode::CAPACITY);
        assert!(long.as_str().ends_with('~'));
        // multi-byte characters are not split
        let wide = Retcode::new("ééééééééééé");
        assert!(wide.as_str().ends_with('~'));
    }

    #[test]
    fn corrected_includes_schedule_lag_raw_does_not() {
        let t0 = Instant::now();
        let s = Sample {
            operation: Operation::Signin,
            intended_at: t0,
            sent_at: t0 + Duration::from_millis(40),
            done_at: t0 + Duration::from_millis(50),
            outcome: Outcome::Ok {
                retcode: Retcode::SUCCESS,
            },
            poll: None,
        };
        assert_eq!(s.corrected_us(), 50_000);
        assert_eq!(s.raw_us(), 10_000);
        assert!(s.outcome.is_success());
    }
}
