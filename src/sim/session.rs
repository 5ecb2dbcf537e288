//! The session table: one slot per agent id, sharded so that thousands of agents polling
//! at once never serialise on one lock.
//!
//! Owns the session lifecycle (active → closing → gone, or replaced / logged out), the
//! per-agent pending-call flag (D4) and the per-agent wrong-password count (D7). Lock order
//! is always shard, then session; no lock is held across an await. It does not build
//! replies or decide timing: handlers and the sweeper do.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::events;
use super::guid::{GuidCheck, GuidState};
use super::stats::{Counters, SignoutCause};

const SHARDS: usize = 64;

/// Locks a mutex, taking the data even if a panicking thread poisoned it: the state is
/// counters and queues, always consistent between statements.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where the agent's events go.
#[derive(Debug, Clone)]
pub enum Mode {
    Poll,
    /// Push (D16): events are POSTed to `callback` with `token`.
    Push {
        callback: Arc<str>,
        token: Arc<str>,
    },
}

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Active,
    /// Forced or timed out (D12): the next poll gets `AgentOther_ShutdownService`.
    Closing,
    /// The agent signed out itself.
    LoggedOut,
    /// A forcelogin replaced it (D8): its GUID now gives `000-003`.
    Replaced,
    /// Finished closing, or dropped.
    Gone,
}

/// Mutable part of a session, behind its own lock.
#[derive(Debug)]
pub struct State {
    pub phase: Phase,
    pub guids: GuidState,
    pub events: VecDeque<Bytes>,
    /// Last poll (push mode: heartbeat), for the inactivity sign-out (D11).
    pub last_activity: Instant,
    /// Polls waiting now; a session with a waiting poll is not inactive.
    pub pollers: u32,
    /// When the session moved to closing (to drop it if nobody ever polls again).
    pub closing_since: Option<Instant>,
}

/// One signed-in agent.
#[derive(Debug)]
pub struct Session {
    pub agent_id: u32,
    pub login_time_ms: u64,
    pub mode: Mode,
    /// Events carry `eventGenTime` (every dialect but `older`, D18).
    pub gen_time: bool,
    pub state: Mutex<State>,
    /// Woken on every change a waiting poll (or the push task) must see.
    pub notify: Notify,
}

impl Session {
    pub fn new(
        agent_id: u32,
        mode: Mode,
        guids: GuidState,
        events: VecDeque<Bytes>,
        now: Instant,
        gen_time: bool,
    ) -> Arc<Session> {
        Arc::new(Session {
            agent_id,
            login_time_ms: events::now_ms(),
            mode,
            gen_time,
            state: Mutex::new(State {
                phase: Phase::Active,
                guids,
                events,
                last_activity: now,
                pollers: 0,
                closing_since: None,
            }),
            notify: Notify::new(),
        })
    }

    pub fn is_push(&self) -> bool {
        matches!(self.mode, Mode::Push { .. })
    }

    /// Moves an active session to closing and queues `ShutdownService` (D12). Returns
    /// whether it was active (so the caller counts the sign-out once).
    pub fn force_out(&self, now: Instant) -> bool {
        let mut st = lock(&self.state);
        if st.phase != Phase::Active {
            return false;
        }
        st.phase = Phase::Closing;
        st.closing_since = Some(now);
        st.events.clear();
        st.events.push_back(events::shutdown_event(
            self.agent_id,
            self.login_time_ms,
            self.gen_time.then(events::now_ms),
        ));
        drop(st);
        self.notify.notify_waiters();
        true
    }

    /// Ends the session for good with `phase` and wakes whoever waits on it.
    pub fn end(&self, phase: Phase) {
        lock(&self.state).phase = phase;
        self.notify.notify_waiters();
    }
}

/// Per-agent slot.
#[derive(Debug, Default)]
pub struct Slot {
    pub session: Option<Arc<Session>>,
    /// A sign-in, forcelogin or sign-out is being answered (D4).
    pub pending: bool,
    /// Consecutive wrong passwords (D7).
    pub wrong_passwords: u32,
    /// Locked after too many wrong passwords, until this instant (None: not locked).
    pub locked_until: Option<Instant>,
    /// Locked with no end.
    pub locked_forever: bool,
}

impl Slot {
    fn is_idle(&self) -> bool {
        self.session.is_none()
            && !self.pending
            && self.wrong_passwords == 0
            && self.locked_until.is_none()
            && !self.locked_forever
    }
}

/// A cheap hash for agent ids (a multiplicative mix; SipHash is wasted on u32 keys).
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type Shard = HashMap<u32, Slot, BuildHasherDefault<IdHasher>>;

/// What authenticating a request found (D3).
#[derive(Debug)]
pub enum Auth {
    /// Signed in, and the GUID is the current or the previous one in its grace.
    Active(Arc<Session>, GuidCheck),
    /// Forced or timed out and the GUID is its own: a poll gets ShutdownService.
    Closing(Arc<Session>),
    /// Signed in, GUID missing or wrong: `000-003`.
    NoPermission,
    /// Not signed in: `100-006`.
    NotSignedIn,
}

/// Why a sign-in was refused at commit time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    AlreadySignedIn,
    MaxAgents,
    /// A retcode decided by the caller's account check (D7).
    Code(&'static str),
}

/// The table.
pub struct Sessions {
    shards: Box<[Mutex<Shard>]>,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
        }
    }
}

