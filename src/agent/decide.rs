//! What a reply means for an agent's session, as pure functions tested without clock or
//! socket: a sign-in (signed in, force it, give up), a poll or pushed event (an event, none,
//! the session ended, a failure), a sign-out (clean, ended by the gateway, left signed in).

use crate::client::{Failure, GatewayReply};
use crate::protocol::{event, retcode};
use crate::scenario::AlreadySignedIn;

/// How a session ended, for the id lease (an id whose session may live on at the gateway
/// is not handed to another agent at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentEnd {
    NeverSignedIn,
    SignedOut,
    /// The gateway ended the session (forced, timed out, replaced).
    Unexpected,
    /// Still signed in at the gateway as far as the harness knows.
    LeftSignedIn,
}

/// What a sign-in reply means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigninVerdict {
    SignedIn {
        guid: Option<String>,
    },
    /// An "already signed in" retcode (`on_already_signed_in_codes`) and the policy is to
    /// force the sign-in.
    TryForcelogin,
    /// HTTP 429 or 503: the gateway or its load balancer asks the agent to come back later.
    Throttled,
    GiveUp,
}

/// What a sign-in (`was_forced`: a forced sign-in) reply means under the policy for
/// "already signed in" and the retcodes that mean it.
pub fn judge_signin(
    result: &Result<GatewayReply, Failure>,
    policy: AlreadySignedIn,
    already_codes: &[String],
    was_forced: bool,
) -> SigninVerdict {
    match result {
        Ok(r) if r.retcode.is_success() => SigninVerdict::SignedIn {
            guid: r.guid.clone(),
        },
        Ok(r)
            if policy == AlreadySignedIn::Forcelogin
                && !was_forced
                && already_codes.iter().any(|c| c == r.retcode.as_str()) =>
        {
            SigninVerdict::TryForcelogin
        }
        Err(Failure::Http(429 | 503)) => SigninVerdict::Throttled,
        _ => SigninVerdict::GiveUp,
    }
}

/// What a poll reply (or a pushed event) means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollVerdict {
    /// An event other than the session's end.
    Event { event_type: event::Name },
    /// The wait ended with no event.
    Empty,
    /// The gateway ended the session (`AgentOther_ShutdownService`, or the GUID/agent is
    /// no longer known: `100-006`, `000-003`).
    SessionEnded { event_type: Option<event::Name> },
    /// Any other failure: counted, and the agent polls again.
    Failed,
}

/// Takes the reply: its event type moves into the verdict.
pub fn judge_poll(result: Result<GatewayReply, Failure>) -> PollVerdict {
    match result {
        Ok(r) if r.retcode.is_success() => judge_event(r.event_type),
        Ok(r) if session_gone(&r) => PollVerdict::SessionEnded { event_type: None },
        _ => PollVerdict::Failed,
    }
}

/// What an event (polled or pushed) means; None is "no event".
pub fn judge_event(event_type: Option<event::Name>) -> PollVerdict {
    match event_type {
        Some(t) if t == event::SHUTDOWN_SERVICE => PollVerdict::SessionEnded {
            event_type: Some(t),
        },
        Some(t) => PollVerdict::Event { event_type: t },
        None => PollVerdict::Empty,
    }
}

/// Whether a reply says the gateway no longer holds this session.
pub(super) fn session_gone(r: &GatewayReply) -> bool {
    matches!(
        r.retcode.as_str(),
        retcode::NOT_SIGNED_IN | retcode::NO_PERMISSION
    )
}

/// What a sign-out reply means.
pub fn judge_signout(result: &Result<GatewayReply, Failure>) -> AgentEnd {
    match result {
        Ok(r) if r.retcode.is_success() => AgentEnd::SignedOut,
        Ok(r) if session_gone(r) => AgentEnd::Unexpected,
        _ => AgentEnd::LeftSignedIn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{Retcode, TransportKind};

    fn reply(code: &str, event: Option<&str>) -> Result<GatewayReply, Failure> {
        Ok(GatewayReply {
            retcode: Retcode::new(code),
            guid: Some("g".into()),
            event_type: event.map(event::name),
            event_gen_ms: None,
        })
    }

    #[test]
    fn signin_decisions() {
        use AlreadySignedIn::*;
        let documented = [retcode::ALREADY_SIGNED_IN.to_string()];
        let both = ["100-002".to_string(), "100-003".to_string()];
        let judge = |code: &str, policy, codes: &[String], forced| {
            judge_signin(&reply(code, None), policy, codes, forced)
        };
        assert_eq!(
            judge("0", Fail, &documented, false),
            SigninVerdict::SignedIn {
                guid: Some("g".into())
            }
        );
        assert_eq!(
            judge("100-002", Forcelogin, &documented, false),
            SigninVerdict::TryForcelogin
        );
        // a forced sign-in that again says "already signed in" gives up (no loop)
        assert_eq!(
            judge("100-002", Forcelogin, &documented, true),
            SigninVerdict::GiveUp
        );
        assert_eq!(
            judge("100-002", Fail, &documented, false),
            SigninVerdict::GiveUp
        );
        // 100-003 forces only when the scenario lists it.
        assert_eq!(
            judge("100-003", Forcelogin, &documented, false),
            SigninVerdict::GiveUp
        );
        assert_eq!(
            judge("100-003", Forcelogin, &both, false),
            SigninVerdict::TryForcelogin
        );
        assert_eq!(judge("100-003", Fail, &both, false), SigninVerdict::GiveUp);
        assert_eq!(
            judge("100-002", Forcelogin, &[], false),
            SigninVerdict::GiveUp
        );
        // Throttling is its own verdict; other HTTP statuses give up.
        for status in [429, 503] {
            assert_eq!(
                judge_signin(&Err(Failure::Http(status)), Forcelogin, &documented, false),
                SigninVerdict::Throttled
            );
        }
        assert_eq!(
            judge_signin(&Err(Failure::Http(500)), Forcelogin, &documented, false),
            SigninVerdict::GiveUp
        );
    }

    #[test]
    fn poll_decisions() {
        assert_eq!(
            judge_poll(reply("0", Some(event::READY))),
            PollVerdict::Event {
                event_type: event::READY.into()
            }
        );
        assert_eq!(judge_poll(reply("0", None)), PollVerdict::Empty);
        assert_eq!(
            judge_poll(reply("0", Some(event::SHUTDOWN_SERVICE))),
            PollVerdict::SessionEnded {
                event_type: Some(event::SHUTDOWN_SERVICE.into())
            }
        );
        assert_eq!(
            judge_poll(reply("100-006", None)),
            PollVerdict::SessionEnded { event_type: None }
        );
        assert_eq!(
            judge_poll(reply("000-003", None)),
            PollVerdict::SessionEnded { event_type: None }
        );
        assert_eq!(judge_poll(reply("100-007", None)), PollVerdict::Failed);
        assert_eq!(
            judge_poll(Err(Failure::Transport(TransportKind::Reset))),
            PollVerdict::Failed
        );
    }

    #[test]
    fn signout_decisions() {
        assert_eq!(judge_signout(&reply("0", None)), AgentEnd::SignedOut);
        assert_eq!(judge_signout(&reply("100-006", None)), AgentEnd::Unexpected);
        assert_eq!(
            judge_signout(&reply("100-007", None)),
            AgentEnd::LeftSignedIn
        );
        assert_eq!(
            judge_signout(&Err(Failure::Transport(TransportKind::Timeout))),
            AgentEnd::LeftSignedIn
        );
    }
}
