//! The sign-in rate limit (D20): a token bucket over sign-ins (`login`, `forcelogin`,
//! `loginex`) for the whole gateway — the single gateway, or a cluster's front — refilled
//! at `signin_rate_limit` per second and holding at most `signin_burst`. A sign-in that
//! finds no token is answered HTTP 429 with `Retry-After`, in whole seconds (at least 1),
//! until the next token.
//!
//! Owns the bucket arithmetic only; the clock is passed in (so it is tested without
//! sleeping) and the reply is built by the caller. Unlike the capacity gate of `behaviour`
//! (which makes sign-ins wait), this refuses at once.

use std::sync::Mutex;

use tokio::time::{Duration, Instant};

use super::session::lock;

/// The bucket: `rate_per_s` tokens a second, at most `burst`.
#[derive(Debug)]
pub struct Throttle {
    rate_per_s: f64,
    burst: f64,
    /// Tokens left, and when that was computed.
    state: Mutex<(f64, Instant)>,
}

impl Throttle {
    /// A full bucket at `now`. `rate_per_s` must be finite and above zero (the
    /// configuration's `validate` says so); `burst` is at least one token.
    pub fn new(rate_per_s: f64, burst: u32, now: Instant) -> Throttle {
        let burst = f64::from(burst.max(1));
        Throttle {
            rate_per_s,
            burst,
            state: Mutex::new((burst, now)),
        }
    }

    /// The burst a configuration gets when it gives none: one second's worth of sign-ins,
    /// at least one.
    pub fn default_burst(rate_per_s: f64) -> u32 {
        rate_per_s.ceil().clamp(1.0, f64::from(u32::MAX)) as u32
    }

    /// Takes a token at `now`: Ok, or Err with the whole seconds (at least 1) to put in
    /// `Retry-After`, until a token is back.
    pub fn take(&self, now: Instant) -> Result<(), u64> {
        let mut st = lock(&self.state);
        let (tokens, at) = *st;
        let earned = now.saturating_duration_since(at).as_secs_f64() * self.rate_per_s;
        let tokens = (tokens + earned).min(self.burst);
        if tokens >= 1.0 {
            *st = (tokens - 1.0, now);
            return Ok(());
        }
        *st = (tokens, now);
        let wait =
            Duration::try_from_secs_f64((1.0 - tokens) / self.rate_per_s).unwrap_or(Duration::MAX);
        Err(retry_after_secs(wait))
    }
}

/// `Retry-After` for a wait: whole seconds, rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let t = Throttle::new(10.0, 3, t0); // a token every 100 ms, three at once
        assert!(t.take(t0).is_ok());
        assert!(t.take(t0).is_ok());
        assert!(t.take(t0).is_ok());
        assert_eq!(t.take(t0), Err(1), "burst spent");
        assert_eq!(t.take(t0 + ms(50)), Err(1), "half a token is not one");
        assert!(t.take(t0 + ms(100)).is_ok());
        assert!(t.take(t0 + ms(150)).is_err());
        // Idle time refills up to the burst, never beyond.
        let later = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(t.take(later).is_ok());
        }
        assert!(t.take(later).is_err());
    }

    #[test]
    fn retry_after_is_whole_seconds_at_least_one() {
        let t0 = Instant::now();
        // One sign-in every 4 s: the refused one is told to wait 4 s.
        let t = Throttle::new(0.25, 1, t0);
        assert!(t.take(t0).is_ok());
        assert_eq!(t.take(t0), Err(4));
        assert_eq!(t.take(t0 + Duration::from_millis(1500)), Err(3));
        let ms = Duration::from_millis;
        assert_eq!(retry_after_secs(ms(1)), 1);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(ms(1000)), 1);
        assert_eq!(retry_after_secs(ms(1001)), 2);
        assert_eq!(Throttle::default_burst(200.0), 200);
        assert_eq!(Throttle::default_burst(0.5), 1);
    }
}
