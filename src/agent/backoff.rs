//! How long an agent waits before it tries to sign in again: exponential backoff with
//! jitter, as a gateway operator would have clients do, and never less than the gateway's
//! `Retry-After`. Pure functions of the scenario's `[session] retry`, the attempt number
//! and a random draw passed in, so they are tested as tables without a clock.

use std::time::Duration;

use crate::scenario::RetrySpec;

/// The wait before retry number `attempt` (0 for the first): a uniform draw `u` in [0, 1)
/// placed between half and all of `min(max, initial × 2^attempt)` ("equal jitter": never
/// less than half the step, so waits grow, and spread so agents throttled together do not
/// come back together).
pub fn backoff(spec: &RetrySpec, attempt: u32, u: f64) -> Duration {
    let (initial, max) = (spec.initial.get(), spec.max.get());
    let step = initial
        .checked_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX))
        .unwrap_or(max)
        .min(max);
    let u = if u.is_finite() {
        u.clamp(0.0, 1.0)
    } else {
        0.0
    };
    step / 2 + (step / 2).mul_f64(u)
}

/// The wait before retry number `attempt` after a reply that asked for `retry_after`.
pub fn wait_before(
    spec: &RetrySpec,
    attempt: u32,
    u: f64,
    retry_after: Option<Duration>,
) -> Duration {
    backoff(spec, attempt, u).max(retry_after.unwrap_or_default())
}

/// Whether a retry after `wait` still falls within the retry budget: `give_up_after`
/// counted from the first failed try, `failing_for` ago.
pub fn within_budget(spec: &RetrySpec, failing_for: Duration, wait: Duration) -> bool {
    failing_for.saturating_add(wait) <= spec.give_up_after.get()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::duration::HumanDuration;

    fn spec(initial_ms: u64, max_ms: u64, give_up_s: u64) -> RetrySpec {
        RetrySpec {
            initial: HumanDuration::from_millis(initial_ms),
            max: HumanDuration::from_millis(max_ms),
            give_up_after: HumanDuration::from_secs(give_up_s),
        }
    }

    #[test]
    fn backoff_doubles_from_initial_to_max_with_equal_jitter() {
        let s = spec(500, 30_000, 120);
        let ms = |attempt, u| backoff(&s, attempt, u).as_millis();
        // (attempt, u) → ms: half the step at u = 0, the whole step as u → 1.
        let table = [
            (0, 0.0, 250),
            (0, 0.5, 375),
            (0, 0.999_999, 499),
            (1, 0.0, 500),
            (2, 0.0, 1_000),
            (5, 0.0, 8_000),
            (6, 0.0, 15_000),
            (6, 0.999_999, 29_999),
            (7, 0.0, 15_000),
            (40, 0.5, 22_500),
            (u32::MAX, 0.0, 15_000),
        ];
        for (attempt, u, want) in table {
            assert_eq!(ms(attempt, u), want, "attempt {attempt}, u {u}");
        }
        // A draw outside [0, 1) is clamped, never a panic or a negative wait.
        assert_eq!(ms(0, -3.0), 250);
        assert_eq!(ms(0, f64::NAN), 250);
        assert_eq!(ms(0, 7.0), 500);
    }

    #[test]
    fn retry_after_is_a_floor_and_the_budget_a_ceiling() {
        let s = spec(500, 30_000, 10);
        let secs = Duration::from_secs;
        assert_eq!(wait_before(&s, 0, 0.0, Some(secs(1))), secs(1));
        assert_eq!(
            wait_before(&s, 0, 0.0, Some(Duration::ZERO)),
            Duration::from_millis(250)
        );
        assert_eq!(wait_before(&s, 6, 0.0, Some(secs(3))), secs(15));
        assert_eq!(wait_before(&s, 0, 0.0, None), Duration::from_millis(250));
        assert!(within_budget(&s, secs(9), secs(1)));
        assert!(!within_budget(&s, secs(9), Duration::from_millis(1_001)));
        assert!(!within_budget(&s, Duration::ZERO, secs(3600)));
        assert!(!within_budget(&s, Duration::MAX, secs(1)));
    }
}
