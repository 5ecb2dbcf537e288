//! The harness's own health: resident memory and CPU time of this process, read from
//! `/proc/self` (Linux). Elsewhere both read as 0, which reports show as "unknown".
//!
//! Recorded per interval so a soak run shows whether the harness itself stayed within
//! bounds ("harness health").

use std::time::Instant;

/// Resident set size of this process in bytes, or 0 where unknown.
pub fn rss_bytes() -> u64 {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return 0;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// CPU time (user + system) this process has used, in seconds, or None where unknown.
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after ')'.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // Linux reports clock ticks at USER_HZ, which is 100 on every supported platform.
    Some((utime + stime) / 100.0)
}

/// Turns successive CPU-time readings into percent of one core per interval.
pub struct CpuMeter {
    last: Option<(Instant, f64)>,
}

impl Default for CpuMeter {
    fn default() -> Self {
        CpuMeter::new()
    }
}

impl CpuMeter {
    pub fn new() -> CpuMeter {
        CpuMeter {
            last: cpu_seconds().map(|c| (Instant::now(), c)),
        }
    }

    /// Percent of one core used since the previous call (0 where unknown).
    pub fn sample(&mut self) -> f64 {
        let now = Instant::now();
        let Some(cpu) = cpu_seconds() else {
            return 0.0;
        };
        let pct = match self.last {
            Some((t, c)) => {
                let wall = now.duration_since(t).as_secs_f64();
                if wall > 0.0 {
                    (cpu - c) / wall * 100.0
                } else {
                    0.0
                }
            }
            None => 0.0,
        };
        self.last = Some((now, cpu));
        pct.max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn reads_this_process() {
        let rss = rss_bytes();
        assert!(rss > 1024 * 1024, "rss {rss}");
        let before = cpu_seconds().expect("linux has /proc/self/stat");
        // burn a little CPU so the counter can move
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let after = cpu_seconds().expect("again");
        assert!(after >= before);
    }
}
