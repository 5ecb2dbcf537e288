//! One simulated agent's life: sign in (forced sign-in on `100-002` if the policy says
//! so), optionally sign in to skill queues, receive events (long poll, or pushed to the
//! harness's callback with heartbeats) until `AgentState_Ready`, hold, sign out — emitting
//! exactly one Sample per operation and the session's outcome. When the
//! gateway ends a session and the policy says so, the agent signs in again, recording when
//! it was lost and when it was back (failover drills).
//!
//! The decisions (what a reply means for the session) and the retry backoff are pure
//! functions (`decide`, `backoff`), tested without clock or socket; signing in is
//! `signin`, the signed-in part `session`; the rest only sequences them over an [`AgentConn`] on the tokio clock.
//! An agent never aborts a call it started. Asked to end early (stop, or a shrinking
//! closed-model population), it keeps its session alive until the sign-out gate gives it a
//! turn, then signs out.
//!
//! Beside the session: [`lanes`] (the threads agents run on), [`push`] (the push-mode
//! callback receiver) and [`signout_gate`] (the stop phase's paced sign-outs).

pub mod backoff;
mod call;
mod decide;
pub mod lanes;
pub mod push;
mod session;
mod signin;

use call::Call;
use session::Session;
use signin::{sign_in, Attempt};
pub mod signout_gate;

pub use decide::{
    judge_event, judge_poll, judge_signin, judge_signout, AgentEnd, PollVerdict, SigninVerdict,
};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::Method;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio_util::sync::CancellationToken;

use crate::agent::push::PushReceiver;
use crate::agent::signout_gate::SignoutGate;
use crate::client::{AgentConn, Exchange, Failure, Target};
use crate::metrics::exemplar;
use crate::metrics::recorder::Recorder;
use crate::metrics::sample::micros;
use crate::metrics::{Operation, Outcome, PollResult, Sample, SessionStats};
use crate::protocol;
use crate::scenario::values::PhoneTemplate;
use crate::scenario::{AgentStatus, OnUnexpectedSignout, SessionSpec};

/// What every agent of a run shares.
#[derive(Clone)]
pub struct AgentContext {
    pub target: Arc<Target>,
    pub recorder: Recorder,
    /// A second recorder that also gets every record (a capacity-search step judges
    /// itself from it); None otherwise.
    pub step: Option<Recorder>,
    pub session: SessionSpec,
    /// Never logged or reported.
    pub password: Arc<str>,
    pub phonenum: PhoneTemplate,
    pub status: AgentStatus,
    pub agenttype: u8,
    /// With `status` rest: `time` and `restcause` for the sign-in body.
    pub rest: Option<(u32, u8)>,
    /// Cancelled to end every session early (graceful stop).
    pub stop: CancellationToken,
    /// Paces early sign-outs.
    pub gate: Arc<SignoutGate>,
    /// The push-mode callback receiver (None: polling mode).
    pub push: Option<Arc<PushReceiver>>,
    pub run_start: Instant,
    /// Seed of every random draw (None: random).
    pub seed: Option<u64>,
    /// The threads agents run on.
    pub lanes: Arc<crate::agent::lanes::Lanes>,
}

impl AgentContext {
    /// Records the sample of a call opened with [`call::Call::open`].
    fn record_call(&self, s: &Sample) {
        self.recorder.record_call(s);
        if let Some(r) = &self.step {
            r.record(s);
        }
    }

    fn session_stats(&self, f: impl Fn(&mut SessionStats)) {
        self.recorder.session(&f);
        if let Some(r) = &self.step {
            r.session(&f);
        }
    }

    /// See [`Recorder::event_seen`](crate::metrics::recorder::Recorder::event_seen).
    fn event_seen(&self, event_type: &str, counted: bool, delivery_us: Option<u64>) {
        self.recorder.event_seen(event_type, counted, delivery_us);
        if let Some(r) = &self.step {
            r.event_seen(event_type, counted, delivery_us);
        }
    }

    /// An arrival started an agent `lag` after its intended time.
    pub fn arrival(&self, lag: std::time::Duration) {
        self.recorder.arrival(lag);
        if let Some(r) = &self.step {
            r.arrival(lag);
        }
    }

    /// An arrival that found no free agent id.
    pub fn not_started(&self) {
        self.recorder.not_started();
        if let Some(r) = &self.step {
            r.not_started();
        }
    }

