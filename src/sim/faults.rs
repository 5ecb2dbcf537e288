//! Fault injection: per request, the first configured fault whose operation, time window
//! and rate match (a retcode, HTTP 500/503, a cut reply, a stall); on the clock, random
//! agents forced out at a rate (D12).
//!
//! Owns only choosing faults; the request pipeline in `handle` applies them.

use http::StatusCode;
use rand::seq::IndexedRandom as _;
use rand::Rng;
use tokio::time::{Duration, Instant};

use super::config::{Fault, FaultKind};
use super::model::in_window;
use super::reply::Answer;
use super::session::{lock, Phase};
use super::stats::SignoutCause;
use super::SimGateway;
use crate::protocol::Endpoint;

/// What a fault does to one request.
#[derive(Debug)]
pub enum Injected {
    /// Answer this instead of doing the operation.
    Answer(Answer),
    /// Do the operation, then cut the reply.
    Reset,
    /// Hold the request this long, then do it.
    Stall(Duration),
}

/// The configured faults with their endpoints resolved once.
#[derive(Debug, Default)]
pub struct Faults {
    list: Vec<(Option<Endpoint>, Fault)>,
}

impl Faults {
    pub fn new(faults: &[Fault]) -> Faults {
        Faults {
            list: faults.iter().map(|f| (f.endpoint(), f.clone())).collect(),
        }
    }

    /// The fault for a request to `endpoint` at `elapsed` since start, if any fires.
    pub fn pick(&self, endpoint: Endpoint, elapsed: Duration) -> Option<Injected> {
        if self.list.is_empty() {
            return None;
        }
        let mut rng = rand::rng();
        for (target, f) in &self.list {
            if target.is_some_and(|t| t != endpoint) || !in_window(f.from, f.until, elapsed) {
                continue;
            }
            if f.rate < 1.0 && rng.random::<f64>() >= f.rate {
                continue;
            }
            return Some(match f.kind {
                FaultKind::Retcode => {
                    Injected::Answer(Answer::code(f.retcode.as_deref().unwrap_or("100-007")))
                }
                FaultKind::Http => Injected::Answer(Answer::http_error(
                    StatusCode::from_u16(f.status.unwrap_or(500))
                        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                )),
                FaultKind::Reset => Injected::Reset,
                FaultKind::Stall => Injected::Stall(f.stall.map(|s| s.get()).unwrap_or_default()),
            });
        }
        None
    }
}

/// How often random forced sign-outs are considered.
pub const FORCED_TICK: Duration = Duration::from_millis(50);

impl SimGateway {
    /// One tick of random forced sign-outs: each window in force earns `per_s × dt`
    /// sign-outs (fractions carry over in `credit`); each is a random active session.
    pub(crate) fn forced_signouts_tick(&self, dt: Duration, credit: &mut f64) {
        let elapsed = self.elapsed();
        let rate: f64 = self
            .config
            .forced_signouts
            .iter()
            .filter(|f| in_window(f.from, f.until, elapsed))
            .map(|f| f.per_s)
            .sum();
        if rate <= 0.0 {
            *credit = 0.0;
            return;
        }
        *credit += rate * dt.as_secs_f64();
        if *credit < 1.0 {
            return;
        }
        let active: Vec<_> = self
            .sessions
            .all_sessions()
            .into_iter()
            .filter(|s| lock(&s.state).phase == Phase::Active)
            .collect();
        let mut rng = rand::rng();
        let now = Instant::now();
        let n = (*credit as usize).min(active.len());
        *credit -= credit.floor();
        for s in active.choose_multiple(&mut rng, n) {
            if s.force_out(now) {
                self.counters.signed_out(SignoutCause::Forced);
            }
        }
    }
}
