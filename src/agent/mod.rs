//! One simulated agent's life: sign in (forced sign-in on `100-002` if the policy says
//! so), optionally sign in to skill queues, receive events (long poll, or pushed to the
//! harness's callback with heartbeats) until `AgentState_Ready`, hold, sign out — emitting
//! exactly one Sample per operation and the session's outcome. When the
//! gateway ends a session and the policy says so, the agent signs in again, recording when
//! it was lost and when it was back (failover drills).
//!
//! The decisions (what a reply means for the session) are pure functions, tested without
//! clock or socket; the rest only sequences them over an [`AgentConn`] on the tokio clock.
//! An agent never aborts a call it started. Asked to end early (stop, or a shrinking
//! closed-model population), it keeps its session alive until the sign-out gate gives it a
//! turn, then signs out.
//!
//! Beside the session: [`lanes`] (the threads agents run on), [`push`] (the push-mode
//! callback receiver) and [`signout_gate`] (the stop phase's paced sign-outs).

pub mod lanes;
pub mod push;
pub mod signout_gate;

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::Method;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use tokio_util::sync::CancellationToken;

use crate::agent::push::{Inbox, PushReceiver};
use crate::agent::signout_gate::SignoutGate;
use crate::client::{AgentConn, Exchange, Failure, GatewayReply, Target};
use crate::metrics::exemplar;
use crate::metrics::recorder::Recorder;
use crate::metrics::sample::micros;
use crate::metrics::{Operation, Outcome, PollResult, Sample, SessionStats};
use crate::protocol::{self, event, retcode};
use crate::scenario::values::PhoneTemplate;
use crate::scenario::{
    AgentStatus, AlreadySignedIn, OnUnexpectedSignout, SessionSpec, SignoutMode,
};

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
    fn record(&self, s: &Sample) {
        self.recorder.record(s);
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

    fn event(&self, event_type: &str) {
        self.recorder.event(event_type);
        if let Some(r) = &self.step {
            r.event(event_type);
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

/// What a poll reply (or a pushed event) means.
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

/// Takes the reply: its event type moves into the verdict.
pub fn judge_poll(result: Result<GatewayReply, Failure>) -> PollVerdict {
    match result {
        Ok(r) if r.retcode.is_success() => judge_event(r.event_type),
        Ok(r) if session_gone(&r) => PollVerdict::SessionEnded { event_type: None },
        _ => PollVerdict::Failed,
    }
}

/// What an event (polled or pushed) means; None is "no event".
pub fn judge_event(event_type: Option<String>) -> PollVerdict {
    match event_type {
        Some(t) if t == event::SHUTDOWN_SERVICE => PollVerdict::SessionEnded {
            event_type: Some(t),
        },
        Some(t) => PollVerdict::Event { event_type: t },
        None => PollVerdict::Empty,
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

fn record(ctx: &AgentContext, agent_id: u32, op: Operation, intended_at: Instant, ex: &Exchange) {
    let poll = match (&ex.result, op) {
        (Ok(r), Operation::Poll) if r.retcode.is_success() => Some(if r.event_type.is_some() {
            PollResult::Event
        } else {
            PollResult::Empty
        }),
        _ => None,
    };
    let outcome = outcome_of(ex);
    ctx.record(&Sample {
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
    let mut conn = AgentConn::new(ctx.target.clone());
    let mut arrival = arrival;
    let mut lost_at: Option<Instant> = None;
    loop {
        let end_state =
            one_session(ctx, &mut conn, agent_id, arrival, lost_at, &mut rng, end).await;
        if end_state != AgentEnd::Unexpected {
            return end_state;
        }
        let now = Instant::now();
        let at = ctx.since_start_us(now);
        ctx.session_stats(|s| s.lost_at.record_us(at));
        if ctx.session.on_unexpected_signout != OnUnexpectedSignout::SigninAgain
            || end.is_cancelled()
        {
            return end_state;
        }
        // Sign in again at once: the loss is the new arrival.
        lost_at = Some(now);
        arrival = now;
        conn.close();
    }
}

/// Signs in (retrying for a while when coming back from a lost session), then runs the
/// signed-in part.
async fn one_session(
    ctx: &AgentContext,
    conn: &mut AgentConn,
    agent_id: u32,
    arrival: Instant,
    recovering_since: Option<Instant>,
    rng: &mut SmallRng,
    end: &CancellationToken,
) -> AgentEnd {
    ctx.session_stats(|s| s.started += 1);
    // Push mode: open the inbox before signing in (events may arrive before the reply).
    let mut inbox = ctx.push.as_ref().map(|p| p.register(agent_id));
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
    let Ok(body) = serde_json::to_vec(&body).map(Bytes::from) else {
        ctx.session_stats(|s| s.signin_given_up += 1);
        return AgentEnd::NeverSignedIn;
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
        record(ctx, agent_id, op, intended, &ex);
        match judge_signin(&ex.result, ctx.session.on_already_signed_in, forced) {
            SigninVerdict::SignedIn { guid } => {
                let took = micros(ex.done_at.saturating_duration_since(arrival));
                ctx.session_stats(|s| {
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
                // Coming back from a lost session, keep trying (the gateway may still be
                // failing over) until the ready timeout since the loss.
                let retry = recovering_since.is_some_and(|since| {
                    since.elapsed() + RESIGNIN_RETRY < ctx.session.ready_timeout.get()
                });
                if !retry || end.is_cancelled() {
                    ctx.session_stats(|s| s.signin_given_up += 1);
                    return AgentEnd::NeverSignedIn;
                }
                forced = false;
                intended = ex.done_at + RESIGNIN_RETRY;
                tokio::select! {
                    _ = tokio::time::sleep_until(intended.into()) => {}
                    _ = end.cancelled() => {}
                }
            }
        }
    };
    ctx.recorder.signed_in_changed(1);
    let signed_in_at = Instant::now();
    let mut s = Session {
        ctx,
        agent_id,
        arrival,
        recovering: recovering_since.is_some(),
        guid,
        hold_until: None,
    };
    if let Some(skill) = &ctx.session.resetskill {
        let path =
            protocol::resetskill_path(agent_id, skill.autoflag, &skill.skillid, skill.phonelinkage);
        let intended = Instant::now();
        let ex = conn
            .call(Method::POST, &path, None, s.guid.as_deref())
            .await;
        record(ctx, agent_id, Operation::Resetskill, intended, &ex);
        s.adopt_guid(&ex);
    }
    let end_state = match inbox.as_mut() {
        // Boxed: push mode's state is the largest, and would otherwise size every agent's
        // task (polling agents included) by it.
        Some(inbox) => Box::pin(s.pushed(conn, inbox, rng, end)).await,
        None => s.polled(conn, rng, end).await,
    };
    drop(inbox);
    ctx.recorder.signed_in_changed(-1);
    let length = micros(signed_in_at.elapsed());
    ctx.session_stats(|st| {
        st.session_length.record_us(length);
        match end_state {
            AgentEnd::SignedOut => st.signed_out_clean += 1,
            AgentEnd::Unexpected => st.signed_out_unexpected += 1,
            AgentEnd::LeftSignedIn => st.left_signed_in += 1,
            AgentEnd::NeverSignedIn => {}
        }
    });
    end_state
}

/// Pause between sign-in attempts while coming back from a lost session.
const RESIGNIN_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// The signed-in part of one session.
struct Session<'a> {
    ctx: &'a AgentContext,
    agent_id: u32,
    arrival: Instant,
    recovering: bool,
    guid: Option<String>,
    /// Set when the agent is ready: when its hold ends.
    hold_until: Option<Instant>,
}

impl Session<'_> {
    /// Dynamic authentication: adopt a rotated GUID for every later call.
    fn adopt_guid(&mut self, ex: &Exchange) {
        if let Ok(reply) = &ex.result {
            if let Some(g) = &reply.guid {
                self.guid = Some(g.clone());
            }
        }
    }

    /// An event the gateway stamped `gen_ms` (its `eventGenTime`) reached the harness at
    /// `received`: the delivery latency, which is only as good as the two machines' clocks
    /// agree (a gateway clock ahead of ours reads as 0).
    fn delivered(&self, event_type: &str, gen_ms: u64, received: SystemTime) {
        if let Ok(r) = received.duration_since(SystemTime::UNIX_EPOCH) {
            let us = (r.as_millis() as u64).saturating_sub(gen_ms) * 1000;
            self.ctx
                .session_stats(|s| s.record_delivery(event_type, us));
        }
    }

    /// Handles an event (polled or pushed); true when the session has ended.
    fn on_event(&mut self, verdict: PollVerdict, at: Instant, rng: &mut SmallRng) -> bool {
        match verdict {
            PollVerdict::Event { event_type } => {
                self.ctx.event(&event_type);
                if event_type == event::READY && self.hold_until.is_none() {
                    let took = micros(at.saturating_duration_since(self.arrival));
                    let back = self.recovering.then(|| self.ctx.since_start_us(at));
                    self.ctx.session_stats(|s| {
                        s.ready += 1;
                        s.time_to_ready.record_us(took);
                        if let Some(b) = back {
                            s.back_at.record_us(b);
                        }
                    });
                    self.hold_until = Some(at + self.ctx.session.hold.sample(rng));
                }
                false
            }
            PollVerdict::SessionEnded { event_type } => {
                if let Some(t) = event_type {
                    self.ctx.event(&t);
                }
                true
            }
            PollVerdict::Empty | PollVerdict::Failed => false,
        }
    }

    /// Whether the session's own plan says it is over at `t` (hold done, or never ready).
    fn plan_over(&self, t: Instant, ready_deadline: Instant) -> bool {
        match self.hold_until {
            Some(h) => t >= h,
            None => t >= ready_deadline,
        }
    }

    fn never_ready_check(&self) {
        if self.hold_until.is_none() {
            self.ctx.session_stats(|s| s.never_ready += 1);
        }
    }

    /// Polling mode: long-poll until ready, then for the hold; end early through the gate.
    async fn polled(
        &mut self,
        conn: &mut AgentConn,
        rng: &mut SmallRng,
        end: &CancellationToken,
    ) -> AgentEnd {
        let poll_path = protocol::poll_path(self.agent_id);
        let ready_deadline = Instant::now() + self.ctx.session.ready_timeout.get();
        let mut next = Instant::now();
        loop {
            if self.plan_over(next, ready_deadline) {
                // The next poll would come after the hold (or the ready wait) ends: sign
                // out when it ends, not a poll gap early; a stop still goes through the gate.
                let until = self.hold_until.unwrap_or(ready_deadline);
                if until > Instant::now() {
                    tokio::select! {
                        _ = tokio::time::sleep_until(until.into()) => {}
                        _ = async {
                            end.cancelled().await;
                            self.ctx.gate.acquire().await
                        } => {}
                    }
                }
                break;
            }
            if end.is_cancelled() {
                // Keep polling (the session stays alive) until the gate gives a turn.
                tokio::select! {
                    biased;
                    _ = self.ctx.gate.acquire() => break,
                    _ = tokio::time::sleep_until(next.into()) => {}
                }
            } else if next > Instant::now() {
                // A poll already due goes at once: a timer for a past instant would still
                // wait for the timer wheel's next 1 ms tick.
                tokio::select! {
                    _ = tokio::time::sleep_until(next.into()) => {}
                    _ = end.cancelled() => continue,
                }
            }
            let ex = conn
                .call(Method::GET, &poll_path, None, self.guid.as_deref())
                .await;
            record(self.ctx, self.agent_id, Operation::Poll, next, &ex);
            self.adopt_guid(&ex);
            if let Ok(GatewayReply {
                event_type: Some(t),
                event_gen_ms: Some(g),
                ..
            }) = &ex.result
            {
                self.delivered(t, *g, SystemTime::now());
            }
            let verdict = judge_poll(ex.result);
            let was_event = matches!(verdict, PollVerdict::Event { .. });
            if self.on_event(verdict, ex.done_at, rng) {
                self.never_ready_check();
                return AgentEnd::Unexpected;
            }
            next = if was_event {
                // More events may be queued: ask again without a pause.
                ex.done_at
            } else {
                ex.done_at + self.ctx.session.poll_gap.sample(rng)
            };
        }
        self.never_ready_check();
        self.sign_out(conn).await
    }

    /// Push mode: events arrive in the inbox; heartbeats keep the session alive.
    async fn pushed(
        &mut self,
        conn: &mut AgentConn,
        inbox: &mut Inbox,
        rng: &mut SmallRng,
        end: &CancellationToken,
    ) -> AgentEnd {
        let ready_deadline = Instant::now() + self.ctx.session.ready_timeout.get();
        let heartbeat = self
            .ctx
            .session
            .push
            .as_ref()
            .map(|p| p.heartbeat.get())
            .unwrap_or(std::time::Duration::from_secs(30));
        let hs_path = protocol::handshake_path(self.agent_id);
        let mut next_beat = Instant::now() + heartbeat;
        loop {
            let now = Instant::now();
            if self.plan_over(now, ready_deadline) {
                break;
            }
            let deadline = self.hold_until.unwrap_or(ready_deadline).min(next_beat);
            tokio::select! {
                biased;
                _ = self.ctx.gate.acquire(), if end.is_cancelled() => break,
                ev = inbox.recv() => {
                    let Some(ev) = ev else { break };
                    if let Some(g) = ev.gen_ms {
                        self.delivered(&ev.event_type, g, ev.received);
                    }
                    if self.on_event(judge_event(Some(ev.event_type)), Instant::now(), rng) {
                        self.never_ready_check();
                        return AgentEnd::Unexpected;
                    }
                }
                _ = tokio::time::sleep_until(deadline.into()) => {
                    if Instant::now() >= next_beat {
                        let intended = next_beat;
                        let ex = conn.call(Method::POST, &hs_path, None, self.guid.as_deref()).await;
                        record(self.ctx, self.agent_id, Operation::Handshake, intended, &ex);
                        self.adopt_guid(&ex);
                        if let Ok(r) = &ex.result {
                            if session_gone(r) {
                                self.never_ready_check();
                                return AgentEnd::Unexpected;
                            }
                        }
                        next_beat = intended + heartbeat;
                    }
                }
                _ = end.cancelled(), if !end.is_cancelled() => {}
            }
        }
        self.never_ready_check();
        self.sign_out(conn).await
    }

    async fn sign_out(&mut self, conn: &mut AgentConn) -> AgentEnd {
        let (op, path) = match self.ctx.session.signout {
            SignoutMode::Logout => (Operation::Logout, protocol::logout_path(self.agent_id)),
            SignoutMode::Forcelogout => (
                Operation::Forcelogout,
                protocol::forcelogout_path(self.agent_id),
            ),
            SignoutMode::Abandon => return AgentEnd::LeftSignedIn,
        };
        let intended = Instant::now();
        let ex = conn
            .call(Method::DELETE, &path, None, self.guid.as_deref())
            .await;
        record(self.ctx, self.agent_id, op, intended, &ex);
        judge_signout(&ex.result)
    }
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