    /// An arrival dropped for starting later than allowed.
    pub fn dropped_late(&self, lag: std::time::Duration) {
        self.recorder.dropped_late(lag);
        if let Some(r) = &self.step {
            r.dropped_late(lag);
        }
    }

    fn since_start_us(&self, t: Instant) -> u64 {
        micros(t.saturating_duration_since(self.run_start))
    }

    /// The gateway or its load balancer throttled this agent (HTTP 429 or 503); `once`
    /// is the agent's own flag, so each agent is counted among the throttled once.
    fn throttled(&self, once: &AtomicBool) {
        // Only this agent's task touches its flag; atomic only so that the task is Send.
        let first = !once.swap(true, Ordering::Relaxed);
        self.session_stats(|s| {
            s.throttled += 1;
            s.throttled_agents += u64::from(first);
        });
    }

    /// Waits `wait` from `from` before a retry (counted in `retry_wait_us`); false when the
    /// run's stop (or the agent's retirement) came first.
    async fn wait_to_retry(&self, from: Instant, wait: Duration, end: &CancellationToken) -> bool {
        let us = micros(wait);
        self.session_stats(|s| s.retry_wait_us += us);
        tokio::select! {
            _ = tokio::time::sleep_until((from + wait).into()) => true,
            _ = end.cancelled() => false,
        }
    }
}

/// What one agent carries from one of its sessions to the next.
#[derive(Debug, Default)]
struct Life {
    /// Counted among the throttled agents already.
    throttled: AtomicBool,
    /// Lost sessions in a row that lasted less than `retry.max` (the backoff's attempt
    /// number for the next re-sign-in).
    quick_losses: u32,
    /// The gateway node of the session lost last, while coming back from it.
    lost_on: Option<Box<str>>,
}

/// How one session ended.
struct SessionEnd {
    end: AgentEnd,
    /// Signed in until it ended.
    length: Duration,
    /// The node that issued the session's GUID, when it names one.
    node: Option<Box<str>>,
}

fn outcome_of(ex: &Exchange, handled: bool) -> Outcome {
    match &ex.result {
        Ok(r) if handled && !r.retcode.is_success() => Outcome::Handled { retcode: r.retcode },
        Ok(r) => Outcome::Ok { retcode: r.retcode },
        Err(Failure::Http(status)) => Outcome::Http { status: *status },
        Err(Failure::Transport(kind)) => Outcome::Transport { kind: *kind },
    }
}

/// Records a finished call (see [`call::Call`], the only caller): its sample, and an
/// exemplar when it failed.
fn record_exchange(
    ctx: &AgentContext,
    agent_id: u32,
    op: Operation,
    intended_at: Instant,
    ex: &Exchange,
    handled: bool,
) {
    let poll = match (&ex.result, op) {
        (Ok(r), Operation::Poll) if r.retcode.is_success() => Some(if r.event_type.is_some() {
            PollResult::Event
        } else {
            PollResult::Empty
        }),
        _ => None,
    };
    let outcome = outcome_of(ex, handled);
    ctx.record_call(&Sample {
        operation: op,
        intended_at,
        sent_at: ex.sent_at,
        done_at: ex.done_at,
        outcome,
        poll,
    });
    if !outcome.is_success() && ctx.recorder.wants_exemplar(op, &outcome) {
        let at_s = ex
            .done_at
            .saturating_duration_since(ctx.run_start)
            .as_secs_f64();
        ctx.recorder.exemplar(exemplar::exemplar(
            op,
            &outcome,
            agent_id,
            at_s,
            ex.reason.as_deref(),
            &ex.body,
        ));
    }
}

