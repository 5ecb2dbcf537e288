//! The process's open-file limit, the wall a load machine hits first: every long-polling
//! agent holds one connection, and against the embedded gateway that connection is two
//! open files in this process. At start the harness raises its soft limit to the hard
//! limit (root cannot go past the hard one), and refuses a scenario whose peak of
//! concurrent agents cannot fit, naming the remedy, before any traffic.
//!
//! The second wall is ephemeral ports: one (source address, destination) pair carries
//! ~14,000 connections before `connect()` slows sharply, so a bigger peak gets a warning
//! naming `target.source_addresses` (a warning only: a real target on another machine or
//! a tuned port range may do better).
//!
//! The checks are pure functions; only [`raise_nofile`] touches the process.

/// Files the process needs besides agents' connections (runtime, listeners, logs, reports).
pub const RESERVED_FILES: u64 = 64;

/// Connections one (source address, destination) pair carries before `connect()` slows
/// sharply on Linux: about half the default ephemeral port range (32768-60999).
pub const CONNECTIONS_PER_SOURCE: u64 = 14_000;

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

/// A warning when `peak_agents` connections would put more than
/// [`CONNECTIONS_PER_SOURCE`] on one source/destination pair, given `source_addresses`
/// configured (0: the kernel's one source address); None when they fit.
pub fn port_warning(peak_agents: u64, source_addresses: usize) -> Option<String> {
    let pairs = (source_addresses as u64).max(1);
    if peak_agents <= CONNECTIONS_PER_SOURCE.saturating_mul(pairs) {
        return None;
    }
    let needed = peak_agents.div_ceil(CONNECTIONS_PER_SOURCE);
    let now = match source_addresses {
        0 => "this run uses one, the kernel's choice".to_string(),
        n => format!("target.source_addresses lists {n}"),
    };
    let first = std::net::Ipv4Addr::new(127, 0, 0, 2);
    let last = std::net::Ipv4Addr::from(
        u32::from(first).saturating_add(u32::try_from(needed - 1).unwrap_or(u32::MAX)),
    );
    Some(format!(
        "this scenario may hold {peak_agents} connections at once, but one source address opens only ~{CONNECTIONS_PER_SOURCE} to one gateway address before connect() slows sharply ({now}); \
         set target.source_addresses to {needed} or more local addresses, e.g. [\"{first}-{last}\"] against a loopback gateway"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_past_fourteen_thousand_per_source_address() {
        assert_eq!(port_warning(14_000, 0), None);
        let w = port_warning(19_000, 0).expect("19,000 on one pair");
        assert!(w.contains("target.source_addresses"), "{w}");
        assert!(w.contains("2 or more"), "{w}");
        assert!(w.contains("127.0.0.2-127.0.0.3"), "{w}");
        assert_eq!(port_warning(19_000, 2), None);
        assert!(port_warning(57_000, 4).is_some_and(|w| w.contains("5 or more")));
        assert_eq!(port_warning(57_000, 5), None);
        let w = port_warning(14_000 * 300, 0).expect("many");
        assert!(
            w.contains("127.0.0.2-127.0.1.45"),
            "stays a valid address: {w}"
        );
    }

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
