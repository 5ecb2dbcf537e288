//! One simulated agent's session: sign in (forced sign-in on `100-002` if the policy says
//! so), long-poll events until `AgentState_Ready`, hold while polling, sign out — emitting
//! exactly one Sample per operation and the session's outcome (design.md §3).
//!
//! The decisions (what a reply means for the session) are pure functions, tested without
//! clock or socket; `run` only sequences them over an [`AgentConn`] on the tokio clock.
//! An agent never aborts a call it started: on stop it finishes the call in flight (bounded
//! by the request timeout), then signs out.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::Method;
use rand::SeedableRng;
use tokio_util::sync::CancellationToken;

use crate::client::{AgentConn, Exchange, Failure, GatewayReply, Target};
use crate::metrics::recorder::Recorder;
use crate::metrics::sample::micros;
use crate::metrics::{Operation, Outcome, PollResult, Sample};
use crate::protocol::{self, event, retcode};
use crate::scenario::values::PhoneTemplate;
use crate::scenario::{AgentStatus, AlreadySignedIn, SessionSpec, SignoutMode};

/// What every agent of a run shares.
pub struct AgentContext {
    pub target: Arc<Target>,
    pub recorder: Recorder,
    pub session: SessionSpec,
    /// Never logged or reported.
    pub password: String,
    pub phonenum: PhoneTemplate,
    pub status: AgentStatus,
    pub agenttype: u8,
    /// Cancelled to end sessions early (graceful stop): agents stop polling and sign out.
    pub stop: CancellationToken,
}

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
    /// `100-002` and the policy is to force the sign-in.
    TryForcelogin,
    GiveUp,
}

pub fn judge_signin(
    result: &Result<GatewayReply, Failure>,
    policy: AlreadySignedIn,
    was_forced: bool,
) -> SigninVerdict {
    match result {
        Ok(r) if r.retcode.is_success() => SigninVerdict::SignedIn {
            guid: r.guid.clone(),
        },
        Ok(r)
            if r.retcode.as_str() == retcode::ALREADY_SIGNED_IN
                && policy == AlreadySignedIn::Forcelogin
                && !was_forced =>
        {
            SigninVerdict::TryForcelogin
        }
        _ => SigninVerdict::GiveUp,
    }
}

/// What a poll reply means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollVerdict {
    /// An event other than the session's end.
    Event { event_type: String },
    /// The wait ended with no event.
    Empty,
    /// The gateway ended the session (`AgentOther_ShutdownService`, or the GUID/agent is
    /// no longer known: `100-006`, `000-003`).
    SessionEnded { event_type: Option<String> },
    /// Any other failure: counted, and the agent polls again.
    Failed,
}

pub fn judge_poll(result: &Result<GatewayReply, Failure>) -> PollVerdict {
    match result {
        Ok(r) if r.retcode.is_success() => match &r.event_type {
            Some(t) if t == event::SHUTDOWN_SERVICE => PollVerdict::SessionEnded {
                event_type: Some(t.clone()),
            },
            Some(t) => PollVerdict::Event {
                event_type: t.clone(),
            },
            None => PollVerdict::Empty,
        },
        Ok(r) if session_gone(r) => PollVerdict::SessionEnded { event_type: None },
        _ => PollVerdict::Failed,
    }
}

