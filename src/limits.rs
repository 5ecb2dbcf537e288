//! The process's open-file limit, the wall a load machine hits first: every long-polling
//! agent holds one connection, and against the embedded gateway that connection is two
//! open files in this process. At start the harness raises its soft limit to the hard
//! limit (root cannot go past the hard one), and refuses a scenario whose peak of
//! concurrent agents cannot fit, naming the remedy, before any traffic.
//!
//! The fit check is a pure function; only [`raise_nofile`] touches the process.

/// Files the process needs besides agents' connections (runtime, listeners, logs, reports).
pub const RESERVED_FILES: u64 = 64;

/// Raises the soft open-file limit to the hard limit; returns the limit now in force.
#[cfg(unix)]
// `rlim_t` is u64 on Linux but not on every unix: the casts are for the others.
#[allow(clippy::unnecessary_cast)]
pub fn raise_nofile() -> std::io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write/read only the struct passed, which lives here.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return Ok(lim.rlim_max as u64);
        }
    }
    Ok(lim.rlim_cur as u64)
}

#[cfg(not(unix))]
pub fn raise_nofile() -> std::io::Result<u64> {
    Ok(u64::MAX)
}

/// Whether `peak_agents` concurrent agents fit in `limit` open files, with
/// `files_per_agent` each (2 against the embedded gateway, else 1). The error says what
/// is needed and what to do.
pub fn check_fit(peak_agents: u64, files_per_agent: u64, limit: u64) -> Result<(), String> {
    let needed = peak_agents
        .saturating_mul(files_per_agent)
        .saturating_add(RESERVED_FILES);
    if needed <= limit {
        return Ok(());
    }
    let per_process = limit.saturating_sub(RESERVED_FILES) / files_per_agent.max(1);
    let processes = peak_agents.div_ceil(per_process.max(1));
    let embedded = if files_per_agent > 1 {
        " (against the embedded gateway each agent's connection is two files in this process: a separate `agentstorm gateway` or a real target halves that)"
    } else {
        ""
    };
    Err(format!(
        "this scenario may hold {peak_agents} agents at once, needing about {needed} open files, but this process may open {limit}{embedded}; \
         run it as --processes {processes} (or more), or lower load.max_in_flight to {per_process}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_or_names_the_remedy() {
        assert!(check_fit(19_000, 1, 20_000).is_ok());
        assert!(check_fit(9_000, 2, 20_000).is_ok());
        let e = check_fit(19_000, 2, 20_000).expect_err("38,064 files do not fit in 20,000");
        assert!(e.contains("--processes 2"), "{e}");
        assert!(e.contains("embedded gateway"), "{e}");
        assert!(e.contains("9968"), "largest max_in_flight that fits: {e}");
        let e = check_fit(57_000, 1, 20_000).expect_err("too many");
        assert!(e.contains("--processes 3"), "{e}");
    }

    #[test]
    #[cfg(unix)]
    #[allow(clippy::unnecessary_cast)]
    fn raises_to_the_hard_limit() {
        let limit = raise_nofile().expect("getrlimit works");
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: reads into a local struct.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
        assert_eq!(limit, lim.rlim_cur as u64);
        assert_eq!(lim.rlim_cur, lim.rlim_max, "soft raised to hard");
    }
}
