//! Signing in: the sign-in body, forcing the sign-in on an "already signed in" retcode
//! when the policy says so, and retrying a throttled sign-in (and any failed one while
//! coming back from a lost session) after the scenario's backoff, never sooner than the
//! gateway's `Retry-After`, until the retry budget runs out.

use std::time::Instant;

use bytes::Bytes;
use http::Method;
use rand::rngs::SmallRng;
use rand::Rng;
use tokio_util::sync::CancellationToken;

use super::{backoff, judge_signin, AgentContext, Call, Life, SigninVerdict};
use crate::client::AgentConn;
use crate::metrics::sample::micros;
use crate::metrics::Operation;
use crate::protocol;

/// When a sign-in began, and whether it comes back from a lost session (since when).
#[derive(Debug, Clone, Copy)]
pub(super) struct Attempt {
    pub(super) arrival: Instant,
    pub(super) recovering_since: Option<Instant>,
}

/// Signs in (forcing it on an "already signed in" retcode when the policy says so;
/// retrying a throttled sign-in, and any failed one when coming back from a lost session,
/// after the scenario's backoff): the session's GUID (None when the gateway sends none and
/// the protocol does not need one), or None as the outer value when the agent gave up.
pub(super) async fn sign_in(
    ctx: &AgentContext,
    conn: &mut AgentConn,
    agent_id: u32,
    attempt: Attempt,
    life: &Life,
    rng: &mut SmallRng,
    end: &CancellationToken,
) -> Option<Option<String>> {
    let Some(body) = signin_body(ctx, agent_id) else {
        ctx.session_stats(|s| s.signin_given_up += 1);
        return None;
    };
    let arrival = attempt.arrival;
    let recovering = attempt.recovering_since.is_some();
    let session = &ctx.session;
    let mut intended = arrival;
    let mut forced = false;
    let mut retries: u32 = 0;
    let mut failing_since: Option<Instant> = None;
    // A sign-in answered "already signed in", recorded once the forced sign-in says what
    // it meant.
    let mut already: Option<Call> = None;
    loop {
        let (op, path) = if forced {
            (Operation::Forcelogin, protocol::forcelogin_path(agent_id))
        } else {
            (Operation::Signin, protocol::signin_path(agent_id))
        };
        if recovering && !forced {
            let node = life.lost_on.clone();
            ctx.session_stats(|s| {
                s.resignin_attempts += 1;
                if let Some(n) = &node {
                    s.node(n).resignin_attempts += 1;
                }
            });
        }
        let mut call = Call::open(ctx, agent_id, op, intended);
        let ex = conn
            .call(Method::PUT, &path, Some(body.clone()), None)
            .await;
        let verdict = judge_signin(
            &ex.result,
            session.on_already_signed_in,
            &session.on_already_signed_in_codes,
            forced,
        );
        if let Some(first) = already.take() {
            first.resolve(matches!(verdict, SigninVerdict::SignedIn { .. }));
        }
        match verdict {
            SigninVerdict::SignedIn { guid } => {
                call.finish(&ex);
                let took = micros(ex.done_at.saturating_duration_since(arrival));
                ctx.session_stats(|s| {
                    s.signed_in += 1;
                    s.time_to_signed_in.record_us(took);
                });
                return Some(guid);
            }
            SigninVerdict::TryForcelogin => {
                forced = true;
                intended = ex.done_at;
                call.hold(ex);
                already = Some(call);
            }
            SigninVerdict::Throttled | SigninVerdict::GiveUp => {
                call.finish(&ex);
                let throttled = verdict == SigninVerdict::Throttled;
                if throttled {
                    ctx.throttled(&life.throttled);
                }
                let since = *failing_since.get_or_insert(ex.done_at);
                let wait =
                    backoff::wait_before(&session.retry, retries, rng.random(), ex.retry_after);
                let retry = (throttled || recovering)
                    && !end.is_cancelled()
                    && backoff::within_budget(&session.retry, ex.done_at - since, wait);
                if !retry {
                    ctx.session_stats(|s| s.signin_given_up += 1);
                    return None;
                }
                retries += 1;
                ctx.session_stats(|s| s.signin_retries += 1);
                if !ctx.wait_to_retry(ex.done_at, wait, end).await {
                    ctx.session_stats(|s| s.signin_given_up += 1);
                    return None;
                }
                forced = false;
                intended = ex.done_at + wait;
            }
        }
    }
}

/// The sign-in body for this agent (None only if it cannot be serialised).
fn signin_body(ctx: &AgentContext, agent_id: u32) -> Option<Bytes> {
    let phonenum = ctx.phonenum.render(agent_id);
    let (callback, token) = match &ctx.push {
        Some(p) => (Some(p.callback_url()), Some(p.token())),
        None => (None, None),
    };
    let body = protocol::SignInRequest {
        password: &ctx.password,
        phonenum: &phonenum,
        status: ctx.status.code(),
        agenttype: ctx.agenttype,
        releasephone: true,
        check_in_webm: false,
        time: ctx.rest.map(|r| r.0),
        restcause: ctx.rest.map(|r| r.1),
        call_back_uri: callback,
        service_token: token,
    };
    serde_json::to_vec(&body).map(Bytes::from).ok()
}
