//! The signed-in part of one agent's session: adopting rotated GUIDs, events as they come
//! (polled, or pushed with heartbeats), the hold once ready, never-ready and delivery
//! bookkeeping, and the sign-out when the hold ends or the gate gives the agent its turn.

use std::sync::atomic::AtomicBool;
use std::time::{Instant, SystemTime};

use http::Method;
use rand::rngs::SmallRng;
use tokio_util::sync::CancellationToken;

use super::push::Inbox;
use super::{
    call::Call, decide::session_gone, judge_event, judge_poll, judge_signout, AgentContext,
    AgentEnd, PollVerdict,
};
use crate::client::{AgentConn, Exchange, GatewayReply};
use crate::metrics::sample::micros;
use crate::metrics::Operation;
use crate::protocol::{self, event};
use crate::scenario::SignoutMode;

/// The delivery latency, µs, of an event the gateway stamped `gen_ms` (its `eventGenTime`,
/// ms since the epoch) that reached the harness at `received`: only as good as the two
/// machines' clocks agree (a gateway clock ahead of ours reads as 0).
fn delivery_us(gen_ms: u64, received: SystemTime) -> Option<u64> {
    let r = received.duration_since(SystemTime::UNIX_EPOCH).ok()?;
    Some((r.as_millis() as u64).saturating_sub(gen_ms) * 1000)
}

/// The signed-in part of one session.
pub(super) struct Session<'a> {
    pub(super) ctx: &'a AgentContext,
    pub(super) agent_id: u32,
    pub(super) arrival: Instant,
    pub(super) recovering: bool,
    /// Coming back from a session lost on this gateway node.
    pub(super) lost_on: Option<Box<str>>,
    /// The agent's flag: counted among the throttled agents already.
    pub(super) throttled: &'a AtomicBool,
    pub(super) guid: Option<String>,
    /// Set when the agent is ready: when its hold ends.
    pub(super) hold_until: Option<Instant>,
}

impl Session<'_> {
    /// Dynamic authentication: adopt a rotated GUID for every later call.
    pub(super) fn adopt_guid(&mut self, ex: &Exchange) {
        if let Ok(reply) = &ex.result {
            if let Some(g) = &reply.guid {
                self.guid = Some(g.clone());
            }
        }
    }

    /// Handles an event (polled or pushed; counted by the caller); true when the session
    /// has ended.
    fn on_event(&mut self, verdict: PollVerdict, at: Instant, rng: &mut SmallRng) -> bool {
        match verdict {
            PollVerdict::Event { event_type } => {
                if event_type == event::READY && self.hold_until.is_none() {
                    let took = micros(at.saturating_duration_since(self.arrival));
                    let back = self.recovering.then(|| self.ctx.since_start_us(at));
                    let lost_on = self.lost_on.take();
                    self.ctx.session_stats(|s| {
                        s.ready += 1;
                        s.time_to_ready.record_us(took);
                        if let Some(b) = back {
                            s.back_at.record_us(b);
                            if let Some(n) = &lost_on {
                                s.node(n).back_at.record_us(b);
                            }
                        }
                    });
                    self.ctx.recorder.ready_changed(1);
                    self.hold_until = Some(at + self.ctx.session.hold.sample(rng));
                }
                false
            }
            PollVerdict::SessionEnded { .. } => true,
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
    pub(super) async fn polled(
        &mut self,
        conn: &mut AgentConn,
        rng: &mut SmallRng,
        end: &CancellationToken,
    ) -> AgentEnd {
        let poll_path = protocol::poll_path(self.agent_id);
        let ready_deadline = Instant::now() + self.ctx.session.ready_timeout.get();
        let mut next = Instant::now();
        // One wait for the stop, registered once for the whole loop, not once per poll: a
        // token's waiters are a linked list through the waiting futures themselves, so
        // joining and leaving it on every poll wrote to the futures of the agents beside
        // this one in the list (other agents' tasks, far out of the cache by then).
        let stopped = end.cancelled();
        tokio::pin!(stopped);
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
                    _ = stopped.as_mut() => continue,
                }
            }
            let call = Call::open(self.ctx, self.agent_id, Operation::Poll, next);
            // At the stop a waiting long poll is given up when the sign-out gate gives this
            // agent its turn, so that stopping takes agents / signout_rate, not the
            // gateway's hold time on top.
            let turn = async {
                stopped.as_mut().await;
                self.ctx.gate.acquire().await
            };
            let answered = tokio::select! {
                biased;
                ex = conn.call(Method::GET, &poll_path, None, self.guid.as_deref()) => Some(ex),
                _ = turn => None,
            };
            let Some(ex) = answered else {
                call.abandon();
                // The connection had a request in flight: the sign-out opens a new one.
                conn.close();
                break;
            };
            call.finish(&ex);
            self.adopt_guid(&ex);
            if let Ok(GatewayReply {
                event_type: Some(t),
                event_gen_ms,
                retcode,
                ..
            }) = &ex.result
            {
                // Counted as an event where `judge_poll` takes it for one (a success
                // retcode); its delivery is kept whatever the retcode.
                let us = event_gen_ms.and_then(|g| delivery_us(g, SystemTime::now()));
                self.ctx.event_seen(t, retcode.is_success(), us);
            }
            if ex.throttled() {
                self.ctx.throttled(self.throttled);
            }
            let not_before = ex.done_at + ex.retry_after.unwrap_or_default();
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
                // After a throttled poll, not before its Retry-After.
                (ex.done_at + self.ctx.session.poll_gap.sample(rng)).max(not_before)
            };
        }
        self.never_ready_check();
        self.sign_out(conn).await
    }

    /// Push mode: events arrive in the inbox; heartbeats keep the session alive.
    pub(super) async fn pushed(
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
                    let us = ev.gen_ms.and_then(|g| delivery_us(g, ev.received));
                    self.ctx.event_seen(&ev.event_type, true, us);
                    if self.on_event(judge_event(Some(ev.event_type.into())), Instant::now(), rng) {
                        self.never_ready_check();
                        return AgentEnd::Unexpected;
                    }
                }
                _ = tokio::time::sleep_until(deadline.into()) => {
                    if Instant::now() >= next_beat {
                        let intended = next_beat;
                        let call = Call::open(self.ctx, self.agent_id, Operation::Handshake, intended);
                        let ex = conn.call(Method::POST, &hs_path, None, self.guid.as_deref()).await;
                        call.finish(&ex);
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
        let call = Call::open(self.ctx, self.agent_id, op, Instant::now());
        let ex = conn
            .call(Method::DELETE, &path, None, self.guid.as_deref())
            .await;
        call.finish(&ex);
        judge_signout(&ex.result)
    }
}

#[cfg(test)]
mod tests {
    use super::delivery_us;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    #[test]
    fn delivery_is_the_gap_since_the_gateway_stamped_the_event_and_never_negative() {
        let at = UNIX_EPOCH + Duration::from_millis(1_765_000_000_250);
        assert_eq!(delivery_us(1_765_000_000_000, at), Some(250_000));
        // A gateway clock ahead of ours reads as 0, not as a wrapped huge value.
        assert_eq!(delivery_us(1_765_000_001_000, at), Some(0));
        assert_eq!(delivery_us(0, SystemTime::UNIX_EPOCH), Some(0));
    }
}
