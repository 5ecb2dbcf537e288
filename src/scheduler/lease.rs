//! Agent id leases: each id is used by one simulated agent at a time, and an id whose
//! session may still exist at the gateway (its sign-out failed or was skipped) is held back
//! until the gateway's inactivity timeout has surely ended that session. Pure: the caller
//! passes the time.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::agent::AgentEnd;
use crate::scenario::values::IdRanges;

/// How long an id is held back after a session that may still exist at the gateway: the
/// documented 120 s inactivity sign-out plus a margin.
pub const QUARANTINE: Duration = Duration::from_secs(130);

#[derive(Debug)]
pub struct IdPool {
    free: VecDeque<u32>,
    held: VecDeque<(Instant, u32)>,
    quarantine: Duration,
}

impl IdPool {
    pub fn new(ids: &IdRanges, quarantine: Duration) -> IdPool {
        IdPool {
            free: ids.iter().collect(),
            held: VecDeque::new(),
            quarantine,
        }
    }

    /// Takes a free id (oldest released first), or None when every id is in use or held.
    pub fn lease(&mut self, now: Instant) -> Option<u32> {
        while let Some(&(until, id)) = self.held.front() {
            if until > now {
                break;
            }
            self.held.pop_front();
            self.free.push_back(id);
        }
        self.free.pop_front()
    }

    /// Returns an id after its agent's session ended as `end`.
    pub fn release(&mut self, id: u32, end: AgentEnd, now: Instant) {
        match end {
            AgentEnd::LeftSignedIn => self.held.push_back((now + self.quarantine, id)),
            _ => self.free.push_back(id),
        }
    }

    pub fn free_count(&self) -> usize {
        self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_exclusive_and_held_back_after_unclean_ends() {
        let ids = IdRanges::parse("1001-1002").expect("valid");
        let t0 = Instant::now();
        let mut pool = IdPool::new(&ids, Duration::from_secs(10));
        assert_eq!(pool.lease(t0), Some(1001));
        assert_eq!(pool.lease(t0), Some(1002));
        assert_eq!(pool.lease(t0), None, "all ids leased");
        pool.release(1001, AgentEnd::SignedOut, t0);
        pool.release(1002, AgentEnd::LeftSignedIn, t0);
        assert_eq!(pool.lease(t0), Some(1001));
        assert_eq!(
            pool.lease(t0 + Duration::from_secs(9)),
            None,
            "1002 still held"
        );
        assert_eq!(pool.lease(t0 + Duration::from_secs(10)), Some(1002));
    }
}
