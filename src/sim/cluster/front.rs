//! The front of a cluster (D19), per request: the simulator's own paths are answered here
//! (stats with every node's counters, the failover cue for every node); every other request
//! goes to one node, chosen by `route` from the sticky cookie or GUID suffix and the nodes
//! that are up, and the reply gets `Set-Cookie` when the front chose round robin under
//! cookie stickiness. The sign-in rate limit (D20) is the front's, applied by the node that
//! takes the request so the 429 is counted there.
//!
//! Also owns the tag each front connection carries ([`ConnTag`]): which node its latest
//! request went to, and the switch that closes it without a reply when that node fails in
//! `refuse` mode. A request cut that way is counted on its node as `reset`, as a cut reply
//! of fault injection is, so the gateway's counts still match what its clients sent.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use http::header::SET_COOKIE;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use super::route::{self, Choice};
use super::{model::Stickiness, Cluster};
use crate::protocol::Endpoint;
use crate::sim::handle::presented_guid;
use crate::sim::reply::{Answer, ReplyBody};
use crate::sim::router::{self, Route};
use crate::sim::session::lock;
use crate::sim::stats::{Counters, Outcome};
use crate::sim::SimGateway;

/// No node yet.
const NO_NODE: usize = usize::MAX;

/// One connection to the front.
pub struct ConnTag {
    front: Arc<SimGateway>,
    id: u64,
    /// Cancelled when the node it is registered with fails in `refuse` mode.
    kill: CancellationToken,
    /// The node its latest request went to ([`NO_NODE`] before the first).
    node: AtomicUsize,
}

impl ConnTag {
    /// A tag for a new connection to `front`.
    pub fn new(front: Arc<SimGateway>) -> ConnTag {
        let id = front
            .cluster
            .as_ref()
            .map_or(0, |c| c.next_conn.fetch_add(1, Ordering::Relaxed));
        ConnTag {
            front,
            id,
            kill: CancellationToken::new(),
            node: AtomicUsize::new(NO_NODE),
        }
    }

    /// Resolves when the connection must be closed without a reply.
    pub fn killed(&self) -> WaitForCancellationFuture<'_> {
        self.kill.cancelled()
    }
}

impl Drop for ConnTag {
    fn drop(&mut self) {
        let node = *self.node.get_mut();
        if let Some(n) = self.front.cluster.as_ref().and_then(|c| c.nodes.get(node)) {
            lock(&n.conns).remove(&self.id);
        }
    }
}

/// Counts a request as `reset` on its node if it is dropped unanswered because its
/// connection was closed by a `refuse` failure (not when the client left, or at shutdown).
struct CutGuard<'a> {
    counters: &'a Counters,
    endpoint: Option<Endpoint>,
    conn: &'a ConnTag,
    answered: bool,
}

impl Drop for CutGuard<'_> {
    fn drop(&mut self) {
        if !self.answered && self.conn.kill.is_cancelled() {
            self.counters.count(self.endpoint, Outcome::RESET);
        }
    }
}

impl Cluster {
    /// The node a request goes to, with `conn` registered there. None when no node is up.
    fn enter(&self, sticky: Option<usize>, conn: &ConnTag) -> Option<Choice> {
        let n = self.nodes.len();
        // A node can fail between the choice and the registration: choose again then.
        for _ in 0..=n {
            let live = self
                .nodes
                .iter()
                .enumerate()
                .filter(|(_, node)| node.up.load(Ordering::Relaxed))
                .fold(0u64, |m, (k, _)| m | (1 << k));
            let ticket = || self.next.fetch_add(1, Ordering::Relaxed);
            let choice = route::choose(self.stickiness, sticky, ticket, n, live)?;
            let node = &self.nodes[choice.node];
            let mut conns = lock(&node.conns);
            if !node.up.load(Ordering::Relaxed) {
                continue;
            }
            let prev = conn.node.swap(choice.node, Ordering::Relaxed);
            if prev != choice.node {
                conns.insert(conn.id, conn.kill.clone());
                drop(conns);
                if let Some(p) = self.nodes.get(prev) {
                    lock(&p.conns).remove(&conn.id);
                }
            }
            return Some(choice);
        }
        None
    }

    /// The node a request's cookie or GUID names, under this cluster's stickiness.
    fn sticky_node(&self, req: &Request<Incoming>) -> Option<usize> {
        match self.stickiness {
            Stickiness::Cookie => route::cookie(req.headers(), &self.cookie_name)
                .and_then(|v| route::node_index(&self.names, v.as_bytes())),
            Stickiness::Guid => presented_guid(req.headers())
                .and_then(route::guid_node)
                .and_then(|name| route::node_index(&self.names, name)),
            Stickiness::None => None,
        }
    }
}

impl SimGateway {
    /// Answers one request at the front: `secure` when the connection is HTTPS (the sticky
    /// cookie is then `Secure`).
    pub(crate) async fn front(
        &self,
        req: Request<Incoming>,
        shutdown: &CancellationToken,
        conn: &ConnTag,
        secure: bool,
    ) -> Response<ReplyBody> {
        let Some(cluster) = &self.cluster else {
            return self.handle(req, shutdown).await;
        };
        let route = router::route(
            req.method(),
            req.uri().path(),
            self.config.agent_id_min,
            self.config.agent_id_max,
        );
        match route {
            Route::Stats => return self.stats_response(),
            Route::Failover => return self.failover_response(),
            _ => {}
        }
        let endpoint = route.endpoint();
        let sticky = cluster.sticky_node(&req);
        let Some(choice) = cluster.enter(sticky, conn) else {
            // No node up: the front has nowhere to send it. Counted on the node round
            // robin would have picked, so the nodes still add up to the total.
            let k = cluster.next.fetch_add(1, Ordering::Relaxed) % cluster.nodes.len();
            let mut answer = Answer::http_error(StatusCode::SERVICE_UNAVAILABLE);
            answer.close = true;
            return answer
                .in_dialect(self.config.dialect)
                .into_response(&cluster.nodes[k].gw.counters, endpoint);
        };
        let node = &cluster.nodes[choice.node];
        let mut cut = CutGuard {
            counters: &node.gw.counters,
            endpoint,
            conn,
            answered: false,
        };
        let mut resp = node
            .gw
            .handle_at(req, shutdown, self.throttle.as_ref())
            .await;
        cut.answered = true;
        if choice.set_cookie {
            resp.headers_mut()
                .append(SET_COOKIE, node.set_cookie[usize::from(secure)].clone());
        }
        resp
    }
}