/// Clears the pending flag of an agent when dropped (also when the client went away).
pub struct Pending<'a> {
    sessions: &'a Sessions,
    id: u32,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        let mut shard = self.sessions.shard(self.id);
        if let Some(slot) = shard.get_mut(&self.id) {
            slot.pending = false;
            if slot.is_idle() {
                shard.remove(&self.id);
            }
        }
    }
}

impl Sessions {
    fn shard(&self, id: u32) -> MutexGuard<'_, Shard> {
        lock(&self.shards[id as usize % SHARDS])
    }

    /// D4: marks a sign-in/forcelogin/sign-out as being answered; None if one already is.
    pub fn begin_exclusive(&self, id: u32) -> Option<Pending<'_>> {
        let mut shard = self.shard(id);
        let slot = shard.entry(id).or_default();
        if slot.pending {
            return None;
        }
        slot.pending = true;
        Some(Pending { sessions: self, id })
    }

    /// D3: checks the presented GUID against the agent's session.
    pub fn authenticate(&self, id: u32, presented: Option<&[u8]>, now: Instant) -> Auth {
        let session = match self.shard(id).get(&id).and_then(|s| s.session.clone()) {
            Some(s) => s,
            None => return Auth::NotSignedIn,
        };
        let st = lock(&session.state);
        let check = match presented {
            Some(p) => st.guids.check(p, now),
            None => GuidCheck::Wrong,
        };
        match (st.phase, check) {
            (Phase::Active, GuidCheck::Wrong) => Auth::NoPermission,
            (Phase::Active, c) => {
                drop(st);
                Auth::Active(session, c)
            }
            (Phase::Closing, GuidCheck::Current | GuidCheck::Previous) => {
                drop(st);
                Auth::Closing(session)
            }
            _ => Auth::NotSignedIn,
        }
    }

    /// Commits a sign-in: `check` runs first under the agent's lock (accounts, D7); then an
    /// active session refuses (`login`, D8) or is replaced (`forcelogin`); then the
    /// `max_agents` place is taken (D14). Returns the new session.
    pub fn sign_in(
        &self,
        id: u32,
        replace: bool,
        max_agents: Option<u64>,
        counters: &Counters,
        check: impl FnOnce(&mut Slot) -> Result<(), &'static str>,
        make: impl FnOnce() -> Arc<Session>,
    ) -> Result<Arc<Session>, Refusal> {
        let mut shard = self.shard(id);
        let slot = shard.entry(id).or_default();
        check(slot).map_err(Refusal::Code)?;
        let active = slot
            .session
            .as_ref()
            .filter(|s| lock(&s.state).phase == Phase::Active)
            .cloned();
        match active {
            Some(_) if !replace => return Err(Refusal::AlreadySignedIn),
            Some(old) => {
                old.end(Phase::Replaced);
                counters.signed_out(SignoutCause::Replaced);
            }
            None => {
                if !counters.try_sign_in(max_agents) {
                    return Err(Refusal::MaxAgents);
                }
                // A closing session left behind is already counted as signed out.
                if let Some(old) = slot.session.take() {
                    old.end(Phase::Gone);
                }
            }
        }
        let session = make();
        slot.session = Some(session.clone());
        Ok(session)
    }

    /// Ends `session` as a self sign-out, if it is still the agent's active session.
    /// Returns whether it was.
    pub fn sign_out(&self, session: &Arc<Session>, counters: &Counters) -> bool {
        let mut shard = self.shard(session.agent_id);
        let Some(slot) = shard.get_mut(&session.agent_id) else {
            return false;
        };
        let current = slot
            .session
            .as_ref()
            .is_some_and(|s| Arc::ptr_eq(s, session));
        if !current || lock(&session.state).phase != Phase::Active {
            return false;
        }
        slot.session = None;
        session.end(Phase::LoggedOut);
        counters.signed_out(SignoutCause::Logout);
        if slot.is_idle() {
            shard.remove(&session.agent_id);
        }
        true
    }

    /// Forgets `session` (finished closing) if it is still in its slot.
    pub fn remove(&self, session: &Arc<Session>) {
        let mut shard = self.shard(session.agent_id);
        if let Some(slot) = shard.get_mut(&session.agent_id) {
            if slot
                .session
                .as_ref()
                .is_some_and(|s| Arc::ptr_eq(s, session))
            {
                slot.session = None;
                session.end(Phase::Gone);
                if slot.is_idle() {
                    shard.remove(&session.agent_id);
                }
            }
        }
    }

    /// Forces out one agent's active session (D12); returns whether there was one.
    pub fn force_out_agent(&self, id: u32, cause: SignoutCause, counters: &Counters) -> bool {
        let session = self.shard(id).get(&id).and_then(|s| s.session.clone());
        match session {
            Some(s) if s.force_out(Instant::now()) => {
                counters.signed_out(cause);
                true
            }
            _ => false,
        }
    }

    /// Visits every slot, one shard at a time, under that shard's lock. The visitor may
    /// change the slot; slots left idle are dropped.
    pub fn for_each_slot(&self, mut visit: impl FnMut(u32, &mut Slot)) {
        for shard in self.shards.iter() {
            let mut shard = lock(shard);
            shard.retain(|id, slot| {
                visit(*id, slot);
                !slot.is_idle()
            });
        }
    }

    /// Every session, active or closing (a snapshot of Arcs; no lock held afterwards).
    pub fn all_sessions(&self) -> Vec<Arc<Session>> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            out.extend(lock(shard).values().filter_map(|s| s.session.clone()));
        }
        out
    }
}
