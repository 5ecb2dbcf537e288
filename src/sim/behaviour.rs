//! The behaviour model at run time, on the request path: service time drawn from each
//! operation's distribution, the sign-in capacity gate with its bounded queue (D14), and
//! account checks with lockout (D7).
//!
//! The capacity gate is one atomic (a virtual schedule of sign-in slots), not a lock or a
//! queue of tasks. Nothing here knows about HTTP or sessions beyond the agent's slot.

use std::sync::atomic::{AtomicU64, Ordering};

use rand::Rng;
use tokio::time::{Duration, Instant};

use super::config::{Dist, GatewayConfig, IdSet};
use super::session::Slot;
use super::SimGateway;
use crate::protocol::{retcode, Endpoint};

/// z-score of the 99th percentile of the standard normal distribution.
const Z99: f64 = 2.326_347_874_040_841;
/// A lognormal draw is capped at this many times its p99, so one draw cannot stall a
/// request for hours.
const LOGNORMAL_CAP_P99: f64 = 20.0;

/// Service times shorter than this wait on an OS timer (timerfd, through async-io's
/// reactor: microsecond-precise) instead of tokio's timer wheel, which rounds every
/// deadline up to its next millisecond tick and fires it when a worker next turns the
/// wheel: a fixed 5 ms service time came out at 5.5-6.1 ms that way (BENCHMARKS.md, issue 6
/// item 4), which would be charged to the harness under test. Longer waits keep tokio's
/// timer, whose millisecond is then noise.
const PRECISE_BELOW: Duration = Duration::from_millis(100);

/// Waits `d` (a service time), precisely when it is short.
async fn service_wait(d: Duration) {
    if d < PRECISE_BELOW {
        async_io::Timer::after(d).await;
    } else {
        tokio::time::sleep(d).await;
    }
}

/// Draws one service time.
pub fn sample<R: Rng + ?Sized>(dist: &Dist, rng: &mut R) -> Duration {
    match *dist {
        Dist::Fixed(d) => d,
        Dist::Uniform { min, max } => min + (max - min).mul_f64(rng.random::<f64>()),
        Dist::LogNormal { p50, p99 } => {
            let (m, p) = (p50.as_secs_f64(), p99.as_secs_f64());
            let sigma = (p / m).ln() / Z99;
            // Box-Muller: u1 in (0, 1] so its log is finite.
            let u1 = 1.0 - rng.random::<f64>();
            let u2 = rng.random::<f64>();
            let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            let secs = (m.ln() + sigma * z).exp().min(p * LOGNORMAL_CAP_P99);
            Duration::try_from_secs_f64(secs).unwrap_or(p99)
        }
    }
}

/// Sign-in capacity: slots every `interval` on a virtual schedule; a sign-in takes the
/// next free slot and waits for it, unless that wait is longer than the queue allows.
#[derive(Debug)]
pub struct SigninGate {
    origin: Instant,
    interval_ns: u64,
    max_wait_ns: u64,
    /// Next free slot, in ns since `origin`.
    next_ns: AtomicU64,
}

impl SigninGate {
    pub fn new(per_s: f64, queue: u32, origin: Instant) -> SigninGate {
        let interval_ns = (1e9 / per_s).clamp(1.0, 1e15) as u64;
        SigninGate {
            origin,
            interval_ns,
            max_wait_ns: interval_ns.saturating_mul(u64::from(queue)),
            next_ns: AtomicU64::new(0),
        }
    }

    /// Takes a slot: the wait until it, or None when the queue is full.
    pub fn reserve(&self, now: Instant) -> Option<Duration> {
        let now_ns = now.saturating_duration_since(self.origin).as_nanos() as u64;
        let mut next = self.next_ns.load(Ordering::Relaxed);
        loop {
            let slot = next.max(now_ns);
            let wait = slot - now_ns;
            if wait > self.max_wait_ns {
                return None;
            }
            match self.next_ns.compare_exchange_weak(
                next,
                slot + self.interval_ns,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(Duration::from_nanos(wait)),
                Err(actual) => next = actual,
            }
        }
    }
}

/// Runtime form of the behaviour model's request-path parts.
#[derive(Debug)]
pub struct Behaviour {
    service: [Option<Dist>; Endpoint::ALL.len()],
    gate: Option<SigninGate>,
    accounts: Vec<(IdSet, String)>,
}