/// Whether a reply says the gateway no longer holds this session.
fn session_gone(r: &GatewayReply) -> bool {
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

fn outcome_of(ex: &Exchange) -> Outcome {
    match &ex.result {
        Ok(r) => Outcome::Ok { retcode: r.retcode },
        Err(Failure::Http(status)) => Outcome::Http { status: *status },
        Err(Failure::Transport(kind)) => Outcome::Transport { kind: *kind },
    }
}

fn record(rec: &Recorder, op: Operation, intended_at: Instant, ex: &Exchange) {
    let outcome = outcome_of(ex);
    let poll = match (&ex.result, op) {
        (Ok(r), Operation::Poll) if r.retcode.is_success() => Some(if r.event_type.is_some() {
            PollResult::Event
        } else {
            PollResult::Empty
        }),
        _ => None,
    };
    rec.record(&Sample {
        operation: op,
        intended_at,
        // A call cannot start before it was due; if the clock says otherwise the schedule
        // was early, and latency is measured from the actual start.
        sent_at: ex.sent_at,
        done_at: ex.done_at,
        outcome,
        poll,
    });
}

/// Runs one agent's session from its intended arrival time to its end.
pub async fn run(ctx: &AgentContext, agent_id: u32, arrival: Instant) -> AgentEnd {
    let rec = &ctx.recorder;
    rec.session(|s| s.started += 1);
    let mut conn = AgentConn::new(ctx.target.clone());

    // Sign in.
    let phonenum = ctx.phonenum.render(agent_id);
    let body = protocol::SignInRequest {
        password: &ctx.password,
        phonenum: &phonenum,
        status: ctx.status.code(),
        agenttype: ctx.agenttype,
        releasephone: true,
        check_in_webm: false,
    };
    let body = match serde_json::to_vec(&body) {
        Ok(b) => Bytes::from(b),
        Err(_) => {
            rec.session(|s| s.signin_given_up += 1);
            return AgentEnd::NeverSignedIn;
        }
    };
    let mut intended = arrival;
    let mut forced = false;
    let guid = loop {
        let (op, path) = if forced {
            (Operation::Forcelogin, protocol::forcelogin_path(agent_id))
        } else {
            (Operation::Signin, protocol::signin_path(agent_id))
        };
        let ex = conn
            .call(Method::PUT, &path, Some(body.clone()), None)
            .await;
        record(rec, op, intended, &ex);
        match judge_signin(&ex.result, ctx.session.on_already_signed_in, forced) {
            SigninVerdict::SignedIn { guid } => {
                let took = micros(ex.done_at.saturating_duration_since(arrival));
                rec.session(|s| {
                    s.signed_in += 1;
                    s.time_to_signed_in.record_us(took);
                });
                break guid;
            }
            SigninVerdict::TryForcelogin => {
                forced = true;
                intended = ex.done_at;
            }
            SigninVerdict::GiveUp => {
                rec.session(|s| s.signin_given_up += 1);
                return AgentEnd::NeverSignedIn;
            }
        }
    };
    rec.signed_in_changed(1);
    let signed_in_at = Instant::now();
    let end = session(ctx, &mut conn, agent_id, arrival, guid).await;
    rec.signed_in_changed(-1);
    let length = micros(signed_in_at.elapsed());
    rec.session(|s| {
        s.session_length.record_us(length);
        match end {
            AgentEnd::SignedOut => s.signed_out_clean += 1,
            AgentEnd::Unexpected => s.signed_out_unexpected += 1,
            AgentEnd::LeftSignedIn => s.left_signed_in += 1,
            AgentEnd::NeverSignedIn => {}
        }
    });
    end
}

/// The signed-in part: poll until ready, hold, sign out.
async fn session(
    ctx: &AgentContext,
    conn: &mut AgentConn,
    agent_id: u32,
    arrival: Instant,
    mut guid: Option<String>,
) -> AgentEnd {
    let rec = &ctx.recorder;
    let poll_path = protocol::poll_path(agent_id);
    let ready_deadline = Instant::now() + ctx.session.ready_timeout.get();
    let mut hold_until: Option<Instant> = None;
    let mut next = Instant::now();
    // ThreadRng is not Send; a small seeded generator is, and lives with the task.
    let mut rng = rand::rngs::SmallRng::from_rng(&mut rand::rng());
    loop {
        match hold_until {
            Some(h) if next >= h => break,
            None if next >= ready_deadline => break,
            _ => {}
        }
        if ctx.stop.is_cancelled() {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(next.into()) => {}
            _ = ctx.stop.cancelled() => break,
        }
        let ex = conn
            .call(Method::GET, &poll_path, None, guid.as_deref())
            .await;
        record(rec, Operation::Poll, next, &ex);
        if let Ok(reply) = &ex.result {
            if let Some(g) = &reply.guid {
                // Dynamic authentication: adopt the rotated GUID for every later call.
                guid = Some(g.clone());
            }
        }
        match judge_poll(&ex.result) {
            PollVerdict::Event { event_type } => {
                rec.event(&event_type);
                if event_type == event::READY && hold_until.is_none() {
                    let took = micros(ex.done_at.saturating_duration_since(arrival));
                    rec.session(|s| {
                        s.ready += 1;
                        s.time_to_ready.record_us(took);
                    });
                    hold_until = Some(ex.done_at + ctx.session.hold.sample(&mut rng));
                }
                // More events may be queued: ask again without a pause.
                next = ex.done_at;
                continue;
            }
            PollVerdict::SessionEnded { event_type } => {
                if let Some(t) = event_type {
                    rec.event(&t);
                }
                if hold_until.is_none() {
                    rec.session(|s| s.never_ready += 1);
                }
                return AgentEnd::Unexpected;
            }
            PollVerdict::Empty | PollVerdict::Failed => {}
        }
        next = ex.done_at + ctx.session.poll_gap.sample(&mut rng);
    }
    if hold_until.is_none() {
        rec.session(|s| s.never_ready += 1);
    }
    let (op, path) = match ctx.session.signout {
        SignoutMode::Logout => (Operation::Logout, protocol::logout_path(agent_id)),
        SignoutMode::Forcelogout => (Operation::Forcelogout, protocol::forcelogout_path(agent_id)),
        SignoutMode::Abandon => return AgentEnd::LeftSignedIn,
    };
    let intended = Instant::now();
    let ex = conn
        .call(Method::DELETE, &path, None, guid.as_deref())
        .await;
    record(rec, op, intended, &ex);
    judge_signout(&ex.result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Retcode, TransportKind};

    fn reply(code: &str, event: Option<&str>) -> Result<GatewayReply, Failure> {
        Ok(GatewayReply {
            retcode: Retcode::new(code),
            guid: Some("g".into()),
            event_type: event.map(str::to_string),
            event_gen_ms: None,
        })
    }

    #[test]
    fn signin_decisions() {
        use AlreadySignedIn::*;
        assert_eq!(
            judge_signin(&reply("0", None), Fail, false),
            SigninVerdict::SignedIn {
                guid: Some("g".into())
            }
        );
        assert_eq!(
            judge_signin(&reply("100-002", None), Forcelogin, false),
            SigninVerdict::TryForcelogin
        );
        // a forced sign-in that again says "already signed in" gives up (no loop)
        assert_eq!(
            judge_signin(&reply("100-002", None), Forcelogin, true),
            SigninVerdict::GiveUp
        );
        assert_eq!(
            judge_signin(&reply("100-002", None), Fail, false),
            SigninVerdict::GiveUp
        );
        assert_eq!(
            judge_signin(&Err(Failure::Http(503)), Forcelogin, false),
            SigninVerdict::GiveUp
        );
    }

    #[test]
    fn poll_decisions() {
        assert_eq!(
            judge_poll(&reply("0", Some(event::READY))),
            PollVerdict::Event {
                event_type: event::READY.into()
            }
        );
        assert_eq!(judge_poll(&reply("0", None)), PollVerdict::Empty);
        assert_eq!(
            judge_poll(&reply("0", Some(event::SHUTDOWN_SERVICE))),
            PollVerdict::SessionEnded {
                event_type: Some(event::SHUTDOWN_SERVICE.into())
            }
        );
        assert_eq!(
            judge_poll(&reply("100-006", None)),
            PollVerdict::SessionEnded { event_type: None }
        );
        assert_eq!(
            judge_poll(&reply("000-003", None)),
            PollVerdict::SessionEnded { event_type: None }
        );
        assert_eq!(judge_poll(&reply("100-007", None)), PollVerdict::Failed);
        assert_eq!(
            judge_poll(&Err(Failure::Transport(TransportKind::Reset))),
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
