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
//! `behaviour` + `faults` (service time, capacity, accounts, injected faults); `throttle`
//! is the sign-in rate limit (D20).
//!
//! Cluster mode (D19, `nodes > 1` or a `fail_node`): the `SimGateway` serving the
//! listener is the front, holding N node gateways in `cluster`; everything above then
//! runs once per node, and the front only routes, fails nodes and sums counters.
//!
//! Stats count every reply the gateway's handler produces; requests hyper itself refuses
//! before routing (a malformed request line, headers over its size limit) are not seen.

use std::sync::{Arc, OnceLock, Weak};

use tokio::net::TcpListener;
use tokio::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

use crate::protocol::GatewayStats;

mod behaviour;
mod cluster;
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
mod throttle;
pub mod tls;
mod validate;

pub use config::GatewayConfig;
pub use router::FAILOVER_PATH;

use behaviour::Behaviour;
use cluster::Cluster;
use faults::Faults;
use session::Sessions;
use stats::{Counters, SignoutCause};
use throttle::Throttle;

/// One simulated gateway: its configuration, sessions and counters. In cluster mode, the
/// front: its nodes are in `cluster` and its own sessions stay empty.
pub struct SimGateway {
    config: GatewayConfig,
    /// A node's counters count on the front's too (cluster mode).
    counters: Arc<Counters>,
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
    /// The sign-in rate limit (D20): a single gateway's or a cluster front's; None on nodes.
    throttle: Option<Throttle>,
    /// Cluster mode: the nodes behind this front (D19).
    cluster: Option<Cluster>,
    /// This is a node of a cluster (D19: a GUID of another node's issue gets `000-003`).
    in_cluster: bool,
}

impl SimGateway {
    /// A gateway with this behaviour model. The configuration should have passed
    /// [`GatewayConfig::validate`]; values it would refuse are used as they are.
    ///
    /// With `nodes > 1` (or a `fail_node`) it is a cluster's front with its nodes inside,
    /// served by the same [`serve`](SimGateway::serve) on the one listener (D19).
    pub fn new(config: GatewayConfig) -> Arc<SimGateway> {
        SimGateway::build(
            config,
            Instant::now(),
            Arc::new(Counters::default()),
            CancellationToken::new(),
            false,
        )
    }

    /// A gateway (a front when `config` asks for a cluster), or with `in_cluster` one node
    /// of a cluster, whose counters and stop token the front made.
    fn build(
        config: GatewayConfig,
        started: Instant,
        counters: Arc<Counters>,
        stop: CancellationToken,
        in_cluster: bool,
    ) -> Arc<SimGateway> {
        let cluster = (!in_cluster && cluster::model::is_cluster(&config))
            .then(|| Cluster::new(&config, started, &counters, &stop));
        let throttle = config
            .signin_rate_limit
            .filter(|r| r.is_finite() && *r > 0.0)
            .map(|r| {
                let burst = config
                    .signin_burst
                    .unwrap_or_else(|| Throttle::default_burst(r));
                Throttle::new(r, burst, started)
            });
        Arc::new_cyclic(|me| SimGateway {
            behaviour: Behaviour::new(&config, started),
            faults: Faults::new(&config.faults),
            config,
            counters,
            sessions: Sessions::default(),
            started,
            stop,
            push_client: OnceLock::new(),
            me: me.clone(),
            throttle,
            cluster,
            in_cluster,
        })
    }

    /// Whether this gateway is a cluster's front (D19).
    fn is_front(&self) -> bool {
        self.cluster.is_some()
    }

    /// The configuration in use.
    pub fn config(&self) -> &GatewayConfig {
        &self.config
    }

    /// The counters, as `GET /agentstorm/v1/stats` serves them (D17).
    /// In cluster mode the totals are the whole gateway's and `nodes` lists each node's.
    pub fn stats(&self) -> GatewayStats {
        match &self.cluster {
            Some(c) => c.stats(&self.counters),
            None => self.counters.snapshot(),
        }
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
    /// In cluster mode, on every node.
    pub fn drop_all_sessions(&self) -> u64 {
        if let Some(c) = &self.cluster {
            return c.nodes().iter().map(|n| n.gw.drop_all_sessions()).sum();
        }
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
        if let Some(c) = &self.cluster {
            // An agent may be signed in on more than one node (without stickiness): each
            // of its sessions is forced out.
            let forced = c.nodes().iter().filter(|n| n.gw.force_out(agent_id));
            return forced.count() > 0;
        }
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
