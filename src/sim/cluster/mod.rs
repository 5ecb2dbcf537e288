//! Cluster mode (D19): N simulated nodes behind one listener, as a CC-Gateway cluster sits
//! behind its NSLB. The [`SimGateway`] serving the listener is then the front: it owns the
//! nodes (each a full `SimGateway` with its own sessions, GUIDs and counters), routes every
//! request to one of them (`route`, `front`), takes nodes down and back up on the
//! `fail_node` schedule (`failure`), and sums their counters into the totals.
//!
//! This file owns the nodes' state and construction, the per-node stats, and the one rule a
//! node follows only inside a cluster: a GUID it did not issue gets `000-003`. It holds no
//! routing or timing rule itself.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use http::HeaderValue;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::config::GatewayConfig;
use super::session::{lock, Auth};
use super::stats::{Counters, SignoutCause};
use super::SimGateway;
use crate::protocol::GatewayStats;

mod failure;
mod front;
pub mod model;
mod route;

pub use failure::run as run_clocks;
pub use front::ConnTag;
use model::Stickiness;

/// One node of the cluster.
pub struct Node {
    pub gw: Arc<SimGateway>,
    /// Serving. Changed only under `conns`' lock, so a request routed here is registered
    /// before a failure can miss it.
    up: AtomicBool,
    /// The connections whose latest request this node took, by connection id: a `refuse`
    /// failure closes them.
    conns: Mutex<HashMap<u64, CancellationToken>>,
    /// Sessions signed in here when it failed.
    lost: AtomicU64,
    /// Times it failed.
    failures: AtomicU64,
    /// `Set-Cookie` naming this node, over HTTP and over HTTPS (`Secure`).
    set_cookie: [HeaderValue; 2],
}

/// The front's state: the nodes and how requests find them.
pub struct Cluster {
    nodes: Vec<Node>,
    /// The node names, index by index (for reading a cookie or GUID suffix).
    names: Vec<Box<str>>,
    stickiness: Stickiness,
    cookie_name: Box<str>,
    /// The round-robin ticket.
    next: AtomicUsize,
    /// Connection ids.
    next_conn: AtomicU64,
}

/// A node's behaviour model: the gateway's, under its own name, without the keys the front
/// owns (the rate limit, failures); random forced sign-outs are shared out evenly.
fn node_config(config: &GatewayConfig, name: String) -> GatewayConfig {
    let n = f64::from(config.nodes.max(1));
    let mut c = config.clone();
    c.nodes = 1;
    c.node_name = name;
    c.fail_node.clear();
    c.signin_rate_limit = None;
    c.signin_burst = None;
    for f in &mut c.forced_signouts {
        f.per_s /= n;
    }
    c
}

impl Cluster {
    /// The nodes of `config`, their counters children of `total`, their background tasks
    /// stopped with `stop`.
    pub fn new(
        config: &GatewayConfig,
        started: Instant,
        total: &Arc<Counters>,
        stop: &CancellationToken,
    ) -> Cluster {
        let names = model::node_names(config);
        let cookie = config.sticky_cookie.as_str();
        let nodes = names
            .iter()
            .map(|name| {
                let header = |secure: &str| {
                    HeaderValue::from_str(&format!("{cookie}={name}; Path=/; HttpOnly{secure}"))
                        .unwrap_or_else(|_| HeaderValue::from_static("invalid"))
                };
                Node {
                    gw: SimGateway::build(
                        node_config(config, name.clone()),
                        started,
                        Arc::new(Counters::child_of(total.clone())),
                        stop.child_token(),
                        true,
                    ),
                    up: AtomicBool::new(true),
                    conns: Mutex::new(HashMap::new()),
                    lost: AtomicU64::new(0),
                    failures: AtomicU64::new(0),
                    set_cookie: [header(""), header("; Secure")],
                }
            })
            .collect();
        Cluster {
            nodes,
            names: names.into_iter().map(String::into_boxed_str).collect(),
            stickiness: config.stickiness,
            cookie_name: cookie.into(),
            next: AtomicUsize::new(0),
            next_conn: AtomicU64::new(0),
        }
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The totals (`total`, the nodes' parent counters) with every node's own counters.
    pub fn stats(&self, total: &Counters) -> GatewayStats {
        let mut stats = total.snapshot();
        stats.nodes = self
            .nodes
            .iter()
            .zip(&self.names)
            .map(|(n, name)| {
                n.gw.counters.snapshot().into_node(
                    name.to_string(),
                    n.up.load(Ordering::Relaxed),
                    n.lost.load(Ordering::Relaxed),
                    n.failures.load(Ordering::Relaxed),
                )
            })
            .collect();
        stats
    }
}

impl Node {
    /// Ends every session of this node at once, without a reply to anyone (a node that
    /// failed in `refuse` mode, or one coming back empty): active sessions count as forced
    /// sign-outs. Returns how many were active.
    fn vanish_sessions(&self) -> u64 {
        let mut n = 0;
        let counters = &self.gw.counters;
        self.gw.sessions.for_each_slot(|_, slot| {
            if let Some(s) = slot.session.take() {
                let active = lock(&s.state).phase == super::session::Phase::Active;
                s.end(super::session::Phase::Gone);
                if active {
                    counters.signed_out(SignoutCause::Forced);
                    n += 1;
                }
            }
        });
        n
    }
}

impl SimGateway {
    /// D3 with D19's rule: inside a cluster, a GUID presented for an agent this node does
    /// not know, and not of this node's issue (its suffix names another node, or none), is
    /// `000-003` — the GUID belongs to someone else — rather than `100-006`.
    pub(crate) fn authenticate(&self, id: u32, presented: Option<&[u8]>, now: Instant) -> Auth {
        let auth = self.sessions.authenticate(id, presented, now);
        match (auth, presented) {
            (Auth::NotSignedIn, Some(g)) if self.in_cluster && !self.issued_here(g) => {
                Auth::NoPermission
            }
            (auth, _) => auth,
        }
    }

    /// Whether `guid` carries this node's name as its suffix.
    fn issued_here(&self, guid: &[u8]) -> bool {
        route::guid_node(guid).is_some_and(|n| n == self.config.node_name.as_bytes())
    }
}
