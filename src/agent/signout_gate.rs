//! The stop phase's sign-out gate: when a run stops early (Ctrl-C, SIGTERM, the end of the
//! plan, or a closed-model population shrinking), every agent still signed in must sign
//! out, but at a bounded rate so the stop does not become a storm of its own.
//!
//! One dispatcher task paces permits with governor (on a clock read from tokio's, so the
//! pacing follows tokio time and tests can pause it) and hands them out through a FIFO
//! semaphore; waiting agents sleep on the semaphore, so thousands of them cost nothing
//! until their turn (no herd of tasks retrying a rate limiter). While no agent waits, the
//! dispatcher sleeps too. Agents keep polling while they wait, so their sessions stay alive.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

/// governor's clock, read from tokio's: time since the gate was made.
#[derive(Debug, Clone)]
struct TokioClock {
    origin: tokio::time::Instant,
}

impl Clock for TokioClock {
    type Instant = Duration;
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>;

pub struct SignoutGate {
    slots: Semaphore,
    waiting: AtomicUsize,
    someone_waits: Notify,
    clock: TokioClock,
    limiter: Limiter,
}

/// Decrements the waiting count however the wait ends (granted or cancelled).
struct Waiting<'a>(&'a SignoutGate);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

impl SignoutGate {
    /// A gate releasing at most `per_second` sign-outs per second (bursts of one).
    pub fn new(per_second: NonZeroU32) -> Arc<SignoutGate> {
        let clock = TokioClock {
            origin: tokio::time::Instant::now(),
        };
        let quota = Quota::per_second(per_second).allow_burst(NonZeroU32::MIN);
        Arc::new(SignoutGate {
            slots: Semaphore::new(0),
            waiting: AtomicUsize::new(0),
            someone_waits: Notify::new(),
            limiter: RateLimiter::direct_with_clock(quota, clock.clone()),
            clock,
        })
    }

    /// Waits for this agent's turn to sign out. Cancel-safe: dropping the future gives up
    /// the place without using a permit.
    pub async fn acquire(&self) {
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let _waiting = Waiting(self);
        self.someone_waits.notify_one();
        if let Ok(permit) = self.slots.acquire().await {
            permit.forget();
        }
    }

    /// Hands out permits at the gate's rate while anyone waits, until `done`.
    pub async fn dispatch(self: Arc<Self>, done: CancellationToken) {
        loop {
            while self.waiting.load(Ordering::Acquire) <= self.slots.available_permits() {
                tokio::select! {
                    _ = self.someone_waits.notified() => {}
                    _ = done.cancelled() => return,
                }
            }
            match self.limiter.check() {
                Ok(()) => self.slots.add_permits(1),
                Err(not_until) => {
                    let wait = not_until.wait_time_from(self.clock.now());
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = done.cancelled() => return,
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    #[tokio::test(start_paused = true)]
    async fn releases_at_the_configured_rate() {
        let gate = SignoutGate::new(NonZeroU32::new(10).expect("non-zero"));
        let done = CancellationToken::new();
        tokio::spawn(gate.clone().dispatch(done.clone()));
        let t0 = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..30 {
            let g = gate.clone();
            tasks.spawn(async move {
                g.acquire().await;
                Instant::now()
            });
        }
        let mut times = Vec::new();
        while let Some(t) = tasks.join_next().await {
            times.push(t.expect("task"));
        }
        times.sort();
        let span = *times.last().expect("30") - t0;
        // 30 sign-outs at 10/s: about 3 s (the first is immediate)
        assert!(span >= Duration::from_millis(2800), "{span:?}");
        assert!(span <= Duration::from_millis(3200), "{span:?}");
        done.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn cancelled_waits_leave_no_permit_behind() {
        let gate = SignoutGate::new(NonZeroU32::new(100).expect("non-zero"));
        let done = CancellationToken::new();
        tokio::spawn(gate.clone().dispatch(done.clone()));
        // the first sign-out goes at once; the next must wait 10 ms for its turn
        gate.acquire().await;
        // an agent that stops waiting (its poll came due first) gives up its place
        let r = tokio::time::timeout(Duration::from_micros(1), gate.acquire()).await;
        assert!(r.is_err());
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(gate.waiting.load(Ordering::Acquire), 0);
        assert!(
            gate.slots.available_permits() <= 1,
            "no pile of unused permits"
        );
        done.cancel();
    }
}
