//! The cluster's clock: every node's own clock (inactivity, lockouts, forced sign-outs,
//! `failover_at`), and the `fail_node` schedule (D19) — at `at` the node goes down in its
//! mode, at `at + for` it is back, empty, and in round robin again.
//!
//! Going down: the front stops sending it anything (requests sticky to it go to a node
//! that is up). `shutdown`: its sessions are forced out as D12 says (a waiting poll gets
//! `AgentOther_ShutdownService`). `refuse`: the connections whose latest request it took
//! are closed without a reply (waiting polls too), then its sessions vanish. Either way
//! its signed-in sessions count as forced sign-outs and as `lost_at_failure`. Windows of
//! one node may overlap: it is down while any of them holds.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::task::JoinSet;
use tokio::time::Duration;
use tokio_util::sync::CancellationToken;

use super::model::{FailMode, FailNode};
use super::Node;
use crate::sim::session::lock;
use crate::sim::SimGateway;

/// What happens to a node at a step of the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Fail(FailMode),
    Restore,
}

/// One step: `at` after the gateway started, node `node` changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub at: Duration,
    pub node: usize,
    pub change: Change,
}

/// The schedule of `fail_node`, in time order; at one instant a node comes back before
/// another window takes it down.
pub fn schedule(fail: &[FailNode]) -> Vec<Step> {
    let mut steps: Vec<Step> = fail
        .iter()
        .flat_map(|f| {
            let node = f.node as usize;
            let at = f.at.get();
            [
                Step {
                    at,
                    node,
                    change: Change::Fail(f.mode),
                },
                Step {
                    at: at.saturating_add(f.down_for.get()),
                    node,
                    change: Change::Restore,
                },
            ]
        })
        .collect();
    steps.sort_by_key(|s| (s.at, matches!(s.change, Change::Fail(_))));
    steps
}

impl Node {
    /// Takes this node down in `mode`.
    fn fail(&self, mode: FailMode) {
        let conns = {
            let mut conns = lock(&self.conns);
            self.up.store(false, Ordering::Relaxed);
            match mode {
                FailMode::Refuse => std::mem::take(&mut *conns),
                FailMode::Shutdown => Default::default(),
            }
        };
        self.failures.fetch_add(1, Ordering::Relaxed);
        let lost = match mode {
            FailMode::Shutdown => self.gw.drop_all_sessions(),
            FailMode::Refuse => {
                // Connections first: a poll woken by its session's end must find its
                // connection already closing, so it sends nothing.
                for kill in conns.values() {
                    kill.cancel();
                }
                self.vanish_sessions()
            }
        };
        self.lost.fetch_add(lost, Ordering::Relaxed);
        tracing::info!(node = %self.gw.config.node_name, ?mode, sessions = lost, "node down");
    }

    /// Brings this node back, empty.
    fn restore(&self) {
        // Whatever is left (closing sessions; one a sign-in in flight at the failure made)
        // is dropped; a session still active then was lost too.
        let late = self.vanish_sessions();
        self.lost.fetch_add(late, Ordering::Relaxed);
        let _conns = lock(&self.conns);
        self.up.store(true, Ordering::Relaxed);
        tracing::info!(node = %self.gw.config.node_name, "node back");
    }
}

/// Runs the nodes' clocks and the failure schedule of the front `gw` until `shutdown`.
pub async fn run(gw: Arc<SimGateway>, shutdown: CancellationToken) {
    let Some(cluster) = &gw.cluster else {
        return;
    };
    let mut clocks = JoinSet::new();
    for node in cluster.nodes() {
        clocks.spawn(node.gw.clone().run_own_clock(shutdown.clone()));
    }
    let mut downs = vec![0u32; cluster.nodes().len()];
    for step in schedule(&gw.config.fail_node) {
        let Some(node) = cluster.nodes().get(step.node) else {
            continue; // validate refuses it
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep_until(gw.started + step.at) => {}
        }
        let down = &mut downs[step.node];
        match step.change {
            Change::Fail(mode) => {
                *down += 1;
                if *down == 1 {
                    node.fail(mode);
                }
            }
            Change::Restore => {
                *down = down.saturating_sub(1);
                if *down == 0 {
                    node.restore();
                }
            }
        }
    }
    shutdown.cancelled().await;
    while clocks.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::duration::HumanDuration;

    fn f(node: u32, at_ms: u64, for_ms: u64, mode: FailMode) -> FailNode {
        FailNode {
            node,
            at: HumanDuration::from_millis(at_ms),
            down_for: HumanDuration::from_millis(for_ms),
            mode,
        }
    }

    #[test]
    fn schedule_is_in_time_order_restores_first() {
        let ms = Duration::from_millis;
        let s = schedule(&[
            f(1, 500, 500, FailMode::Refuse),
            f(0, 200, 300, FailMode::Shutdown),
        ]);
        let got: Vec<(Duration, usize, Change)> =
            s.iter().map(|s| (s.at, s.node, s.change)).collect();
        assert_eq!(
            got,
            [
                (ms(200), 0, Change::Fail(FailMode::Shutdown)),
                (ms(500), 0, Change::Restore),
                (ms(500), 1, Change::Fail(FailMode::Refuse)),
                (ms(1000), 1, Change::Restore),
            ]
        );
    }
}