impl Behaviour {
    pub fn new(config: &GatewayConfig, origin: Instant) -> Behaviour {
        Behaviour {
            service: Endpoint::ALL.map(|e| config.service_time.for_endpoint(e)),
            gate: config
                .signin_capacity_per_s
                .filter(|r| r.is_finite() && *r > 0.0)
                .map(|r| SigninGate::new(r, config.signin_queue, origin)),
            accounts: config
                .accounts
                .iter()
                .map(|a| (a.ids.clone(), a.resolve()))
                .collect(),
        }
    }
}

impl SimGateway {
    /// Waits the service time of `endpoint` (nothing when it has none).
    pub(crate) async fn service_time(&self, endpoint: Endpoint) {
        if let Some(dist) = &self.behaviour.service[endpoint.index()] {
            let d = sample(dist, &mut rand::rng());
            if !d.is_zero() {
                service_wait(d).await;
            }
        }
    }

    /// Waits for a sign-in slot; `100-007` when the queue is full (D14).
    pub(crate) async fn signin_queue(&self) -> Result<(), &'static str> {
        let Some(gate) = &self.behaviour.gate else {
            return Ok(());
        };
        match gate.reserve(Instant::now()) {
            None => Err(retcode::OPERATION_EXCEPTION),
            Some(wait) if wait.is_zero() => Ok(()),
            Some(wait) => {
                tokio::time::sleep(wait).await;
                Ok(())
            }
        }
    }

    /// D7: locked accounts get `110-016`; a wrong password `100-004`, and
    /// `lockout_after` of them in a row lock the account. Runs under the agent's lock.
    pub(crate) fn check_account(
        &self,
        slot: &mut Slot,
        id: u32,
        password: &str,
        now: Instant,
    ) -> Result<(), &'static str> {
        if slot.locked_forever || slot.locked_until.is_some_and(|t| now < t) {
            return Err(retcode::ACCOUNT_LOCKED);
        }
        let Some((_, expected)) = self
            .behaviour
            .accounts
            .iter()
            .find(|(ids, _)| ids.contains(id))
        else {
            return Ok(());
        };
        if expected == password {
            slot.wrong_passwords = 0;
            slot.locked_until = None;
            return Ok(());
        }
        slot.wrong_passwords = slot.wrong_passwords.saturating_add(1);
        let limit = self.config.lockout_after;
        if limit > 0 && slot.wrong_passwords >= limit {
            match self.config.lockout_for {
                Some(d) => slot.locked_until = Some(now + d.get()),
                None => slot.locked_forever = true,
            }
        }
        Err(retcode::WRONG_PASSWORD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn quantile(mut v: Vec<Duration>, q: f64) -> Duration {
        v.sort();
        v[((v.len() - 1) as f64 * q) as usize]
    }

    #[test]
    fn lognormal_matches_its_p50_and_p99() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let ms = Duration::from_millis;
        let d = Dist::LogNormal {
            p50: ms(40),
            p99: ms(300),
        };
        let v: Vec<Duration> = (0..40_000).map(|_| sample(&d, &mut rng)).collect();
        let (p50, p99) = (quantile(v.clone(), 0.5), quantile(v, 0.99));
        assert!((36..=44).contains(&p50.as_millis()), "p50 {p50:?}");
        assert!((255..=345).contains(&p99.as_millis()), "p99 {p99:?}");
    }

    #[test]
    fn uniform_and_fixed_stay_in_bounds() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let ms = Duration::from_millis;
        let u = Dist::Uniform {
            min: ms(10),
            max: ms(20),
        };
        for _ in 0..1000 {
            let d = sample(&u, &mut rng);
            assert!(d >= ms(10) && d <= ms(20), "{d:?}");
        }
        assert_eq!(sample(&Dist::Fixed(ms(3)), &mut rng), ms(3));
    }

    #[test]
    fn gate_spaces_slots_and_refuses_beyond_the_queue() {
        let t0 = Instant::now();
        let gate = SigninGate::new(10.0, 2, t0); // a slot every 100 ms, two may wait
        let ms = Duration::from_millis;
        assert_eq!(gate.reserve(t0), Some(ms(0)));
        assert_eq!(gate.reserve(t0), Some(ms(100)));
        assert_eq!(gate.reserve(t0), Some(ms(200)));
        assert_eq!(gate.reserve(t0), None, "queue full");
        // Time passing frees the queue.
        assert_eq!(gate.reserve(t0 + ms(300)), Some(ms(0)));
    }
}