/// One agent from its arrival until it is done. `end` asks it to finish early (the run's
/// stop, or its retirement from a closed-model population); `serial` numbers the arrival
/// (seeds its random draws when the scenario has a seed).
pub async fn run(
    ctx: &AgentContext,
    agent_id: u32,
    arrival: Instant,
    serial: u64,
    end: &CancellationToken,
) -> AgentEnd {
    let mut rng = match ctx.seed {
        Some(seed) => SmallRng::seed_from_u64(seed ^ serial.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        // ThreadRng is not Send; a small generator seeded from it is, and lives with the task.
        None => SmallRng::from_rng(&mut rand::rng()),
    };
    ctx.recorder.agent_took_part(agent_id);
    let mut conn = AgentConn::new(ctx.target.clone());
    let mut arrival = arrival;
    let mut lost_at: Option<Instant> = None;
    let mut life = Life::default();
    loop {
        let ended = one_session(
            ctx, &mut conn, agent_id, arrival, lost_at, &mut life, &mut rng, end,
        )
        .await;
        // The session's cookies (a load balancer's stickiness) end with it.
        conn.end_session();
        if ended.end != AgentEnd::Unexpected {
            return ended.end;
        }
        let now = Instant::now();
        let at = ctx.since_start_us(now);
        let node = ended.node.clone();
        ctx.session_stats(|s| {
            s.lost_at.record_us(at);
            if let Some(n) = &node {
                s.node(n).lost_at.record_us(at);
            }
        });
        if ctx.session.on_unexpected_signout != OnUnexpectedSignout::SigninAgain
            || end.is_cancelled()
        {
            return ended.end;
        }
        // Sign in again after a backoff: never a tight loop against a gateway that ends
        // every session, and spread so that agents lost together do not return together.
        let retry = &ctx.session.retry;
        life.quick_losses = if ended.length < retry.max.get() {
            life.quick_losses.saturating_add(1)
        } else {
            0
        };
        let wait = backoff::backoff(retry, life.quick_losses, rng.random());
        life.lost_on = ended.node;
        conn.close();
        if !ctx.wait_to_retry(now, wait, end).await {
            return ended.end;
        }
        lost_at = Some(now);
        arrival = Instant::now();
    }
}

/// One session: sign in ([`sign_in`]), then the signed-in part.
#[allow(clippy::too_many_arguments)]
async fn one_session(
    ctx: &AgentContext,
    conn: &mut AgentConn,
    agent_id: u32,
    arrival: Instant,
    recovering_since: Option<Instant>,
    life: &mut Life,
    rng: &mut SmallRng,
    end: &CancellationToken,
) -> SessionEnd {
    let again = recovering_since.is_some();
    ctx.session_stats(|s| {
        s.started += 1;
        s.resignins += u64::from(again);
    });
    // Push mode: open the inbox before signing in (events may arrive before the reply).
    let mut inbox = ctx.push.as_ref().map(|p| p.register(agent_id));
    let attempt = Attempt {
        arrival,
        recovering_since,
    };
    let Some(guid) = sign_in(ctx, conn, agent_id, attempt, life, rng, end).await else {
        return SessionEnd {
            end: AgentEnd::NeverSignedIn,
            length: Duration::ZERO,
            node: None,
        };
    };
    let node: Option<Box<str>> = guid
        .as_deref()
        .and_then(protocol::node_of_guid)
        .map(Into::into);
    if let Some(n) = &node {
        ctx.session_stats(|s| s.node(n).signed_in += 1);
    }
    ctx.recorder.signed_in_changed(1);
    let signed_in_at = Instant::now();
    let mut s = Session {
        ctx,
        agent_id,
        arrival,
        recovering: recovering_since.is_some(),
        lost_on: life.lost_on.take(),
        throttled: &life.throttled,
        guid,
        hold_until: None,
    };
    if let Some(skill) = &ctx.session.resetskill {
        let path =
            protocol::resetskill_path(agent_id, skill.autoflag, &skill.skillid, skill.phonelinkage);
        let call = Call::open(ctx, agent_id, Operation::Resetskill, Instant::now());
        let ex = conn
            .call(Method::POST, &path, None, s.guid.as_deref())
            .await;
        call.finish(&ex);
        s.adopt_guid(&ex);
    }
    let end_state = match inbox.as_mut() {
        // Boxed: push mode's state is the largest, and would otherwise size every agent's
        // task (polling agents included) by it.
        Some(inbox) => Box::pin(s.pushed(conn, inbox, rng, end)).await,
        None => s.polled(conn, rng, end).await,
    };
    let s_was_ready = s.hold_until.is_some();
    drop(inbox);
    ctx.recorder.signed_in_changed(-1);
    if s_was_ready {
        ctx.recorder.ready_changed(-1);
    }
    let length_d = signed_in_at.elapsed();
    let length = micros(length_d);
    ctx.session_stats(|st| {
        st.session_length.record_us(length);
        match end_state {
            AgentEnd::SignedOut => st.signed_out_clean += 1,
            AgentEnd::Unexpected => st.signed_out_unexpected += 1,
            AgentEnd::LeftSignedIn => st.left_signed_in += 1,
            AgentEnd::NeverSignedIn => {}
        }
    });
    SessionEnd {
        end: end_state,
        length: length_d,
        node,
    }
}
