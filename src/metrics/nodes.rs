//! Sessions by gateway node. Behind a load balancer the GUID names the node that issued
//! it (`….AgentGateway1`); the agents record per node how many sessions signed in there,
//! when sessions on it were lost, when those agents were back in service (wherever they
//! signed in again) and how many sign-in attempts coming back took, so a node failure is
//! reported per node as well as in total.
//!
//! The names come from the gateway, so the map is bounded: at most [`NODES_MAX`] names of
//! at most `names::MAX_NAME_BYTES` bytes, the rest together under [`NODE_OTHER`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::histogram::Hist;
use super::names;

/// Most nodes kept apart.
pub const NODES_MAX: usize = 32;
/// Where sessions on further nodes are counted.
pub const NODE_OTHER: &str = "(other nodes)";

/// One node's share of the sessions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeSessions {
    /// Sessions signed in on this node.
    #[serde(default)]
    pub signed_in: u64,
    /// When sessions on this node were lost, µs since the run's start.
    #[serde(default)]
    pub lost_at: Hist,
    /// When the agents whose session was lost here were ready again, µs since the run's
    /// start.
    #[serde(default)]
    pub back_at: Hist,
    /// Sign-in attempts made by agents coming back from a session lost here.
    #[serde(default)]
    pub resignin_attempts: u64,
}

impl NodeSessions {
    pub fn add(&mut self, o: &NodeSessions) {
        self.signed_in += o.signed_in;
        self.lost_at.add(&o.lost_at);
        self.back_at.add(&o.back_at);
        self.resignin_attempts += o.resignin_attempts;
    }
}

/// The entry for `node`, or the shared one once the map is full or for a name too long.
pub fn node_slot<'a>(
    map: &'a mut BTreeMap<String, NodeSessions>,
    node: &str,
) -> &'a mut NodeSessions {
    let key = if node.len() <= names::MAX_NAME_BYTES
        && (map.contains_key(node) || map.len() < NODES_MAX)
    {
        node
    } else {
        NODE_OTHER
    };
    if !map.contains_key(key) {
        map.insert(key.to_string(), NodeSessions::default());
    }
    map.get_mut(key).expect("present: inserted above")
}

/// Adds `from` into `into`, node by node, within the same bound.
pub fn add_nodes(into: &mut BTreeMap<String, NodeSessions>, from: &BTreeMap<String, NodeSessions>) {
    for (node, s) in from {
        node_slot(into, node).add(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_are_bounded_and_merge_exactly() {
        let mut a = BTreeMap::new();
        for n in 0..NODES_MAX + 3 {
            node_slot(&mut a, &format!("AgentGateway{n}")).signed_in += 1;
        }
        node_slot(&mut a, &"x".repeat(500)).signed_in += 1;
        assert_eq!(a.len(), NODES_MAX + 1);
        assert_eq!(a[NODE_OTHER].signed_in, 4);
        let mut b = BTreeMap::new();
        let n0 = node_slot(&mut b, "AgentGateway0");
        n0.signed_in = 2;
        n0.lost_at.record_us(5);
        n0.resignin_attempts = 3;
        node_slot(&mut b, "Fresh").signed_in = 1;
        add_nodes(&mut a, &b);
        assert_eq!(a.len(), NODES_MAX + 1);
        assert_eq!(a["AgentGateway0"].signed_in, 3);
        assert_eq!(a["AgentGateway0"].lost_at.count(), 1);
        assert_eq!(a["AgentGateway0"].resignin_attempts, 3);
        assert_eq!(a[NODE_OTHER].signed_in, 5);
    }
}
