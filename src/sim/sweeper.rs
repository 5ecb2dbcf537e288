//! The gateway's clock: inactivity sign-outs (D11), dropping closing sessions nobody
//! polls, lockout expiry (D7), random forced sign-outs and the `failover_at` cue. One task
//! per served gateway (per node in cluster mode, see `cluster::failure`), on tokio time (so
//! tests can pause the clock), sweeping the sharded table a shard at a time.

use std::sync::Arc;

use tokio::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

use super::faults::FORCED_TICK;
use super::session::{lock, Phase};
use super::stats::SignoutCause;
use super::SimGateway;

/// How often the table is swept: an eighth of the inactivity timeout, 1 ms to 1 s, so a
/// sign-out happens at most that much after its deadline.
pub fn sweep_every(inactivity: Duration) -> Duration {
    (inactivity / 8).clamp(Duration::from_millis(1), Duration::from_secs(1))
}

impl SimGateway {
    /// Runs the clock-driven rules until `shutdown`; a cluster's front runs its nodes'
    /// clocks and the failure schedule instead.
    pub(crate) async fn run_clock(self: Arc<Self>, shutdown: CancellationToken) {
        if self.cluster.is_some() {
            return super::cluster::run_clocks(self, shutdown).await;
        }
        self.run_own_clock(shutdown).await
    }

    /// This gateway's (or node's) own clock-driven rules, until `shutdown`.
    pub(crate) async fn run_own_clock(self: Arc<Self>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(sweep_every(self.config.inactivity_timeout.get()));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut forced = tokio::time::interval(FORCED_TICK);
        forced.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let forced_on = !self.config.forced_signouts.is_empty();
        let mut credit = 0.0;
        let mut failover = self.config.failover_at.map(|d| self.started + d.get());
        loop {
            let failover_due = async {
                match failover {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => self.sweep(Instant::now()),
                _ = forced.tick(), if forced_on => self.forced_signouts_tick(FORCED_TICK, &mut credit),
                _ = failover_due => {
                    failover = None;
                    let n = self.drop_all_sessions();
                    tracing::info!(sessions = n, "failover cue: every session forced out");
                }
            }
        }
    }

    /// One sweep at `now`.
    pub(crate) fn sweep(&self, now: Instant) {
        let timeout = self.config.inactivity_timeout.get();
        let mut timed_out = Vec::new();
        self.sessions.for_each_slot(|_, slot| {
            if slot.locked_until.is_some_and(|t| t <= now) {
                slot.locked_until = None;
                slot.wrong_passwords = 0;
            }
            let Some(session) = &slot.session else {
                return;
            };
            let st = lock(&session.state);
            let idle = now.duration_since(st.last_activity) >= timeout;
            let stale = st
                .closing_since
                .is_some_and(|t| now.duration_since(t) >= timeout);
            match st.phase {
                Phase::Active if st.pollers == 0 && idle => timed_out.push(session.clone()),
                Phase::Closing if stale => {
                    drop(st);
                    if let Some(s) = slot.session.take() {
                        s.end(Phase::Gone);
                    }
                }
                _ => {}
            }
        });
        for session in timed_out {
            if session.force_out(now) {
                self.counters.signed_out(SignoutCause::Timeout);
            }
        }
    }
}
