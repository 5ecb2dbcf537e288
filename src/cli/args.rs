//! Parsers for the command line's numbers and addresses, so that a bad value is refused in
//! the user's words (`--threads must be at least 1`) rather than in the standard library's
//! (`number would be zero for non-zero type`). clap prints each message as
//! `error: invalid value 'X' for '--flag <V>': MESSAGE` and exits 2.

use std::net::SocketAddr;
use std::num::NonZeroUsize;

use crate::cli::processes::MAX_PROCESSES;

/// `--threads N`: a whole number of at least 1.
pub fn threads(text: &str) -> Result<NonZeroUsize, String> {
    let n = whole(text, "--threads", "the threads agents run on")?;
    NonZeroUsize::new(n as usize)
        .ok_or_else(|| "--threads must be at least 1 (the threads agents run on; leave it out for one per CPU core)".to_string())
}

/// `--processes N`: 1 to [`MAX_PROCESSES`].
pub fn processes(text: &str) -> Result<u32, String> {
    let n = whole(text, "--processes", "shard processes")?;
    match u32::try_from(n) {
        Ok(n) if (1..=MAX_PROCESSES).contains(&n) => Ok(n),
        _ => Err(format!(
            "--processes {}: give 1 to {MAX_PROCESSES} processes",
            text.trim()
        )),
    }
}

/// `--agent ID`: an agent id (a whole number; the scenario's checks say which ids the
/// gateway accepts).
pub fn agent_id(text: &str) -> Result<u32, String> {
    let n = whole(text, "--agent", "an agent id, e.g. --agent 1001")?;
    u32::try_from(n).map_err(|_| format!("--agent {n} is not an agent id, e.g. --agent 1001"))
}

/// `--min-samples N`: a whole number, 0 or more.
pub fn count(text: &str) -> Result<u64, String> {
    whole(text, "--min-samples", "samples")
}

/// `--latency-pct`, `--latency-ms`, `--errors-pp`: a number, 0 or more.
pub fn tolerance(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        Ok(_) => Err(format!(
            "the tolerance must be a number, 0 or more, not {}",
            text.trim()
        )),
        Err(_) => Err(format!(
            "{:?} is not a number; write e.g. 10 or 0.5 (no unit: the option names it)",
            text.trim()
        )),
    }
}

/// `--listen ADDR`: an IP address and a port.
pub fn listen(text: &str) -> Result<SocketAddr, String> {
    text.trim().parse().map_err(|_| {
        format!(
            "{:?} is not an IP address and port; write e.g. 127.0.0.1:8043, 0.0.0.0:8043 \
             (every interface) or [::1]:8043 (a host name is not accepted)",
            text.trim()
        )
    })
}

/// A whole number, 0 or more, for `flag` (`what` it counts).
fn whole(text: &str, flag: &str, what: &str) -> Result<u64, String> {
    let t = text.trim();
    t.parse::<u64>().map_err(|_| {
        if t.parse::<i64>().is_ok() {
            format!("{flag} cannot be negative ({what})")
        } else {
            format!("{flag} takes a whole number ({what}), not {t:?}")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_option_and_what_is_valid() {
        assert_eq!(threads("4").map(NonZeroUsize::get), Ok(4));
        let e = threads("0").expect_err("zero");
        assert!(e.starts_with("--threads must be at least 1"), "{e}");
        assert!(threads("-2").expect_err("negative").contains("negative"));
        assert!(threads("two").expect_err("text").contains("whole number"));
        assert_eq!(processes("256"), Ok(256));
        for bad in ["0", "257", "99999999999"] {
            let e = processes(bad).expect_err(bad);
            assert!(e.contains("1 to 256"), "{e}");
        }
        assert!(tolerance("-1").is_err() && tolerance("inf").is_err());
        assert_eq!(tolerance("0.5"), Ok(0.5));
        assert!(listen("localhost:80")
            .expect_err("a name")
            .contains("127.0.0.1:8043"));
        assert!(listen("[::1]:8043").is_ok());
        assert!(agent_id("5000000000").is_err() && agent_id("1001") == Ok(1001));
    }
}
