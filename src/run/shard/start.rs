//! The agreed start of a sharded run (`--start-at`, `AGENTSTORM_START_AT`): parsing an
//! RFC 3339 time, refusing one absurdly far ahead, waiting for it on the wall clock, and
//! measuring how late a shard started. Owns no slicing (that is `shard`) and records
//! nothing itself: the run stores the lateness in its shard record.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;

/// Environment variable holding the agreed start time (RFC 3339), as `--start-at`.
pub const ENV_START_AT: &str = "AGENTSTORM_START_AT";
/// The longest `--start-at` wait accepted: a start further ahead is taken for a mistake.
pub const MAX_START_WAIT: Duration = Duration::from_secs(24 * 3600);
/// A run starting later than this after `--start-at` is warned about (it is recorded in
/// any case).
pub const LATE_WARNING: Duration = Duration::from_secs(1);

/// Parses an RFC 3339 time with a zone: `2026-03-01T08:00:00Z`,
/// `2026-03-01T09:00:00.250+01:00`.
pub fn parse_start_at(text: &str) -> Result<SystemTime, String> {
    let t = text.trim();
    let bad = || {
        format!(
            "start time {t:?} is not an RFC 3339 time with a zone; write e.g. \
             2026-03-01T08:00:00Z or 2026-03-01T09:00:00+01:00"
        )
    };
    let at = time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
        .map_err(|_| bad())?;
    let nanos = at.unix_timestamp_nanos();
    let d = Duration::from_nanos(u64::try_from(nanos.unsigned_abs()).map_err(|_| bad())?);
    if nanos >= 0 {
        UNIX_EPOCH.checked_add(d)
    } else {
        UNIX_EPOCH.checked_sub(d)
    }
    .ok_or_else(bad)
}

/// Checks a start time is not absurdly far ahead of `now`.
pub fn check_start_at(at: SystemTime, now: SystemTime) -> Result<(), String> {
    match at.duration_since(now) {
        Ok(wait) if wait > MAX_START_WAIT => Err(format!(
            "start time {} is {} away; refusing to wait more than {}",
            humantime::format_rfc3339_seconds(at),
            humantime::format_duration(Duration::from_secs(wait.as_secs())),
            humantime::format_duration(MAX_START_WAIT)
        )),
        _ => Ok(()),
    }
}

/// `--start-at` (or `AGENTSTORM_START_AT`) parsed and checked against the clock; the
/// message names the option.
pub fn start_at_from(text: Option<&str>) -> Result<Option<SystemTime>, String> {
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        return Ok(None);
    };
    let at = parse_start_at(text).map_err(|e| format!("--start-at / {ENV_START_AT}: {e}"))?;
    check_start_at(at, SystemTime::now()).map_err(|e| format!("--start-at: {e}"))?;
    Ok(Some(at))
}

/// How late `now` is against `at` (zero when not late).
pub fn late_by(at: SystemTime, now: SystemTime) -> Duration {
    now.duration_since(at).unwrap_or(Duration::ZERO)
}

/// Sleeps until `at` (wall clock) unless `stop` is cancelled first; returns how late the
/// start is against `at` (zero if on time or stopped while waiting). A start later than
/// [`LATE_WARNING`] is warned about on stderr.
pub async fn wait_for_start(at: SystemTime, stop: &CancellationToken) -> Duration {
    if let Ok(wait) = at.duration_since(SystemTime::now()) {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.cancelled() => return Duration::ZERO,
        }
    }
    let late = late_by(at, SystemTime::now());
    if late > LATE_WARNING {
        eprintln!(
            "agentstorm: starting {:.1} s late against the agreed start {}",
            late.as_secs_f64(),
            humantime::format_rfc3339_millis(at)
        );
    }
    late
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_times_parse_with_a_zone_and_lateness_is_measured() {
        let z = parse_start_at("2026-03-01T08:00:00Z").expect("Z");
        let plus = parse_start_at("2026-03-01T09:00:00+01:00").expect("+01:00");
        let minus = parse_start_at("2026-03-01T07:30:00-00:30").expect("-00:30");
        assert_eq!(z, plus);
        assert_eq!(z, minus);
        let frac = parse_start_at("2026-03-01T08:00:00.250Z").expect("fraction");
        assert_eq!(
            frac.duration_since(z).ok(),
            Some(Duration::from_millis(250))
        );
        for bad in [
            "2026-03-01T08:00:00",
            "tomorrow",
            "2026-03-01T08:00:00+1",
            "",
            "ü",
            "2026-03-01T08:00:00+ü:0",
            "€€€€€€€",
            "2026-03-01T08:00:00€",
            "+00:00",
        ] {
            assert!(parse_start_at(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            late_by(z, z + Duration::from_secs(3)),
            Duration::from_secs(3)
        );
        assert_eq!(late_by(z, z - Duration::from_secs(3)), Duration::ZERO);
        assert!(check_start_at(z + Duration::from_secs(3600), z).is_ok());
        assert!(check_start_at(z + MAX_START_WAIT * 2, z).is_err());
        assert!(check_start_at(z - MAX_START_WAIT * 2, z).is_ok());
    }

    #[tokio::test]
    async fn wait_for_start_waits_then_reports_lateness() {
        let stop = CancellationToken::new();
        let at = SystemTime::now() + Duration::from_millis(60);
        let t0 = std::time::Instant::now();
        let late = wait_for_start(at, &stop).await;
        assert!(t0.elapsed() >= Duration::from_millis(50), "waited");
        assert!(late < Duration::from_millis(500), "{late:?}");
        let past = SystemTime::now() - Duration::from_secs(2);
        assert!(wait_for_start(past, &stop).await >= Duration::from_secs(2));
        stop.cancel();
        let far = SystemTime::now() + Duration::from_secs(3600);
        assert_eq!(wait_for_start(far, &stop).await, Duration::ZERO);
    }
}
