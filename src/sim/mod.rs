//! The simulated CC-Gateway: a faithful other side for agent sign-in, event polling and
//! sign-out (the vendor documents, with the decisions of docs/gateway.md where they are
//! silent), driven by a behaviour model
//! ([`GatewayConfig`]) for timing, capacity and faults.
//!
//! It shares only `crate::protocol` with the harness, never harness internals. Layout:
//! `server` (accept loop, TLS, HTTP/1.1, shutdown) → `handle` (body, routing, dispatch) →
//! one file per group of calls (`signin`, `poll`, `signout`, `ops`) over `session` (the
//! sharded table) and `guid`; `push` delivers events to callbacks (D16); `events` and
//! `reply` build bytes; `stats` counts; `sweeper` runs the clock-driven rules; `validate`
//! is the pure D5 check. The behaviour model is `config` + `model` (serde shapes) and
//! `behaviour` + `faults` (service time, capacity, accounts, injected faults).
//!
//! Stats count every reply the gateway's handler produces; requests hyper itself refuses
//! before routing (a malformed request line, headers over its size limit) are not seen.

use std::sync::{Arc, OnceLock, Weak};

use tokio::net::TcpListener;
use tokio::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

use crate::protocol::GatewayStats;

mod behaviour;
pub mod config;
mod events;
mod faults;
mod guid;
mod handle;
mod model;
mod ops;
mod poll;
mod push;
mod reply;
mod router;
mod server;
mod session;
mod signin;
mod signout;
pub mod standalone;
mod stats;
mod sweeper;
pub mod tls;
mod validate;

pub use config::GatewayConfig;
pub use router::FAILOVER_PATH;

use behaviour::Behaviour;
use faults::Faults;
use session::Sessions;
use stats::{Counters, SignoutCause};

/// One simulated gateway: its configuration, sessions and counters.
pub struct SimGateway {
    config: GatewayConfig,
    counters: Counters,
    sessions: Sessions,
    behaviour: Behaviour,
    faults: Faults,
    /// Start of the gateway's clock (fault windows, `failover_at`).
    started: Instant,
    /// Stops background tasks (push) when serving ends.
    stop: CancellationToken,
    /// The push callback client, built at the first push-mode sign-in.
    push_client: OnceLock<Option<push::PushClient>>,
    /// This gateway, for tasks it spawns.
    me: Weak<SimGateway>,
}

impl SimGateway {
    /// A gateway with this behaviour model. The configuration should have passed
    /// [`GatewayConfig::validate`]; values it would refuse are used as they are.
    pub fn new(config: GatewayConfig) -> Arc<SimGateway> {
        let started = Instant::now();
        Arc::new_cyclic(|me| SimGateway {
            behaviour: Behaviour::new(&config, started),
            faults: Faults::new(&config.faults),
            config,
            counters: Counters::default(),
            sessions: Sessions::default(),
            started,
            stop: CancellationToken::new(),
            push_client: OnceLock::new(),
            me: me.clone(),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &GatewayConfig {
        &self.config
    }

    /// The counters, as `GET /agentstorm/v1/stats` serves them (D17).
    pub fn stats(&self) -> GatewayStats {
        self.counters.snapshot()
    }

    /// Serves until `shutdown` is cancelled; takes an already bound listener. With `tls`,
    /// every connection is HTTPS. On shutdown it stops accepting, ends waiting polls with
    /// the empty reply, and lets in-flight requests finish for a short grace.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        shutdown: CancellationToken,
    ) -> std::io::Result<()> {
        server::serve(self, listener, tls, shutdown).await
    }

    /// Failover cue: every active session is forced out (D12: it moves to closing, its
    /// next poll gets `AgentOther_ShutdownService`). Returns how many were.
    pub fn drop_all_sessions(&self) -> u64 {
        let now = Instant::now();
        let mut n = 0;
        for s in self.sessions.all_sessions() {
            if s.force_out(now) {
                self.counters.signed_out(SignoutCause::Forced);
                n += 1;
            }
        }
        n
    }

    /// Forces out one agent, if signed in (D12, counted as `forced`).
    pub fn force_out(&self, agent_id: u32) -> bool {
        self.sessions
            .force_out_agent(agent_id, SignoutCause::Forced, &self.counters)
    }

    /// Dynamic-mode rotation parameters, None in static mode.
    fn dynamic_guid(&self) -> Option<(Duration, Duration)> {
        (self.config.auth_mode == config::AuthMode::Dynamic).then(|| {
            (
                self.config.guid_interval.get(),
                self.config.guid_grace.get(),
            )
        })
    }

    /// Time since the gateway started.
    fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}
